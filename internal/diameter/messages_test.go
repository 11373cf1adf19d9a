package diameter

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// secretCarriers returns values holding TS 35.208 set-1 key material and the hex and raw
// forms that must never show in their printed form.
func secretCarriers(t *testing.T) (values []any, secrets [][]byte) {
	v := loadGoldenVectors(t)
	item, err := NewAKAAuthDataItem(AKAVector{RAND: v.RAND, AUTN: v.AUTN, XRES: v.XRES, CK: v.CK, IK: v.IK})
	if err != nil {
		t.Fatal(err)
	}
	av, err := item.AKAVector()
	if err != nil {
		t.Fatal(err)
	}
	maa := &MAA{SessionID: "s", ResultCode: ResultSuccess, SIPAuthDataItem: item}
	bia := &BIA{SessionID: "s", ResultCode: ResultSuccess, MEKeyMaterial: v.KsNAF, UICCKeyMaterial: v.CK}
	return []any{item, *item, av, &av, maa, *maa, bia, *bia, Secret(v.CK)}, [][]byte{v.XRES, v.CK, v.IK, v.KsNAF}
}

// TestSecretRedacted checks that key material prints as REDACTED under every fmt verb, in
// slog (text and JSON handlers) and in JSON.
func TestSecretRedacted(t *testing.T) {
	values, secrets := secretCarriers(t)
	leaks := func(out string) bool {
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(out), hex.EncodeToString(s)) || strings.Contains(out, string(s)) ||
				strings.Contains(out, strings.Trim(fmt.Sprint([]byte(s)), "[]")) {
				return true
			}
		}
		return false
	}
	for i, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			if out := fmt.Sprintf(verb, v); leaks(out) {
				t.Errorf("value %d (%T) leaks under %s: %s", i, v, verb, out)
			}
		}
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("m", "v", v)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "v", v)
		if leaks(text.String()) || leaks(js.String()) {
			t.Errorf("value %d (%T) leaks in slog:\n%s%s", i, v, text.String(), js.String())
		}
		if b, err := json.Marshal(v); err != nil || leaks(string(b)) {
			t.Errorf("value %d (%T) leaks in JSON: %s %v", i, v, b, err)
		}
	}
	if got := fmt.Sprintf("%v|%x|%#v", Secret{1, 2}, Secret{1, 2}, Secret{1, 2}); got != "REDACTED|REDACTED|REDACTED" {
		t.Fatalf("Secret prints %q", got)
	}
}

func TestSecretEqual(t *testing.T) {
	s := Secret{1, 2, 3}
	if !s.Equal([]byte{1, 2, 3}) || s.Equal([]byte{1, 2, 4}) || s.Equal([]byte{1, 2}) || s.Equal(nil) {
		t.Fatal("Secret.Equal")
	}
}

// minimal messages of each command, for the unit tests below.
func minimalMessages() []TypedMessage {
	return []TypedMessage{
		&MAR{SessionID: "bsf;1", OriginHost: "bsf", OriginRealm: "r", DestinationRealm: "r"},
		&MAA{SessionID: "bsf;1", ResultCode: ResultSuccess, OriginHost: "hss", OriginRealm: "r"},
		&BIR{SessionID: "naf;1", OriginHost: "naf", OriginRealm: "r", DestinationRealm: "r", BTID: "x@bsf", NAFID: []byte("naf")},
		&BIA{SessionID: "naf;1", ResultCode: ResultSuccess, OriginHost: "bsf", OriginRealm: "r"},
	}
}

// TestHeaderFlagsAndDefaults checks R, P (every Zh/Zn command is PXY, TS 29.109 §6.1, §6.2),
// the E bit on protocol errors (RFC 6733 §7.1.3), the default Vendor-Specific-Application-Id
// and Auth-Session-State NO_STATE_MAINTAINED on Zh.
func TestHeaderFlagsAndDefaults(t *testing.T) {
	d := goldenDict(t)
	for _, tc := range []struct {
		msg       TypedMessage
		flags     uint8
		app, code uint32
		zh        bool
	}{
		{minimalMessages()[0], 0xc0, AppIDZh, CmdMultimediaAuth, true},
		{minimalMessages()[1], 0x40, AppIDZh, CmdMultimediaAuth, true},
		{minimalMessages()[2], 0xc0, AppIDZn, CmdBootstrappingInfo, false},
		{minimalMessages()[3], 0x40, AppIDZn, CmdBootstrappingInfo, false},
		{&MAA{SessionID: "s", ResultCode: ResultUnableToDeliver, OriginHost: "h", OriginRealm: "r"}, 0x60, AppIDZh, CmdMultimediaAuth, true},
		{&BIA{SessionID: "s", ResultCode: ResultTooBusy, OriginHost: "h", OriginRealm: "r"}, 0x60, AppIDZn, CmdBootstrappingInfo, false},
		{&BIA{SessionID: "s", ResultCode: ResultUnableToComply, OriginHost: "h", OriginRealm: "r"}, 0x40, AppIDZn, CmdBootstrappingInfo, false},
	} {
		m, err := tc.msg.Message(d)
		if err != nil {
			t.Fatal(err)
		}
		h := m.Header
		if h.CommandFlags != tc.flags || h.ApplicationID != tc.app || h.CommandCode != tc.code || h.Version != 1 {
			t.Errorf("%T: header %v, want flags %#02x app %d code %d", tc.msg, h, tc.flags, tc.app, tc.code)
		}
		if h.HopByHopID == 0 || h.EndToEndID == 0 {
			t.Errorf("%T: zero identifiers were not replaced: %v", tc.msg, h)
		}
		if m.AVP[0].Code != avp.SessionID {
			t.Errorf("%T: first AVP %d, Session-Id must be first (RFC 6733 §8.8)", tc.msg, m.AVP[0].Code)
		}
		a, err := m.FindAVP(avp.VendorSpecificApplicationID, 0)
		if err != nil {
			t.Fatalf("%T: %v", tc.msg, err)
		}
		var vsai VendorSpecificApplicationID
		if err := m.Unmarshal(&struct {
			V *VendorSpecificApplicationID `avp:"Vendor-Specific-Application-Id"`
		}{&vsai}); err != nil || vsai != (VendorSpecificApplicationID{VendorID3GPP, tc.app}) || a.Flags != avp.Mbit {
			t.Errorf("%T: Vendor-Specific-Application-Id %+v flags %#x, %v", tc.msg, vsai, a.Flags, err)
		}
		ass := firstAVP(m.AVP, avp.AuthSessionState, 0)
		if tc.zh != (ass != nil) {
			t.Errorf("%T: Auth-Session-State present %v, want %v", tc.msg, ass != nil, tc.zh)
		} else if ass != nil && ass.Data != datatype.Enumerated(AuthSessionStateNoStateMaintained) {
			t.Errorf("%T: Auth-Session-State %v", tc.msg, ass.Data)
		}
	}
}

func TestAVPFlagsFromDictionary(t *testing.T) {
	d := goldenDict(t)
	m, err := (&MAR{SessionID: "s", OriginHost: "h", OriginRealm: "r", DestinationRealm: "r",
		GUSSTimestamp: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), IMPI: "u"}).Message(d)
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[uint32]struct {
		flags  uint8
		vendor uint32
	}{
		AVPGUSSTimestamp: {avp.Vbit, VendorID3GPP}, // TS 29.109 §6.3 Table 6.3.1: V, not M
		avp.UserName:     {avp.Mbit, 0},
		avp.OriginHost:   {avp.Mbit, 0},
	} {
		a := firstAVP(m.AVP, code, want.vendor)
		if a == nil || a.Flags != want.flags {
			t.Errorf("AVP %d: %v, want flags %#x", code, a, want.flags)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	d := goldenDict(t)
	for _, tc := range []struct {
		name string
		msg  TypedMessage
		is   error
	}{
		{"MAR without Session-Id", &MAR{OriginHost: "h", OriginRealm: "r", DestinationRealm: "r"}, ErrMissingField},
		{"MAR without Destination-Realm", &MAR{SessionID: "s", OriginHost: "h", OriginRealm: "r"}, ErrMissingField},
		{"BIR without B-TID", &BIR{SessionID: "s", OriginHost: "h", OriginRealm: "r", DestinationRealm: "r", NAFID: []byte("n")}, ErrMissingField},
		{"BIR without NAF-Id", &BIR{SessionID: "s", OriginHost: "h", OriginRealm: "r", DestinationRealm: "r", BTID: "b"}, ErrMissingField},
		{"MAA without result", &MAA{SessionID: "s", OriginHost: "h", OriginRealm: "r"}, ErrMissingField},
		{"BIA without Origin-Host", &BIA{SessionID: "s", ResultCode: 2001, OriginRealm: "r"}, ErrMissingField},
		{"BIA with both results", &BIA{SessionID: "s", ResultCode: 2001, ExperimentalResult: &ExperimentalResult{10415, 5403}, OriginHost: "h", OriginRealm: "r"}, nil},
		{"BIA expiry after 2104", &BIA{SessionID: "s", ResultCode: 2001, OriginHost: "h", OriginRealm: "r",
			KeyExpiryTime: time.Date(2105, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrTimeRange},
		{"MAA Failed-AVP without data", &MAA{SessionID: "s", ResultCode: 5005, OriginHost: "h", OriginRealm: "r",
			FailedAVP: []*diam.AVP{{Code: 1}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.msg.Message(d)
			if err == nil || m != nil {
				t.Fatalf("Message() = %v, %v; want an error", m, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if !strings.HasPrefix(err.Error(), "diameter: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
	if _, err := (&MAR{}).Message(nil); err == nil {
		t.Fatal("nil dictionary accepted")
	}
	if _, err := Encode(d, nil); err == nil {
		t.Fatal("Encode(nil) accepted")
	}
}

// encodeOK builds msg and returns its octets.
func encodeOK(t *testing.T, msg TypedMessage) []byte {
	t.Helper()
	b, err := Encode(goldenDict(t), msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseMessageRejects feeds ParseMessage what go-diameter accepts or chokes on.
func TestParseMessageRejects(t *testing.T) {
	d := goldenDict(t)
	good := encodeOK(t, minimalMessages()[1]) // MAA
	setLen := func(b []byte) []byte {
		b[1], b[2], b[3] = byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
		return b
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// Result-Code with 8 octets of data: go-diameter decodes it as 0 and misaligns the parse.
	longResult := mutate(func(b []byte) []byte {
		i := bytes.Index(b, []byte{0, 0, 0x01, 0x0c, 0x40, 0, 0, 0x0c})
		b[i+7] = 16
		return setLen(append(b[:i+12], append([]byte{0, 0, 0, 0}, b[i+12:]...)...))
	})
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:19]},
		{"version 2", mutate(func(b []byte) []byte { b[0] = 2; return b })},
		{"length too large", mutate(func(b []byte) []byte { b[3] += 4; return b })},
		{"length too small", mutate(func(b []byte) []byte { b[3] -= 4; return b })},
		{"truncated", good[:len(good)-4]},
		{"length not a multiple of 4", setLen(append(bytes.Clone(good), 0, 0))},
		{"unknown command", mutate(func(b []byte) []byte { b[7] = 0x30; return b })},
		{"unknown application", mutate(func(b []byte) []byte { b[11] = 9; return b })},
		{"Result-Code of 8 octets", longResult},
		{"AVP length past the end", mutate(func(b []byte) []byte { b[len(b)-5] = 0xff; return b })},
		{"AVP length below header", mutate(func(b []byte) []byte { b[20+7] = 4; return b })},
		{"trailing partial AVP", setLen(append(bytes.Clone(good), 0, 0, 0, 1))},
		{"Time of 5 octets", encodeWithRawAVP(t, AVPKeyExpiryTime, []byte{1, 2, 3, 4, 5})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMessage(d, tc.b)
			if !errors.Is(err, ErrMalformed) || m != nil {
				t.Fatalf("ParseMessage = %v, %v; want ErrMalformed", m, err)
			}
			if tm, err := Decode(d, tc.b); err == nil || tm != nil {
				t.Fatalf("Decode = %v, %v; want an error", tm, err)
			}
		})
	}
	if _, err := ParseMessage(nil, good); err == nil {
		t.Fatal("nil dictionary accepted")
	}
	if _, err := ParseMessage(d, good); err != nil {
		t.Fatalf("the unmutated message: %v", err)
	}
}

// encodeWithRawAVP returns a minimal BIA followed by a 3GPP AVP with raw data.
func encodeWithRawAVP(t *testing.T, code uint32, data []byte) []byte {
	t.Helper()
	b := encodeOK(t, minimalMessages()[3])
	a := diam.NewAVP(code, avp.Vbit|avp.Mbit, VendorID3GPP, datatype.OctetString(data))
	raw, err := a.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, raw...)
	b[1], b[2], b[3] = byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
	return b
}

func TestDecodeWrongCommand(t *testing.T) {
	d := goldenDict(t)
	msgs := minimalMessages()
	decoders := []func(*diam.Message) (TypedMessage, error){
		func(m *diam.Message) (TypedMessage, error) { return DecodeMAR(m) },
		func(m *diam.Message) (TypedMessage, error) { return DecodeMAA(m) },
		func(m *diam.Message) (TypedMessage, error) { return DecodeBIR(m) },
		func(m *diam.Message) (TypedMessage, error) { return DecodeBIA(m) },
	}
	for i, msg := range msgs {
		m, err := msg.Message(d)
		if err != nil {
			t.Fatal(err)
		}
		for j, dec := range decoders {
			got, err := dec(m)
			if i == j {
				if err != nil {
					t.Errorf("decoder %d on its own command: %v", j, err)
				}
				continue
			}
			if !errors.Is(err, ErrUnexpectedCommand) || !reflect.ValueOf(got).IsNil() {
				t.Errorf("decoder %d on %T: %v, %v; want ErrUnexpectedCommand", j, msg, got, err)
			}
		}
	}
	cer := diam.NewRequest(CmdCapabilitiesExchange, 0, d)
	if _, err := DecodeMessage(cer); !errors.Is(err, ErrUnexpectedCommand) {
		t.Errorf("CER: %v", err)
	}
	if _, err := DecodeMessage(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil: %v", err)
	}
	if _, err := DecodeBIA(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil BIA: %v", err)
	}
}

// TestDecodeRecoversPanic feeds a hand-built message that makes go-diameter's Unmarshal panic
// (an AVP without data): the decoders must return ErrMalformed.
func TestDecodeRecoversPanic(t *testing.T) {
	d := goldenDict(t)
	for _, msg := range minimalMessages() {
		m, err := msg.Message(d)
		if err != nil {
			t.Fatal(err)
		}
		m.AVP = append(m.AVP, &diam.AVP{Code: AVPGAAServiceIdentifier, VendorID: VendorID3GPP}, &diam.AVP{Code: avp.SessionID})
		m.AVP[0] = &diam.AVP{Code: avp.SessionID}
		got, err := DecodeMessage(m)
		if !errors.Is(err, ErrMalformed) || got != nil {
			t.Errorf("%T: %v, %v; want ErrMalformed", msg, got, err)
		}
	}
}

// TestDecodeIgnoresOtherVendors checks that an AVP with our code but another Vendor-ID is not
// taken for ours (RFC 6733 §4.1): OC-Validity-Duration (625, vendor 0) before
// Confidentiality-Key (625, 10415), and Transaction-Identifier's code with vendor 0.
func TestDecodeIgnoresOtherVendors(t *testing.T) {
	d := goldenDict(t)
	v := loadGoldenVectors(t)
	item, err := NewAKAAuthDataItem(AKAVector{RAND: v.RAND, AUTN: v.AUTN, XRES: v.XRES, CK: v.CK, IK: v.IK})
	if err != nil {
		t.Fatal(err)
	}
	maa := &MAA{SessionID: "s", ResultCode: ResultSuccess, OriginHost: "h", OriginRealm: "r", SIPAuthDataItem: item}
	m, err := maa.Message(d)
	if err != nil {
		t.Fatal(err)
	}
	g := firstAVP(m.AVP, AVPSIPAuthDataItem, VendorID3GPP).Data.(*diam.GroupedAVP)
	g.AVP = append([]*diam.AVP{diam.NewAVP(625, 0, 0, datatype.Unsigned32(7))}, g.AVP...)
	m.Header.MessageLength = uint32(m.Len())
	got := roundTrip(t, m)
	if !bytes.Equal(got.(*MAA).SIPAuthDataItem.CK, v.CK) {
		t.Fatalf("CK = %x, want %x", []byte(got.(*MAA).SIPAuthDataItem.CK), v.CK)
	}

	bir := &BIR{SessionID: "s", OriginHost: "h", OriginRealm: "r", DestinationRealm: "r", BTID: "real@bsf", NAFID: []byte("n")}
	m, err = bir.Message(d)
	if err != nil {
		t.Fatal(err)
	}
	m.InsertAVP(diam.NewAVP(AVPTransactionIdentifier, avp.Mbit, 0, datatype.OctetString("fake@bsf")))
	m.AVP[0], m.AVP[1] = m.AVP[1], m.AVP[0] // keep Session-Id first
	if got := roundTrip(t, m).(*BIR).BTID; got != "real@bsf" {
		t.Fatalf("BTID = %q, want real@bsf", got)
	}
}

// roundTrip serializes m, parses the octets and decodes them.
func roundTrip(t *testing.T, m *diam.Message) TypedMessage {
	t.Helper()
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(goldenDict(t), b)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRoundTripOptionalFields covers what the fixtures leave out: Failed-AVP, the optional
// BIR AVPs, several GAA-Service-Identifiers, UICC-Key-Material and empty-but-present octets.
func TestRoundTripOptionalFields(t *testing.T) {
	d := goldenDict(t)
	failed := []*diam.AVP{diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String("u"))}
	for _, msg := range []TypedMessage{
		&MAA{HeaderIDs: HeaderIDs{7, 8}, SessionID: "s", ResultCode: ResultMissingAVP, OriginHost: "h", OriginRealm: "r",
			IMPU: "sip:user1@home1.net", FailedAVP: failed},
		&MAR{HeaderIDs: HeaderIDs{7, 8}, SessionID: "s", OriginHost: "h", OriginRealm: "r", DestinationRealm: "r",
			IMPU: "sip:user1@home1.net", SIPAuthDataItem: &SIPAuthDataItem{ItemNumber: new(uint32(1)), AuthenticationContext: []byte{}}},
		&BIR{HeaderIDs: HeaderIDs{7, 8}, SessionID: "s", OriginHost: "h", OriginRealm: "r", DestinationRealm: "r",
			GAAServiceIdentifiers: [][]byte{[]byte("a"), {}, []byte("ccc")}, BTID: "b", NAFID: []byte("n"),
			GBAUAwarenessIndicator: new(GBAUAwarenessYes), RequestedKeyLifetime: time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC),
			PrivateIdentityRequest: new(PrivateIdentityRequested), SecurityFeatureRequest: []byte("f")},
		&BIA{HeaderIDs: HeaderIDs{7, 8}, SessionID: "s", ExperimentalResult: &ExperimentalResult{VendorID3GPP, ExpNotAuthorized},
			OriginHost: "h", OriginRealm: "r", UICCKeyMaterial: Secret{1}, MEKeyMaterial: Secret{},
			GBAType: new(GBAType2G), SecurityFeatureResponse: []byte("g"), FailedAVP: failed},
	} {
		msg = normalizeVSAI(msg)
		b, err := Encode(d, msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(d, b)
		if err != nil {
			t.Fatalf("%T: %v", msg, err)
		}
		if !reflect.DeepEqual(got, msg) {
			t.Errorf("round trip:\ngot  %s\nwant %s", dumpTyped(got), dumpTyped(msg))
		}
	}
}

// normalizeVSAI fills in the default Vendor-Specific-Application-Id a decoder returns.
func normalizeVSAI(m TypedMessage) TypedMessage {
	zh := VendorSpecificApplicationID{VendorID3GPP, AppIDZh}
	zn := VendorSpecificApplicationID{VendorID3GPP, AppIDZn}
	switch x := m.(type) {
	case *MAR:
		x.VendorSpecificApplicationID = zh
	case *MAA:
		x.VendorSpecificApplicationID = zh
	case *BIR:
		x.VendorSpecificApplicationID = zn
	case *BIA:
		x.VendorSpecificApplicationID = zn
	}
	return m
}
