package bsf

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/testlog"
	"github.com/opengba/opengba/specs"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // gin's global mode; silences its debug banner
	if os.Getenv(killHelperEnv) != "" {
		os.Exit(runKillHelper())
	}
	os.Exit(m.Run())
}

// set1 holds TS 35.208 §4.3.1 set 1 (specs/vectors/ts35208.json).
type set1 struct {
	K, OPc, AMF, RAND, AUTN, F2, F3, F4 string
}

func loadSet1(t testing.TB) set1 {
	t.Helper()
	var f struct {
		Sets []struct {
			Name                    string
			K, OPc, AMF, RAND, AUTN string
			F2, F3, F4              string
		} `json:"sets"`
	}
	if err := specs.Vectors("ts35208", &f); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Sets {
		if s.Name == "TS35208/set1" {
			return set1{K: s.K, OPc: s.OPc, AMF: s.AMF, RAND: s.RAND, AUTN: s.AUTN, F2: s.F2, F3: s.F3, F4: s.F4}
		}
	}
	t.Fatal("TS35208/set1 missing from ts35208.json")
	return set1{}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func akaKey(t testing.TB, s string) aka.Key {
	t.Helper()
	k, err := aka.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// seededRand is a deterministic, concurrency-safe io.Reader.
type seededRand struct {
	mu sync.Mutex
	c  *rand.ChaCha8
}

func newSeededRand(seed byte) *seededRand {
	var s [32]byte
	s[0] = seed
	return &seededRand{c: rand.NewChaCha8(s)}
}

func (r *seededRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c.Read(p)
}

// fakeHSS is a VectorSource built on internal/aka: Milenage AVs from a per-subscriber
// SQNGenerator, resynchronisation with VerifyAUTS, GUSS sent when newer than the request's
// GUSS-Timestamp.
type fakeHSS struct {
	rand  io.Reader
	ready atomic.Bool

	mu    sync.Mutex
	subs  map[string]*fakeSub
	reqs  []AVRequest
	resps []AVResponse
	err   error         // returned by every FetchAV when set
	block chan struct{} // FetchAV waits for it, ignoring ctx, when set
}

type fakeSub struct {
	k, opc aka.Key
	amf    aka.AMF
	gen    aka.SQNGenerator
	guss   []byte
	gussTS time.Time
}

func newFakeHSS(r io.Reader) *fakeHSS {
	f := &fakeHSS{rand: r, subs: map[string]*fakeSub{}}
	f.ready.Store(true)
	return f
}

// add provisions impi with the TS 35.208 set 1 K and OPc.
func (f *fakeHSS) add(t testing.TB, impi string, guss []byte, gussTS time.Time) {
	s := loadSet1(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[impi] = &fakeSub{
		k: akaKey(t, s.K), opc: akaKey(t, s.OPc), amf: aka.AMF(0x0000),
		gen:  aka.SQNGenerator{Scheme: aka.DefaultSQNScheme()},
		guss: guss, gussTS: gussTS,
	}
}

func (f *fakeHSS) setGUSS(impi string, guss []byte, ts time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[impi].guss, f.subs[impi].gussTS = guss, ts
}

func (f *fakeHSS) requests() []AVRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]AVRequest(nil), f.reqs...)
}

func (f *fakeHSS) Ready() bool { return f.ready.Load() }

func (f *fakeHSS) FetchAV(ctx context.Context, req AVRequest) (AVResponse, error) {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if f.err != nil {
		return AVResponse{}, f.err
	}
	sub, ok := f.subs[req.IMPI]
	if !ok {
		return AVResponse{}, ErrIMPIUnknown
	}
	if req.Resync != nil {
		sqnMS, err := aka.VerifyAUTS(sub.k, sub.opc, req.Resync.RAND[:], req.Resync.AUTS[:])
		if err != nil {
			return AVResponse{}, ErrResyncFailed
		}
		if sub.gen, err = sub.gen.Resync(sqnMS); err != nil {
			return AVResponse{}, err
		}
	}
	sqn, next, err := sub.gen.Next()
	if err != nil {
		return AVResponse{}, err
	}
	sub.gen = next
	rnd, err := aka.NewRAND(f.rand)
	if err != nil {
		return AVResponse{}, err
	}
	av, err := aka.GenerateAV(sub.k, sub.opc, rnd, sqn, sub.amf)
	if err != nil {
		return AVResponse{}, err
	}
	resp := AVResponse{RAND: av.RAND, AUTN: av.AUTN, XRES: bytes.Clone(av.XRES[:]), CK: av.CK, IK: av.IK}
	if sub.guss != nil && sub.gussTS.Unix() > req.GUSSTimestamp.Unix() {
		resp.GUSS, resp.GUSSTimestamp = sub.guss, sub.gussTS
	}
	f.resps = append(f.resps, resp)
	return resp, nil
}

// testBSF bundles a BSF on a MemoryStore (unless a store is given), a fake HSS, a clock and
// an httptest server running the Ub handler.
type testBSF struct {
	*BSF
	hss   *fakeHSS
	clock *fakeClock
	store Store
	srv   *httptest.Server
	logs  *syncBuffer
}

// syncBuffer collects the output of concurrent writers.
type syncBuffer = testlog.Buffer

// testEpoch is 24 h before the lifetime of the TS 24.109 Annex A example body.
func testEpoch() time.Time { return time.Date(2020, 10, 27, 23, 36, 26, 0, time.UTC) }

func testConfig() Config {
	cfg := Default()
	cfg.Ub.Domain = "bsf.home1.net"
	cfg.Store.Backend = BackendMemory
	cfg.Zh.Timeout = 200 * time.Millisecond
	cfg.Zn.NAFs = map[string]NAFPolicy{
		"naf.home1.net": {FQDNs: []string{"naf.home1.net"}, Group: "m2m", IMPI: IMPIOnRequest},
	}
	return cfg
}

type bsfOption func(*Config, *Deps)

func newTestBSF(t testing.TB, opts ...bsfOption) *testBSF {
	t.Helper()
	clock := newClock(testEpoch())
	cfg := testConfig()
	cfg.Now = clock.Now
	cfg.Rand = newSeededRand(1)
	hss := newFakeHSS(newSeededRand(2))
	logs := &syncBuffer{}
	d := Deps{
		VectorSource: hss,
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg, &d)
	}
	if d.Store == nil {
		d.Store = NewMemoryStore(cfg.Now)
	}
	b, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	return &testBSF{BSF: b, hss: hss, clock: clock, store: d.Store, srv: srv, logs: logs}
}

func withConfig(f func(*Config)) bsfOption { return func(c *Config, _ *Deps) { f(c) } }

// testUE is the UE side: a USIM emulator (internal/aka) and Digest AKA (internal/digest).
type testUE struct {
	t      testing.TB
	impi   string
	usim   *aka.USIM
	url    string
	client *http.Client
	nc     uint32
}

func newTestUE(t testing.TB, tb *testBSF, impi string) *testUE {
	t.Helper()
	s := loadSet1(t)
	arr, err := aka.NewSQNArray(aka.DefaultSQNScheme())
	if err != nil {
		t.Fatal(err)
	}
	usim, err := aka.NewUSIM(akaKey(t, s.K), akaKey(t, s.OPc), arr, aka.AMFSeparationMustBeZero)
	if err != nil {
		t.Fatal(err)
	}
	return &testUE{t: t, impi: impi, usim: usim, url: tb.srv.URL + "/", client: tb.srv.Client()}
}

// do sends GET / with the given Authorization value.
func (u *testUE) do(auth string) *http.Response {
	u.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u.url, nil)
	if err != nil {
		u.t.Fatal(err)
	}
	req.Header.Set("User-Agent", "Bootstrapping Client Agent; Release-6; 3gpp-gba-tmpi")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// initialAuth is the Authorization of TS 24.109 Annex A step 1.
func (u *testUE) initialAuth() string {
	return `Digest username="` + u.impi + `", realm="bsf.home1.net", nonce="", uri="/", response=""`
}

// challenge runs step 1 and returns the parsed 401 challenge.
func (u *testUE) challenge() digest.Challenge {
	u.t.Helper()
	resp := u.do(u.initialAuth())
	return wantChallenge(u.t, resp, false)
}

func wantChallenge(t testing.TB, resp *http.Response, stale bool) digest.Challenge {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	if got := resp.Header.Get("Server"); got != ServerToken {
		t.Errorf("Server = %q, want %q", got, ServerToken)
	}
	ch, err := digest.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
	if err != nil {
		t.Fatalf("WWW-Authenticate: %v", err)
	}
	if ch.Stale != stale {
		t.Errorf("stale = %v, want %v", ch.Stale, stale)
	}
	return ch
}

// answerMode says how the UE answers a challenge.
type answerMode int

const (
	answerUSIM     answerMode = iota // whatever the USIM says (RES, AUTS or MAC failure)
	answerWrongRES                   // a response over a wrong password
)

// answer builds the Authorization answering ch; it also returns the credentials and the
// password the UE used (nil for the empty password).
func (u *testUE) answer(ch digest.Challenge, mode answerMode) (string, digest.Credentials, []byte) {
	u.t.Helper()
	n, err := digest.UnpackNonce(ch.Nonce)
	if err != nil {
		u.t.Fatal(err)
	}
	u.nc = 1
	c, err := digest.NewCredentials(ch, u.impi, "/", digest.QOPAuthInt, "0a4f113b", u.nc)
	if err != nil {
		u.t.Fatal(err)
	}
	var password []byte
	res, err := u.usim.Authenticate(n.RAND[:], n.AUTN[:])
	var sf *aka.SyncFailure
	switch {
	case mode == answerWrongRES:
		password = []byte("not the RES")
		err = c.Sign(password, http.MethodGet, nil)
	case err == nil:
		password, err = digest.AKAPassword(ch.Algorithm, res.RES[:], res.IK[:], res.CK[:])
		if err == nil {
			err = c.Sign(password, http.MethodGet, nil)
		}
	case errors.As(err, &sf):
		err = c.SignSyncFailure(sf.AUTS[:], http.MethodGet, nil)
	case errors.Is(err, aka.ErrMACFailure):
		err = c.SignMACFailure(http.MethodGet, nil)
	}
	if err != nil {
		u.t.Fatal(err)
	}
	h, err := c.Header()
	if err != nil {
		u.t.Fatal(err)
	}
	return h, c, password
}

// bootstrap runs both round trips and checks the 200, including rspauth (mutual
// authentication, RFC 3310 §3.5). It returns the B-TID text and the lifetime.
func (u *testUE) bootstrap() (string, time.Time) {
	u.t.Helper()
	ch := u.challenge()
	auth, c, password := u.answer(ch, answerUSIM)
	resp := u.do(auth)
	return wantBootstrapped(u.t, resp, c, password)
}

func wantBootstrapped(t testing.TB, resp *http.Response, c digest.Credentials, password []byte) (string, time.Time) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != ContentTypeBootstrappingInfo {
		t.Errorf("Content-Type = %q", got)
	}
	if got := resp.Header.Get("Server"); got != ServerToken {
		t.Errorf("Server = %q", got)
	}
	ai, err := digest.ParseAuthInfo(resp.Header.Get("Authentication-Info"))
	if err != nil {
		t.Fatalf("Authentication-Info: %v", err)
	}
	if err := c.VerifyAuthInfo(password, ai, body); err != nil {
		t.Fatalf("rspauth does not authenticate the BSF: %v", err)
	}
	var info struct {
		XMLName  struct{} `xml:"uri:3gpp-gba BootstrappingInfo"`
		BTID     string   `xml:"btid"`
		Lifetime string   `xml:"lifetime"`
	}
	if err := xmlUnmarshal(body, &info); err != nil {
		t.Fatalf("BootstrappingInfo: %v\n%s", err, body)
	}
	lt, err := time.Parse(time.RFC3339, info.Lifetime)
	if err != nil || !strings.HasSuffix(info.Lifetime, "Z") {
		t.Fatalf("lifetime %q is not a UTC xs:dateTime", info.Lifetime)
	}
	exp, err := http.ParseTime(resp.Header.Get("Expires"))
	if err != nil || !exp.Equal(lt) {
		t.Errorf("Expires = %q, want the lifetime %s", resp.Header.Get("Expires"), lt)
	}
	return info.BTID, lt
}

func xmlUnmarshal(b []byte, v any) error { return xml.Unmarshal(b, v) }
