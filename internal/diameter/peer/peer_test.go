package peer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/opengba/opengba/internal/diameter"
)

// capabilities summarises the applications of a CER or CEA.
type capabilities struct {
	auth, acct      []uint32
	vsai            [][2]uint32 // {Vendor-Id, Auth-Application-Id}
	supportedVendor []uint32
	hostIPs         int
}

func capabilitiesOf(m *diam.Message) capabilities {
	var c capabilities
	for _, a := range m.AVP {
		switch a.Code {
		case avp.AuthApplicationID:
			v, _ := avpUnsigned32(a)
			c.auth = append(c.auth, v)
		case avp.AcctApplicationID:
			v, _ := avpUnsigned32(a)
			c.acct = append(c.acct, v)
		case avp.SupportedVendorID:
			v, _ := avpUnsigned32(a)
			c.supportedVendor = append(c.supportedVendor, v)
		case avp.HostIPAddress:
			c.hostIPs++
		case avp.VendorSpecificApplicationID:
			var pair [2]uint32
			for _, in := range a.Data.(*diam.GroupedAVP).AVP {
				v, _ := avpUnsigned32(in)
				switch in.Code {
				case avp.VendorID:
					pair[0] = v
				case avp.AuthApplicationID:
					pair[1] = v
				}
			}
			c.vsai = append(c.vsai, pair)
		}
	}
	return c
}

func checkOnlyZh(t *testing.T, what string, c capabilities) {
	t.Helper()
	if len(c.auth) != 0 || len(c.acct) != 0 ||
		!slices.Equal(c.vsai, [][2]uint32{{diameter.VendorID3GPP, diameter.AppIDZh}}) ||
		!slices.Equal(c.supportedVendor, []uint32{diameter.VendorID3GPP}) || c.hostIPs == 0 {
		t.Errorf("%s advertises %+v, want only VSAI{10415, Zh}, Supported-Vendor-Id 10415 and a Host-IP-Address", what, c)
	}
}

// RFC 6733 §5.3.2, TS 29.109 §5.1: the CEA advertises the served applications only.
func TestCEAAdvertisesOnlyServedApplications(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, nil)
	r := dialRaw(t, startServer(t, s), d)
	cea := r.handshake()
	checkOnlyZh(t, "CEA", capabilitiesOf(cea))
	if host, _, product := identityOf(cea); host != hssHost || product != "OpenGBA-HSS" {
		t.Errorf("CEA Origin-Host %q Product-Name %q", host, product)
	}
	if cea.Header.CommandFlags != 0 {
		t.Errorf("CEA flags %#x", cea.Header.CommandFlags)
	}
	peers := s.Peers()
	if len(peers) != 1 || peers[0].OriginHost != bsfHost || !slices.Equal(peers[0].Applications, []uint32{diameter.AppIDZh}) {
		t.Errorf("Peers() = %+v", peers)
	}
}

// RFC 6733 §5.3.1: the CER of the client advertises its applications only.
func TestCERAdvertisesOnlyClientApplications(t *testing.T) {
	d := testDict(t)
	got := make(chan capabilities, 1)
	addr, _ := fakeServer(t, func(r *rawPeer) {
		f := r.recv()
		m := r.decodeFrame(f)
		got <- capabilitiesOf(m)
		_, _ = r.nc.Write(fakeCEA(t, d, f))
		r.serveBase(d, nil)
	})
	connect(t, clientConfig(t, d, addr))
	checkOnlyZh(t, "CER", <-got)
}

// RFC 6733 §5.3: a CER from a peer outside the allowlist gets 3010 DIAMETER_UNKNOWN_PEER
// with the E bit, and the connection is closed.
func TestAllowlistRejectsUnknownPeer(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, func(c *ServerConfig) { c.AllowedPeers = []string{"other.example.org"} })
	r := dialRaw(t, startServer(t, s), d)
	r.send(cerBytes(t, d, bsfHost, zh))
	cea := r.recvMsg()
	if rc := resultOf(t, cea); rc != diameter.ResultUnknownPeer || cea.Header.CommandFlags&diam.ErrorFlag == 0 {
		t.Errorf("CEA Result-Code %d flags %#x, want 3010 with E", rc, cea.Header.CommandFlags)
	}
	r.expectClosed()
	if len(s.Peers()) != 0 {
		t.Errorf("rejected peer listed: %+v", s.Peers())
	}
}

// RFC 6733 §4.3.1: a DiameterIdentity is an FQDN, so the allowlist ignores case; the
// handler sees the identity the peer announced (PeerFromContext).
func TestAllowlistIgnoresCaseAndHandlerSeesPeer(t *testing.T) {
	d := testDict(t)
	seen := make(chan PeerInfo, 1)
	s := newTestServer(t, d, func(c *ServerConfig) { c.AllowedPeers = []string{strings.ToUpper(bsfHost)} })
	s.Handle(diameter.AppIDZh, diameter.CmdMultimediaAuth, func(ctx context.Context, req *diam.Message) (*diam.Message, error) {
		p, _ := PeerFromContext(ctx)
		seen <- p
		return echo(ctx, req)
	})
	c := connect(t, clientConfig(t, d, startServer(t, s)))
	if _, err := c.Do(context.Background(), testMAR(d, "u1")); err != nil {
		t.Fatal(err)
	}
	if p := <-seen; p.OriginHost != bsfHost {
		t.Errorf("PeerFromContext().OriginHost = %q, want %q", p.OriginHost, bsfHost)
	}
}

// RFC 6733 §5.3: no common application → 5010 DIAMETER_NO_COMMON_APPLICATION, closed.
func TestNoCommonApplication(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, nil)
	r := dialRaw(t, startServer(t, s), d)
	r.send(cerBytes(t, d, bsfHost, Application{ID: diameter.AppIDZn, VendorID: diameter.VendorID3GPP}))
	cea := r.recvMsg()
	if rc := resultOf(t, cea); rc != diameter.ResultNoCommonApplication || cea.Header.CommandFlags&diam.ErrorFlag != 0 {
		t.Errorf("CEA Result-Code %d flags %#x, want 5010 without E", rc, cea.Header.CommandFlags)
	}
	checkOnlyZh(t, "5010 CEA", capabilitiesOf(cea))
	r.expectClosed()
}

// RFC 6733 §5.5: DWR gets DWA.
func TestServerAnswersDWR(t *testing.T) {
	d := testDict(t)
	r := dialRaw(t, startServer(t, newTestServer(t, d, nil)), d)
	r.handshake()
	hbh := r.send(baseRequest(t, d, diameter.CmdDeviceWatchdog))
	dwa := r.recvMsg()
	if dwa.Header.CommandCode != diameter.CmdDeviceWatchdog || dwa.Header.HopByHopID != hbh ||
		resultOf(t, dwa) != diameter.ResultSuccess {
		t.Errorf("DWA %v", dwa)
	}
	if host, _, _ := identityOf(dwa); host != hssHost {
		t.Errorf("DWA Origin-Host %q", host)
	}
}

// RFC 6733 §5.3: requests before the capabilities exchange get 3010, and the connection
// stays usable for the CER.
func TestRequestBeforeCER(t *testing.T) {
	d := testDict(t)
	r := dialRaw(t, startServer(t, newTestServer(t, d, nil)), d)
	r.send(marBytes(t, d, "early"))
	if m := r.recvMsg(); resultOf(t, m) != diameter.ResultUnknownPeer || m.Header.CommandFlags&diam.ErrorFlag == 0 {
		t.Errorf("answer %v, want 3010 with E", m)
	}
	r.handshake()
}

// A request written right behind the CER, before the CEA is read, is answered: the
// server reads frames in order and is open before it reads the next one.
func TestRequestRightAfterCEA(t *testing.T) {
	d := testDict(t)
	r := dialRaw(t, startServer(t, newTestServer(t, d, nil)), d)
	cer := cerBytes(t, d, bsfHost, zh)
	mar := marBytes(t, d, "eager")
	binary.BigEndian.PutUint32(mar[12:16], 77)
	if _, err := r.nc.Write(append(cer, mar...)); err != nil {
		t.Fatal(err)
	}
	if cea := r.recvMsg(); resultOf(t, cea) != diameter.ResultSuccess {
		t.Fatalf("CEA %v", cea)
	}
	maa := r.recvMsg()
	if resultOf(t, maa) != diameter.ResultSuccess || maa.Header.HopByHopID != 77 || userOf(maa) != "eager" {
		t.Errorf("MAA %v", maa)
	}
}

// The client's Connect returns after the CEA, so a Do right after it is answered.
func TestClientDoRightAfterConnect(t *testing.T) {
	d := testDict(t)
	addr := startServer(t, newTestServer(t, d, nil))
	for i := range 20 {
		c := connect(t, clientConfig(t, d, addr))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a, err := c.Do(ctx, testMAR(d, fmt.Sprint("u", i)))
		cancel()
		if err != nil || resultOf(t, a) != diameter.ResultSuccess {
			t.Fatalf("Do %d: %v %v", i, a, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

// 64 requests in flight on one connection: the handler blocks until all 64 arrived, so
// the test only passes when requests of one connection are handled concurrently.
func TestConcurrentRequestsOnOneConnection(t *testing.T) {
	const n = 64
	d := testDict(t)
	s := newTestServer(t, d, nil)
	var arrived atomic.Int32
	all := make(chan struct{})
	s.Handle(diameter.AppIDZh, diameter.CmdMultimediaAuth, func(ctx context.Context, req *diam.Message) (*diam.Message, error) {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			return nil, errors.New("not all requests arrived: handled sequentially")
		}
		return echo(ctx, req)
	})
	c := connect(t, clientConfig(t, d, startServer(t, s)))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			user := fmt.Sprint("user", i)
			a, err := c.Do(ctx, testMAR(d, user))
			switch {
			case err != nil:
				errs <- err
			case userOf(a) != user:
				errs <- fmt.Errorf("answer for %q matched to %q", userOf(a), user)
			case resultOf(t, a) != diameter.ResultSuccess:
				errs <- fmt.Errorf("result %d", resultOf(t, a))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(s.Peers()) != 1 {
		t.Errorf("%d connections, want one", len(s.Peers()))
	}
}

// mutate builds a MAR and corrupts it.
type mutate func(t *testing.T, f []byte) []byte

func avpOffset(t *testing.T, f []byte, code uint32) int {
	t.Helper()
	for off := 20; off+8 <= len(f); {
		if binary.BigEndian.Uint32(f[off:]) == code {
			return off
		}
		l := int(f[off+5])<<16 | int(f[off+6])<<8 | int(f[off+7])
		off += (l + 3) &^ 3
	}
	t.Fatalf("AVP %d not found", code)
	return 0
}

func setMsgLen(f []byte) []byte {
	n := len(f)
	f[1], f[2], f[3] = byte(n>>16), byte(n>>8), byte(n)
	return f
}

// Every malformed frame gets its answer (RFC 6733 §7) and the next good request on the
// same connection succeeds.
func TestMalformedFramesKeepConnection(t *testing.T) {
	d := testDict(t)
	r := dialRaw(t, startServer(t, newTestServer(t, d, nil)), d)
	r.handshake()
	cases := []struct {
		name string
		mut  mutate
		code uint32
	}{
		{"RFC6733/7.1.5/5014-bad-AVP-length", func(t *testing.T, f []byte) []byte {
			off := avpOffset(t, f, avp.UserName)
			f[off+5], f[off+6], f[off+7] = 0, 0, 3
			return f
		}, diameter.ResultInvalidAVPLength},
		{"RFC6733/4.1/5001-unknown-M-AVP", func(t *testing.T, f []byte) []byte {
			return setMsgLen(diameter.AppendAVP(f, 7777, 0x40, 0, []byte("x")))
		}, diameter.ResultAVPUnsupported},
		{"RFC6733/7.1.5/5005-missing-mandatory-AVP", func(t *testing.T, f []byte) []byte {
			off := avpOffset(t, f, avp.DestinationRealm)
			l := (int(f[off+5])<<16 | int(f[off+6])<<8 | int(f[off+7]) + 3) &^ 3
			return setMsgLen(append(f[:off:off], f[off+l:]...))
		}, diameter.ResultMissingAVP},
		{"RFC6733/7.1.3/3007-unknown-application", func(t *testing.T, f []byte) []byte {
			binary.BigEndian.PutUint32(f[8:12], 16777265)
			return f
		}, diameter.ResultApplicationUnsupported},
		{"RFC6733/7.1.3/3001-unknown-command", func(t *testing.T, f []byte) []byte {
			f[7] = 99
			return f
		}, diameter.ResultCommandUnsupported},
		{"RFC6733/7.1.5/5011-version-2", func(t *testing.T, f []byte) []byte {
			f[0] = 2
			return f
		}, diameter.ResultUnsupportedVersion},
		{"RFC6733/3/3008-P-bit-clear", func(t *testing.T, f []byte) []byte {
			f[4] &^= diam.ProxiableFlag
			return f
		}, diameter.ResultInvalidHdrBits},
		{"RFC6733/3/5015-length-not-multiple-of-4", func(t *testing.T, f []byte) []byte {
			return setMsgLen(append(f, 0, 0))
		}, diameter.ResultInvalidMessageLength},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.tb = t
			f := tc.mut(t, marBytes(t, d, "bad"))
			hbh := r.send(f)
			a := r.recv()
			if got := binary.BigEndian.Uint32(a[12:16]); got != hbh {
				t.Fatalf("answer Hop-by-Hop %d, want %d", got, hbh)
			}
			rc, e := answerResult(t, a)
			if rc != tc.code || e != diameter.IsProtocolError(tc.code) {
				t.Errorf("Result-Code %d E=%v, want %d", rc, e, tc.code)
			}
			good := fmt.Sprint("good", i)
			r.send(marBytes(t, d, good))
			m := r.recvMsg()
			if resultOf(t, m) != diameter.ResultSuccess || userOf(m) != good {
				t.Errorf("next good request: %v", m)
			}
		})
	}
}

// answerResult reads Result-Code and the E bit of a raw answer without go-diameter.
func answerResult(t *testing.T, f []byte) (uint32, bool) {
	t.Helper()
	for off := 20; off+12 <= len(f); {
		l := int(f[off+5])<<16 | int(f[off+6])<<8 | int(f[off+7])
		if binary.BigEndian.Uint32(f[off:]) == avp.ResultCode && f[off+4]&0x80 == 0 {
			return binary.BigEndian.Uint32(f[off+8:]), f[4]&diam.ErrorFlag != 0
		}
		off += (l + 3) &^ 3
	}
	t.Fatalf("no Result-Code in %x", f)
	return 0, false
}

// A Message Length that cannot be framed closes the connection.
func TestUnframeableStreamCloses(t *testing.T) {
	d := testDict(t)
	addr := startServer(t, newTestServer(t, d, func(c *ServerConfig) { c.MaxMessageSize = 4096 }))
	for name, pre := range map[string][]byte{
		"length-below-header": {1, 0, 0, 12},
		"length-above-max":    {1, 0, 0x20, 0},
	} {
		t.Run(name, func(t *testing.T) {
			r := dialRaw(t, addr, d)
			r.handshake()
			if _, err := r.nc.Write(append(pre, make([]byte, 16)...)); err != nil {
				t.Fatal(err)
			}
			r.expectClosed()
		})
	}
}

// A handler panic is answered 5012 DIAMETER_UNABLE_TO_COMPLY and the connection survives;
// a handler's *diameter.ProtocolError becomes the answer.
func TestHandlerFailures(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, nil)
	s.Handle(diameter.AppIDZh, diameter.CmdMultimediaAuth, func(ctx context.Context, req *diam.Message) (*diam.Message, error) {
		if failed, err := handlerFailure(userOf(req)); failed {
			return nil, err
		}
		return echo(ctx, req)
	})
	c := connect(t, clientConfig(t, d, startServer(t, s)))
	for _, tc := range []struct {
		user string
		code uint32
	}{{"panic", diameter.ResultUnableToComply}, {"ok1", diameter.ResultSuccess}, {"error", diameter.ResultUnableToComply},
		{"nil", diameter.ResultUnableToComply}, {"value", diameter.ResultInvalidAVPValue}, {"ok2", diameter.ResultSuccess}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a, err := c.Do(ctx, testMAR(d, tc.user))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		if rc := resultOf(t, a); rc != tc.code {
			t.Errorf("%s: Result-Code %d, want %d", tc.user, rc, tc.code)
		}
	}
}

// RFC 6733 §5.4: a DPR gets a DPA, and the server closes if the DPR sender does not.
func TestServerAnswersDPR(t *testing.T) {
	d := testDict(t)
	r := dialRaw(t, startServer(t, newTestServer(t, d, func(c *ServerConfig) { c.DisconnectTimeout = 200 * time.Millisecond })), d)
	r.handshake()
	hbh := r.send(baseRequest(t, d, diameter.CmdDisconnectPeer,
		diam.NewAVP(avp.DisconnectCause, avp.Mbit, 0, datatype.Enumerated(diameter.DisconnectCauseBusy))))
	dpa := r.recvMsg()
	if dpa.Header.CommandCode != diameter.CmdDisconnectPeer || dpa.Header.HopByHopID != hbh || resultOf(t, dpa) != diameter.ResultSuccess {
		t.Errorf("DPA %v", dpa)
	}
	r.expectClosed()
}

// RFC 6733 §5.4: Client.Close sends a DPR and returns once the DPA arrived.
func TestClientCloseSendsDPR(t *testing.T) {
	d := testDict(t)
	dpr := make(chan *diam.Message, 1)
	addr, _ := fakeServer(t, func(r *rawPeer) {
		_, _ = r.nc.Write(fakeCEA(t, d, r.recv()))
		for {
			f, err := r.recvErr()
			if err != nil {
				return
			}
			if binary.BigEndian.Uint32(f[4:8])&0xffffff == diameter.CmdDisconnectPeer {
				dpr <- r.decodeFrame(f)
				_, _ = r.nc.Write(answerTo(t, d, f))
			}
		}
	})
	c := connect(t, clientConfig(t, d, addr))
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	m := <-dpr
	if a, err := m.FindAVP(avp.DisconnectCause, 0); err != nil || a.Data.(datatype.Enumerated) != datatype.Enumerated(diameter.DisconnectCauseDoNotWant) {
		t.Errorf("DPR Disconnect-Cause %v %v", a, err)
	}
	if _, err := c.Do(context.Background(), testMAR(d, "late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v", err)
	}
}

// RFC 6733 §5.4: Shutdown waits for handlers in flight, sends DPR (REBOOTING) to every
// peer and returns once they answered; a real client answers the DPR itself.
func TestShutdownSendsDPR(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, nil)
	release := make(chan struct{})
	started := make(chan struct{})
	s.Handle(diameter.AppIDZh, diameter.CmdMultimediaAuth, func(ctx context.Context, req *diam.Message) (*diam.Message, error) {
		if userOf(req) == "slow" {
			close(started)
			<-release
		}
		return echo(ctx, req)
	})
	addr := startServer(t, s)
	c := connect(t, clientConfig(t, d, addr))
	r := dialRaw(t, addr, d)
	r.handshake()

	slow := make(chan error, 1)
	go func() {
		a, err := c.Do(context.Background(), testMAR(d, "slow"))
		if err == nil && resultOf(t, a) != diameter.ResultSuccess {
			err = fmt.Errorf("result %d", resultOf(t, a))
		}
		slow <- err
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// New requests are refused while shutting down (3004), in-flight ones complete. The
	// request goes out once Shutdown has begun (it runs in its own goroutine).
	for deadline := time.Now().Add(5 * time.Second); !s.stopping.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Shutdown did not begin")
		}
	}
	r.send(marBytes(t, d, "during-shutdown"))
	if rc, e := answerResult(t, r.recv()); rc != diameter.ResultTooBusy || !e {
		t.Errorf("request during shutdown: %d E=%v, want 3004 with E", rc, e)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Errorf("in-flight request: %v", err)
	}
	f := r.recv()
	dpr := r.decodeFrame(f)
	if dpr.Header.CommandCode != diameter.CmdDisconnectPeer || dpr.Header.CommandFlags&diam.RequestFlag == 0 {
		t.Fatalf("want DPR, got %v", dpr)
	}
	if a, err := dpr.FindAVP(avp.DisconnectCause, 0); err != nil || a.Data.(datatype.Enumerated) != datatype.Enumerated(diameter.DisconnectCauseRebooting) {
		t.Errorf("Disconnect-Cause %v %v", a, err)
	}
	if _, err := r.nc.Write(answerTo(t, d, f)); err != nil {
		t.Fatal(err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	r.expectClosed()
	if len(s.Peers()) != 0 {
		t.Errorf("peers after Shutdown: %+v", s.Peers())
	}
}

// The client fails over to the second server when the first is down.
func TestClientFailoverWhenFirstServerDown(t *testing.T) {
	d := testDict(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	_ = ln.Close()
	s := newTestServer(t, d, func(c *ServerConfig) { c.OriginHost = "hss2.example.org" })
	c := connect(t, clientConfig(t, d, down, startServer(t, s)))
	if p, ok := c.Peer(); !ok || p.OriginHost != "hss2.example.org" {
		t.Errorf("Peer() = %+v %v", p, ok)
	}
	a, err := c.Do(context.Background(), testMAR(d, "x"))
	if err != nil || resultOf(t, a) != diameter.ResultSuccess {
		t.Errorf("Do: %v %v", a, err)
	}
}

// RFC 3539 §3.4.1 (simplified): the client sends DWR after Tw of silence; when the DWA
// does not come within Tw it closes the connection and fails over to the next server.
func TestClientWatchdogFailover(t *testing.T) {
	d := testDict(t)
	gotDWR := make(chan struct{})
	gone := make(chan struct{})
	var once sync.Once
	var first net.Listener
	firstAddr, first := fakeServer(t, func(r *rawPeer) {
		_ = first.Close() // one connection only: the next attempt goes to the second server
		_, _ = r.nc.Write(fakeCEA(t, d, r.recv()))
		for {
			f, err := r.recvErr()
			if err != nil {
				close(gone)
				return
			}
			if binary.BigEndian.Uint32(f[4:8])&0xffffff == diameter.CmdDeviceWatchdog {
				once.Do(func() { close(gotDWR) }) // and never answer it
			}
		}
	})
	s := newTestServer(t, d, func(c *ServerConfig) { c.OriginHost = "hss2.example.org" })
	cfg := clientConfig(t, d, firstAddr, startServer(t, s))
	cfg.WatchdogInterval = 50 * time.Millisecond
	c := connect(t, cfg)
	if p, _ := c.Peer(); p.OriginHost != "fake.example.org" {
		t.Fatalf("connected to %q first", p.OriginHost)
	}
	<-gotDWR
	<-gone
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := c.Do(ctx, testMAR(d, "after-failover"))
	if err != nil || resultOf(t, a) != diameter.ResultSuccess {
		t.Fatalf("Do after failover: %v %v", a, err)
	}
	if p, _ := c.Peer(); p.OriginHost != "hss2.example.org" {
		t.Errorf("Peer after failover %q", p.OriginHost)
	}
}

// The client's watchdog keeps a healthy connection: DWRs are answered by our server.
func TestClientWatchdogKeepsConnection(t *testing.T) {
	d := testDict(t)
	dwrs := make(chan struct{}, 100)
	addr, _ := fakeServer(t, func(r *rawPeer) {
		_, _ = r.nc.Write(fakeCEA(t, d, r.recv()))
		r.serveBase(d, func() { dwrs <- struct{}{} })
	})
	cfg := clientConfig(t, d, addr)
	cfg.WatchdogInterval = 20 * time.Millisecond
	c := connect(t, cfg)
	for range 3 {
		<-dwrs
	}
	if _, ok := c.Peer(); !ok {
		t.Error("connection dropped although every DWR was answered")
	}
}

// Do times out with ErrTimeout and leaves no pending entry behind.
func TestClientTimeout(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, nil)
	release := make(chan struct{})
	defer close(release)
	s.Handle(diameter.AppIDZh, diameter.CmdMultimediaAuth, func(ctx context.Context, req *diam.Message) (*diam.Message, error) {
		<-release
		return echo(ctx, req)
	})
	c := connect(t, clientConfig(t, d, startServer(t, s)))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, testMAR(d, "slow"))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want ErrTimeout", err)
	}
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	cur.mu.Lock()
	n := len(cur.pending)
	cur.mu.Unlock()
	if n != 0 {
		t.Errorf("%d pending entries left", n)
	}
}

// Do without any reachable server fails with ErrNoPeer when ctx ends; an invalid request
// is refused before it is sent.
func TestClientErrors(t *testing.T) {
	d := testDict(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	_ = ln.Close()
	c, err := NewClient(clientConfig(t, d, down))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Do(ctx, testMAR(d, "x")); !errors.Is(err, ErrNoPeer) {
		t.Errorf("Do = %v, want ErrNoPeer", err)
	}
	bad := testMAR(d, "x")
	bad.Header.CommandFlags &^= diam.ProxiableFlag
	var perr *diameter.ProtocolError
	if _, err := c.Do(context.Background(), bad); !errors.Is(err, ErrInvalidRequest) || !errors.As(err, &perr) ||
		perr.ResultCode != diameter.ResultInvalidHdrBits {
		t.Errorf("Do(MAR without P) = %v", err)
	}
	for name, mod := range map[string]func(*ClientConfig){
		"no servers":      func(c *ClientConfig) { c.Servers = nil },
		"no origin host":  func(c *ClientConfig) { c.OriginHost = "" },
		"no applications": func(c *ClientConfig) { c.Applications = nil },
		"no dictionary":   func(c *ClientConfig) { c.Dictionary = nil },
	} {
		cfg := clientConfig(t, d, down)
		mod(&cfg)
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A CEA refusing the CER makes Connect keep trying until its context ends.
func TestClientRejectedByServer(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, func(c *ServerConfig) { c.AllowedPeers = []string{"someone.else"} })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Connect(ctx, clientConfig(t, d, startServer(t, s))); !errors.Is(err, ErrNoPeer) {
		t.Errorf("Connect = %v, want ErrNoPeer", err)
	}
}

// RFC 6733 §5.4: the client answers the DPR of a server shutting down and moves to the
// next server; requests are never sent on the disconnecting connection.
func TestClientFailsOverAfterServerShutdown(t *testing.T) {
	d := testDict(t)
	a := newTestServer(t, d, nil)
	b := newTestServer(t, d, func(c *ServerConfig) { c.OriginHost = "hss2.example.org" })
	c := connect(t, clientConfig(t, d, startServer(t, a), startServer(t, b)))
	if p, _ := c.Peer(); p.OriginHost != hssHost {
		t.Fatalf("connected to %q first", p.OriginHost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (the client must answer the DPR)", err)
	}
	m, err := c.Do(ctx, testMAR(d, "moved"))
	if err != nil || resultOf(t, m) != diameter.ResultSuccess {
		t.Fatalf("Do after the first server left: %v %v", m, err)
	}
	if host, _, _ := identityOf(m); host != "hss2.example.org" {
		t.Errorf("answered by %q", host)
	}
}
