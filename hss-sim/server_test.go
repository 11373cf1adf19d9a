package hsssim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
	"github.com/opengba/opengba/internal/testcert"
	"github.com/opengba/opengba/internal/testlog"
)

const bsfHost = "bsf.home1.net"

func zhDict(t testing.TB) *dict.Parser {
	t.Helper()
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// zhTestLogger writes to the test log until the test ends (connection goroutines may log
// after it).
func zhTestLogger(t testing.TB) *slog.Logger { return testlog.New(t) }

func zhConfig() DiameterConfig {
	return DiameterConfig{ListenTCP: []string{"127.0.0.1:0"}, OriginHost: zhHost, OriginRealm: zhRealm, Open: true}
}

// startZh runs a Zh server on 127.0.0.1 until the test ends.
func startZh(t testing.TB, opts ZhServerOptions) *ZhServer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zhTestLogger(t)
	}
	if opts.Tunables.DisconnectTimeout == 0 {
		opts.Tunables.DisconnectTimeout = 2 * time.Second
	}
	z, err := NewZhServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Close() })
	return z
}

func zhAddr(t testing.TB, z *ZhServer) string {
	t.Helper()
	ls := z.Listeners()
	if len(ls) == 0 {
		t.Fatal("no listener")
	}
	return ls[0].Addr.String()
}

func zhClient(t testing.TB, d *dict.Parser, addr string, dial func(context.Context, string) (net.Conn, error)) *peer.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := peer.Connect(ctx, peer.ClientConfig{
		Identity:     peer.Identity{OriginHost: bsfHost, OriginRealm: zhRealm, ProductName: "test BSF"},
		Applications: []peer.Application{{ID: diameter.AppIDZh, VendorID: diameter.VendorID3GPP}},
		Servers:      []string{addr},
		Dial:         dial,
		Dictionary:   d,
		Logger:       zhTestLogger(t),
		BackoffMin:   10 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
		Tunables:     peer.Tunables{DisconnectTimeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// doMAR sends mar over c and returns the decoded MAA.
func doMAR(t testing.TB, c *peer.Client, d *dict.Parser, mar *diameter.MAR) *diameter.MAA {
	t.Helper()
	m, err := mar.Message(d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := c.Do(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	maa, err := diameter.DecodeMAA(a)
	if err != nil {
		t.Fatal(err)
	}
	return maa
}

// TestZhServerMAR: MAR → MAA over TCP with peer.Client; the AV verifies with the USIM.
func TestZhServerMAR(t *testing.T) {
	s := set1(t)
	st := newMemStore(t)
	provision(t, st, s, zhIMPI, []string{zhIMPU}, 0)
	reg := prometheus.NewRegistry()
	z := startZh(t, ZhServerOptions{Store: st, Config: zhConfig(), Registry: reg})
	d := zhDict(t)
	c := zhClient(t, d, zhAddr(t, z), nil)
	arr, _ := aka.NewSQNArray(aka.DefaultSQNScheme())
	usim, _ := aka.NewUSIM(aka.Key(s.k), aka.Key(s.opc), arr, aka.AMFSeparationIgnored)
	for _, mar := range []*diameter.MAR{testMARFor(zhIMPI, ""), testMARFor("", zhIMPU)} {
		maa := doMAR(t, c, d, mar)
		av := avOf(t, maa)
		res, err := usim.Authenticate(av.RAND, av.AUTN)
		if err != nil || !av.XRES.Equal(res.RES[:]) || !av.CK.Equal(res.CK[:]) || !av.IK.Equal(res.IK[:]) {
			t.Fatalf("AV does not verify: %v", err)
		}
		if maa.SessionID != mar.SessionID || maa.OriginHost != zhHost {
			t.Fatalf("MAA header AVPs: %q %q", maa.SessionID, maa.OriginHost)
		}
	}
	r := resultOfMAA(t, doMAR(t, c, d, testMARFor("nobody@home1.net", "")))
	if !r.Experimental || r.Code != diameter.ExpIMPIUnknown || r.VendorID != diameter.VendorID3GPP {
		t.Fatalf("unknown IMPI: %s", r)
	}
	if n := len(z.Peers()); n != 1 {
		t.Fatalf("%d peers", n)
	}
	for _, want := range []struct {
		name   string
		labels map[string]string
		n      float64
	}{
		{"hss_zh_answers_total", map[string]string{"command": "MAR", "result": "2001", "experimental": "false"}, 2},
		{"hss_zh_answers_total", map[string]string{"command": "MAR", "result": "5401", "experimental": "true"}, 1},
		{"hss_zh_answers_total", map[string]string{"command": "CER", "result": "2001", "experimental": "false"}, 1},
		{"hss_zh_request_duration_seconds", map[string]string{"command": "MAR"}, 3},
		{"hss_zh_peers", nil, 1},
		{"hss_subscribers", nil, 1},
	} {
		if got := metricValue(t, reg, want.name, want.labels); got != want.n {
			t.Errorf("%s%v = %v, want %v", want.name, want.labels, got, want.n)
		}
	}
}

// metricValue returns the value of the series of name with labels (a histogram gives its
// sample count), or -1 when there is none.
func metricValue(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

// rawZh speaks Diameter byte by byte to send what peer.Client refuses to.
type rawZh struct {
	t   testing.TB
	nc  net.Conn
	br  *bufio.Reader
	d   *dict.Parser
	hbh uint32
}

func dialRawZh(t testing.TB, addr string, d *dict.Parser) *rawZh {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawZh{t: t, nc: nc, br: bufio.NewReader(nc), d: d, hbh: 7000}
}

func (r *rawZh) send(f []byte) uint32 {
	r.t.Helper()
	r.hbh++
	binary.BigEndian.PutUint32(f[12:16], r.hbh)
	binary.BigEndian.PutUint32(f[16:20], r.hbh)
	if _, err := r.nc.Write(f); err != nil {
		r.t.Fatal(err)
	}
	return r.hbh
}

func (r *rawZh) recv() []byte {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var pre [4]byte
	if _, err := io.ReadFull(r.br, pre[:]); err != nil {
		r.t.Fatalf("read: %v", err)
	}
	n := int(pre[1])<<16 | int(pre[2])<<8 | int(pre[3])
	f := make([]byte, n)
	copy(f, pre[:])
	if _, err := io.ReadFull(r.br, f[4:]); err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return f
}

func (r *rawZh) recvMsg() *diam.Message {
	r.t.Helper()
	m, err := diam.ReadMessage(bytes.NewReader(r.recv()), r.d)
	if err != nil {
		r.t.Fatalf("decode: %v", err)
	}
	return m
}

func zhVSAI() *diam.AVP {
	return diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.VendorID3GPP)),
		diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(diameter.AppIDZh)),
	}})
}

// cer is a Capabilities-Exchange-Request for Zh (RFC 6733 §5.3.1).
func (r *rawZh) cer(host string) []byte {
	r.t.Helper()
	m := diam.NewRequest(diam.CapabilitiesExchange, 0, r.d)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(host))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(zhRealm))
	m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.IPv4(127, 0, 0, 1).To4()))
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("raw"))
	m.NewAVP(avp.SupportedVendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.VendorID3GPP))
	m.AddAVP(zhVSAI())
	b, err := m.Serialize()
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *rawZh) marBytes(mar *diameter.MAR) []byte {
	r.t.Helper()
	b, err := diameter.Encode(r.d, mar)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// frameResult reads Result-Code (or Experimental-Result-Code) and the E bit of an answer.
func frameResult(t testing.TB, f []byte) (code uint32, experimental, ebit bool) {
	t.Helper()
	cmd, code, exp, ok := answerResult(f)
	if !ok || cmd == "" {
		t.Fatalf("no result in %x", f)
	}
	return code, exp, f[4]&diam.ErrorFlag != 0
}

func findAVPs(m *diam.Message, code uint32) []*diam.AVP {
	var out []*diam.AVP
	for _, a := range m.AVP {
		if a.Code == code {
			out = append(out, a)
		}
	}
	return out
}

// TestZhServerCEA: the CEA advertises Zh and nothing else, RFC 6733 §5.3.2 with
// TS 29.109 §5.1: Vendor-Specific-Application-Id {10415, 16777221}, Supported-Vendor-Id
// 10415, no bare Auth-Application-Id, no Zn.
func TestZhServerCEA(t *testing.T) {
	d := zhDict(t)
	z := startZh(t, ZhServerOptions{Store: newMemStore(t), Config: zhConfig(), Now: func() time.Time { return time.Unix(1700000000, 0) }})
	r := dialRawZh(t, zhAddr(t, z), d)
	hbh := r.send(r.cer(bsfHost))
	f := r.recv()
	if binary.BigEndian.Uint32(f[12:16]) != hbh || f[4]&diam.RequestFlag != 0 {
		t.Fatal("not the CEA of our CER")
	}
	cea, err := diam.ReadMessage(bytes.NewReader(f), d)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := frameResult(t, f); code != diameter.ResultSuccess {
		t.Fatalf("CEA Result-Code %d", code)
	}
	str := func(code uint32) string {
		as := findAVPs(cea, code)
		if len(as) != 1 {
			t.Fatalf("AVP %d occurs %d times", code, len(as))
		}
		switch v := as[0].Data.(type) {
		case datatype.DiameterIdentity:
			return string(v)
		case datatype.UTF8String:
			return string(v)
		case datatype.Unsigned32:
			return big.NewInt(int64(v)).String()
		}
		return ""
	}
	if str(avp.OriginHost) != zhHost || str(avp.OriginRealm) != zhRealm || str(avp.ProductName) != ProductName {
		t.Fatal("CEA identity")
	}
	if str(avp.OriginStateID) != "1700000000" {
		t.Fatalf("Origin-State-Id %s", str(avp.OriginStateID))
	}
	if str(avp.SupportedVendorID) != "10415" {
		t.Fatal("Supported-Vendor-Id")
	}
	if n := len(findAVPs(cea, avp.AuthApplicationID)) + len(findAVPs(cea, avp.AcctApplicationID)); n != 0 {
		t.Fatalf("%d bare application ids advertised", n)
	}
	vsais := findAVPs(cea, avp.VendorSpecificApplicationID)
	if len(vsais) != 1 {
		t.Fatalf("%d Vendor-Specific-Application-Id", len(vsais))
	}
	var vendor, app uint32
	for _, a := range vsais[0].Data.(*diam.GroupedAVP).AVP {
		switch a.Code {
		case avp.VendorID:
			vendor = uint32(a.Data.(datatype.Unsigned32))
		case avp.AuthApplicationID:
			app = uint32(a.Data.(datatype.Unsigned32))
		}
	}
	if vendor != diameter.VendorID3GPP || app != diameter.AppIDZh {
		t.Fatalf("Vendor-Specific-Application-Id {%d, %d}", vendor, app)
	}
}

// TestZhServerAllowlist: with an allowlist a CER from another Origin-Host gets
// DIAMETER_UNKNOWN_PEER (RFC 6733 §5.3) and the allowed peer gets in.
func TestZhServerAllowlist(t *testing.T) {
	d := zhDict(t)
	cfg := zhConfig()
	cfg.Open, cfg.Peers = false, []string{bsfHost}
	z := startZh(t, ZhServerOptions{Store: newMemStore(t), Config: cfg})
	r := dialRawZh(t, zhAddr(t, z), d)
	r.send(r.cer("intruder.home1.net"))
	if code, _, _ := frameResult(t, r.recv()); code != diameter.ResultUnknownPeer {
		t.Fatalf("unknown peer: %d", code)
	}
	r = dialRawZh(t, zhAddr(t, z), d)
	r.send(r.cer(bsfHost))
	if code, _, _ := frameResult(t, r.recv()); code != diameter.ResultSuccess {
		t.Fatalf("allowed peer: %d", code)
	}
}

// avpAt returns the offset of the first top-level AVP code in frame f.
func avpAt(t testing.TB, f []byte, code uint32) int {
	t.Helper()
	for off := 20; off+8 <= len(f); {
		l := int(f[off+5])<<16 | int(f[off+6])<<8 | int(f[off+7])
		if binary.BigEndian.Uint32(f[off:]) == code {
			return off
		}
		off += (l + 3) &^ 3
	}
	t.Fatalf("AVP %d not found", code)
	return 0
}

func setLen(f []byte) []byte {
	n := len(f)
	f[1], f[2], f[3] = byte(n>>16), byte(n>>8), byte(n)
	return f
}

// TestZhServerBadRequestsKeepConnection: every malformed MAR gets its error answer
// (RFC 6733 §7) and the next good MAR on the same connection gets its vector.
func TestZhServerBadRequestsKeepConnection(t *testing.T) {
	s := set1(t)
	st := newMemStore(t)
	provision(t, st, s, zhIMPI, nil, 0)
	d := zhDict(t)
	reg := prometheus.NewRegistry()
	z := startZh(t, ZhServerOptions{Store: st, Config: zhConfig(), Registry: reg})
	r := dialRawZh(t, zhAddr(t, z), d)
	r.send(r.cer(bsfHost))
	if code, _, _ := frameResult(t, r.recv()); code != diameter.ResultSuccess {
		t.Fatal("CER refused")
	}
	good := func() []byte { return r.marBytes(testMARFor(zhIMPI, "")) }
	cases := []struct {
		name   string
		frame  func() []byte
		code   uint32
		exp    bool
		failed uint32 // code of the AVP in Failed-AVP, 0: none expected
	}{
		{"RFC6733/7.1.5/5014-malformed-AVP-length", func() []byte {
			f := good()
			off := avpAt(t, f, avp.UserName)
			f[off+5], f[off+6], f[off+7] = 0, 0, 5 // shorter than its header
			return f
		}, diameter.ResultInvalidAVPLength, false, avp.UserName},
		{"RFC6733/7.1.5/5014-truncated-message", func() []byte {
			f := good()
			return setLen(f[:len(f)-8]) // the last AVP runs past the end
		}, diameter.ResultInvalidAVPLength, false, 0},
		{"RFC6733/7.1.5/5001-unknown-M-bit-AVP", func() []byte {
			return setLen(diameter.AppendAVP(good(), 9999, 0x40, 0, []byte("zz")))
		}, diameter.ResultAVPUnsupported, false, 9999},
		{"TS29109/4.2/5005-missing-User-Name", func() []byte {
			return r.marBytes(testMARFor("", ""))
		}, diameter.ResultMissingAVP, false, avp.UserName},
		{"TS29109/6.2.2.1/5401-unknown-IMPI", func() []byte {
			return r.marBytes(testMARFor("nobody@home1.net", ""))
		}, diameter.ExpIMPIUnknown, true, 0},
		{"TS29229/6.2.2.6/5006-scheme", func() []byte {
			mar := testMARFor(zhIMPI, "")
			mar.SIPAuthDataItem = &diameter.SIPAuthDataItem{AuthenticationScheme: "Digest-MD5"}
			return r.marBytes(mar)
		}, diameter.ExpAuthSchemeNotSupported, true, 0},
		{"RFC6733/7.1.3/3001-unknown-command", func() []byte {
			f := good()
			f[7] = 99
			return f
		}, diameter.ResultCommandUnsupported, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			hbh := r.send(tc.frame())
			f := r.recv()
			if got := binary.BigEndian.Uint32(f[12:16]); got != hbh {
				t.Fatalf("answer Hop-by-Hop %d, want %d", got, hbh)
			}
			code, exp, ebit := frameResult(t, f)
			if code != tc.code || exp != tc.exp || ebit != diameter.IsProtocolError(tc.code) {
				t.Fatalf("result %d experimental=%v E=%v, want %d experimental=%v", code, exp, ebit, tc.code, tc.exp)
			}
			if tc.failed != 0 {
				m, err := diam.ReadMessage(bytes.NewReader(f), d)
				if err != nil {
					t.Fatal(err)
				}
				fa := findAVPs(m, avp.FailedAVP)
				if len(fa) != 1 || len(fa[0].Data.(*diam.GroupedAVP).AVP) == 0 || fa[0].Data.(*diam.GroupedAVP).AVP[0].Code != tc.failed {
					t.Fatalf("Failed-AVP %v, want AVP %d", fa, tc.failed)
				}
			}
			// The connection is still usable.
			r.send(good())
			m := r.recvMsg()
			maa, err := diameter.DecodeMAA(m)
			if err != nil {
				t.Fatal(err)
			}
			avOf(t, maa)
		})
	}
	if got := metricValue(t, reg, "hss_zh_answers_total", map[string]string{"command": "MAR", "result": "5014", "experimental": "false"}); got != 2 {
		t.Errorf("5014 answers counted %v, want 2", got)
	}
}

// TestZhServerShutdownSendsDPR: Shutdown sends DPR (RFC 6733 §5.4) to the open peer.
func TestZhServerShutdownSendsDPR(t *testing.T) {
	d := zhDict(t)
	z := startZh(t, ZhServerOptions{Store: newMemStore(t), Config: zhConfig()})
	r := dialRawZh(t, zhAddr(t, z), d)
	r.send(r.cer(bsfHost))
	r.recv()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- z.Shutdown(ctx)
	}()
	dpr := r.recvMsg()
	if dpr.Header.CommandCode != diam.DisconnectPeer || dpr.Header.CommandFlags&diam.RequestFlag == 0 {
		t.Fatalf("got %v, want DPR", dpr.Header)
	}
	cause := findAVPs(dpr, avp.DisconnectCause)
	if len(cause) != 1 || cause[0].Data.(datatype.Enumerated) != datatype.Enumerated(diameter.DisconnectCauseRebooting) {
		t.Fatalf("Disconnect-Cause %v", cause)
	}
	a := dpr.Answer(diameter.ResultSuccess)
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(bsfHost))
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(zhRealm))
	b, err := a.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.nc.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", zhAddr(t, z)); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// writeTLSFiles writes a CA, a server certificate for 127.0.0.1 and a client certificate,
// each with its key, as PEM files.
func writeTLSFiles(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	ca := testcert.NewCA(t)
	ca.WritePEM(t, dir, "ca")
	for _, name := range []string{"server", "client"} {
		testcert.WritePEM(t, dir, name, ca.Issue(t, name))
	}
	return dir
}

// TestZhServerTLS: Diameter over TLS/TCP (RFC 6733 §2.1, §13.1) with client certificates
// verified against the configured CA.
func TestZhServerTLS(t *testing.T) {
	dir := writeTLSFiles(t)
	s := set1(t)
	st := newMemStore(t)
	provision(t, st, s, zhIMPI, nil, 0)
	cfg := zhConfig()
	cfg.TLS = TLSConfig{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"), CAFile: filepath.Join(dir, "ca.pem")}
	z := startZh(t, ZhServerOptions{Store: st, Config: cfg})
	if l := z.Listeners(); len(l) != 1 || l[0].Transport != TransportTLS {
		t.Fatalf("listeners %v", l)
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool.AppendCertsFromPEM(caPEM)
	clientCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	dial := func(certs []tls.Certificate) func(context.Context, string) (net.Conn, error) {
		return func(ctx context.Context, addr string) (net.Conn, error) {
			td := tls.Dialer{Config: &tls.Config{RootCAs: pool, Certificates: certs, MinVersion: tls.VersionTLS12}}
			return td.DialContext(ctx, "tcp", addr)
		}
	}
	d := zhDict(t)
	c := zhClient(t, d, zhAddr(t, z), dial([]tls.Certificate{clientCert}))
	avOf(t, doMAR(t, c, d, testMARFor(zhIMPI, "")))

	// Without a client certificate the handshake fails and no CEA comes back.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = peer.Connect(ctx, peer.ClientConfig{
		Identity:     peer.Identity{OriginHost: "nocert.home1.net", OriginRealm: zhRealm, ProductName: "x"},
		Applications: []peer.Application{{ID: diameter.AppIDZh, VendorID: diameter.VendorID3GPP}},
		Servers:      []string{zhAddr(t, z)}, Dial: dial(nil), Dictionary: d,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("connected without a client certificate")
	}
}

func TestZhServerConfigErrors(t *testing.T) {
	st := newMemStore(t)
	dir := writeTLSFiles(t)
	for name, mod := range map[string]func(*DiameterConfig){
		"no-listener":     func(c *DiameterConfig) { c.ListenTCP = nil },
		"no-host":         func(c *DiameterConfig) { c.OriginHost = "" },
		"closed-no-peers": func(c *DiameterConfig) { c.Open = false },
		"missing-cert": func(c *DiameterConfig) {
			c.TLS = TLSConfig{CertFile: filepath.Join(dir, "nope.pem"), KeyFile: filepath.Join(dir, "server-key.pem")}
		},
		"ca-not-pem": func(c *DiameterConfig) {
			c.TLS = TLSConfig{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"), CAFile: filepath.Join(dir, "server-key.pem")}
		},
		"ca-without-cert": func(c *DiameterConfig) { c.TLS = TLSConfig{CAFile: filepath.Join(dir, "ca.pem")} },
	} {
		cfg := zhConfig()
		mod(&cfg)
		if _, err := NewZhServer(ZhServerOptions{Store: st, Config: cfg}); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
	if _, err := NewZhServer(ZhServerOptions{Config: zhConfig()}); err == nil {
		t.Error("nil store accepted")
	}
	// A busy port is reported by Start, naming the address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := zhConfig()
	cfg.ListenTCP = []string{"127.0.0.1:0", ln.Addr().String()}
	z, err := NewZhServer(ZhServerOptions{Store: st, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Start(); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Start on a busy port: %v", err)
	}
}

// TestZhServerSCTP: an SCTP listener where the kernel has SCTP (RFC 6733 §2.1).
func TestZhServerSCTP(t *testing.T) {
	cfg := zhConfig()
	cfg.ListenTCP, cfg.ListenSCTP = nil, []string{"127.0.0.1:0"}
	z, err := NewZhServer(ZhServerOptions{Store: newMemStore(t), Config: cfg, Logger: zhTestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Start(); err != nil {
		t.Skipf("no SCTP here (kernel module sctp not loaded?): %v", err)
	}
	defer z.Close()
	if l := z.Listeners(); len(l) != 1 || l[0].Transport != TransportSCTP {
		t.Fatalf("listeners %v", l)
	}
}

// encodeMAA5401 returns the octets of an MAA with Experimental-Result 5401
// (DIAMETER_ERROR_IDENTITY_UNKNOWN), the answer the metrics tests count.
func encodeMAA5401(t *testing.T, d *dict.Parser) []byte {
	t.Helper()
	b, err := diameter.Encode(d, &diameter.MAA{SessionID: "s", OriginHost: zhHost, OriginRealm: zhRealm,
		ExperimentalResult: &diameter.ExperimentalResult{VendorID: diameter.VendorID3GPP, ExperimentalResultCode: 5401}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnswerResultParser: the answer parser of the metrics reads what it must and
// ignores the rest.
func TestAnswerResultParser(t *testing.T) {
	d := zhDict(t)
	b := encodeMAA5401(t, d)
	if cmd, code, exp, ok := answerResult(b); !ok || cmd != "MAR" || code != 5401 || !exp {
		t.Fatalf("got %s %d %v %v", cmd, code, exp, ok)
	}
	req, _ := diameter.Encode(d, testMARFor(zhIMPI, ""))
	for _, f := range [][]byte{req, b[:19], b[:len(b)-4], nil} {
		if _, _, _, ok := answerResult(f); ok {
			t.Errorf("parsed %x", f)
		}
	}
}

// TestObservedConnCountsEveryFrameOfABatch: the peer layer may join several answers in one
// Write; the metrics count each of them.
func TestObservedConnCountsEveryFrameOfABatch(t *testing.T) {
	d := zhDict(t)
	b := encodeMAA5401(t, d)
	st, err := NewMemoryStore(DefaultSQNConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewZhMetrics(reg, st, func() int { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	a, peerSide := net.Pipe()
	defer a.Close()
	go func() { _, _ = io.Copy(io.Discard, peerSide) }()
	oc := &observedConn{Conn: a, m: m}
	if _, err := oc.Write(append(append(append([]byte(nil), b...), b...), b...)); err != nil {
		t.Fatal(err)
	}
	if got := testutilCount(t, reg, "hss_zh_answers_total"); got != 3 {
		t.Fatalf("answers counted = %v, want 3", got)
	}
}

func testutilCount(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
