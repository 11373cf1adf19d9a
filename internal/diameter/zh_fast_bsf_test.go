package diameter

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// TestDecodeMAAFastMatchesUnmarshal runs the property over the golden MAAs and hand-made
// variants: repeated AVPs (the first wins), AVPs of the wrong vendor (skipped), unknown
// AVPs, and AVPs whose data type differs from the dictionary's (fast path declines).
func TestDecodeMAAFastMatchesUnmarshal(t *testing.T) {
	d := goldenDict(t)
	files := []string{"maa", "maa_5401"}
	for i, m := range checkGoldenDecodeFast(t, d, files, decodeMAAFast) {
		file := files[i]
		got, err := DecodeMAA(m)
		if err != nil {
			t.Fatal(err)
		}
		want := &MAA{HeaderIDs: headerIDs(m)}
		if err := unmarshalAVPs(m, want); err != nil {
			t.Fatal(err)
		}
		if want.FailedAVP, err = failedAVPs(m); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: DecodeMAA differs from the general decoder", file)
		}
	}
	u32 := func(code, vendor, v uint32) *diam.AVP {
		return diam.NewAVP(code, avp.Mbit, vendor, datatype.Unsigned32(v))
	}
	expRes := func(members ...*diam.AVP) *diam.AVP {
		return diam.NewAVP(avp.ExperimentalResult, avp.Mbit, 0, &diam.GroupedAVP{AVP: members})
	}
	runDecodeFastCases(t, func() *diam.Message { return diam.NewMessage(CmdMultimediaAuth, 0, AppIDZh, 1, 1, d) }, []decodeFastCase{
		{"empty", nil, false},
		{"repeated", []*diam.AVP{
			u32(avp.ResultCode, 0, 2001),
			u32(avp.ResultCode, 0, 5001),
			expRes(u32(avp.VendorID, 0, VendorID3GPP), u32(avp.ExperimentalResultCode, 0, 5401), u32(avp.ExperimentalResultCode, 0, 1)),
			expRes(u32(avp.ExperimentalResultCode, 0, 2)),
			diam.NewAVP(AVPGBAUserSecSettings, avp.Mbit, VendorID3GPP, datatype.OctetString("<guss/>")),
			diam.NewAVP(AVPGBAUserSecSettings, avp.Mbit, VendorID3GPP, datatype.OctetString("<other/>")),
		}, false},
		{"wrong-vendor", []*diam.AVP{
			u32(avp.ResultCode, VendorID3GPP, 3002),
			diam.NewAVP(AVPGBAUserSecSettings, avp.Mbit, 0, datatype.OctetString("<guss/>")),
			expRes(u32(avp.VendorID, VendorID3GPP, 1), u32(avp.ExperimentalResultCode, 0, 5401)),
			diam.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("home1.net")),
		}, false},
		{"unknown", []*diam.AVP{
			diam.NewAVP(9999, 0, 0, datatype.OctetString("x")),
			expRes(u32(9998, 0, 1), u32(avp.VendorID, 0, VendorID3GPP)),
			diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String("impi@home1.net")),
		}, false},
		{"result-as-octets", []*diam.AVP{diam.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.OctetString("x"))}, true},
		{"experimental-not-grouped", []*diam.AVP{u32(avp.ExperimentalResult, 0, 1)}, true},
		{"experimental-code-as-string", []*diam.AVP{expRes(diam.NewAVP(avp.ExperimentalResultCode, avp.Mbit, 0, datatype.UTF8String("5401")))}, true},
		{"guss-as-string", []*diam.AVP{diam.NewAVP(AVPGBAUserSecSettings, avp.Mbit, VendorID3GPP, datatype.UTF8String("x"))}, true},
		{"nil-data", []*diam.AVP{{Code: avp.ResultCode}}, true},
	}, decodeMAAFast)
}

// FuzzDecodeMAAFast checks the property on arbitrary frames that decode.
//
//	go test ./internal/diameter -run '^$' -fuzz FuzzDecodeMAAFast -fuzztime 20s
func FuzzDecodeMAAFast(f *testing.F) {
	fuzzDecodeFast(f, []string{"maa", "maa_5401"}, decodeMAAFast)
}

// TestMARMessageFastMatchesGeneral: messageFast builds exactly the MAR of the general
// encoder (same AVPs, flags, lengths and octets) or declines.
func TestMARMessageFastMatchesGeneral(t *testing.T) {
	d := goldenDict(t)
	ids := HeaderIDs{HopByHopID: 0x01020304, EndToEndID: 0x05060708}
	resync, err := NewResyncAuthDataItem(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 14))
	if err != nil {
		t.Fatal(err)
	}
	n := uint32(3)
	base := func() MAR {
		return MAR{HeaderIDs: ids, SessionID: "bsf;1;2", OriginHost: "bsf.home1.net", OriginRealm: "home1.net",
			DestinationRealm: "home1.net", IMPI: "u@home1.net",
			SIPAuthDataItem: &SIPAuthDataItem{AuthenticationScheme: SchemeAKAv1MD5}}
	}
	for _, tc := range []struct {
		name     string
		edit     func(*MAR)
		declines bool
	}{
		{"bsf", func(*MAR) {}, false},
		{"resync", func(r *MAR) { r.SIPAuthDataItem = resync }, false},
		{"guss-timestamp", func(r *MAR) { r.GUSSTimestamp = time.Date(2020, 10, 27, 23, 36, 26, 0, time.UTC) }, false},
		{"dest-host-impu", func(r *MAR) { r.DestinationHost, r.IMPU = "hss.home1.net", "sip:u@home1.net" }, false},
		{"vsai", func(r *MAR) {
			r.VendorSpecificApplicationID = VendorSpecificApplicationID{VendorID: 1, AuthApplicationID: 2}
		}, false},
		{"item-number-empty-octets", func(r *MAR) {
			r.SIPAuthDataItem = &SIPAuthDataItem{ItemNumber: &n, Authenticate: []byte{}, CK: Secret{}}
		}, false},
		{"empty-item", func(r *MAR) { r.SIPAuthDataItem = &SIPAuthDataItem{} }, false},
		{"no-item-no-impi", func(r *MAR) { r.SIPAuthDataItem, r.IMPI = nil, "" }, false},
		{"zero-ids", func(r *MAR) { r.HeaderIDs = HeaderIDs{} }, false},
		{"time-out-of-window", func(r *MAR) { r.GUSSTimestamp = time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC) }, true},
		{"no-session", func(r *MAR) { r.SessionID = "" }, true},
		{"no-destination-realm", func(r *MAR) { r.DestinationRealm = "" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.edit(&r)
			fast := r.messageFast(d)
			if (fast == nil) != tc.declines {
				t.Fatalf("declines = %v, want %v", fast == nil, tc.declines)
			}
			if fast == nil {
				return
			}
			slow, err := r.message(d)
			if err != nil {
				t.Fatal(err)
			}
			checkMessageFast(t, fast, slow, r.HeaderIDs == (HeaderIDs{}))
			got, err := DecodeMAR(fast)
			if err != nil {
				t.Fatal(err)
			}
			if got.SessionID != r.SessionID || got.IMPI != r.IMPI || !got.GUSSTimestamp.Equal(r.GUSSTimestamp) {
				t.Fatalf("round trip: %+v", got)
			}
		})
	}
	if m := (&MAR{SessionID: "s", OriginHost: "h", OriginRealm: "r", DestinationRealm: "r"}).messageFast(baseOnlyDict(t)); m != nil {
		t.Fatal("fast path used a dictionary without the Zh AVPs")
	}
}
