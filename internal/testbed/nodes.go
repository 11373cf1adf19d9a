package testbed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengba/opengba/bsf"
	hsssim "github.com/opengba/opengba/hss-sim"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/service"
)

const (
	stopTimeout = 5 * time.Second
	// peerBackoffMax bounds the reconnection backoff of the Zh and Zn clients, so that a
	// restarted node is used again within about a second.
	peerBackoffMax = time.Second
)

// cleanup runs deferred undo steps in reverse order unless disarmed.
type cleanup []func()

func (c *cleanup) add(f func()) { *c = append(*c, f) }

func (c *cleanup) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}

func listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	return ln, nil
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// shutdownHTTP shuts srv down gracefully and, when ctx ends first, closes it: a client
// connection that was opened but never carried a request keeps http.Server.Shutdown
// waiting for about five seconds, which under load is no failure of the node.
func shutdownHTTP(ctx context.Context, srv *http.Server) error {
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return srv.Close()
	}
	return err
}

// serveHTTP serves srv on ln in the background; a failure other than a shutdown is
// reported on tb.Err. The returned channel closes when Serve has returned.
func (tb *Testbed) serveHTTP(node Node, srv *http.Server, ln net.Listener) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.fail(fmt.Errorf("testbed: %s: %w", node, err))
		}
	}()
	return done
}

// hssNode is the HSS simulator: store, provisioning API and Zh server, assembled from the
// hsssim constructors in the order cmd/hss-sim uses.
type hssNode struct {
	store hsssim.Store
	zh    *hsssim.ZhServer
	api   *http.Server
	done  <-chan struct{}
}

func (tb *Testbed) startHSS(ctx context.Context) (_ *hssNode, err error) {
	log := tb.log.With("node", "hss")
	cfg := hsssim.Default()
	cfg.Store.Path = filepath.Join(tb.dir, "hss.db")
	cfg.Provisioning.Listen = tb.addr.HSSProvisioning
	cfg.Provisioning.Token = tb.sec.HSSToken
	cfg.Diameter.ListenTCP = []string{tb.addr.HSSZh}
	cfg.Diameter.OriginHost, cfg.Diameter.OriginRealm = HSSHost, Realm
	cfg.Diameter.Open, cfg.Diameter.Peers = false, []string{BSFHost}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var undo cleanup
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	store, err := hsssim.OpenStore(ctx, cfg.Store, cfg.SQN, nil)
	if err != nil {
		return nil, err
	}
	undo.add(func() { _ = store.Close() })
	reg := prometheus.NewRegistry()
	api, err := hsssim.NewProvisioningAPI(hsssim.APIOptions{Store: store, Config: cfg.Provisioning, Logger: log, Registry: reg})
	if err != nil {
		return nil, err
	}
	zh, err := hsssim.NewZhServer(hsssim.ZhServerOptions{Store: store, Config: cfg.Diameter, Logger: log.With("if", "zh"), Registry: reg})
	if err != nil {
		return nil, err
	}
	ln, err := listen("provisioning", cfg.Provisioning.Listen)
	if err != nil {
		return nil, err
	}
	undo.add(func() { _ = ln.Close() })
	if err := zh.Start(); err != nil {
		return nil, err
	}
	undo.add(func() { _ = zh.Close() })
	zl := zh.Listeners()
	if len(zl) == 0 {
		return nil, errors.New("zh server has no listener")
	}
	srv := newHTTPServer(api.Handler(), log)
	n := &hssNode{store: store, zh: zh, api: srv, done: tb.serveHTTP(NodeHSS, srv, ln)}
	tb.addr.HSSZh, tb.addr.HSSProvisioning = zl[0].Addr.String(), ln.Addr().String()
	tb.watch(NodeHSS, zh.Err(), n.done)
	return n, nil
}

// watch fails the testbed with the first error a Diameter server reports on errc (its
// listener died) while the node is up.
func (tb *Testbed) watch(node Node, errc <-chan error, done <-chan struct{}) {
	go func() {
		select {
		case err := <-errc:
			tb.fail(fmt.Errorf("testbed: %s: %w", node, err))
		case <-done:
		}
	}()
}

func (n *hssNode) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	// Zh first (DPR to the BSF, requests in flight finish), then the API, then the store,
	// which writes the exact SQN_HE values back.
	zerr := n.zh.Shutdown(ctx)
	aerr := shutdownHTTP(ctx, n.api)
	<-n.done
	return errors.Join(zerr, aerr, n.store.Close())
}

// bsfNode is the BSF: session store, Zh client, logic, Zn server and the Ub/ops HTTP
// servers, assembled with the bsf constructors as cmd/bsf does.
type bsfNode struct {
	store  bsf.Store
	zh     *bsf.ZhClient
	zn     *bsf.ZnServer
	cancel context.CancelFunc
	done   chan struct{}
}

func (tb *Testbed) startBSF(ctx context.Context) (_ *bsfNode, err error) {
	log := tb.log.With("node", "bsf")
	cfg := bsf.Default()
	cfg.Ub.Listen, cfg.Ub.Domain = tb.addr.BSFUb, BSFDomain
	cfg.Store.Backend = bsf.BackendSQLite
	cfg.Store.KEK = tb.sec.BSFKEK
	cfg.Store.SQLite.Path = filepath.Join(tb.dir, "bsf.db")
	cfg.Zh.OriginHost, cfg.Zh.OriginRealm, cfg.Zh.DestinationRealm = BSFHost, Realm, Realm
	cfg.Zh.Peers = []bsf.HSSPeer{{Address: tb.addr.HSSZh, Host: HSSHost, Transport: bsf.TransportTCP, Priority: 1}}
	cfg.Zn.ListenTCP = []string{tb.addr.BSFZn}
	cfg.Zn.OriginHost, cfg.Zn.OriginRealm = BSFHost, Realm
	cfg.Zn.NAFs = map[string]bsf.NAFPolicy{MEFHost: {FQDNs: []string{tb.nafFQDN}, Group: NAFGroup, IMPI: bsf.IMPIOnRequest}}
	cfg.Ops.Listen = tb.addr.BSFOps
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var undo cleanup
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	store, challenges, err := bsf.OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	undo.add(func() { _ = store.Close() })
	zh, err := bsf.NewZhClient(cfg.Zh, bsf.ZhOptions{Logger: log, BackoffMax: peerBackoffMax})
	if err != nil {
		return nil, err
	}
	undo.add(func() { _ = zh.Close() })
	b, err := bsf.New(cfg, bsf.Deps{VectorSource: zhTap{VectorSource: zh, obs: &tb.obs}, Store: store, Challenges: challenges, Logger: log})
	if err != nil {
		return nil, err
	}
	zh.SetMetrics(b.Metrics())
	zn, err := bsf.NewZnServer(b, bsf.ZnOptions{Logger: log})
	if err != nil {
		return nil, err
	}
	if err := zn.Start(); err != nil {
		return nil, err
	}
	undo.add(func() { _ = zn.Close() })
	ub, err := listen("ub", cfg.Ub.Listen)
	if err != nil {
		return nil, err
	}
	undo.add(func() { _ = ub.Close() })
	ops, err := listen("ops", cfg.Ops.Listen)
	if err != nil {
		return nil, err
	}
	zl := zn.Listeners()
	if len(zl) == 0 {
		_ = ops.Close()
		return nil, errors.New("zn server has no listener")
	}
	tb.addr.BSFZn, tb.addr.BSFUb, tb.addr.BSFOps = zl[0].Addr.String(), ub.Addr().String(), ops.Addr().String()

	sctx, cancel := context.WithCancel(context.Background())
	n := &bsfNode{store: store, zh: zh, zn: zn, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		if err := b.Serve(sctx, ub, ops); err != nil {
			tb.fail(fmt.Errorf("testbed: %s: %w", NodeBSF, err))
		}
	}()
	tb.watch(NodeBSF, zn.Err(), n.done)
	return n, nil
}

func (n *bsfNode) stop() error {
	// Ub first, then DPR to every NAF, then DPR to the HSS, then the store (cmd/bsf order).
	n.cancel()
	<-n.done
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	zerr := n.zn.Shutdown(ctx)
	// A missing DPA from an HSS that already went away is not a failure of the BSF.
	_ = n.zh.Close()
	return errors.Join(zerr, n.store.Close())
}

// mefNode is the MEF acting as NAF: naf/service with role mef (the assembly of cmd/naf),
// its Zn client wrapped by the observation decorator.
type mefNode struct {
	svc    *service.Service
	zn     *naf.ZnClient
	cancel context.CancelFunc
	done   chan struct{}
}

func (tb *Testbed) startMEF(ctx context.Context) (_ *mefNode, err error) {
	log := tb.log.With("node", "mef")
	cfg := service.Default()
	cfg.Role = service.RoleMEF
	cfg.Ops.Listen = tb.addr.MEFOps
	cfg.NAF.FQDN, cfg.NAF.UaID = tb.nafFQDN, UaIDHex
	cfg.Zn.OriginHost, cfg.Zn.OriginRealm = MEFHost, Realm
	cfg.Zn.BSFs = []naf.ZnPeer{{Realm: BSFDomain, Address: tb.addr.BSFZn, Host: BSFHost}}
	cfg.Zn.RequestIMPI = true // the MEF needs the IMPI (TS 29.109 §6.2.1)
	cfg.MEF.Listen = tb.addr.MEF
	cfg.MEF.SPID, cfg.MEF.INCSEID, cfg.MEF.MAFID = SPID, INCSEID, MAFID
	cfg.MEF.OpenEnrolment = true
	cfg.MEF.Store = service.StoreConfig{Backend: service.BackendSQLite, Path: filepath.Join(tb.dir, "mef.db")}
	cfg.MEF.MAF = service.MAFLink{URL: "http://" + tb.addr.MAF, Token: tb.sec.MEFToken, Timeout: 10 * time.Second}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var undo cleanup
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	reg := prometheus.NewRegistry()
	nm, err := naf.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	zn, err := naf.NewZnClient(naf.ZnClientConfig{Zn: cfg.Zn, Metrics: nm, Logger: log.With("component", "zn"), BackoffMax: peerBackoffMax})
	if err != nil {
		return nil, err
	}
	undo.add(func() { _ = zn.Close() })
	svc, err := service.New(ctx, service.Options{Config: cfg, Keys: znTap{ZnClient: zn, obs: &tb.obs}, Registry: reg, NAFMetrics: nm, Logger: log})
	if err != nil {
		return nil, err
	}
	undo.add(func() { _ = svc.Close() })
	if err := svc.Listen(); err != nil {
		return nil, err
	}
	tb.addr.MEF, tb.addr.MEFOps = svc.Addr("mef"), svc.Addr("ops")
	mefAddr := tb.addr.MEF
	tb.mefAddr.Store(&mefAddr)
	sctx, cancel := context.WithCancel(context.Background())
	n := &mefNode{svc: svc, zn: zn, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		if err := svc.Serve(sctx); err != nil {
			tb.fail(fmt.Errorf("testbed: %s: %w", NodeMEF, err))
		}
	}()
	return n, nil
}

func (n *mefNode) stop() error {
	n.cancel()
	<-n.done
	serr := n.svc.Close()
	_ = n.zn.Close() // DPR to the BSF; a BSF that is already down does not answer
	return serr
}

// mafNode is the MAF: naf/service with role maf builds the store and the key API; the
// testbed serves that handler itself, behind the provisioning tap.
type mafNode struct {
	svc  *service.Service
	srv  *http.Server
	done <-chan struct{}
}

func (tb *Testbed) startMAF(ctx context.Context) (_ *mafNode, err error) {
	log := tb.log.With("node", "maf")
	cfg := service.Default()
	cfg.Role = service.RoleMAF
	cfg.Ops.Listen = "127.0.0.1:0" // not served: the MAF handler is served below
	cfg.MAF.Listen = tb.addr.MAF
	cfg.MAF.KEK = tb.sec.MAFKEK
	cfg.MAF.MEFToken, cfg.MAF.CSEToken = tb.sec.MEFToken, tb.sec.CSEToken
	cfg.MAF.Store = service.StoreConfig{Backend: service.BackendSQLite, Path: filepath.Join(tb.dir, "maf.db")}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	svc, err := service.New(ctx, service.Options{Config: cfg, Registry: prometheus.NewRegistry(), Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := listen("maf", cfg.MAF.Listen)
	if err != nil {
		_ = svc.Close()
		return nil, err
	}
	tb.addr.MAF = ln.Addr().String()
	srv := newHTTPServer(mafTap(svc.MAFHandler(), &tb.obs), log)
	return &mafNode{svc: svc, srv: srv, done: tb.serveHTTP(NodeMAF, srv, ln)}, nil
}

func (n *mafNode) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := shutdownHTTP(ctx, n.srv)
	<-n.done
	return errors.Join(err, n.svc.Close())
}
