package peer

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/internal/diameter"
)

// endpoint is what the connections of one Server or Client share.
type endpoint struct {
	id        Identity
	apps      []Application
	allowed   map[string]bool // nil: any peer
	dict      *dict.Parser
	validator *diameter.Validator
	log       *slog.Logger
	tun       Tunables
	sem       chan struct{}
	handlers  tracker // every handler in flight
	handler   func(app, code uint32) route
	stopping  func() bool // the server is shutting down: refuse new requests
	e2e       atomic.Uint32
	rand      func([]byte)
	frames    framePool // answer buffers
	requests  framePool // frames read, recycled after an application request is served
	calls     sync.Pool // *call, recycled once nothing can send on its channel
}

func newEndpoint(id Identity, apps []Application, allowed []string, d *dict.Parser, log *slog.Logger, tun Tunables) (*endpoint, error) {
	if err := id.validate(); err != nil {
		return nil, err
	}
	if d == nil {
		return nil, errors.New("Dictionary is nil")
	}
	if len(apps) == 0 {
		return nil, errors.New("no Applications")
	}
	if err := tun.validate(); err != nil {
		return nil, err
	}
	ids := make([]uint32, 0, len(apps))
	for _, a := range apps {
		if a.ID == diameter.AppIDBase || a.ID == diameter.AppIDRelay {
			return nil, fmt.Errorf("application %d cannot be served", a.ID)
		}
		ids = append(ids, a.ID)
	}
	v, err := diameter.NewValidator(d, ids...)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tun = tun.withDefaults()
	ep := &endpoint{
		id:        id,
		apps:      apps,
		dict:      d,
		validator: v,
		log:       log,
		tun:       tun,
		sem:       make(chan struct{}, tun.MaxConcurrent),
		handler:   func(uint32, uint32) route { return route{} },
		stopping:  func() bool { return false },
		rand:      func(b []byte) { _, _ = rand.Read(b) },
	}
	if len(allowed) > 0 {
		ep.allowed = map[string]bool{}
		for _, h := range allowed {
			// DiameterIdentity is an FQDN (RFC 6733 §4.3.1): compared without case.
			ep.allowed[strings.ToLower(h)] = true
		}
	}
	// RFC 6733 §3: End-to-End Identifier, high 12 bits from the time, low 20 bits random.
	var r [4]byte
	ep.rand(r[:])
	ep.e2e.Store(uint32(time.Now().Unix())<<20 | binary.BigEndian.Uint32(r[:])&0xfffff)
	return ep, nil
}

func (ep *endpoint) nextE2E() uint32 { return ep.e2e.Add(1) }

func (ep *endpoint) answerOptions(reason string) diameter.AnswerOptions {
	return diameter.AnswerOptions{OriginHost: ep.id.OriginHost, OriginRealm: ep.id.OriginRealm, ErrorMessage: reason}
}

// tracker counts work in flight and lets callers wait for it to drain. Unlike
// sync.WaitGroup, add may run concurrently with wait. add and done are one atomic
// operation each unless the count drops to zero.
type tracker struct {
	n    atomic.Int64
	mu   sync.Mutex // guards idle; the last done and wait meet here
	idle chan struct{}
}

func (t *tracker) add() { t.n.Add(1) }

func (t *tracker) done() {
	if t.n.Add(-1) != 0 {
		return
	}
	t.mu.Lock()
	// Whoever brings the count to zero checks again under mu: an add (and its done) may
	// have come in between, and that done then closes idle instead.
	if t.idle != nil && t.n.Load() == 0 {
		close(t.idle)
		t.idle = nil
	}
	t.mu.Unlock()
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n.Load() == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type connState int

const (
	stateWaitCER connState = iota // responder before CER, RFC 6733 §5.6 Wait-Conn-Ack/R-Open
	stateOpen                     // capabilities exchanged
	stateClosing                  // DPR sent or received
	stateClosed
)

// conn is one transport connection to a peer, for either role.
type conn struct {
	ep     *endpoint
	nc     net.Conn
	br     *bufio.Reader
	log    *slog.Logger
	ctx    context.Context // handlers' context, cancelled on close
	cancel context.CancelFunc

	w writer // serialises writes

	mu       sync.Mutex
	state    connState
	info     PeerInfo
	hctx     context.Context // ctx carrying info (PeerFromContext), set with info
	pending  map[uint32]*call
	closeErr error

	handlers tracker // this connection's handlers in flight
	// work hands a request to an idle worker (see serve).
	work      chan request
	hbh       atomic.Uint32
	lastRecv  atomic.Int64 // unix nanoseconds of the last frame read
	closed    chan struct{}
	closeOnce sync.Once
}

// call is a request waiting for its answer.
type call struct {
	e2e uint32
	ch  chan []byte // the answer frame, or nil when the connection closed
}

// newCall returns a call for end-to-end id e2e with an empty channel, from the endpoint's
// pool when it has one.
func (ep *endpoint) newCall(e2e uint32) *call {
	cl, _ := ep.calls.Get().(*call)
	if cl == nil {
		cl = &call{ch: make(chan []byte, 1)}
	}
	cl.e2e = e2e
	return cl
}

func newConn(ctx context.Context, ep *endpoint, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(ctx)
	c := &conn{
		ep:      ep,
		nc:      nc,
		br:      bufio.NewReaderSize(nc, 8<<10),
		log:     ep.log.With("remote", remoteString(nc)),
		ctx:     ctx,
		cancel:  cancel,
		pending: map[uint32]*call{},
		closed:  make(chan struct{}),
		work:    make(chan request),
	}
	// RFC 6733 §3: Hop-by-Hop Identifiers increase from a random start value.
	var r [4]byte
	ep.rand(r[:])
	c.hbh.Store(binary.BigEndian.Uint32(r[:]))
	c.w.cond.L = &c.w.mu
	c.lastRecv.Store(time.Now().UnixNano())
	return c
}

func (c *conn) getState() connState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *conn) peerInfo() PeerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// close tears the connection down once: pending requests fail, handlers' context ends.
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.state = stateClosed
		c.closeErr = err
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		for _, cl := range pending {
			cl.ch <- nil
		}
		c.cancel()
		_ = c.nc.Close()
		close(c.closed)
	})
}

// readFrame reads exactly one Diameter message: the 4-octet Version and Message Length
// prefix, then the rest (RFC 6733 §3). A length below the header size or above
// MaxMessageSize cannot be skipped reliably and is an ErrFraming.
func (c *conn) readFrame() ([]byte, error) {
	f, _, err := c.readPooledFrame()
	return f, err
}

// readPooledFrame is readFrame into a buffer of the endpoint's request pool: box, when not
// nil, holds f and goes back to the pool once f is no longer used (see worker).
func (c *conn) readPooledFrame() (f []byte, box *[]byte, err error) {
	var pre [4]byte
	if _, err := io.ReadFull(c.br, pre[:]); err != nil {
		return nil, nil, err
	}
	n := int(pre[1])<<16 | int(pre[2])<<8 | int(pre[3])
	if n < diam.HeaderLength || n > c.ep.tun.MaxMessageSize {
		return nil, nil, fmt.Errorf("%w: version %d, message length %d outside [%d, %d]",
			ErrFraming, pre[0], n, diam.HeaderLength, c.ep.tun.MaxMessageSize)
	}
	if n <= maxPooledFrame {
		box = c.ep.requests.get()
		if cap(*box) < n {
			*box = make([]byte, max(n, 512))
		}
		f = (*box)[:n]
	} else {
		f = make([]byte, n)
	}
	copy(f, pre[:])
	if _, err := io.ReadFull(c.br, f[4:]); err != nil {
		return nil, nil, err
	}
	return f, box, nil
}

// writer serialises the writes of one connection and batches them: a frame written while
// another write is in progress is queued, and the goroutine whose write is in progress
// writes the whole queue when it is done, then returns; the others wait for their frame to
// be written. Frames go out in the order of the write calls.
type writer struct {
	mu    sync.Mutex
	cond  sync.Cond // L is &mu; signalled after every batch
	busy  bool      // a goroutine is writing
	queue [][]byte  // frames waiting for the writing goroutine
	spare [][]byte  // the other queue, reused
	seq   uint64    // frames queued so far
	done  uint64    // frames written (or failed) so far
	// failed is the sequence number of the first frame that was not written, 0 when all
	// were; err is why.
	failed uint64
	err    error
}

// write sends one frame; writes are serialised (see writer) and each batch is bounded by
// WriteTimeout. When it returns, f has been handed to the transport and may be reused. A
// failed write closes the connection.
func (c *conn) write(f []byte) error {
	w := &c.w
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	w.seq++
	mine := w.seq
	w.queue = append(w.queue, f)
	if w.busy {
		for w.done < mine {
			w.cond.Wait()
		}
		var err error
		if w.failed != 0 && mine >= w.failed {
			err = w.err
		}
		w.mu.Unlock()
		return err
	}
	w.busy = true
	var failure error
	for len(w.queue) > 0 && failure == nil {
		batch, last := w.queue, w.seq
		w.queue, w.spare = w.spare[:0], nil
		w.mu.Unlock()
		failure = c.writeBatch(batch)
		w.mu.Lock()
		clear(batch) // no references to frames their owners reuse
		w.spare = batch[:0]
		if failure != nil {
			w.failed, w.err = w.done+1, failure
			w.done = w.seq // the queued frames fail as well
			w.queue = w.queue[:0]
		} else {
			w.done = last
		}
		w.cond.Broadcast()
	}
	w.busy = false
	var err error
	if w.failed != 0 && mine >= w.failed {
		err = w.err
	}
	w.mu.Unlock()
	if failure != nil {
		c.close(fmt.Errorf("write: %w", failure))
	}
	return err
}

// writeBatch writes the frames that queued up together: one vectored write on a
// *net.TCPConn (net.Buffers), and one Write of the frames joined on any other transport
// (TLS, a wrapped connection), so that a burst of answers costs one system call either
// way. A Write may therefore carry several whole frames, never part of one.
func (c *conn) writeBatch(batch [][]byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.ep.tun.WriteTimeout))
	if len(batch) == 1 {
		_, err := c.nc.Write(batch[0])
		return err
	}
	if _, ok := c.nc.(*net.TCPConn); ok {
		bufs := net.Buffers(batch)
		_, err := bufs.WriteTo(c.nc)
		return err
	}
	n := 0
	for _, f := range batch {
		n += len(f)
	}
	bp := c.ep.frames.get()
	joined := (*bp)[:0]
	if cap(joined) < n {
		joined = make([]byte, 0, n)
	}
	for _, f := range batch {
		joined = append(joined, f...)
	}
	_, err := c.nc.Write(joined)
	c.ep.frames.put(bp, joined)
	return err
}

// readLoop reads and dispatches frames until the connection ends.
func (c *conn) readLoop() {
	for {
		f, box, err := c.readPooledFrame()
		if err != nil {
			c.endRead(err)
			return
		}
		c.lastRecv.Store(time.Now().UnixNano())
		c.dispatch(f, box)
	}
}

func (c *conn) endRead(err error) {
	if c.getState() != stateClosed { // else closed on purpose, already logged
		switch {
		case errors.Is(err, ErrFraming):
			c.log.Warn("diameter peer: closing connection: cannot frame the stream", "peer", c.peerInfo().OriginHost, "error", err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			c.log.Info("diameter peer: connection closed by peer", "peer", c.peerInfo().OriginHost)
		default:
			c.log.Warn("diameter peer: closing connection: read failed", "peer", c.peerInfo().OriginHost, "error", err)
		}
	}
	c.close(err)
}

// dispatch handles one frame in the reading goroutine: answers go to their pending
// request, base protocol requests are answered here, application requests go to a
// handler goroutine.
func (c *conn) dispatch(f []byte, box *[]byte) {
	if f[4]&diam.RequestFlag == 0 {
		c.handleAnswer(f)
		return
	}
	app := binary.BigEndian.Uint32(f[8:12])
	code := uint32(f[5])<<16 | uint32(f[6])<<8 | uint32(f[7])
	if app == diameter.AppIDBase {
		switch code {
		case diameter.CmdCapabilitiesExchange:
			c.handleCER(f)
			return
		case diameter.CmdDeviceWatchdog:
			c.handleDWR(f)
			return
		case diameter.CmdDisconnectPeer:
			c.handleDPR(f)
			return
		}
	}
	switch st := c.getState(); {
	case st == stateWaitCER:
		// RFC 6733 §5.3, §5.6: nothing but CER before the capabilities exchange. Note:
		// the state machine would drop the connection; we answer 3010 and keep it.
		c.reject(f, &diameter.ProtocolError{ResultCode: diameter.ResultUnknownPeer,
			Reason: "request before the capabilities exchange"}, false)
		return
	case st != stateOpen || c.ep.stopping():
		// RFC 6733 §7.1.3: DIAMETER_TOO_BUSY makes the sender use an alternate peer.
		c.reject(f, &diameter.ProtocolError{ResultCode: diameter.ResultTooBusy,
			Reason: "disconnecting"}, false)
		return
	}
	select {
	case c.ep.sem <- struct{}{}:
	case <-c.closed:
		return
	}
	c.handlers.add()
	c.ep.handlers.add()
	c.serve(request{f: f, box: box, app: app, code: code})
}

// request is one application request for a handler; box, when not nil, is f's buffer
// from the endpoint's request pool.
type request struct {
	f         []byte
	box       *[]byte
	app, code uint32
}

// workerIdle is how long a worker waits for the next request before it exits.
const workerIdle = 10 * time.Second

// serve runs r on a worker goroutine of the connection: an idle one when there is one,
// else a new one. Workers wait for the next request (up to workerIdle, and not after the
// connection closed), so that under load a request does not pay for starting a goroutine
// and growing its stack; their number follows the handlers in flight, which the
// endpoint's MaxConcurrent bounds.
func (c *conn) serve(r request) {
	select {
	case c.work <- r:
	default:
		go c.worker(r)
	}
}

// worker serves r, then the requests handed to it until it has served none for a whole
// period of workerIdle (between one and two periods idle; the timer is not reset per
// request) or the connection closes. A request's frame is recycled once served: the
// decoded request holds copies (go-diameter's decoders copy), and the answer has been
// written.
func (c *conn) worker(r request) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		c.serveRequest(r.f, r.app, r.code)
		if r.box != nil {
			c.ep.requests.put(r.box, r.f)
		}
		served := true
	wait:
		select {
		case r = <-c.work:
		case <-idle.C:
			if !served {
				return
			}
			served = false
			idle.Reset(workerIdle)
			goto wait
		case <-c.closed:
			return
		}
	}
}

// release ends the accounting of one request started by dispatch.
func (c *conn) release() {
	<-c.ep.sem
	c.handlers.done()
	c.ep.handlers.done()
}

// reject answers f with perr; capabilities adds the CEA capability AVPs (RFC 6733 §5.3.2)
// to answers without the E bit.
func (c *conn) reject(f []byte, perr *diameter.ProtocolError, capabilities bool) {
	opts := c.ep.answerOptions(perr.Reason)
	if capabilities && !perr.ErrorBit() {
		opts.Extra = c.ep.capabilityAVPs(c.nc.LocalAddr())
	}
	ans, err := c.ep.validator.ErrorAnswer(f, perr, opts)
	if err != nil {
		c.log.Warn("diameter peer: cannot answer a bad frame", "error", err, "rejected", perr)
		return
	}
	c.log.Info("diameter peer: request rejected", "peer", c.peerInfo().OriginHost, "rejected", perr)
	_ = c.write(ans)
}

// handleAnswer delivers an answer to its pending request. RFC 6733 §3: an answer with an
// unknown Hop-by-Hop Identifier is discarded; so is one whose End-to-End Identifier does
// not match the request's.
func (c *conn) handleAnswer(f []byte) {
	hbh := binary.BigEndian.Uint32(f[12:16])
	e2e := binary.BigEndian.Uint32(f[16:20])
	c.mu.Lock()
	cl := c.pending[hbh]
	if cl != nil && cl.e2e == e2e {
		delete(c.pending, hbh)
	} else {
		cl = nil
	}
	c.mu.Unlock()
	if cl == nil {
		c.log.Info("diameter peer: answer discarded: no pending request", "peer", c.peerInfo().OriginHost,
			"hop_by_hop", hbh, "end_to_end", e2e)
		return
	}
	cl.ch <- f
}

// roundTrip sends request f (its Hop-by-Hop Identifier is assigned here) and waits for
// the answer frame. Application requests (base false) are only sent on an open
// connection; base requests (DWR, DPR) also while disconnecting.
func (c *conn) roundTrip(ctx context.Context, f []byte, base bool) ([]byte, error) {
	hbh := c.hbh.Add(1)
	binary.BigEndian.PutUint32(f[12:16], hbh)
	cl := c.ep.newCall(binary.BigEndian.Uint32(f[16:20]))
	c.mu.Lock()
	if c.state == stateClosed || !base && c.state != stateOpen {
		c.mu.Unlock()
		c.ep.calls.Put(cl)
		return nil, errNotSent
	}
	c.pending[hbh] = cl
	c.mu.Unlock()
	if err := c.write(f); err != nil {
		if c.forget(hbh) {
			c.ep.calls.Put(cl)
		}
		return nil, fmt.Errorf("%w: %w", ErrNoPeer, err)
	}
	select {
	case a := <-cl.ch:
		// The one send on cl.ch (handleAnswer or close) is done: cl is free.
		c.ep.calls.Put(cl)
		if a == nil {
			return nil, fmt.Errorf("%w: connection to %s lost", ErrNoPeer, remoteString(c.nc))
		}
		return a, nil
	case <-ctx.Done():
		// Recycled only when taken out of pending here: else its answer (or the close)
		// is being delivered and cl is left to the garbage collector.
		if c.forget(hbh) {
			c.ep.calls.Put(cl)
		}
		return nil, ctxError(ctx)
	}
}

// forget removes the pending request hbh; false when it was no longer pending (its answer
// or the connection's close has taken it).
func (c *conn) forget(hbh uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pending[hbh]
	delete(c.pending, hbh)
	return ok
}

// errNotSent reports a request not sent because its connection was closing or closed.
var errNotSent = fmt.Errorf("%w: connection closing", ErrNoPeer)

func ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	return fmt.Errorf("peer: %w", ctx.Err())
}

// handleCER runs the responder side of the capabilities exchange, RFC 6733 §5.3: the
// peer must be in the allowlist (else 3010 DIAMETER_UNKNOWN_PEER) and share an
// application (else 5010 DIAMETER_NO_COMMON_APPLICATION); the connection is closed after
// a failed exchange. A CER on an open connection is processed again (RFC 6733 §5.6,
// R-Open and R-Rcv-CER).
func (c *conn) handleCER(f []byte) {
	fail := func(perr *diameter.ProtocolError) {
		c.reject(f, perr, true)
		c.close(fmt.Errorf("capabilities exchange failed: %w", perr))
	}
	m, err := c.ep.validator.Decode(f)
	var perr *diameter.ProtocolError
	switch {
	case errors.As(err, &perr):
		fail(perr)
		return
	case err != nil:
		c.log.Error("diameter peer: decode failed on a validated CER", "error", err)
		fail(&diameter.ProtocolError{ResultCode: diameter.ResultUnableToComply, Reason: "cannot decode CER"})
		return
	}
	host, realm, product := identityOf(m)
	if c.ep.allowed != nil && !c.ep.allowed[strings.ToLower(host)] {
		c.log.Warn("diameter peer: CER from a peer not in the allowlist", "peer", host)
		fail(&diameter.ProtocolError{ResultCode: diameter.ResultUnknownPeer, Reason: "unknown peer"})
		return
	}
	common := c.ep.common(advertised(m))
	if len(common) == 0 {
		c.log.Warn("diameter peer: CER without a common application", "peer", host)
		fail(&diameter.ProtocolError{ResultCode: diameter.ResultNoCommonApplication, Reason: "no common application"})
		return
	}
	ans, err := c.ep.validator.Answer(f, diameter.ResultSuccess, diameter.AnswerOptions{
		OriginHost: c.ep.id.OriginHost, OriginRealm: c.ep.id.OriginRealm,
		Extra: c.ep.capabilityAVPs(c.nc.LocalAddr()),
	})
	if err != nil {
		c.log.Error("diameter peer: cannot build CEA", "error", err)
		c.close(err)
		return
	}
	wasOpen := c.open(PeerInfo{
		OriginHost: host, OriginRealm: realm, ProductName: product, Applications: common,
		RemoteAddr: remoteString(c.nc), ConnectedAt: time.Now(),
	})
	_ = c.nc.SetReadDeadline(time.Time{})
	if c.write(ans) == nil && !wasOpen {
		c.log.Info("diameter peer: connected", "peer", host, "realm", realm, "applications", common)
	}
}

// open records the peer and moves to the open state; it reports whether it was open.
func (c *conn) open(info PeerInfo) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.state == stateOpen
	if c.state == stateWaitCER || c.state == stateOpen {
		c.state = stateOpen
		c.info = info
		c.hctx = context.WithValue(c.ctx, peerInfoKey{}, info)
	}
	return was
}

// handleDWR answers a Device-Watchdog-Request, RFC 6733 §5.5.
func (c *conn) handleDWR(f []byte) {
	if c.getState() == stateWaitCER {
		c.reject(f, &diameter.ProtocolError{ResultCode: diameter.ResultUnknownPeer,
			Reason: "request before the capabilities exchange"}, false)
		return
	}
	if err := c.ep.validator.Validate(f); err != nil {
		c.reject(f, err.(*diameter.ProtocolError), false)
		return
	}
	ans, err := c.ep.validator.Answer(f, diameter.ResultSuccess, c.ep.answerOptions(""))
	if err == nil {
		_ = c.write(ans)
	}
}

// handleDPR answers a Disconnect-Peer-Request, RFC 6733 §5.4: the answers of handlers
// still running go out first (bounded), then the DPA; the sender of the DPR closes the
// transport ("the receiver of the Disconnect-Peer-Answer initiates the transport
// disconnect"), and we close it ourselves when it has not after DisconnectTimeout.
func (c *conn) handleDPR(f []byte) {
	if err := c.ep.validator.Validate(f); err != nil {
		c.reject(f, err.(*diameter.ProtocolError), false)
		return
	}
	c.mu.Lock()
	if c.state != stateClosed {
		c.state = stateClosing
	}
	host := c.info.OriginHost
	c.mu.Unlock()
	c.log.Info("diameter peer: DPR received", "peer", host)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.ep.tun.DisconnectTimeout)
		defer cancel()
		_ = c.handlers.wait(ctx)
		if ans, err := c.ep.validator.Answer(f, diameter.ResultSuccess, c.ep.answerOptions("")); err == nil {
			_ = c.write(ans)
		}
		select {
		case <-c.closed:
		case <-ctx.Done():
			c.close(errors.New("peer did not close after DPA"))
		}
	}()
}

// disconnect sends a DPR with cause and waits for the DPA (bounded by ctx), then closes,
// RFC 6733 §5.4.
func (c *conn) disconnect(ctx context.Context, cause int32) error {
	c.mu.Lock()
	st := c.state
	if st == stateOpen {
		c.state = stateClosing
	}
	c.mu.Unlock()
	if st != stateOpen {
		c.close(errors.New("disconnected"))
		return nil
	}
	m := diam.NewRequest(diameter.CmdDisconnectPeer, diameter.AppIDBase, c.ep.dict)
	m.Header.EndToEndID = c.ep.nextE2E()
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, diamIdentity(c.ep.id.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, diamIdentity(c.ep.id.OriginRealm))
	m.NewAVP(avp.DisconnectCause, avp.Mbit, 0, enumerated(cause))
	f, err := m.Serialize()
	if err == nil {
		_, err = c.roundTrip(ctx, f, true)
	}
	c.close(errors.New("disconnected"))
	if err != nil {
		return fmt.Errorf("peer: DPR to %s: %w", remoteString(c.nc), err)
	}
	return nil
}

// serveRequest runs the handler of one application request.
func (c *conn) serveRequest(f []byte, app, code uint32) {
	defer c.release()
	h := c.ep.handler(app, code)
	if h.frame != nil {
		c.serveFrame(h.frame, f, app, code)
		return
	}
	req, err := c.ep.validator.Decode(f)
	var perr *diameter.ProtocolError
	switch {
	case errors.As(err, &perr):
		c.reject(f, perr, false)
		return
	case err != nil:
		c.log.Error("diameter peer: decode failed on a validated request", "error", err)
		c.unable(f, "cannot decode the request")
		return
	}
	if h.msg == nil {
		c.reject(f, &diameter.ProtocolError{ResultCode: diameter.ResultCommandUnsupported,
			Reason: fmt.Sprintf("no handler for command %d of application %d", code, app)}, false)
		return
	}
	ans, err := c.invoke(h.msg, req)
	if !c.handled(f, app, code, ans != nil, err) {
		return
	}
	c.complete(req, ans)
	bp := c.ep.frames.get()
	b, err := serialize(ans, *bp)
	if err != nil {
		c.log.Error("diameter peer: cannot encode the answer", "application", app, "command", code, "error", err)
		c.unable(f, "cannot encode the answer")
		return
	}
	_ = c.write(b)
	c.ep.frames.put(bp, b)
}

// serveFrame runs a FrameHandler on request f: validate (the same checks as the message
// path, without go-diameter's decode), answer, fix the answer's header (see
// FrameHandler), write.
func (c *conn) serveFrame(h FrameHandler, f []byte, app, code uint32) {
	if err := c.ep.validator.Validate(f); err != nil {
		var perr *diameter.ProtocolError
		if errors.As(err, &perr) {
			c.reject(f, perr, false)
		} else {
			c.unable(f, "cannot validate the request")
		}
		return
	}
	bp := c.ep.frames.get()
	ans, err := c.invokeFrame(h, f, (*bp)[:0])
	if !c.handled(f, app, code, ans != nil, err) {
		c.ep.frames.put(bp, *bp)
		return
	}
	if len(ans) < diam.HeaderLength || len(ans) > 1<<24-1 {
		c.log.Error("diameter peer: handler returned a frame of a bad size", "application", app, "command", code, "octets", len(ans))
		c.ep.frames.put(bp, *bp)
		c.unable(f, "unable to comply")
		return
	}
	// RFC 6733 §3, §6.2: the answer carries the request's ids, command and application and
	// its P flag; R and T cleared.
	n := len(ans)
	ans[0] = 1
	ans[1], ans[2], ans[3] = byte(n>>16), byte(n>>8), byte(n)
	ans[4] = ans[4]&^(diam.RequestFlag|diam.ProxiableFlag|diam.RetransmittedFlag) | f[4]&diam.ProxiableFlag
	copy(ans[5:20], f[5:20])
	_ = c.write(ans)
	c.ep.frames.put(bp, ans)
}

// handled maps a handler's outcome to the error answer it calls for: false when the
// request has been answered (or dropped) here.
func (c *conn) handled(f []byte, app, code uint32, answered bool, err error) bool {
	var perr *diameter.ProtocolError
	switch {
	case errors.As(err, &perr):
		c.reject(f, perr, false)
		return false
	case err != nil:
		c.log.Error("diameter peer: handler failed", "peer", c.peerInfo().OriginHost,
			"application", app, "command", code, "error", err)
		c.unable(f, "unable to comply")
		return false
	case !answered:
		c.log.Error("diameter peer: handler returned no answer", "application", app, "command", code)
		c.unable(f, "unable to comply")
		return false
	}
	return true
}

// unable answers f DIAMETER_UNABLE_TO_COMPLY (5012, RFC 6733 §7.1.5).
func (c *conn) unable(f []byte, reason string) {
	c.reject(f, &diameter.ProtocolError{ResultCode: diameter.ResultUnableToComply, Reason: reason}, false)
}

// handlerPanic is a recovered handler panic.
type handlerPanic struct {
	value any
	stack []byte
}

func (p *handlerPanic) Error() string { return fmt.Sprintf("handler panicked: %v", p.value) }

func (c *conn) invoke(h Handler, req *diam.Message) (ans *diam.Message, err error) {
	defer c.recoverHandler(&err)
	return h(c.handlerContext(), req)
}

func (c *conn) invokeFrame(h FrameHandler, req, buf []byte) (ans []byte, err error) {
	defer c.recoverHandler(&err)
	return h(c.handlerContext(), req, buf)
}

func (c *conn) handlerContext() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hctx == nil { // not open: no peer identity yet
		return context.WithValue(c.ctx, peerInfoKey{}, c.info)
	}
	return c.hctx
}

// recoverHandler turns a handler panic into *err (a *handlerPanic), logged with its stack.
func (c *conn) recoverHandler(err *error) {
	if r := recover(); r != nil {
		p := &handlerPanic{value: r, stack: debug.Stack()}
		c.log.Error("diameter peer: handler panicked", "panic", fmt.Sprint(r), "stack", string(p.stack))
		*err = p
	}
}

// complete fills in what the handler's answer lacks (see Handler).
func (c *conn) complete(req, ans *diam.Message) {
	h := ans.Header
	h.Version = 1
	h.CommandCode = req.Header.CommandCode
	h.ApplicationID = req.Header.ApplicationID
	h.HopByHopID = req.Header.HopByHopID
	h.EndToEndID = req.Header.EndToEndID
	h.CommandFlags = h.CommandFlags&^(diam.RequestFlag|diam.ProxiableFlag|diam.RetransmittedFlag) |
		req.Header.CommandFlags&diam.ProxiableFlag
	has := func(code uint32) bool {
		for _, a := range ans.AVP {
			if a.Code == code && a.VendorID == 0 {
				return true
			}
		}
		return false
	}
	if !has(avp.SessionID) {
		for _, a := range req.AVP {
			if a.Code == avp.SessionID && a.VendorID == 0 {
				ans.InsertAVP(a)
				break
			}
		}
	}
	if !has(avp.OriginHost) {
		ans.NewAVP(avp.OriginHost, avp.Mbit, 0, diamIdentity(c.ep.id.OriginHost))
	}
	if !has(avp.OriginRealm) {
		ans.NewAVP(avp.OriginRealm, avp.Mbit, 0, diamIdentity(c.ep.id.OriginRealm))
	}
	h.MessageLength = uint32(ans.Len())
}
