package peer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/fiorix/go-diameter/v4/diam"
)

// Transports of a Diameter listener, RFC 6733 §2.1.
const (
	TransportTCP  = "tcp"
	TransportTLS  = "tls"  // TLS/TCP, RFC 6733 §2.1, §13.1
	TransportSCTP = "sctp" // RFC 6733 §2.1 (Linux only)
)

// ListenConfig is the listener set of a Diameter server.
type ListenConfig struct {
	// TCP are the addresses served over TCP, or over TLS/TCP when TLS is not nil.
	TCP []string
	// SCTP are the addresses served over SCTP.
	SCTP []string
	// TLS, when not nil, makes the TCP listeners TLS listeners: RFC 6733 §2.1, TLS starts
	// right after the connection is set up, before the CER.
	TLS *tls.Config
}

// Listener is an open listener of a Diameter server and the transport it serves.
type Listener struct {
	net.Listener
	// Transport is TransportTCP, TransportTLS or TransportSCTP.
	Transport string
}

// ListenError reports a listener that could not be opened. Its message is
// "listen <network> <address>: <cause>", for the caller to prefix.
type ListenError struct {
	Network string // "tcp" or "sctp"
	Address string
	Err     error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("listen %s %s: %v", e.Network, e.Address, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Listen opens every listener of cfg, the TCP (or TLS) ones first, in order. When one cannot
// be opened, those already open are closed and the *ListenError names its address.
func Listen(ctx context.Context, cfg ListenConfig) ([]Listener, error) {
	var lns []Listener
	fail := func(err error) ([]Listener, error) {
		for _, ln := range lns {
			_ = ln.Close()
		}
		return nil, err
	}
	var lc net.ListenConfig
	for _, addr := range cfg.TCP {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return fail(&ListenError{Network: "tcp", Address: addr, Err: err})
		}
		l := Listener{Listener: ln, Transport: TransportTCP}
		if cfg.TLS != nil {
			l = Listener{Listener: tls.NewListener(ln, cfg.TLS), Transport: TransportTLS}
		}
		lns = append(lns, l)
	}
	for _, addr := range cfg.SCTP {
		ln, err := diam.Listen("sctp", addr)
		if err != nil {
			return fail(&ListenError{Network: "sctp", Address: addr, Err: err})
		}
		lns = append(lns, Listener{Listener: ln, Transport: TransportSCTP})
	}
	return lns, nil
}

// ListenerAddr is one address a Diameter server listens on.
type ListenerAddr struct {
	Transport string // TransportTCP, TransportTLS or TransportSCTP
	Addr      net.Addr
}

// Addrs lists the transports and addresses of lns, in order (nil for none).
func Addrs(lns []Listener) []ListenerAddr {
	var out []ListenerAddr
	for _, ln := range lns {
		out = append(out, ListenerAddr{Transport: ln.Transport, Addr: ln.Addr()})
	}
	return out
}
