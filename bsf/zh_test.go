package bsf

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/testcert"
)

const testIMPI = "user1_private@home1.net"

// zhConfig is a Zh configuration towards the given HSS addresses, by ascending priority.
func zhConfig(addrs ...string) ZhConfig {
	cfg := Default().Zh
	cfg.Timeout = 2 * time.Second
	cfg.Peers = nil
	for i, a := range addrs {
		cfg.Peers = append(cfg.Peers, HSSPeer{Address: a, Transport: TransportTCP, Priority: i + 1})
	}
	return cfg
}

// newZhClient builds a client with fast reconnection and the metrics of a test BSF.
func newZhClient(t testing.TB, cfg ZhConfig, opts ZhOptions) *ZhClient {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLog(t)
	}
	if opts.Dictionary == nil {
		opts.Dictionary = testDictionary(t)
	}
	opts.BackoffMin, opts.BackoffMax, opts.ConnectTimeout = 10*time.Millisecond, 50*time.Millisecond, 2*time.Second
	z, err := NewZhClient(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Close() })
	return z
}

// TestZhClientAV: one MAR/MAA round trip. The MAR carries what TS 29.109 §6.1.1 asks for
// (User-Name = IMPI, SIP-Auth-Data-Item{Digest-AKAv1-MD5}, no GUSS-Timestamp when the BSF
// holds no GUSS, a Session-Id of the form of RFC 6733 §8.8) and the AV of the MAA is the
// TS 35.208 set 1 vector (TS 29.109 §6.1.2).
func TestZhClientAV(t *testing.T) {
	hss := newFakeZh(t, "hss.home1.net")
	tb := newTestBSF(t)
	z := newZhClient(t, zhConfig(hss.addr), ZhOptions{Metrics: tb.Metrics()})
	av, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI})
	if err != nil {
		t.Fatal(err)
	}
	set := loadSet1(t)
	if !bytes.Equal(av.RAND[:], unhex(t, set.RAND)) || !bytes.Equal(av.AUTN[:], unhex(t, set.AUTN)) ||
		!bytes.Equal(av.XRES, unhex(t, set.F2)) || !bytes.Equal(av.CK[:], unhex(t, set.F3)) || !bytes.Equal(av.IK[:], unhex(t, set.F4)) {
		t.Errorf("AV = %v, want TS35208/set1", av)
	}
	if av.GUSS != nil || !av.GUSSTimestamp.IsZero() {
		t.Errorf("GUSS %q at %v, want none", av.GUSS, av.GUSSTimestamp)
	}
	mars := hss.received()
	if len(mars) != 1 {
		t.Fatalf("HSS got %d MARs", len(mars))
	}
	mar := mars[0]
	if mar.IMPI != testIMPI || mar.SIPAuthDataItem == nil || mar.SIPAuthDataItem.AuthenticationScheme != diameter.SchemeAKAv1MD5 ||
		len(mar.SIPAuthDataItem.Authorization) != 0 || !mar.GUSSTimestamp.IsZero() {
		t.Errorf("MAR = %+v", mar)
	}
	if mar.OriginHost != "bsf.opengba.test" || mar.DestinationRealm != "opengba.test" {
		t.Errorf("MAR identity %q → %q", mar.OriginHost, mar.DestinationRealm)
	}
	if parts := strings.Split(mar.SessionID, ";"); len(parts) != 3 || parts[0] != "bsf.opengba.test" {
		t.Errorf("Session-Id %q, want <Origin-Host>;<high>;<low> (RFC 6733 §8.8)", mar.SessionID)
	}
	if raw := hss.rawReceived()[0]; raw.Header.CommandFlags&diam.ProxiableFlag == 0 {
		t.Error("MAR without the P flag (TS 29.109 §6.1.1: PXY)")
	}
	if !z.Ready() {
		t.Error("Ready() = false with a connected HSS")
	}
	z.updateGauge()
	if got := metricValue(t, tb.BSF, "bsf_zh_peer_up", "peer", hss.addr); got != 1 {
		t.Errorf("bsf_zh_peer_up{peer=%s} = %v, want 1", hss.addr, got)
	}
	if got := metricValue(t, tb.BSF, "bsf_zh_request_duration_seconds", "result", "success"); got != 1 {
		t.Errorf("zh latency samples (success) = %v, want 1", got)
	}
	// A second request gets another Session-Id.
	if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); err != nil {
		t.Fatal(err)
	}
	if m := hss.received(); m[0].SessionID == m[1].SessionID {
		t.Errorf("two MARs share the Session-Id %q", m[0].SessionID)
	}
}

// TestZhClientGUSS: GUSS-Timestamp goes out when the BSF holds a GUSS (TS 29.109 §6.3.1.9,
// V flag without M, DD.3), and a GUSS in the MAA comes back stamped with its arrival second
// minus one.
func TestZhClientGUSS(t *testing.T) {
	hss := newFakeZh(t, "hss.home1.net")
	const guss = `<guss id="user1_private@home1.net"><bsfInfo><lifeTime>3600</lifeTime></bsfInfo></guss>`
	base := hss.answer
	hss.setAnswer(func(ctx context.Context, mar *diameter.MAR, raw *diam.Message) (*diameter.MAA, error) {
		maa, err := base(ctx, mar, raw)
		if maa != nil {
			maa.GUSS = []byte(guss)
		}
		return maa, err
	})
	now := time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	z := newZhClient(t, zhConfig(hss.addr), ZhOptions{Now: func() time.Time { return now }})
	held := time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC)
	av, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI, GUSSTimestamp: held})
	if err != nil {
		t.Fatal(err)
	}
	if string(av.GUSS) != guss || !av.GUSSTimestamp.Equal(time.Date(2030, 1, 2, 3, 4, 4, 0, time.UTC)) {
		t.Errorf("GUSS %q at %v", av.GUSS, av.GUSSTimestamp)
	}
	mar := hss.received()[0]
	if !mar.GUSSTimestamp.Equal(held) {
		t.Errorf("MAR GUSS-Timestamp = %v, want %v", mar.GUSSTimestamp, held)
	}
	var found bool
	for _, a := range hss.rawReceived()[0].AVP {
		if a.Code == diameter.AVPGUSSTimestamp && a.VendorID == diameter.VendorID3GPP {
			found = true
			if a.Flags&avp.Vbit == 0 || a.Flags&avp.Mbit != 0 {
				t.Errorf("GUSS-Timestamp flags %#x, want V without M", a.Flags)
			}
		}
	}
	if !found {
		t.Error("MAR has no GUSS-Timestamp AVP")
	}
}

// TestZhClientResync: the resynchronisation MAR carries SIP-Authorization = RAND ‖ AUTS
// (TS 33.220 §4.5.2, TS 29.109 §6.1.1) and gets a fresh AV; an HSS that refuses the AUTS
// (4001, as hss-sim answers a MAC-S failure) gives ErrResyncFailed.
func TestZhClientResync(t *testing.T) {
	hss := newFakeZh(t, "hss.home1.net")
	z := newZhClient(t, zhConfig(hss.addr), ZhOptions{})
	ri := &ResyncInfo{}
	copy(ri.RAND[:], unhex(t, loadSet1(t).RAND))
	copy(ri.AUTS[:], unhex(t, "ba853f3c123ccf44e93596e355c6")) // TS 35.208 set 1 AUTS (GBA-DIGEST §6)
	if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI, Resync: ri}); err != nil {
		t.Fatal(err)
	}
	mar := hss.received()[0]
	rnd, auts, err := mar.SIPAuthDataItem.Resync()
	if err != nil || !bytes.Equal(rnd, ri.RAND[:]) || !bytes.Equal(auts, ri.AUTS[:]) {
		t.Errorf("resync MAR SIP-Authorization: RAND %x AUTS %x (%v)", rnd, auts, err)
	}

	hss.setAnswer(func(_ context.Context, mar *diameter.MAR, _ *diam.Message) (*diameter.MAA, error) {
		return &diameter.MAA{SessionID: mar.SessionID, OriginHost: "hss.home1.net", OriginRealm: "home1.net",
			ResultCode: diameter.ResultAuthenticationRejected}, nil
	})
	if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI, Resync: ri}); !errors.Is(err, ErrResyncFailed) {
		t.Errorf("refused resync: %v, want ErrResyncFailed", err)
	}
	// The same result code outside a resync is not a resync failure.
	if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); err == nil || errors.Is(err, ErrResyncFailed) {
		t.Errorf("4001 without resync: %v", err)
	}
}

// TestZhClientResults: MAA results map onto the domain errors (zhError) end to end.
func TestZhClientResults(t *testing.T) {
	hss := newFakeZh(t, "hss.home1.net")
	z := newZhClient(t, zhConfig(hss.addr), ZhOptions{})
	exp := func(code uint32) *diameter.ExperimentalResult {
		return &diameter.ExperimentalResult{VendorID: diameter.VendorID3GPP, ExperimentalResultCode: code}
	}
	set := loadSet1(t)
	tests := []struct {
		name string
		maa  func(sid string) *diameter.MAA
		want error // nil: any non-nil error that is none of the sentinels
	}{
		{"5401 IMPI unknown", func(sid string) *diameter.MAA { return &diameter.MAA{SessionID: sid, ExperimentalResult: exp(5401)} }, ErrIMPIUnknown},
		{"Cx 5001 user unknown", func(sid string) *diameter.MAA { return &diameter.MAA{SessionID: sid, ExperimentalResult: exp(5001)} }, ErrIMPIUnknown},
		{"3004 too busy", func(sid string) *diameter.MAA { return &diameter.MAA{SessionID: sid, ResultCode: 3004} }, ErrHSSUnavailable},
		{"3002 unable to deliver", func(sid string) *diameter.MAA { return &diameter.MAA{SessionID: sid, ResultCode: 3002} }, ErrHSSUnavailable},
		{"5012 unable to comply", func(sid string) *diameter.MAA { return &diameter.MAA{SessionID: sid, ResultCode: 5012} }, nil},
		{"other Session-Id", func(sid string) *diameter.MAA {
			item, _ := diameter.NewAKAAuthDataItem(diameter.AKAVector{RAND: unhex(t, set.RAND), AUTN: unhex(t, set.AUTN),
				XRES: unhex(t, set.F2), CK: unhex(t, set.F3), IK: unhex(t, set.F4)})
			return &diameter.MAA{SessionID: sid + ";x", ResultCode: 2001, SIPAuthDataItem: item}
		}, nil},
		{"success without AV", func(sid string) *diameter.MAA { return &diameter.MAA{SessionID: sid, ResultCode: 2001} }, nil},
		{"AUTN too short", func(sid string) *diameter.MAA {
			return &diameter.MAA{SessionID: sid, ResultCode: 2001, SIPAuthDataItem: &diameter.SIPAuthDataItem{
				AuthenticationScheme: diameter.SchemeAKAv1MD5, Authenticate: make([]byte, 31),
				Authorization: unhex(t, set.F2), CK: unhex(t, set.F3), IK: unhex(t, set.F4)}}
		}, nil},
		{"XRES too long", func(sid string) *diameter.MAA {
			return &diameter.MAA{SessionID: sid, ResultCode: 2001, SIPAuthDataItem: &diameter.SIPAuthDataItem{
				AuthenticationScheme: diameter.SchemeAKAv1MD5, Authenticate: make([]byte, 32),
				Authorization: make([]byte, 17), CK: unhex(t, set.F3), IK: unhex(t, set.F4)}}
		}, nil},
		{"other scheme", func(sid string) *diameter.MAA {
			return &diameter.MAA{SessionID: sid, ResultCode: 2001, SIPAuthDataItem: &diameter.SIPAuthDataItem{
				AuthenticationScheme: "Digest-MD5", Authenticate: make([]byte, 32),
				Authorization: unhex(t, set.F2), CK: unhex(t, set.F3), IK: unhex(t, set.F4)}}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hss.setAnswer(func(_ context.Context, mar *diameter.MAR, _ *diam.Message) (*diameter.MAA, error) {
				m := tt.maa(mar.SessionID)
				m.OriginHost, m.OriginRealm = "hss.home1.net", "home1.net"
				return m, nil
			})
			_, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI})
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("error %v, want %v", err, tt.want)
			case tt.want == nil && (errors.Is(err, ErrIMPIUnknown) || errors.Is(err, ErrHSSUnavailable) || errors.Is(err, ErrResyncFailed)):
				t.Errorf("error %v, want none of the sentinels", err)
			}
			for _, s := range []string{strings.ToLower(loadSet1(t).F2), strings.ToLower(set.F3), strings.ToLower(set.F4)} {
				if strings.Contains(strings.ToLower(err.Error()), s) {
					t.Errorf("error %q quotes key material", err)
				}
			}
		})
	}
}

// TestZhErrorTable is the table of zhError, the one error mapping of the Zh edge.
func TestZhErrorTable(t *testing.T) {
	exp := func(code uint32) diameter.Result {
		return diameter.Result{Code: code, VendorID: diameter.VendorID3GPP, Experimental: true}
	}
	rc := func(code uint32) diameter.Result { return diameter.Result{Code: code} }
	tests := []struct {
		r      diameter.Result
		resync bool
		want   error
		label  string
	}{
		{rc(2001), false, nil, "success"},
		{exp(5401), false, ErrIMPIUnknown, "impi_unknown"},
		{exp(5401), true, ErrIMPIUnknown, "impi_unknown"},
		{exp(5001), false, ErrIMPIUnknown, "impi_unknown"},
		{diameter.Result{Code: 5401, VendorID: 99, Experimental: true}, false, errOther, "5401"},
		{rc(5401), false, errOther, "5401"},
		{rc(3002), false, ErrHSSUnavailable, "3002"},
		{rc(3004), true, ErrHSSUnavailable, "3004"},
		{rc(4001), true, ErrResyncFailed, "resync_failed"},
		{rc(5004), true, ErrResyncFailed, "resync_failed"},
		{rc(5003), true, ErrResyncFailed, "resync_failed"},
		{rc(4001), false, errOther, "4001"},
		{rc(5012), false, errOther, "5012"},
		{rc(5012), true, errOther, "5012"},
		{exp(5006), false, errOther, "5006"},
	}
	for _, tt := range tests {
		label, err := zhError(tt.r, tt.resync)
		if label != tt.label {
			t.Errorf("zhError(%v, %v) label %q, want %q", tt.r, tt.resync, label, tt.label)
		}
		switch {
		case tt.want == nil && err != nil, tt.want != nil && err == nil:
			t.Errorf("zhError(%v, %v) = %v, want %v", tt.r, tt.resync, err, tt.want)
		case tt.want == errOther:
			var re *diameter.ResultError
			if !errors.As(err, &re) || errors.Is(err, ErrHSSUnavailable) || errors.Is(err, ErrIMPIUnknown) || errors.Is(err, ErrResyncFailed) {
				t.Errorf("zhError(%v, %v) = %v, want a plain *diameter.ResultError", tt.r, tt.resync, err)
			}
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("zhError(%v, %v) = %v, want %v", tt.r, tt.resync, err, tt.want)
		}
	}
}

var errOther = errors.New("other")

// TestZhClientTimeout: an HSS that does not answer gives ErrHSSUnavailable after the Zh
// timeout, not later.
func TestZhClientTimeout(t *testing.T) {
	hss := newFakeZh(t, "hss.home1.net")
	release := make(chan struct{})
	hss.setAnswer(func(ctx context.Context, _ *diameter.MAR, _ *diam.Message) (*diameter.MAA, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, errors.New("too late")
	})
	cfg := zhConfig(hss.addr)
	cfg.Timeout = 300 * time.Millisecond
	tb := newTestBSF(t)
	z := newZhClient(t, cfg, ZhOptions{Metrics: tb.Metrics()})
	t.Cleanup(func() { close(release) }) // runs before the client's Close: its DPA is not held up
	start := time.Now()
	_, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrHSSUnavailable) {
		t.Fatalf("error %v, want ErrHSSUnavailable", err)
	}
	if elapsed < cfg.Timeout || elapsed > cfg.Timeout+time.Second {
		t.Errorf("gave up after %v, want about %v", elapsed, cfg.Timeout)
	}
	if got := metricValue(t, tb.BSF, "bsf_zh_request_duration_seconds", "result", "timeout"); got != 1 {
		t.Errorf("zh latency samples (timeout) = %v, want 1", got)
	}
	// A caller's earlier deadline wins over the Zh timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := z.FetchAV(ctx, AVRequest{IMPI: testIMPI}); !errors.Is(err, ErrHSSUnavailable) || time.Since(start) > cfg.Timeout {
		t.Errorf("caller deadline: %v after %v", err, time.Since(start))
	}
}

// TestZhClientNoHSS: with every HSS down the client is not ready and FetchAV gives
// ErrHSSUnavailable within the timeout.
func TestZhClientNoHSS(t *testing.T) {
	cfg := zhConfig(closedAddr(t), closedAddr(t))
	cfg.Timeout = 200 * time.Millisecond
	tb := newTestBSF(t)
	z := newZhClient(t, cfg, ZhOptions{Metrics: tb.Metrics()})
	start := time.Now()
	if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); !errors.Is(err, ErrHSSUnavailable) {
		t.Errorf("error %v, want ErrHSSUnavailable", err)
	}
	if d := time.Since(start); d > cfg.Timeout+time.Second {
		t.Errorf("took %v", d)
	}
	if z.Ready() {
		t.Error("Ready() = true with no HSS")
	}
	z.updateGauge()
	for _, p := range cfg.Peers {
		if got := metricValue(t, tb.BSF, "bsf_zh_peer_up", "peer", p.Address); got != 0 {
			t.Errorf("bsf_zh_peer_up{peer=%s} = %v", p.Address, got)
		}
	}
}

// TestZhClientFailover: peers are tried by ascending priority; when the first is down the
// second serves, and when the serving HSS goes away (DPR) the client moves to the other.
func TestZhClientFailover(t *testing.T) {
	t.Run("first down", func(t *testing.T) {
		hss := newFakeZh(t, "hss2.home1.net")
		down := closedAddr(t)
		cfg := zhConfig()
		// Listed out of order: Priority decides.
		cfg.Peers = []HSSPeer{{Address: hss.addr, Priority: 7}, {Address: down, Priority: 3}}
		tb := newTestBSF(t)
		z := newZhClient(t, cfg, ZhOptions{Metrics: tb.Metrics()})
		if !slices.Equal(z.addrs, []string{down, hss.addr}) {
			t.Errorf("order %v, want by priority", z.addrs)
		}
		if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); err != nil {
			t.Fatal(err)
		}
		if len(hss.received()) != 1 {
			t.Error("the second HSS did not get the MAR")
		}
		z.updateGauge()
		if metricValue(t, tb.BSF, "bsf_zh_peer_up", "peer", hss.addr) != 1 || metricValue(t, tb.BSF, "bsf_zh_peer_up", "peer", down) != 0 {
			t.Error("bsf_zh_peer_up does not show the second HSS up and the first down")
		}
	})
	t.Run("primary leaves", func(t *testing.T) {
		primary := newFakeZh(t, "hss1.home1.net")
		secondary := newFakeZh(t, "hss2.home1.net")
		z := newZhClient(t, zhConfig(primary.addr, secondary.addr), ZhOptions{})
		if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); err != nil {
			t.Fatal(err)
		}
		if len(primary.received()) != 1 || len(secondary.received()) != 0 {
			t.Fatalf("MARs: primary %d, secondary %d", len(primary.received()), len(secondary.received()))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := primary.srv.Shutdown(ctx); err != nil {
			t.Fatalf("primary shutdown (DPR): %v", err)
		}
		if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); err != nil {
			t.Fatalf("after failover: %v", err)
		}
		if len(secondary.received()) != 1 {
			t.Error("the secondary HSS did not get the MAR after failover")
		}
		if info, ok := z.client.Peer(); !ok || info.OriginHost != "hss2.home1.net" {
			t.Errorf("connected to %+v", info)
		}
	})
}

// TestZhClientCapabilitiesAndDPR talks to the client with a hand-written HSS: the CER
// advertises only Zh {10415, 16777221} (RFC 6733 §5.3.1, TS 29.109 §5.1); the MAR is a
// proxiable Zh request (TS 29.109 §6.1.1) and an Experimental-Result 5401 maps to
// ErrIMPIUnknown; an idle link gets DWRs (RFC 6733 §5.5); Close sends a DPR (RFC 6733 §5.4)
// and returns once the DPA arrives.
func TestZhClientCapabilitiesAndDPR(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type seen struct {
		cer, mar, dpr rawMsg
		err           error
	}
	done := make(chan seen, 1)
	dwr := make(chan rawMsg, 1)
	go func() {
		var s seen
		defer func() { done <- s }()
		nc, err := ln.Accept()
		if err != nil {
			s.err = err
			return
		}
		defer nc.Close()
		p := &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc)}
		if s.cer, s.err = p.tryRead(5 * time.Second); s.err != nil {
			return
		}
		ok := rawAVPBytes(avpResultCode, rawAVPM, 0, rawU32(2001))
		cea := rawAnswerTo(s.cer, append([][]byte{ok}, append(rawIdentity("hss.home1.net", "home1.net"), rawCapabilities(rawAppZh)...)...)...)
		if _, s.err = nc.Write(cea); s.err != nil {
			return
		}
		for {
			m, err := p.tryRead(10 * time.Second)
			if err != nil {
				s.err = err
				return
			}
			switch {
			case m.flags&rawFlagR != 0 && m.code == rawMAR:
				s.mar = m
				sid, _ := m.find(avpSessionID, 0)
				maa := rawAnswerTo(m, append([][]byte{
					rawAVPBytes(avpSessionID, rawAVPM, 0, sid.data),
					rawVSAI(rawAppZh),
					rawAVPBytes(avpExperimentalResult, rawAVPM, 0, rawGroup(
						rawAVPBytes(avpVendorID, rawAVPM, 0, rawU32(rawVendor)),
						rawAVPBytes(avpExpResultCode, rawAVPM, 0, rawU32(5401)))),
					rawAVPBytes(avpAuthSessionState, rawAVPM, 0, rawU32(1)),
				}, rawIdentity("hss.home1.net", "home1.net")...)...)
				if _, s.err = nc.Write(maa); s.err != nil {
					return
				}
			case m.flags&rawFlagR != 0 && m.code == rawDWR:
				select {
				case dwr <- m:
				default:
				}
				dwa := rawAnswerTo(m, append([][]byte{ok}, rawIdentity("hss.home1.net", "home1.net")...)...)
				if _, s.err = nc.Write(dwa); s.err != nil {
					return
				}
			case m.flags&rawFlagR != 0 && m.code == rawDPR:
				s.dpr = m
				dpa := rawAnswerTo(m, append([][]byte{ok}, rawIdentity("hss.home1.net", "home1.net")...)...)
				_, s.err = nc.Write(dpa)
				return
			}
		}
	}()
	cfg := zhConfig(ln.Addr().String())
	cfg.Peers[0].Host = "hss.home1.net"
	cfg.WatchdogInterval = 50 * time.Millisecond
	z := newZhClient(t, cfg, ZhOptions{})
	if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); !errors.Is(err, ErrIMPIUnknown) {
		t.Errorf("FetchAV: %v, want ErrIMPIUnknown from the hand-written 5401", err)
	}
	// RFC 6733 §5.5: after Tw without traffic the client sends a DWR.
	select {
	case m := <-dwr:
		if m.str(avpOriginHost, 0) != "bsf.opengba.test" {
			t.Errorf("DWR Origin-Host %q", m.str(avpOriginHost, 0))
		}
	case <-time.After(5 * time.Second):
		t.Error("no DWR within 5 s with a 50 ms watchdog interval")
	}
	if !z.Ready() {
		t.Error("Ready() = false after an answer")
	}
	if err := z.Close(); err != nil {
		t.Errorf("Close: %v (no DPA?)", err)
	}
	s := <-done
	if s.err != nil {
		t.Fatal(s.err)
	}
	if s.cer.code != rawCER || s.cer.flags&rawFlagR == 0 {
		t.Fatalf("first frame is command %d flags %#x, want a CER", s.cer.code, s.cer.flags)
	}
	auth, vsai := s.cer.applications()
	if len(auth) != 0 || !slices.Equal(vsai, [][2]uint32{{rawVendor, rawAppZh}}) {
		t.Errorf("CER advertises Auth-Application-Id %v and Vendor-Specific %v, want only {10415, 16777221}", auth, vsai)
	}
	if a, ok := s.cer.find(avpSupportedVendorID, 0); !ok || a.u32() != rawVendor {
		t.Error("CER without Supported-Vendor-Id 10415")
	}
	if got := s.cer.str(avpOriginHost, 0); got != "bsf.opengba.test" {
		t.Errorf("CER Origin-Host %q", got)
	}
	if s.mar.app != rawAppZh || s.mar.flags&(rawFlagR|rawFlagP) != rawFlagR|rawFlagP || s.mar.str(avpUserName, 0) != testIMPI {
		t.Errorf("MAR app %d flags %#x User-Name %q", s.mar.app, s.mar.flags, s.mar.str(avpUserName, 0))
	}
	if a, ok := s.dpr.find(avpDisconnectCause, 0); !ok || a.u32() != 2 {
		t.Errorf("DPR Disconnect-Cause %v, want DO_NOT_WANT_TO_TALK_TO_YOU (2)", a.u32())
	}
	if z.Ready() {
		t.Error("Ready() after Close")
	}
	if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); !errors.Is(err, ErrHSSUnavailable) {
		t.Errorf("FetchAV after Close: %v", err)
	}
}

// TestZhClientTLS: with ZhOptions.TLS the client runs TLS before the CER (RFC 6733 §2.1,
// §13.1) and checks the HSS certificate.
func TestZhClientTLS(t *testing.T) {
	cert, pool := testcert.SelfSigned(t, "bsf.opengba.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hss := newFakeZhOn(t, "hss.home1.net", tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	z := newZhClient(t, zhConfig(hss.addr), ZhOptions{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	// An HSS certificate the client does not trust: no connection.
	cfg := zhConfig(hss.addr)
	cfg.Timeout = 300 * time.Millisecond
	untrusting := newZhClient(t, cfg, ZhOptions{TLS: &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}})
	if _, err := untrusting.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); !errors.Is(err, ErrHSSUnavailable) {
		t.Errorf("untrusted certificate: %v, want ErrHSSUnavailable", err)
	}
	if len(hss.received()) != 1 {
		t.Errorf("HSS got %d MARs, want 1", len(hss.received()))
	}
}

// TestZhClientAllowlist: when every peer names its Host, a CEA from another Origin-Host is
// refused and no request goes out.
func TestZhClientAllowlist(t *testing.T) {
	hss := newFakeZh(t, "impostor.home1.net")
	cfg := zhConfig(hss.addr)
	cfg.Peers[0].Host = "hss.home1.net"
	cfg.Timeout = 300 * time.Millisecond
	z := newZhClient(t, cfg, ZhOptions{})
	if _, err := z.FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); !errors.Is(err, ErrHSSUnavailable) {
		t.Errorf("error %v, want ErrHSSUnavailable", err)
	}
	if len(hss.received()) != 0 {
		t.Error("a MAR went to an HSS with the wrong Origin-Host")
	}
}

func TestNewZhClientConfig(t *testing.T) {
	good := zhConfig("127.0.0.1:1")
	tests := []struct {
		name  string
		mod   func(*ZhConfig)
		field string
	}{
		{"no peers", func(c *ZhConfig) { c.Peers = nil }, "zh.peers"},
		{"duplicate", func(c *ZhConfig) { c.Peers = append(c.Peers, c.Peers[0]) }, "zh.peers[1].address"},
		{"transport", func(c *ZhConfig) { c.Peers[0].Transport = "udp" }, "zh.peers[0].transport"},
		{"timeout", func(c *ZhConfig) { c.Timeout = 0 }, "zh.timeout"},
		{"origin host", func(c *ZhConfig) { c.OriginHost = "" }, "zh.origin_host"},
	}
	for _, tt := range tests {
		cfg := good
		cfg.Peers = slices.Clone(good.Peers)
		tt.mod(&cfg)
		_, err := NewZhClient(cfg, ZhOptions{})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field {
			t.Errorf("%s: %v, want a ConfigError on %s", tt.name, err, tt.field)
		}
	}
}

// FuzzZhMAA feeds arbitrary MAA frames through the client's decode path (the peer layer's
// validation, the ZhFrameCodec's DecodeMAA, zhError, avFromMAA): it never panics, and an AV it accepts has the
// lengths of TS 33.102 §6.3.2.
func FuzzZhMAA(f *testing.F) {
	d := testDictionary(f)
	set := loadSet1(f)
	item, err := diameter.NewAKAAuthDataItem(diameter.AKAVector{RAND: unhex(f, set.RAND), AUTN: unhex(f, set.AUTN),
		XRES: unhex(f, set.F2), CK: unhex(f, set.F3), IK: unhex(f, set.F4)})
	if err != nil {
		f.Fatal(err)
	}
	for _, maa := range []*diameter.MAA{
		{SessionID: "bsf;1;1", OriginHost: "hss", OriginRealm: "r", ResultCode: 2001, SIPAuthDataItem: item, GUSS: []byte("<guss/>")},
		{SessionID: "bsf;1;2", OriginHost: "hss", OriginRealm: "r", ExperimentalResult: &diameter.ExperimentalResult{VendorID: 10415, ExperimentalResultCode: 5401}},
		{SessionID: "bsf;1;3", OriginHost: "hss", OriginRealm: "r", ResultCode: 3004},
	} {
		b, err := diameter.Encode(d, maa)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	v, err := diameter.NewValidator(d, diameter.AppIDZh)
	if err != nil {
		f.Fatal(err)
	}
	codec, err := diameter.NewZhFrameCodec(d)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if err := v.Validate(frame); err != nil {
			return
		}
		maa, err := codec.DecodeMAA(frame)
		if err != nil {
			return
		}
		r, err := maa.Result()
		if err != nil {
			return
		}
		if _, err := zhError(r, false); err != nil {
			return
		}
		av, err := avFromMAA(maa, now)
		if err != nil {
			return
		}
		if len(av.XRES) < minXRES || len(av.XRES) > maxXRES || (av.GUSS == nil) != av.GUSSTimestamp.IsZero() {
			t.Fatalf("accepted %v", av)
		}
	})
}
