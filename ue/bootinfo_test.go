package ue

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/specs"
)

const goldenBTID = "I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net"

func TestParseBootstrappingInfo(t *testing.T) {
	ok := func(inner string) string {
		return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<BootstrappingInfo xmlns="uri:3gpp-gba">` + inner + `</BootstrappingInfo>`
	}
	good := `<btid>` + goldenBTID + `</btid><lifetime>2020-10-28T23:36:26Z</lifetime>`
	wantLife := time.Date(2020, 10, 28, 23, 36, 26, 0, time.UTC)
	for _, tc := range []struct {
		name, body, errPart string
	}{
		{"TS24109/C.1/golden", ok("\n  " + good + "\n"), ""},
		{"prefixed-namespace", `<g:BootstrappingInfo xmlns:g="uri:3gpp-gba"><g:btid>` + goldenBTID + `</g:btid><g:lifetime>2020-10-28T23:36:26Z</g:lifetime></g:BootstrappingInfo>`, ""},
		{"extension-with-currenttime", ok(good + `<Extension><currenttime>2020-10-28T22:36:26Z</currenttime><x:y xmlns:x="urn:x"/></Extension>`), ""},
		{"unknown-attribute-ignored", `<BootstrappingInfo xmlns="uri:3gpp-gba" foo="bar">` + good + `</BootstrappingInfo>`, ""},
		{"comment", ok(`<!-- hi -->` + good), ""},
		{"fractional-seconds", ok(`<btid>` + goldenBTID + `</btid><lifetime>2020-10-28T23:36:26.000Z</lifetime>`), ""},

		{"empty", ``, "no complete"},
		{"wrong-namespace", `<BootstrappingInfo xmlns="uri:3gpp-gba-x">` + good + `</BootstrappingInfo>`, "namespace"},
		{"no-namespace", `<BootstrappingInfo>` + good + `</BootstrappingInfo>`, "namespace"},
		{"child-wrong-namespace", `<BootstrappingInfo xmlns="uri:3gpp-gba"><btid xmlns="urn:x">` + goldenBTID + `</btid></BootstrappingInfo>`, "namespace"},
		{"wrong-root", `<Bootstrapping xmlns="uri:3gpp-gba">` + good + `</Bootstrapping>`, "root element"},
		{"unknown-element", ok(good + `<foo/>`), "unknown element <foo>"},
		{"missing-btid", ok(`<lifetime>2020-10-28T23:36:26Z</lifetime>`), "missing <btid>"},
		{"missing-lifetime", ok(`<btid>` + goldenBTID + `</btid>`), "missing <lifetime>"},
		{"duplicate-btid", ok(`<btid>` + goldenBTID + `</btid>` + good), "duplicate"},
		{"wrong-order", ok(`<lifetime>2020-10-28T23:36:26Z</lifetime><btid>` + goldenBTID + `</btid>`), "missing <btid>"},
		{"two-extensions", ok(good + `<Extension/><Extension/>`), "duplicate"},
		{"bad-btid", ok(`<btid>abc@bsf.home1.net</btid><lifetime>2020-10-28T23:36:26Z</lifetime>`), "<btid>"},
		{"btid-with-spaces", ok(`<btid> ` + goldenBTID + ` </btid><lifetime>2020-10-28T23:36:26Z</lifetime>`), "<btid>"},
		{"btid-child", ok(`<btid><b/></btid><lifetime>2020-10-28T23:36:26Z</lifetime>`), "text only"},
		{"lifetime-not-utc", ok(`<btid>` + goldenBTID + `</btid><lifetime>2020-10-28T23:36:26+01:00</lifetime>`), "UTC"},
		{"lifetime-no-zone", ok(`<btid>` + goldenBTID + `</btid><lifetime>2020-10-28T23:36:26</lifetime>`), "UTC"},
		{"lifetime-garbage", ok(`<btid>` + goldenBTID + `</btid><lifetime>tomorrowZ</lifetime>`), "xs:dateTime"},
		{"text-in-root", ok(`hello` + good), "text outside"},
		{"trailing-element", ok(good) + `<again/>`, "after the root"},
		{"trailing-text", ok(good) + `junk`, "text outside"},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]>` + ok(good), "DTD"},
		{"latin1", `<?xml version="1.0" encoding="ISO-8859-1"?><BootstrappingInfo xmlns="uri:3gpp-gba">` + good + `</BootstrappingInfo>`, "malformed XML"},
		{"unclosed", ok(good)[:60], "malformed"},
		{"entity", ok(`<btid>&foo;</btid>`), "malformed"},
		{"huge-text", ok(`<btid>` + strings.Repeat("A", 4000) + `</btid>`), "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := parseBootstrappingInfo([]byte(tc.body))
			if tc.errPart == "" {
				if err != nil {
					t.Fatal(err)
				}
				if info.btid != goldenBTID || !info.lifetime.Equal(wantLife) {
					t.Errorf("got %+v", info)
				}
				return
			}
			if !errors.Is(err, ErrBootstrappingInfo) || !strings.Contains(err.Error(), tc.errPart) {
				t.Fatalf("err = %v, want ErrBootstrappingInfo containing %q", err, tc.errPart)
			}
		})
	}
}

// responseVector is one "responses" entry of specs/vectors/digest.json.
type responseVector struct {
	Name, Algorithm, RES, Username, Realm, Nonce, Method, URI, Body string
	QOP, NC, CNonce, Response, RspAuth                              string
	ResponseBody                                                    *string `json:"response_body"`
}

func digestVector(t testing.TB, name string) responseVector {
	t.Helper()
	var v struct{ Responses []responseVector }
	if err := specs.Vectors("digest", &v); err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Responses {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("vector %s missing", name)
	return responseVector{}
}

// goldenUb200 returns the credentials, password and 200 OK of the digest.json vector
// TS35208/set1/AKAv1-MD5/auth-int/bootstrapping-info.
func goldenUb200(t testing.TB) (digest.Credentials, []byte, http.Header, []byte) {
	v := digestVector(t, "TS35208/set1/AKAv1-MD5/auth-int/bootstrapping-info")
	creds := digest.Credentials{
		Username: v.Username, Realm: v.Realm, Nonce: v.Nonce, URI: v.URI, Response: v.Response,
		Algorithm: digest.AKAv1MD5, QOP: digest.QOP(v.QOP), NC: 1, CNonce: v.CNonce,
	}
	password, err := hex.DecodeString(v.RES)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Authentication-Info", `qop=auth-int, rspauth="`+v.RspAuth+`", cnonce="`+v.CNonce+`", nc=00000001`)
	h.Set("Content-Type", "application/vnd.3gpp.bsf+xml")
	return creds, password, h, []byte(*v.ResponseBody)
}

func TestVerifyUb200(t *testing.T) {
	creds, password, h, body := goldenUb200(t)
	info, err := verifyUb200(creds, password, h, body, false)
	if err != nil {
		t.Fatalf("TS35208/set1/AKAv1-MD5/auth-int/bootstrapping-info: %v", err)
	}
	if info.btid != goldenBTID {
		t.Errorf("btid %q", info.btid)
	}
	for _, tc := range []struct {
		name string
		mod  func(h http.Header, body []byte, pw []byte) ([]byte, []byte)
		want error
	}{
		{"body-changed", func(h http.Header, b, pw []byte) ([]byte, []byte) {
			return []byte(strings.Replace(string(b), "2020", "2030", 1)), pw
		}, ErrServerAuthFailed},
		{"wrong-password", func(h http.Header, b, pw []byte) ([]byte, []byte) { return b, []byte("x") }, ErrServerAuthFailed},
		{"missing", func(h http.Header, b, pw []byte) ([]byte, []byte) { h.Del("Authentication-Info"); return b, pw }, ErrServerAuthFailed},
		{"twice", func(h http.Header, b, pw []byte) ([]byte, []byte) {
			h.Add("Authentication-Info", h.Get("Authentication-Info"))
			return b, pw
		}, ErrServerAuthFailed},
		{"no-rspauth", func(h http.Header, b, pw []byte) ([]byte, []byte) {
			h.Set("Authentication-Info", `nextnonce="abc"`)
			return b, pw
		}, ErrServerAuthFailed},
		{"nc-differs", func(h http.Header, b, pw []byte) ([]byte, []byte) {
			h.Set("Authentication-Info", strings.Replace(h.Get("Authentication-Info"), "nc=00000001", "nc=00000002", 1))
			return b, pw
		}, ErrServerAuthFailed},
		{"content-type", func(h http.Header, b, pw []byte) ([]byte, []byte) { h.Set("Content-Type", "text/html"); return b, pw }, ErrBootstrappingInfo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds, password, h, body := goldenUb200(t)
			body, password = tc.mod(h, body, password)
			if _, err := verifyUb200(creds, password, h, body, false); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// AllowMissingRspAuth tolerates absence only.
	creds, password, h, body = goldenUb200(t)
	h.Del("Authentication-Info")
	if _, err := verifyUb200(creds, password, h, body, true); err != nil {
		t.Errorf("allowMissing: %v", err)
	}
}

func TestParseUbChallenge(t *testing.T) {
	const nonce = "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M="
	for _, tc := range []struct {
		name   string
		values []string
		ok     bool
	}{
		{"TS24109/A.2/401", []string{`Digest realm="bsf.home1.net", nonce="` + nonce + `", algorithm=AKAv1-MD5, qop="auth-int", opaque="5ccc"`}, true},
		{"AKAv2", []string{`Digest realm="bsf.home1.net", nonce="` + nonce + `", algorithm=AKAv2-MD5, qop="auth,auth-int"`}, true},
		{"basic-then-digest", []string{`Basic realm="x"`, `Digest realm="bsf.home1.net", nonce="` + nonce + `", algorithm=AKAv1-MD5, qop="auth-int"`}, true},
		{"none", nil, false},
		{"md5", []string{`Digest realm="bsf.home1.net", nonce="` + nonce + `", algorithm=MD5, qop="auth-int"`}, false},
		{"auth-only", []string{`Digest realm="bsf.home1.net", nonce="` + nonce + `", algorithm=AKAv1-MD5, qop="auth"`}, false},
		{"short-nonce", []string{`Digest realm="bsf.home1.net", nonce="YWJj", algorithm=AKAv1-MD5, qop="auth-int"`}, false},
		{"garbage", []string{`Digest realm=`}, false},
	} {
		_, err := parseUbChallenge(tc.values)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if err != nil && !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err = %v, want ErrProtocol", tc.name, err)
		}
	}
}

func TestGBAChallenge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		host   string
		ok     bool
		err    error
	}{
		{"TS24109/5.2/Ua-401", []string{`Digest realm="3GPP-bootstrapping@naf.home1.net", nonce="a7", qop="auth-int", algorithm=MD5, opaque="x"`}, "naf.home1.net", true, nil},
		{"case-insensitive-host", []string{`Digest realm="3GPP-bootstrapping@NAF.home1.net", nonce="a7", qop="auth"`}, "naf.home1.net", true, nil},
		{"uicc-only", []string{`Digest realm="3GPP-bootstrapping-uicc@naf.home1.net", nonce="a7", qop="auth"`}, "naf.home1.net", false, nil},
		{"other-realm", []string{`Digest realm="users", nonce="a7", qop="auth"`}, "naf.home1.net", false, nil},
		{"other-host", []string{`Digest realm="3GPP-bootstrapping@evil.example", nonce="a7", qop="auth"`}, "naf.home1.net", false, ErrProtocol},
		{"sha-256", []string{`Digest realm="3GPP-bootstrapping@naf.home1.net", nonce="a7", qop="auth", algorithm=SHA-256`}, "naf.home1.net", false, ErrProtocol},
		{"no-qop", []string{`Digest realm="3GPP-bootstrapping@naf.home1.net", nonce="a7"`}, "naf.home1.net", false, ErrProtocol},
	} {
		_, fqdn, ok, err := gbaChallenge(tc.values, tc.host)
		if ok != tc.ok || !errors.Is(err, tc.err) {
			t.Errorf("%s: ok=%v err=%v", tc.name, ok, err)
		}
		if ok && !strings.EqualFold(fqdn, tc.host) {
			t.Errorf("%s: fqdn %q", tc.name, fqdn)
		}
	}
}

func TestWithProductToken(t *testing.T) {
	for _, tc := range []struct{ in, token, want string }{
		{"Bootstrapping Client Agent; Release-6", "3gpp-gba-tmpi", "Bootstrapping Client Agent; Release-6; 3gpp-gba-tmpi"},
		{"Bootstrapping Client Agent; Release-6; 3gpp-gba-tmpi", "3gpp-gba", "Bootstrapping Client Agent; Release-6; 3gpp-gba-tmpi; 3gpp-gba"},
		{"SCEnrolmentAgent; Release-6 3gpp-gba", "3gpp-gba", "SCEnrolmentAgent; Release-6 3gpp-gba"},
		{"x 3gpp-gba/1.0", "3gpp-gba", "x 3gpp-gba/1.0"},
	} {
		if got := withProductToken(tc.in, tc.token); got != tc.want {
			t.Errorf("withProductToken(%q, %q) = %q, want %q", tc.in, tc.token, got, tc.want)
		}
	}
}
