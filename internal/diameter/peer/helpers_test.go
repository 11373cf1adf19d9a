package peer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/testlog"
)

const (
	hssHost = "hss.example.org"
	bsfHost = "bsf.example.org"
	realm   = "example.org"
)

var zh = Application{ID: diameter.AppIDZh, VendorID: diameter.VendorID3GPP}

func testDict(tb testing.TB) *dict.Parser {
	tb.Helper()
	d, err := diameter.NewDictionary()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// testLogger logs to the test's output until the test has finished (connection goroutines
// may outlive it).
func testLogger(tb testing.TB) *slog.Logger { return testlog.New(tb) }

func serverConfig(tb testing.TB, d *dict.Parser) ServerConfig {
	return ServerConfig{
		Identity: Identity{OriginHost: hssHost, OriginRealm: realm, ProductName: "OpenGBA-HSS",
			VendorID: 0, FirmwareRevision: 1},
		Applications: []Application{zh},
		Dictionary:   d,
		Logger:       testLogger(tb),
		Tunables:     Tunables{DisconnectTimeout: 2 * time.Second},
	}
}

func clientConfig(tb testing.TB, d *dict.Parser, servers ...string) ClientConfig {
	return ClientConfig{
		Identity:     Identity{OriginHost: bsfHost, OriginRealm: realm, ProductName: "OpenGBA-BSF"},
		Applications: []Application{zh},
		Servers:      servers,
		Dictionary:   d,
		Logger:       testLogger(tb),
		BackoffMin:   10 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
		Tunables:     Tunables{DisconnectTimeout: 2 * time.Second},
	}
}

// startServer runs s on a fresh 127.0.0.1 listener until the test ends.
func startServer(tb testing.TB, s *Server) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		_ = s.Close()
		cancel()
		<-done
	})
	return ln.Addr().String()
}

func newTestServer(tb testing.TB, d *dict.Parser, mod func(*ServerConfig)) *Server {
	tb.Helper()
	cfg := serverConfig(tb, d)
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s.Handle(diameter.AppIDZh, diameter.CmdMultimediaAuth, echo)
	return s
}

func connect(tb testing.TB, cfg ClientConfig) *Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Connect(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func vsai(app uint32) *diam.AVP {
	return diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.VendorID3GPP)),
		diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(app)),
	}})
}

// testMAR is a well-formed MAR (TS 29.109 §6.1.1) for user.
func testMAR(d *dict.Parser, user string) *diam.Message {
	m := diam.NewMessage(diameter.CmdMultimediaAuth, diam.RequestFlag|diam.ProxiableFlag, diameter.AppIDZh, 0, 0, d)
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(bsfHost+";1;"+user))
	m.AddAVP(vsai(diameter.AppIDZh))
	m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(diameter.AuthSessionStateNoStateMaintained))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(bsfHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(realm))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(realm))
	m.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(user))
	return m
}

func marBytes(tb testing.TB, d *dict.Parser, user string) []byte {
	tb.Helper()
	b, err := testMAR(d, user).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// echo answers a MAR with 2001 and the AVPs the MAA grammar requires; the peer layer adds
// Session-Id, Origin-Host and Origin-Realm.
func echo(_ context.Context, req *diam.Message) (*diam.Message, error) {
	a := req.Answer(diameter.ResultSuccess)
	a.AddAVP(vsai(diameter.AppIDZh))
	a.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(diameter.AuthSessionStateNoStateMaintained))
	if u, err := req.FindAVP(avp.UserName, 0); err == nil {
		a.AddAVP(u)
	}
	return a, nil
}

// handlerFailure plays the handler failure the user name asks for: "panic" panics,
// "error" is a plain error, "nil" no answer and no error, "value" a protocol error (5004).
// failed is false for any other user.
func handlerFailure(user string) (failed bool, err error) {
	switch user {
	case "panic":
		panic("handler bug")
	case "error":
		return true, errors.New("database down")
	case "nil":
		return true, nil
	case "value":
		return true, fmt.Errorf("bad user: %w", &diameter.ProtocolError{ResultCode: diameter.ResultInvalidAVPValue, Reason: "user"})
	}
	return false, nil
}

func resultOf(tb testing.TB, m *diam.Message) uint32 {
	tb.Helper()
	rc, ok := resultCode(m)
	if !ok {
		tb.Fatalf("no Result-Code in %v", m)
	}
	return rc
}

func userOf(m *diam.Message) string {
	a, err := m.FindAVP(avp.UserName, 0)
	if err != nil {
		return ""
	}
	return avpString(a)
}

// rawPeer speaks Diameter byte by byte, to send what a well-behaved client would not.
type rawPeer struct {
	tb  testing.TB
	nc  net.Conn
	br  *bufio.Reader
	d   *dict.Parser
	hbh uint32
}

func dialRaw(tb testing.TB, addr string, d *dict.Parser) *rawPeer {
	tb.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = nc.Close() })
	return &rawPeer{tb: tb, nc: nc, br: bufio.NewReader(nc), d: d, hbh: 1000}
}

func (r *rawPeer) send(f []byte) uint32 {
	r.tb.Helper()
	r.hbh++
	binary.BigEndian.PutUint32(f[12:16], r.hbh)
	if _, err := r.nc.Write(f); err != nil {
		r.tb.Fatal(err)
	}
	return r.hbh
}

func (r *rawPeer) recvErr() ([]byte, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var pre [4]byte
	if _, err := io.ReadFull(r.br, pre[:]); err != nil {
		return nil, err
	}
	n := int(pre[1])<<16 | int(pre[2])<<8 | int(pre[3])
	if n < 20 {
		return nil, errors.New("short frame")
	}
	f := make([]byte, n)
	copy(f, pre[:])
	_, err := io.ReadFull(r.br, f[4:])
	return f, err
}

func (r *rawPeer) recv() []byte {
	r.tb.Helper()
	f, err := r.recvErr()
	if err != nil {
		r.tb.Fatalf("read: %v", err)
	}
	return f
}

// recvMsg reads one frame and decodes it.
func (r *rawPeer) recvMsg() *diam.Message {
	r.tb.Helper()
	return r.decodeFrame(r.recv())
}

func (r *rawPeer) decodeFrame(f []byte) *diam.Message {
	r.tb.Helper()
	m, err := diam.ReadMessage(bytes.NewReader(f), r.d)
	if err != nil {
		r.tb.Fatalf("decode: %v", err)
	}
	return m
}

// expectClosed checks that the other side closes the connection.
func (r *rawPeer) expectClosed() {
	r.tb.Helper()
	for {
		_, err := r.recvErr()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.tb.Fatal("connection still open")
		}
		return
	}
}

func cerBytes(tb testing.TB, d *dict.Parser, host string, apps ...Application) []byte {
	tb.Helper()
	ep, err := newEndpoint(Identity{OriginHost: host, OriginRealm: realm, ProductName: "raw"}, apps, nil, d, nil, Tunables{})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := ep.cer(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// handshake sends a CER for Zh and checks the CEA.
func (r *rawPeer) handshake() *diam.Message {
	r.tb.Helper()
	r.send(cerBytes(r.tb, r.d, bsfHost, zh))
	cea := r.recvMsg()
	if rc := resultOf(r.tb, cea); rc != diameter.ResultSuccess {
		r.tb.Fatalf("CEA Result-Code %d", rc)
	}
	return cea
}

func baseRequest(tb testing.TB, d *dict.Parser, code uint32, avps ...*diam.AVP) []byte {
	tb.Helper()
	m := diam.NewRequest(code, 0, d)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(bsfHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(realm))
	for _, a := range avps {
		m.AddAVP(a)
	}
	b, err := m.Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fakeServer accepts connections on 127.0.0.1 and hands each to serve.
func fakeServer(tb testing.TB, serve func(r *rawPeer)) (addr string, ln net.Listener) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			tb.Cleanup(func() { _ = nc.Close() })
			r := &rawPeer{tb: tb, nc: nc, br: bufio.NewReader(nc), d: testDict(tb)}
			wg.Go(func() { serve(r) })
		}
	})
	return ln.Addr().String(), ln
}

// answerTo builds a success answer to request frame f from a fake server.
func answerTo(tb testing.TB, d *dict.Parser, f []byte, extra ...*diam.AVP) []byte {
	tb.Helper()
	v, err := diameter.NewValidator(d, diameter.AppIDZh)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := v.Answer(f, diameter.ResultSuccess, diameter.AnswerOptions{OriginHost: "fake.example.org", OriginRealm: realm, Extra: extra})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fakeCEA answers the CER f like a Zh server would.
func fakeCEA(tb testing.TB, d *dict.Parser, f []byte) []byte {
	return answerTo(tb, d, f,
		diam.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.IPv4(127, 0, 0, 1).To4())),
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0)),
		diam.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("fake")),
		vsai(diameter.AppIDZh))
}

// serveBase answers DWR and DPR (calling onDWR for each DWR) until the connection ends.
func (r *rawPeer) serveBase(d *dict.Parser, onDWR func()) {
	for {
		f, err := r.recvErr()
		if err != nil {
			return
		}
		switch binary.BigEndian.Uint32(f[4:8]) & 0xffffff {
		case diameter.CmdDeviceWatchdog:
			_, _ = r.nc.Write(answerTo(r.tb, d, f))
			if onDWR != nil {
				onDWR()
			}
		case diameter.CmdDisconnectPeer:
			_, _ = r.nc.Write(answerTo(r.tb, d, f))
		}
	}
}
