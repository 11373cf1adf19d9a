package peer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// recordingConn is a wrapped net.Conn (no vectored writes) that records every Write call,
// blocking the first ones until release is closed so that writes pile up; fail makes
// every Write fail.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	writes  [][]byte
	release chan struct{}
	fail    error
}

func (r *recordingConn) Write(b []byte) (int, error) {
	<-r.release
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, bytes.Clone(b))
	return len(b), nil
}

func (r *recordingConn) SetWriteDeadline(time.Time) error { return nil }
func (r *recordingConn) Close() error                     { return nil }
func (r *recordingConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

func newWriterConn(t *testing.T, nc net.Conn) *conn {
	t.Helper()
	cfg := serverConfig(t, testDict(t))
	ep, err := newEndpoint(cfg.Identity, cfg.Applications, nil, cfg.Dictionary, cfg.Logger, cfg.Tunables)
	if err != nil {
		t.Fatal(err)
	}
	return newConn(context.Background(), ep, nc)
}

// TestWriteBatchesInOrder: concurrent writes all go out; on a wrapped connection (no
// vectored writes) the frames that queued up go out joined in one Write call, whole
// frames only; each caller's frame is written when write returns, and a caller's frames
// in the order it wrote them.
func TestWriteBatchesInOrder(t *testing.T) {
	rc := &recordingConn{release: make(chan struct{})}
	c := newWriterConn(t, rc)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				f := make([]byte, 8)
				binary.BigEndian.PutUint32(f[0:4], uint32(w))
				binary.BigEndian.PutUint32(f[4:8], uint32(i))
				if err := c.write(f); err != nil {
					t.Error(err)
					return
				}
				clear(f) // written: the caller may reuse it
			}
		})
	}
	time.AfterFunc(20*time.Millisecond, func() { close(rc.release) })
	wg.Wait()
	if len(rc.writes) >= writers*each {
		t.Errorf("%d Write calls for %d frames: nothing was batched", len(rc.writes), writers*each)
	}
	next := make([]uint32, writers)
	frames := 0
	for _, b := range rc.writes {
		if len(b)%8 != 0 {
			t.Fatalf("a Write call of %d octets: not whole frames", len(b))
		}
		for ; len(b) > 0; b = b[8:] {
			w, i := binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8])
			if w >= writers || i != next[w] {
				t.Fatalf("frame %d of writer %d out of order (want %d)", i, w, next[w])
			}
			next[w]++
			frames++
		}
	}
	if frames != writers*each {
		t.Fatalf("%d frames written, want %d", frames, writers*each)
	}
}

// TestWriteFailureReachesEveryWriter: a failed write fails the frames queued behind it,
// later writes fail at once, and the connection is closed.
func TestWriteFailureReachesEveryWriter(t *testing.T) {
	rc := &recordingConn{release: make(chan struct{}), fail: errors.New("broken pipe")}
	c := newWriterConn(t, rc)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() { errs <- c.write([]byte{1, 2, 3, 4}) })
	}
	time.AfterFunc(20*time.Millisecond, func() { close(rc.release) })
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Fatal("a write into a broken connection succeeded")
		}
	}
	if err := c.write([]byte{5, 6, 7, 8}); err == nil {
		t.Fatal("write after the failure succeeded")
	}
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed after a failed write")
	}
}

// TestWriteVectoredOnTCP: on a *net.TCPConn a batch goes out as one vectored write and
// arrives intact.
func TestWriteVectoredOnTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer s.Close()
		var all bytes.Buffer
		_, _ = all.ReadFrom(s)
		got <- all.Bytes()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newWriterConn(t, nc)
	var want []byte
	var batch [][]byte
	for i := range 100 {
		f := bytes.Repeat([]byte{byte(i)}, 4+i)
		want = append(want, f...)
		batch = append(batch, f)
	}
	if err := c.writeBatch(batch); err != nil {
		t.Fatal(err)
	}
	_ = nc.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("received %d octets, want %d", len(b), len(want))
	}
}
