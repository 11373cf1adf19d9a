// Package service assembles the process of cmd/naf: the oneM2M MEF acting as a GBA NAF
// (TS 33.220 §4.4.3, GBA-DIGEST §0) and the MAF, with their stores, listeners and metrics.
package service

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/maf"
	"github.com/opengba/opengba/naf/mef"
)

// Options are the dependencies of New.
type Options struct {
	Config Config
	// Keys is the Zn client (naf.KeySource). Required when the role serves the MEF; the
	// service puts a naf.Cache in front of it.
	Keys naf.KeySource
	// Registry receives every metric and is served on /metrics. Required.
	Registry *prometheus.Registry
	// NAFMetrics are the Ua/Zn collectors, created on Registry when nil. Create them first
	// when the Zn client needs the Zn latency histogram (naf.Metrics.ZnLatency).
	NAFMetrics *naf.Metrics
	// Logger is the process logger; nil discards.
	Logger *slog.Logger
}

// Service is one cmd/naf process.
type Service struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	keys     naf.KeySource
	mefStore mef.Store
	mafStore maf.Store
	maf      *maf.MAF
	mef      *mef.MEF

	mefHandler http.Handler
	mafHandler http.Handler
	opsHandler http.Handler

	mu      sync.Mutex
	servers []*server
}

type server struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

// New opens the stores and builds the handlers for cfg.Role. It does not listen.
func New(ctx context.Context, o Options) (_ *Service, err error) {
	cfg := o.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Registry == nil {
		return nil, errors.New("naf: service: nil registry")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{cfg: cfg, log: log, reg: o.Registry, keys: o.Keys}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	if cfg.Role.HasMAF() {
		if err := s.buildMAF(ctx, now); err != nil {
			return nil, err
		}
	}
	if cfg.Role.HasMEF() {
		if o.Keys == nil {
			return nil, errors.New("naf: service: the MEF needs a Zn key source (naf.KeySource); none was constructed")
		}
		nm := o.NAFMetrics
		if nm == nil {
			if nm, err = naf.NewMetrics(o.Registry); err != nil {
				return nil, fmt.Errorf("naf: service: metrics: %w", err)
			}
		}
		if err := s.buildMEF(ctx, now, nm); err != nil {
			return nil, err
		}
	}
	s.opsHandler = s.ops()
	return s, nil
}

func openMEFStore(ctx context.Context, c StoreConfig) (mef.Store, error) {
	if c.Backend == BackendMemory {
		return mef.NewMemoryStore(), nil
	}
	return mef.OpenSQLiteStore(ctx, c.Path, c.BusyTimeout)
}

func openMAFStore(ctx context.Context, c StoreConfig) (maf.Store, error) {
	if c.Backend == BackendMemory {
		return maf.NewMemoryStore(), nil
	}
	return maf.OpenSQLiteStore(ctx, c.Path, c.BusyTimeout)
}

// OpenMEFStore opens the MEF store of cfg (for the CLI).
func OpenMEFStore(ctx context.Context, cfg Config) (mef.Store, error) {
	return openMEFStore(ctx, cfg.MEF.Store)
}

func (s *Service) buildMAF(ctx context.Context, now func() time.Time) error {
	c := s.cfg.MAF
	st, err := openMAFStore(ctx, c.Store)
	if err != nil {
		return err
	}
	s.mafStore = st
	kek, err := s.cfg.KEK()
	if err != nil {
		return err
	}
	defer clear(kek)
	if s.maf, err = maf.New(st, maf.Config{KEK: kek, Now: now}); err != nil {
		return err
	}
	api, err := maf.NewAPI(s.maf, maf.APIConfig{
		MEFAuth: maf.MEFAuth(c.MEFAuth), MEFToken: c.MEFToken, MEFClientNames: c.MEFClientNames,
		CSEToken: c.CSEToken, Logger: s.log.With("component", "maf"),
	})
	if err != nil {
		return err
	}
	s.mafHandler = api.Handler()
	return nil
}

func (s *Service) buildMEF(ctx context.Context, now func() time.Time, nm *naf.Metrics) error {
	c := s.cfg.MEF
	st, err := openMEFStore(ctx, c.Store)
	if err != nil {
		return err
	}
	s.mefStore = st
	link, err := s.mafLink()
	if err != nil {
		return err
	}
	mm, err := mef.NewMetrics(s.reg)
	if err != nil {
		return fmt.Errorf("naf: service: metrics: %w", err)
	}
	key, err := s.cfg.NodeIDKey()
	if err != nil {
		return err
	}
	log := s.log.With("component", "mef")
	s.mef, err = mef.New(mef.Config{
		SPID: c.SPID, INCSEID: c.INCSEID, MAFID: c.MAFID, OpenEnrolment: c.OpenEnrolment,
		NodeIDKey: key, Metrics: mm, Logger: log, Now: now,
	}, st, link)
	if err != nil {
		return err
	}
	cache := naf.NewCache(s.keys, naf.CacheConfig{Size: s.cfg.NAF.Cache.Size, FetchTimeout: s.cfg.NAF.Cache.FetchTimeout, Now: now})
	if err := naf.RegisterCache(s.reg, cache); err != nil {
		return fmt.Errorf("naf: service: metrics: %w", err)
	}
	ua, _ := s.cfg.UaID()
	auth, err := naf.NewAuthenticator(naf.UaConfig{
		NAFFQDN: s.cfg.NAF.FQDN, UaID: ua, UICC: s.cfg.NAF.UICC, Keys: cache,
		NonceTTL: s.cfg.NAF.NonceTTL, MaxNonces: s.cfg.NAF.MaxNonces, MaxBody: s.cfg.NAF.MaxBodyBytes,
		RetryAfter: s.cfg.NAF.RetryAfter, Metrics: nm, Logger: s.log.With("component", "naf"), Now: now,
	})
	if err != nil {
		return err
	}
	s.mefHandler, err = mef.NewHandler(s.mef, auth, mef.APIConfig{
		AdminToken: c.AdminToken, RetryAfter: s.cfg.NAF.RetryAfter, Logger: log, Now: now,
	})
	return err
}

// mafLink is the MEF's way to the MAF: in-process with role both and no URL, else HTTP.
func (s *Service) mafLink() (mef.MAF, error) {
	l := s.cfg.MEF.MAF
	if l.URL == "" {
		if s.maf == nil {
			return nil, errors.New("naf: service: mef.maf.url is empty and no MAF runs in this process")
		}
		return s.maf, nil
	}
	var tc *tls.Config
	if l.CAFile != "" || l.CertFile != "" {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
		if l.CAFile != "" {
			pool, err := loadPool(l.CAFile)
			if err != nil {
				return nil, &naf.ConfigError{Field: "mef.maf.ca_file", Reason: err.Error()}
			}
			tc.RootCAs = pool
		}
		if l.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
			if err != nil {
				return nil, &naf.ConfigError{Field: "mef.maf.cert_file", Reason: "cannot load the client certificate"}
			}
			tc.Certificates = []tls.Certificate{cert}
		}
	}
	return maf.NewClient(maf.ClientConfig{URL: l.URL, Token: l.Token, TLS: tc, Timeout: l.Timeout})
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.New("cannot read the CA file")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in the CA file")
	}
	return pool, nil
}

// MEFHandler returns the MEF's HTTP handler (nil when the role has no MEF).
func (s *Service) MEFHandler() http.Handler { return s.mefHandler }

// MAFHandler returns the MAF's HTTP handler (nil when the role has no MAF).
func (s *Service) MAFHandler() http.Handler { return s.mafHandler }

// OpsHandler serves /metrics, /healthz and /readyz.
func (s *Service) OpsHandler() http.Handler { return s.opsHandler }

// Ready reports whether the stores answer and the key source (if it can tell) is ready.
func (s *Service) Ready(ctx context.Context) map[string]error {
	out := map[string]error{}
	if s.mefStore != nil {
		out["mef_store"] = s.mefStore.Ping(ctx)
	}
	if s.mafStore != nil {
		out["maf_store"] = s.mafStore.Ping(ctx)
	}
	if r, ok := s.keys.(interface{ Ready(context.Context) error }); ok && s.cfg.Role.HasMEF() {
		out["zn"] = r.Ready(ctx)
	}
	return out
}

func (s *Service) ops() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		checks := map[string]string{}
		status := http.StatusOK
		for name, err := range s.Ready(ctx) {
			checks[name] = "ok"
			if err != nil {
				checks[name] = "failing"
				status = http.StatusServiceUnavailable
			}
		}
		writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Listen binds the listeners of the role (a bound listener is ready to accept).
func (s *Service) Listen() error {
	type spec struct {
		name    string
		addr    string
		h       http.Handler
		tls     TLSConfig
		timeout time.Duration
	}
	var specs []spec
	if s.mefHandler != nil {
		specs = append(specs, spec{"mef", s.cfg.MEF.Listen, s.mefHandler, s.cfg.MEF.TLS, 30 * time.Second})
	}
	if s.mafHandler != nil {
		specs = append(specs, spec{"maf", s.cfg.MAF.Listen, s.mafHandler, s.cfg.MAF.TLS, 30 * time.Second})
	}
	specs = append(specs, spec{"ops", s.cfg.Ops.Listen, s.opsHandler, TLSConfig{}, 10 * time.Second})
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range specs {
		ln, err := net.Listen("tcp", sp.addr)
		if err != nil {
			s.closeListenersLocked()
			return fmt.Errorf("naf: service: %s: listen: %w", sp.name, err)
		}
		srv := &http.Server{
			Handler: sp.h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: sp.timeout, WriteTimeout: sp.timeout,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(s.log.With("component", sp.name).Handler(), slog.LevelWarn),
		}
		if sp.tls.CertFile != "" {
			tc, err := serverTLS(sp.name, sp.tls)
			if err != nil {
				_ = ln.Close()
				s.closeListenersLocked()
				return err
			}
			ln = tls.NewListener(ln, tc)
			srv.TLSConfig = tc
		}
		s.servers = append(s.servers, &server{name: sp.name, ln: ln, srv: srv})
	}
	return nil
}

func serverTLS(name string, t TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, &naf.ConfigError{Field: name + ".tls.cert_file", Reason: "cannot load the certificate and key"}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAFile != "" {
		pool, err := loadPool(t.ClientCAFile)
		if err != nil {
			return nil, &naf.ConfigError{Field: name + ".tls.client_ca_file", Reason: err.Error()}
		}
		// Verify a certificate when one is presented: the MEF (mtls mode) must present
		// one; IN-CSEs authenticate with their token.
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

func (s *Service) closeListenersLocked() {
	for _, sv := range s.servers {
		_ = sv.ln.Close()
	}
	s.servers = nil
}

// Addr returns the bound address of listener "mef", "maf" or "ops" ("" if none).
func (s *Service) Addr(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sv := range s.servers {
		if sv.name == name {
			return sv.ln.Addr().String()
		}
	}
	return ""
}

// Serve serves the bound listeners (and the MAF sweeper) until ctx ends, then shuts down
// gracefully (up to 10 s). It returns the first serving error.
func (s *Service) Serve(ctx context.Context) error {
	s.mu.Lock()
	servers := append([]*server(nil), s.servers...)
	s.mu.Unlock()
	if len(servers) == 0 {
		return errors.New("naf: service: Serve before Listen")
	}
	errc := make(chan error, len(servers))
	for _, sv := range servers {
		s.log.Info("listening", "component", sv.name, "addr", sv.ln.Addr().String(), "tls", sv.srv.TLSConfig != nil)
		go func() {
			if err := sv.srv.Serve(sv.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("naf: service: %s: %w", sv.name, err)
			}
		}()
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	if s.maf != nil {
		go s.maf.RunSweeper(sweepCtx, s.cfg.MAF.SweepInterval, func(err error) {
			s.log.Warn("maf sweep failed", "component", "maf", "error", err.Error())
		})
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	stopSweep()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, sv := range servers {
		_ = sv.srv.Shutdown(sctx)
	}
	return serveErr
}

// Run is Listen then Serve.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Close closes the stores.
func (s *Service) Close() error {
	var errs []error
	for _, c := range []io.Closer{s.mefStore, s.mafStore} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
