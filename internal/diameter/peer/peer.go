// Package peer implements the Diameter peer connection layer of RFC 6733 §5 (capabilities
// exchange, watchdog, disconnect) over any net.Conn, with go-diameter as the codec only.
//
// A Server accepts connections from any net.Listener (TCP, TLS, SCTP), answers CER, DWR
// and DPR itself, validates every request against the dictionary grammar
// (diameter.Validator) and runs the request handlers concurrently on reused worker
// goroutines; writes are serialised per connection and batched (frames that queue up while
// one is written go out together: one vectored write on TCP, one Write of the joined
// frames on any other net.Conn). A Client keeps one connection to the first reachable of several
// servers, with CER/CEA before any request, a DWR watchdog, failover and reconnection
// with bounded exponential backoff, and Do matching answers by Hop-by-Hop Identifier.
//
// One bad frame never takes a connection down: a frame whose header is readable gets the
// validation answer and the next frame is read; only a stream that cannot be framed any
// more (Message Length below 20 or above MaxMessageSize) is closed.
package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
)

// Errors of the peer layer.
var (
	// ErrNoPeer reports that no open connection was available, or that it was lost before
	// the answer arrived.
	ErrNoPeer = errors.New("peer: no open connection")
	// ErrTimeout reports that the context deadline passed before the answer arrived.
	ErrTimeout = errors.New("peer: timeout")
	// ErrClosed reports use of a closed Client.
	ErrClosed = errors.New("peer: client closed")
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("peer: server closed")
	// ErrInvalidAnswer wraps the *diameter.ProtocolError of an answer that failed validation.
	ErrInvalidAnswer = errors.New("peer: invalid answer")
	// ErrInvalidRequest wraps the *diameter.ProtocolError of a request Do refused to send.
	ErrInvalidRequest = errors.New("peer: invalid request")
	// ErrFraming reports a stream that cannot be framed: the connection is closed.
	ErrFraming = errors.New("peer: unframeable stream")
)

// CapabilitiesError reports a failed capabilities exchange, RFC 6733 §5.3.
type CapabilitiesError struct {
	Addr       string // the server address dialled
	ResultCode uint32 // Result-Code of the CEA (2001 when the failure is ours)
	Reason     string
}

func (e *CapabilitiesError) Error() string {
	return fmt.Sprintf("peer: capabilities exchange with %s: result %d: %s", e.Addr, e.ResultCode, e.Reason)
}

// Application is a Diameter application a node serves, RFC 6733 §2.4.
type Application struct {
	// ID is the Auth-Application-Id (16777221 for Zh, 16777220 for Zn).
	ID uint32
	// VendorID, when not 0, makes the application vendor-specific: it is advertised as
	// Vendor-Specific-Application-Id {Vendor-Id, Auth-Application-Id} with a
	// Supported-Vendor-Id, TS 29.109 §5.1 and RFC 6733 §5.3.1. When 0 it is advertised
	// as Auth-Application-Id.
	VendorID uint32
}

// Identity is what a node says about itself in CER and CEA, RFC 6733 §5.3.1 and §5.3.2.
type Identity struct {
	OriginHost  string // RFC 6733 §6.3
	OriginRealm string // RFC 6733 §6.4
	// HostIPAddresses are advertised as Host-IP-Address; when empty the local address of
	// each connection is used (RFC 6733 §5.3.1 asks SCTP users to list every address).
	HostIPAddresses  []netip.Addr
	VendorID         uint32 // RFC 6733 §5.3.3
	ProductName      string // RFC 6733 §5.3.7
	FirmwareRevision uint32 // RFC 6733 §5.3.4; 0: not sent
	OriginStateID    uint32 // RFC 6733 §8.16; 0: not sent
}

func (id *Identity) validate() error {
	switch {
	case id.OriginHost == "":
		return errors.New("OriginHost is empty")
	case id.OriginRealm == "":
		return errors.New("OriginRealm is empty")
	case id.ProductName == "":
		return errors.New("ProductName is empty")
	}
	for _, a := range id.HostIPAddresses {
		if !a.IsValid() {
			return errors.New("HostIPAddresses holds an invalid address")
		}
	}
	return nil
}

// Handler answers one request. The peer layer fills in what the answer lacks: Command
// Code, Application-Id, Hop-by-Hop and End-to-End ids and the P flag of the request
// (RFC 6733 §6.2), R cleared, Session-Id of the request first (RFC 6733 §8.8), Origin-Host
// and Origin-Realm of this node. A handler may run concurrently with others, also for the
// same connection. ctx ends when the connection closes and carries the PeerInfo of the
// connection the request arrived on (PeerFromContext).
//
// Returning an error that wraps a *diameter.ProtocolError answers with its Result-Code
// and Failed-AVP; any other error, a nil answer or a panic answers
// DIAMETER_UNABLE_TO_COMPLY (5012, RFC 6733 §7.1.5) and the connection stays up.
type Handler func(ctx context.Context, req *diam.Message) (*diam.Message, error)

// FrameHandler answers one request given as its frame, for the hot paths that read and
// write the octets themselves instead of go-diameter's messages. The peer layer has
// validated req against the command grammar (diameter.Validator.Validate: header, AVP
// lengths and types, RFC 6733 §3, §4 and §7.1) but not decoded it; req must not be kept
// after the handler returns (its buffer is reused). The handler appends the whole answer
// frame to buf (which it may use as scratch space; it may also return another slice) and
// returns it; the returned slice then belongs to the peer layer, which reuses it. The peer layer then sets Version 1, Message Length, Command Code,
// Application-Id, Hop-by-Hop and End-to-End ids and the P flag from the request, and clears
// R and T (RFC 6733 §3, §6.2); it adds no AVP: the answer must carry Session-Id,
// Origin-Host and Origin-Realm itself. Context and errors are as for Handler.
type FrameHandler func(ctx context.Context, req, buf []byte) ([]byte, error)

// route is what the server runs for one command: exactly one of msg and frame is set.
type route struct {
	msg   Handler
	frame FrameHandler
}

// peerInfoKey keys the PeerInfo in a handler's context.
type peerInfoKey struct{}

// PeerFromContext returns the PeerInfo of the connection a request arrived on: the identity
// the peer announced in its CER (RFC 6733 §5.3). A handler uses it to check that a request's
// Origin-Host is the peer's own, where no Diameter agent sits in between.
func PeerFromContext(ctx context.Context) (PeerInfo, bool) {
	p, ok := ctx.Value(peerInfoKey{}).(PeerInfo)
	return p, ok
}

// PeerInfo describes an open peer connection (capabilities exchange done).
type PeerInfo struct {
	OriginHost   string
	OriginRealm  string
	ProductName  string
	Applications []uint32 // applications in common, RFC 6733 §5.3
	RemoteAddr   string
	ConnectedAt  time.Time
}

// Defaults of the tunables.
const (
	DefaultMaxMessageSize    = 64 << 10
	DefaultMaxConcurrent     = 256
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultDisconnectTimeout = 5 * time.Second
	// DefaultWatchdogInterval is Tw, RFC 3539 §3.4.1.
	DefaultWatchdogInterval = 30 * time.Second
	DefaultConnectTimeout   = 5 * time.Second
	DefaultBackoffMin       = 100 * time.Millisecond
	DefaultBackoffMax       = 30 * time.Second
)

// Tunables shared by Server and Client; zero values take the defaults.
type Tunables struct {
	// MaxMessageSize caps the Message Length accepted (default 64 KiB); a longer frame
	// closes the connection since it cannot be skipped safely.
	MaxMessageSize int
	// MaxConcurrent bounds the request handlers running at once (default 256); when all
	// are busy the connection is not read, which pushes back on the peer.
	MaxConcurrent int
	// HandshakeTimeout bounds the wait for the CER (server) or the CEA (client).
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one write; a peer that does not read is disconnected.
	WriteTimeout time.Duration
	// DisconnectTimeout bounds the DPR/DPA exchange and the wait for the peer to close.
	DisconnectTimeout time.Duration
}

func (t Tunables) withDefaults() Tunables {
	if t.MaxMessageSize <= 0 {
		t.MaxMessageSize = DefaultMaxMessageSize
	}
	if t.MaxConcurrent <= 0 {
		t.MaxConcurrent = DefaultMaxConcurrent
	}
	if t.HandshakeTimeout <= 0 {
		t.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if t.WriteTimeout <= 0 {
		t.WriteTimeout = DefaultWriteTimeout
	}
	if t.DisconnectTimeout <= 0 {
		t.DisconnectTimeout = DefaultDisconnectTimeout
	}
	return t
}

func (t Tunables) validate() error {
	if t.MaxMessageSize != 0 && (t.MaxMessageSize < 20 || t.MaxMessageSize > 1<<24-1) {
		return errors.New("MaxMessageSize outside [20, 2^24-1]")
	}
	return nil
}

// remoteString is the remote address of a connection for logs.
func remoteString(nc net.Conn) string {
	if a := nc.RemoteAddr(); a != nil {
		return a.String()
	}
	return "?"
}
