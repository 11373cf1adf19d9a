package peer

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/opengba/opengba/internal/diameter"
)

// TestSerializeMatchesGoDiameter: serialize gives the octets of (*diam.Message).Serialize
// for every data type (in place or through Serialize), nested groups and every padding,
// also into a reused buffer full of garbage.
func TestSerializeMatchesGoDiameter(t *testing.T) {
	d := testDict(t)
	maa := &diameter.MAA{
		HeaderIDs: diameter.HeaderIDs{HopByHopID: 1, EndToEndID: 2}, SessionID: "s;1", OriginHost: "hss", OriginRealm: "r",
		ResultCode: diameter.ResultSuccess, IMPI: "abcde", GUSS: []byte("<guss/>"),
		SIPAuthDataItem: &diameter.SIPAuthDataItem{AuthenticationScheme: diameter.SchemeAKAv1MD5,
			Authenticate: bytes.Repeat([]byte{7}, 32), Authorization: diameter.Secret{1, 2, 3}, CK: diameter.Secret{}},
	}
	maaMsg, err := maa.Message(d)
	if err != nil {
		t.Fatal(err)
	}
	every := diam.NewMessage(diameter.CmdCapabilitiesExchange, diam.RequestFlag, 0, 3, 4, d)
	for _, a := range []*diam.AVP{
		diam.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("h")),
		diam.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.IPv4(127, 0, 0, 1).To4())),
		diam.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.ParseIP("2001:db8::1"))),
		diam.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("xy")),
		diam.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(9)),
		diam.NewAVP(avp.DisconnectCause, avp.Mbit, 0, datatype.Enumerated(2)),
		diam.NewAVP(9999, 0, 0, datatype.Integer32(-5)),
		diam.NewAVP(9998, 0, 0, datatype.Unsigned64(1<<40)),
		diam.NewAVP(9997, 0, 0, datatype.Time(time.Unix(1700000000, 0))),
		diam.NewAVP(9996, avp.Vbit, 10415, datatype.OctetString("odd")),
		diam.NewAVP(9995, 0, 0, datatype.DiameterURI("aaa://h")),
		diam.NewAVP(avp.FailedAVP, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
				diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(10415)),
				diam.NewAVP(9994, 0, 0, datatype.OctetString("a")),
			}}),
			diam.NewAVP(9993, 0, 0, datatype.UTF8String("")),
		}}),
	} {
		every.AddAVP(a)
	}
	for name, m := range map[string]*diam.Message{"maa": maaMsg, "every-type": every} {
		want, err := m.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		got, err := serialize(m, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: serialize = %x, %v\nwant %x", name, got, err, want)
		}
		dirty := bytes.Repeat([]byte{0xff}, 2*len(want))
		got, err = serialize(m, dirty[:0])
		if err != nil || !bytes.Equal(got, want) || &got[0] != &dirty[0] {
			t.Fatalf("%s: into a used buffer = %x, %v\nwant %x", name, got, err, want)
		}
	}
}
