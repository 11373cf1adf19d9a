package peer

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/diameter"
)

// FuzzServerStream feeds a server connection a valid CER followed by arbitrary bytes: the
// framing and dispatch code (readFrame, Validate, the base protocol handlers) must never
// panic, whatever the stream holds, and the connection must end when the stream does.
func FuzzServerStream(f *testing.F) {
	d := testDict(f)
	quiet := func(c *ServerConfig) {
		c.Logger = nil
		c.HandshakeTimeout = time.Second
		c.DisconnectTimeout = 50 * time.Millisecond
	}
	// The same stream goes to a server answering the MAR with a Handler (go-diameter's
	// decode) and to one answering it with a FrameHandler (the frame path).
	s := newTestServer(f, d, quiet)
	sf := newTestServer(f, d, quiet)
	sf.HandleFrame(diameter.AppIDZh, diameter.CmdMultimediaAuth, frameEcho(d))
	cer := cerBytes(f, d, bsfHost, zh)
	mar := marBytes(f, d, "fuzz")
	f.Add(mar)
	f.Add(append(append([]byte{}, mar...), mar...))
	f.Add(baseRequest(f, d, diameter.CmdDeviceWatchdog))
	f.Add(baseRequest(f, d, diameter.CmdDisconnectPeer))
	f.Add(cer)
	for _, mut := range []func([]byte){
		func(b []byte) { b[0] = 2 },
		func(b []byte) { b[4] &^= 0x40 },
		func(b []byte) { binary.BigEndian.PutUint32(b[8:12], 4) },
		func(b []byte) { b[25] = 0xff },
		func(b []byte) { b[3] = 0x10 },
	} {
		b := append([]byte{}, mar...)
		mut(b)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		for _, s := range []*Server{s, sf} {
			client, server := net.Pipe()
			s.serveConn(context.Background(), server)
			drained := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, client)
				close(drained)
			}()
			_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_, _ = client.Write(cer)
			_, _ = client.Write(stream)
			_ = client.Close()
			<-drained
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := s.serving.wait(ctx)
			cancel()
			if err != nil {
				t.Fatalf("connection goroutine still running: %v", err)
			}
		}
	})
}
