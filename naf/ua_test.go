package naf_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/naftest"
)

// bootstrap adds the set-1 session to the rig's BSF and returns the UE for nafFQDN.
func (r *rig) bootstrap(lifetime time.Duration) (*naftest.UE, naftest.BSFSession) {
	r.t.Helper()
	s := set1(r.t, r.clock.Now().Add(lifetime))
	if _, err := r.bsf.Bootstrap(s); err != nil {
		r.t.Fatal(err)
	}
	ue, err := naftest.NewUE(s, nafFQDN, gba.UaIDHTTPDigest)
	if err != nil {
		r.t.Fatal(err)
	}
	return ue, s
}

func TestUaChallengeFormat(t *testing.T) {
	r := newRig(t)
	resp, body := r.do(http.MethodGet, "/x", nil, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	ch := mustChallenge(t, resp)
	if ch.Realm != "3GPP-bootstrapping@naf.home1.net" {
		t.Errorf("realm %q", ch.Realm)
	}
	if ch.Algorithm != digest.MD5 {
		t.Errorf("algorithm %q, want MD5", ch.Algorithm)
	}
	if len(ch.QOP) != 2 || ch.QOP[0] != digest.QOPAuthInt || ch.QOP[1] != digest.QOPAuth {
		t.Errorf("qop %v, want [auth-int auth]", ch.QOP)
	}
	if ch.Opaque == "" || ch.Nonce == "" || ch.Stale {
		t.Errorf("opaque %q nonce %q stale %v", ch.Opaque, ch.Nonce, ch.Stale)
	}
	if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `qop="auth-int,auth"`) {
		t.Errorf("WWW-Authenticate %q lacks qop=\"auth-int,auth\"", resp.Header.Get("WWW-Authenticate"))
	}
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Errorf("body %q: want a JSON reason", body)
	}
	resp2, _ := r.do(http.MethodGet, "/x", nil, "")
	if mustChallenge(t, resp2).Nonce == ch.Nonce {
		t.Error("two challenges with the same nonce")
	}
}

func TestUaSuccess(t *testing.T) {
	for _, qop := range []digest.QOP{digest.QOPAuthInt, digest.QOPAuth} {
		t.Run(string(qop), func(t *testing.T) {
			r := newRig(t)
			ue, s := r.bootstrap(time.Hour)
			ue.QOP = qop
			r.challenge(ue)
			body := []byte(`{"m2m:ae":{}}`)
			for i := 0; i < 3; i++ { // nc 1, 2, 3 on one nonce
				authz, creds, err := ue.Authorize(http.MethodPost, "/m2m?x=1", body)
				if err != nil {
					t.Fatal(err)
				}
				resp, got := r.do(http.MethodPost, "/m2m?x=1", body, authz)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: status %d %s", i, resp.StatusCode, got)
				}
				if string(got) != "echo:"+string(body) {
					t.Fatalf("handler saw body %q", got)
				}
				if err := ue.VerifyAuthInfo(creds, resp, got); err != nil {
					t.Fatalf("rspauth: %v (Authentication-Info %q)", err, resp.Header.Get("Authentication-Info"))
				}
			}
			seen := r.lastSeen()
			if seen.session.BTID.String() != ue.BTID || seen.session.IMPI != s.IMPI || !seen.session.Expires.Equal(s.Expires) {
				t.Errorf("session = %+v", seen.session)
			}
			if !seen.key.Equal(ue.KsNAF) {
				t.Error("KsNAFFrom differs from the UE's Ks_NAF")
			}
			if seen.session.NAFID.FQDN != nafFQDN || seen.session.NAFID.UaID != gba.UaIDHTTPDigest {
				t.Errorf("NAF_Id %v", seen.session.NAFID)
			}
			if r.bsf.Calls() != 1 {
				t.Errorf("BSF asked %d times for 3 requests, want 1 (cached)", r.bsf.Calls())
			}
			if leaks(ue.KsNAF, r.logs.String()) {
				t.Error("logs contain Ks_NAF")
			}
		})
	}
}

// TestUaSet1KeyMatchesVector checks the fake BSF and the UE against the TS 33.220 vector, so
// that the end-to-end tests rest on a checked Ks_NAF.
func TestUaSet1KeyMatchesVector(t *testing.T) {
	v, err := naftest.Vector("TS35208/set1/gba-me/http-digest")
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t)
	ue, _ := r.bootstrap(time.Hour)
	if ue.KsNAF.Base64() != v.KeyBase64 {
		t.Fatalf("UE Ks_NAF base64 %s, want %s", ue.KsNAF.Base64(), v.KeyBase64)
	}
	k, err := r.bsf.KsNAF(t.Context(), ue.BTID, r.auth.NAFID())
	if err != nil || !k.KsNAF.Equal(ue.KsNAF) {
		t.Fatalf("BSF Ks_NAF differs (err %v)", err)
	}
}

func TestUaRejects(t *testing.T) {
	body := []byte(`{"op":"create"}`)
	type step func(r *rig, ue *naftest.UE) (*http.Response, []byte)
	sign := func(r *rig, ue *naftest.UE, method, uri string, b []byte) string {
		authz, _, err := ue.Authorize(method, uri, b)
		if err != nil {
			r.t.Fatal(err)
		}
		return authz
	}
	cases := []struct {
		name       string
		run        step
		status     int
		stale      bool
		challenged bool
	}{
		{"wrong password", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			bad, _ := gba.NewKey(bytes.Repeat([]byte{1}, gba.KeySize))
			ue.KsNAF = bad
			return r.do(http.MethodPost, "/", body, sign(r, ue, http.MethodPost, "/", body))
		}, 401, false, true},
		{"another NAF's Ks_NAF", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			other, err := naftest.NewUE(set1(r.t, r.clock.Now().Add(time.Hour)), "naf2.home1.net", gba.UaIDHTTPDigest)
			if err != nil {
				r.t.Fatal(err)
			}
			other.SetChallenge(mustHeader(r, ue))
			return r.do(http.MethodPost, "/", body, sign(r, other, http.MethodPost, "/", body))
		}, 401, false, true},
		{"another Ua protocol id", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			other, err := naftest.NewUE(set1(r.t, r.clock.Now().Add(time.Hour)), nafFQDN, gba.UaIDTLSPSK(0x00AE))
			if err != nil {
				r.t.Fatal(err)
			}
			other.SetChallenge(mustHeader(r, ue))
			return r.do(http.MethodPost, "/", body, sign(r, other, http.MethodPost, "/", body))
		}, 401, false, true},
		{"unknown B-TID", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			s := set1(r.t, r.clock.Now().Add(time.Hour))
			s.RAND = bytes.Repeat([]byte{9}, 16) // never bootstrapped
			stranger, _ := naftest.NewUE(s, nafFQDN, gba.UaIDHTTPDigest)
			stranger.SetChallenge(mustHeader(r, ue))
			return r.do(http.MethodPost, "/", body, sign(r, stranger, http.MethodPost, "/", body))
		}, 401, false, true},
		{"expired B-TID", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			r.clock.Advance(2 * time.Hour) // the session had one hour
			r.challenge(ue)
			return r.do(http.MethodPost, "/", body, sign(r, ue, http.MethodPost, "/", body))
		}, 401, false, true},
		{"malformed B-TID", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			ue.BTID = "not-a-btid@bsf.home1.net"
			return r.do(http.MethodPost, "/", body, sign(r, ue, http.MethodPost, "/", body))
		}, 401, false, true},
		{"not authorised (5402)", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			r.bsf.SetError(fmt.Errorf("%w: 5402", naf.ErrNotAuthorized))
			return r.do(http.MethodPost, "/", body, sign(r, ue, http.MethodPost, "/", body))
		}, 403, false, false},
		{"BSF unavailable", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			r.bsf.SetError(fmt.Errorf("%w: connection refused", naf.ErrBSFUnavailable))
			return r.do(http.MethodPost, "/", body, sign(r, ue, http.MethodPost, "/", body))
		}, 503, false, false},
		{"auth-int body tampered", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			authz := sign(r, ue, http.MethodPost, "/", body)
			return r.do(http.MethodPost, "/", []byte(`{"op":"delete"}`), authz)
		}, 401, false, true},
		{"method changed", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			return r.do(http.MethodPut, "/", body, sign(r, ue, http.MethodPost, "/", body))
		}, 401, false, true},
		{"uri mismatch", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			return r.do(http.MethodPost, "/other", body, sign(r, ue, http.MethodPost, "/", body))
		}, 400, false, false},
		{"replayed nonce and nc", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			authz := sign(r, ue, http.MethodPost, "/", body)
			if resp, b := r.do(http.MethodPost, "/", body, authz); resp.StatusCode != 200 {
				r.t.Fatalf("first use: %d %s", resp.StatusCode, b)
			}
			return r.do(http.MethodPost, "/", body, authz)
		}, 401, true, true},
		{"lower nc after higher", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			ch := ue.Challenge()
			a5, _, _ := ue.AuthorizeNC(ch, http.MethodPost, "/", body, 5, "aa")
			if resp, _ := r.do(http.MethodPost, "/", body, a5); resp.StatusCode != 200 {
				r.t.Fatalf("nc=5: %d", resp.StatusCode)
			}
			a4, _, _ := ue.AuthorizeNC(ch, http.MethodPost, "/", body, 4, "bb")
			return r.do(http.MethodPost, "/", body, a4)
		}, 401, true, true},
		{"stale nonce", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			r.clock.Advance(naf.DefaultNonceTTL + time.Second) // the key (1 h) is still valid
			return r.do(http.MethodPost, "/", body, sign(r, ue, http.MethodPost, "/", body))
		}, 401, true, true},
		{"forged nonce", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			ch := ue.Challenge()
			ch.Nonce = "a3f1c0de5b7e4e6f9d2c8b1a0e9f7d6c"
			authz, _, _ := ue.AuthorizeNC(ch, http.MethodPost, "/", body, 1, "cc")
			return r.do(http.MethodPost, "/", body, authz)
		}, 401, false, true},
		{"wrong opaque", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			ch := ue.Challenge()
			ch.Opaque = "00"
			authz, _, _ := ue.AuthorizeNC(ch, http.MethodPost, "/", body, 1, "cc")
			return r.do(http.MethodPost, "/", body, authz)
		}, 401, false, true},
		{"wrong realm", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			ch := ue.Challenge()
			ch.Realm = "3GPP-bootstrapping@naf2.home1.net"
			authz, _, _ := ue.AuthorizeNC(ch, http.MethodPost, "/", body, 1, "cc")
			return r.do(http.MethodPost, "/", body, authz)
		}, 401, false, true},
		{"malformed header", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			return r.do(http.MethodPost, "/", body, `Digest username="x", realm=`)
		}, 400, false, false},
		{"basic scheme", func(r *rig, ue *naftest.UE) (*http.Response, []byte) {
			return r.do(http.MethodPost, "/", body, "Basic dXNlcjpwYXNz")
		}, 401, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			ue, _ := r.bootstrap(time.Hour)
			r.challenge(ue)
			resp, b := tc.run(r, ue)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, b)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Errorf("body %q: want a JSON reason", b)
			}
			if tc.challenged {
				ch := mustChallenge(t, resp)
				if ch.Stale != tc.stale {
					t.Errorf("stale = %v, want %v", ch.Stale, tc.stale)
				}
				if ch.Nonce == ue.Challenge().Nonce {
					t.Error("the new challenge reuses the old nonce")
				}
			} else if resp.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("unexpected challenge on %d", resp.StatusCode)
			}
			if resp.Header.Get("Authentication-Info") != "" {
				t.Error("Authentication-Info on a rejection")
			}
			switch tc.status {
			case 503:
				if resp.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
			case 403:
				if !strings.Contains(e.Error, "5402") {
					t.Errorf("403 reason %q does not say why", e.Error)
				}
			}
			if leaks(ue.KsNAF, r.logs.String()) {
				t.Error("logs contain Ks_NAF")
			}
		})
	}
}

func mustHeader(r *rig, _ *naftest.UE) string {
	resp, _ := r.do(http.MethodGet, "/", nil, "")
	return resp.Header.Get("WWW-Authenticate")
}

// TestUaStaleThenRetry: after stale=true the UE retries with the new nonce and the same
// Ks_NAF, without bootstrapping again.
func TestUaStaleThenRetry(t *testing.T) {
	r := newRig(t)
	ue, _ := r.bootstrap(time.Hour)
	r.challenge(ue)
	r.clock.Advance(naf.DefaultNonceTTL)
	authz, _, _ := ue.Authorize(http.MethodGet, "/", nil)
	resp, _ := r.do(http.MethodGet, "/", nil, authz)
	ch := mustChallenge(t, resp)
	if resp.StatusCode != 401 || !ch.Stale {
		t.Fatalf("status %d stale %v, want 401 stale", resp.StatusCode, ch.Stale)
	}
	if err := ue.SetChallenge(resp.Header.Get("WWW-Authenticate")); err != nil {
		t.Fatal(err)
	}
	authz, _, _ = ue.Authorize(http.MethodGet, "/", nil)
	if resp, b := r.do(http.MethodGet, "/", nil, authz); resp.StatusCode != 200 {
		t.Fatalf("retry: %d %s", resp.StatusCode, b)
	}
}

// TestUaKeyExpiryNeverExceeded: one instant before Key-ExpiryTime the cached key works; at
// Key-ExpiryTime the UE is sent to bootstrap again even though the nonce is fresh.
func TestUaKeyExpiryNeverExceeded(t *testing.T) {
	r := newRig(t)
	ue, _ := r.bootstrap(3 * time.Minute)
	r.challenge(ue)
	r.clock.Advance(3*time.Minute - time.Nanosecond)
	authz, _, _ := ue.Authorize(http.MethodGet, "/", nil)
	if resp, b := r.do(http.MethodGet, "/", nil, authz); resp.StatusCode != 200 {
		t.Fatalf("before expiry: %d %s", resp.StatusCode, b)
	}
	r.clock.Advance(time.Nanosecond)
	authz, _, _ = ue.Authorize(http.MethodGet, "/", nil)
	resp, _ := r.do(http.MethodGet, "/", nil, authz)
	if resp.StatusCode != 401 || mustChallenge(t, resp).Stale {
		t.Fatalf("at expiry: status %d, want 401 without stale", resp.StatusCode)
	}
}

func TestUaBodyLimits(t *testing.T) {
	r := newRig(t, func(c *naf.UaConfig) { c.MaxBody = 16; c.MaxResponseBody = 8 })
	ue, _ := r.bootstrap(time.Hour)
	r.challenge(ue)
	big := bytes.Repeat([]byte("x"), 17)
	authz, _, _ := ue.Authorize(http.MethodPost, "/", big)
	if resp, _ := r.do(http.MethodPost, "/", big, authz); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("17-octet body: %d, want 413", resp.StatusCode)
	}
	// A response larger than MaxResponseBody is streamed without Authentication-Info.
	small := []byte("0123456789")
	authz, _, _ = ue.Authorize(http.MethodPost, "/", small)
	resp, got := r.do(http.MethodPost, "/", small, authz)
	if resp.StatusCode != 200 || string(got) != "echo:0123456789" {
		t.Fatalf("status %d body %q", resp.StatusCode, got)
	}
	if resp.Header.Get("Authentication-Info") != "" {
		t.Error("Authentication-Info on an over-long auth-int response")
	}
}

func TestUaOnlyOfferedQOP(t *testing.T) {
	r := newRig(t, func(c *naf.UaConfig) { c.QOP = []digest.QOP{digest.QOPAuthInt} })
	ue, _ := r.bootstrap(time.Hour)
	r.challenge(ue)
	ch := ue.Challenge()
	ch.QOP = append(ch.QOP, digest.QOPAuth) // the UE pretends auth was offered
	ue.QOP = digest.QOPAuth
	authz, _, err := ue.AuthorizeNC(ch, http.MethodGet, "/", nil, 1, "aa")
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := r.do(http.MethodGet, "/", nil, authz); resp.StatusCode != 401 {
		t.Fatalf("qop=auth when only auth-int is offered: %d, want 401", resp.StatusCode)
	}
}

func TestUaGin(t *testing.T) {
	r := newRig(t)
	ue, s := r.bootstrap(time.Hour)
	e := gin.New()
	e.POST("/m2m/enrolment", r.auth.Gin(), func(c *gin.Context) {
		sess, ok := naf.SessionFrom(c.Request.Context())
		if _, kok := naf.KsNAFFrom(c.Request.Context()); !ok || !kok {
			c.AbortWithStatus(500)
			return
		}
		c.JSON(http.StatusCreated, gin.H{"btid": sess.BTID.String(), "impi": sess.IMPI})
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	post := func(authz string, body []byte) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/m2m/enrolment", bytes.NewReader(body))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp, buf.Bytes()
	}
	resp, _ := post("", nil)
	if resp.StatusCode != 401 {
		t.Fatalf("no credentials: %d", resp.StatusCode)
	}
	if err := ue.SetChallenge(resp.Header.Get("WWW-Authenticate")); err != nil {
		t.Fatal(err)
	}
	for _, qop := range []digest.QOP{digest.QOPAuthInt, digest.QOPAuth} {
		ue.QOP = qop
		authz, creds, _ := ue.Authorize(http.MethodPost, "/m2m/enrolment", []byte("{}"))
		resp, body := post(authz, []byte("{}"))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: status %d %s", qop, resp.StatusCode, body)
		}
		if err := ue.VerifyAuthInfo(creds, resp, body); err != nil {
			t.Fatalf("%s: rspauth: %v", qop, err)
		}
		var got struct{ BTID, IMPI string }
		if err := json.Unmarshal(body, &got); err != nil || got.BTID != ue.BTID || got.IMPI != s.IMPI {
			t.Fatalf("%s: body %s", qop, body)
		}
	}
	// Failure aborts the chain.
	ue.KsNAF, _ = gba.NewKey(bytes.Repeat([]byte{2}, 32))
	authz, _, _ := ue.Authorize(http.MethodPost, "/m2m/enrolment", nil)
	if resp, _ := post(authz, nil); resp.StatusCode != 401 {
		t.Fatalf("bad key through gin: %d", resp.StatusCode)
	}
}

func TestUaNoKeyInLogsOrErrors(t *testing.T) {
	r := newRig(t)
	ue, _ := r.bootstrap(time.Hour)
	r.challenge(ue)
	r.bsf.SetError(errors.New("boom"))
	authz, _, _ := ue.Authorize(http.MethodGet, "/", nil)
	resp, b := r.do(http.MethodGet, "/", nil, authz)
	if resp.StatusCode != 500 {
		t.Errorf("unclassified key source error: %d, want 500", resp.StatusCode)
	}
	if leaks(ue.KsNAF, string(b)+r.logs.String()) {
		t.Error("key leaked")
	}
	s := naf.Session{BTID: mustBTID(t, ue.BTID), IMPI: "user1_private@home1.net"}
	if out := fmt.Sprintf("%v", s.LogValue()); strings.Contains(out, "user1_private") {
		t.Errorf("Session.LogValue shows the IMPI: %s", out)
	}
}

func mustBTID(t testing.TB, s string) gba.BTID {
	t.Helper()
	b, err := gba.ParseBTID(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
