package bsf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"
	dto "github.com/prometheus/client_model/go"

	hsssim "github.com/opengba/opengba/hss-sim"
	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testlog"
)

// This file holds what the Zh and Zn tests share: a hand-written Diameter codec (RFC 6733
// §3, §4) that does not use internal/diameter or go-diameter, so that the Zn server and the
// Zh client are checked against an independent reading of the wire format; a fake HSS on
// peer.Server; and the UE-side key derivation.

// Wire constants, RFC 6733 §3, §4.1, §4.5 and TS 29.109 §6.3, written out by hand.
const (
	rawFlagR = 0x80
	rawFlagP = 0x40
	rawFlagE = 0x20
	rawAVPV  = 0x80
	rawAVPM  = 0x40

	rawCER = 257
	rawDWR = 280
	rawDPR = 282
	rawBIR = 310
	rawMAR = 303

	rawAppZn  = 16777220
	rawAppZh  = 16777221
	rawVendor = 10415

	avpUserName           = 1
	avpHostIPAddress      = 257
	avpAuthApplicationID  = 258
	avpAcctApplicationID  = 259
	avpVSAI               = 260
	avpSessionID          = 263
	avpOriginHost         = 264
	avpSupportedVendorID  = 265
	avpVendorID           = 266
	avpResultCode         = 268
	avpProductName        = 269
	avpDisconnectCause    = 273
	avpAuthSessionState   = 277
	avpFailedAVP          = 279
	avpDestinationRealm   = 283
	avpOriginRealm        = 296
	avpExperimentalResult = 297
	avpExpResultCode      = 298
	avpGUSS               = 400
	avpTransactionID      = 401
	avpNAFID              = 402
	avpKeyExpiryTime      = 404
	avpMEKeyMaterial      = 405
	avpBootstrapInfoTime  = 408
	avpGBAType            = 410
	avpPrivateIDRequest   = 416

	ntpToUnix = 2208988800 // seconds from 1900-01-01 to 1970-01-01 (RFC 6733 §4.3.1 Time)
)

// rawAVPBytes encodes one AVP: code, flags, length (24 bits), Vendor-ID when V is set,
// data, zero padding to 4 octets (RFC 6733 §4.1).
func rawAVPBytes(code uint32, flags byte, vendor uint32, data []byte) []byte {
	hdr := 8
	if vendor != 0 {
		flags |= rawAVPV
		hdr = 12
	}
	b := make([]byte, hdr, hdr+len(data)+3)
	binary.BigEndian.PutUint32(b[0:4], code)
	l := hdr + len(data)
	b[4], b[5], b[6], b[7] = flags, byte(l>>16), byte(l>>8), byte(l)
	if vendor != 0 {
		binary.BigEndian.PutUint32(b[8:12], vendor)
	}
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func rawU32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func rawGroup(avps ...[]byte) []byte { return bytes.Join(avps, nil) }

// rawMessageBytes encodes a message: version 1, length, flags, command code, application,
// hop-by-hop and end-to-end identifiers, AVPs (RFC 6733 §3).
func rawMessageBytes(flags byte, code, app, hbh, e2e uint32, avps ...[]byte) []byte {
	body := rawGroup(avps...)
	b := make([]byte, 20, 20+len(body))
	l := 20 + len(body)
	b[0], b[1], b[2], b[3] = 1, byte(l>>16), byte(l>>8), byte(l)
	b[4], b[5], b[6], b[7] = flags, byte(code>>16), byte(code>>8), byte(code)
	binary.BigEndian.PutUint32(b[8:12], app)
	binary.BigEndian.PutUint32(b[12:16], hbh)
	binary.BigEndian.PutUint32(b[16:20], e2e)
	return append(b, body...)
}

type rawAVP struct {
	code   uint32
	flags  byte
	vendor uint32
	data   []byte
}

func (a rawAVP) u32() uint32 {
	if len(a.data) != 4 {
		return 0
	}
	return binary.BigEndian.Uint32(a.data)
}

func (a rawAVP) group() []rawAVP {
	avps, err := rawParseAVPs(a.data)
	if err != nil {
		return nil
	}
	return avps
}

type rawMsg struct {
	flags     byte
	code, app uint32
	hbh, e2e  uint32
	avps      []rawAVP
	frame     []byte
}

func rawParseAVPs(b []byte) ([]rawAVP, error) {
	var out []rawAVP
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errors.New("raw: truncated AVP header")
		}
		a := rawAVP{code: binary.BigEndian.Uint32(b[0:4]), flags: b[4]}
		l := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		hdr := 8
		if a.flags&rawAVPV != 0 {
			if len(b) < 12 {
				return nil, errors.New("raw: truncated Vendor-ID")
			}
			a.vendor, hdr = binary.BigEndian.Uint32(b[8:12]), 12
		}
		if l < hdr || l > len(b) {
			return nil, fmt.Errorf("raw: AVP %d length %d", a.code, l)
		}
		a.data = b[hdr:l]
		out = append(out, a)
		b = b[min(len(b), (l+3)&^3):]
	}
	return out, nil
}

func rawParse(f []byte) (rawMsg, error) {
	if len(f) < 20 || f[0] != 1 || int(f[1])<<16|int(f[2])<<8|int(f[3]) != len(f) {
		return rawMsg{}, errors.New("raw: bad header")
	}
	m := rawMsg{
		flags: f[4], code: uint32(f[5])<<16 | uint32(f[6])<<8 | uint32(f[7]),
		app: binary.BigEndian.Uint32(f[8:12]), hbh: binary.BigEndian.Uint32(f[12:16]),
		e2e: binary.BigEndian.Uint32(f[16:20]), frame: f,
	}
	avps, err := rawParseAVPs(f[20:])
	if err != nil {
		return rawMsg{}, err
	}
	m.avps = avps
	return m, nil
}

func (m rawMsg) find(code, vendor uint32) (rawAVP, bool) {
	for _, a := range m.avps {
		if a.code == code && a.vendor == vendor {
			return a, true
		}
	}
	return rawAVP{}, false
}

func (m rawMsg) str(code, vendor uint32) string {
	a, _ := m.find(code, vendor)
	return string(a.data)
}

// result returns the Result-Code, or the Experimental-Result-Code with experimental true.
func (m rawMsg) result() (code uint32, experimental bool) {
	if a, ok := m.find(avpResultCode, 0); ok {
		return a.u32(), false
	}
	if a, ok := m.find(avpExperimentalResult, 0); ok {
		for _, in := range a.group() {
			if in.code == avpExpResultCode && in.vendor == 0 {
				return in.u32(), true
			}
		}
	}
	return 0, false
}

// applications lists the application ids a CER or CEA advertises: Auth- and
// Acct-Application-Id at the top level and inside Vendor-Specific-Application-Id.
func (m rawMsg) applications() (auth []uint32, vendorSpecific [][2]uint32) {
	for _, a := range m.avps {
		switch {
		case a.vendor != 0:
		case a.code == avpAuthApplicationID || a.code == avpAcctApplicationID:
			auth = append(auth, a.u32())
		case a.code == avpVSAI:
			var v, id uint32
			for _, in := range a.group() {
				switch in.code {
				case avpVendorID:
					v = in.u32()
				case avpAuthApplicationID, avpAcctApplicationID:
					id = in.u32()
				}
			}
			vendorSpecific = append(vendorSpecific, [2]uint32{v, id})
		}
	}
	return auth, vendorSpecific
}

func rawTime(a rawAVP) time.Time {
	return time.Unix(int64(a.u32())-ntpToUnix, 0).UTC()
}

// rawPeer is a Diameter peer written by hand over one TCP connection.
type rawPeer struct {
	t   testing.TB
	nc  net.Conn
	br  *bufio.Reader
	hbh uint32
}

func dialRaw(t testing.TB, addr string) *rawPeer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc), hbh: 0x1000}
}

func (p *rawPeer) write(f []byte) {
	p.t.Helper()
	_ = p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(f); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next frame (within 5 s).
func (p *rawPeer) read() rawMsg {
	p.t.Helper()
	m, err := p.tryRead(5 * time.Second)
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

func (p *rawPeer) tryRead(d time.Duration) (rawMsg, error) {
	_ = p.nc.SetReadDeadline(time.Now().Add(d))
	var pre [4]byte
	if _, err := io.ReadFull(p.br, pre[:]); err != nil {
		return rawMsg{}, err
	}
	n := int(pre[1])<<16 | int(pre[2])<<8 | int(pre[3])
	if n < 20 || n > 1<<20 {
		return rawMsg{}, fmt.Errorf("raw: frame length %d", n)
	}
	f := make([]byte, n)
	copy(f, pre[:])
	if _, err := io.ReadFull(p.br, f[4:]); err != nil {
		return rawMsg{}, err
	}
	return rawParse(f)
}

// request sends a request built with the next hop-by-hop id and returns the answer to it.
func (p *rawPeer) request(flags byte, code, app uint32, avps ...[]byte) rawMsg {
	p.t.Helper()
	p.hbh++
	p.write(rawMessageBytes(flags|rawFlagR, code, app, p.hbh, p.hbh^0x5a5a0000, avps...))
	for {
		m := p.read()
		if m.flags&rawFlagR == 0 && m.hbh == p.hbh {
			if m.e2e != p.hbh^0x5a5a0000 {
				p.t.Fatalf("answer end-to-end id %#x, want %#x", m.e2e, p.hbh^0x5a5a0000)
			}
			return m
		}
	}
}

func rawIdentity(host, realm string) [][]byte {
	return [][]byte{
		rawAVPBytes(avpOriginHost, rawAVPM, 0, []byte(host)),
		rawAVPBytes(avpOriginRealm, rawAVPM, 0, []byte(realm)),
	}
}

// capabilityAVPs are what a CER or CEA carries besides the identity (RFC 6733 §5.3.1):
// Host-IP-Address 127.0.0.1, Vendor-Id, Product-Name, Supported-Vendor-Id 10415 and the
// application as Vendor-Specific-Application-Id {10415, app}.
func rawCapabilities(app uint32) [][]byte {
	return [][]byte{
		rawAVPBytes(avpHostIPAddress, rawAVPM, 0, []byte{0, 1, 127, 0, 0, 1}),
		rawAVPBytes(avpVendorID, rawAVPM, 0, rawU32(0)),
		rawAVPBytes(avpProductName, 0, 0, []byte("raw test peer")),
		rawAVPBytes(avpSupportedVendorID, rawAVPM, 0, rawU32(rawVendor)),
		rawVSAI(app),
	}
}

func rawVSAI(app uint32) []byte {
	return rawAVPBytes(avpVSAI, rawAVPM, 0, rawGroup(
		rawAVPBytes(avpVendorID, rawAVPM, 0, rawU32(rawVendor)),
		rawAVPBytes(avpAuthApplicationID, rawAVPM, 0, rawU32(app))))
}

// capabilities sends a CER for app and returns the CEA.
func (p *rawPeer) capabilities(host, realm string, app uint32) rawMsg {
	p.t.Helper()
	avps := append(rawIdentity(host, realm), rawCapabilities(app)...)
	return p.request(0, rawCER, 0, avps...)
}

// answerTo builds an answer to req (same command, application and ids; P copied).
func rawAnswerTo(req rawMsg, avps ...[]byte) []byte {
	return rawMessageBytes(req.flags&rawFlagP, req.code, req.app, req.hbh, req.e2e, avps...)
}

// rawBIR is the Bootstrapping-Info-Request of TS 29.109 §6.2.1, written by hand.
type rawBIRFields struct {
	sessionID, originHost, btid string
	nafID                       []byte
	impiRequested               bool
	omitBTID                    bool
}

func (f rawBIRFields) avps() [][]byte {
	avps := [][]byte{
		rawAVPBytes(avpSessionID, rawAVPM, 0, []byte(f.sessionID)),
		rawVSAI(rawAppZn),
	}
	avps = append(avps, rawIdentity(f.originHost, "home1.net")...)
	avps = append(avps, rawAVPBytes(avpDestinationRealm, rawAVPM, 0, []byte("home1.net")))
	if !f.omitBTID {
		avps = append(avps, rawAVPBytes(avpTransactionID, rawAVPM, rawVendor, []byte(f.btid)))
	}
	avps = append(avps, rawAVPBytes(avpNAFID, rawAVPM, rawVendor, f.nafID))
	if f.impiRequested {
		avps = append(avps, rawAVPBytes(avpPrivateIDRequest, rawAVPM, rawVendor, rawU32(0)))
	}
	return avps
}

func (p *rawPeer) bir(f rawBIRFields) rawMsg {
	p.t.Helper()
	return p.request(rawFlagP, rawBIR, rawAppZn, f.avps()...)
}

// fakeZh is an HSS on peer.Server whose MAR handler the test chooses; it records the MARs.
type fakeZh struct {
	t      testing.TB
	srv    *peer.Server
	addr   string
	host   string
	dict   *dict.Parser
	answer func(ctx context.Context, mar *diameter.MAR, raw *diam.Message) (*diameter.MAA, error)

	mu   sync.Mutex
	mars []*diameter.MAR
	raws []*diam.Message
}

func testDictionary(t testing.TB) *dict.Parser {
	t.Helper()
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testLog writes to the test's log until it ends (goroutines may outlive it).
func testLog(t testing.TB) *slog.Logger { return testlog.New(t) }

// newFakeZh starts an HSS answering every MAR with the TS 35.208 set 1 vector (unless
// answer is set) on 127.0.0.1.
func newFakeZh(t testing.TB, host string) *fakeZh {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newFakeZhOn(t, host, ln)
}

// newFakeZhOn is newFakeZh on a given listener (TLS for instance).
func newFakeZhOn(t testing.TB, host string, ln net.Listener) *fakeZh {
	t.Helper()
	d := testDictionary(t)
	srv, err := peer.NewServer(peer.ServerConfig{
		Identity:     peer.Identity{OriginHost: host, OriginRealm: "home1.net", ProductName: "fake HSS"},
		Applications: []peer.Application{{ID: diameter.AppIDZh, VendorID: diameter.VendorID3GPP}},
		Dictionary:   d,
		Logger:       testLog(t),
		Tunables:     peer.Tunables{DisconnectTimeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeZh{t: t, srv: srv, host: host, dict: d}
	set := loadSet1(t)
	f.answer = func(_ context.Context, mar *diameter.MAR, _ *diam.Message) (*diameter.MAA, error) {
		item, err := diameter.NewAKAAuthDataItem(diameter.AKAVector{
			RAND: unhex(t, set.RAND), AUTN: unhex(t, set.AUTN), XRES: unhex(t, set.F2), CK: unhex(t, set.F3), IK: unhex(t, set.F4),
		})
		if err != nil {
			return nil, err
		}
		return &diameter.MAA{SessionID: mar.SessionID, OriginHost: host, OriginRealm: "home1.net",
			ResultCode: diameter.ResultSuccess, SIPAuthDataItem: item}, nil
	}
	srv.Handle(diameter.AppIDZh, diameter.CmdMultimediaAuth, func(ctx context.Context, req *diam.Message) (*diam.Message, error) {
		mar, err := diameter.DecodeMAR(req)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.mars = append(f.mars, mar)
		f.raws = append(f.raws, req)
		answer := f.answer
		f.mu.Unlock()
		maa, err := answer(ctx, mar, req)
		if err != nil {
			return nil, err
		}
		return maa.Message(d)
	})
	f.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		cancel()
		<-done
	})
	return f
}

func (f *fakeZh) setAnswer(a func(ctx context.Context, mar *diameter.MAR, raw *diam.Message) (*diameter.MAA, error)) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

func (f *fakeZh) received() []*diameter.MAR {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*diameter.MAR(nil), f.mars...)
}

func (f *fakeZh) rawReceived() []*diam.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*diam.Message(nil), f.raws...)
}

// closedAddr returns a 127.0.0.1 address where nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// metricValue returns the value of a gauge or the sample count of a histogram with the
// given label, from the BSF's registry.
func metricValue(t testing.TB, b *BSF, name, label, value string) float64 {
	t.Helper()
	fams, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabel(m, label, value) {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// ueKeys runs TS 24.109 Annex A as the UE and returns the B-TID, the RAND and Ks = CK ‖ IK
// as the USIM computed them (TS 33.220 §4.5.2).
func (u *testUE) bootstrapWithKs() (string, [RANDSize]byte, gba.Key) {
	u.t.Helper()
	ch := u.challenge()
	n, err := digestUnpack(ch.Nonce)
	if err != nil {
		u.t.Fatal(err)
	}
	res, err := u.usim.Authenticate(n.RAND[:], n.AUTN[:])
	if err != nil {
		u.t.Fatalf("USIM: %v", err)
	}
	c, password := u.signWith(ch, res.RES[:], res.IK[:], res.CK[:])
	resp := u.do(mustHeader(u.t, c))
	btid, _ := wantBootstrapped(u.t, resp, c, password)
	ks, err := gba.Ks(res.CK[:], res.IK[:])
	if err != nil {
		u.t.Fatal(err)
	}
	return btid, n.RAND, ks
}

func digestUnpack(nonce string) (digest.AKANonce, error) { return digest.UnpackNonce(nonce) }

// signWith answers ch with the password of RES (RFC 3310 §3.3, RFC 4169).
func (u *testUE) signWith(ch digest.Challenge, res, ik, ck []byte) (digest.Credentials, []byte) {
	u.t.Helper()
	c, err := digest.NewCredentials(ch, u.impi, "/", digest.QOPAuthInt, "0a4f113b", 1)
	if err != nil {
		u.t.Fatal(err)
	}
	password, err := digest.AKAPassword(ch.Algorithm, res, ik, ck)
	if err != nil {
		u.t.Fatal(err)
	}
	if err := c.Sign(password, "GET", nil); err != nil {
		u.t.Fatal(err)
	}
	return c, password
}

func mustHeader(t testing.TB, c digest.Credentials) string {
	t.Helper()
	h, err := c.Header()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// startHSSSim runs hss-sim's Zh server (package hsssim) on 127.0.0.1 with an in-memory
// subscriber store holding impis, each with the TS 35.208 set 1 K and OPc and AMF 0000.
func startHSSSim(t testing.TB, impis ...string) string {
	t.Helper()
	st, err := hsssim.NewMemoryStore(hsssim.DefaultSQNConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	set := loadSet1(t)
	for _, impi := range impis {
		spec := hsssim.SubscriberSpec{IMPI: impi, K: set.K, OPc: set.OPc}
		sub, err := spec.Build(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Create(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
	}
	z, err := hsssim.NewZhServer(hsssim.ZhServerOptions{
		Store: st,
		Config: hsssim.DiameterConfig{ListenTCP: []string{"127.0.0.1:0"}, OriginHost: "hss.home1.net",
			OriginRealm: "home1.net", Peers: []string{"bsf.opengba.test"}},
		Logger:   testLog(t),
		Tunables: peer.Tunables{DisconnectTimeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = z.Shutdown(ctx)
		_ = st.Close()
	})
	return z.Listeners()[0].Addr.String()
}

// newZhBSF builds a test BSF whose VectorSource is a ZhClient towards hssAddr. The
// ZhClient is built last, from the configuration and logger the options leave: its logs go
// to the BSF's logger (the test's log buffer unless an option replaces it).
func newZhBSF(t testing.TB, hssAddr string, opts ...bsfOption) *testBSF {
	t.Helper()
	var z *ZhClient
	opts = append([]bsfOption{func(c *Config, d *Deps) {
		c.Zh.Timeout = 5 * time.Second
		c.Zh.Peers = []HSSPeer{{Address: hssAddr, Host: "hss.home1.net", Transport: TransportTCP, Priority: 1}}
	}}, opts...)
	opts = append(opts, func(c *Config, d *Deps) {
		log := d.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		var err error
		z, err = NewZhClient(c.Zh, ZhOptions{Logger: log, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = z.Close() })
		d.VectorSource = z
	})
	tb := newTestBSF(t, opts...)
	z.SetMetrics(tb.Metrics())
	return tb
}

// TestHSSSimEndToEnd runs the whole chain on 127.0.0.1 with the real hss-sim: a UE (USIM and
// digest computed in the test) bootstraps over Ub, the BSF fetching the AV over Zh from
// hss-sim (TS 33.220 §4.5.2); a hand-written NAF then gets over Zn the Ks_NAF the UE derives
// (TS 33.220 §4.5.3). An unknown IMPI (5401 from hss-sim) gets 403 on Ub. No log line
// carries Ks, Ks_NAF, CK, IK or XRES.
func TestHSSSimEndToEnd(t *testing.T) {
	hssAddr := startHSSSim(t, impi1)
	tb := newZhBSF(t, hssAddr)
	_, znAddr := startZn(t, tb, ZnOptions{Logger: tb.log})

	ue := newTestUE(t, tb, impi1)
	btid, rnd, ks := ue.bootstrapWithKs()
	id := uaNAFID(t, nafHost)
	want, err := gba.KsNAF(ks, rnd[:], impi1, id)
	if err != nil {
		t.Fatal(err)
	}
	bia := connectNAF(t, znAddr, nafHost).bir(rawBIRFields{sessionID: "e2e;1;1", originHost: nafHost, btid: btid, nafID: id.Bytes(), impiRequested: true})
	key, ok := bia.find(avpMEKeyMaterial, rawVendor)
	if code, _ := bia.result(); code != 2001 || !ok || !bytes.Equal(key.data, want.Bytes()) {
		t.Fatalf("Zn: result %d, Ks_NAF matches the UE's: %v", code, ok && bytes.Equal(key.data, want.Bytes()))
	}
	if got := bia.str(avpUserName, 0); got != impi1 {
		t.Errorf("User-Name %q", got)
	}
	if got := metricValue(t, tb.BSF, "bsf_zh_request_duration_seconds", "result", "success"); got != 1 {
		t.Errorf("zh latency samples (success) = %v, want 1", got)
	}

	stranger := newTestUE(t, tb, "stranger@home1.net")
	if resp := stranger.do(stranger.initialAuth()); resp.StatusCode != 403 {
		t.Errorf("unknown IMPI: status %d, want 403", resp.StatusCode)
	}

	logs := strings.ToLower(tb.logs.String())
	if !strings.Contains(logs, `"if":"zh"`) || !strings.Contains(logs, `"if":"zn"`) {
		t.Fatal("the Zh and Zn logs were not captured")
	}
	ksb := ks.Bytes()
	for name, secret := range map[string][]byte{"Ks": ksb, "CK": ksb[:16], "IK": ksb[16:], "Ks_NAF": want.Bytes()} {
		for _, enc := range []string{hex.EncodeToString(secret), strings.ToLower(base64.StdEncoding.EncodeToString(secret))} {
			if strings.Contains(logs, enc) {
				t.Errorf("a log line carries %s", name)
			}
		}
	}
}

// TestHSSSimResync: the UE's USIM has seen a higher SQN than hss-sim issues, answers the
// first challenge with AUTS (RFC 3310 §3.4), the BSF sends the resynchronisation MAR
// (RAND ‖ AUTS) to hss-sim, which verifies MAC-S and resets SQN_HE (TS 33.102 §6.3.5), and
// the fresh challenge bootstraps.
func TestHSSSimResync(t *testing.T) {
	hssAddr := startHSSSim(t, impi1)
	tb := newZhBSF(t, hssAddr)
	set := loadSet1(t)
	k, opc := akaKey(t, set.K), akaKey(t, set.OPc)
	scheme := aka.DefaultSQNScheme()
	scheme.L = 16 // TS 33.102 §C.2.2 age limit: an SQN far below SQN_MS is refused
	arr, err := aka.NewSQNArray(scheme)
	if err != nil {
		t.Fatal(err)
	}
	usim, err := aka.NewUSIM(k, opc, arr, aka.AMFSeparationMustBeZero)
	if err != nil {
		t.Fatal(err)
	}
	ahead, err := aka.GenerateAV(k, opc, [16]byte{9}, aka.SQN(1000<<scheme.INDBits), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := usim.Authenticate(ahead.RAND[:], ahead.AUTN[:]); err != nil {
		t.Fatal(err)
	}
	ue := &testUE{t: t, impi: impi1, usim: usim, url: tb.srv.URL + "/", client: tb.srv.Client()}

	ch := ue.challenge()
	auth, c, _ := ue.answer(ch, answerUSIM)
	if c.AUTS == nil {
		t.Fatal("the USIM accepted hss-sim's first SQN; the test needs a synchronisation failure")
	}
	resp := ue.do(auth)
	fresh := wantChallenge(t, resp, false)
	if fresh.Nonce == ch.Nonce {
		t.Fatal("no fresh challenge after resync")
	}
	auth, c, password := ue.answer(fresh, answerUSIM)
	if c.AUTS != nil {
		t.Fatal("synchronisation failure again after the resync")
	}
	wantBootstrapped(t, ue.do(auth), c, password)
}
