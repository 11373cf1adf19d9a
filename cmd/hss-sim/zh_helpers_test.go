package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/wmnsk/milenage"

	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/specs"
)

// testKeys are K and OPc of a TS 35.208 set, from specs/vectors.
type testKeys struct {
	K, OPc aka.Key
	hex    []string // K, OP, OPc in hex, for the secrets-in-logs check
}

func vectorKeys(t testing.TB, name string) testKeys {
	t.Helper()
	var v struct {
		Sets []struct {
			Name string `json:"name"`
			K    string `json:"K"`
			OP   string `json:"OP"`
			OPc  string `json:"OPc"`
		} `json:"sets"`
	}
	if err := specs.Vectors("ts35208", &v); err != nil {
		t.Fatal(err)
	}
	for _, s := range v.Sets {
		if s.Name != name {
			continue
		}
		k, err := aka.ParseKey(s.K)
		if err != nil {
			t.Fatal(err)
		}
		opc, err := aka.ParseKey(s.OPc)
		if err != nil {
			t.Fatal(err)
		}
		return testKeys{K: k, OPc: opc, hex: []string{s.K, s.OP, s.OPc}}
	}
	t.Fatalf("no vector set %s", name)
	return testKeys{}
}

// assertNoSecrets fails when out holds a key of the test sets in hex.
func assertNoSecrets(t testing.TB, out string, keys ...testKeys) {
	t.Helper()
	for _, k := range keys {
		for _, h := range k.hex {
			if strings.Contains(strings.ToLower(out), h) {
				t.Fatal("key material in the output")
			}
		}
	}
}

// checkAV verifies the AV of a successful MAA with the USIM emulator (TS 33.102 §6.3.3):
// MAC-A, and RES, CK, IK equal to XRES, CK, IK. The USIM's Δ spans the SEQ range so that
// any provisioned SQN is fresh.
func checkAV(t testing.TB, maa *diameter.MAA, keys testKeys) {
	t.Helper()
	if r, err := maa.Result(); err != nil || r.Code != diameter.ResultSuccess {
		t.Fatalf("MAA result %v %v", r, err)
	}
	av, err := maa.SIPAuthDataItem.AKAVector()
	if err != nil {
		t.Fatal(err)
	}
	arr, err := aka.NewSQNArray(aka.SQNScheme{INDBits: 5, Delta: uint64(aka.MaxSQN) >> 5})
	if err != nil {
		t.Fatal(err)
	}
	usim, err := aka.NewUSIM(keys.K, keys.OPc, arr, aka.AMFSeparationIgnored)
	if err != nil {
		t.Fatal(err)
	}
	res, err := usim.Authenticate(av.RAND, av.AUTN)
	if err != nil {
		t.Fatalf("USIM rejects the AV: %v", err)
	}
	if !av.XRES.Equal(res.RES[:]) || !av.CK.Equal(res.CK[:]) || !av.IK.Equal(res.IK[:]) {
		t.Fatal("XRES/CK/IK differ from what the USIM derives")
	}
}

// sqnOf recovers SQN = (SQN ⊕ AK) ⊕ AK from AUTN with AK = f5(K, RAND) and checks MAC-A
// = f1(K, SQN, RAND, AMF) (TS 33.102 §6.3.2), with wmnsk/milenage.
func sqnOf(t testing.TB, keys testKeys, av diameter.AKAVector) uint64 {
	t.Helper()
	m := milenage.NewWithOPc(keys.K[:], keys.OPc[:], av.RAND, 0, 0)
	_, _, _, ak, err := m.F2345()
	if err != nil {
		t.Fatal(err)
	}
	var sqn uint64
	for i := range 6 {
		sqn = sqn<<8 | uint64(av.AUTN[i]^ak[i])
	}
	amf := uint16(av.AUTN[6])<<8 | uint16(av.AUTN[7])
	mac, err := milenage.NewWithOPc(keys.K[:], keys.OPc[:], av.RAND, sqn, amf).F1()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mac, av.AUTN[8:]) {
		t.Fatalf("MAC-A of AUTN %s does not verify", hex.EncodeToString(av.AUTN))
	}
	return sqn
}

// rawBSF is a minimal Diameter peer on a raw TCP connection, so that a test sees every
// frame the server sends (a DPR in particular).
type rawBSF struct {
	nc  net.Conn
	br  *bufio.Reader
	d   *dict.Parser
	hbh uint32
}

func dialBSF(t testing.TB, addr string) *rawBSF {
	t.Helper()
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	b := &rawBSF{nc: nc, br: bufio.NewReader(nc), d: d, hbh: 1}
	m := diam.NewRequest(diam.CapabilitiesExchange, 0, d)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("bsf.home1.net"))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("home1.net"))
	m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.IPv4(127, 0, 0, 1).To4()))
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("raw BSF"))
	m.AddAVP(diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(diameter.VendorID3GPP)),
		diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(diameter.AppIDZh)),
	}}))
	f, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	cea := b.roundTrip(t, f)
	if rc, err := cea.FindAVP(avp.ResultCode, 0); err != nil || rc.Data.(datatype.Unsigned32) != datatype.Unsigned32(diameter.ResultSuccess) {
		t.Fatalf("CEA: %v", cea)
	}
	return b
}

func (b *rawBSF) read(t testing.TB) *diam.Message {
	t.Helper()
	_ = b.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var pre [4]byte
	if _, err := io.ReadFull(b.br, pre[:]); err != nil {
		t.Fatalf("read: %v", err)
	}
	f := make([]byte, int(pre[1])<<16|int(pre[2])<<8|int(pre[3]))
	copy(f, pre[:])
	if _, err := io.ReadFull(b.br, f[4:]); err != nil {
		t.Fatalf("read: %v", err)
	}
	m, err := diam.ReadMessage(bytes.NewReader(f), b.d)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (b *rawBSF) roundTrip(t testing.TB, f []byte) *diam.Message {
	t.Helper()
	b.hbh++
	binary.BigEndian.PutUint32(f[12:16], b.hbh)
	binary.BigEndian.PutUint32(f[16:20], b.hbh)
	if _, err := b.nc.Write(f); err != nil {
		t.Fatal(err)
	}
	m := b.read(t)
	if m.Header.HopByHopID != b.hbh || m.Header.CommandFlags&diam.RequestFlag != 0 {
		t.Fatalf("unexpected frame %v", m.Header)
	}
	return m
}

func (b *rawBSF) mar(t testing.TB, impi string) *diameter.MAA {
	t.Helper()
	f, err := diameter.Encode(b.d, &diameter.MAR{SessionID: "bsf.home1.net;1;" + impi, OriginHost: "bsf.home1.net",
		OriginRealm: "home1.net", DestinationRealm: "home1.net", IMPI: impi})
	if err != nil {
		t.Fatal(err)
	}
	maa, err := diameter.DecodeMAA(b.roundTrip(t, f))
	if err != nil {
		t.Fatal(err)
	}
	return maa
}

// expectDPR reads the next frame, which must be a DPR (RFC 6733 §5.4.1), and answers it.
func (b *rawBSF) expectDPR(t testing.TB) {
	t.Helper()
	m := b.read(t)
	if m.Header.CommandCode != diam.DisconnectPeer || m.Header.CommandFlags&diam.RequestFlag == 0 {
		t.Fatalf("got %v, want DPR", m.Header)
	}
	a := m.Answer(diameter.ResultSuccess)
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("bsf.home1.net"))
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("home1.net"))
	f, err := a.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.nc.Write(f); err != nil {
		t.Fatal(err)
	}
}
