package hsssim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
)

// ProductName is the Product-Name the Zh server advertises (RFC 6733 §5.3.7).
const ProductName = "OpenGBA hss-sim"

// Transports of a Zh listener.
const (
	TransportTCP  = peer.TransportTCP
	TransportTLS  = peer.TransportTLS  // TLS/TCP, RFC 6733 §2.1, §13.1
	TransportSCTP = peer.TransportSCTP // RFC 6733 §2.1 (Linux only)
)

// ZhServerOptions are the dependencies of NewZhServer.
type ZhServerOptions struct {
	// Store holds the subscribers.
	Store Store
	// Config gives the listeners, TLS files, Origin-Host/Origin-Realm and the peer allowlist.
	Config DiameterConfig
	// Logger receives connection and error events (cmd/hss-sim adds if=zh); nil discards
	// them. IMPIs are logged at debug level only; key material never.
	Logger *slog.Logger
	// Registry, if set, gets the Zh metrics (ZhMetrics).
	Registry prometheus.Registerer
	// Rand is the source of RAND (see HSSOptions.Rand); nil means crypto/rand.
	Rand io.Reader
	// Dictionary is diameter.NewDictionary(); nil builds one.
	Dictionary *dict.Parser
	// Now is the clock for Origin-State-Id (RFC 6733 §8.16); nil means time.Now.
	Now func() time.Time
	// Tunables of the peer layer; zero values take its defaults.
	Tunables peer.Tunables
}

// ZhListener is one address the Zh server listens on.
type ZhListener = peer.ListenerAddr

// ZhServer is the Diameter server of the Zh reference point (TS 29.109 §4.2): the peer
// layer of internal/diameter/peer (CER/CEA advertising only Zh, DWR/DWA, DPR/DPA,
// validation of every request, concurrent handlers) with HSS.AnswerMAR as the handler of
// Multimedia-Auth-Request (303, application 16777221). Start it, read Listeners, stop it
// with Shutdown (DPR to every peer) or Close.
type ZhServer struct {
	hss     *HSS
	srv     *peer.Server
	dict    *dict.Parser
	codec   *diameter.ZhFrameCodec
	log     *slog.Logger
	metrics *ZhMetrics
	cfg     DiameterConfig
	tlsConf *tls.Config

	ctx    context.Context // serving context, cancelled after Shutdown or Close
	cancel context.CancelFunc

	mu        sync.Mutex
	started   bool
	listeners []ZhListener
	serving   sync.WaitGroup
	errc      chan error
}

// NewZhServer builds the server from opts; it does not listen yet (Start). The
// capabilities it advertises are exactly Zh: Vendor-Specific-Application-Id
// {Vendor-Id 10415, Auth-Application-Id 16777221} and Supported-Vendor-Id 10415
// (TS 29.109 §5.1 as referenced from §4.2, RFC 6733 §5.3.1).
func NewZhServer(opts ZhServerOptions) (*ZhServer, error) {
	cfg := opts.Config
	hss, err := NewHSS(HSSOptions{Store: opts.Store, OriginHost: cfg.OriginHost, OriginRealm: cfg.OriginRealm, Rand: opts.Rand})
	if err != nil {
		return nil, err
	}
	if len(cfg.ListenTCP)+len(cfg.ListenSCTP) == 0 {
		return nil, &ConfigError{Field: "diameter.listen_tcp", Reason: "need at least one TCP or SCTP listen address"}
	}
	if !cfg.Open && len(cfg.Peers) == 0 {
		return nil, &ConfigError{Field: "diameter.peers", Reason: "empty allowlist: list the BSF Origin-Host values or set diameter.open: true"}
	}
	d := opts.Dictionary
	if d == nil {
		if d, err = diameter.NewDictionary(); err != nil {
			return nil, err
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tlsConf, err := zhTLSConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	now := nowFunc(opts.Now)
	var allowed []string
	if !cfg.Open {
		allowed = cfg.Peers
	}
	srv, err := peer.NewServer(peer.ServerConfig{
		Identity: peer.Identity{
			OriginHost:  cfg.OriginHost,
			OriginRealm: cfg.OriginRealm,
			ProductName: ProductName,
			// RFC 6733 §8.16: a value that grows at every start lets peers notice a restart.
			OriginStateID: uint32(now().Unix()),
		},
		Applications: []peer.Application{{ID: diameter.AppIDZh, VendorID: diameter.VendorID3GPP}},
		AllowedPeers: allowed,
		Dictionary:   d,
		Logger:       log,
		Tunables:     opts.Tunables,
	})
	if err != nil {
		return nil, err
	}
	codec, err := diameter.NewZhFrameCodec(d)
	if err != nil {
		return nil, err
	}
	z := &ZhServer{hss: hss, srv: srv, dict: d, codec: codec, log: log, cfg: cfg, tlsConf: tlsConf, errc: make(chan error, 1)}
	if opts.Registry != nil {
		if z.metrics, err = NewZhMetrics(opts.Registry, opts.Store, func() int { return len(srv.Peers()) }); err != nil {
			return nil, err
		}
	}
	z.ctx, z.cancel = context.WithCancel(context.Background())
	srv.HandleFrame(diameter.AppIDZh, diameter.CmdMultimediaAuth, z.handleMAR)
	return z, nil
}

// zhTLSConfig builds the TLS server configuration of RFC 6733 §13.1 from the PEM files, or
// nil when TLS is off. With a CA file, clients must present a certificate it signed.
func zhTLSConfig(c TLSConfig) (*tls.Config, error) {
	if c.CertFile == "" && c.KeyFile == "" {
		if c.CAFile != "" {
			return nil, &ConfigError{Field: "diameter.tls.ca_file", Reason: "needs cert_file and key_file"}
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		// The error names the file, never key material.
		return nil, &ConfigError{Field: "diameter.tls.cert_file", Reason: err.Error()}
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, &ConfigError{Field: "diameter.tls.ca_file", Reason: err.Error()}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Field: "diameter.tls.ca_file", Reason: "no PEM certificate found"}
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}

// HSS returns the logic the server runs.
func (z *ZhServer) HSS() *HSS { return z.hss }

// Start opens every configured listener (TCP, TLS over TCP when a certificate is
// configured, SCTP) and serves them in the background. When one cannot be opened, those
// already open are closed and the error names the address.
func (z *ZhServer) Start() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.started {
		return errors.New("hsssim: zh: already started")
	}
	z.started = true
	lns, err := peer.Listen(z.ctx, peer.ListenConfig{TCP: z.cfg.ListenTCP, SCTP: z.cfg.ListenSCTP, TLS: z.tlsConf})
	if err != nil {
		return fmt.Errorf("hsssim: zh: %w", err)
	}
	infos := peer.Addrs(lns)
	z.listeners = infos
	for i, ln := range lns {
		ln := &observedListener{Listener: ln.Listener, z: z}
		z.serving.Add(1)
		go func() {
			defer z.serving.Done()
			err := z.srv.Serve(z.ctx, ln)
			if err != nil && !errors.Is(err, peer.ErrServerClosed) && z.ctx.Err() == nil {
				select {
				case z.errc <- fmt.Errorf("hsssim: zh: %s %s: %w", infos[i].Transport, infos[i].Addr, err):
				default:
				}
			}
		}()
	}
	return nil
}

// Listeners returns the addresses the server listens on (after Start).
func (z *ZhServer) Listeners() []ZhListener {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]ZhListener(nil), z.listeners...)
}

// Err delivers the first error that stopped a listener while the server was running.
func (z *ZhServer) Err() <-chan error { return z.errc }

// Peers lists the peers in the open state.
func (z *ZhServer) Peers() []peer.PeerInfo { return z.srv.Peers() }

// Shutdown stops accepting connections, lets the requests in flight finish, sends a DPR
// (Disconnect-Cause REBOOTING, RFC 6733 §5.4) to every open peer and waits for the DPAs,
// all bounded by ctx. Call it before closing the Store.
func (z *ZhServer) Shutdown(ctx context.Context) error {
	err := z.srv.Shutdown(ctx)
	z.cancel()
	z.serving.Wait()
	return err
}

// Close stops at once: listeners and connections are closed without DPR.
func (z *ZhServer) Close() error {
	err := z.srv.Close()
	z.cancel()
	z.serving.Wait()
	return err
}

// handleMAR is the transport edge of Zh: decode, AnswerMAR, encode, straight from and to
// the octets (a peer.FrameHandler: the MAR arrives validated against TS 29.109 §6.1.1 and
// is read without go-diameter's decode; the MAA of TS 29.109 §6.1.2 is appended to buf).
// Protocol errors that the peer layer's validation did not catch become
// DIAMETER_UNABLE_TO_COMPLY there.
func (z *ZhServer) handleMAR(ctx context.Context, req, buf []byte) ([]byte, error) {
	start := time.Now()
	defer func() { z.metrics.observeLatency("MAR", time.Since(start)) }()
	mar, err := z.codec.DecodeMAR(req)
	if err != nil {
		return nil, fmt.Errorf("hsssim: zh: %w", err)
	}
	maa, err := z.hss.AnswerMAR(ctx, mar)
	if err != nil {
		z.log.Error("zh: cannot answer MAR", "session_id", mar.SessionID, "error", err.Error())
		return nil, err
	}
	if z.log.Enabled(ctx, slog.LevelDebug) {
		r, _ := maa.Result()
		z.log.Debug("zh: MAR answered", "session_id", mar.SessionID, "impi", mar.IMPI, "impu", mar.IMPU,
			"result", r.String(), "resync", mar.SIPAuthDataItem != nil && len(mar.SIPAuthDataItem.Authorization) > 0,
			"guss", maa.GUSS != nil)
	}
	return z.codec.AppendMAA(buf, maa)
}

// observedListener wraps every accepted connection so that the answers written on it are
// counted in ZhMetrics, including the ones the peer layer sends by itself (CEA, DWA, DPA,
// validation rejects).
type observedListener struct {
	net.Listener
	z *ZhServer
}

func (l *observedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil || l.z.metrics == nil {
		return nc, err
	}
	return &observedConn{Conn: nc, m: l.z.metrics}, nil
}

// observedConn counts the answers written on a connection. The peer layer writes whole
// frames only, one or several joined in one Write call (a batch). An answer is counted
// before it is written, so that a peer that has received it also sees it in the metrics
// (a failed write closes the connection anyway).
type observedConn struct {
	net.Conn
	m *ZhMetrics
}

func (c *observedConn) Write(b []byte) (int, error) {
	for f := b; len(f) >= 4; {
		n := int(uint32(f[1])<<16 | uint32(f[2])<<8 | uint32(f[3])) // RFC 6733 §3 Message Length
		if n < 20 || n > len(f) {
			break
		}
		if cmd, code, exp, ok := answerResult(f[:n]); ok {
			c.m.observeAnswer(cmd, code, exp)
		}
		f = f[n:]
	}
	return c.Conn.Write(b)
}

// answerResult reads the command and the Result-Code or Experimental-Result-Code of one
// answer frame (RFC 6733 §3, §4.1, §7.6); ok is false for requests and anything else.
func answerResult(f []byte) (cmd string, code uint32, experimental, ok bool) {
	const hdr = 20
	if len(f) < hdr || f[4]&0x80 != 0 || int(uint32(f[1])<<16|uint32(f[2])<<8|uint32(f[3])) != len(f) {
		return "", 0, false, false
	}
	switch c := uint32(f[5])<<16 | uint32(f[6])<<8 | uint32(f[7]); c {
	case diameter.CmdMultimediaAuth:
		cmd = "MAR"
	case diameter.CmdCapabilitiesExchange:
		cmd = "CER"
	case diameter.CmdDeviceWatchdog:
		cmd = "DWR"
	case diameter.CmdDisconnectPeer:
		cmd = "DPR"
	default:
		cmd = strconv.FormatUint(uint64(c), 10)
	}
	walk := func(b []byte, fn func(code, vendor uint32, data []byte) bool) {
		for len(b) >= 8 {
			code := binary.BigEndian.Uint32(b[0:4])
			flags := b[4]
			length := int(uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]))
			h, vendor := 8, uint32(0)
			if flags&0x80 != 0 {
				if len(b) < 12 {
					return
				}
				h, vendor = 12, binary.BigEndian.Uint32(b[8:12])
			}
			if length < h || length > len(b) {
				return
			}
			if !fn(code, vendor, b[h:length]) {
				return
			}
			b = b[min(len(b), (length+3)&^3):]
		}
	}
	walk(f[hdr:], func(avpCode, vendor uint32, data []byte) bool {
		switch {
		case vendor == 0 && avpCode == 268 && len(data) == 4: // Result-Code
			code, ok = binary.BigEndian.Uint32(data), true
			return false
		case vendor == 0 && avpCode == 297: // Experimental-Result
			walk(data, func(c, v uint32, d []byte) bool {
				if v == 0 && c == 298 && len(d) == 4 { // Experimental-Result-Code
					code, experimental, ok = binary.BigEndian.Uint32(d), true, true
					return false
				}
				return true
			})
			return !ok
		}
		return true
	})
	return cmd, code, experimental, ok
}
