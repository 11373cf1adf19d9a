package naf_test

import (
	"bytes"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testlog"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/naftest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // quiet route logging
	os.Exit(m.Run())
}

const (
	nafFQDN   = "naf.home1.net"
	bsfDomain = "bsf.home1.net"
)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// set1 returns the BSF session of TS 35.208 set 1 (CK, IK, RAND) for IMPI
// user1_private@home1.net, as in specs/vectors/ts33220.json.
func set1(t testing.TB, expires time.Time) naftest.BSFSession {
	t.Helper()
	v, err := naftest.Vector("TS35208/set1/gba-me/http-digest")
	if err != nil {
		t.Fatal(err)
	}
	return naftest.BSFSession{
		CK: naftest.MustHex(v.CK), IK: naftest.MustHex(v.IK), RAND: naftest.MustHex(v.RAND),
		IMPI: v.IMPI, BSFDomain: bsfDomain, Expires: expires,
	}
}

// rig is one NAF behind httptest with a fake BSF and a cached key source.
type rig struct {
	t     testing.TB
	clock *clock
	bsf   *naftest.FakeBSF
	cache *naf.Cache
	auth  *naf.Authenticator
	srv   *httptest.Server
	logs  *syncBuffer
	// seen records what the protected handler saw.
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	session naf.Session
	key     gba.Key
	body    []byte
}

// syncBuffer collects the output of concurrent writers.
type syncBuffer = testlog.Buffer

type rigOption func(*naf.UaConfig)

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{t: t, clock: newClock(), logs: &syncBuffer{}}
	r.bsf = naftest.NewFakeBSF(r.clock.Now)
	r.cache = naf.NewCache(r.bsf, naf.CacheConfig{Now: r.clock.Now})
	cfg := naf.UaConfig{
		NAFFQDN: nafFQDN,
		Keys:    r.cache,
		Now:     r.clock.Now,
		Logger:  slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := naf.NewAuthenticator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.auth = a
	r.srv = httptest.NewServer(a.Middleware(http.HandlerFunc(r.handle)))
	t.Cleanup(r.srv.Close)
	return r
}

// handle is the protected service: it echoes the body and records what it saw.
func (r *rig) handle(w http.ResponseWriter, req *http.Request) {
	s, ok := naf.SessionFrom(req.Context())
	k, kok := naf.KsNAFFrom(req.Context())
	if !ok || !kok {
		http.Error(w, "no session", http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.seen = append(r.seen, seenRequest{session: s, key: k, body: body})
	r.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(append([]byte("echo:"), body...))
}

func (r *rig) lastSeen() seenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		r.t.Fatal("handler never ran")
	}
	return r.seen[len(r.seen)-1]
}

// do sends method uri with body and the given Authorization ("" for none).
func (r *rig) do(method, uri string, body []byte, authz string) (*http.Response, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+uri, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp, b
}

// challenge gets a fresh 401 challenge and gives it to ue.
func (r *rig) challenge(ue *naftest.UE) {
	r.t.Helper()
	resp, _ := r.do(http.MethodGet, "/", nil, "")
	if resp.StatusCode != http.StatusUnauthorized {
		r.t.Fatalf("unauthenticated request: status %d, want 401", resp.StatusCode)
	}
	if err := ue.SetChallenge(resp.Header.Get("WWW-Authenticate")); err != nil {
		r.t.Fatal(err)
	}
}

func mustChallenge(t testing.TB, resp *http.Response) digest.Challenge {
	t.Helper()
	h := resp.Header.Get("WWW-Authenticate")
	if h == "" {
		t.Fatalf("status %d without WWW-Authenticate", resp.StatusCode)
	}
	ch, err := digest.ParseChallenge(h)
	if err != nil {
		t.Fatalf("challenge %q: %v", h, err)
	}
	return ch
}

// leaks reports whether out contains k in hex or base64.
func leaks(k gba.Key, out string) bool {
	return strings.Contains(strings.ToLower(out), hex.EncodeToString(k.Bytes())) || strings.Contains(out, k.Base64())
}
