package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/internal/diameter"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	Identity
	// Applications served; only these are advertised in the CEA.
	Applications []Application
	// AllowedPeers are the Origin-Hosts accepted in a CER; empty accepts any peer.
	// Others get DIAMETER_UNKNOWN_PEER (3010), RFC 6733 §5.3.
	AllowedPeers []string
	// Dictionary is diameter.NewDictionary() (shared, read-only).
	Dictionary *dict.Parser
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	Tunables
}

type handlerKey struct{ app, code uint32 }

// Server is the responder side of the Diameter peer protocol, RFC 6733 §5.
type Server struct {
	ep *endpoint

	hmu      sync.Mutex                           // serialises Handle
	handlers atomic.Pointer[map[handlerKey]route] // copied on write: read by every request without a lock

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	stopping  atomic.Bool
	serving   tracker // connection goroutines
}

// NewServer checks cfg and returns a Server; register handlers, then Serve.
func NewServer(cfg ServerConfig) (*Server, error) {
	ep, err := newEndpoint(cfg.Identity, cfg.Applications, cfg.AllowedPeers, cfg.Dictionary, cfg.Logger, cfg.Tunables)
	if err != nil {
		return nil, fmt.Errorf("peer: server config: %w", err)
	}
	s := &Server{
		ep:        ep,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
	s.handlers.Store(&map[handlerKey]route{})
	ep.handler = s.handler
	ep.stopping = s.stopping.Load
	return s, nil
}

// Handle registers h for requests of command code in application app. Requests of a
// served application without a handler are answered DIAMETER_COMMAND_UNSUPPORTED (3001).
func (s *Server) Handle(app, code uint32, h Handler) { s.route(app, code, route{msg: h}) }

// HandleFrame registers h, which reads and writes frames (see FrameHandler), for requests
// of command code in application app, in place of a Handler.
func (s *Server) HandleFrame(app, code uint32, h FrameHandler) {
	s.route(app, code, route{frame: h})
}

func (s *Server) route(app, code uint32, r route) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	m := maps.Clone(*s.handlers.Load())
	m[handlerKey{app, code}] = r
	s.handlers.Store(&m)
}

func (s *Server) handler(app, code uint32) route {
	return (*s.handlers.Load())[handlerKey{app, code}]
}

// Serve accepts connections on ln until ctx ends (it then closes ln and the connections
// it accepted, and returns ctx's error) or until Shutdown or Close (ErrServerClosed). ln
// may be any transport: TCP, TLS, SCTP. Handlers' contexts derive from ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			switch {
			case s.stopping.Load():
				return ErrServerClosed
			case ctx.Err() != nil:
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.ep.log.Warn("diameter peer: accept failed, retrying", "error", err, "delay", delay)
				select {
				case <-time.After(delay):
					continue
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return fmt.Errorf("peer: accept: %w", err)
		}
		delay = 0
		s.serveConn(ctx, nc)
	}
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	c := newConn(ctx, s.ep, nc)
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.serving.add()
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { c.close(ctx.Err()) })
	_ = nc.SetReadDeadline(time.Now().Add(s.ep.tun.HandshakeTimeout))
	go func() {
		defer s.serving.done()
		defer stop()
		c.readLoop()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Peers lists the peers with an open connection (capabilities exchanged), for metrics.
func (s *Server) Peers() []PeerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PeerInfo
	for c := range s.conns {
		c.mu.Lock()
		if c.state == stateOpen {
			out = append(out, c.info)
		}
		c.mu.Unlock()
	}
	return out
}

func (s *Server) stop() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping.Store(true)
	for ln := range s.listeners {
		_ = ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

// Shutdown stops accepting connections, refuses new requests (DIAMETER_TOO_BUSY, so the
// peers turn to an alternate server, RFC 6733 §7.1.3), waits for the handlers in flight,
// sends a DPR (Disconnect-Cause REBOOTING) to every open peer and waits for the DPAs
// (RFC 6733 §5.4), then closes every connection. When ctx ends first the remaining
// connections are closed at once and ctx's error is returned; otherwise the error joins
// the DPR exchanges that got no DPA (their connections are closed as well).
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.stop()
	err := s.ep.handlers.wait(ctx)
	var (
		wg      sync.WaitGroup
		dmu     sync.Mutex
		dprErrs []error
	)
	for _, c := range conns {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, s.ep.tun.DisconnectTimeout)
			defer cancel()
			if derr := c.disconnect(dctx, diameter.DisconnectCauseRebooting); derr != nil {
				c.log.Warn("diameter peer: no DPA", "peer", c.peerInfo().OriginHost, "error", derr)
				dmu.Lock()
				dprErrs = append(dprErrs, derr)
				dmu.Unlock()
			}
		})
	}
	wg.Wait()
	if werr := s.serving.wait(ctx); err == nil {
		err = werr
	}
	if err != nil {
		for _, c := range s.stop() {
			c.close(err)
		}
		return fmt.Errorf("peer: shutdown: %w", err)
	}
	return errors.Join(dprErrs...)
}

// Close closes the listeners and every connection at once, without DPR.
func (s *Server) Close() error {
	for _, c := range s.stop() {
		c.close(ErrServerClosed)
	}
	return nil
}
