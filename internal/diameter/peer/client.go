package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/internal/diameter"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	Identity
	// Applications the client uses; only these are advertised in the CER.
	Applications []Application
	// Servers are the server addresses in priority order; the client connects to the
	// first that completes the capabilities exchange.
	Servers []string
	// Dial opens a transport connection (TCP, TLS, SCTP); nil dials TCP.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// AllowedPeers, when not empty, are the server Origin-Hosts accepted in a CEA.
	AllowedPeers []string
	// Dictionary is diameter.NewDictionary() (shared, read-only).
	Dictionary *dict.Parser
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// WatchdogInterval is Tw of RFC 3539 §3.4.1 (default 30 s): after Tw without any
	// message from the server a DWR is sent, and when no answer arrives within another
	// Tw the connection is closed and the client fails over.
	WatchdogInterval time.Duration
	// ConnectTimeout bounds dialling plus the CER/CEA exchange with one server.
	ConnectTimeout time.Duration
	// BackoffMin and BackoffMax bound the exponential wait between rounds of connection
	// attempts over all servers.
	BackoffMin, BackoffMax time.Duration
	Tunables
}

// Client is the initiator side of the Diameter peer protocol, RFC 6733 §5, with the
// failover of RFC 3539 simplified: one open connection at a time to the first server (in
// priority order) that answers; when it fails (transport error, missing DWA, DPR
// received) requests waiting on it fail with ErrNoPeer and the client reconnects, trying
// the servers in priority order again with bounded exponential backoff between rounds.
// Requests are not retransmitted to the next server (the T flag is never set): callers
// retry when their request is idempotent. There is no failback while the connection to
// a lower-priority server stays healthy.
type Client struct {
	cfg ClientConfig
	ep  *endpoint

	mu      sync.Mutex
	cur     *conn
	changed chan struct{} // closed (and replaced) whenever cur changes
	closed  bool
	discErr error // outcome of the DPR sent on Close

	calls  tracker // Do calls in flight
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // the connection manager has exited
}

// NewClient checks cfg and starts connecting in the background; see Connect.
func NewClient(cfg ClientConfig) (*Client, error) {
	ep, err := newEndpoint(cfg.Identity, cfg.Applications, cfg.AllowedPeers, cfg.Dictionary, cfg.Logger, cfg.Tunables)
	if err != nil {
		return nil, fmt.Errorf("peer: client config: %w", err)
	}
	if len(cfg.Servers) == 0 {
		return nil, errors.New("peer: client config: no Servers")
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	if cfg.WatchdogInterval <= 0 {
		cfg.WatchdogInterval = DefaultWatchdogInterval
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffMin)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, ep: ep, changed: make(chan struct{}), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go c.run()
	return c, nil
}

// Connect starts a Client and returns once the capabilities exchange with one of the
// servers has succeeded, so that no request is ever sent before the CEA. When ctx ends
// first the client is closed and the error wraps ErrNoPeer.
func Connect(ctx context.Context, cfg ClientConfig) (*Client, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := c.conn(ctx, nil); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Peer returns the server currently connected.
func (c *Client) Peer() (PeerInfo, bool) {
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur == nil {
		return PeerInfo{}, false
	}
	return cur.peerInfo(), true
}

// setCurrent publishes the connection requests go to (nil: none).
func (c *Client) setCurrent(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = cn
	close(c.changed)
	c.changed = make(chan struct{})
}

// conn waits for an open connection other than not.
func (c *Client) conn(ctx context.Context, not *conn) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		cur, changed := c.cur, c.changed
		c.mu.Unlock()
		if cur != nil && cur != not {
			return cur, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNoPeer, ctx.Err())
		case <-c.done:
			return nil, ErrClosed
		}
	}
}

// Do sends req and returns its answer. It waits for an open connection, assigns the
// Hop-by-Hop Identifier (and an End-to-End Identifier when req has none, RFC 6733 §3) on
// the wire without changing req, validates the request before sending it (a
// *diameter.ProtocolError wrapped in ErrInvalidRequest) and the answer after receiving it
// (ErrInvalidAnswer). Answers with the E bit are returned as messages: the caller reads
// their Result-Code. Errors: ErrNoPeer (no connection before ctx ended, or it was lost),
// ErrTimeout (ctx deadline), ErrClosed.
func (c *Client) Do(ctx context.Context, req *diam.Message) (*diam.Message, error) {
	if !c.begin() {
		return nil, ErrClosed
	}
	defer c.calls.done()
	if req == nil || req.Header == nil {
		return nil, errors.New("peer: nil request")
	}

	f, err := req.Serialize()
	if err != nil {
		return nil, fmt.Errorf("peer: encode request: %w", err)
	}
	a, err := c.send(ctx, f)
	if err != nil {
		return nil, err
	}
	m, err := c.ep.validator.Decode(a)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAnswer, err)
	}
	return m, nil
}

// DoFrame is Do for a request given as its frame, for the hot paths that read and write
// the octets themselves: it returns the answer frame, validated against the command
// grammar (diameter.Validator.Validate, RFC 6733 §3, §4, §7.1) but not decoded, and owned
// by the caller. It writes the Message Length, the Hop-by-Hop Identifier and, when zero,
// the End-to-End Identifier into f's header; f must not be used concurrently and may be
// reused once DoFrame returns. Errors are those of Do.
func (c *Client) DoFrame(ctx context.Context, f []byte) ([]byte, error) {
	if !c.begin() {
		return nil, ErrClosed
	}
	defer c.calls.done()
	if len(f) < diam.HeaderLength {
		return nil, fmt.Errorf("%w: %d octets, shorter than a header", ErrInvalidRequest, len(f))
	}
	a, err := c.send(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := c.ep.validator.Validate(a); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAnswer, err)
	}
	return a, nil
}

// begin counts a call in flight (Close waits for it; end it with c.calls.done), or reports
// false when the client is closed.
func (c *Client) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.calls.add()
	return true
}

// send validates request frame f and sends it (see Do) on an open connection, and returns
// the answer frame as received.
func (c *Client) send(ctx context.Context, f []byte) ([]byte, error) {
	f[1], f[2], f[3] = byte(len(f)>>16), byte(len(f)>>8), byte(len(f)) // Header.MessageLength may be stale
	if f[16]|f[17]|f[18]|f[19] == 0 {
		e2e := c.ep.nextE2E()
		f[16], f[17], f[18], f[19] = byte(e2e>>24), byte(e2e>>16), byte(e2e>>8), byte(e2e)
	}
	if err := c.ep.validator.Validate(f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	var a []byte
	var cn *conn
	var err error
	for {
		// A connection found closing before the request left is skipped: wait for the next.
		if cn, err = c.conn(ctx, cn); err != nil {
			return nil, err
		}
		if a, err = cn.roundTrip(ctx, f, false); !errors.Is(err, errNotSent) {
			break
		}
	}
	return a, err
}

// Close stops reconnecting, waits for the requests in flight, sends a DPR
// (Disconnect-Cause DO_NOT_WANT_TO_TALK_TO_YOU, RFC 6733 §5.4.3) and waits for the DPA,
// all within DisconnectTimeout, then closes the connection. It returns an error when the
// DPA did not arrive; the connection is closed either way.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.ep.tun.DisconnectTimeout)
	defer cancel()
	_ = c.calls.wait(ctx)
	c.cancel() // the manager sends the DPR
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.discErr
}

// run is the connection manager: connect, wait for the connection to fail, repeat.
func (c *Client) run() {
	defer close(c.done)
	backoff := c.cfg.BackoffMin
	for c.ctx.Err() == nil {
		cn := c.connectAny()
		if cn == nil {
			c.ep.log.Warn("diameter peer: no server reachable", "servers", c.cfg.Servers, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
				return
			}
			backoff = min(2*backoff, c.cfg.BackoffMax)
			continue
		}
		backoff = c.cfg.BackoffMin
		c.setCurrent(cn)
		go cn.watchdog(c.cfg.WatchdogInterval)
		disconnected := make(chan struct{})
		stop := context.AfterFunc(c.ctx, func() {
			defer close(disconnected)
			ctx, cancel := context.WithTimeout(context.Background(), c.ep.tun.DisconnectTimeout)
			defer cancel()
			err := cn.disconnect(ctx, diameter.DisconnectCauseDoNotWant)
			c.mu.Lock()
			c.discErr = err
			c.mu.Unlock()
		})
		cn.readLoop()
		if !stop() {
			<-disconnected
		}
		c.setCurrent(nil)
		c.ep.log.Warn("diameter peer: connection to server lost", "peer", cn.peerInfo().OriginHost, "error", cn.err())
	}
}

// connectAny tries each server once, in priority order.
func (c *Client) connectAny() *conn {
	for _, addr := range c.cfg.Servers {
		if c.ctx.Err() != nil {
			return nil
		}
		cn, err := c.handshake(addr)
		if err == nil {
			return cn
		}
		c.ep.log.Warn("diameter peer: cannot connect", "server", addr, "error", err)
	}
	return nil
}

// handshake dials addr and runs the initiator side of the capabilities exchange,
// RFC 6733 §5.3: CER, then the CEA must carry DIAMETER_SUCCESS, an allowed Origin-Host
// and a common application.
func (c *Client) handshake(addr string) (*conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout)
	defer cancel()
	nc, err := c.cfg.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("peer: dial %s: %w", addr, err)
	}
	// The connection outlives ctx; the manager disconnects it (DPR) when the client closes.
	cn := newConn(context.Background(), c.ep, nc)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	fail := func(err error) (*conn, error) {
		cn.close(err)
		return nil, err
	}
	cer, err := c.ep.cer(nc.LocalAddr())
	if err != nil {
		return fail(fmt.Errorf("peer: build CER: %w", err))
	}
	hbh := cn.hbh.Add(1)
	cer[12], cer[13], cer[14], cer[15] = byte(hbh>>24), byte(hbh>>16), byte(hbh>>8), byte(hbh)
	if err := cn.write(cer); err != nil {
		return fail(fmt.Errorf("peer: send CER to %s: %w", addr, err))
	}
	var cea []byte
	for cea == nil {
		f, err := cn.readFrame()
		if err != nil {
			return fail(fmt.Errorf("peer: waiting for CEA from %s: %w", addr, err))
		}
		switch {
		case f[4]&diam.RequestFlag != 0:
			cn.reject(f, &diameter.ProtocolError{ResultCode: diameter.ResultUnknownPeer,
				Reason: "request before the capabilities exchange"}, false)
		case uint32(f[12])<<24|uint32(f[13])<<16|uint32(f[14])<<8|uint32(f[15]) == hbh:
			cea = f
		}
	}
	m, err := c.ep.validator.Decode(cea)
	if err != nil {
		return fail(&CapabilitiesError{Addr: addr, ResultCode: diameter.ResultSuccess, Reason: "invalid CEA: " + err.Error()})
	}
	if rc, _ := resultCode(m); rc != diameter.ResultSuccess {
		return fail(&CapabilitiesError{Addr: addr, ResultCode: rc, Reason: "CEA rejected the CER"})
	}
	host, realm, product := identityOf(m)
	if c.ep.allowed != nil && !c.ep.allowed[strings.ToLower(host)] {
		return fail(&CapabilitiesError{Addr: addr, ResultCode: diameter.ResultSuccess, Reason: "server " + host + " not allowed"})
	}
	common := c.ep.common(advertised(m))
	if len(common) == 0 {
		return fail(&CapabilitiesError{Addr: addr, ResultCode: diameter.ResultSuccess, Reason: "no common application"})
	}
	if !stop() || nc.SetDeadline(time.Time{}) != nil {
		return fail(fmt.Errorf("peer: capabilities exchange with %s: %w", addr, ctx.Err()))
	}
	cn.open(PeerInfo{OriginHost: host, OriginRealm: realm, ProductName: product, Applications: common,
		RemoteAddr: remoteString(nc), ConnectedAt: time.Now()})
	c.ep.log.Info("diameter peer: connected", "server", addr, "peer", host, "applications", common)
	return cn, nil
}

// watchdog runs the DWR/DWA exchange of RFC 6733 §5.5 with the timing of RFC 3539
// §3.4.1 simplified (no jitter, no SUSPECT state): a DWR after Tw without traffic, and
// failover when its answer does not arrive within Tw.
func (c *conn) watchdog(tw time.Duration) {
	t := time.NewTimer(tw)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		if idle := time.Since(time.Unix(0, c.lastRecv.Load())); idle < tw {
			t.Reset(tw - idle)
			continue
		}
		if c.getState() != stateOpen {
			return
		}
		m := diam.NewRequest(diameter.CmdDeviceWatchdog, diameter.AppIDBase, c.ep.dict)
		m.Header.EndToEndID = c.ep.nextE2E()
		m.NewAVP(avp.OriginHost, avp.Mbit, 0, diamIdentity(c.ep.id.OriginHost))
		m.NewAVP(avp.OriginRealm, avp.Mbit, 0, diamIdentity(c.ep.id.OriginRealm))
		f, err := m.Serialize()
		if err != nil {
			c.close(err)
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, tw)
		_, err = c.roundTrip(ctx, f, true)
		cancel()
		if err != nil {
			select {
			case <-c.closed:
			default:
				c.log.Warn("diameter peer: no DWA within Tw, failing over", "tw", tw, "error", err)
				c.close(fmt.Errorf("watchdog: %w", err))
			}
			return
		}
		t.Reset(tw)
	}
}

// err is why the connection closed.
func (c *conn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}
