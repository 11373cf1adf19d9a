package digest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

var set1 = struct{ res, ck, ik, auts string }{
	"a54211d5e3ba50bf", "b40ba9a3c58b2a05bbf0d987b21bf8cb", "f769bcd751044604127672711c6d3441", "ba853f3c123ccf44e93596e355c6",
}

func ubChallenge(t *testing.T) Challenge {
	t.Helper()
	ch, err := ParseChallenge(loadVectors(t).Challenges[0].Header)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestAKAPassword(t *testing.T) {
	res, ck, ik := unhex(t, set1.res), unhex(t, set1.ck), unhex(t, set1.ik)
	v1, err := AKAPassword(AKAv1MD5, res, nil, nil)
	if err != nil || !bytes.Equal(v1, res) {
		t.Errorf("AKAv1 password = %x, %v; want RES raw octets", v1, err)
	}
	v1[0] ^= 1
	if res[0] != 0xa5 {
		t.Error("AKAv1 password aliases RES")
	}
	v2, err := AKAPassword(AKAv2MD5, res, ik, ck)
	if err != nil || string(v2) != "shzt3q8CWaZnCAWqs3WmEQ==" {
		t.Errorf("AKAv2 password = %s, %v", v2, err)
	}
	// Swapping key and data (a plausible misreading of RFC 4169 §3) must not match.
	if v2swap, _ := AKAPassword(AKAv2MD5, res, ck, ik); string(v2swap) == string(v2) {
		t.Error("IK/CK order does not matter?")
	}
	cases := []struct {
		name        string
		alg         Algorithm
		res, ik, ck []byte
		want        error
	}{
		{"MD5 is not AKA", MD5, res, ik, ck, ErrUnsupportedAlgorithm},
		{"short RES", AKAv1MD5, res[:3], nil, nil, ErrAKAInput},
		{"long RES", AKAv1MD5, make([]byte, 17), nil, nil, ErrAKAInput},
		{"AKAv2 short IK", AKAv2MD5, res, ik[:15], ck, ErrAKAInput},
		{"AKAv2 no CK", AKAv2MD5, res, ik, nil, ErrAKAInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := AKAPassword(tc.alg, tc.res, tc.ik, tc.ck); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSyncFailure(t *testing.T) {
	ch := ubChallenge(t)
	c, err := NewCredentials(ch, "user1_private@home1.net", "/", QOPAuthInt, "0a4f113b", 1)
	if err != nil {
		t.Fatal(err)
	}
	auts := unhex(t, set1.auts)
	if err := c.SignSyncFailure(auts, "GET", nil); err != nil {
		t.Fatal(err)
	}
	if c.Response != "1d73ea14d997bda5a5f27a0d4e0a1cb3" {
		t.Errorf("empty-password response = %s", c.Response)
	}
	h, err := c.Header()
	if err != nil {
		t.Fatal(err)
	}
	if want := loadVectors(t).Credentials[2].Header; h != want {
		t.Errorf("Header =\n%s\nwant\n%s", h, want)
	}
	got, err := ParseCredentials(h)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.AUTS, auts) {
		t.Errorf("AUTS = %x", got.AUTS)
	}
	// The BSF checks the response over the empty password before using AUTS.
	if err := got.Verify(nil, "GET", nil); err != nil {
		t.Errorf("Verify(empty password): %v", err)
	}
	if err := got.Verify(unhex(t, set1.res), "GET", nil); !errors.Is(err, ErrResponseMismatch) {
		t.Errorf("Verify(RES) of a resync = %v", err)
	}
	if err := c.SignSyncFailure(auts[:13], "GET", nil); !errors.Is(err, ErrAKAInput) {
		t.Errorf("13-octet AUTS: %v", err)
	}
}

func TestMACFailure(t *testing.T) {
	c, err := NewCredentials(ubChallenge(t), "user1_private@home1.net", "/", QOPAuthInt, "0a4f113b", 1)
	if err != nil {
		t.Fatal(err)
	}
	c.AUTS = []byte("left over from before")
	if err := c.SignMACFailure("GET", nil); err != nil {
		t.Fatal(err)
	}
	if c.AUTS != nil || c.Response != "1d73ea14d997bda5a5f27a0d4e0a1cb3" {
		t.Errorf("AUTS = %x, response = %s", c.AUTS, c.Response)
	}
	h, _ := c.Header()
	if strings.Contains(h, "auts") {
		t.Errorf("MAC failure carries auts: %s", h)
	}
}

func TestAuthIntBody(t *testing.T) {
	c, err := NewCredentials(ubChallenge(t), "u", "/", QOPAuthInt, "c", 1)
	if err != nil {
		t.Fatal(err)
	}
	pw := []byte("pw")
	if err := c.Sign(pw, "POST", []byte("body")); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(pw, "POST", []byte("body")); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(pw, "POST", []byte("bodY")); !errors.Is(err, ErrResponseMismatch) {
		t.Errorf("tampered body: %v", err)
	}
	if err := c.Verify(pw, "PUT", []byte("body")); !errors.Is(err, ErrResponseMismatch) {
		t.Errorf("other method: %v", err)
	}
	// qop=auth ignores the body.
	ch := ubChallenge(t)
	ch.QOP = []QOP{QOPAuth}
	a, _ := NewCredentials(ch, "u", "/", QOPAuth, "c", 1)
	_ = a.Sign(pw, "POST", []byte("one"))
	if err := a.Verify(pw, "POST", []byte("two")); err != nil {
		t.Errorf("qop=auth depends on the body: %v", err)
	}
}

func TestNoQOP(t *testing.T) {
	// RFC 2617 §3.2.2.1, RFC 2069 compatibility: response = KD(HA1, nonce ":" HA2).
	ch := Challenge{Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093"}
	c, err := NewCredentials(ch, "Mufasa", "/dir/index.html", "", "ignored", 9)
	if err != nil {
		t.Fatal(err)
	}
	if c.CNonce != "" || c.NC != 0 {
		t.Fatalf("cnonce/nc set without qop: %+v", c)
	}
	if err := c.Sign([]byte("Circle Of Life"), "GET", nil); err != nil {
		t.Fatal(err)
	}
	want := newH().str(HA1("Mufasa", ch.Realm, []byte("Circle Of Life"))).str(ch.Nonce).str(md5Hex([]byte("GET:/dir/index.html"))).hex()
	if c.Response != want {
		t.Errorf("response = %s, want %s", c.Response, want)
	}
	roundTripCredentials(t, c)
}

func TestNewCredentialsErrors(t *testing.T) {
	ch := ubChallenge(t)
	cases := []struct {
		name string
		ch   Challenge
		qop  QOP
		nc   uint32
		want error
	}{
		{"qop not offered", ch, QOPAuth, 1, ErrUnsupportedQOP},
		{"qop omitted", ch, "", 1, ErrUnsupportedQOP},
		{"unknown qop offered", Challenge{QOP: []QOP{"x"}}, "x", 1, ErrUnsupportedQOP},
		{"nc zero", ch, QOPAuthInt, 0, ErrInvalidParam},
		{"SHA-256", Challenge{Algorithm: SHA256}, "", 1, ErrUnsupportedAlgorithm},
		{"MD5-sess", Challenge{Algorithm: MD5Sess}, "", 1, ErrUnsupportedAlgorithm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewCredentials(tc.ch, "u", "/", tc.qop, "c", tc.nc); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestComputeRejectsUnsupported(t *testing.T) {
	c := Credentials{Username: "u", Realm: "r", Nonce: "n", URI: "/", QOP: "auth-conf", NC: 1, CNonce: "c"}
	if _, err := c.ComputeResponse(nil, "GET", nil); !errors.Is(err, ErrUnsupportedQOP) {
		t.Errorf("qop auth-conf: %v", err)
	}
	c.QOP, c.Algorithm = QOPAuth, SHA512256
	if err := c.Verify(nil, "GET", nil); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("SHA-512-256: %v", err)
	}
	if _, err := RequestDigest("", "", 0, "", "bogus", ""); !errors.Is(err, ErrUnsupportedQOP) {
		t.Errorf("RequestDigest bogus qop: %v", err)
	}
}

func TestErrorsDoNotLeakSecrets(t *testing.T) {
	res := unhex(t, set1.res)
	c := Credentials{Username: "u", Realm: "r", Nonce: "n", URI: "/", Response: "00"}
	err := c.Verify(res, "GET", nil)
	for _, s := range []string{set1.res, base64.StdEncoding.EncodeToString(res), string(res)} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a secret", err)
		}
	}
	_, err = AKAPassword(AKAv2MD5, res, unhex(t, set1.ik)[:4], unhex(t, set1.ck))
	if strings.Contains(err.Error(), set1.ik[:8]) || strings.Contains(err.Error(), set1.res) {
		t.Errorf("error %q contains a secret", err)
	}
}

func TestNewCNonce(t *testing.T) {
	got, err := NewCNonce(bytes.NewReader(bytes.Repeat([]byte{0xab}, 16)))
	if err != nil || got != strings.Repeat("ab", 16) {
		t.Errorf("NewCNonce = %s, %v", got, err)
	}
	if _, err := NewCNonce(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("short reader accepted")
	}
}

func TestUnpackNonceErrors(t *testing.T) {
	full := "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M="
	cases := []struct{ name, in, mention string }{
		{"empty", "", "need at least 32"},
		{"31 octets", base64.StdEncoding.EncodeToString(make([]byte, 31)), "need at least 32"},
		{"unpadded", strings.TrimRight(full, "="), "base64"},
		{"newline", full[:20] + "\n" + full[20:], "base64"},
		{"url alphabet", strings.ReplaceAll(full, "/", "_"), "base64"},
		{"non-canonical", full[:len(full)-2] + "N=", "base64"},
		{"too long", strings.Repeat("A", MaxHeaderLen+4), "longer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := UnpackNonce(tc.in)
			if !errors.Is(err, ErrInvalidNonce) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err = %v, want ErrInvalidNonce mentioning %q", err, tc.mention)
			}
		})
	}
	if _, err := NewAKANonce(make([]byte, 16), make([]byte, 15), nil); !errors.Is(err, ErrAKAInput) {
		t.Errorf("NewAKANonce short AUTN: %v", err)
	}
}
