package naf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testlog"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/naftest"
)

const (
	znNAFHost  = "naf.home1.net"
	znNAFRealm = "home1.net"
	znBSFRealm = "home1.net" // the BSF's own Origin-Realm
	// Wire constants checked independently of internal/diameter (RFC 6733 §3, §4.1).
	wireFlagR, wireFlagP, wireFlagE = 0x80, 0x40, 0x20
	wireAVPFlagV, wireAVPFlagM      = 0x80, 0x40
	wireCmdCER, wireCmdDPR          = 257, 282
	wireCmdBI                       = 310
	wireAppZn, wireAppZh            = 16777220, 16777221
	wireVendor3GPP                  = 10415
)

// znDict loads the dictionary once per test.
func znDict(tb testing.TB) *dict.Parser {
	tb.Helper()
	d, err := diameter.NewDictionary()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// znLogger writes slog JSON into w until the test ends (peer goroutines may log after it).
func znLogger(tb testing.TB, w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(testlog.Writer(tb, w), &slog.HandlerOptions{Level: level}))
}

// tapListener records every octet its connections read: the frames the BSF received.
type tapListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*tapConn
}

type tapConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &tapConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, tc)
	l.mu.Unlock()
	return tc, nil
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.buf.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// frames splits what every connection received into Diameter frames (RFC 6733 §3:
// Message Length in octets 1..3).
func (l *tapListener) frames() [][]byte {
	l.mu.Lock()
	conns := append([]*tapConn(nil), l.conns...)
	l.mu.Unlock()
	var out [][]byte
	for _, c := range conns {
		c.mu.Lock()
		b := bytes.Clone(c.buf.Bytes())
		c.mu.Unlock()
		for len(b) >= 20 {
			n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
			if n < 20 || n > len(b) {
				break
			}
			out = append(out, b[:n])
			b = b[n:]
		}
	}
	return out
}

// wireAVP is one AVP read from the wire without go-diameter (RFC 6733 §4.1).
type wireAVP struct {
	code   uint32
	flags  byte
	vendor uint32
	data   []byte
}

func wireAVPs(b []byte) []wireAVP {
	var out []wireAVP
	for len(b) >= 8 {
		a := wireAVP{code: binary.BigEndian.Uint32(b), flags: b[4]}
		n := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		hdr := 8
		if a.flags&wireAVPFlagV != 0 {
			if len(b) < 12 {
				break
			}
			a.vendor = binary.BigEndian.Uint32(b[8:])
			hdr = 12
		}
		if n < hdr || n > len(b) {
			break
		}
		a.data = b[hdr:n]
		out = append(out, a)
		p := (n + 3) &^ 3
		if p > len(b) {
			break
		}
		b = b[p:]
	}
	return out
}

func frameCmd(f []byte) (flags byte, cmd, app uint32) {
	return f[4], uint32(f[5])<<16 | uint32(f[6])<<8 | uint32(f[7]), binary.BigEndian.Uint32(f[8:])
}

func findAVP(avps []wireAVP, code, vendor uint32) (wireAVP, int) {
	n := 0
	var first wireAVP
	for _, a := range avps {
		if a.code == code && a.vendor == vendor {
			if n == 0 {
				first = a
			}
			n++
		}
	}
	return first, n
}

// znBSF is a fake BSF Zn server: peer.Server with a BIR handler that derives Ks_NAF with
// internal/gba from its session table (TS 33.220 §4.5.3).
type znBSF struct {
	t    testing.TB
	d    *dict.Parser
	host string
	srv  *peer.Server
	tap  *tapListener
	addr string
	stop func()

	mu       sync.Mutex
	sessions map[string]naftest.BSFSession
	birs     []*diameter.BIR
	// edit, if set, changes the answer before it is sent.
	edit func(*diameter.BIR, *diameter.BIA)
	// gate, if set, holds every answer until it is closed (or the connection ends).
	gate chan struct{}
}

func newZnBSF(t testing.TB, d *dict.Parser, host string) *znBSF {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &znBSF{t: t, d: d, host: host, sessions: map[string]naftest.BSFSession{}}
	b.start(ln)
	t.Cleanup(func() { b.stop() })
	return b
}

func (b *znBSF) start(ln net.Listener) {
	srv, err := peer.NewServer(peer.ServerConfig{
		Identity:     peer.Identity{OriginHost: b.host, OriginRealm: znBSFRealm, ProductName: "fake BSF"},
		Applications: []peer.Application{{ID: diameter.AppIDZn, VendorID: diameter.VendorID3GPP}},
		Dictionary:   b.d,
		Logger:       znLogger(b.t, io.Discard, slog.LevelInfo),
		Tunables:     peer.Tunables{DisconnectTimeout: 2 * time.Second},
	})
	if err != nil {
		b.t.Fatal(err)
	}
	srv.Handle(diameter.AppIDZn, diameter.CmdBootstrappingInfo, b.handle)
	tap := &tapListener{Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, tap) }()
	b.srv, b.tap, b.addr = srv, tap, ln.Addr().String()
	var once sync.Once
	b.stop = func() {
		once.Do(func() {
			_ = srv.Close()
			cancel()
			<-done
		})
	}
}

// restart stops the server and serves again on the same address (a BSF restart).
func (b *znBSF) restart() {
	b.t.Helper()
	b.stop()
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		b.t.Fatal(err)
	}
	b.start(ln)
}

func (b *znBSF) bootstrap(s naftest.BSFSession) string {
	b.t.Helper()
	id, err := gba.NewBTID(s.RAND, s.BSFDomain)
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.sessions[id.String()] = s
	b.mu.Unlock()
	return id.String()
}

func (b *znBSF) received() []*diameter.BIR {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*diameter.BIR(nil), b.birs...)
}

func (b *znBSF) handle(ctx context.Context, req *diam.Message) (*diam.Message, error) {
	bir, err := diameter.DecodeBIR(req)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.birs = append(b.birs, bir)
	s, ok := b.sessions[bir.BTID]
	edit, gate := b.edit, b.gate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	a := &diameter.BIA{SessionID: bir.SessionID, OriginHost: b.host, OriginRealm: znBSFRealm}
	nafID, nerr := gba.ParseNAFID(bir.NAFID)
	switch {
	case !ok:
		// TS 29.109 §6.3.3.3: B-TID unknown or expired.
		a.ExperimentalResult = &diameter.ExperimentalResult{VendorID: diameter.VendorID3GPP, ExperimentalResultCode: diameter.ExpTransactionIdentifierInvalid}
	case nerr != nil || denied(s, nafID.FQDN):
		a.ExperimentalResult = &diameter.ExperimentalResult{VendorID: diameter.VendorID3GPP, ExperimentalResultCode: diameter.ExpNotAuthorized}
	default:
		ks, err := gba.Ks(s.CK, s.IK)
		if err != nil {
			return nil, err
		}
		k, err := gba.KsNAF(ks, s.RAND, s.IMPI, nafID)
		if err != nil {
			return nil, err
		}
		t3g := diameter.GBAType3G
		a.ResultCode = diameter.ResultSuccess
		a.MEKeyMaterial = k.Bytes()
		a.KeyExpiryTime = s.Expires
		a.GUSS = s.USS
		a.GBAType = &t3g
		if bir.PrivateIdentityRequest != nil && *bir.PrivateIdentityRequest == diameter.PrivateIdentityRequested {
			a.IMPI = s.IMPI
		}
	}
	if edit != nil {
		edit(bir, a)
	}
	return a.Message(b.d)
}

func denied(s naftest.BSFSession, fqdn string) bool {
	for _, d := range s.Denied {
		if d == fqdn {
			return true
		}
	}
	return false
}

type znRig struct {
	client *naf.ZnClient
	reg    *prometheus.Registry
	logs   *syncBuffer
}

// newZnClient connects a ZnClient to the peers; mod edits the config first.
func newZnClient(t testing.TB, d *dict.Parser, peers []naf.ZnPeer, level slog.Level, mod func(*naf.ZnClientConfig)) *znRig {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := naf.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	zc := naf.DefaultZnConfig()
	zc.OriginHost, zc.OriginRealm, zc.BSFs, zc.Timeout = znNAFHost, znNAFRealm, peers, 2*time.Second
	cfg := naf.ZnClientConfig{
		Zn: zc, Dictionary: d, Metrics: m, Logger: znLogger(t, logs, level),
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, DisconnectTimeout: 2 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := naf.NewZnClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &znRig{client: c, reg: reg, logs: logs}
}

// count returns the number of ZnLatency observations with the result label.
func (r *znRig) count(t testing.TB, result string) uint64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "naf_zn_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func set1Vector(t testing.TB) naftest.Set {
	t.Helper()
	v, err := naftest.Vector("TS35208/set1/gba-me/http-digest")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestZnClient runs the happy path against the fake BSF: Ks_NAF for TS 35.208 set 1 equals
// the vector of specs/vectors/ts33220.json and an independent gba.KsNAF computation, and the
// BIR on the wire carries what TS 29.109 §6.2.1 asks.
func TestZnClient(t *testing.T) {
	d := znDict(t)
	bsf := newZnBSF(t, d, "bsf.home1.net")
	expires := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	s := set1(t, expires)
	s.USS = []byte(`<ussList><uss id="1" type="0" nafGroup="m2m"/></ussList>`)
	btid := bsf.bootstrap(s)
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelInfo, nil)

	v := set1Vector(t)
	t.Run("TS35208/set1", func(t *testing.T) {
		k, err := r.client.KsNAF(t.Context(), btid, testNAFID)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(k.KsNAF.Bytes()); got != v.Key {
			t.Fatalf("Ks_NAF %s, want the vector %s", got, v.Key)
		}
		ks, err := gba.Ks(naftest.MustHex(v.CK), naftest.MustHex(v.IK))
		if err != nil {
			t.Fatal(err)
		}
		want, err := gba.KsNAF(ks, naftest.MustHex(v.RAND), v.IMPI, testNAFID)
		if err != nil {
			t.Fatal(err)
		}
		if !k.KsNAF.Equal(want) {
			t.Fatal("Ks_NAF differs from gba.KsNAF")
		}
		if !k.Expires.Equal(expires) {
			t.Errorf("Expires %v, want %v", k.Expires, expires)
		}
		if k.IMPI != v.IMPI || k.GBAType != naf.GBAType3G || !bytes.Equal(k.USS, s.USS) {
			t.Errorf("IMPI %q, GBA type %v, USS %q", k.IMPI, k.GBAType, k.USS)
		}
	})

	t.Run("wire", func(t *testing.T) {
		var cer, bir []byte
		for _, f := range bsf.tap.frames() {
			flags, cmd, app := frameCmd(f)
			switch {
			case cmd == wireCmdCER && flags&wireFlagR != 0:
				cer = f
			case cmd == wireCmdBI && app == wireAppZn && flags&wireFlagR != 0:
				bir = f
			}
		}
		if cer == nil || bir == nil {
			t.Fatal("the BSF did not receive a CER and a BIR")
		}
		// CER: only Zn, as Vendor-Specific-Application-Id {10415, 16777220}, RFC 6733 §5.3.1.
		var apps []uint32
		for _, a := range wireAVPs(cer[20:]) {
			if a.code == 258 {
				apps = append(apps, binary.BigEndian.Uint32(a.data))
			}
			if a.code == 260 {
				in := wireAVPs(a.data)
				vid, nv := findAVP(in, 266, 0)
				aid, na := findAVP(in, 258, 0)
				if nv != 1 || na != 1 || binary.BigEndian.Uint32(vid.data) != wireVendor3GPP {
					t.Errorf("CER Vendor-Specific-Application-Id %x", a.data)
					continue
				}
				apps = append(apps, binary.BigEndian.Uint32(aid.data))
			}
		}
		if len(apps) != 1 || apps[0] != wireAppZn {
			t.Errorf("CER advertises applications %v, want only Zn %d", apps, wireAppZn)
		}

		flags, _, _ := frameCmd(bir)
		if flags != wireFlagR|wireFlagP {
			t.Errorf("BIR flags %#02x, want R|P (TS 29.109 §6.2.1: REQ, PXY)", flags)
		}
		avps := wireAVPs(bir[20:])
		if len(avps) == 0 || avps[0].code != 263 {
			t.Fatal("Session-Id is not the first AVP (RFC 6733 §8.8)")
		}
		check := func(name string, code, vendor uint32, flags byte, want []byte) {
			t.Helper()
			a, n := findAVP(avps, code, vendor)
			switch {
			case n != 1:
				t.Errorf("%s: %d occurrences", name, n)
			case a.flags != flags:
				t.Errorf("%s: flags %#02x, want %#02x", name, a.flags, flags)
			case !bytes.Equal(a.data, want):
				t.Errorf("%s: %x, want %x", name, a.data, want)
			}
		}
		nafID := append([]byte("naf.home1.net"), 0x01, 0x00, 0x00, 0x00, 0x02)
		check("NAF-Id", 402, wireVendor3GPP, wireAVPFlagV|wireAVPFlagM, nafID)
		check("Transaction-Identifier", 401, wireVendor3GPP, wireAVPFlagV|wireAVPFlagM, []byte(btid))
		check("Destination-Realm", 283, 0, wireAVPFlagM, []byte(bsfDomain))
		check("Origin-Host", 264, 0, wireAVPFlagM, []byte(znNAFHost))
		check("Origin-Realm", 296, 0, wireAVPFlagM, []byte(znNAFRealm))
		check("GBA_U-Awareness-Indicator", 407, wireVendor3GPP, wireAVPFlagV|wireAVPFlagM, []byte{0, 0, 0, 0})
		check("Private-Identity-Request", 416, wireVendor3GPP, wireAVPFlagV|wireAVPFlagM, []byte{0, 0, 0, 0})
		if _, n := findAVP(avps, 293, 0); n != 0 {
			t.Error("Destination-Host sent though no host is configured")
		}
		vsai, n := findAVP(avps, 260, 0)
		if n != 1 {
			t.Fatal("no Vendor-Specific-Application-Id")
		}
		in := wireAVPs(vsai.data)
		if v, _ := findAVP(in, 266, 0); len(v.data) != 4 || binary.BigEndian.Uint32(v.data) != wireVendor3GPP {
			t.Errorf("Vendor-Id %x", v.data)
		}
		if a, _ := findAVP(in, 258, 0); len(a.data) != 4 || binary.BigEndian.Uint32(a.data) != wireAppZn {
			t.Errorf("Auth-Application-Id %x", a.data)
		}
	})

	t.Run("metrics and logs", func(t *testing.T) {
		if n := r.count(t, naf.ZnResultSuccess); n != 1 {
			t.Errorf("ZnLatency success count %d, want 1", n)
		}
		logs := r.logs.String()
		k, _ := gba.NewKey(naftest.MustHex(v.Key))
		if leaks(k, logs) {
			t.Fatal("Ks_NAF in the logs")
		}
		if !strings.Contains(logs, btid) {
			t.Error("B-TID missing from the info log")
		}
		if strings.Contains(logs, v.IMPI) {
			t.Error("IMPI logged at info level")
		}
	})
}

// TestZnClientDebugLogsIMPI: the IMPI appears only at debug level, never the key.
func TestZnClientDebugLogsIMPI(t *testing.T) {
	d := znDict(t)
	bsf := newZnBSF(t, d, "bsf.home1.net")
	btid := bsf.bootstrap(set1(t, time.Now().Add(time.Hour)))
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelDebug, nil)
	k, err := r.client.KsNAF(t.Context(), btid, testNAFID)
	if err != nil {
		t.Fatal(err)
	}
	logs := r.logs.String()
	if !strings.Contains(logs, k.IMPI) || leaks(k.KsNAF, logs) {
		t.Fatalf("debug logs: IMPI present %v, key leaked %v", strings.Contains(logs, k.IMPI), leaks(k.KsNAF, logs))
	}
}

// TestZnClientResults maps each BIA outcome, TS 29.109 §6.3.3, RFC 6733 §7.1.
func TestZnClientResults(t *testing.T) {
	d := znDict(t)
	bsf := newZnBSF(t, d, "bsf.home1.net")
	s := set1(t, time.Now().Add(time.Hour))
	s.Denied = []string{"denied.home1.net"}
	btid := bsf.bootstrap(s)
	unknown, err := gba.NewBTID(bytes.Repeat([]byte{7}, 16), bsfDomain)
	if err != nil {
		t.Fatal(err)
	}
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelDebug, nil)
	deniedID := gba.NAFID{FQDN: "denied.home1.net", UaID: gba.UaIDHTTPDigest}
	key := naftest.MustHex(set1Vector(t).Key)

	tests := []struct {
		name   string
		btid   string
		nafID  gba.NAFID
		edit   func(*diameter.BIR, *diameter.BIA)
		want   error // sentinel; nil: success
		result string
	}{
		{name: "5403", btid: unknown.String(), nafID: testNAFID, want: naf.ErrBTIDUnknown, result: naf.ZnResultBTIDUnknown},
		{name: "5402", btid: btid, nafID: deniedID, want: naf.ErrNotAuthorized, result: naf.ZnResultNotAuthorized},
		{name: "3004 too busy", btid: btid, nafID: testNAFID, want: naf.ErrBSFUnavailable, result: naf.ZnResultUnavailable,
			edit: func(_ *diameter.BIR, a *diameter.BIA) {
				*a = diameter.BIA{SessionID: a.SessionID, OriginHost: a.OriginHost, OriginRealm: a.OriginRealm, ResultCode: diameter.ResultTooBusy}
			}},
		{name: "ME-Key-Material 16 octets", btid: btid, nafID: testNAFID, want: naf.ErrInvalidKey, result: naf.ZnResultError,
			edit: func(_ *diameter.BIR, a *diameter.BIA) { a.MEKeyMaterial = a.MEKeyMaterial[:16] }},
		{name: "no ME-Key-Material", btid: btid, nafID: testNAFID, want: naf.ErrInvalidKey, result: naf.ZnResultError,
			edit: func(_ *diameter.BIR, a *diameter.BIA) { a.MEKeyMaterial = nil }},
		{name: "no Key-ExpiryTime", btid: btid, nafID: testNAFID, want: naf.ErrInvalidKey, result: naf.ZnResultError,
			edit: func(_ *diameter.BIR, a *diameter.BIA) { a.KeyExpiryTime = time.Time{} }},
		// The peer layer refuses an undefined enumerated value (5004) before the client reads it.
		{name: "GBA-Type 7", btid: btid, nafID: testNAFID, want: naf.ErrBSFUnavailable, result: naf.ZnResultUnavailable,
			edit: func(_ *diameter.BIR, a *diameter.BIA) { v := int32(7); a.GBAType = &v }},
		{name: "2G GBA", btid: btid, nafID: testNAFID, result: naf.ZnResultSuccess,
			edit: func(_ *diameter.BIR, a *diameter.BIA) { v := diameter.GBAType2G; a.GBAType = &v }},
		{name: "5012 unable to comply", btid: btid, nafID: testNAFID, result: naf.ZnResultError,
			edit: func(_ *diameter.BIR, a *diameter.BIA) {
				*a = diameter.BIA{SessionID: a.SessionID, OriginHost: a.OriginHost, OriginRealm: a.OriginRealm, ResultCode: diameter.ResultUnableToComply}
			}},
		{name: "5403 of another vendor", btid: btid, nafID: testNAFID, result: naf.ZnResultError,
			edit: func(_ *diameter.BIR, a *diameter.BIA) {
				*a = diameter.BIA{SessionID: a.SessionID, OriginHost: a.OriginHost, OriginRealm: a.OriginRealm,
					ExperimentalResult: &diameter.ExperimentalResult{VendorID: 99, ExperimentalResultCode: 5403}}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bsf.mu.Lock()
			bsf.edit = tc.edit
			bsf.mu.Unlock()
			before := r.count(t, tc.result)
			k, err := r.client.KsNAF(t.Context(), tc.btid, tc.nafID)
			switch {
			case tc.result == naf.ZnResultSuccess:
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "2G GBA" && k.GBAType != naf.GBAType2G {
					t.Errorf("GBA type %v", k.GBAType)
				}
			case tc.want != nil:
				if !errors.Is(err, tc.want) {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
			default:
				var re *diameter.ResultError
				if err == nil || !errors.As(err, &re) {
					t.Fatalf("error %v, want a *diameter.ResultError", err)
				}
				for _, s := range []error{naf.ErrBTIDUnknown, naf.ErrNotAuthorized, naf.ErrBSFUnavailable, naf.ErrInvalidKey} {
					if errors.Is(err, s) {
						t.Fatalf("error %v wraps %v", err, s)
					}
				}
			}
			if err != nil && (strings.Contains(strings.ToLower(err.Error()), hex.EncodeToString(key)[:16]) || !strings.HasPrefix(err.Error(), "naf: ")) {
				t.Errorf("error text %q", err)
			}
			if got := r.count(t, tc.result); got != before+1 {
				t.Errorf("ZnLatency %q count %d, want %d", tc.result, got, before+1)
			}
		})
	}
	bsf.mu.Lock()
	bsf.edit = nil
	bsf.mu.Unlock()
	if leaks(mustKey(t, key), r.logs.String()) {
		t.Fatal("Ks_NAF in the logs")
	}
}

func mustKey(t testing.TB, b []byte) gba.Key {
	t.Helper()
	k, err := gba.NewKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestZnClientBadArguments: a malformed B-TID or NAF_Id never reaches the BSF.
func TestZnClientBadArguments(t *testing.T) {
	d := znDict(t)
	bsf := newZnBSF(t, d, "bsf.home1.net")
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelInfo, nil)
	if _, err := r.client.KsNAF(t.Context(), "not a b-tid", testNAFID); !errors.Is(err, gba.ErrInvalidBTID) {
		t.Errorf("bad B-TID: %v", err)
	}
	btid := bsf.bootstrap(set1(t, time.Now().Add(time.Hour)))
	if _, err := r.client.KsNAF(t.Context(), btid, gba.NAFID{FQDN: "bad host", UaID: gba.UaIDHTTPDigest}); !errors.Is(err, gba.ErrInvalidNAFID) {
		t.Errorf("bad NAF_Id: %v", err)
	}
	if n := len(bsf.received()); n != 0 {
		t.Errorf("%d BIRs sent for bad arguments", n)
	}
}

// TestZnClientTimeout: a BSF that does not answer gives ErrBSFUnavailable within the Zn
// timeout.
func TestZnClientTimeout(t *testing.T) {
	d := znDict(t)
	bsf := newZnBSF(t, d, "bsf.home1.net")
	btid := bsf.bootstrap(set1(t, time.Now().Add(time.Hour)))
	const timeout = 300 * time.Millisecond
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelInfo,
		func(c *naf.ZnClientConfig) { c.Zn.Timeout = timeout })
	if _, err := r.client.KsNAF(t.Context(), btid, testNAFID); err != nil { // connected
		t.Fatal(err)
	}
	gate := make(chan struct{})
	defer close(gate)
	bsf.mu.Lock()
	bsf.gate = gate
	bsf.mu.Unlock()
	start := time.Now()
	_, err := r.client.KsNAF(t.Context(), btid, testNAFID)
	elapsed := time.Since(start)
	if !errors.Is(err, naf.ErrBSFUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want ErrBSFUnavailable after the deadline", err)
	}
	if elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("failed after %v, want about %v", elapsed, timeout)
	}
	if n := r.count(t, naf.ZnResultUnavailable); n != 1 {
		t.Errorf("unavailable count %d", n)
	}
}

// TestZnClientBSFDown: no BSF listening: ErrBSFUnavailable within the timeout, not ready.
func TestZnClientBSFDown(t *testing.T) {
	d := znDict(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const timeout = 300 * time.Millisecond
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: addr}}, slog.LevelInfo,
		func(c *naf.ZnClientConfig) { c.Zn.Timeout = timeout })
	btid, _ := gba.NewBTID(naftest.MustHex(set1Vector(t).RAND), bsfDomain)
	start := time.Now()
	_, err = r.client.KsNAF(t.Context(), btid.String(), testNAFID)
	if elapsed := time.Since(start); elapsed > timeout+time.Second {
		t.Errorf("failed after %v", elapsed)
	}
	if !errors.Is(err, naf.ErrBSFUnavailable) {
		t.Fatalf("error %v, want ErrBSFUnavailable", err)
	}
	if err := r.client.Ready(t.Context()); !errors.Is(err, naf.ErrBSFUnavailable) {
		t.Errorf("Ready with the BSF down: %v", err)
	}
}

// TestZnClientRealmSelection: the B-TID's realm picks the BSF (TS 33.220 §4.5.2) and is the
// Destination-Realm; "*" takes other realms; an unknown realm sends nothing.
func TestZnClientRealmSelection(t *testing.T) {
	d := znDict(t)
	bsf1 := newZnBSF(t, d, "bsf.home1.net")
	bsf2 := newZnBSF(t, d, "bsf.home2.net")
	s1 := set1(t, time.Now().Add(time.Hour))
	s2 := s1
	s2.BSFDomain = "BSF.Home2.NET" // realms compare case-insensitively
	b1 := bsf1.bootstrap(s1)
	b2 := bsf2.bootstrap(s2)
	peers := []naf.ZnPeer{
		{Realm: bsfDomain, Address: bsf1.addr},
		{Realm: "bsf.home2.net", Address: bsf2.addr, Host: "bsf.home2.net"},
	}
	r := newZnClient(t, d, peers, slog.LevelInfo, nil)
	for _, btid := range []string{b1, b2} {
		if _, err := r.client.KsNAF(t.Context(), btid, testNAFID); err != nil {
			t.Fatalf("%s: %v", btid, err)
		}
	}
	got1, got2 := bsf1.received(), bsf2.received()
	if len(got1) != 1 || len(got2) != 1 || got1[0].BTID != b1 || got2[0].BTID != b2 {
		t.Fatalf("BSF 1 got %d BIRs, BSF 2 got %d", len(got1), len(got2))
	}
	if got1[0].DestinationRealm != bsfDomain || got1[0].DestinationHost != "" {
		t.Errorf("BSF 1: Destination-Realm %q, Destination-Host %q", got1[0].DestinationRealm, got1[0].DestinationHost)
	}
	if got2[0].DestinationRealm != "bsf.home2.net" || got2[0].DestinationHost != "bsf.home2.net" {
		t.Errorf("BSF 2: Destination-Realm %q, Destination-Host %q", got2[0].DestinationRealm, got2[0].DestinationHost)
	}

	other, _ := gba.NewBTID(naftest.MustHex(set1Vector(t).RAND), "bsf.home3.net")
	_, err := r.client.KsNAF(t.Context(), other.String(), testNAFID)
	if !errors.Is(err, naf.ErrBSFRealmUnknown) || !errors.Is(err, naf.ErrBTIDUnknown) || !strings.Contains(err.Error(), "bsf.home3.net") {
		t.Fatalf("unknown realm: %v", err)
	}
	if len(bsf1.received())+len(bsf2.received()) != 2 {
		t.Error("a BIR was sent for an unknown realm")
	}

	t.Run("wildcard", func(t *testing.T) {
		r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf1.addr}, {Realm: "*", Address: bsf2.addr}}, slog.LevelInfo, nil)
		if _, err := r.client.KsNAF(t.Context(), other.String(), testNAFID); !errors.Is(err, naf.ErrBTIDUnknown) || errors.Is(err, naf.ErrBSFRealmUnknown) {
			t.Fatalf("wildcard: %v, want 5403 from BSF 2", err)
		}
		got := bsf2.received()
		if last := got[len(got)-1]; last.BTID != other.String() || last.DestinationRealm != "bsf.home3.net" {
			t.Errorf("wildcard BIR: B-TID %q, Destination-Realm %q", last.BTID, last.DestinationRealm)
		}
	})
}

// TestZnClientOptions: GBA_U-Awareness-Indicator YES when configured, no
// Private-Identity-Request when the IMPI is not wanted (TS 29.109 §6.2.1).
func TestZnClientOptions(t *testing.T) {
	d := znDict(t)
	bsf := newZnBSF(t, d, "bsf.home1.net")
	btid := bsf.bootstrap(set1(t, time.Now().Add(time.Hour)))
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelInfo,
		func(c *naf.ZnClientConfig) { c.Zn.GBAUAware, c.Zn.RequestIMPI = true, false })
	k, err := r.client.KsNAF(t.Context(), btid, testNAFID)
	if err != nil {
		t.Fatal(err)
	}
	if k.IMPI != "" {
		t.Errorf("IMPI %q returned though not requested", k.IMPI)
	}
	got := bsf.received()
	if len(got) != 1 || got[0].GBAUAwarenessIndicator == nil || *got[0].GBAUAwarenessIndicator != diameter.GBAUAwarenessYes || got[0].PrivateIdentityRequest != nil {
		t.Fatalf("BIR %+v", got)
	}
}

// TestZnClientCloseSendsDPR: Close sends DPR (RFC 6733 §5.4) and gets the DPA; the client
// then refuses requests.
func TestZnClientCloseSendsDPR(t *testing.T) {
	d := znDict(t)
	bsf := newZnBSF(t, d, "bsf.home1.net")
	btid := bsf.bootstrap(set1(t, time.Now().Add(time.Hour)))
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelInfo, nil)
	if _, err := r.client.KsNAF(t.Context(), btid, testNAFID); err != nil {
		t.Fatal(err)
	}
	if err := r.client.Ready(t.Context()); err != nil {
		t.Fatalf("Ready after a round trip: %v", err)
	}
	if err := r.client.Close(); err != nil {
		t.Fatalf("Close: %v (no DPA)", err)
	}
	dpr := 0
	for _, f := range bsf.tap.frames() {
		if flags, cmd, _ := frameCmd(f); cmd == wireCmdDPR && flags&wireFlagR != 0 {
			dpr++
		}
	}
	if dpr != 1 {
		t.Fatalf("the BSF received %d DPRs, want 1", dpr)
	}
	if _, err := r.client.KsNAF(t.Context(), btid, testNAFID); !errors.Is(err, naf.ErrBSFUnavailable) {
		t.Errorf("after Close: %v", err)
	}
	if err := r.client.Ready(t.Context()); err == nil {
		t.Error("ready after Close")
	}
}

// TestZnClientReconnects: after a BSF restart the client reconnects (backoff) and the next
// request succeeds.
func TestZnClientReconnects(t *testing.T) {
	d := znDict(t)
	bsf := newZnBSF(t, d, "bsf.home1.net")
	btid := bsf.bootstrap(set1(t, time.Now().Add(time.Hour)))
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelInfo, nil)
	if _, err := r.client.KsNAF(t.Context(), btid, testNAFID); err != nil {
		t.Fatal(err)
	}
	bsf.restart()
	if _, err := r.client.KsNAF(t.Context(), btid, testNAFID); err != nil {
		t.Fatalf("after the BSF restarted: %v", err)
	}
}

// TestZnClientConfig: sctp needs a dialer; the configuration is validated.
func TestZnClientConfig(t *testing.T) {
	zc := naf.DefaultZnConfig()
	zc.OriginHost, zc.OriginRealm = znNAFHost, znNAFRealm
	zc.BSFs = []naf.ZnPeer{{Realm: bsfDomain, Address: "127.0.0.1:3868", Network: "sctp"}}
	_, err := naf.NewZnClient(naf.ZnClientConfig{Zn: zc})
	var ce *naf.ConfigError
	if !errors.As(err, &ce) || ce.Field != "zn.bsfs[0].network" {
		t.Fatalf("sctp without a dialer: %v", err)
	}
	zc.BSFs = nil
	if _, err := naf.NewZnClient(naf.ZnClientConfig{Zn: zc}); !errors.Is(err, naf.ErrConfig) {
		t.Fatalf("no BSF: %v", err)
	}
}

// TestZnClientUaCache runs the Ua middleware and the Ks_NAF cache over the real ZnClient:
// 50 concurrent authentications of one B-TID make a single BIR (singleflight).
func TestZnClientUaCache(t *testing.T) {
	d := znDict(t)
	bsf := newZnBSF(t, d, "bsf.home1.net")
	s := set1(t, time.Now().Add(time.Hour))
	bsf.bootstrap(s)
	gate := make(chan struct{})
	bsf.mu.Lock()
	bsf.gate = gate
	bsf.mu.Unlock()
	r := newZnClient(t, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelDebug, nil)
	cache := naf.NewCache(r.client, naf.CacheConfig{})
	uaLogs := &syncBuffer{}
	auth, err := naf.NewAuthenticator(naf.UaConfig{NAFFQDN: nafFQDN, Keys: cache, Logger: znLogger(t, uaLogs, slog.LevelDebug)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, ok := naf.SessionFrom(req.Context()); !ok {
			http.Error(w, "no session", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})))
	t.Cleanup(srv.Close)
	ue, err := naftest.NewUE(s, nafFQDN, gba.UaIDHTTPDigest)
	if err != nil {
		t.Fatal(err)
	}

	const n = 50
	// One challenge (nonce) per request, so that none is a nonce-count replay.
	authz := make([]string, n)
	for i := range n {
		resp, err := srv.Client().Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unauthenticated: %d", resp.StatusCode)
		}
		h, _, err := ue.AuthorizeNC(mustChallenge(t, resp), http.MethodGet, "/", nil, 1, fmt.Sprintf("%08x", i))
		if err != nil {
			t.Fatal(err)
		}
		authz[i] = h
	}
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
			req.Header.Set("Authorization", authz[i])
			resp, err := srv.Client().Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	// Hold the one BIR until every request has missed the cache and joined the fetch.
	deadline := time.Now().Add(20 * time.Second)
	for cache.Stats().Misses < n {
		if time.Now().After(deadline) {
			close(gate)
			wg.Wait()
			t.Fatalf("only %d requests reached the cache", cache.Stats().Misses)
		}
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	if ok.Load() != n {
		t.Fatalf("%d of %d requests authenticated", ok.Load(), n)
	}
	if got := len(bsf.received()); got != 1 {
		t.Fatalf("%d BIRs for %d concurrent requests, want 1", got, n)
	}
	if st := cache.Stats(); st.Fetches != 1 {
		t.Errorf("cache stats %+v", st)
	}
	if leaks(ue.KsNAF, r.logs.String()+uaLogs.String()) {
		t.Fatal("Ks_NAF in the logs")
	}
}

// FuzzZnAnswer feeds arbitrary BIA frames from the BSF to the client: it never panics, a
// success carries a 32-octet key and an expiry, and every failure is a classified error.
func FuzzZnAnswer(f *testing.F) {
	d := znDict(f)
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	t3g := diameter.GBAType3G
	seeds := []*diameter.BIA{
		{SessionID: "s", OriginHost: "bsf.home1.net", OriginRealm: znBSFRealm, ResultCode: diameter.ResultSuccess,
			IMPI: "user1_private@home1.net", MEKeyMaterial: bytes.Repeat([]byte{1}, 32), KeyExpiryTime: expires, GBAType: &t3g},
		{SessionID: "s", OriginHost: "bsf.home1.net", OriginRealm: znBSFRealm,
			ExperimentalResult: &diameter.ExperimentalResult{VendorID: diameter.VendorID3GPP, ExperimentalResultCode: diameter.ExpTransactionIdentifierInvalid}},
		{SessionID: "s", OriginHost: "bsf.home1.net", OriginRealm: znBSFRealm, ResultCode: diameter.ResultSuccess,
			MEKeyMaterial: []byte{1, 2, 3}},
	}
	for _, s := range seeds {
		b, err := diameter.Encode(d, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	bsf := newZnBSF(f, d, "bsf.home1.net")
	var answers sync.Map // B-TID → frame
	bsf.edit = func(bir *diameter.BIR, a *diameter.BIA) {
		v, ok := answers.Load(bir.BTID)
		if !ok {
			return
		}
		m, err := diameter.ParseMessage(d, v.([]byte))
		if err != nil {
			return
		}
		fa, err := diameter.DecodeBIA(m)
		if err != nil {
			return
		}
		fa.SessionID = a.SessionID
		*a = *fa
	}
	r := newZnClient(f, d, []naf.ZnPeer{{Realm: bsfDomain, Address: bsf.addr}}, slog.LevelInfo,
		func(c *naf.ZnClientConfig) { c.Zn.Timeout = 500 * time.Millisecond })
	var n atomic.Uint64
	f.Fuzz(func(t *testing.T, frame []byte) {
		rand := make([]byte, 16)
		binary.BigEndian.PutUint64(rand[8:], n.Add(1))
		btid, err := gba.NewBTID(rand, bsfDomain)
		if err != nil {
			t.Fatal(err)
		}
		answers.Store(btid.String(), frame)
		defer answers.Delete(btid.String())
		k, err := r.client.KsNAF(context.Background(), btid.String(), testNAFID)
		if err == nil {
			if len(k.KsNAF.Bytes()) != gba.KeySize || k.Expires.IsZero() {
				t.Fatalf("success with key of %d octets, expiry %v", len(k.KsNAF.Bytes()), k.Expires)
			}
			return
		}
		var re *diameter.ResultError
		for _, s := range []error{naf.ErrBTIDUnknown, naf.ErrNotAuthorized, naf.ErrBSFUnavailable, naf.ErrInvalidKey} {
			if errors.Is(err, s) {
				return
			}
		}
		if !errors.As(err, &re) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}
