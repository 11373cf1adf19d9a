package hsssim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
)

// Zh throughput: one peer with 64 MARs in flight. BenchmarkZhMAR sends them to the Zh
// server (peer layer, validation, AnswerMAR with the durable SQLite store, Milenage,
// metrics); BenchmarkZhEchoBaseline sends them to a bare go-diameter echo (go-diameter's
// diam.Server answering each MAR at once, no validation, no CER/CEA). The client is the
// same in both: a go-diameter diam.Dial connection matching answers by Hop-by-Hop id and
// reading only their Result-Code, so the difference is the server.
// BenchmarkZhPeerEcho is the peer layer alone with a trivial handler. BenchmarkZhMARvsEcho
// runs all three in one benchmark and reports the throughput ratios:
//
//	go test -run '^$' -bench 'Zh' -benchtime 3s ./hss-sim/

const benchInFlight = 64

// benchSubscribers is how many IMPIs the load cycles through.
const benchSubscribers = 256

// inFlight calls do n times from benchInFlight goroutines.
func inFlight(n int, do func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for range benchInFlight {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := do(int(i)); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// rawClient is a go-diameter connection with a Hop-by-Hop id → answer map.
type rawClient struct {
	d       *dict.Parser
	conn    diam.Conn
	pending sync.Map // Hop-by-Hop id → chan *diam.Message
	hbh     atomic.Uint32
	impis   []string
}

func dialRaw(b *testing.B, d *dict.Parser, addr string) *rawClient {
	b.Helper()
	rc := &rawClient{d: d}
	deliver := diam.HandlerFunc(func(_ diam.Conn, m *diam.Message) {
		if ch, ok := rc.pending.LoadAndDelete(m.Header.HopByHopID); ok {
			ch.(chan *diam.Message) <- m
		}
	})
	mux := diam.NewServeMux()
	mux.HandleIdx(diam.CommandIndex{AppID: diameter.AppIDZh, Code: diameter.CmdMultimediaAuth, Request: false}, deliver)
	mux.HandleIdx(diam.CommandIndex{AppID: 0, Code: diam.CapabilitiesExchange, Request: false}, deliver)
	conn, err := diam.Dial(addr, mux, d)
	if err != nil {
		b.Fatal(err)
	}
	rc.conn = conn
	b.Cleanup(conn.Close)
	return rc
}

// roundTrip sends m and returns the Result-Code of its answer.
func (rc *rawClient) roundTrip(m *diam.Message) (uint32, error) {
	id := rc.hbh.Add(1)
	m.Header.HopByHopID = id
	ch := make(chan *diam.Message, 1)
	rc.pending.Store(id, ch)
	if _, err := m.WriteTo(rc.conn); err != nil {
		return 0, err
	}
	select {
	case a := <-ch:
		r, err := a.FindAVP(avp.ResultCode, 0)
		if err != nil {
			return 0, errors.New("answer without Result-Code")
		}
		return uint32(r.Data.(datatype.Unsigned32)), nil
	case <-time.After(10 * time.Second):
		return 0, errors.New("no answer")
	}
}

// cer runs the capabilities exchange (RFC 6733 §5.3) the Zh server insists on.
func (rc *rawClient) cer(b *testing.B) {
	b.Helper()
	m := diam.NewRequest(diam.CapabilitiesExchange, 0, rc.d)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(bsfHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(zhRealm))
	m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.IPv4(127, 0, 0, 1).To4()))
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("bench"))
	m.AddAVP(zhVSAI())
	if code, err := rc.roundTrip(m); err != nil || code != diameter.ResultSuccess {
		b.Fatalf("CEA: %d %v", code, err)
	}
}

func (rc *rawClient) mar(i int) error {
	m, err := testMARFor(rc.impis[i%len(rc.impis)], "").Message(rc.d)
	if err != nil {
		return err
	}
	code, err := rc.roundTrip(m)
	if err == nil && code != diameter.ResultSuccess {
		err = fmt.Errorf("Result-Code %d", code)
	}
	return err
}

func benchIMPIs() []string {
	impis := make([]string, benchSubscribers)
	for i := range impis {
		impis[i] = fmt.Sprintf("bench%04d@home1.net", i)
	}
	return impis
}

// newZhBench starts a Zh server on a SQLite store with benchSubscribers subscribers and
// connects a client.
func newZhBench(b *testing.B) *rawClient {
	b.Helper()
	s := set1(b)
	st, err := OpenSQLiteStore(context.Background(), StoreConfig{Backend: BackendSQLite, Path: filepath.Join(b.TempDir(), "hss.db")}, DefaultSQNConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	impis := benchIMPIs()
	subs := make([]*Subscriber, len(impis))
	for i, impi := range impis {
		subs[i] = &Subscriber{IMPI: impi, K: s.k, OPc: s.opc, AMF: s.amf}
	}
	if _, err := st.CreateBatch(context.Background(), subs); err != nil {
		b.Fatal(err)
	}
	// Production wiring: metrics on, crypto/rand, info-level logging discarded.
	z := startZh(b, ZhServerOptions{Store: st, Config: zhConfig(), Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.DiscardHandler)})
	rc := dialRaw(b, zhDict(b), zhAddr(b, z))
	rc.impis = impis
	rc.cer(b)
	return rc
}

// newEchoBench starts the bare go-diameter echo server and connects a client.
func newEchoBench(b *testing.B) *rawClient {
	b.Helper()
	d := zhDict(b)
	mux := diam.NewServeMux()
	mux.HandleIdx(diam.CommandIndex{AppID: diameter.AppIDZh, Code: diameter.CmdMultimediaAuth, Request: true},
		diam.HandlerFunc(func(c diam.Conn, m *diam.Message) {
			a := m.Answer(diameter.ResultSuccess)
			if sid, err := m.FindAVP(avp.SessionID, 0); err == nil {
				a.InsertAVP(sid)
			}
			a.AddAVP(zhVSAI())
			a.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(diameter.AuthSessionStateNoStateMaintained))
			a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(zhHost))
			a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(zhRealm))
			_, _ = a.WriteTo(c)
		}))
	srv := &diam.Server{Handler: mux, Dict: d}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	rc := dialRaw(b, d, ln.Addr().String())
	rc.impis = benchIMPIs()
	return rc
}

func BenchmarkZhMAR(b *testing.B) {
	zb := newZhBench(b)
	// The first vector of each IMPI commits its SQN reservation (an fsync); warm up so
	// that the measurement is the steady state.
	if err := inFlight(2*benchSubscribers, zb.mar); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := inFlight(b.N, zb.mar); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkZhEchoBaseline(b *testing.B) {
	eb := newEchoBench(b)
	b.ReportAllocs()
	b.ResetTimer()
	if err := inFlight(b.N, eb.mar); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkZhMARvsEcho measures, with the same number of requests in one run, the bare
// go-diameter echo, the peer-layer echo and the Zh server, and reports echo-ns/op,
// peer-echo-ns/op, ratio = Zh throughput / go-diameter echo throughput (the target is at
// least 0.5) and ratio-peer = Zh throughput / peer-layer echo throughput.
func BenchmarkZhMARvsEcho(b *testing.B) {
	zb := newZhBench(b)
	eb := newEchoBench(b)
	pb := newPeerEchoBench(b)
	// Warm all up (connections, SQLite pages, SQN reservations).
	for _, c := range []*rawClient{zb, eb, pb} {
		if err := inFlight(2*benchSubscribers, c.mar); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.StopTimer()
	timed := func(c *rawClient) time.Duration {
		start := time.Now()
		if err := inFlight(b.N, c.mar); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	echo := timed(eb)
	peerEcho := timed(pb)
	b.StartTimer()
	zh := timed(zb)
	b.StopTimer()
	b.ReportMetric(float64(echo.Nanoseconds())/float64(b.N), "echo-ns/op")
	b.ReportMetric(float64(peerEcho.Nanoseconds())/float64(b.N), "peer-echo-ns/op")
	b.ReportMetric(float64(echo)/float64(zh), "ratio")
	b.ReportMetric(float64(peerEcho)/float64(zh), "ratio-peer")
}

// newPeerEchoBench starts the server stack of the Zh server (peer.Server: CER/CEA,
// validation, concurrent handlers) with a MAR handler that answers at once with a fixed
// MAA, without store or Milenage, and connects a client: the ceiling the peer layer sets.
func newPeerEchoBench(b *testing.B) *rawClient {
	b.Helper()
	d := zhDict(b)
	srv, err := peer.NewServer(peer.ServerConfig{
		Identity:     peer.Identity{OriginHost: zhHost, OriginRealm: zhRealm, ProductName: ProductName},
		Applications: []peer.Application{{ID: diameter.AppIDZh, VendorID: diameter.VendorID3GPP}},
		Dictionary:   d,
	})
	if err != nil {
		b.Fatal(err)
	}
	srv.Handle(diameter.AppIDZh, diameter.CmdMultimediaAuth, func(_ context.Context, req *diam.Message) (*diam.Message, error) {
		maa := &diameter.MAA{SessionID: "x", OriginHost: zhHost, OriginRealm: zhRealm, ResultCode: diameter.ResultSuccess}
		return maa.Message(d)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = srv.Serve(ctx, ln) }()
	b.Cleanup(func() { _ = srv.Close(); cancel() })
	rc := dialRaw(b, d, ln.Addr().String())
	rc.impis = benchIMPIs()
	rc.cer(b)
	return rc
}

func BenchmarkZhPeerEcho(b *testing.B) {
	rc := newPeerEchoBench(b)
	b.ReportAllocs()
	b.ResetTimer()
	if err := inFlight(b.N, rc.mar); err != nil {
		b.Fatal(err)
	}
}
