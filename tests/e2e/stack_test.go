package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wmnsk/milenage"

	"github.com/opengba/opengba/bsf"
	hsssim "github.com/opengba/opengba/hss-sim"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testbed"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/ue"
)

// --- subscribers and the UE side ---------------------------------------------------

// sub is a subscriber as its USIM holds it (TS 33.102 §6.3: IMPI, K, OPc).
type sub struct {
	IMPI   string
	K, OPc []byte
}

// newSub draws K and OPc and registers them with the secrets check.
func newSub(impi string) sub {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail
	}
	b[0] |= 1
	b[16] |= 1
	s := sub{IMPI: impi, K: b[:16], OPc: b[16:]}
	s.register()
	return s
}

// fromTestbed turns a testbed subscriber into a sub (and registers its keys).
func fromTestbed(s testbed.Subscriber) sub {
	r := sub{IMPI: s.IMPI, K: s.K.Bytes(), OPc: s.OPc.Bytes()}
	r.register()
	return r
}

func (s sub) register() {
	suite.secrets.add("K "+s.IMPI, s.K)
	suite.secrets.add("OPc "+s.IMPI, s.OPc)
}

// spec is the provisioning form of s (hss-sim SubscriberSpec) with the given SQN (hex).
func (s sub) spec(sqn string) hsssim.SubscriberSpec {
	return hsssim.SubscriberSpec{IMPI: s.IMPI, K: hex.EncodeToString(s.K), OPc: hex.EncodeToString(s.OPc), AMF: "0000", SQN: sqn}
}

// usim returns a recording USIM for s with a fresh SQN array.
func (s sub) usim(t *testing.T) *recUSIM {
	t.Helper()
	k, err := ue.NewKey128(s.K)
	if err != nil {
		t.Fatal(err)
	}
	opc, err := ue.NewKey128(s.OPc)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ue.NewUSIM(s.IMPI, k, opc, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &recUSIM{USIM: u, k: s.K, opc: s.OPc}
}

// sqnOf recovers SQN from AUTN = (SQN ⊕ AK) ‖ AMF ‖ MAC-A with AK = f5(K, RAND)
// (TS 33.102 §6.3.2), with wmnsk/milenage (independent of internal/aka).
func sqnOf(k, opc []byte, rnd, autn [16]byte) uint64 {
	m := milenage.NewWithOPc(k, opc, rnd[:], 0, 0)
	_, _, _, ak, err := m.F2345()
	if err != nil {
		panic(err)
	}
	var b [8]byte
	for i := range 6 {
		b[2+i] = autn[i] ^ ak[i]
	}
	return binary.BigEndian.Uint64(b[:])
}

// sqnMSOf recovers SQN_MS from AUTS = (SQN_MS ⊕ AK*) ‖ MAC-S, AK* = f5*(K, RAND)
// (TS 33.102 §6.3.3).
func sqnMSOf(k, opc []byte, rnd [16]byte, auts [14]byte) uint64 {
	m := milenage.NewWithOPc(k, opc, rnd[:], 0, 0)
	aks, err := m.F5Star()
	if err != nil {
		panic(err)
	}
	var b [8]byte
	for i := range 6 {
		b[2+i] = auts[i] ^ aks[i]
	}
	return binary.BigEndian.Uint64(b[:])
}

// authEvent is one AUTHENTICATE the USIM ran.
type authEvent struct {
	RAND, AUTN [16]byte
	SQN        uint64 // from AUTN
	Err        error  // nil, ue.ErrMACFailure, *ue.SyncFailure …
	SQNMS      uint64 // from AUTS on a sync failure
}

// recUSIM is a ue.USIM that records every challenge and registers RES, CK and IK with the
// secrets check.
type recUSIM struct {
	*ue.USIM
	k, opc []byte

	mu     sync.Mutex
	events []authEvent
}

// Authenticate implements ue.Authenticator.
func (r *recUSIM) Authenticate(ctx context.Context, rnd, autn [16]byte) (ue.AKAResult, error) {
	res, err := r.USIM.Authenticate(ctx, rnd, autn)
	ev := authEvent{RAND: rnd, AUTN: autn, SQN: sqnOf(r.k, r.opc, rnd, autn), Err: err}
	var sf *ue.SyncFailure
	if errors.As(err, &sf) {
		ev.SQNMS = sqnMSOf(r.k, r.opc, rnd, sf.AUTS)
	}
	if err == nil {
		name := r.IMPI() + " RAND " + hex.EncodeToString(rnd[:4])
		suite.secrets.add("RES "+name, res.RES())
		suite.secrets.add("CK "+name, res.CK().Bytes())
		suite.secrets.add("IK "+name, res.IK().Bytes())
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	return res, err
}

func (r *recUSIM) seen() []authEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]authEvent(nil), r.events...)
}

// exchange is one HTTP request the UE sent and the status it got.
type exchange struct {
	Host, Method, Path string
	Status             int
}

// httpLog records the UE's HTTP exchanges (a RoundTripper between the ue library and the
// network).
type httpLog struct {
	base http.RoundTripper
	mu   sync.Mutex
	ex   []exchange
}

func (l *httpLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	e := exchange{Host: req.URL.Host, Method: req.Method, Path: req.URL.Path}
	if err == nil {
		e.Status = resp.StatusCode
	}
	l.mu.Lock()
	l.ex = append(l.ex, e)
	l.mu.Unlock()
	return resp, err
}

// statuses returns the statuses of the exchanges with host (all hosts when "").
func (l *httpLog) statuses(host string) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for _, e := range l.ex {
		if host == "" || e.Host == host {
			out = append(out, e.Status)
		}
	}
	return out
}

// ueRig is a UE under test: the ue.Client, its recording USIM and HTTP log.
type ueRig struct {
	*ue.Client
	usim *recUSIM
	http *httpLog
	ub   string // host:port of the BSF
}

// ueOptions tune newUE.
type ueOptions struct {
	store ue.Store // keeps the bootstrap (ue.Config.Store)
}

// newUE builds a ue.Client for usim against the BSF at ubURL; base carries the requests
// (the testbed's transport reaches the MEF under its NAF FQDN).
func newUE(t *testing.T, ubURL string, base http.RoundTripper, usim *recUSIM, o ueOptions) *ueRig {
	t.Helper()
	if base == nil {
		base = http.DefaultTransport
	}
	hl := &httpLog{base: base}
	c, err := ue.NewClient(ue.Config{
		BSF:        ubURL,
		USIM:       usim,
		HTTPClient: &http.Client{Transport: hl, Timeout: 20 * time.Second},
		Store:      o.store,
	})
	if err != nil {
		t.Fatalf("ue.NewClient: %v", err)
	}
	u, err := url.Parse(ubURL)
	if err != nil {
		t.Fatal(err)
	}
	return &ueRig{Client: c, usim: usim, http: hl, ub: u.Host}
}

// ubStatuses and uaStatuses split the HTTP log by reference point.
func (u *ueRig) ubStatuses() []int { return u.http.statuses(u.ub) }

func (u *ueRig) uaStatuses() []int {
	var out []int
	u.http.mu.Lock()
	defer u.http.mu.Unlock()
	for _, e := range u.http.ex {
		if e.Host != u.ub {
			out = append(out, e.Status)
		}
	}
	return out
}

// registerBootstrap records Ks (and CK, IK) of a bootstrap and Ks_NAF for the FQDNs.
func registerBootstrap(b *ue.Bootstrap, fqdns ...string) {
	if b == nil {
		return
	}
	suite.secrets.addKs(b.BTID, b.Ks().Bytes())
	for _, f := range fqdns {
		if k, err := b.KsNAF(f, ue.UaIDHTTPDigest); err == nil {
			suite.secrets.add("Ks_NAF "+f+" "+b.BTID, k.Bytes())
		}
	}
}

// --- the testbed ------------------------------------------------------------------------

// newTestbed starts the in-process testbed (hss-sim, BSF, MEF, MAF) with its logs in the
// suite's sink and no demo subscriber.
func newTestbed(t *testing.T) *testbed.Testbed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb, err := testbed.Start(ctx, testbed.Options{DemoSubscribers: -1, Logger: nodeLogger("testbed:" + t.Name())})
	if err != nil {
		t.Fatalf("testbed.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("testbed Close: %v", err)
		}
	})
	return tb
}

// tbSubscribers provisions n testbed subscribers from number first.
func tbSubscribers(t *testing.T, tb *testbed.Testbed, first, n int) []sub {
	t.Helper()
	ss, err := tb.Subscribers(testCtx(t, 20*time.Second), first, n)
	if err != nil {
		t.Fatalf("Subscribers: %v", err)
	}
	out := make([]sub, len(ss))
	for i, s := range ss {
		out[i] = fromTestbed(s)
	}
	return out
}

// tbUE is a UE of the testbed: its BSF, and the testbed's transport (NAF FQDN → MEF).
func tbUE(t *testing.T, tb *testbed.Testbed, s sub, o ueOptions) *ueRig {
	t.Helper()
	return newUE(t, tb.Endpoints().UbURL, tb.HTTPClient().Transport, s.usim(t), o)
}

func tbUb(tb *testbed.Testbed) ubHand {
	return ubHand{hc: tb.HTTPClient(), url: tb.Endpoints().UbURL}
}

func tbUa(tb *testbed.Testbed) uaHand {
	return uaHand{hc: tb.HTTPClient(), url: tb.EnrolmentURL()}
}

// znLog collects the testbed's Zn exchanges (MEF → BSF BIR/BIA).
type znLog struct {
	mu sync.Mutex
	ex []testbed.Exchange
}

func observeZn(t *testing.T, tb *testbed.Testbed) *znLog {
	l := &znLog{}
	stop := tb.Observe(func(e testbed.Exchange) {
		if e.Interface == "Zn" {
			l.mu.Lock()
			l.ex = append(l.ex, e)
			l.mu.Unlock()
		}
	})
	t.Cleanup(stop)
	return l
}

// forBTID returns the errors of the BIRs for btid, in order (nil for a success).
func (l *znLog) forBTID(btid string) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []error
	for _, e := range l.ex {
		if e.BTID == btid {
			out = append(out, e.Err)
		}
	}
	return out
}

// hssAPI is the hss-sim provisioning REST API (/v1/subscribers).
type hssAPI struct {
	url, token string
}

func (a hssAPI) call(ctx context.Context, t *testing.T, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("hss-sim API %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// create provisions spec (201 expected).
func (a hssAPI) create(ctx context.Context, t *testing.T, spec hsssim.SubscriberSpec) {
	t.Helper()
	if r := a.call(ctx, t, http.MethodPost, "/v1/subscribers", spec); r.Status != http.StatusCreated {
		t.Fatalf("provision %s: %d %s", spec.IMPI, r.Status, r.Body)
	}
}

// patch changes fields of a subscriber (200 expected).
func (a hssAPI) patch(ctx context.Context, t *testing.T, impi string, fields map[string]string) {
	t.Helper()
	if r := a.call(ctx, t, http.MethodPatch, "/v1/subscribers/"+url.PathEscape(impi), fields); r.Status != http.StatusOK {
		t.Fatalf("patch %s: %d %s", impi, r.Status, r.Body)
	}
}

// sqn reads SQN_HE of a subscriber.
func (a hssAPI) sqn(ctx context.Context, t *testing.T, impi string) uint64 {
	t.Helper()
	r := a.call(ctx, t, http.MethodGet, "/v1/subscribers/"+url.PathEscape(impi), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("get %s: %d %s", impi, r.Status, r.Body)
	}
	var v struct {
		SQN string `json:"sqn"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("get %s: %v", impi, err)
	}
	n, err := hsssim.ParseSQN(v.SQN)
	if err != nil {
		t.Fatalf("get %s: sqn %q: %v", impi, v.SQN, err)
	}
	return n
}

func tbHSS(tb *testbed.Testbed) hssAPI {
	return hssAPI{url: tb.Endpoints().HSSProvisioningURL, token: tb.Tokens().HSSProvisioning}
}

// --- in-process nodes assembled in the test -------------------------------------------

// fakeClock is a clock the test moves (bsf.Config.Now).
type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// hssNode is an in-process hss-sim (memory store, Zh open to any peer).
type hssNode struct {
	store hsssim.Store
	zh    *hsssim.ZhServer
	addr  string
}

const (
	e2eRealm  = "e2e.opengba.test"
	e2eHSS    = "hss.e2e.opengba.test"
	e2eDomain = "bsf.e2e.opengba.test" // B-TID realm of the BSFs assembled here
	e2eNAF    = "naf.e2e.opengba.test" // Origin-Host and FQDN of the Zn client used here
)

func startHSS(t *testing.T, subs ...sub) *hssNode {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	cfg := hsssim.Default()
	cfg.Store.Backend = hsssim.BackendMemory
	cfg.Diameter.ListenTCP = []string{"127.0.0.1:0"}
	cfg.Diameter.OriginHost, cfg.Diameter.OriginRealm = e2eHSS, e2eRealm
	cfg.Diameter.Open = true
	store, err := hsssim.OpenStore(ctx, cfg.Store, cfg.SQN, nil)
	if err != nil {
		t.Fatalf("hss store: %v", err)
	}
	zh, err := hsssim.NewZhServer(hsssim.ZhServerOptions{Store: store, Config: cfg.Diameter, Logger: nodeLogger("hss")})
	if err != nil {
		t.Fatalf("hss zh: %v", err)
	}
	if err := zh.Start(); err != nil {
		t.Fatalf("hss zh start: %v", err)
	}
	n := &hssNode{store: store, zh: zh, addr: zh.Listeners()[0].Addr.String()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = zh.Shutdown(ctx)
		_ = store.Close()
	})
	for _, s := range subs {
		n.add(t, s)
	}
	return n
}

func (n *hssNode) add(t *testing.T, s sub) {
	t.Helper()
	spec := s.spec("")
	rec, err := spec.Build(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.store.Create(testCtx(t, 5*time.Second), rec); err != nil {
		t.Fatalf("provision %s: %v", s.IMPI, err)
	}
}

// bsfSpec describes an in-process BSF: the nodes' own constructors (bsf.OpenStore,
// NewZhClient, New, NewZnServer, Serve), assembled as cmd/bsf does.
type bsfSpec struct {
	name               string // log tag
	hssAddr, hssHost   string
	originHost, realm  string
	domain             string // B-TID realm
	ubListen, znListen string // "" → 127.0.0.1:0
	nafs               map[string]bsf.NAFPolicy
	configure          func(*bsf.Config) // last word on the configuration
	log                io.Writer         // also receives the BSF's log
}

// bsfNode is a running in-process BSF.
type bsfNode struct {
	b      *bsf.BSF
	zh     *bsf.ZhClient
	zn     *bsf.ZnServer
	store  bsf.Store
	ubURL  string
	znAddr string
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// newKEK returns a random key-encryption key in base64 (32 octets).
func newKEK() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func startBSF(t *testing.T, s bsfSpec) *bsfNode {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	cfg := bsf.Default()
	cfg.Ub.Listen, cfg.Ub.Domain = orDefault(s.ubListen, "127.0.0.1:0"), s.domain
	cfg.Store.Backend = bsf.BackendMemory
	cfg.Store.KEK = newKEK()
	cfg.Zh.OriginHost, cfg.Zh.OriginRealm, cfg.Zh.DestinationRealm = s.originHost, s.realm, s.realm
	cfg.Zh.Peers = []bsf.HSSPeer{{Address: s.hssAddr, Host: s.hssHost, Transport: bsf.TransportTCP, Priority: 1}}
	cfg.Zn.ListenTCP = []string{orDefault(s.znListen, "127.0.0.1:0")}
	cfg.Zn.OriginHost, cfg.Zn.OriginRealm = s.originHost, s.realm
	cfg.Zn.NAFs = s.nafs
	cfg.Ops.Listen = "127.0.0.1:0"
	cfg.Log.Level = "debug"
	if s.configure != nil {
		s.configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("bsf config: %v", err)
	}
	var extra []io.Writer
	if s.log != nil {
		extra = append(extra, s.log)
	}
	log := nodeLogger("bsf:"+s.name, extra...)
	store, challenges, err := bsf.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatalf("bsf store: %v", err)
	}
	zh, err := bsf.NewZhClient(cfg.Zh, bsf.ZhOptions{Logger: log, BackoffMax: 200 * time.Millisecond, Now: cfg.Now})
	if err != nil {
		t.Fatalf("bsf zh: %v", err)
	}
	b, err := bsf.New(cfg, bsf.Deps{VectorSource: zh, Store: store, Challenges: challenges, Logger: log})
	if err != nil {
		t.Fatalf("bsf: %v", err)
	}
	zh.SetMetrics(b.Metrics())
	zn, err := bsf.NewZnServer(b, bsf.ZnOptions{Logger: log})
	if err != nil {
		t.Fatalf("bsf zn: %v", err)
	}
	if err := zn.Start(); err != nil {
		t.Fatalf("bsf zn start: %v", err)
	}
	ub, err := net.Listen("tcp", cfg.Ub.Listen)
	if err != nil {
		t.Fatalf("bsf ub listen: %v", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	n := &bsfNode{b: b, zh: zh, zn: zn, store: store, ubURL: "http://" + ub.Addr().String() + "/",
		znAddr: zn.Listeners()[0].Addr.String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		if err := b.Serve(sctx, ub, nil); err != nil {
			t.Errorf("bsf %s: serve: %v", s.name, err)
		}
	}()
	t.Cleanup(n.stop)
	eventually(t, 10*time.Second, "BSF "+s.name+" Zh connection", func() (bool, string) {
		return zh.Ready(), "no HSS peer up"
	})
	return n
}

// stop shuts the BSF down in cmd/bsf's order: Ub, Zn (DPR to the NAFs), Zh, store.
func (n *bsfNode) stop() {
	n.once.Do(func() {
		n.cancel()
		<-n.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.zn.Shutdown(ctx)
		_ = n.zh.Close()
		_ = n.store.Close()
	})
}

// waitNAF waits until the NAF with Origin-Host host is connected on Zn.
func (n *bsfNode) waitNAF(t *testing.T, host string) {
	t.Helper()
	eventually(t, 10*time.Second, "NAF "+host+" on Zn", func() (bool, string) {
		for _, p := range n.zn.Peers() {
			if strings.EqualFold(p.OriginHost, host) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("peers %v", n.zn.Peers())
	})
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// replaceOptions tune replaceBSF.
type replaceOptions struct {
	hssAddr     string            // Zh peer address; "" means the testbed's HSS
	log         io.Writer         // also receives the BSF's log
	configure   func(*bsf.Config) // last word on the configuration
	beforeStart func()            // runs after the testbed's BSF stopped, before the new one starts
}

// replaceBSF stops the testbed's BSF and starts one assembled here on the same Ub and Zn
// addresses, towards the testbed's HSS (or o.hssAddr), with the testbed's NAF policy for
// the MEF. The testbed's MEF reconnects to it on Zn (waited for), and UEs built with tbUE
// reach it. This is how the suite reaches BSF settings the testbed does not expose (clock,
// nonce age, key lifetime, watchdog interval, NAF policy).
func replaceBSF(t *testing.T, tb *testbed.Testbed, o replaceOptions) *bsfNode {
	t.Helper()
	ep := tb.Endpoints()
	if err := tb.Stop(testbed.NodeBSF); err != nil {
		t.Fatalf("stop the testbed's BSF: %v", err)
	}
	u, err := url.Parse(ep.UbURL)
	if err != nil {
		t.Fatal(err)
	}
	hssAddr := orDefault(o.hssAddr, ep.HSSZh.Addr)
	if o.beforeStart != nil {
		o.beforeStart()
	}
	n := startBSF(t, bsfSpec{
		name: "replacement", hssAddr: hssAddr, hssHost: testbed.HSSHost,
		originHost: testbed.BSFHost, realm: testbed.Realm, domain: testbed.BSFDomain,
		ubListen: u.Host, znListen: ep.BSFZn.Addr,
		nafs:      map[string]bsf.NAFPolicy{testbed.MEFHost: {FQDNs: []string{ep.NAFFQDN}, Group: testbed.NAFGroup, IMPI: bsf.IMPIOnRequest}},
		configure: o.configure, log: o.log,
	})
	n.waitNAF(t, testbed.MEFHost)
	return n
}

// newZnClient is a NAF's Zn client (naf.ZnClient) towards the BSF at addr, Origin-Host
// e2eNAF; it waits for the capabilities exchange.
func newZnClient(t *testing.T, addr, bsfHost, bsfDomain string) *naf.ZnClient {
	t.Helper()
	c, err := naf.NewZnClient(naf.ZnClientConfig{
		Zn: naf.ZnConfig{
			OriginHost: e2eNAF, OriginRealm: e2eRealm,
			BSFs:        []naf.ZnPeer{{Realm: bsfDomain, Address: addr, Host: bsfHost}},
			Timeout:     5 * time.Second,
			RequestIMPI: true,
		},
		Logger:     nodeLogger("naf-zn"),
		BackoffMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("naf.NewZnClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	eventually(t, 15*time.Second, "Zn connection to "+addr, func() (bool, string) {
		err := c.Ready(context.Background())
		return err == nil, fmt.Sprint(err)
	})
	return c
}

// nafID is NAF_Id = FQDN ‖ 01 00 00 00 02 (TS 33.220 Annex H).
func nafID(fqdn string) gba.NAFID { return gba.NAFID{FQDN: fqdn, UaID: gba.UaIDHTTPDigest} }

// ksNAF derives the UE's Ks_NAF for fqdn and registers it.
func ksNAF(t *testing.T, b *ue.Bootstrap, fqdn string) []byte {
	t.Helper()
	k, err := b.KsNAF(fqdn, ue.UaIDHTTPDigest)
	if err != nil {
		t.Fatalf("KsNAF(%s): %v", fqdn, err)
	}
	suite.secrets.add("Ks_NAF "+fqdn+" "+b.BTID, k.Bytes())
	return k.Bytes()
}
