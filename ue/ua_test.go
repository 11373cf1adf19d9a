package ue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/ue"
	"github.com/opengba/opengba/ue/uetest"
)

func uaGet(t *testing.T, hc *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestUa authenticates to the NAF stand-in, which verifies the digest with password
// base64(Ks_NAF) fetched from the BSF stand-in (internal/gba), and checks that the
// stand-in's Ks_NAF is the TS 33.220 vector.
func TestUa(t *testing.T) {
	l := newLab(t)
	hc := &http.Client{Transport: l.c.Transport()}

	resp, body := uaGet(t, hc, "http://naf.home1.net/resource?x=1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	btid := resp.Header.Get("X-BTID")
	nafKeys, btids := ts33220(t)
	if btid != btids["TS35208/set1/bsf.home1.net"].BTID {
		t.Errorf("NAF saw B-TID %q", btid)
	}
	k, err := l.bsf.NAFKey(btid, testNAF, ue.UaIDHTTPDigest)
	if err != nil {
		t.Fatal(err)
	}
	if k.KsNAF.Base64() != nafKeys["TS35208/set1/gba-me/http-digest"].KeyBase64 {
		t.Error("Ks_NAF of the NAF stand-in differs from TS35208/set1/gba-me/http-digest")
	}
	if body != "" {
		t.Errorf("body %q", body)
	}
	st := l.naf.Stats()
	if st.Authenticated != 1 || st.Challenges != 1 {
		t.Errorf("NAF stats %+v", st)
	}

	// A second request reuses the nonce with nc = 2 (RFC 2617 §3.2.2): no new challenge.
	resp, _ = uaGet(t, hc, "http://naf.home1.net/again")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second status %d", resp.StatusCode)
	}
	if st := l.naf.Stats(); st.Authenticated != 2 || st.Challenges != 1 {
		t.Errorf("NAF stats after reuse %+v", st)
	}
	if st := l.bsf.Stats(); st.Bootstraps != 1 {
		t.Errorf("BSF bootstraps %d, want 1", st.Bootstraps)
	}
}

// onlyReader hides io.Seeker and friends so that http.NewRequest sets no GetBody.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestUaBody: qop auth-int hashes the entity body (RFC 2617 §3.2.2.3); the body is
// replayed after the challenge even without GetBody.
func TestUaBody(t *testing.T) {
	for _, qops := range [][]string{nil, {"auth"}} {
		t.Run(fmt.Sprint(qops), func(t *testing.T) {
			l := newLab(t, func(l *lab) { l.naf.QOP = qops })
			hc := &http.Client{Transport: l.c.Transport()}
			payload := strings.Repeat("m2m ", 1000)
			req, err := http.NewRequest(http.MethodPost, "http://naf.home1.net/up", onlyReader{strings.NewReader(payload)})
			if err != nil {
				t.Fatal(err)
			}
			if req.GetBody != nil {
				t.Fatal("test needs a request without GetBody")
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(got) != payload {
				t.Fatalf("status %d, echoed %d octets", resp.StatusCode, len(got))
			}
		})
	}
}

func TestUaBodyTooLarge(t *testing.T) {
	l := newLab(t)
	tr := l.c.Transport()
	tr.MaxBodySize = 10
	req, _ := http.NewRequest(http.MethodPost, "http://naf.home1.net/up", strings.NewReader("01234567890"))
	if _, err := tr.RoundTrip(req); !errors.Is(err, ue.ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge", err)
	}
}

// TestUaStale: stale=true is answered with the new nonce, without a new bootstrap.
func TestUaStale(t *testing.T) {
	l := newLab(t)
	hc := &http.Client{Transport: l.c.Transport()}
	l.naf.SetStale(1)
	if resp, _ := uaGet(t, hc, "http://naf.home1.net/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if st := l.naf.Stats(); st.Stale != 1 || st.Authenticated != 1 {
		t.Errorf("NAF stats %+v", st)
	}
	if st := l.bsf.Stats(); st.Bootstraps != 1 {
		t.Errorf("BSF bootstraps %d, want 1 (stale must not re-bootstrap)", st.Bootstraps)
	}
}

// TestUaExpiredBootstrap: an expired bootstrap is replaced exactly once.
func TestUaExpiredBootstrap(t *testing.T) {
	l := newLab(t)
	hc := &http.Client{Transport: l.c.Transport()}
	uaGet(t, hc, "http://naf.home1.net/")
	l.clock.Advance(2 * time.Hour)
	if resp, _ := uaGet(t, hc, "http://naf.home1.net/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if st := l.bsf.Stats(); st.Bootstraps != 2 {
		t.Errorf("BSF bootstraps %d, want exactly 2", st.Bootstraps)
	}
}

// TestUaRebootstrapOnce: a fresh 401 to credentials with a valid-looking B-TID
// (TS 24.109 §5.2.4) triggers exactly one new bootstrap, with and without a remembered
// nonce.
func TestUaRebootstrapOnce(t *testing.T) {
	for _, remembered := range []bool{false, true} {
		t.Run(fmt.Sprintf("remembered-nonce=%v", remembered), func(t *testing.T) {
			l := newLab(t)
			tr := l.c.Transport()
			hc := &http.Client{Transport: tr}
			if remembered {
				uaGet(t, hc, "http://naf.home1.net/")
			} else {
				bootstrap(t, l)
			}
			b, err := l.c.Current(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			l.bsf.Forget(b.BTID) // the NAF will not find the B-TID over Zn
			if resp, _ := uaGet(t, hc, "http://naf.home1.net/"); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if st := l.bsf.Stats(); st.Bootstraps != 2 {
				t.Errorf("BSF bootstraps %d, want exactly 2", st.Bootstraps)
			}
			if st := l.naf.Stats(); st.UnknownBTID < 1 {
				t.Errorf("NAF stats %+v", st)
			}
		})
	}
}

// TestUaNoLoop: a NAF that never accepts the B-TID gets one re-bootstrap per request and
// the caller gets its 401.
func TestUaNoLoop(t *testing.T) {
	l := newLab(t)
	var zn int
	var mu sync.Mutex
	l.naf.Keys = func(string, string, ue.UaID) (uetest.NAFKey, error) {
		mu.Lock()
		zn++
		mu.Unlock()
		return uetest.NAFKey{}, uetest.ErrUnknownBTID
	}
	hc := &http.Client{Transport: l.c.Transport()}

	// The request bootstraps for the first time: that is its one Ub run.
	resp, _ := uaGet(t, hc, "http://naf.home1.net/")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	if st := l.bsf.Stats(); st.Bootstraps != 1 {
		t.Errorf("BSF bootstraps %d, want 1", st.Bootstraps)
	}
	if st := l.naf.Stats(); st.Challenges != 2 || zn != 1 {
		t.Errorf("NAF stats %+v, Zn queries %d; want 2 challenges and 1 query", st, zn)
	}

	// With a valid bootstrap in hand, a refused B-TID leads to one re-bootstrap only.
	resp, _ = uaGet(t, hc, "http://naf.home1.net/")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	if st := l.bsf.Stats(); st.Bootstraps != 2 {
		t.Errorf("BSF bootstraps %d, want 2 (one re-bootstrap)", st.Bootstraps)
	}
	// Remembered nonce refused, fresh challenge answered, re-bootstrap answered: 3 more.
	if st := l.naf.Stats(); st.Challenges != 5 || zn != 4 {
		t.Errorf("NAF stats %+v, Zn queries %d; want 5 challenges and 4 queries", st, zn)
	}
}

func TestUaRealmMismatch(t *testing.T) {
	l := newLab(t, func(l *lab) { l.naf.FQDN = "other.home1.net" })
	hc := &http.Client{Transport: l.c.Transport()}
	_, err := hc.Get("http://naf.home1.net/")
	if !errors.Is(err, ue.ErrProtocol) {
		t.Fatalf("err = %v, want ErrProtocol", err)
	}
}

// TestUaNotGBA: a 401 that is not a GBA challenge is returned untouched.
func TestUaNotGBA(t *testing.T) {
	l := newLab(t)
	l.net.Handle("plain.home1.net", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	hc := &http.Client{Transport: l.c.Transport()}
	resp, _ := uaGet(t, hc, "http://plain.home1.net/")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="x"` {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if st := l.bsf.Stats(); st.Challenges != 0 {
		t.Error("bootstrapped for a non-GBA challenge")
	}
}

// TestUaRspAuth: a wrong rspauth in the NAF's Authentication-Info is refused
// (RFC 2617 §3.2.3).
func TestUaRspAuth(t *testing.T) {
	l := newLab(t)
	l.net.Handle("evil.home1.net", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			ch := digest.Challenge{Realm: "3GPP-bootstrapping@evil.home1.net", Nonce: "bm9uY2U=", Algorithm: digest.MD5, QOP: []digest.QOP{digest.QOPAuthInt}}
			h, _ := ch.Header()
			w.Header().Set("WWW-Authenticate", h)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		c, _ := digest.ParseCredentials(auth)
		w.Header().Set("Authentication-Info", fmt.Sprintf(`qop=auth-int, rspauth="00", cnonce=%q, nc=%08x`, c.CNonce, c.NC))
		_, _ = w.Write([]byte("trust me"))
	}))
	hc := &http.Client{Transport: l.c.Transport()}
	if _, err := hc.Get("http://evil.home1.net/"); !errors.Is(err, ue.ErrServerAuthFailed) {
		t.Fatalf("err = %v, want ErrServerAuthFailed", err)
	}
}

// TestUaUserAgent: the "3gpp-gba" product token is added to the caller's User-Agent
// (TS 24.109 §5.2.1); the NAF stand-in refuses requests without it.
func TestUaUserAgent(t *testing.T) {
	l := newLab(t)
	var got []string
	var mu sync.Mutex
	tr := l.c.Transport()
	base := l.net.Client().Transport
	tr.Base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		got = append(got, r.Header.Get("User-Agent"))
		mu.Unlock()
		return base.RoundTrip(r)
	})
	req, _ := http.NewRequest(http.MethodGet, "http://naf.home1.net/", nil)
	req.Header.Set("User-Agent", "acme-meter/2.1")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, ua := range got {
		if ua != "acme-meter/2.1; 3gpp-gba" {
			t.Errorf("User-Agent %q", ua)
		}
	}
	if req.Header.Get("User-Agent") != "acme-meter/2.1" {
		t.Error("RoundTrip modified the caller's request")
	}
}

func TestUaConcurrent(t *testing.T) {
	l := newLab(t)
	hc := &http.Client{Transport: l.c.Transport()}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Post("http://naf.home1.net/", "text/plain", bytes.NewReader([]byte(fmt.Sprint(i))))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != fmt.Sprint(i) {
				errs <- fmt.Errorf("request %d: status %d body %q", i, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := l.bsf.Stats(); st.Bootstraps != 1 {
		t.Errorf("BSF bootstraps %d, want 1 (Ub runs are shared)", st.Bootstraps)
	}
}
