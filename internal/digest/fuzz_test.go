package digest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// isParseError reports whether err is one of the parser's sentinels.
func isParseError(err error) bool {
	for _, s := range []error{ErrHeaderTooLong, ErrNotDigest, ErrSyntax, ErrDuplicateParam, ErrMissingParam, ErrInvalidParam} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzParseChallenge(f *testing.F) {
	for _, v := range loadVectors(f).Challenges {
		f.Add(v.Header)
	}
	f.Add(`Digest realm="a\"b", nonce="", domain="/a /b", stale=TRUE, x="y,z"`)
	f.Add(`Digest realm="r", nonce="n", qop="auth,auth-int", charset=utf-8, userhash=false`)
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseChallenge(h)
		if err != nil {
			if !isParseError(err) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		out, err := c.Header()
		if err != nil {
			t.Fatalf("Header of a parsed challenge: %v", err)
		}
		if len(out) > MaxHeaderLen {
			return // formatting may add ", " separators; the cap is an input policy
		}
		back, err := ParseChallenge(out)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("re-parse of %q = %#v, %v; want %#v", out, back, err, c)
		}
	})
}

func FuzzParseCredentials(f *testing.F) {
	for _, v := range loadVectors(f).Credentials {
		f.Add(v.Header)
	}
	f.Add(`Digest username="a\\b", realm="r", nonce="n", uri="/", response="", username*=UTF-8''x`)
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseCredentials(h)
		if err != nil {
			if !isParseError(err) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		out, err := c.Header()
		if err != nil {
			t.Fatalf("Header of parsed credentials: %v", err)
		}
		if len(out) > MaxHeaderLen {
			return
		}
		back, err := ParseCredentials(out)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("re-parse of %q = %#v, %v; want %#v", out, back, err, c)
		}
		// Computation on parsed input never panics.
		_ = c.Verify([]byte("pw"), "GET", []byte("b"))
	})
}

func FuzzParseAuthInfo(f *testing.F) {
	for _, v := range loadVectors(f).AuthInfos {
		f.Add(v.Header)
	}
	f.Add(`rspauth="", x=y`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthInfo(h)
		if err != nil {
			if !isParseError(err) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		out, err := a.Header()
		if err != nil {
			t.Fatalf("Header of a parsed auth-info: %v", err)
		}
		if len(out) > MaxHeaderLen {
			return
		}
		back, err := ParseAuthInfo(out)
		if err != nil || !reflect.DeepEqual(back, a) {
			t.Fatalf("re-parse of %q = %#v, %v; want %#v", out, back, err, a)
		}
	})
}

func FuzzUnpackNonce(f *testing.F) {
	for _, v := range loadVectors(f).Nonces {
		f.Add(v.Nonce)
	}
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := UnpackNonce(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidNonce) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if n.Pack() != s {
			t.Fatalf("Pack = %q, input %q", n.Pack(), s)
		}
		again, err := NewAKANonce(n.RAND[:], n.AUTN[:], n.ServerData)
		if err != nil || !reflect.DeepEqual(again, n) || !bytes.Equal(again.ServerData, n.ServerData) {
			t.Fatalf("NewAKANonce = %+v, %v", again, err)
		}
	})
}
