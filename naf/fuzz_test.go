package naf

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/specs"
)

const fuzzBTID = "I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net" // base64(set-1 RAND)@bsf.home1.net

// fuzzAuthenticator is a deterministic authenticator (fixed randomness and clock) whose
// key source knows only the set-1 B-TID.
func fuzzAuthenticator(tb testing.TB) (*Authenticator, gba.Key) {
	k, impi := set1KsNAF(tb)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := KeySourceFunc(func(_ context.Context, btid string, _ gba.NAFID) (NAFKey, error) {
		if btid != fuzzBTID {
			return NAFKey{}, ErrBTIDUnknown
		}
		return NAFKey{KsNAF: k, Expires: now.Add(time.Hour), IMPI: impi}, nil
	})
	a, err := NewAuthenticator(UaConfig{
		NAFFQDN: "naf.home1.net", Keys: keys, Rand: fixedReader(0x5a),
		Now: func() time.Time { return now }, MaxBody: 4096,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return a, k
}

// signedSeed returns an Authorization header the fuzz authenticator accepts.
func signedSeed(tb testing.TB, qop digest.QOP, method, uri string, body []byte) string {
	a, k := fuzzAuthenticator(tb)
	h, err := a.Challenge(false)
	if err != nil {
		tb.Fatal(err)
	}
	ch, err := digest.ParseChallenge(h)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := digest.NewCredentials(ch, fuzzBTID, uri, qop, "0a4f113b", 1)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Sign([]byte(k.Base64()), method, body); err != nil {
		tb.Fatal(err)
	}
	out, err := c.Header()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// FuzzUaAuthorization drives the Ua verification path (Authorization parsing, B-TID parsing,
// nonce check, auth-int body hashing, digest verification, answer mapping) with arbitrary
// headers and bodies. Seeds: the credentials goldens of specs/vectors/digest.json and
// headers signed with Ks_NAF of TS 35.208 set 1.
func FuzzUaAuthorization(f *testing.F) {
	var v struct {
		Credentials []struct {
			Header string `json:"header"`
		} `json:"credentials"`
	}
	if err := specs.Vectors("digest", &v); err != nil {
		f.Fatal(err)
	}
	for _, c := range v.Credentials {
		f.Add(c.Header, "POST", "/m2m", []byte(`{"m2m:ae":{}}`))
	}
	body := []byte(`{"m2m:ae":{}}`)
	f.Add(signedSeed(f, digest.QOPAuthInt, "POST", "/m2m", body), "POST", "/m2m", body)
	f.Add(signedSeed(f, digest.QOPAuth, "GET", "/", nil), "GET", "/", []byte{})
	f.Add(`Digest username="`+fuzzBTID+`", realm="3GPP-bootstrapping@naf.home1.net", nonce="x", uri="/", response=""`, "GET", "/", []byte{})
	f.Add("Basic Zm9vOmJhcg==", "GET", "/", []byte{})
	f.Add("", "GET", "/", []byte{})
	f.Fuzz(func(t *testing.T, authz, method, uri string, body []byte) {
		if !isToken(method) || !strings.HasPrefix(uri, "/") || strings.ContainsAny(uri, " \t\r\n#") || len(uri) > 512 {
			return // not a request line net/http would deliver
		}
		if _, err := url.ParseRequestURI(uri); err != nil {
			return
		}
		a, k := fuzzAuthenticator(t)
		req := httptest.NewRequest(method, "http://naf.home1.net"+uri, bytes.NewReader(body))
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		var served bool
		a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served = true
			s, ok := SessionFrom(r.Context())
			if !ok || s.BTID.String() != fuzzBTID {
				t.Fatalf("served with session %+v", s)
			}
			_, _ = w.Write([]byte("ok"))
		})).ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			if !served {
				t.Fatal("200 without the handler")
			}
			// Success only for credentials that really verify with Ks_NAF.
			c, err := digest.ParseCredentials(authz)
			if err != nil {
				t.Fatalf("accepted unparsable credentials: %v", err)
			}
			if err := c.Verify([]byte(k.Base64()), method, body); err != nil {
				t.Fatalf("accepted a response that does not verify: %v", err)
			}
			if rec.Header().Get("Authentication-Info") == "" {
				t.Fatal("200 without Authentication-Info")
			}
		case 400, 401, 413:
			if served {
				t.Fatalf("handler ran on %d", rec.Code)
			}
			if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without a challenge")
			}
		default:
			t.Fatalf("unexpected status %d", rec.Code)
		}
		out := fmt.Sprint(rec.Header()) + rec.Body.String()
		if strings.Contains(out, k.Base64()) {
			t.Fatal("answer contains base64(Ks_NAF)")
		}
	})
}

// TestFuzzSeedAccepted makes sure the fuzz seeds reach the success path.
func TestFuzzSeedAccepted(t *testing.T) {
	body := []byte(`{"m2m:ae":{}}`)
	for _, tc := range []struct {
		authz, method, uri string
		body               []byte
	}{
		{signedSeed(t, digest.QOPAuthInt, "POST", "/m2m", body), "POST", "/m2m", body},
		{signedSeed(t, digest.QOPAuth, "GET", "/", nil), "GET", "/", nil},
	} {
		a, _ := fuzzAuthenticator(t)
		req := httptest.NewRequest(tc.method, "http://naf.home1.net"+tc.uri, bytes.NewReader(tc.body))
		req.Header.Set("Authorization", tc.authz)
		rec := httptest.NewRecorder()
		a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("%s %s: %d %s", tc.method, tc.uri, rec.Code, rec.Body)
		}
	}
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
