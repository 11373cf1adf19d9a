package diameter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/specs"
)

// zhFrameEnv is a dictionary, a Zh Validator built from it and a codec.
type zhFrameEnv struct {
	d *dict.Parser
	v *Validator
	c *ZhFrameCodec
}

func newZhFrameEnv(tb testing.TB) zhFrameEnv {
	tb.Helper()
	d := testDict(tb)
	c, err := NewZhFrameCodec(d)
	if err != nil {
		tb.Fatal(err)
	}
	return zhFrameEnv{d: d, v: testValidator(tb, d, AppIDZh), c: c}
}

// goDiameterMAR and goDiameterMAA are the go-diameter path: Validator.Decode, then the
// typed decoder.
func goDiameterMAR(v *Validator, f []byte) (*MAR, error) {
	m, err := v.Decode(f)
	if err != nil {
		return nil, err
	}
	return DecodeMAR(m)
}

func goDiameterMAA(v *Validator, f []byte) (*MAA, error) {
	m, err := v.Decode(f)
	if err != nil {
		return nil, err
	}
	return DecodeMAA(m)
}

// sameResult fails unless got and want are both errors or DeepEqual values.
func sameResult[T any](t *testing.T, what string, got T, gotErr error, want T, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s: error %v, go-diameter path %v", what, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s differs from the go-diameter path:\nframe %#v\ngo    %#v", what, got, want)
	}
}

// checkZhFrameDecode is the decoding property on a frame the Validator accepts: the frame
// path (package functions and codec) gives what the go-diameter path gives, for MAR and
// MAA alike. It reports whether the frame was accepted.
func checkZhFrameDecode(t *testing.T, e zhFrameEnv, f []byte) bool {
	t.Helper()
	if e.v.Validate(f) != nil {
		return false
	}
	checkZhFrameDecodeMAR(t, e, f)
	checkZhFrameDecodeMAA(t, e, f)
	return true
}

// checkZhFrameDecodeMAR and checkZhFrameDecodeMAA check one command's decoders on a frame
// the Validator accepts.
func checkZhFrameDecodeMAR(t *testing.T, e zhFrameEnv, f []byte) {
	t.Helper()
	want, wantErr := goDiameterMAR(e.v, f)
	got, err := DecodeMARFrame(f, e.d)
	sameResult(t, "DecodeMARFrame", got, err, want, wantErr)
	got, err = e.c.DecodeMAR(f)
	sameResult(t, "ZhFrameCodec.DecodeMAR", got, err, want, wantErr)
}

func checkZhFrameDecodeMAA(t *testing.T, e zhFrameEnv, f []byte) {
	t.Helper()
	want, wantErr := goDiameterMAA(e.v, f)
	got, err := DecodeMAAFrame(f, e.d)
	sameResult(t, "DecodeMAAFrame", got, err, want, wantErr)
	got, err = e.c.DecodeMAA(f)
	sameResult(t, "ZhFrameCodec.DecodeMAA", got, err, want, wantErr)
}

// frameDirect reports whether the codec reads f itself rather than through go-diameter.
func frameDirect(c *ZhFrameCodec, f []byte, request bool) bool {
	var v zhView
	want := maaTopDefs
	if request {
		want = marTopDefs
	}
	return c.head(f, request) && c.walk(f[headerLen:], want, &v)
}

// TestZhFrameDecodeGolden: every golden frame decodes as on the go-diameter path, the Zh
// ones without go-diameter.
func TestZhFrameDecodeGolden(t *testing.T) {
	e := newZhFrameEnv(t)
	for _, name := range []string{"mar", "mar_resync", "maa", "maa_5401", "bir", "bia"} {
		t.Run(name, func(t *testing.T) {
			f := readGolden(t, name)
			if !checkZhFrameDecode(t, e, f) && strings.HasPrefix(name, "ma") {
				t.Fatal("the Validator rejects a golden Zh frame")
			}
			if strings.HasPrefix(name, "ma") && !frameDirect(e.c, f, name[2] == 'r') {
				t.Fatal("golden frame not read directly")
			}
		})
	}
}

// zhRawFrame serializes a Multimedia-Auth message of avps with the header flags.
func zhRawFrame(tb testing.TB, d *dict.Parser, flags uint8, avps ...*diam.AVP) []byte {
	tb.Helper()
	return frame(tb, d, flags, AppIDZh, CmdMultimediaAuth, avps)
}

// TestZhFrameDecodeVariants: hand-made MARs and MAAs, accepted by the Validator or not.
// Those it accepts decode as on the go-diameter path (direct is whether the frame path
// reads them itself); those go-diameter decodes cleanly (ParseMessage) do too, accepted
// or not, which covers the first-wins and vendor rules beyond the grammar.
func TestZhFrameDecodeVariants(t *testing.T) {
	e := newZhFrameEnv(t)
	d := e.d
	item := func(members ...*diam.AVP) *diam.AVP {
		return mk(AVPSIPAuthDataItem, avp.Mbit, VendorID3GPP, group(members...))
	}
	oct := func(code uint32, s string) *diam.AVP { return mk(code, avp.Mbit, VendorID3GPP, octets(s)) }
	ts := func(v uint32) *diam.AVP {
		return mk(AVPGUSSTimestamp, 0, VendorID3GPP, datatype.Time(TimeFromDiameter(v)))
	}
	expRes := func(members ...*diam.AVP) *diam.AVP {
		return mk(avp.ExperimentalResult, avp.Mbit, 0, group(members...))
	}
	mar := func(extra ...*diam.AVP) []*diam.AVP { return append(marAVPs()[:7:7], extra...) }
	maa := func(extra ...*diam.AVP) []*diam.AVP { return append(maaAVPs(), extra...) }
	failed := mk(avp.FailedAVP, avp.Mbit, 0, group(mk(avp.UserName, avp.Mbit, 0, utf8s("x"))))
	for _, tc := range []struct {
		name    string
		flags   uint8
		avps    []*diam.AVP
		direct  bool
		invalid bool // the Validator rejects it
	}{
		{"mar-test", reqPXY, marAVPs(), true, false},
		{"mar-full", reqPXY, mar(
			mk(avp.DestinationHost, avp.Mbit, 0, ident("hss.example.org")),
			mk(AVPPublicIdentity, avp.Mbit, VendorID3GPP, utf8s("sip:u@example.org")),
			item(mk(AVPSIPItemNumber, avp.Mbit, VendorID3GPP, u32(9)),
				mk(AVPSIPAuthenticationScheme, avp.Mbit, VendorID3GPP, utf8s(SchemeAKAv1MD5)),
				oct(AVPSIPAuthenticate, ""), oct(AVPSIPAuthorization, "rand||auts0123456789012345678"),
				oct(AVPSIPAuthenticationContext, "ctx"), oct(AVPConfidentialityKey, "ck"), oct(AVPIntegrityKey, "")),
			ts(0xE35B8C00)), true, false},
		{"mar-guss-era1", reqPXY, mar(ts(0x00001000)), true, false},
		{"mar-empty-item", reqPXY, mar(item()), true, false},
		{"mar-item-foreign-members", reqPXY, mar(item(
			mk(AVPConfidentialityKey, 0, 0, u32(60)), // OC-Validity-Duration, RFC 7683
			mk(9999, 0, 0, octets("unknown")),
			mk(AVPIntegrityKey, avp.Mbit, VendorID3GPP, octets("ik")),
			mk(AVPSIPAuthenticationScheme, 0, 7, utf8s("other vendor")),
		)), true, false},
		{"mar-wrong-vendor-top", reqPXY, mar(
			mk(avp.UserName, 0, VendorID3GPP, utf8s("vendor user")),
			mk(AVPPublicIdentity, 0, 0, utf8s("no vendor")),
			mk(AVPGUSSTimestamp, 0, 0, u32(5)),
		), true, false},
		{"mar-repeated", reqPXY, mar(
			mk(avp.SessionID, avp.Mbit, 0, utf8s("second session")),
			item(oct(AVPSIPAuthorization, "a1"), oct(AVPSIPAuthorization, "a2")),
			item(oct(AVPSIPAuthorization, "b")),
			ts(0x80000000), ts(0x90000000),
		), true, true},
		{"mar-vsai-repeated-members", reqPXY, []*diam.AVP{
			mk(avp.SessionID, avp.Mbit, 0, utf8s("s")),
			mk(avp.VendorSpecificApplicationID, avp.Mbit, 0, group(
				mk(avp.VendorID, avp.Mbit, 0, u32(1)), mk(9998, 0, 0, u32(1)), mk(avp.VendorID, avp.Mbit, 0, u32(2)),
				mk(avp.AuthApplicationID, avp.Mbit, 0, u32(3)), mk(avp.AuthApplicationID, avp.Mbit, 0, u32(4)))),
		}, true, true},
		{"mar-v-bit-vendor-0", reqPXY, []*diam.AVP{
			mk(avp.SessionID, avp.Mbit|avp.Vbit, 0, utf8s("vendor 0 with V")),
			mk(avp.VendorSpecificApplicationID, avp.Mbit|avp.Vbit, 0, group(
				mk(avp.VendorID, avp.Mbit|avp.Vbit, 0, u32(VendorID3GPP)), mk(avp.AuthApplicationID, avp.Mbit, 0, u32(AppIDZh)))),
			mk(avp.AuthSessionState, avp.Mbit, 0, enum(AuthSessionStateNoStateMaintained)),
			mk(avp.OriginHost, avp.Mbit|avp.Vbit, 0, ident("bsf.example.org")),
			mk(avp.OriginRealm, avp.Mbit, 0, ident("example.org")),
			mk(avp.DestinationRealm, avp.Mbit, 0, ident("example.org")),
		}, true, false},
		{"mar-unknown", reqPXY, mar(mk(9999, 0, 0, octets("x")), mk(9999, avp.Vbit, 77, octets("yy"))), true, false},
		{"mar-as-answer", diam.ProxiableFlag, marAVPs(), true, false},
		{"maa-test", diam.ProxiableFlag, maaAVPs(), true, false},
		{"maa-full", diam.ProxiableFlag, maa(
			mk(avp.UserName, avp.Mbit, 0, utf8s("u@example.org")),
			mk(AVPPublicIdentity, avp.Mbit, VendorID3GPP, utf8s("sip:u@example.org")),
			item(mk(AVPSIPAuthenticationScheme, avp.Mbit, VendorID3GPP, utf8s(SchemeAKAv1MD5)),
				oct(AVPSIPAuthenticate, strings.Repeat("A", 32)), oct(AVPSIPAuthorization, "xres1234"),
				oct(AVPConfidentialityKey, strings.Repeat("C", 16)), oct(AVPIntegrityKey, strings.Repeat("I", 16))),
			oct(AVPGBAUserSecSettings, "<guss/>"),
		), true, false},
		{"maa-empty-guss", diam.ProxiableFlag, maa(oct(AVPGBAUserSecSettings, "")), true, false},
		{"maa-experimental", diam.ProxiableFlag, []*diam.AVP{
			mk(avp.SessionID, avp.Mbit, 0, utf8s(testSessionID)), vsai(AppIDZh),
			expRes(mk(avp.VendorID, avp.Mbit, 0, u32(VendorID3GPP)), mk(avp.ExperimentalResultCode, avp.Mbit, 0, u32(ExpIMPIUnknown))),
			mk(avp.AuthSessionState, avp.Mbit, 0, enum(AuthSessionStateNoStateMaintained)),
			mk(avp.OriginHost, avp.Mbit, 0, ident("hss.example.org")),
			mk(avp.OriginRealm, avp.Mbit, 0, ident("example.org")),
		}, true, false},
		{"maa-experimental-odd", diam.ProxiableFlag, maa(
			expRes(mk(avp.ExperimentalResultCode, avp.Mbit, 0, u32(5401)), mk(avp.ExperimentalResultCode, avp.Mbit, 0, u32(1)),
				mk(avp.VendorID, 0, VendorID3GPP, u32(1))),
			expRes(mk(avp.VendorID, avp.Mbit, 0, u32(2))),
		), true, true},
		{"maa-empty-experimental", diam.ProxiableFlag, maa(expRes()), true, true},
		{"maa-protocol-error", diam.ProxiableFlag | diam.ErrorFlag, []*diam.AVP{
			mk(avp.SessionID, avp.Mbit, 0, utf8s(testSessionID)),
			mk(avp.ResultCode, avp.Mbit, 0, u32(ResultUnableToDeliver)),
			mk(avp.OriginHost, avp.Mbit, 0, ident("relay.example.org")),
			mk(avp.OriginRealm, avp.Mbit, 0, ident("example.org")),
		}, true, false},
		{"maa-failed-avp", diam.ProxiableFlag | diam.ErrorFlag, []*diam.AVP{
			mk(avp.SessionID, avp.Mbit, 0, utf8s(testSessionID)),
			mk(avp.ResultCode, avp.Mbit, 0, u32(ResultMissingAVP)),
			mk(avp.OriginHost, avp.Mbit, 0, ident("hss.example.org")),
			mk(avp.OriginRealm, avp.Mbit, 0, ident("example.org")),
			failed,
		}, false, false},
		{"maa-as-request", reqPXY, maaAVPs(), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := zhRawFrame(t, d, tc.flags, tc.avps...)
			if accepted := checkZhFrameDecode(t, e, f); accepted == tc.invalid {
				t.Fatalf("Validator accepts: %v, want %v (%v)", accepted, !tc.invalid, e.v.Validate(f))
			}
			request := tc.flags&diam.RequestFlag != 0
			if got := frameDirect(e.c, f, request); got != tc.direct {
				t.Fatalf("read directly: %v, want %v", got, tc.direct)
			}
			m, err := ParseMessage(d, f)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			wantR, wantRErr := DecodeMAR(m)
			gotR, err := DecodeMARFrame(f, d)
			sameResult(t, "DecodeMARFrame", gotR, err, wantR, wantRErr)
			wantA, wantAErr := DecodeMAA(m)
			gotA, err := DecodeMAAFrame(f, d)
			sameResult(t, "DecodeMAAFrame", gotA, err, wantA, wantAErr)
		})
	}
}

// TestZhFrameDecodeFallsBack: octets the walk does not read itself (bad lengths, odd
// framing, other commands, a nil dictionary) go through go-diameter, errors included,
// and never panic.
func TestZhFrameDecodeFallsBack(t *testing.T) {
	e := newZhFrameEnv(t)
	good := readGolden(t, "mar")
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		f    []byte
	}{
		{"short", good[:12]},
		{"length-mismatch", mutate(func(b []byte) []byte { return setLen(b, len(b)-4) })},
		{"length-zero", mutate(func(b []byte) []byte { return setLen(b, 0) })},
		{"truncated-avp", mutate(func(b []byte) []byte { return setLen(b[:len(b)-2], len(b)-2) })},
		{"other-command", mutate(func(b []byte) []byte { putUint24(b[5:8], CmdBootstrappingInfo); return b })},
		{"other-app", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:12], AppIDZn); return b })},
		{"avp-length-short", mutate(func(b []byte) []byte { putUint24(b[headerLen+5:headerLen+8], 4); return b })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if frameDirect(e.c, tc.f, true) {
				t.Fatal("read directly")
			}
			if int(uint24(tc.f[1:4])) != len(tc.f) {
				// go-diameter would read Message Length octets (2^32-20 for 0): refused.
				if _, err := DecodeMARFrame(tc.f, e.d); !errors.Is(err, ErrDecode) {
					t.Fatalf("DecodeMARFrame: %v", err)
				}
				return
			}
			var wantR *MAR
			m, wantErr, p := goDiameterDecode(e.d, tc.f)
			switch {
			case p != nil:
				wantErr = errors.New("panic")
			case wantErr == nil:
				wantR, wantErr = DecodeMAR(m)
			}
			got, err := DecodeMARFrame(tc.f, e.d)
			sameResult(t, "DecodeMARFrame", got, err, wantR, wantErr)
		})
	}
	if _, err := DecodeMARFrame(good, nil); !errors.Is(err, ErrDecode) {
		t.Fatalf("nil dictionary: %v", err)
	}
	if _, err := DecodeMAAFrame(readGolden(t, "maa"), nil); !errors.Is(err, ErrDecode) {
		t.Fatalf("nil dictionary: %v", err)
	}
	if _, err := NewZhFrameCodec(nil); err == nil {
		t.Fatal("NewZhFrameCodec(nil) succeeded")
	}
}

// alteredGBADict is the OpenGBA dictionary with the definition of one GBA AVP (by name)
// rewritten by edit.
func alteredGBADict(t *testing.T, name string, edit func(string) string) *dict.Parser {
	t.Helper()
	re := regexp.MustCompile(`(?s)<avp name="` + regexp.QuoteMeta(name) + `".*?</avp>`)
	gba := string(specs.DiameterGBA())
	def := re.FindString(gba)
	if def == "" {
		t.Fatalf("no AVP %s in gba.xml", name)
	}
	d, err := dict.NewParser()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []string{string(specs.DiameterBase()), strings.Replace(gba, def, edit(def), 1)} {
		if err := d.Load(strings.NewReader(x)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestZhFrameOtherDictionaries: the codec follows the dictionary's flags, and falls back
// (with the go-diameter path's results) where a definition differs in type.
func TestZhFrameOtherDictionaries(t *testing.T) {
	std := newZhFrameEnv(t)
	r := zhTestMARs(t)["guss-timestamp-impu"]
	a := zhTestMAAs(t)["vector-guss"]

	// Public-Identity without the M bit: the direct path writes the dictionary's flags.
	noM := alteredGBADict(t, "Public-Identity", func(s string) string {
		return strings.Replace(strings.Replace(s, `must="V,M"`, `must="V"`, 1), `must-not="P"`, `must-not="P,M"`, 1)
	})
	c, _ := NewZhFrameCodec(noM)
	if _, ok := c.appendMARDirect(nil, r); !ok {
		t.Fatal("flag change made the codec decline")
	}
	checkZhFrameAppend(t, noM, c, r)
	checkZhFrameAppend(t, noM, c, a)

	// GUSS-Timestamp as OctetString and GBA-UserSecSettings as UTF8String: the codec leaves
	// both to go-diameter, decoding (DecodeMAR then fails on the timestamp) and encoding
	// (Message fails on the type) alike.
	for _, alt := range []struct {
		name, from, to string
		msg            TypedMessage
	}{
		{"GUSS-Timestamp", `type="Time"`, `type="OctetString"`, r},
		{"GBA-UserSecSettings", `type="OctetString"`, `type="UTF8String"`, a},
	} {
		ad := alteredGBADict(t, alt.name, func(s string) string { return strings.Replace(s, alt.from, alt.to, 1) })
		ac, _ := NewZhFrameCodec(ad)
		f, err := Encode(std.d, alt.msg)
		if err != nil {
			t.Fatal(err)
		}
		request := f[4]&flagRequest != 0
		if frameDirect(ac, f, request) {
			t.Fatalf("%s: read directly with a %s of another type", alt.name, alt.name)
		}
		m, err := ParseMessage(ad, f)
		if err != nil {
			t.Fatal(err)
		}
		if request {
			want, wantErr := DecodeMAR(m)
			got, err := ac.DecodeMAR(f)
			sameResult(t, alt.name, got, err, want, wantErr)
			got, err = DecodeMARFrame(f, ad)
			sameResult(t, alt.name, got, err, want, wantErr)
		} else {
			want, wantErr := DecodeMAA(m)
			got, err := ac.DecodeMAA(f)
			sameResult(t, alt.name, got, err, want, wantErr)
		}
		checkZhFrameAppend(t, ad, ac, alt.msg)
	}

	// go-diameter's own base dictionary has no Zh application: everything falls back.
	base, _ := NewZhFrameCodec(dict.Default)
	for _, f := range [][]byte{readGolden(t, "mar"), readGolden(t, "maa")} {
		if frameDirect(base, f, f[4]&flagRequest != 0) {
			t.Fatal("read directly without the Zh application")
		}
		_, err1 := base.DecodeMAR(f)
		_, err2 := base.DecodeMAA(f)
		if err1 == nil || err2 == nil {
			t.Fatalf("decoded without the Zh application: %v, %v", err1, err2)
		}
	}
	checkZhFrameAppend(t, dict.Default, base, r)
	checkZhFrameAppend(t, dict.Default, base, a)
}

// zhTestMARs and zhTestMAAs are the constructed messages of the encoding tests.
func zhTestMARs(tb testing.TB) map[string]*MAR {
	tb.Helper()
	resync, err := NewResyncAuthDataItem(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 14))
	if err != nil {
		tb.Fatal(err)
	}
	n := uint32(3)
	ids := HeaderIDs{HopByHopID: 0x01020304, EndToEndID: 0x05060708}
	base := func() *MAR {
		return &MAR{HeaderIDs: ids, SessionID: "bsf.home1.net;1;2", OriginHost: "bsf.home1.net", OriginRealm: "home1.net",
			DestinationRealm: "home1.net", IMPI: "user1_private@home1.net"}
	}
	out := map[string]*MAR{}
	add := func(name string, edit func(*MAR)) {
		r := base()
		edit(r)
		out[name] = r
	}
	add("bsf", func(*MAR) {})
	add("scheme", func(r *MAR) { r.SIPAuthDataItem = &SIPAuthDataItem{AuthenticationScheme: SchemeAKAv1MD5} })
	add("resync", func(r *MAR) { r.SIPAuthDataItem = resync })
	add("guss-timestamp-impu", func(r *MAR) {
		r.GUSSTimestamp = time.Date(2020, 10, 27, 23, 36, 26, 0, time.UTC)
		r.IMPU = "sip:user1@home1.net"
	})
	add("guss-timestamp-era1-local", func(r *MAR) {
		r.GUSSTimestamp = time.Date(2050, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 3600))
	})
	add("destination-host", func(r *MAR) { r.DestinationHost = "hss.home1.net" })
	add("vsai", func(r *MAR) {
		r.VendorSpecificApplicationID = VendorSpecificApplicationID{VendorID: 1, AuthApplicationID: 2}
	})
	add("vsai-half", func(r *MAR) { r.VendorSpecificApplicationID = VendorSpecificApplicationID{AuthApplicationID: AppIDZh} })
	add("item-number-empty-octets", func(r *MAR) {
		r.SIPAuthDataItem = &SIPAuthDataItem{ItemNumber: &n, Authenticate: []byte{}, CK: Secret{}, AuthenticationContext: []byte("c")}
	})
	add("empty-item", func(r *MAR) { r.SIPAuthDataItem = &SIPAuthDataItem{} })
	add("minimal", func(r *MAR) { r.IMPI = "" })
	add("padding", func(r *MAR) { r.SessionID, r.OriginHost, r.IMPI = "s", "hh", "iii" })
	add("zero-ids", func(r *MAR) { r.HeaderIDs = HeaderIDs{} })
	add("time-out-of-window", func(r *MAR) { r.GUSSTimestamp = time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC) })
	add("no-session", func(r *MAR) { r.SessionID = "" })
	add("no-destination-realm", func(r *MAR) { r.DestinationRealm = "" })
	add("no-origin-host", func(r *MAR) { r.OriginHost = "" })
	return out
}

func zhTestMAAs(tb testing.TB) map[string]*MAA {
	tb.Helper()
	item, err := NewAKAAuthDataItem(AKAVector{
		RAND: bytes.Repeat([]byte{1}, 16), AUTN: bytes.Repeat([]byte{2}, 16),
		XRES: bytes.Repeat([]byte{3}, 8), CK: bytes.Repeat([]byte{4}, 16), IK: bytes.Repeat([]byte{5}, 16),
	})
	if err != nil {
		tb.Fatal(err)
	}
	n := uint32(7)
	ids := HeaderIDs{HopByHopID: 0x01020304, EndToEndID: 0x05060708}
	base := func() *MAA {
		return &MAA{HeaderIDs: ids, SessionID: "bsf.home1.net;1;2", OriginHost: "hss.home1.net", OriginRealm: "home1.net", ResultCode: ResultSuccess}
	}
	out := map[string]*MAA{}
	add := func(name string, edit func(*MAA)) {
		a := base()
		edit(a)
		out[name] = a
	}
	add("minimal", func(*MAA) {})
	add("vector-guss", func(a *MAA) { a.SIPAuthDataItem, a.GUSS = item, []byte(goldenGUSS) })
	add("vector", func(a *MAA) { a.SIPAuthDataItem, a.IMPI = item, "user1_private@home1.net" })
	add("identities", func(a *MAA) { a.IMPI, a.IMPU = "u@home1.net", "sip:u@home1.net" })
	add("vsai", func(a *MAA) {
		a.VendorSpecificApplicationID = VendorSpecificApplicationID{VendorID: 1, AuthApplicationID: 2}
	})
	add("item-number-empty-octets", func(a *MAA) {
		a.SIPAuthDataItem = &SIPAuthDataItem{ItemNumber: &n, Authenticate: []byte{}, CK: Secret{}}
		a.GUSS = []byte{}
	})
	add("empty-item", func(a *MAA) { a.SIPAuthDataItem = &SIPAuthDataItem{} })
	add("result-3002-e-bit", func(a *MAA) { a.ResultCode = ResultUnableToDeliver })
	add("result-3999", func(a *MAA) { a.ResultCode = 3999 })
	add("result-4000", func(a *MAA) { a.ResultCode = 4000 })
	add("result-5012", func(a *MAA) { a.ResultCode = ResultUnableToComply })
	add("zero-ids", func(a *MAA) { a.HeaderIDs = HeaderIDs{} })
	add("experimental-5401", func(a *MAA) {
		a.ResultCode, a.ExperimentalResult = 0, &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: ExpIMPIUnknown}
	})
	add("experimental-5401-identities", func(a *MAA) {
		a.ResultCode, a.ExperimentalResult = 0, &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: ExpIMPIUnknown}
		a.IMPI, a.IMPU, a.SIPAuthDataItem, a.GUSS = "u@home1.net", "sip:u@home1.net", &SIPAuthDataItem{ItemNumber: &n}, []byte("g")
	})
	add("experimental-vendor-0", func(a *MAA) {
		a.ResultCode, a.ExperimentalResult = 0, &ExperimentalResult{ExperimentalResultCode: 3001}
	})
	add("failed-avp", func(a *MAA) {
		a.ResultCode = ResultMissingAVP
		a.FailedAVP = []*diam.AVP{diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(""))}
	})
	add("experimental-no-code", func(a *MAA) { a.ResultCode, a.ExperimentalResult = 0, &ExperimentalResult{VendorID: VendorID3GPP} })
	add("both-results", func(a *MAA) {
		a.ExperimentalResult = &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: 5001}
	})
	add("no-result", func(a *MAA) { a.ResultCode = 0 })
	add("no-session", func(a *MAA) { a.SessionID = "" })
	add("no-origin-realm", func(a *MAA) { a.OriginRealm = "" })
	return out
}

// checkZhFrameAppend is the encoding property: AppendFrame (package method and codec)
// appends exactly the octets of Message + Serialize (the header identifiers aside when
// they are zero: both paths draw them at random), or fails exactly when Message does,
// leaving b as it was. It returns the frame, or nil on error.
func checkZhFrameAppend(t *testing.T, d *dict.Parser, c *ZhFrameCodec, msg TypedMessage) []byte {
	t.Helper()
	var want []byte
	m, wantErr := msg.Message(d)
	if wantErr == nil {
		want, wantErr = m.Serialize()
	}
	prefix := []byte("prefix")
	var got, got2 []byte
	var err, err2 error
	var ids HeaderIDs
	switch x := msg.(type) {
	case *MAR:
		got, err = x.AppendFrame(bytes.Clone(prefix), d)
		got2, err2 = c.AppendMAR(bytes.Clone(prefix), x)
		ids = x.HeaderIDs
	case *MAA:
		got, err = x.AppendFrame(bytes.Clone(prefix), d)
		got2, err2 = c.AppendMAA(bytes.Clone(prefix), x)
		ids = x.HeaderIDs
	default:
		t.Fatalf("%T", msg)
	}
	for _, g := range []struct {
		b   []byte
		err error
	}{{got, err}, {got2, err2}} {
		if (g.err == nil) != (wantErr == nil) {
			t.Fatalf("AppendFrame error %v, Message + Serialize %v", g.err, wantErr)
		}
		if g.err != nil {
			if !bytes.Equal(g.b, prefix) {
				t.Fatalf("on error b is %q", g.b)
			}
			if g.err.Error() != wantErr.Error() {
				t.Fatalf("AppendFrame error %q, Message %q", g.err, wantErr)
			}
			continue
		}
		if !bytes.HasPrefix(g.b, prefix) {
			t.Fatal("prefix lost")
		}
		f := g.b[len(prefix):]
		if int(uint24(f[1:4])) != len(f) {
			t.Fatalf("Message Length %d for %d octets", uint24(f[1:4]), len(f))
		}
		w := want
		if ids.HopByHopID == 0 || ids.EndToEndID == 0 {
			w = bytes.Clone(want)
			copy(w[12:20], f[12:20])
			if binary.BigEndian.Uint32(f[12:16]) == 0 || binary.BigEndian.Uint32(f[16:20]) == 0 {
				t.Fatal("zero identifier not replaced")
			}
		}
		if !bytes.Equal(f, w) {
			t.Fatalf("octets differ:\nframe %x\nwant  %x", f, w)
		}
	}
	if err != nil {
		return nil
	}
	return got[len(prefix):]
}

// normalizedZh is what decoding the encoding of msg gives: the default
// Vendor-Specific-Application-Id filled in, the GUSS-Timestamp in whole UTC seconds, the
// header identifiers of the frame.
func normalizedZh(msg TypedMessage, f []byte) TypedMessage {
	ids := frameIDs(f)
	zh := VendorSpecificApplicationID{VendorID: VendorID3GPP, AuthApplicationID: AppIDZh}
	switch x := msg.(type) {
	case *MAR:
		r := *x
		r.HeaderIDs = ids
		if r.VendorSpecificApplicationID == (VendorSpecificApplicationID{}) {
			r.VendorSpecificApplicationID = zh
		}
		if !r.GUSSTimestamp.IsZero() {
			v, _ := TimeToDiameter(r.GUSSTimestamp)
			r.GUSSTimestamp = TimeFromDiameter(v)
		}
		return &r
	case *MAA:
		a := *x
		a.HeaderIDs = ids
		if a.VendorSpecificApplicationID == (VendorSpecificApplicationID{}) {
			a.VendorSpecificApplicationID = zh
		}
		return &a
	}
	return nil
}

// checkZhFrameRoundTrip: a frame from AppendFrame that the Validator accepts decodes with
// the frame path to msg (normalized) and as on the go-diameter path.
func checkZhFrameRoundTrip(t *testing.T, e zhFrameEnv, msg TypedMessage, f []byte) {
	t.Helper()
	if e.v.Validate(f) != nil {
		return
	}
	var got TypedMessage
	var err error
	if _, ok := msg.(*MAR); ok {
		checkZhFrameDecodeMAR(t, e, f)
		got, err = e.c.DecodeMAR(f)
	} else {
		checkZhFrameDecodeMAA(t, e, f)
		got, err = e.c.DecodeMAA(f)
	}
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if want := normalizedZh(msg, f); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\ngot  %#v\nwant %#v", got, want)
	}
}

// TestZhFrameAppend: the constructed MARs and MAAs encode as Message + Serialize, the
// golden ones to their golden octets, directly where the codec builds them itself; and they
// round-trip.
func TestZhFrameAppend(t *testing.T) {
	e := newZhFrameEnv(t)
	fallback := map[string]bool{
		"time-out-of-window": true, "no-session": true, "no-destination-realm": true, "no-origin-host": true,
		"failed-avp": true, "experimental-no-code": true, "both-results": true, "no-result": true, "no-origin-realm": true,
	}
	for name, r := range zhTestMARs(t) {
		t.Run("MAR/"+name, func(t *testing.T) {
			if _, ok := e.c.appendMARDirect(nil, r); ok == fallback[name] {
				t.Fatalf("direct: %v", ok)
			}
			if f := checkZhFrameAppend(t, e.d, e.c, r); f != nil {
				checkZhFrameRoundTrip(t, e, r, f)
				if e.v.Validate(f) != nil {
					t.Fatalf("the Validator rejects it: %v", e.v.Validate(f))
				}
			}
		})
	}
	for name, a := range zhTestMAAs(t) {
		t.Run("MAA/"+name, func(t *testing.T) {
			if _, ok := e.c.appendMAADirect(nil, a); ok == fallback[name] {
				t.Fatalf("direct: %v", ok)
			}
			if f := checkZhFrameAppend(t, e.d, e.c, a); f != nil {
				checkZhFrameRoundTrip(t, e, a, f)
			}
		})
	}
	for _, g := range goldenCases(t) {
		if g.file[:2] != "ma" {
			continue
		}
		t.Run("golden/"+g.file, func(t *testing.T) {
			f := checkZhFrameAppend(t, e.d, e.c, g.msg)
			if !bytes.Equal(f, readGolden(t, g.file)) {
				t.Fatalf("not the golden octets:\n%x", f)
			}
			checkZhFrameRoundTrip(t, e, g.msg, f)
		})
	}
	if _, err := (*MAR)(nil).AppendFrame(nil, e.d); err == nil {
		t.Fatal("nil MAR encoded")
	}
	if _, err := e.c.AppendMAA(nil, nil); err == nil {
		t.Fatal("nil MAA encoded")
	}
}

// TestZhFrameAppendCopies: the frame holds copies, and decoded octets are copies with
// their own capacity.
func TestZhFrameAppendCopies(t *testing.T) {
	e := newZhFrameEnv(t)
	a := zhTestMAAs(t)["vector-guss"]
	f, err := a.AppendFrame(nil, e.d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMAAFrame(f, e.d)
	if err != nil {
		t.Fatal(err)
	}
	clear(f)
	if !reflect.DeepEqual(got, normalizedZh(a, readGoldenIDs(a.HeaderIDs))) {
		t.Fatal("decoded MAA aliases the frame")
	}
	ck := got.SIPAuthDataItem.CK
	_ = append(ck, 0xff)
	if !bytes.Equal(got.SIPAuthDataItem.IK, a.SIPAuthDataItem.IK) {
		t.Fatal("appending to CK wrote into IK")
	}
}

// readGoldenIDs is a header carrying ids (for normalizedZh).
func readGoldenIDs(ids HeaderIDs) []byte {
	f := make([]byte, headerLen)
	binary.BigEndian.PutUint32(f[12:16], ids.HopByHopID)
	binary.BigEndian.PutUint32(f[16:20], ids.EndToEndID)
	return f
}

// TestZhFrameConcurrent: a codec is shared by goroutines (run with -race).
func TestZhFrameConcurrent(t *testing.T) {
	e := newZhFrameEnv(t)
	mar, maa := readGolden(t, "mar"), readGolden(t, "maa")
	r := zhTestMARs(t)["resync"]
	done := make(chan error, 4)
	for range 4 {
		go func() {
			var buf []byte
			for range 50 {
				if _, err := e.c.DecodeMAR(mar); err != nil {
					done <- err
					return
				}
				if _, err := e.c.DecodeMAA(maa); err != nil {
					done <- err
					return
				}
				var err error
				if buf, err = e.c.AppendMAR(buf[:0], r); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestZhFrameAllocs: the frame path allocates the decoded structs only, and a codec from
// NewZhFrameCodec appends into a buffer of sufficient capacity without allocating (the
// AppendFrame methods resolve the definitions, by name too, on every call).
func TestZhFrameAllocs(t *testing.T) {
	e := newZhFrameEnv(t)
	mar, maa := readGolden(t, "mar_resync"), readGolden(t, "maa")
	r := zhTestMARs(t)["resync"]
	a := zhTestMAAs(t)["vector-guss"]
	buf := make([]byte, 0, 2048)
	for _, tc := range []struct {
		name string
		max  float64
		f    func()
	}{
		{"DecodeMAR", 4, func() { _, _ = e.c.DecodeMAR(mar) }},
		{"DecodeMAA", 4, func() { _, _ = e.c.DecodeMAA(maa) }},
		{"DecodeMARFrame", 4, func() { _, _ = DecodeMARFrame(mar, e.d) }},
		{"AppendMAR", 0, func() { _, _ = e.c.AppendMAR(buf[:0], r) }},
		{"AppendMAA", 0, func() { _, _ = e.c.AppendMAA(buf[:0], a) }},
	} {
		if n := testing.AllocsPerRun(100, tc.f); n > tc.max {
			t.Errorf("%s: %v allocations, want at most %v", tc.name, n, tc.max)
		}
	}
}

// zhFuzzSeeds are the golden Zh frames and the hand-made ones of the variants test.
func zhFuzzSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for _, f := range validatorGoldenFrames(tb) {
		out = append(out, f)
	}
	d := testDict(tb)
	out = append(out, zhRawFrame(tb, d, reqPXY, marAVPs()...), zhRawFrame(tb, d, diam.ProxiableFlag, maaAVPs()...))
	return out
}

// zhFuzzCodes are the AVP codes zhFuzzFrame draws from: those the frame path reads, a few
// it skips, and an unknown one.
var zhFuzzCodes = [...]uint32{
	avp.SessionID, avp.VendorSpecificApplicationID, avp.VendorID, avp.AuthApplicationID, avp.AuthSessionState,
	avp.OriginHost, avp.OriginRealm, avp.DestinationRealm, avp.DestinationHost, avp.UserName, AVPPublicIdentity,
	AVPSIPAuthDataItem, AVPSIPItemNumber, AVPSIPAuthenticationScheme, AVPSIPAuthenticate, AVPSIPAuthorization,
	AVPSIPAuthenticationContext, AVPConfidentialityKey, AVPIntegrityKey, AVPGUSSTimestamp, avp.ResultCode,
	avp.ExperimentalResult, avp.ExperimentalResultCode, AVPGBAUserSecSettings, avp.FailedAVP, avp.ProxyInfo,
	avp.ProxyHost, avp.RouteRecord, AVPSIPNumberAuthItems, avp.AcctApplicationID, 9999,
}

// zhFuzzFrame builds a well-framed MAR or MAA from fuzz octets, so that the Validator
// accepts a good share of the inputs: in[0] picks request or answer, the E bit and
// whether the required AVPs of the MAR grammar (TS 29.109 §6.1.1) come first; the rest
// is a list of AVPs (code from zhFuzzCodes, Vendor-ID, M bit, data of the dictionary's
// type, members for a Grouped one), RFC 6733 §4.1 and §4.4.
func zhFuzzFrame(d *dict.Parser, in []byte) []byte {
	if len(in) == 0 {
		return nil
	}
	ctl := in[0]
	in = in[1:]
	var body []byte
	if ctl&4 != 0 {
		for _, a := range marAVPs()[:6] {
			b, _ := a.Serialize()
			body = append(body, b...)
		}
	}
	next := func() byte {
		if len(in) == 0 {
			return 0
		}
		c := in[0]
		in = in[1:]
		return c
	}
	var avps func(depth, n int) []byte
	avps = func(depth, n int) []byte {
		var out []byte
		for i := 0; i < n && len(in) >= 3; i++ {
			code := zhFuzzCodes[int(next())%len(zhFuzzCodes)]
			sel := next()
			flags := uint8(0)
			if sel&1 != 0 {
				flags |= avpFlagMandatory
			}
			vendor := uint32(0)
			def, err := d.FindAVPByCode(AppIDZh, code, dict.UndefinedVendorID)
			switch {
			case sel&6 == 2:
				flags |= avpFlagVendor // V bit, Vendor-ID 0
			case sel&6 == 4:
				vendor = 7
			case err == nil && def != nil:
				vendor = def.VendorID
			}
			typ := datatype.OctetStringType
			if err == nil && def != nil {
				typ = def.Data.Type
			}
			var data []byte
			switch {
			case typ == datatype.GroupedType && depth < 2:
				data = avps(depth+1, int(next()%4))
			case fixedDataLength(typ) >= 0 && sel&8 == 0:
				data = make([]byte, fixedDataLength(typ))
				for j := range data {
					data[j] = next()
				}
			default:
				n := min(int(next()%24), len(in))
				data, in = in[:n], in[n:]
			}
			out = AppendAVP(out, code, flags, vendor, data)
		}
		return out
	}
	body = append(body, avps(0, 12)...)
	flags := diam.ProxiableFlag
	if ctl&1 != 0 {
		flags |= diam.RequestFlag
	} else if ctl&2 != 0 {
		flags |= diam.ErrorFlag
	}
	f := make([]byte, headerLen, headerLen+len(body))
	f[0], f[4] = diamVersion, uint8(flags)
	putUint24(f[5:8], CmdMultimediaAuth)
	binary.BigEndian.PutUint32(f[8:12], AppIDZh)
	binary.BigEndian.PutUint32(f[12:16], 0x01020304)
	binary.BigEndian.PutUint32(f[16:20], 0x05060708)
	f = append(f, body...)
	putUint24(f[1:4], uint32(len(f)))
	return f
}

// FuzzDecodeZhFrame: on every frame a Zh Validator accepts, DecodeMARFrame and
// DecodeMAAFrame (and the codec's methods) give what the go-diameter path gives. The
// input is tried as a frame, and as the description of one (zhFuzzFrame), which reaches
// far more accepted frames. Any crash becomes a case in TestZhFrameDecodeVariants or
// TestZhFrameDecodeFallsBack.
//
//	go test ./internal/diameter -run '^$' -fuzz '^FuzzDecodeZhFrame$' -fuzztime 20s
func FuzzDecodeZhFrame(f *testing.F) {
	e := newZhFrameEnv(f)
	for _, s := range zhFuzzSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte("\x05\x0b\x01\x04\x0c\x07\x03\x01\x04\x0e\x00\x05abcde\x00\x00\x02\x13\x00\x80\x00\x00\x01"))
	f.Add([]byte("\x00\x16\x01\x02\x15\x01\x41\x42\x43\x44\x1c\x00\x03xyz\x17\x01\x05guss!"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkZhFrameDecode(t, e, frame)
		checkZhFrameDecode(t, e, zhFuzzFrame(e.d, frame))
	})
}

// FuzzAppendZhFrame: MARs and MAAs built from fuzzed fields encode with AppendFrame as
// with Message + Serialize (or fail alike), and what the Validator accepts decodes with
// the frame path back to the message and as on the go-diameter path.
//
//	go test ./internal/diameter -run '^$' -fuzz '^FuzzAppendZhFrame$' -fuzztime 20s
func FuzzAppendZhFrame(f *testing.F) {
	e := newZhFrameEnv(f)
	f.Add("bsf.home1.net;1;2", "bsf.home1.net", "home1.net", "hss.home1.net", "user1_private@home1.net", "sip:u@home1.net",
		SchemeAKAv1MD5, []byte("0123456789abcdef0123456789abcdef"), []byte("xres1234"), []byte("ck"), []byte("ik"),
		[]byte("<guss/>"), uint32(2001), uint32(0), uint32(1), int64(1603838186), uint16(0xffff))
	f.Add("s", "h", "r", "", "", "", "", []byte(nil), []byte(nil), []byte(nil), []byte(nil),
		[]byte(nil), uint32(0), uint32(5401), uint32(0), int64(0), uint16(0))
	f.Add("s", "h", "r", "d", "i", "", "x", []byte{}, []byte{1}, []byte(nil), []byte{},
		[]byte{}, uint32(3002), uint32(0), uint32(0), int64(-5000000000), uint16(0x5a5a))
	f.Fuzz(func(t *testing.T, session, host, realm, destHost, impi, impu, scheme string,
		authenticate, authorization, ck, ik, guss []byte, resultCode, expCode, ids uint32, unix int64, sel uint16) {
		opt := func(bit uint, p []byte) []byte {
			if sel&(1<<bit) == 0 {
				return nil
			}
			if p == nil {
				return []byte{}
			}
			return p
		}
		var it *SIPAuthDataItem
		if sel&1 != 0 {
			it = &SIPAuthDataItem{AuthenticationScheme: scheme, Authenticate: opt(1, authenticate),
				Authorization: opt(2, authorization), AuthenticationContext: opt(3, ck[:len(ck)/2]),
				CK: opt(4, ck), IK: opt(5, ik)}
			if sel&(1<<6) != 0 {
				n := expCode ^ resultCode
				it.ItemNumber = &n
			}
		}
		hids := HeaderIDs{HopByHopID: ids, EndToEndID: ids ^ 0x5a5a5a5a}
		var vsai VendorSpecificApplicationID
		if sel&(1<<7) != 0 {
			vsai = VendorSpecificApplicationID{VendorID: expCode, AuthApplicationID: resultCode}
		}
		r := &MAR{HeaderIDs: hids, SessionID: session, VendorSpecificApplicationID: vsai, OriginHost: host,
			OriginRealm: realm, DestinationRealm: realm, DestinationHost: destHost, IMPI: impi, IMPU: impu,
			SIPAuthDataItem: it}
		if sel&(1<<8) != 0 {
			r.GUSSTimestamp = time.Unix(unix, 0)
		}
		a := &MAA{HeaderIDs: hids, SessionID: session, VendorSpecificApplicationID: vsai, ResultCode: resultCode,
			OriginHost: host, OriginRealm: realm, IMPI: impi, IMPU: impu, SIPAuthDataItem: it, GUSS: opt(9, guss)}
		if expCode != 0 || sel&(1<<10) != 0 {
			a.ExperimentalResult = &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: expCode}
		}
		if sel&(1<<11) != 0 {
			a.FailedAVP = []*diam.AVP{diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(impi))}
		}
		for _, msg := range []TypedMessage{r, a} {
			if fr := checkZhFrameAppend(t, e.d, e.c, msg); fr != nil {
				if x, ok := msg.(*MAA); ok && len(x.FailedAVP) > 0 {
					if e.v.Validate(fr) == nil {
						checkZhFrameDecodeMAA(t, e, fr) // FailedAVP holds go-diameter's AVPs: no normalized form
					}
					continue
				}
				checkZhFrameRoundTrip(t, e, msg, fr)
			}
		}
	})
}

// BenchmarkZhFrame compares, for the golden MAR and the golden MAA with an AV and the
// GUSS, the go-diameter path (Validator.Decode + DecodeMAR/DecodeMAA; Message + Serialize)
// with the frame path (Validate + the codec's DecodeMAR/DecodeMAA or the package
// functions taking the dictionary; AppendMAR/AppendMAA or AppendFrame into a reused
// buffer).
//
//	go test -run '^$' -bench ZhFrame -benchmem ./internal/diameter/
func BenchmarkZhFrame(b *testing.B) {
	e := newZhFrameEnv(b)
	marFrame, maaFrame := readGolden(b, "mar"), readGolden(b, "maa")
	var mar *MAR
	var maa *MAA
	for _, g := range goldenCases(b) {
		switch g.file {
		case "mar":
			mar = g.msg.(*MAR)
		case "maa":
			maa = g.msg.(*MAA)
		}
	}
	run := func(name string, f func() error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	buf := make([]byte, 0, 2048)
	for _, m := range []struct {
		name   string
		frame  []byte
		msg    TypedMessage
		decGo  func([]byte) error
		decFr  func([]byte) error
		decFrD func([]byte) error
		app    func([]byte) ([]byte, error)
		appD   func([]byte) ([]byte, error)
	}{
		{"MAR", marFrame, mar,
			func(f []byte) error { _, err := goDiameterMAR(e.v, f); return err },
			func(f []byte) error { _, err := e.c.DecodeMAR(f); return err },
			func(f []byte) error { _, err := DecodeMARFrame(f, e.d); return err },
			func(b []byte) ([]byte, error) { return e.c.AppendMAR(b, mar) },
			func(b []byte) ([]byte, error) { return mar.AppendFrame(b, e.d) }},
		{"MAA", maaFrame, maa,
			func(f []byte) error { _, err := goDiameterMAA(e.v, f); return err },
			func(f []byte) error { _, err := e.c.DecodeMAA(f); return err },
			func(f []byte) error { _, err := DecodeMAAFrame(f, e.d); return err },
			func(b []byte) ([]byte, error) { return e.c.AppendMAA(b, maa) },
			func(b []byte) ([]byte, error) { return maa.AppendFrame(b, e.d) }},
	} {
		run(m.name+"/validate-only", func() error { return e.v.Validate(m.frame) })
		run(m.name+"/decode/go-diameter", func() error { return m.decGo(m.frame) })
		run(m.name+"/decode/frame-codec", func() error {
			if err := e.v.Validate(m.frame); err != nil {
				return err
			}
			return m.decFr(m.frame)
		})
		run(m.name+"/decode/frame-dict", func() error {
			if err := e.v.Validate(m.frame); err != nil {
				return err
			}
			return m.decFrD(m.frame)
		})
		run(m.name+"/encode/go-diameter", func() error {
			x, err := m.msg.Message(e.d)
			if err != nil {
				return err
			}
			_, err = x.Serialize()
			return err
		})
		run(m.name+"/encode/frame-codec", func() error {
			var err error
			buf, err = m.app(buf[:0])
			return err
		})
		run(m.name+"/encode/frame-dict", func() error {
			var err error
			buf, err = m.appD(buf[:0])
			return err
		})
	}
}
