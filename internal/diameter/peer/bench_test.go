package peer

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/opengba/opengba/internal/diameter"
)

// Echo benchmarks: one connection, 64 requests in flight, a handler that answers at once.
// BenchmarkGoDiameterEcho is the bare baseline (go-diameter's diam.Server with its default
// sequential dispatch, a diam.Dial client with a hop-by-hop map, no validation and no
// CER/CEA); BenchmarkPeerEcho is this package, which also validates every request and
// every answer. Compare ns/op of the two:
//
//	go test -run '^$' -bench 'Echo$' -benchtime 2s ./internal/diameter/peer/

const benchInFlight = 64

// runInFlight calls do b.N times from benchInFlight goroutines.
func runInFlight(b *testing.B, do func(i uint32) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range benchInFlight {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := do(uint32(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

func BenchmarkPeerEcho(b *testing.B) {
	d := testDict(b)
	s := newTestServer(b, d, nil)
	c := connect(b, clientConfig(b, d, startServer(b, s)))
	runInFlight(b, func(uint32) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a, err := c.Do(ctx, testMAR(d, "user"))
		if err != nil {
			return err
		}
		if rc, _ := resultCode(a); rc != diameter.ResultSuccess {
			return errors.New("not 2001")
		}
		return nil
	})
}

func BenchmarkGoDiameterEcho(b *testing.B) {
	d := testDict(b)
	srvMux := diam.NewServeMux()
	srvMux.HandleIdx(diam.CommandIndex{AppID: diameter.AppIDZh, Code: diameter.CmdMultimediaAuth, Request: true},
		diam.HandlerFunc(func(c diam.Conn, m *diam.Message) {
			a, _ := echo(context.Background(), m)
			if sid, err := m.FindAVP(avp.SessionID, 0); err == nil {
				a.InsertAVP(sid)
			}
			a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(hssHost))
			a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(realm))
			_, _ = a.WriteTo(c)
		}))
	srv := &diam.Server{Handler: srvMux, Dict: d}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	var pending sync.Map // hop-by-hop → chan *diam.Message
	cliMux := diam.NewServeMux()
	cliMux.HandleIdx(diam.CommandIndex{AppID: diameter.AppIDZh, Code: diameter.CmdMultimediaAuth, Request: false},
		diam.HandlerFunc(func(_ diam.Conn, m *diam.Message) {
			if ch, ok := pending.LoadAndDelete(m.Header.HopByHopID); ok {
				ch.(chan *diam.Message) <- m
			}
		}))
	conn, err := diam.Dial(ln.Addr().String(), cliMux, d)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	runInFlight(b, func(i uint32) error {
		m := testMAR(d, "user")
		m.Header.HopByHopID = i
		ch := make(chan *diam.Message, 1)
		pending.Store(i, ch)
		if _, err := m.WriteTo(conn); err != nil {
			return err
		}
		select {
		case a := <-ch:
			if rc, _ := resultCode(a); rc != diameter.ResultSuccess {
				return errors.New("not 2001")
			}
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("no answer")
		}
	})
}
