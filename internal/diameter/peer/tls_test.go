package peer

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/testcert"
)

// The server takes any listener and the client any dial function: Diameter over TLS/TCP
// (RFC 6733 §2.1, §13) needs nothing else.
func TestTLSTransport(t *testing.T) {
	d := testDict(t)
	cert, pool := testcert.SelfSigned(t, hssHost)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	s := newTestServer(t, d, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, tln) }()
	t.Cleanup(func() { cancel(); <-done })

	cfg := clientConfig(t, d, ln.Addr().String())
	cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
		td := tls.Dialer{Config: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		return td.DialContext(ctx, "tcp", addr)
	}
	c := connect(t, cfg)
	a, err := c.Do(context.Background(), testMAR(d, "tls"))
	if err != nil || resultOf(t, a) != diameter.ResultSuccess || userOf(a) != "tls" {
		t.Fatalf("Do over TLS: %v %v", a, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
