// Package uetest provides in-process stand-ins for the network side of 3GPP GBA (a BSF
// per TS 24.109 §A.3 and a NAF per TS 24.109 §5.2) for testing code that uses package
// ue, much as net/http/httptest does for HTTP. The stand-ins are written from the specs,
// keep all state in memory, log nothing and are not for production.
package uetest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// ErrUnknownBTID is returned by BSF.NAFKey for a B-TID that is unknown or expired
// (Zn 5403, TS 29.109 §6.3.3).
var ErrUnknownBTID = errors.New("uetest: unknown or expired B-TID")

// Clock is a manual clock safe for concurrent use. Pass its Now method to the stand-ins
// and to ue.Config.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the current reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// repeatReader cycles over a seed; safe for concurrent use.
type repeatReader struct {
	mu   sync.Mutex
	seed []byte
	off  int
}

// RepeatReader returns a deterministic io.Reader that yields seed over and over, for
// RAND and cnonce sources in reproducible tests. It is safe for concurrent use.
func RepeatReader(seed []byte) io.Reader {
	if len(seed) == 0 {
		seed = []byte{0}
	}
	return &repeatReader{seed: append([]byte(nil), seed...)}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p {
		p[i] = r.seed[r.off]
		r.off = (r.off + 1) % len(r.seed)
	}
	return len(p), nil
}

// Network is a small in-process internet: each host name is served by an
// httptest.Server and Client dials by name, so tests and examples can use URLs such as
// http://bsf.home1.net. The port in the URL is ignored.
type Network struct {
	mu      sync.Mutex
	servers map[string]*httptest.Server
}

// NewNetwork returns an empty Network.
func NewNetwork() *Network { return &Network{servers: make(map[string]*httptest.Server)} }

// Handle serves host with h (HTTP, no TLS) and returns the server.
func (n *Network) Handle(host string, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	n.mu.Lock()
	n.servers[strings.ToLower(host)] = s
	n.mu.Unlock()
	return s
}

// Client returns an HTTP client whose connections to the network's host names reach
// their servers. Other names fail to resolve.
func (n *Network) Client() *http.Client {
	var d net.Dialer
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				n.mu.Lock()
				s, ok := n.servers[strings.ToLower(host)]
				n.mu.Unlock()
				if !ok {
					return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
				}
				return d.DialContext(ctx, network, s.Listener.Addr().String())
			},
		},
	}
}

// Close shuts every server down.
func (n *Network) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.servers {
		s.Close()
	}
}

// readBody reads at most limit octets of a request body, which may be nil on requests
// built for a client.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, limit))
}
