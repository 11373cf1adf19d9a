package bsf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/specs"
)

const impi1 = "user1_private@home1.net"

// fixedAV is a VectorSource that always returns the TS 35.208 set 1 AV.
type fixedAV struct{ av AVResponse }

func (f fixedAV) FetchAV(context.Context, AVRequest) (AVResponse, error) { return f.av, nil }
func (fixedAV) Ready() bool                                              { return true }

func set1AV(t testing.TB) AVResponse {
	s := loadSet1(t)
	var av AVResponse
	copy(av.RAND[:], unhex(t, s.RAND))
	copy(av.AUTN[:], unhex(t, s.AUTN))
	av.XRES = unhex(t, s.F2)
	copy(av.CK[:], unhex(t, s.F3))
	copy(av.IK[:], unhex(t, s.F4))
	return av
}

// TestUbGolden checks both Ub round trips against the OpenGBA digest vectors
// (specs/vectors/digest.json): the nonce of TS 35.208 set 1, the response of RFC 3310 §3.3,
// and the 200 body and rspauth of TS 24.109 Annex A step 5.
func TestUbGolden(t *testing.T) {
	var f struct {
		Responses []struct {
			Name, Username, Realm, Nonce, Method, URI, QOP, NC, CNonce, Response string
			ResponseBody                                                         string `json:"response_body"`
			RspAuth                                                              string
		} `json:"responses"`
	}
	if err := specs.Vectors("digest", &f); err != nil {
		t.Fatal(err)
	}
	const name = "TS35208/set1/AKAv1-MD5/auth-int/bootstrapping-info"
	for _, v := range f.Responses {
		if v.Name != name {
			continue
		}
		t.Run(name, func(t *testing.T) {
			tb := newTestBSF(t, func(_ *Config, d *Deps) { d.VectorSource = fixedAV{set1AV(t)} })
			ue := &testUE{t: t, impi: v.Username, url: tb.srv.URL + "/", client: tb.srv.Client()}
			ch := ue.challenge()
			if ch.Nonce != v.Nonce || ch.Realm != v.Realm || ch.Algorithm != digest.AKAv1MD5 ||
				len(ch.QOP) != 1 || ch.QOP[0] != digest.QOPAuthInt || ch.Opaque == "" {
				t.Fatalf("challenge %+v does not match the vector", ch)
			}
			auth := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", qop=%s, nc=%s, cnonce="%s", response="%s", opaque="%s", algorithm=AKAv1-MD5`,
				v.Username, v.Realm, v.Nonce, v.URI, v.QOP, v.NC, v.CNonce, v.Response, ch.Opaque)
			resp := ue.do(auth)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if string(body) != v.ResponseBody {
				t.Errorf("body\n%s\nwant\n%s", body, v.ResponseBody)
			}
			want := fmt.Sprintf(`qop=auth-int, rspauth="%s", cnonce="%s", nc=%s`, v.RspAuth, v.CNonce, v.NC)
			if got := resp.Header.Get("Authentication-Info"); got != want {
				t.Errorf("Authentication-Info = %q, want %q", got, want)
			}
			if got := resp.Header.Get("Expires"); got != "Wed, 28 Oct 2020 23:36:26 GMT" {
				t.Errorf("Expires = %q", got)
			}
		})
		return
	}
	t.Fatalf("vector %s missing", name)
}

func TestUbBootstrap(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	btidText, lifetime := ue.bootstrap()
	if !lifetime.Equal(testEpoch().Add(24 * time.Hour)) {
		t.Errorf("lifetime %s, want the default 24 h", lifetime)
	}
	btid, err := gba.ParseBTID(btidText)
	if err != nil {
		t.Fatal(err)
	}
	// TS 33.220 §4.5.2: B-TID = base64(RAND)@BSF domain, RAND of the AV.
	av := tb.hss.resps[0]
	if btid.RAND != av.RAND || btid.Domain != "bsf.home1.net" {
		t.Errorf("B-TID %s does not carry the AV's RAND", btidText)
	}
	s, err := tb.store.Session(context.Background(), btid)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := gba.Ks(av.CK[:], av.IK[:])
	if s.IMPI != impi1 || !s.Ks.Equal(ks) || !s.Expires.Equal(lifetime) || !s.Created.Equal(testEpoch()) {
		t.Errorf("stored session %v does not match", s)
	}
}

func TestUbWrongRES(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ch := ue.challenge()
	auth, _, _ := ue.answer(ch, answerWrongRES)
	ch2 := wantChallenge(t, ue.do(auth), false)
	if ch2.Nonce == ch.Nonce {
		t.Error("wrong RES must get a fresh challenge")
	}
	if n, _ := tb.store.Live(context.Background()); n != 0 {
		t.Errorf("a wrong RES created %d sessions", n)
	}
	// The fresh challenge works.
	auth, c, pw := ue.answer(ch2, answerUSIM)
	wantBootstrapped(t, ue.do(auth), c, pw)
}

func TestUbTooManyFailures(t *testing.T) {
	tb := newTestBSF(t, withConfig(func(c *Config) { c.Ub.MaxFailures = 3 }))
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ch := ue.challenge()
	for i := 1; i <= 3; i++ {
		auth, _, _ := ue.answer(ch, answerWrongRES)
		resp := ue.do(auth)
		if i < 3 {
			ch = wantChallenge(t, resp, false)
			continue
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("failure %d: status %d, want 403", i, resp.StatusCode)
		}
	}
	if n, _ := tb.store.Live(context.Background()); n != 0 {
		t.Errorf("%d sessions after wrong responses", n)
	}
}

func TestUbReplayedNonce(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ch := ue.challenge()
	auth, c, pw := ue.answer(ch, answerUSIM)
	wantBootstrapped(t, ue.do(auth), c, pw)
	// The same Authorization again: the nonce is spent (single use).
	ch2 := wantChallenge(t, ue.do(auth), true)
	if ch2.Nonce == ch.Nonce {
		t.Error("replayed nonce answered with the same nonce")
	}
	if n, _ := tb.store.Live(context.Background()); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

func TestUbStaleNonce(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ch := ue.challenge()
	auth, _, _ := ue.answer(ch, answerUSIM)
	tb.clock.Advance(61 * time.Second) // default nonce_max_age 60 s
	ch2 := wantChallenge(t, ue.do(auth), true)
	if n, _ := tb.store.Live(context.Background()); n != 0 {
		t.Errorf("stale nonce created %d sessions", n)
	}
	auth, c, pw := ue.answer(ch2, answerUSIM)
	wantBootstrapped(t, ue.do(auth), c, pw)
}

func TestUbNonceOfAnotherIMPI(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	tb.hss.add(t, "user2@home1.net", nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ch := ue.challenge()
	other := newTestUE(t, tb, "user2@home1.net")
	auth, _, _ := other.answer(ch, answerUSIM) // user2 answers user1's nonce
	wantChallenge(t, other.do(auth), true)
	if n, _ := tb.store.Live(context.Background()); n != 0 {
		t.Errorf("%d sessions", n)
	}
}

func TestUbUnknownIMPI(t *testing.T) {
	tb := newTestBSF(t)
	ue := newTestUE(t, tb, "nobody@home1.net")
	if resp := ue.do(ue.initialAuth()); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

// advanceUSIM makes the USIM accept SQN = SEQ 1000 ‖ IND 0, so that the HSS's first SQN
// (SEQ 1, IND 0) is rejected as not fresh (TS 33.102 §C.2).
func advanceUSIM(t *testing.T, ue *testUE) {
	s := loadSet1(t)
	av, err := aka.GenerateAV(akaKey(t, s.K), akaKey(t, s.OPc), [16]byte{9}, aka.SQN(1000<<aka.DefaultINDBits), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ue.usim.Authenticate(av.RAND[:], av.AUTN[:]); err != nil {
		t.Fatal(err)
	}
}

func TestUbResync(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	advanceUSIM(t, ue)
	ch := ue.challenge()
	auth, c, _ := ue.answer(ch, answerUSIM)
	if c.AUTS == nil {
		t.Fatal("the USIM did not report a synchronisation failure")
	}
	ch2 := wantChallenge(t, ue.do(auth), false)
	reqs := tb.hss.requests()
	last := reqs[len(reqs)-1]
	n, _ := digest.UnpackNonce(ch.Nonce)
	if last.Resync == nil || last.Resync.RAND != n.RAND || string(last.Resync.AUTS[:]) != string(c.AUTS) {
		t.Fatalf("MAR did not carry RAND || AUTS of the rejected challenge: %+v", last)
	}
	auth, c, pw := ue.answer(ch2, answerUSIM)
	wantBootstrapped(t, ue.do(auth), c, pw)
}

// TestUbResyncBadResponse: with auts the response must verify over the empty password
// (RFC 3310 §3.4); otherwise it counts as a wrong response and no resync happens.
func TestUbResyncBadResponse(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	advanceUSIM(t, ue)
	ch := ue.challenge()
	_, c, _ := ue.answer(ch, answerUSIM)
	if err := c.Sign([]byte("x"), http.MethodGet, nil); err != nil { // keeps auts, wrong password
		t.Fatal(err)
	}
	h, _ := c.Header()
	wantChallenge(t, ue.do(h), false)
	for _, r := range tb.hss.requests() {
		if r.Resync != nil {
			t.Fatal("resync requested for a response that does not verify")
		}
	}
}

func TestUbResyncRefusedByHSS(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	advanceUSIM(t, ue)
	ch := ue.challenge()
	_, c, _ := ue.answer(ch, answerUSIM)
	c.AUTS[13] ^= 1 // MAC-S no longer verifies at the HSS
	if err := c.SignSyncFailure(c.AUTS, http.MethodGet, nil); err != nil {
		t.Fatal(err)
	}
	h, _ := c.Header()
	if resp := ue.do(h); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

func TestUbMACFailure(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	tb.hss.subs[impi1].k[0] ^= 0xff // the network has another K: AUTN fails at the USIM
	ue := newTestUE(t, tb, impi1)
	ch := ue.challenge()
	auth, c, _ := ue.answer(ch, answerUSIM)
	if c.AUTS != nil {
		t.Fatal("expected a MAC failure, got a sync failure")
	}
	if resp := ue.do(auth); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

func TestUbHSSDown(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.err = fmt.Errorf("%w: no peer", ErrHSSUnavailable)
	ue := newTestUE(t, tb, impi1)
	resp := ue.do(ue.initialAuth())
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("status %d Retry-After %q, want 503 and 5", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestUbHSSTimeout: a VectorSource that never answers (and ignores ctx) yields 503 within
// the Zh timeout.
func TestUbHSSTimeout(t *testing.T) {
	tb := newTestBSF(t, withConfig(func(c *Config) { c.Zh.Timeout = 150 * time.Millisecond }))
	block := make(chan struct{})
	tb.hss.block = block
	t.Cleanup(func() { close(block) })
	ue := newTestUE(t, tb, impi1)
	start := time.Now()
	resp := ue.do(ue.initialAuth())
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, want 503 with Retry-After", resp.StatusCode)
	}
	if elapsed < 150*time.Millisecond || elapsed > 150*time.Millisecond+time.Second {
		t.Errorf("503 after %s, want just after the 150ms Zh timeout", elapsed)
	}
}

func TestUbRANDCollision(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.rand = zeroReader{} // every AV has RAND = 0…0 (AUTN still differs by SQN)
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ue.bootstrap()
	ch := ue.challenge()
	auth, _, _ := ue.answer(ch, answerUSIM)
	ch2 := wantChallenge(t, ue.do(auth), false) // B-TID in use: run AKA again
	if ch2.Nonce == ch.Nonce {
		t.Error("no fresh challenge after a RAND collision")
	}
	if n, _ := tb.store.Live(context.Background()); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestUbAKAv2(t *testing.T) {
	tb := newTestBSF(t, withConfig(func(c *Config) { c.Ub.Algorithm = string(digest.AKAv2MD5) }))
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ch := ue.challenge()
	if ch.Algorithm != digest.AKAv2MD5 {
		t.Fatalf("algorithm %q", ch.Algorithm)
	}
	auth, c, pw := ue.answer(ch, answerUSIM)
	wantBootstrapped(t, ue.do(auth), c, pw)
}

const gussDoc = `<?xml version="1.0" encoding="UTF-8"?>
<guss xmlns="uri:3gpp-gba" id="user1_private@home1.net">
  <bsfInfo><uiccType>GBA</uiccType><lifeTime>3600</lifeTime></bsfInfo>
  <ussList>
    <uss id="1" type="0" nafGroup="m2m"><uids><uid>sip:user1@home1.net</uid></uids><flags><flag>1</flag></flags></uss>
    <uss id="2" type="1" nafGroup="iptv"><uids><uid>tel:+358</uid></uids></uss>
  </ussList>
</guss>`

// TestUbGUSSLifetime: GUSS bsfInfo/lifeTime sets the key lifetime (TS 33.220 §4.5.2); the
// next MAR carries the GUSS-Timestamp and the HSS omits the unchanged GUSS.
func TestUbGUSSLifetime(t *testing.T) {
	tb := newTestBSF(t)
	gts := testEpoch().Add(-time.Hour)
	tb.hss.add(t, impi1, []byte(gussDoc), gts)
	ue := newTestUE(t, tb, impi1)
	_, lt := ue.bootstrap()
	if !lt.Equal(testEpoch().Add(time.Hour)) {
		t.Errorf("lifetime %s, want now + 3600 s from the GUSS", lt)
	}
	btid, lt2 := ue.bootstrap()
	if !lt2.Equal(testEpoch().Add(time.Hour)) {
		t.Errorf("second lifetime %s, want the cached GUSS to apply", lt2)
	}
	reqs := tb.hss.requests()
	if !reqs[0].GUSSTimestamp.IsZero() || !reqs[1].GUSSTimestamp.Equal(gts) {
		t.Errorf("GUSS-Timestamp in MARs: %v, %v", reqs[0].GUSSTimestamp, reqs[1].GUSSTimestamp)
	}
	if tb.hss.resps[1].GUSS != nil {
		t.Error("the fake HSS resent an unchanged GUSS")
	}
	b, _ := gba.ParseBTID(btid)
	s, err := tb.store.Session(context.Background(), b)
	if err != nil || string(s.GUSS) != gussDoc {
		t.Errorf("session GUSS not kept: %v", err)
	}
}

func TestUbBadRequests(t *testing.T) {
	tb := newTestBSF(t, withConfig(func(c *Config) { c.Ub.MaxBodyBytes = 64 }))
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ch := ue.challenge()
	good, c, _ := ue.answer(ch, answerUSIM)
	mutate := func(f func(*digest.Credentials)) string {
		c2 := c
		f(&c2)
		h, err := c2.Header()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tests := []struct {
		name   string
		method string
		path   string
		auth   []string
		body   string
		want   int
	}{
		{"no Authorization", "GET", "/", nil, "", 400},
		{"Basic", "GET", "/", []string{"Basic dXNlcjpwYXNz"}, "", 400},
		{"malformed", "GET", "/", []string{`Digest username="x`}, "", 400},
		{"missing uri", "GET", "/", []string{`Digest username="a@b", realm="r", nonce="", response=""`}, "", 400},
		{"empty username", "GET", "/", []string{`Digest username="", realm="r", nonce="", uri="/", response=""`}, "", 400},
		{"two Authorization", "GET", "/", []string{ue.initialAuth(), ue.initialAuth()}, "", 400},
		{"TMPI", "GET", "/", []string{`Digest username="WEkKGtQh8Tmmo2PURGh2v/y/lsZpJq4a@tmpi.bsf.3gppnetwork.org", realm="bsf.home1.net", nonce="", uri="/", response=""`}, "", 403},
		{"wrong realm", "GET", "/", []string{mutate(func(c *digest.Credentials) { c.Realm = "evil.net" })}, "", 400},
		{"qop auth", "GET", "/", []string{mutate(func(c *digest.Credentials) { c.QOP = digest.QOPAuth })}, "", 400},
		{"uri mismatch", "GET", "/", []string{mutate(func(c *digest.Credentials) { c.URI = "/other" })}, "", 400},
		{"nonce not AKA", "GET", "/", []string{mutate(func(c *digest.Credentials) { c.Nonce = "abc" })}, "", 400},
		{"algorithm MD5", "GET", "/", []string{mutate(func(c *digest.Credentials) { c.Algorithm = digest.MD5 })}, "", 400},
		{"body too large", "POST", "/", []string{ue.initialAuth()}, strings.Repeat("x", 65), 413},
		{"other path", "GET", "/x", []string{ue.initialAuth()}, "", 404},
		{"PUT", "PUT", "/", []string{ue.initialAuth()}, "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tb.srv.URL+tt.path, strings.NewReader(tt.body))
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			resp, err := tb.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if resp.Header.Get("Server") != ServerToken {
				t.Errorf("Server = %q", resp.Header.Get("Server"))
			}
		})
	}
	_ = good
}

// TestUbPOSTWithBody: qop=auth-int covers the request body (RFC 2617 §3.2.2.3).
func TestUbPOSTWithBody(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ch := ue.challenge()
	n, _ := digest.UnpackNonce(ch.Nonce)
	res, err := ue.usim.Authenticate(n.RAND[:], n.AUTN[:])
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("<hello/>")
	c, _ := digest.NewCredentials(ch, impi1, "/", digest.QOPAuthInt, "c0ffee", 1)
	if err := c.Sign(res.RES[:], http.MethodPost, body); err != nil {
		t.Fatal(err)
	}
	h, _ := c.Header()
	req, _ := http.NewRequest(http.MethodPost, ue.url, strings.NewReader(string(body)))
	req.Header.Set("Authorization", h)
	resp, err := ue.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	wantBootstrapped(t, resp, c, res.RES[:])
}

func TestUbStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 200},
		{ErrBadRequest, 400},
		{fmt.Errorf("%w: %w", ErrBadRequest, digest.ErrSyntax), 400},
		{ErrRequestTooLarge, 413},
		{ErrIMPIUnknown, 403},
		{fmt.Errorf("zh: %w", ErrIMPIUnknown), 403},
		{ErrTMPIUnknown, 403},
		{ErrNetworkAuthFailure, 403},
		{ErrTooManyFailures, 403},
		{ErrResyncFailed, 403},
		{ErrHSSUnavailable, 503},
		{fmt.Errorf("%w: %w", ErrHSSUnavailable, context.DeadlineExceeded), 503},
		{context.DeadlineExceeded, 503},
		{ErrOverloaded, 503},
		{errors.New("disk on fire"), 500},
		{ErrSealed, 500},
	}
	for _, tt := range tests {
		if got := ubStatus(tt.err); got != tt.want {
			t.Errorf("ubStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestUbOverloaded(t *testing.T) {
	tb := newTestBSF(t, withConfig(func(c *Config) { c.Ub.MaxPendingChallenges = 1 }))
	tb.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, tb, impi1)
	ue.challenge()
	resp := ue.do(ue.initialAuth())
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, want 503 with Retry-After", resp.StatusCode)
	}
}
