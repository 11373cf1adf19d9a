// Package testbed runs the GBA nodes of TS 33.220 §4.4 (HSS simulator, BSF, MEF acting as
// NAF, MAF) in one process on loopback, with their durable stores in a data directory.
//
// It is the harness behind cmd/gba-testbed and the end-to-end tests: Start brings the four
// nodes up on 127.0.0.1 (ports chosen by the kernel unless fixed in Options.Listen),
// provisions demo subscribers, and returns a *Testbed that exposes the endpoints, the
// tokens, UE clients wired to the nodes, one-device runs with a message ladder, load runs,
// and Stop/Restart of a single node. The assembly uses the nodes' own constructors
// (hsssim, bsf, naf/service) and observes Zh, Zn and the MEF→MAF provisioning through
// decorators of their ports, never by changing them.
//
// The package does not log: Options.Logger is handed to the nodes. gin prints its route
// table to stdout in debug mode, so callers set gin.SetMode(gin.ReleaseMode) first.
package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opengba/opengba/naf/maf"
)

// Identities of the testbed nodes (Diameter identities, RFC 6733 §4.3.1, and FQDNs).
const (
	// Realm is the Diameter realm of every node.
	Realm = "opengba.test"
	// HSSHost is the Origin-Host of the HSS simulator on Zh.
	HSSHost = "hss.opengba.test"
	// BSFHost is the Origin-Host of the BSF on Zh and Zn.
	BSFHost = "bsf.opengba.test"
	// BSFDomain is the BSF server domain name, the realm part of every B-TID
	// (TS 33.220 §4.5.2).
	BSFDomain = "bsf.opengba.test"
	// MEFHost is the Origin-Host of the MEF's Zn client.
	MEFHost = "mef.opengba.test"
	// MAFID is the MAF-ID (FQDN) the MEF returns to devices.
	MAFID = "maf.opengba.test"
	// SPID is the M2M service provider domain used in generated Node-IDs.
	SPID = "sp.opengba.test"
	// INCSEID is the SP-relative CSE-ID of the IN-CSE returned to devices.
	INCSEID = "/in-cse"
	// IMSDomain is the realm of the demo IMPIs.
	IMSDomain = "ims.opengba.test"
	// DefaultNAFFQDN is the MEF's NAF FQDN. The UE addresses the MEF by this name and
	// checks it against the Ua realm (TS 33.222 §5.3.0), so it must resolve to loopback
	// for clients outside the testbed: "localhost" does everywhere.
	DefaultNAFFQDN = "localhost"
	// UaIDHex is the Ua security protocol identifier of the MEF, HTTP Digest
	// (TS 33.220 Annex H).
	UaIDHex = "0100000002"
	// NAFGroup is the NAF group of the MEF in the BSF policy (TS 33.220 Annex J).
	NAFGroup = "m2m"
)

// Node names one testbed node.
type Node string

// Nodes. NodeUE appears in exchanges and ladders only.
const (
	NodeUE  Node = "UE"
	NodeBSF Node = "BSF"
	NodeHSS Node = "HSS"
	NodeMEF Node = "MEF"
	NodeMAF Node = "MAF"
)

// Errors of the testbed.
var (
	// ErrClosed: the testbed was closed.
	ErrClosed = errors.New("testbed: closed")
	// ErrNodeStopped: the operation needs a node that is stopped.
	ErrNodeStopped = errors.New("testbed: node stopped")
	// ErrUnknownNode: no such node.
	ErrUnknownNode = errors.New("testbed: unknown node")
)

// Listen holds the listen addresses (host:port). Empty fields mean "127.0.0.1:0", a port
// chosen by the kernel.
type Listen struct {
	HSSZh           string // Zh Diameter server of the HSS
	HSSProvisioning string // provisioning REST API of the HSS (+ /healthz, /metrics)
	BSFUb           string // Ub HTTP server of the BSF
	BSFZn           string // Zn Diameter server of the BSF
	BSFOps          string // /metrics, /healthz, /readyz of the BSF
	MEF             string // Ua/enrolment HTTP server of the MEF
	MEFOps          string // /metrics, /healthz, /readyz of the MEF
	MAF             string // MAF key API
}

// Options configure Start. The zero value starts a throw-away testbed.
type Options struct {
	// DataDir holds the durable stores (hss.db, bsf.db, mef.db, maf.db) and secrets.json
	// (key-encryption keys and API tokens, 0600). Empty: a fresh temporary directory that
	// Close removes. A given directory is created if missing and kept; a second Start on
	// it finds the subscribers, sessions and keys of the first.
	DataDir string
	// Listen fixes listen addresses; empty fields take a free loopback port.
	Listen Listen
	// DemoSubscribers is the number of subscribers provisioned at start (numbered from
	// 1, see Subscribers); 0 means 1, negative means none.
	DemoSubscribers int
	// NAFFQDN is the MEF's NAF FQDN; empty means DefaultNAFFQDN. In-process UEs reach the
	// MEF under this name whatever it resolves to.
	NAFFQDN string
	// Logger receives the nodes' logs (attribute "node"); nil discards them.
	Logger *slog.Logger
	// Rand is the randomness for generated keys and tokens; nil means crypto/rand.
	Rand io.Reader
}

// Diameter describes one Diameter listener and the identity of the node behind it.
type Diameter struct {
	Addr        string // host:port
	Transport   string // "tcp"
	OriginHost  string
	OriginRealm string
}

// Endpoints are the addresses and identities of the running testbed.
type Endpoints struct {
	// HSSZh is the HSS's Zh server (TS 29.109 §4).
	HSSZh Diameter
	// HSSProvisioningURL is the base URL of the HSS provisioning API (/v1/subscribers).
	HSSProvisioningURL string
	// UbURL is the BSF's Ub URL (TS 24.109 §4), what a UE needs as its BSF.
	UbURL string
	// BSFDomain is the B-TID realm (TS 33.220 §4.5.2).
	BSFDomain string
	// BSFZn is the BSF's Zn server (TS 29.109 §5).
	BSFZn Diameter
	// BSFOpsURL serves /metrics, /healthz and /readyz of the BSF.
	BSFOpsURL string
	// MEFURL is the MEF base URL with the NAF FQDN as host; the enrolment resource is
	// MEFURL + "/m2m/enrolment".
	MEFURL string
	// MEFAddr is the address the MEF listens on.
	MEFAddr string
	// NAFFQDN and UaID (10 hex digits) make the MEF's NAF_Id (TS 33.220 Annex H).
	NAFFQDN string
	UaID    string
	// MEFZnOriginHost is the Origin-Host of the MEF's Zn client.
	MEFZnOriginHost string
	// MEFOpsURL serves /metrics, /healthz and /readyz of the MEF.
	MEFOpsURL string
	// MAFURL is the base URL of the MAF key API; MAFKeysURL the lookup resource
	// (GET ?kmr_id=…, IN-CSE token).
	MAFURL     string
	MAFKeysURL string
	MAFID      string
}

// Tokens are the bearer tokens of the testbed's APIs. They are kept in secrets.json.
type Tokens struct {
	// HSSProvisioning authorises the HSS provisioning API.
	HSSProvisioning string
	// MAFLookup is the IN-CSE token of the MAF (GET /maf/v1/keys).
	MAFLookup string
	// MAFProvision is the MEF's token at the MAF (POST/DELETE /maf/v1/keys).
	MAFProvision string
}

// Testbed is a running set of nodes. Its methods are safe for concurrent use.
type Testbed struct {
	opts    Options
	log     *slog.Logger
	dir     string
	tempDir bool
	sec     secrets
	nafFQDN string
	obs     observers
	errc    chan error
	mefAddr atomic.Pointer[string] // where the NAF FQDN is dialled

	transport *http.Transport
	client    *http.Client
	mafClient *maf.Client

	mu     sync.Mutex
	addr   Listen // bound addresses once a node has started
	hss    *hssNode
	bsf    *bsfNode
	mef    *mefNode
	maf    *mafNode
	demo   []Subscriber
	closed bool
}

// Start creates or opens the data directory, starts MAF, HSS, BSF and MEF in that order
// (each node needs the address of the one before) and provisions the demo subscribers. On
// failure everything started is stopped again and the error names the node. Requests
// sent right after Start wait for the Diameter capabilities exchanges (the Zh and Zn
// clients connect in the background).
func Start(ctx context.Context, opts Options) (_ *Testbed, err error) {
	tb := &Testbed{opts: opts, log: opts.Logger, errc: make(chan error, 1), nafFQDN: opts.NAFFQDN}
	if tb.log == nil {
		tb.log = slog.New(slog.DiscardHandler)
	}
	if tb.nafFQDN == "" {
		tb.nafFQDN = DefaultNAFFQDN
	}
	tb.addr = defaultListen(opts.Listen)
	if err := tb.openDataDir(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tb.Close()
		}
	}()
	if tb.sec, err = loadSecrets(tb.dir, opts.Rand); err != nil {
		return nil, err
	}
	tb.transport = tb.newTransport()
	tb.client = &http.Client{Transport: tb.transport, Timeout: 30 * time.Second}

	tb.mu.Lock()
	for _, n := range []Node{NodeMAF, NodeHSS, NodeBSF, NodeMEF} {
		if err := tb.startLocked(ctx, n); err != nil {
			tb.mu.Unlock()
			return nil, err
		}
	}
	tb.mu.Unlock()
	if tb.mafClient, err = maf.NewClient(maf.ClientConfig{URL: tb.Endpoints().MAFURL, Token: tb.sec.CSEToken, Timeout: 10 * time.Second}); err != nil {
		return nil, fmt.Errorf("testbed: maf client: %w", err)
	}
	n := opts.DemoSubscribers
	if n == 0 {
		n = 1
	}
	if n > 0 {
		demo, err := tb.Subscribers(ctx, 1, n)
		if err != nil {
			return nil, err
		}
		tb.mu.Lock()
		tb.demo = demo
		tb.mu.Unlock()
	}
	return tb, nil
}

func defaultListen(l Listen) Listen {
	for _, p := range []*string{&l.HSSZh, &l.HSSProvisioning, &l.BSFUb, &l.BSFZn, &l.BSFOps, &l.MEF, &l.MEFOps, &l.MAF} {
		if *p == "" {
			*p = "127.0.0.1:0"
		}
	}
	return l
}

// openDataDir creates the data directory (or a temporary one) and checks that it is
// writable, so that a bad --data fails with a clear message before any node starts.
func (tb *Testbed) openDataDir() error {
	if tb.opts.DataDir == "" {
		d, err := os.MkdirTemp("", "gba-testbed-")
		if err != nil {
			return fmt.Errorf("testbed: temporary data directory: %w", err)
		}
		tb.dir, tb.tempDir = d, true
		return nil
	}
	tb.dir = tb.opts.DataDir
	if err := os.MkdirAll(tb.dir, 0o700); err != nil {
		return fmt.Errorf("testbed: data directory %q: %w", tb.dir, err)
	}
	f, err := os.CreateTemp(tb.dir, ".write-check-")
	if err != nil {
		return fmt.Errorf("testbed: data directory %q is not writable: %w", tb.dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("testbed: data directory %q: %w", tb.dir, err)
	}
	return nil
}

// newTransport is the HTTP transport of in-process UEs: keep-alive with enough idle
// connections for a load run, and the NAF FQDN dialled at the MEF's address.
func (tb *Testbed) newTransport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, err := net.SplitHostPort(addr); err == nil && strings.EqualFold(host, tb.nafFQDN) {
				if a := tb.mefAddr.Load(); a != nil {
					addr = *a
				}
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          2048,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       50 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}

// DataDir returns the data directory.
func (tb *Testbed) DataDir() string { return tb.dir }

// Endpoints returns the addresses and identities (bound addresses, also of stopped
// nodes, which restart on the same ports).
func (tb *Testbed) Endpoints() Endpoints {
	tb.mu.Lock()
	a := tb.addr
	tb.mu.Unlock()
	_, mefPort, _ := net.SplitHostPort(a.MEF)
	mafURL := "http://" + a.MAF
	return Endpoints{
		HSSZh:              Diameter{Addr: a.HSSZh, Transport: "tcp", OriginHost: HSSHost, OriginRealm: Realm},
		HSSProvisioningURL: "http://" + a.HSSProvisioning,
		UbURL:              "http://" + a.BSFUb + "/",
		BSFDomain:          BSFDomain,
		BSFZn:              Diameter{Addr: a.BSFZn, Transport: "tcp", OriginHost: BSFHost, OriginRealm: Realm},
		BSFOpsURL:          "http://" + a.BSFOps,
		MEFURL:             "http://" + net.JoinHostPort(tb.nafFQDN, mefPort),
		MEFAddr:            a.MEF,
		NAFFQDN:            tb.nafFQDN,
		UaID:               UaIDHex,
		MEFZnOriginHost:    MEFHost,
		MEFOpsURL:          "http://" + a.MEFOps,
		MAFURL:             mafURL,
		MAFKeysURL:         mafURL + maf.KeysPath,
		MAFID:              MAFID,
	}
}

// EnrolmentURL is the MEF's enrolment resource (Ua-protected).
func (tb *Testbed) EnrolmentURL() string { return tb.Endpoints().MEFURL + "/m2m/enrolment" }

// Tokens returns the API tokens.
func (tb *Testbed) Tokens() Tokens {
	return Tokens{HSSProvisioning: tb.sec.HSSToken, MAFLookup: tb.sec.CSEToken, MAFProvision: tb.sec.MEFToken}
}

// Demo returns the demo subscribers provisioned by Start.
func (tb *Testbed) Demo() []Subscriber {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]Subscriber(nil), tb.demo...)
}

// HTTPClient returns the client in-process UEs use (the NAF FQDN dials the MEF).
func (tb *Testbed) HTTPClient() *http.Client { return tb.client }

// Err delivers the first error that stopped a node while it was running (a listener
// failure), for callers that keep the testbed up.
func (tb *Testbed) Err() <-chan error { return tb.errc }

func (tb *Testbed) fail(err error) {
	select {
	case tb.errc <- err:
	default:
	}
}

// Stop stops one node (Diameter peers get a DPR, stores are closed). Its address stays
// reserved for Restart in Endpoints; clients see connection errors meanwhile.
func (tb *Testbed) Stop(n Node) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.closed {
		return ErrClosed
	}
	return tb.stopLocked(n)
}

// Restart stops the node if it runs and starts it again on the same addresses with the
// same data directory. Peers reconnect by themselves (Diameter clients with backoff of
// at most a second; HTTP clients per request).
func (tb *Testbed) Restart(ctx context.Context, n Node) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.closed {
		return ErrClosed
	}
	if err := tb.stopLocked(n); err != nil && !errors.Is(err, ErrNodeStopped) {
		return err
	}
	return tb.startLocked(ctx, n)
}

// Running reports whether the node is up.
func (tb *Testbed) Running(n Node) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch n {
	case NodeHSS:
		return tb.hss != nil
	case NodeBSF:
		return tb.bsf != nil
	case NodeMEF:
		return tb.mef != nil
	case NodeMAF:
		return tb.maf != nil
	}
	return false
}

func (tb *Testbed) startLocked(ctx context.Context, n Node) error {
	var err error
	switch n {
	case NodeHSS:
		if tb.hss == nil {
			tb.hss, err = tb.startHSS(ctx)
		}
	case NodeBSF:
		if tb.bsf == nil {
			tb.bsf, err = tb.startBSF(ctx)
		}
	case NodeMEF:
		if tb.mef == nil {
			tb.mef, err = tb.startMEF(ctx)
		}
	case NodeMAF:
		if tb.maf == nil {
			tb.maf, err = tb.startMAF(ctx)
		}
	default:
		return fmt.Errorf("%w: %q", ErrUnknownNode, n)
	}
	if err != nil {
		return fmt.Errorf("testbed: start %s: %w", n, err)
	}
	return nil
}

func (tb *Testbed) stopLocked(n Node) error {
	var err error
	switch n {
	case NodeHSS:
		if tb.hss == nil {
			return fmt.Errorf("%w: %s", ErrNodeStopped, n)
		}
		err, tb.hss = tb.hss.stop(), nil
	case NodeBSF:
		if tb.bsf == nil {
			return fmt.Errorf("%w: %s", ErrNodeStopped, n)
		}
		err, tb.bsf = tb.bsf.stop(), nil
	case NodeMEF:
		if tb.mef == nil {
			return fmt.Errorf("%w: %s", ErrNodeStopped, n)
		}
		err, tb.mef = tb.mef.stop(), nil
	case NodeMAF:
		if tb.maf == nil {
			return fmt.Errorf("%w: %s", ErrNodeStopped, n)
		}
		err, tb.maf = tb.maf.stop(), nil
	default:
		return fmt.Errorf("%w: %q", ErrUnknownNode, n)
	}
	if err != nil {
		return fmt.Errorf("testbed: stop %s: %w", n, err)
	}
	return nil
}

// Close stops every node (MEF, BSF, HSS, MAF: each Diameter client disconnects before its
// server goes) and removes the data directory if Start created it. It returns the joined
// errors of the nodes that did not stop cleanly.
func (tb *Testbed) Close() error {
	tb.mu.Lock()
	if tb.closed {
		tb.mu.Unlock()
		return nil
	}
	tb.closed = true
	var errs []error
	for _, n := range []Node{NodeMEF, NodeBSF, NodeHSS, NodeMAF} {
		if err := tb.stopLocked(n); err != nil && !errors.Is(err, ErrNodeStopped) {
			errs = append(errs, err)
		}
	}
	tb.mu.Unlock()
	if tb.transport != nil {
		tb.transport.CloseIdleConnections()
	}
	if tb.tempDir {
		if err := os.RemoveAll(tb.dir); err != nil {
			errs = append(errs, fmt.Errorf("testbed: remove data directory: %w", err))
		}
	}
	return errors.Join(errs...)
}
