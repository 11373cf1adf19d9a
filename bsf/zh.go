package bsf

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/ishidawataru/sctp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
)

// ProductName is the Product-Name the BSF advertises on Zh and Zn (RFC 6733 §5.3.7).
const ProductName = "OpenGBA BSF"

// Diameter transports of an HSS peer (HSSPeer.Transport) and of a Zn listener.
const (
	TransportTCP  = peer.TransportTCP
	TransportTLS  = peer.TransportTLS  // TLS/TCP, RFC 6733 §2.1, §13.1
	TransportSCTP = peer.TransportSCTP // RFC 6733 §2.1 (Linux only)
)

// Labels of bsf_zh_request_duration_seconds besides the Diameter result codes.
const (
	zhLabelSuccess         = "success"
	zhLabelIMPIUnknown     = "impi_unknown"
	zhLabelResyncFailed    = "resync_failed"
	zhLabelTimeout         = "timeout"
	zhLabelNoPeer          = "no_peer"
	zhLabelInvalidAnswer   = "invalid_answer"
	zhLabelSessionMismatch = "session_mismatch"
	zhLabelError           = "error"
)

// peerGaugeInterval is how often HSSPeerUp follows the connection state.
const peerGaugeInterval = 250 * time.Millisecond

// ZhOptions are the dependencies and tunables of NewZhClient; the zero value works.
type ZhOptions struct {
	// Logger receives connection events and errors; nil discards them. IMPIs are logged at
	// debug level only, key material never.
	Logger *slog.Logger
	// Dictionary is diameter.NewDictionary(); nil builds one.
	Dictionary *dict.Parser
	// Metrics, when set, receives ZhLatency and HSSPeerUp; it can also be given later with
	// SetMetrics (the BSF that owns the metrics needs the client first).
	Metrics *Metrics
	// TLS, when set, runs TLS over every TCP connection to an HSS (RFC 6733 §2.1, §13.1)
	// and takes precedence over zh.tls; nil builds it from the PEM files of zh.tls with
	// ZhTLSConfig (TLS off when they are empty).
	TLS *tls.Config
	// ConnectTimeout bounds dialling plus CER/CEA with one HSS; BackoffMin and BackoffMax
	// bound the wait between rounds of connection attempts. Zero takes the peer layer's
	// defaults (5 s, 100 ms, 30 s).
	ConnectTimeout, BackoffMin, BackoffMax time.Duration
	// Now is the clock (nil: time.Now). It stamps received GUSSs and the Origin-State-Id.
	Now func() time.Time
}

// ZhClient is the BSF side of the Zh reference point (TS 29.109 §4.2, §6.1): a Diameter
// client of the HSSs that implements VectorSource. It keeps one connection to the first
// reachable HSS in priority order (internal/diameter/peer: CER/CEA advertising only Zh
// {10415, 16777221}, DWR/DWA watchdog, failover and reconnection with bounded exponential
// backoff, DPR on Close) and matches every MAA to its MAR by Hop-by-Hop Identifier and
// Session-Id. It is safe for concurrent use.
type ZhClient struct {
	cfg     ZhConfig
	client  *peer.Client
	dict    *dict.Parser
	codec   *diameter.ZhFrameCodec
	frames  sync.Pool // *[]byte: MAR frames, reused once sent
	log     *slog.Logger
	now     func() time.Time
	metrics atomic.Pointer[zhMetrics]
	addrs   []string // configured HSS addresses, in priority order

	// Session-Id parts, RFC 6733 §8.8: <DiameterIdentity>;<high 32 bits>;<low 32 bits>.
	sessionHigh uint32
	sessionLow  atomic.Uint32

	mu     sync.Mutex
	remote map[string]string // RemoteAddr of a dialled connection → configured address

	stop      chan struct{}
	gaugeDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// NewZhClient checks cfg (the zh section of Config) and starts connecting to the HSSs in
// the background; Ready reports when a connection is up. The HSS peers are tried by
// ascending Priority (peers of equal priority in configuration order: the peer layer
// keeps one connection, so equal priorities do not share load). When every peer names its
// Host, a CEA from any other Origin-Host is refused. It fails when the PEM files of zh.tls
// cannot be loaded.
func NewZhClient(cfg ZhConfig, opts ZhOptions) (*ZhClient, error) {
	if cfg.Timeout <= 0 {
		return nil, cfgErr("zh.timeout", "must be positive")
	}
	for _, f := range []struct{ field, v string }{
		{"zh.origin_host", cfg.OriginHost}, {"zh.origin_realm", cfg.OriginRealm}, {"zh.destination_realm", cfg.DestinationRealm},
	} {
		if err := validateDiameterIdentity(f.field, f.v); err != nil {
			return nil, err
		}
	}
	if len(cfg.Peers) == 0 {
		return nil, cfgErr("zh.peers", "need at least one HSS peer")
	}
	peers := slices.Clone(cfg.Peers)
	slices.SortStableFunc(peers, func(a, b HSSPeer) int { return a.Priority - b.Priority })
	byAddr := make(map[string]HSSPeer, len(peers))
	addrs := make([]string, 0, len(peers))
	var hosts []string
	allHosts := true
	for i, p := range peers {
		if _, dup := byAddr[p.Address]; dup {
			return nil, cfgErr(fmt.Sprintf("zh.peers[%d].address", i), "duplicate address %s", p.Address)
		}
		switch p.Transport {
		case "", TransportTCP, TransportSCTP:
		default:
			return nil, cfgErr(fmt.Sprintf("zh.peers[%d].transport", i), "must be tcp or sctp")
		}
		byAddr[p.Address] = p
		addrs = append(addrs, p.Address)
		if p.Host == "" {
			allHosts = false
		} else {
			hosts = append(hosts, p.Host)
		}
	}
	if !allHosts {
		hosts = nil
	}

	tlsConf := opts.TLS
	if tlsConf == nil {
		var err error
		if tlsConf, err = ZhTLSConfig(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile); err != nil {
			return nil, err
		}
	}
	d := opts.Dictionary
	if d == nil {
		var err error
		if d, err = diameter.NewDictionary(); err != nil {
			return nil, fmt.Errorf("bsf: zh: %w", err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	codec, err := diameter.NewZhFrameCodec(d)
	if err != nil {
		return nil, fmt.Errorf("bsf: zh: %w", err)
	}
	z := &ZhClient{
		cfg:         cfg,
		dict:        d,
		codec:       codec,
		log:         log.With(slog.String("if", "zh")),
		now:         now,
		addrs:       addrs,
		sessionHigh: uint32(now().Unix()),
		remote:      map[string]string{},
		stop:        make(chan struct{}),
		gaugeDone:   make(chan struct{}),
	}
	if opts.Metrics != nil {
		z.metrics.Store(newZhMetrics(opts.Metrics))
	}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		nc, err := dialHSS(ctx, byAddr[addr], addr, tlsConf)
		if err != nil {
			return nil, err
		}
		z.mu.Lock()
		z.remote[nc.RemoteAddr().String()] = addr
		z.mu.Unlock()
		return nc, nil
	}
	c, err := peer.NewClient(peer.ClientConfig{
		Identity: peer.Identity{
			OriginHost:  cfg.OriginHost,
			OriginRealm: cfg.OriginRealm,
			ProductName: ProductName,
			// RFC 6733 §8.16: a value that grows at every start lets the HSS notice a restart.
			OriginStateID: uint32(now().Unix()),
		},
		Applications:     []peer.Application{{ID: diameter.AppIDZh, VendorID: diameter.VendorID3GPP}},
		Servers:          addrs,
		Dial:             dial,
		AllowedPeers:     hosts,
		Dictionary:       d,
		Logger:           z.log,
		WatchdogInterval: cfg.WatchdogInterval,
		ConnectTimeout:   opts.ConnectTimeout,
		BackoffMin:       opts.BackoffMin,
		BackoffMax:       opts.BackoffMax,
	})
	if err != nil {
		return nil, fmt.Errorf("bsf: zh: %w", err)
	}
	z.client = c
	go z.gaugeLoop()
	return z, nil
}

// ZhTLSConfig builds the TLS client configuration of RFC 6733 §13.1 towards the HSSs from
// PEM files: caFile verifies the HSS certificates (empty: the system roots), certFile and
// keyFile are the BSF's client certificate (optional). It returns nil, nil when all three
// are empty (TLS off). The server name checked is the peer's host (or the address's host).
func ZhTLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if certFile != "" || keyFile != "" {
		cert, err := loadKeyPair("zh.tls", certFile, keyFile)
		if err != nil {
			return nil, err
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		var err error
		if conf.RootCAs, err = loadCertPool("zh.tls.ca_file", caFile); err != nil {
			return nil, err
		}
	}
	return conf, nil
}

// dialHSS opens the transport connection to one HSS: TCP (with TLS when configured) or
// SCTP, RFC 6733 §2.1.
func dialHSS(ctx context.Context, p HSSPeer, addr string, tlsConf *tls.Config) (net.Conn, error) {
	if p.Transport == TransportSCTP {
		return dialSCTP(ctx, addr)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || tlsConf == nil {
		return nc, err
	}
	conf := tlsConf.Clone()
	if conf.ServerName == "" {
		conf.ServerName = p.Host
		if conf.ServerName == "" {
			conf.ServerName, _, _ = net.SplitHostPort(addr)
		}
	}
	tc := tls.Client(nc, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("bsf: zh: TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// dialSCTP opens a single-stream SCTP association (Linux only); the SCTP package has no
// context, so ctx closes the association if it arrives late.
func dialSCTP(ctx context.Context, addr string) (net.Conn, error) {
	raddr, err := sctp.ResolveSCTPAddr("sctp", addr)
	if err != nil {
		return nil, fmt.Errorf("bsf: zh: resolve sctp %s: %w", addr, err)
	}
	type result struct {
		c   *sctp.SCTPConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := sctp.DialSCTP("sctp", nil, raddr)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("bsf: zh: dial sctp %s: %w", addr, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, fmt.Errorf("bsf: zh: dial sctp %s: %w", addr, ctx.Err())
	}
}

// zhMetrics is the Metrics of a ZhClient with the ZhLatency child of the common result
// looked up once (WithLabelValues hashes the label on every call).
type zhMetrics struct {
	*Metrics
	success prometheus.Observer
}

func newZhMetrics(m *Metrics) *zhMetrics {
	return &zhMetrics{Metrics: m, success: m.ZhLatency.WithLabelValues(zhLabelSuccess)}
}

func (m *zhMetrics) observe(label string, d time.Duration) {
	o := m.success
	if label != zhLabelSuccess {
		o = m.ZhLatency.WithLabelValues(label)
	}
	o.Observe(d.Seconds())
}

// SetMetrics makes the client observe ZhLatency and set HSSPeerUp in m.
func (z *ZhClient) SetMetrics(m *Metrics) {
	if m == nil {
		z.metrics.Store(nil)
	} else {
		z.metrics.Store(newZhMetrics(m))
	}
	z.updateGauge()
}

// Ready reports whether a connection to an HSS is open (capabilities exchanged).
func (z *ZhClient) Ready() bool {
	_, ok := z.client.Peer()
	return ok
}

// Close stops reconnecting, lets the requests in flight finish, sends a DPR to the HSS
// (Disconnect-Cause DO_NOT_WANT_TO_TALK_TO_YOU, RFC 6733 §5.4) and closes the connection.
// It returns an error when the DPA did not arrive.
func (z *ZhClient) Close() error {
	z.closeOnce.Do(func() {
		close(z.stop)
		<-z.gaugeDone
		z.closeErr = z.client.Close()
		if m := z.metrics.Load(); m != nil {
			for _, a := range z.addrs {
				m.HSSPeerUp.WithLabelValues(a).Set(0)
			}
		}
	})
	return z.closeErr
}

// gaugeLoop keeps HSSPeerUp in step with the connection (the peer layer has no events).
func (z *ZhClient) gaugeLoop() {
	defer close(z.gaugeDone)
	t := time.NewTicker(peerGaugeInterval)
	defer t.Stop()
	for {
		z.updateGauge()
		select {
		case <-z.stop:
			return
		case <-t.C:
		}
	}
}

// updateGauge sets HSSPeerUp to 1 for the HSS connected now and 0 for the others; the
// label is the configured address.
func (z *ZhClient) updateGauge() {
	m := z.metrics.Load()
	if m == nil {
		return
	}
	up := ""
	if info, ok := z.client.Peer(); ok {
		z.mu.Lock()
		up = z.remote[info.RemoteAddr]
		z.mu.Unlock()
	}
	for _, a := range z.addrs {
		v := 0.0
		if a == up {
			v = 1
		}
		m.HSSPeerUp.WithLabelValues(a).Set(v)
	}
}

// newSessionID returns a Session-Id of the form of RFC 6733 §8.8:
// <Origin-Host>;<high 32 bits>;<low 32 bits>, high = the start time, low = a counter.
func (z *ZhClient) newSessionID() string {
	low := z.sessionLow.Add(1)
	return z.cfg.OriginHost + ";" + strconv.FormatUint(uint64(z.sessionHigh), 10) + ";" + strconv.FormatUint(uint64(low), 10)
}

// FetchAV sends one Multimedia-Auth-Request and returns the AV of the answer (TS 29.109
// §4.2, §6.1), within zh.timeout or ctx, whichever ends first:
//
//   - MAR: Session-Id (RFC 6733 §8.8), Auth-Session-State NO_STATE_MAINTAINED, Origin-Host,
//     Origin-Realm, Destination-Realm, User-Name = IMPI, SIP-Auth-Data-Item with
//     SIP-Authentication-Scheme Digest-AKAv1-MD5 (TS 29.109 §6.1.1) or, on
//     resynchronisation, with SIP-Authorization = RAND ‖ AUTS (TS 33.220 §4.5.2), and
//     GUSS-Timestamp when the BSF holds a GUSS (TS 29.109 §6.3.1.9).
//   - MAA: the Session-Id must be the request's (RFC 6733 §8.8); the AV is read from
//     SIP-Auth-Data-Item (TS 29.109 §6.1.2) with the lengths of TS 33.102 §6.3.2; the GUSS,
//     when sent, is kept with the time it arrived (see AVResponse.GUSSTimestamp).
//
// Errors (see zhError): ErrIMPIUnknown, ErrResyncFailed, ErrHSSUnavailable (no connection,
// timeout, a 3xxx protocol error such as DIAMETER_TOO_BUSY); anything else is an HSS answer
// the BSF cannot use.
func (z *ZhClient) FetchAV(ctx context.Context, req AVRequest) (AVResponse, error) {
	start := time.Now()
	av, label, err := z.fetch(ctx, req)
	if m := z.metrics.Load(); m != nil {
		m.observe(label, time.Since(start))
	}
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, ErrIMPIUnknown) || errors.Is(err, ErrResyncFailed) {
			level = slog.LevelInfo
		}
		z.log.LogAttrs(ctx, level, "zh: MAR failed", slog.String("result", label), slog.String("error", err.Error()))
	}
	if z.log.Enabled(ctx, slog.LevelDebug) {
		z.log.LogAttrs(ctx, slog.LevelDebug, "zh: MAR", slog.String("impi", req.IMPI),
			slog.Bool("resync", req.Resync != nil), slog.String("result", label), slog.Bool("guss", av.GUSS != nil))
	}
	return av, err
}

// maxPooledMAR bounds the MAR buffers kept for reuse (a MAR is a few hundred octets).
const maxPooledMAR = 4096

func (z *ZhClient) fetch(ctx context.Context, req AVRequest) (AVResponse, string, error) {
	// A caller's deadline that comes no later than zh.timeout already bounds the request
	// (the BSF's fetchAV sets one): a second timer would only cost a context and a map.
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > z.cfg.Timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, z.cfg.Timeout)
		defer cancel()
	}
	sid := z.newSessionID()
	mar := &diameter.MAR{
		SessionID:        sid,
		OriginHost:       z.cfg.OriginHost,
		OriginRealm:      z.cfg.OriginRealm,
		DestinationRealm: z.cfg.DestinationRealm,
		IMPI:             req.IMPI,
		SIPAuthDataItem:  &diameter.SIPAuthDataItem{AuthenticationScheme: diameter.SchemeAKAv1MD5},
		GUSSTimestamp:    req.GUSSTimestamp,
	}
	if r := req.Resync; r != nil {
		item, err := diameter.NewResyncAuthDataItem(r.RAND[:], r.AUTS[:])
		if err != nil {
			return AVResponse{}, zhLabelError, fmt.Errorf("bsf: zh: %w", err)
		}
		mar.SIPAuthDataItem = item
	}
	// The MAR is written and the MAA read straight from the octets (diameter.ZhFrameCodec):
	// no go-diameter message on this path.
	bp, _ := z.frames.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	f, err := z.codec.AppendMAR((*bp)[:0], mar)
	if err != nil {
		z.frames.Put(bp)
		return AVResponse{}, zhLabelError, fmt.Errorf("bsf: zh: build MAR: %w", err)
	}
	ans, err := z.client.DoFrame(ctx, f)
	if cap(f) <= maxPooledMAR {
		*bp = f[:0]
		z.frames.Put(bp)
	}
	switch {
	case err == nil:
	case errors.Is(err, peer.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return AVResponse{}, zhLabelTimeout, fmt.Errorf("%w: %w", ErrHSSUnavailable, err)
	case errors.Is(err, peer.ErrNoPeer), errors.Is(err, peer.ErrClosed), errors.Is(err, context.Canceled):
		return AVResponse{}, zhLabelNoPeer, fmt.Errorf("%w: %w", ErrHSSUnavailable, err)
	case errors.Is(err, peer.ErrInvalidAnswer):
		return AVResponse{}, zhLabelInvalidAnswer, fmt.Errorf("bsf: zh: %w", err)
	default:
		return AVResponse{}, zhLabelError, fmt.Errorf("bsf: zh: %w", err)
	}
	maa, err := z.codec.DecodeMAA(ans)
	if err != nil {
		return AVResponse{}, zhLabelInvalidAnswer, fmt.Errorf("bsf: zh: %w", err)
	}
	if maa.SessionID != sid {
		// RFC 6733 §8.8: an answer carries the Session-Id of its request.
		return AVResponse{}, zhLabelSessionMismatch, errors.New("bsf: zh: MAA Session-Id differs from the MAR's")
	}
	res, err := maa.Result()
	if err != nil {
		return AVResponse{}, zhLabelInvalidAnswer, fmt.Errorf("bsf: zh: %w", err)
	}
	if label, err := zhError(res, req.Resync != nil); err != nil {
		return AVResponse{}, label, err
	}
	av, err := avFromMAA(maa, z.now())
	if err != nil {
		return AVResponse{}, zhLabelInvalidAnswer, err
	}
	return av, zhLabelSuccess, nil
}

// zhError maps the result of an MAA onto the BSF's domain errors (the one error mapping of
// the Zh edge) and the metric label:
//
//	2xxx                                       nil
//	Experimental 5401 IMPI_UNKNOWN (10415)     ErrIMPIUnknown (TS 29.109, registered in TS 29.230 §8.1)
//	Experimental 5001 USER_UNKNOWN (10415)     ErrIMPIUnknown (the Cx code, TS 29.229 §6.2.2.1)
//	3xxx protocol errors                       ErrHSSUnavailable, RFC 6733 §7.1.3
//	4001, 5003, 5004 answering a resync MAR    ErrResyncFailed (AUTS refused, TS 33.102 §6.3.5)
//	anything else                              an error wrapping *diameter.ResultError
func zhError(r diameter.Result, resync bool) (string, error) {
	code := strconv.FormatUint(uint64(r.Code), 10)
	switch {
	case r.Success():
		return zhLabelSuccess, nil
	case r.Experimental && r.VendorID == diameter.VendorID3GPP &&
		(r.Code == diameter.ExpIMPIUnknown || r.Code == diameter.ExpUserUnknown):
		return zhLabelIMPIUnknown, ErrIMPIUnknown
	case !r.Experimental && diameter.IsProtocolError(r.Code):
		return code, fmt.Errorf("%w: HSS answered %s", ErrHSSUnavailable, r)
	case resync && !r.Experimental && (r.Code == diameter.ResultAuthenticationRejected ||
		r.Code == diameter.ResultAuthorizationRejected || r.Code == diameter.ResultInvalidAVPValue):
		return zhLabelResyncFailed, fmt.Errorf("%w: HSS answered %s", ErrResyncFailed, r)
	}
	return code, fmt.Errorf("bsf: zh: HSS answered %w", r.Err())
}

// avFromMAA extracts the AV of a successful MAA (TS 29.109 §6.1.2): SIP-Authenticate =
// RAND ‖ AUTN, SIP-Authorization = XRES, Confidentiality-Key = CK, Integrity-Key = IK, with
// the lengths of TS 33.102 §6.3.2, and the GUSS (TS 29.109 Annex A) when sent.
//
// Note: the MAA carries no GUSS-Timestamp, so the BSF stamps a received GUSS with the
// second it arrived minus one second: the HSS then resends it only after a later change
// (specs/decisions.md).
func avFromMAA(maa *diameter.MAA, now time.Time) (AVResponse, error) {
	v, err := maa.SIPAuthDataItem.AKAVector()
	if err != nil {
		return AVResponse{}, fmt.Errorf("bsf: zh: MAA: %w", err)
	}
	defer func() {
		clear(v.XRES)
		clear(v.CK)
		clear(v.IK)
		clear(maa.SIPAuthDataItem.Authorization)
		clear(maa.SIPAuthDataItem.CK)
		clear(maa.SIPAuthDataItem.IK)
	}()
	var av AVResponse
	copy(av.RAND[:], v.RAND)
	copy(av.AUTN[:], v.AUTN)
	copy(av.CK[:], v.CK)
	copy(av.IK[:], v.IK)
	av.XRES = bytes.Clone(v.XRES)
	if len(maa.GUSS) > 0 {
		av.GUSS = bytes.Clone(maa.GUSS)
		av.GUSSTimestamp = now.UTC().Truncate(time.Second).Add(-time.Second)
	}
	if err := av.validate(); err != nil {
		return AVResponse{}, err
	}
	return av, nil
}
