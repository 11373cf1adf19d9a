package bsf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
)

// ZnOptions are the dependencies and tunables of NewZnServer; the zero value works.
type ZnOptions struct {
	// Logger receives connection events and errors; nil means the BSF's logger. IMPIs are
	// logged at debug level only, key material never.
	Logger *slog.Logger
	// Dictionary is diameter.NewDictionary(); nil builds one.
	Dictionary *dict.Parser
	// TLS, when set, makes every TCP listener a TLS listener (RFC 6733 §2.1, §13.1: TLS
	// starts before the CER) and takes precedence over zn.tls; nil builds it from the PEM
	// files of zn.tls with ZnTLSConfig (TLS off when they are empty).
	TLS *tls.Config
	// Open, like zn.open (either suffices), accepts a CER from any Origin-Host. Otherwise
	// only the NAFs of zn.nafs may connect; others get DIAMETER_UNKNOWN_PEER (3010, RFC 6733
	// §5.3). Either way a BIR is answered only for the NAFs of zn.nafs (BootstrappingInfo).
	Open bool
	// MaxConcurrent bounds the BIRs handled at once (0: the peer layer's default, 256).
	MaxConcurrent int
}

// ZnListener is one address the Zn server listens on.
type ZnListener = peer.ListenerAddr

// ZnServer is the BSF side of the Zn reference point (TS 29.109 §5, §6.2): a Diameter
// server on internal/diameter/peer (CER/CEA advertising only Zn {10415, 16777220},
// DWR/DWA, DPR/DPA, grammar validation before dispatch, concurrent handlers) whose
// Bootstrapping-Info-Request handler calls BSF.BootstrappingInfo. Start it, read
// Listeners, stop it with Shutdown (DPR to every NAF) or Close.
type ZnServer struct {
	b       *BSF
	cfg     ZnConfig
	srv     *peer.Server
	dict    *dict.Parser
	log     *slog.Logger
	tlsConf *tls.Config

	ctx    context.Context // serving context, cancelled after Shutdown or Close
	cancel context.CancelFunc

	mu        sync.Mutex
	started   bool
	listeners []ZnListener
	serving   sync.WaitGroup
	errc      chan error
}

// NewZnServer builds the Zn server of b from b's zn configuration; it does not listen yet
// (Start). The peer allowlist is the Origin-Hosts of zn.nafs (as written and lower-cased)
// unless zn.open or opts.Open; with neither, NewZnServer fails, since no NAF could connect.
// It also fails when the PEM files of zn.tls cannot be loaded.
func NewZnServer(b *BSF, opts ZnOptions) (*ZnServer, error) {
	if b == nil {
		return nil, errors.New("bsf: zn: nil BSF")
	}
	cfg := b.cfg.Zn
	if len(cfg.ListenTCP)+len(cfg.ListenSCTP) == 0 {
		return nil, cfgErr("zn.listen_tcp", "need at least one TCP or SCTP listen address")
	}
	tlsConf := opts.TLS
	if tlsConf == nil {
		var err error
		if tlsConf, err = ZnTLSConfig(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile); err != nil {
			return nil, err
		}
	}
	var allowed []string
	if !opts.Open && !cfg.Open {
		for host := range cfg.NAFs {
			allowed = append(allowed, host)
			if l := strings.ToLower(host); l != host {
				allowed = append(allowed, l)
			}
		}
		if len(allowed) == 0 {
			return nil, cfgErr("zn.nafs", "no NAF is authorised: list the NAF Origin-Hosts or set zn.open")
		}
		slices.Sort(allowed)
	}
	d := opts.Dictionary
	if d == nil {
		var err error
		if d, err = diameter.NewDictionary(); err != nil {
			return nil, fmt.Errorf("bsf: zn: %w", err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = b.log
	}
	log = log.With(slog.String("if", "zn"))
	srv, err := peer.NewServer(peer.ServerConfig{
		Identity: peer.Identity{
			OriginHost:  cfg.OriginHost,
			OriginRealm: cfg.OriginRealm,
			ProductName: ProductName,
			// RFC 6733 §8.16: a value that grows at every start lets NAFs notice a restart.
			OriginStateID: uint32(b.now().Unix()),
		},
		Applications: []peer.Application{{ID: diameter.AppIDZn, VendorID: diameter.VendorID3GPP}},
		AllowedPeers: allowed,
		Dictionary:   d,
		Logger:       log,
		Tunables:     peer.Tunables{MaxConcurrent: opts.MaxConcurrent},
	})
	if err != nil {
		return nil, fmt.Errorf("bsf: zn: %w", err)
	}
	z := &ZnServer{b: b, cfg: cfg, srv: srv, dict: d, log: log, tlsConf: tlsConf, errc: make(chan error, 1)}
	z.ctx, z.cancel = context.WithCancel(context.Background())
	srv.Handle(diameter.AppIDZn, diameter.CmdBootstrappingInfo, z.handleBIR)
	return z, nil
}

// ZnTLSConfig builds the TLS server configuration of RFC 6733 §13.1 from PEM files. With a
// CA file, NAFs must present a certificate it signed. It returns nil, nil when certFile and
// keyFile are both empty (TLS off).
func ZnTLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if caFile != "" {
			return nil, cfgErr("zn.tls.ca_file", "needs cert_file and key_file (the server's certificate)")
		}
		return nil, nil
	}
	cert, err := loadKeyPair("zn.tls", certFile, keyFile)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		if conf.ClientCAs, err = loadCertPool("zn.tls.ca_file", caFile); err != nil {
			return nil, err
		}
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}

// loadKeyPair loads a certificate and its key; prefix names the configuration section.
func loadKeyPair(prefix, certFile, keyFile string) (tls.Certificate, error) {
	if (certFile == "") != (keyFile == "") {
		return tls.Certificate{}, cfgErr(prefix+".key_file", "cert_file and key_file go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// The error names the file, never key material.
		return tls.Certificate{}, cfgErr(prefix+".cert_file", "%v", err)
	}
	return cert, nil
}

// loadCertPool reads a PEM CA bundle.
func loadCertPool(field, caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, cfgErr(field, "%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, cfgErr(field, "no PEM certificate found")
	}
	return pool, nil
}

// Start opens every configured listener (zn.listen_tcp, as TLS when configured, and
// zn.listen_sctp) and serves them in the background. When one cannot be opened, those
// already open are closed and the error names the address.
func (z *ZnServer) Start() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.started {
		return errors.New("bsf: zn: already started")
	}
	z.started = true
	lns, err := peer.Listen(z.ctx, peer.ListenConfig{TCP: z.cfg.ListenTCP, SCTP: z.cfg.ListenSCTP, TLS: z.tlsConf})
	if err != nil {
		return fmt.Errorf("bsf: zn: %w", err)
	}
	infos := peer.Addrs(lns)
	z.listeners = infos
	for i, ln := range lns {
		z.serving.Add(1)
		go func() {
			defer z.serving.Done()
			err := z.srv.Serve(z.ctx, ln.Listener)
			if err != nil && !errors.Is(err, peer.ErrServerClosed) && z.ctx.Err() == nil {
				select {
				case z.errc <- fmt.Errorf("bsf: zn: %s %s: %w", infos[i].Transport, infos[i].Addr, err):
				default:
				}
			}
		}()
		z.log.LogAttrs(z.ctx, slog.LevelInfo, "zn listening", slog.String("transport", infos[i].Transport),
			slog.String("addr", infos[i].Addr.String()))
	}
	return nil
}

// Listeners returns the addresses the server listens on (after Start).
func (z *ZnServer) Listeners() []ZnListener {
	z.mu.Lock()
	defer z.mu.Unlock()
	return slices.Clone(z.listeners)
}

// Err delivers the first error that stopped a listener while the server was running.
func (z *ZnServer) Err() <-chan error { return z.errc }

// Peers lists the NAFs with an open connection.
func (z *ZnServer) Peers() []peer.PeerInfo { return z.srv.Peers() }

// Shutdown stops accepting connections, lets the BIRs in flight finish, sends a DPR
// (Disconnect-Cause REBOOTING, RFC 6733 §5.4) to every NAF and waits for the DPAs, all
// bounded by ctx. Call it before closing the session store.
func (z *ZnServer) Shutdown(ctx context.Context) error {
	err := z.srv.Shutdown(ctx)
	z.cancel()
	z.serving.Wait()
	return err
}

// Close stops at once: listeners and connections are closed without DPR.
func (z *ZnServer) Close() error {
	err := z.srv.Close()
	z.cancel()
	z.serving.Wait()
	return err
}

// handleBIR is the transport edge of Zn (TS 29.109 §6.2): decode the BIR (the peer layer
// has validated its grammar, so a BIR without Transaction-Identifier or NAF-Id never gets
// here: it is answered DIAMETER_MISSING_AVP with Failed-AVP, RFC 6733 §7.5), call
// BootstrappingInfo with the NAF-Id octets exactly as received, and encode the BIA
// (TS 29.109 §6.2.2): ME-Key-Material = Ks_NAF, Key-ExpiryTime, BootstrapInfoCreationTime,
// GBA-Type 3G_GBA, User-Name when returned, GBA-UserSecSettings when the NAF has USSs.
// Failures become the result of znResult.
func (z *ZnServer) handleBIR(ctx context.Context, req *diam.Message) (*diam.Message, error) {
	start := time.Now()
	label := "success"
	defer func() { z.b.metrics.ZnLatency.WithLabelValues(label).Observe(time.Since(start).Seconds()) }()
	bir, err := diameter.DecodeBIR(req)
	if err != nil {
		label = strconv.FormatUint(uint64(diameter.ResultUnableToComply), 10)
		z.log.LogAttrs(ctx, slog.LevelError, "zn: cannot decode a validated BIR", slog.String("error", err.Error()))
		return nil, fmt.Errorf("bsf: zn: %w", err)
	}
	zreq := ZnRequest{
		NAFHost:                  bir.OriginHost,
		BTID:                     bir.BTID,
		NAFID:                    bir.NAFID,
		RequestedKeyLifetime:     bir.RequestedKeyLifetime,
		PrivateIdentityRequested: bir.PrivateIdentityRequest != nil && *bir.PrivateIdentityRequest == diameter.PrivateIdentityRequested,
	}
	bia := &diameter.BIA{
		HeaderIDs:   bir.HeaderIDs,
		SessionID:   bir.SessionID,
		OriginHost:  z.cfg.OriginHost,
		OriginRealm: z.cfg.OriginRealm,
	}
	var ans ZnAnswer
	if p, ok := peer.PeerFromContext(ctx); ok && !strings.EqualFold(p.OriginHost, bir.OriginHost) {
		// The NAF policy is keyed by Origin-Host: a NAF must not borrow another's. We take NAFs
		// as direct peers (no Diameter agent between NAF and BSF), so the BIR's Origin-Host
		// must be the identity the peer gave in its CER (RFC 6733 §5.3, §6.3).
		err = fmt.Errorf("bsf: zn: %w: BIR Origin-Host is not the connected peer %q", ErrNAFNotAuthorized, p.OriginHost)
	} else {
		ans, err = z.b.BootstrappingInfo(ctx, zreq)
	}
	if err != nil {
		r := znResult(err)
		label = strconv.FormatUint(uint64(r.Code), 10)
		level := slog.LevelInfo
		if r.Code == diameter.ResultUnableToComply {
			level = slog.LevelError
		}
		z.log.LogAttrs(ctx, level, "zn: BIR refused", slog.String("naf", bir.OriginHost),
			slog.String("btid", bir.BTID), slog.String("session_id", bir.SessionID),
			slog.String("result", r.String()), slog.String("error", err.Error()))
		if r.Experimental {
			bia.ExperimentalResult = &diameter.ExperimentalResult{VendorID: r.VendorID, ExperimentalResultCode: r.Code}
		} else {
			bia.ResultCode = r.Code
		}
		return bia.Message(z.dict)
	}
	ks := ans.KsNAF.Bytes()
	defer clear(ks)
	gbaType := int32(ans.GBAType)
	bia.ResultCode = diameter.ResultSuccess
	bia.IMPI = ans.IMPI
	bia.MEKeyMaterial = ks
	bia.KeyExpiryTime = ans.KeyExpiry
	bia.BootstrapInfoCreationTime = ans.BootstrapInfoCreationTime
	bia.GUSS = ans.USS
	bia.GBAType = &gbaType
	m, err := bia.Message(z.dict)
	if err != nil {
		label = strconv.FormatUint(uint64(diameter.ResultUnableToComply), 10)
		z.log.LogAttrs(ctx, slog.LevelError, "zn: cannot encode the BIA", slog.String("btid", bir.BTID), slog.String("error", err.Error()))
		return nil, fmt.Errorf("bsf: zn: %w", err)
	}
	z.log.LogAttrs(ctx, slog.LevelDebug, "zn: BIR answered", slog.String("naf", bir.OriginHost),
		slog.String("btid", bir.BTID), slog.String("session_id", bir.SessionID), slog.String("impi", ans.IMPI),
		slog.Time("key_expiry", ans.KeyExpiry), slog.String("result", "success"))
	return m, nil
}

// znResult maps an error of BootstrappingInfo to the result of the BIA, the one error
// mapping of the Zn edge:
//
//	ErrBTIDUnknown       Experimental-Result 5403 DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID (vendor 10415)
//	ErrNAFNotAuthorized  Experimental-Result 5402 DIAMETER_ERROR_NOT_AUTHORIZED (vendor 10415)
//	anything else        Result-Code 5012 DIAMETER_UNABLE_TO_COMPLY, RFC 6733 §7.1.5
//
// 5402 and 5403 are the Zn codes of TS 29.109, registered in TS 29.230 §8.1; RFC 6733 §7.6
// carries them in Experimental-Result.
func znResult(err error) diameter.Result {
	switch {
	case errors.Is(err, ErrBTIDUnknown):
		return diameter.Result{Code: diameter.ExpTransactionIdentifierInvalid, VendorID: diameter.VendorID3GPP, Experimental: true}
	case errors.Is(err, ErrNAFNotAuthorized):
		return diameter.Result{Code: diameter.ExpNotAuthorized, VendorID: diameter.VendorID3GPP, Experimental: true}
	}
	return diameter.Result{Code: diameter.ResultUnableToComply}
}
