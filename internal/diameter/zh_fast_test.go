package diameter

import (
	"bytes"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// TestDecodeMARFastMatchesUnmarshal runs the property over the golden MARs and hand-made
// variants: repeated AVPs (the first wins), AVPs of the wrong vendor (skipped), unknown
// AVPs, and AVPs whose data type differs from the dictionary's (fast path declines).
func TestDecodeMARFastMatchesUnmarshal(t *testing.T) {
	d := goldenDict(t)
	checkGoldenDecodeFast(t, d, []string{"mar", "mar_resync"}, decodeMARFast)
	item := func(members ...*diam.AVP) *diam.AVP {
		return diam.NewAVP(AVPSIPAuthDataItem, avp.Mbit, VendorID3GPP, &diam.GroupedAVP{AVP: members})
	}
	oct := func(code, vendor uint32, b string) *diam.AVP {
		return diam.NewAVP(code, avp.Mbit, vendor, datatype.OctetString(b))
	}
	runDecodeFastCases(t, func() *diam.Message { return diam.NewRequest(CmdMultimediaAuth, AppIDZh, d) }, []decodeFastCase{
		{"empty", nil, false},
		{"repeated", []*diam.AVP{
			diam.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("s1")),
			diam.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("s2")),
			diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String("u1")),
			diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String("u2")),
			item(oct(AVPSIPAuthorization, VendorID3GPP, "a1"), oct(AVPSIPAuthorization, VendorID3GPP, "a2")),
			item(oct(AVPSIPAuthorization, VendorID3GPP, "b")),
		}, false},
		{"wrong-vendor", []*diam.AVP{
			diam.NewAVP(avp.UserName, avp.Mbit, VendorID3GPP, datatype.UTF8String("vendor")),
			diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String("right")),
			diam.NewAVP(AVPPublicIdentity, avp.Mbit, 0, datatype.UTF8String("no vendor")),
			item(oct(AVPConfidentialityKey, 0, "oc-validity"), oct(AVPIntegrityKey, VendorID3GPP, "ik")),
		}, false},
		{"unknown", []*diam.AVP{
			diam.NewAVP(9999, 0, 0, datatype.OctetString("x")),
			diam.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("bsf")),
			diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
				diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(VendorID3GPP)),
				diam.NewAVP(9998, 0, 0, datatype.Unsigned32(1)),
				diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppIDZh)),
			}}),
			item(diam.NewAVP(AVPSIPItemNumber, avp.Mbit, VendorID3GPP, datatype.Unsigned32(3)),
				diam.NewAVP(AVPSIPAuthenticationScheme, avp.Mbit, VendorID3GPP, datatype.UTF8String(SchemeAKAv1MD5))),
		}, false},
		{"string-as-octets", []*diam.AVP{diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.OctetString("u"))}, true},
		{"item-not-grouped", []*diam.AVP{oct(AVPSIPAuthDataItem, VendorID3GPP, "x")}, true},
		{"key-as-string", []*diam.AVP{item(diam.NewAVP(AVPConfidentialityKey, avp.Mbit, VendorID3GPP, datatype.UTF8String("ck")))}, true},
		{"nil-data", []*diam.AVP{{Code: avp.UserName}}, true},
	}, decodeMARFast)
}

// FuzzDecodeMARFast checks the property on arbitrary frames that decode.
//
//	go test ./internal/diameter -run '^$' -fuzz FuzzDecodeMARFast -fuzztime 20s
func FuzzDecodeMARFast(f *testing.F) {
	fuzzDecodeFast(f, []string{"mar", "mar_resync"}, decodeMARFast)
}

func parseQuiet(d *dict.Parser, b []byte) (m *diam.Message, err error) {
	defer recoverDecode("parse", &m, &err)
	return ParseMessage(d, b)
}

// TestMAAMessageFastMatchesGeneral: messageFast builds exactly the message of the general
// encoder (same AVPs, flags, lengths and octets) or declines.
func TestMAAMessageFastMatchesGeneral(t *testing.T) {
	d := goldenDict(t)
	ids := HeaderIDs{HopByHopID: 0x01020304, EndToEndID: 0x05060708}
	item, err := NewAKAAuthDataItem(AKAVector{
		RAND: bytes.Repeat([]byte{1}, 16), AUTN: bytes.Repeat([]byte{2}, 16),
		XRES: bytes.Repeat([]byte{3}, 8), CK: bytes.Repeat([]byte{4}, 16), IK: bytes.Repeat([]byte{5}, 16),
	})
	if err != nil {
		t.Fatal(err)
	}
	n := uint32(7)
	base := func() MAA {
		return MAA{HeaderIDs: ids, SessionID: "bsf;1;2", OriginHost: "hss.home1.net", OriginRealm: "home1.net", ResultCode: ResultSuccess}
	}
	for _, tc := range []struct {
		name     string
		edit     func(*MAA)
		declines bool
	}{
		{"minimal", func(*MAA) {}, false},
		{"vector-guss", func(a *MAA) { a.SIPAuthDataItem, a.GUSS = item, []byte("<guss/>") }, false},
		{"identities", func(a *MAA) { a.IMPI, a.IMPU = "u@home1.net", "sip:u@home1.net" }, false},
		{"vsai", func(a *MAA) {
			a.VendorSpecificApplicationID = VendorSpecificApplicationID{VendorID: 1, AuthApplicationID: 2}
		}, false},
		{"item-number-empty-octets", func(a *MAA) {
			a.SIPAuthDataItem = &SIPAuthDataItem{ItemNumber: &n, Authenticate: []byte{}, CK: Secret{}}
			a.GUSS = []byte{}
		}, false},
		{"empty-item", func(a *MAA) { a.SIPAuthDataItem = &SIPAuthDataItem{} }, false},
		{"protocol-error", func(a *MAA) { a.ResultCode = ResultUnableToDeliver }, false},
		{"unable", func(a *MAA) { a.ResultCode = ResultUnableToComply }, false},
		{"zero-ids", func(a *MAA) { a.HeaderIDs = HeaderIDs{} }, false},
		{"experimental", func(a *MAA) {
			a.ResultCode, a.ExperimentalResult = 0, &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: ExpIMPIUnknown}
		}, true},
		{"failed-avp", func(a *MAA) {
			a.ResultCode = ResultMissingAVP
			a.FailedAVP = []*diam.AVP{diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(""))}
		}, true},
		{"no-result", func(a *MAA) { a.ResultCode = 0 }, true},
		{"no-session", func(a *MAA) { a.SessionID = "" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := base()
			tc.edit(&a)
			fast := a.messageFast(d)
			if (fast == nil) != tc.declines {
				t.Fatalf("declines = %v, want %v", fast == nil, tc.declines)
			}
			if fast == nil {
				return
			}
			slow, err := a.message(d)
			if err != nil {
				t.Fatal(err)
			}
			fb := checkMessageFast(t, fast, slow, a.HeaderIDs == (HeaderIDs{}))
			if a.SIPAuthDataItem != nil && len(a.SIPAuthDataItem.CK) > 0 {
				a.SIPAuthDataItem.CK[0] ^= 0xff // the message holds copies
				defer func() { a.SIPAuthDataItem.CK[0] ^= 0xff }()
				if fb2, _ := fast.Serialize(); !bytes.Equal(fb, fb2) {
					t.Fatal("message shares octets with the MAA")
				}
			}
		})
	}
	// A dictionary whose definition of a code has another name makes it decline.
	if m := (&MAA{SessionID: "s", OriginHost: "h", OriginRealm: "r", ResultCode: ResultSuccess}).messageFast(baseOnlyDict(t)); m != nil {
		t.Fatal("fast path used a dictionary without the Zh AVPs")
	}
}

// baseOnlyDict is go-diameter's base dictionary (no Zh application).
func baseOnlyDict(t *testing.T) *dict.Parser {
	t.Helper()
	return dict.Default
}

// TestValidatorLookupTable: the precomputed lookups answer exactly as the dictionary does,
// for defined pairs, a code under another vendor, and unknown codes.
func TestValidatorLookupTable(t *testing.T) {
	d := goldenDict(t)
	v, err := NewValidator(d, AppIDZh, AppIDZn)
	if err != nil {
		t.Fatal(err)
	}
	codes := []uint32{1, 258, 260, 263, 264, 266, 268, 279, 296, 297, 409, 400, 601, 612, 625, 626, 9999}
	for app := range v.served {
		w := avpWalker{v: v, app: app, table: v.lookups[app]}
		if len(w.table) == 0 {
			t.Fatalf("application %d: no table", app)
		}
		for _, code := range codes {
			for _, vendor := range []uint32{0, VendorID3GPP, 9} {
				d1, t1, k1 := w.lookup(code, vendor)
				d2, t2, k2 := w.lookupDict(code, vendor)
				if d1 != d2 || t1 != t2 || k1 != k2 {
					t.Fatalf("application %d, AVP %d/%d: table %v %v %v, dictionary %v %v %v", app, code, vendor, d1, t1, k1, d2, t2, k2)
				}
			}
		}
	}
}

// BenchmarkZhRequestPath is the HSS's per-MAR work in this package: validate and decode the
// frame (Validator.Decode), DecodeMAR, and build the MAA.
//
//	go test -run '^$' -bench ZhRequestPath -benchmem ./internal/diameter/
func BenchmarkZhRequestPath(b *testing.B) {
	d := goldenDict(b)
	v, err := NewValidator(d, AppIDZh)
	if err != nil {
		b.Fatal(err)
	}
	frame := readGolden(b, "mar")
	maa, err := Decode(d, readGolden(b, "maa"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := v.Validate(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Decode(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
	m, err := v.Decode(frame)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("DecodeMAR", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeMAR(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MAA", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := maa.(*MAA).Message(d); err != nil {
				b.Fatal(err)
			}
		}
	})
}
