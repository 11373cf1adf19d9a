package bsf

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testcert"
)

const nafHost = "naf.home1.net" // Origin-Host and FQDN of the NAF in testConfig

// startZn starts the Zn server of tb on 127.0.0.1 and returns its TCP address.
func startZn(t testing.TB, tb *testBSF, opts ZnOptions) (*ZnServer, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLog(t)
	}
	tb.cfg.Zn.ListenTCP = []string{"127.0.0.1:0"}
	z, err := NewZnServer(tb.BSF, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Close() })
	ls := z.Listeners()
	if len(ls) != 1 {
		t.Fatalf("listeners %v", ls)
	}
	return z, ls[0].Addr.String()
}

// connectNAF opens a hand-written Zn client that has completed the capabilities exchange.
func connectNAF(t testing.TB, addr, host string) *rawPeer {
	t.Helper()
	p := dialRaw(t, addr)
	cea := p.capabilities(host, "home1.net", rawAppZn)
	if code, _ := cea.result(); code != 2001 {
		t.Fatalf("CEA result %d", code)
	}
	return p
}

func uaNAFID(t testing.TB, fqdn string) gba.NAFID {
	t.Helper()
	id, err := gba.NewNAFID(fqdn, gba.UaIDHTTPDigest)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestZnKsNAF: a UE bootstraps over Ub; a hand-written NAF asks for its key over Zn and
// gets the Ks_NAF the UE derives itself for the same NAF_Id (TS 33.220 §4.5.3, §B.3), with
// the BIA of TS 29.109 §6.2.2. The NAF-Id octets go into the KDF exactly as received.
func TestZnKsNAF(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	_, addr := startZn(t, tb, ZnOptions{})
	ue := newTestUE(t, tb, impi1)
	btidText, rnd, ks := ue.bootstrapWithKs()
	session, err := tb.store.Session(context.Background(), mustBTID(t, btidText))
	if err != nil {
		t.Fatal(err)
	}

	naf := connectNAF(t, addr, nafHost)
	for _, tt := range []struct {
		name          string
		fqdn          string
		impiRequested bool
	}{
		{"FQDN as configured, IMPI requested", nafHost, true},
		{"FQDN in other case, IMPI not requested", "NAF.Home1.net", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := uaNAFID(t, tt.fqdn)
			want, err := gba.KsNAF(ks, rnd[:], impi1, id) // the UE side, TS 33.220 §B.3
			if err != nil {
				t.Fatal(err)
			}
			sid := "naf.home1.net;1;" + tt.fqdn
			bia := naf.bir(rawBIRFields{sessionID: sid, originHost: nafHost, btid: btidText, nafID: id.Bytes(), impiRequested: tt.impiRequested})
			if code, exp := bia.result(); code != 2001 || exp {
				t.Fatalf("BIA result %d (experimental %v)", code, exp)
			}
			if bia.flags != rawFlagP || bia.code != rawBIR || bia.app != rawAppZn {
				t.Errorf("BIA header flags %#x command %d application %d", bia.flags, bia.code, bia.app)
			}
			if got := bia.str(avpSessionID, 0); got != sid {
				t.Errorf("Session-Id %q, want %q", got, sid)
			}
			if first := bia.avps[0]; first.code != avpSessionID {
				t.Errorf("first AVP is %d, want Session-Id (RFC 6733 §8.8)", first.code)
			}
			key, ok := bia.find(avpMEKeyMaterial, rawVendor)
			if !ok || !bytes.Equal(key.data, want.Bytes()) {
				t.Error("ME-Key-Material is not the Ks_NAF the UE derives")
			}
			if exp, ok := bia.find(avpKeyExpiryTime, rawVendor); !ok || !rawTime(exp).Equal(session.Expires) {
				t.Errorf("Key-ExpiryTime %v, want %v", rawTime(exp), session.Expires)
			}
			if ct, ok := bia.find(avpBootstrapInfoTime, rawVendor); !ok || !rawTime(ct).Equal(session.Created) {
				t.Errorf("BootstrapInfoCreationTime %v, want %v", rawTime(ct), session.Created)
			}
			if gt, ok := bia.find(avpGBAType, rawVendor); !ok || gt.u32() != 0 || gt.flags&rawAVPM == 0 {
				t.Errorf("GBA-Type %v flags %#x, want 3G_GBA (0) with M", gt.u32(), gt.flags)
			}
			if user, ok := bia.find(avpUserName, 0); ok != tt.impiRequested || ok && string(user.data) != impi1 {
				t.Errorf("User-Name %q present %v, want present %v (policy on_request)", user.data, ok, tt.impiRequested)
			}
			if _, ok := bia.find(avpGUSS, rawVendor); ok {
				t.Error("GBA-UserSecSettings without a GUSS")
			}
		})
	}
	if ks1, ks2 := gbaKsNAF(t, ks, rnd, nafHost), gbaKsNAF(t, ks, rnd, "NAF.Home1.net"); ks1.Equal(ks2) {
		t.Error("the NAF FQDN case does not change Ks_NAF: the test cannot tell the octets were kept")
	}
	if got := metricValue(t, tb.BSF, "bsf_zn_request_duration_seconds", "result", "success"); got != 2 {
		t.Errorf("zn latency samples (success) = %v, want 2", got)
	}
}

func gbaKsNAF(t testing.TB, ks gba.Key, rnd [RANDSize]byte, fqdn string) gba.Key {
	k, err := gba.KsNAF(ks, rnd[:], impi1, uaNAFID(t, fqdn))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustBTID(t testing.TB, s string) gba.BTID {
	t.Helper()
	b, err := gba.ParseBTID(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestZnUSS: the BIA carries the USSs of the NAF's group (GBA-UserSecSettings rooted at
// ussList, TS 29.109 §6.3.1.1) when the subscriber has a GUSS.
func TestZnUSS(t *testing.T) {
	tb := newTestBSF(t)
	const guss = `<guss id="user1_private@home1.net"><bsfInfo><uiccType>GBA</uiccType><lifeTime>3600</lifeTime></bsfInfo>` +
		`<ussList><uss id="1" type="0" nafGroup="m2m"><uids><uid>sip:user1@home1.net</uid></uids></uss></ussList></guss>`
	tb.hss.add(t, impi1, []byte(guss), testEpoch())
	_, addr := startZn(t, tb, ZnOptions{})
	btid, _, _ := newTestUE(t, tb, impi1).bootstrapWithKs()
	bia := connectNAF(t, addr, nafHost).bir(rawBIRFields{sessionID: "s;1;1", originHost: nafHost, btid: btid, nafID: uaNAFID(t, nafHost).Bytes()})
	if code, _ := bia.result(); code != 2001 {
		t.Fatalf("result %d", code)
	}
	uss, ok := bia.find(avpGUSS, rawVendor)
	if !ok || !strings.Contains(string(uss.data), "ussList") || !strings.Contains(string(uss.data), `nafGroup="m2m"`) {
		t.Errorf("GBA-UserSecSettings %q", uss.data)
	}
	if exp, _ := bia.find(avpKeyExpiryTime, rawVendor); !rawTime(exp).Equal(testEpoch().Add(time.Hour)) {
		t.Errorf("Key-ExpiryTime %v, want the GUSS lifetime of 3600 s", rawTime(exp))
	}
}

// TestZnRefusals: B-TIDs and NAFs the BSF refuses, with their Experimental-Result
// (znResult), each on the same connection.
func TestZnRefusals(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	_, addr := startZn(t, tb, ZnOptions{Open: true})
	btid, _, _ := newTestUE(t, tb, impi1).bootstrapWithKs()
	other, err := gba.NewBTID(bytes.Repeat([]byte{7}, 16), "bsf.home1.net")
	if err != nil {
		t.Fatal(err)
	}
	naf := connectNAF(t, addr, nafHost)
	good := uaNAFID(t, nafHost).Bytes()
	tests := []struct {
		name    string
		f       rawBIRFields
		advance time.Duration
		want    uint32
	}{
		{"unknown B-TID", rawBIRFields{originHost: nafHost, btid: other.String(), nafID: good}, 0, 5403},
		{"B-TID of another BSF", rawBIRFields{originHost: nafHost, btid: strings.Replace(btid, "bsf.home1.net", "bsf.other.net", 1), nafID: good}, 0, 5403},
		{"malformed B-TID", rawBIRFields{originHost: nafHost, btid: "not a btid", nafID: good}, 0, 5403},
		{"NAF FQDN not configured", rawBIRFields{originHost: nafHost, btid: btid, nafID: uaNAFID(t, "naf.evil.net").Bytes()}, 0, 5402},
		{"NAF-Id without Ua id", rawBIRFields{originHost: nafHost, btid: btid, nafID: []byte("naf.home1.net")}, 0, 5402},
		{"NAF not authorised", rawBIRFields{originHost: "rogue.home1.net", btid: btid, nafID: good}, 0, 5402},
		{"unauthorised NAF, unknown B-TID", rawBIRFields{originHost: "rogue.home1.net", btid: other.String(), nafID: good}, 0, 5402},
		{"good", rawBIRFields{originHost: nafHost, btid: btid, nafID: good}, 0, 2001},
		{"expired B-TID", rawBIRFields{originHost: nafHost, btid: btid, nafID: good}, 25 * time.Hour, 5403},
	}
	for i, tt := range tests {
		tb.clock.Advance(tt.advance)
		tt.f.sessionID = fmt.Sprintf("naf.home1.net;2;%d", i)
		bia := naf.bir(tt.f)
		code, exp := bia.result()
		if code != tt.want || (code != 2001) != exp {
			t.Errorf("%s: result %d (experimental %v), want %d", tt.name, code, exp, tt.want)
		}
		if exp {
			er, _ := bia.find(avpExperimentalResult, 0)
			if !slices.ContainsFunc(er.group(), func(a rawAVP) bool { return a.code == avpVendorID && a.u32() == rawVendor }) {
				t.Errorf("%s: Experimental-Result without Vendor-Id 10415", tt.name)
			}
			if _, ok := bia.find(avpMEKeyMaterial, rawVendor); ok {
				t.Errorf("%s: refusal carries ME-Key-Material", tt.name)
			}
			if bia.flags&rawFlagE != 0 {
				t.Errorf("%s: E bit on an application error (RFC 6733 §7.1.5)", tt.name)
			}
		}
	}
	if got := metricValue(t, tb.BSF, "bsf_zn_request_duration_seconds", "result", "5403"); got != 4 {
		t.Errorf("zn latency samples (5403) = %v, want 4", got)
	}
}

// TestZnOriginHostMustBePeer: a peer that connected as one NAF cannot borrow the
// Origin-Host, and so the policy, of another (RFC 6733 §5.3, §6.3; decisions DB.4).
func TestZnOriginHostMustBePeer(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	_, addr := startZn(t, tb, ZnOptions{Open: true})
	btid, _, _ := newTestUE(t, tb, impi1).bootstrapWithKs()
	good := uaNAFID(t, nafHost).Bytes()
	rogue := connectNAF(t, addr, "rogue.home1.net")
	bia := rogue.bir(rawBIRFields{originHost: nafHost, btid: btid, nafID: good, sessionID: "rogue;1;1"})
	if code, exp := bia.result(); code != 5402 || !exp {
		t.Fatalf("BIR claiming another NAF's Origin-Host: result %d (experimental %v), want 5402", code, exp)
	}
	if _, ok := bia.find(avpMEKeyMaterial, rawVendor); ok {
		t.Fatal("spoofed BIR got ME-Key-Material")
	}
	naf := connectNAF(t, addr, strings.ToUpper(nafHost))
	bia = naf.bir(rawBIRFields{originHost: nafHost, btid: btid, nafID: good, sessionID: "naf;1;2"})
	if code, _ := bia.result(); code != 2001 {
		t.Fatalf("BIR from the peer itself (Origin-Host case differs): result %d, want 2001", code)
	}
}

// TestZnResultTable is the table of znResult, the one error mapping of the Zn edge.
func TestZnResultTable(t *testing.T) {
	exp := func(code uint32) diameter.Result {
		return diameter.Result{Code: code, VendorID: diameter.VendorID3GPP, Experimental: true}
	}
	tests := []struct {
		err  error
		want diameter.Result
	}{
		{ErrBTIDUnknown, exp(5403)},
		{fmt.Errorf("%w: B-TID of another BSF", ErrBTIDUnknown), exp(5403)},
		{ErrNAFNotAuthorized, exp(5402)},
		{fmt.Errorf("%w: no USS for the NAF group", ErrNAFNotAuthorized), exp(5402)},
		{errors.New("bsf: store: disk full"), diameter.Result{Code: 5012}},
		{ErrSealed, diameter.Result{Code: 5012}},
		{context.DeadlineExceeded, diameter.Result{Code: 5012}},
		{ErrHSSUnavailable, diameter.Result{Code: 5012}},
	}
	for _, tt := range tests {
		if got := znResult(tt.err); got != tt.want {
			t.Errorf("znResult(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestZnMalformed: requests the peer layer rejects get the RFC 6733 answer (missing
// Transaction-Identifier → 5005 with Failed-AVP naming it, RFC 6733 §7.5; an unknown AVP
// with the M bit → 5001) and the connection stays up: a good BIR on it then succeeds.
func TestZnMalformed(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	_, addr := startZn(t, tb, ZnOptions{})
	btid, _, _ := newTestUE(t, tb, impi1).bootstrapWithKs()
	naf := connectNAF(t, addr, nafHost)
	good := rawBIRFields{sessionID: "naf;3;1", originHost: nafHost, btid: btid, nafID: uaNAFID(t, nafHost).Bytes()}

	missing := good
	missing.omitBTID = true
	bia := naf.bir(missing)
	if code, exp := bia.result(); code != 5005 || exp {
		t.Fatalf("missing Transaction-Identifier: result %d (experimental %v), want 5005", code, exp)
	}
	failed, ok := bia.find(avpFailedAVP, 0)
	if !ok || len(failed.group()) != 1 || failed.group()[0].code != avpTransactionID || failed.group()[0].vendor != rawVendor {
		t.Errorf("Failed-AVP %+v, want Transaction-Identifier (401, vendor 10415)", failed.group())
	}
	if got := bia.str(avpSessionID, 0); got != good.sessionID {
		t.Errorf("error answer Session-Id %q", got)
	}

	unknownM := append(good.avps(), rawAVPBytes(9999, rawAVPM, rawVendor, []byte("x")))
	ans := naf.request(rawFlagP, rawBIR, rawAppZn, unknownM...)
	if code, _ := ans.result(); code != 5001 {
		t.Errorf("unknown M-bit AVP: result %d, want 5001", code)
	}

	bia = naf.bir(good)
	if code, _ := bia.result(); code != 2001 {
		t.Fatalf("good BIR after the bad ones: result %d", code)
	}
	if _, ok := bia.find(avpMEKeyMaterial, rawVendor); !ok {
		t.Error("no ME-Key-Material")
	}
}

// TestZnCapabilities: the CEA advertises only Zn {10415, 16777220} (RFC 6733 §5.3.2,
// TS 29.109 §5.1); a NAF that is not in zn.nafs gets DIAMETER_UNKNOWN_PEER (3010) unless
// the server is open; a peer without Zn gets 5010.
func TestZnCapabilities(t *testing.T) {
	tb := newTestBSF(t, withConfig(func(c *Config) {
		c.Zn.NAFs = map[string]NAFPolicy{"NAF.home1.net": {FQDNs: []string{nafHost}}}
	}))
	_, addr := startZn(t, tb, ZnOptions{})

	cea := dialRaw(t, addr).capabilities("naf.home1.net", "home1.net", rawAppZn) // the lower-cased host is allowed too
	if code, _ := cea.result(); code != 2001 {
		t.Fatalf("CEA result %d", code)
	}
	auth, vsai := cea.applications()
	if len(auth) != 0 || !slices.Equal(vsai, [][2]uint32{{rawVendor, rawAppZn}}) {
		t.Errorf("CEA advertises Auth-Application-Id %v and Vendor-Specific %v, want only {10415, 16777220}", auth, vsai)
	}
	if a, ok := cea.find(avpSupportedVendorID, 0); !ok || a.u32() != rawVendor {
		t.Error("CEA without Supported-Vendor-Id 10415")
	}
	if got := cea.str(avpOriginHost, 0); got != "bsf.opengba.test" {
		t.Errorf("CEA Origin-Host %q", got)
	}
	if got := cea.str(avpProductName, 0); got != ProductName {
		t.Errorf("Product-Name %q", got)
	}

	if code, _ := dialRaw(t, addr).capabilities("rogue.home1.net", "home1.net", rawAppZn).result(); code != 3010 {
		t.Errorf("unknown NAF: CEA result %d, want 3010", code)
	}
	if code, _ := dialRaw(t, addr).capabilities("naf.home1.net", "home1.net", rawAppZh).result(); code != 5010 {
		t.Errorf("Zh only: CEA result %d, want 5010", code)
	}

	tb2 := newTestBSF(t)
	_, open := startZn(t, tb2, ZnOptions{Open: true})
	if code, _ := dialRaw(t, open).capabilities("rogue.home1.net", "home1.net", rawAppZn).result(); code != 2001 {
		t.Errorf("open server: CEA result %d, want 2001", code)
	}
}

// TestZnShutdown: Shutdown sends every NAF a DPR with Disconnect-Cause REBOOTING
// (RFC 6733 §5.4.3) and returns once the DPA arrives.
func TestZnShutdown(t *testing.T) {
	tb := newTestBSF(t)
	z, addr := startZn(t, tb, ZnOptions{})
	naf := connectNAF(t, addr, nafHost)
	got := make(chan rawMsg, 1)
	go func() {
		m, err := naf.tryRead(10 * time.Second)
		if err != nil {
			close(got)
			return
		}
		got <- m
		_, _ = naf.nc.Write(rawAnswerTo(m, append([][]byte{rawAVPBytes(avpResultCode, rawAVPM, 0, rawU32(2001))},
			rawIdentity(nafHost, "home1.net")...)...))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := z.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	dpr, ok := <-got
	if !ok || dpr.code != rawDPR || dpr.flags&rawFlagR == 0 {
		t.Fatalf("NAF got %+v, want a DPR", dpr)
	}
	if c, ok := dpr.find(avpDisconnectCause, 0); !ok || c.u32() != 0 {
		t.Errorf("Disconnect-Cause %d, want REBOOTING (0)", c.u32())
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestZnTLS: with a TLS configuration the TCP listener speaks TLS before the CER
// (RFC 6733 §2.1, §13.1).
func TestZnTLS(t *testing.T) {
	cert, pool := testcert.SelfSigned(t, "bsf.opengba.test")
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	z, addr := startZn(t, tb, ZnOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	if ls := z.Listeners(); ls[0].Transport != TransportTLS {
		t.Errorf("transport %q", ls[0].Transport)
	}
	btid, rnd, ks := newTestUE(t, tb, impi1).bootstrapWithKs()
	nc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	naf := &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc)}
	if code, _ := naf.capabilities(nafHost, "home1.net", rawAppZn).result(); code != 2001 {
		t.Fatalf("CEA result %d", code)
	}
	bia := naf.bir(rawBIRFields{sessionID: "tls;1;1", originHost: nafHost, btid: btid, nafID: uaNAFID(t, nafHost).Bytes()})
	key, ok := bia.find(avpMEKeyMaterial, rawVendor)
	if !ok || !bytes.Equal(key.data, gbaKsNAF(t, ks, rnd, nafHost).Bytes()) {
		t.Error("no matching Ks_NAF over TLS")
	}
	// A plain TCP client gets nowhere.
	p := dialRaw(t, addr)
	p.write(rawMessageBytes(rawFlagR, rawCER, 0, 1, 1, append(rawIdentity(nafHost, "home1.net"), rawCapabilities(rawAppZn)...)...))
	if m, err := p.tryRead(2 * time.Second); err == nil && m.code == rawCER {
		t.Error("a CEA over plain TCP on a TLS listener")
	}
}

func TestNewZnServerConfig(t *testing.T) {
	tb := newTestBSF(t, withConfig(func(c *Config) { c.Zn.NAFs = nil }))
	_, err := NewZnServer(tb.BSF, ZnOptions{})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "zn.nafs" {
		t.Errorf("no NAFs, not open: %v", err)
	}
	if _, err := NewZnServer(tb.BSF, ZnOptions{Open: true}); err != nil {
		t.Errorf("no NAFs, open: %v", err)
	}
	if _, err := NewZnServer(nil, ZnOptions{}); err == nil {
		t.Error("nil BSF accepted")
	}
	if c, err := ZnTLSConfig("", "", ""); c != nil || err != nil {
		t.Errorf("ZnTLSConfig without files = %v, %v", c, err)
	}
	if _, err := ZnTLSConfig("", "", "ca.pem"); err == nil {
		t.Error("a CA without a certificate accepted")
	}
	if _, err := ZnTLSConfig("missing.pem", "missing.key", ""); err == nil {
		t.Error("missing files accepted")
	}
}

// FuzzZnBIR runs the BIR handler (no sockets) on BIRs with arbitrary Transaction-Identifier,
// NAF-Id and Origin-Host: it never panics, always answers with one of 2001, 5402 and 5403,
// and a 2001 carries a 32-octet ME-Key-Material (TS 33.220 §B.3).
func FuzzZnBIR(f *testing.F) {
	tb := newTestBSF(f)
	set := loadSet1(f)
	ks, err := gba.Ks(unhex(f, set.F3), unhex(f, set.F4))
	if err != nil {
		f.Fatal(err)
	}
	btid, err := gba.NewBTID(unhex(f, set.RAND), "bsf.home1.net")
	if err != nil {
		f.Fatal(err)
	}
	if err := tb.store.CreateSession(context.Background(), Session{BTID: btid, IMPI: impi1, Ks: ks,
		Created: testEpoch(), Expires: testEpoch().Add(time.Hour)}); err != nil {
		f.Fatal(err)
	}
	z, err := NewZnServer(tb.BSF, ZnOptions{Dictionary: testDictionary(f)})
	if err != nil {
		f.Fatal(err)
	}
	good := append([]byte(nafHost), 1, 0, 0, 0, 2)
	f.Add(nafHost, btid.String(), good)
	f.Add(nafHost, btid.String(), []byte("NAF.HOME1.NET\x01\x00\x00\x00\x02"))
	f.Add("rogue", btid.String(), good)
	f.Add(nafHost, "x@bsf.home1.net", good)
	f.Add(nafHost, btid.String(), []byte{0xff, 0, 1})
	f.Fuzz(func(t *testing.T, host, btidText string, nafID []byte) {
		bir := &diameter.BIR{SessionID: "naf;1;1", OriginHost: host, OriginRealm: "home1.net", DestinationRealm: "home1.net",
			BTID: btidText, NAFID: nafID}
		m, err := bir.Message(z.dict)
		if err != nil {
			return
		}
		ans, err := z.handleBIR(context.Background(), m)
		if err != nil {
			t.Fatalf("handler error: %v", err)
		}
		b, err := ans.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		bia, err := diameter.Decode(z.dict, b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := bia.(*diameter.BIA).Result()
		switch {
		case err != nil:
			t.Fatal(err)
		case r.Code == 2001 && len(bia.(*diameter.BIA).MEKeyMaterial) != gba.KeySize:
			t.Fatal("2001 without a 32-octet ME-Key-Material")
		case r.Code != 2001 && r.Code != 5402 && r.Code != 5403:
			t.Fatalf("result %v", r)
		}
	})
}

// TestZnSCTP: an SCTP listener is opened next to TCP when configured; where the kernel has
// no SCTP, Start fails naming it and leaves no TCP listener behind.
func TestZnSCTP(t *testing.T) {
	tb := newTestBSF(t)
	tcp := freeTCPAddr(t)
	tb.cfg.Zn.ListenTCP = []string{tcp}
	tb.cfg.Zn.ListenSCTP = []string{"127.0.0.1:0"}
	z, err := NewZnServer(tb.BSF, ZnOptions{Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Close() })
	if err := z.Start(); err != nil {
		if !strings.Contains(err.Error(), "sctp") {
			t.Errorf("error %q does not name sctp", err)
		}
		if c, err := net.DialTimeout("tcp", tcp, time.Second); err == nil {
			_ = c.Close()
			t.Error("the TCP listener stayed open after the SCTP one failed")
		}
		t.Skipf("no SCTP here: %v", err)
	}
	ls := z.Listeners()
	if len(ls) != 2 || ls[1].Transport != TransportSCTP {
		t.Errorf("listeners %v", ls)
	}
}

func freeTCPAddr(t *testing.T) string { return closedAddr(t) }
