package uetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/ue"
)

func TestNAFRequiresProductToken(t *testing.T) {
	n := NewNAF("naf.home1.net", func(string, string, ue.UaID) (NAFKey, error) { return NAFKey{}, ErrUnknownBTID }, http.NotFoundHandler())
	for _, tc := range []struct {
		ua   string
		want int
	}{
		{"curl/8", http.StatusForbidden},
		{"acme 3gpp-gba", http.StatusUnauthorized},
		{"acme; 3gpp-gba/1", http.StatusUnauthorized},
		{"acme 3gpp-gba-tmpi", http.StatusForbidden},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://naf.home1.net/", nil)
		req.Header.Set("User-Agent", tc.ua)
		n.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("User-Agent %q: %d, want %d", tc.ua, rec.Code, tc.want)
		}
		if rec.Code == http.StatusUnauthorized && !strings.Contains(rec.Header().Get("WWW-Authenticate"), `realm="3GPP-bootstrapping@naf.home1.net"`) {
			t.Errorf("challenge %q", rec.Header().Get("WWW-Authenticate"))
		}
	}
}

func TestBSFUnknownIMPI(t *testing.T) {
	b := NewBSF("bsf.home1.net")
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://bsf.home1.net/", nil)
	req.Header.Set("Authorization", `Digest username="nobody@home1.net", realm="bsf.home1.net", nonce="", uri="/", response=""`)
	b.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.Code)
	}
	if _, err := b.NAFKey("x", "naf.home1.net", ue.UaIDHTTPDigest); !errors.Is(err, ErrUnknownBTID) {
		t.Errorf("NAFKey: %v", err)
	}
}

func TestHelpers(t *testing.T) {
	r := RepeatReader([]byte{1, 2, 3})
	got := make([]byte, 7)
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, []byte{1, 2, 3, 1, 2, 3, 1}) {
		t.Errorf("RepeatReader gave %v, %v", got, err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(start)
	c.Advance(time.Minute)
	if !c.Now().Equal(start.Add(time.Minute)) {
		t.Errorf("Clock shows %v", c.Now())
	}
}

// TestKeyRecordsRedact: the stand-in BSF's subscriber and pending-challenge records print
// as REDACTED (aka.Redact), so K, OPc, CK, IK and XRES cannot reach a log through them.
func TestKeyRecordsRedact(t *testing.T) {
	var s subscriber
	var p pendingAV
	for i := range s.k {
		s.k[i], s.opc[i], p.av.CK[i], p.av.IK[i] = 0xa0|byte(i), 0xb0|byte(i), 0xc0|byte(i), 0xd0|byte(i)
	}
	for _, v := range []any{s, &s, p, &p} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%x"} {
			if got := fmt.Sprintf(verb, v); got != "REDACTED" {
				t.Errorf("%s of %T = %q", verb, v, got)
			}
		}
	}
}
