package diameter

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/specs"
)

// updateGolden rewrites testdata/*.hex from the structs in goldenCases:
//
//	go test ./internal/diameter -run TestGolden -update
var updateGolden = flag.Bool("update", false, "rewrite internal/diameter/testdata/*.hex")

// goldenDict loads the OpenGBA dictionary once per test.
func goldenDict(tb testing.TB) *dict.Parser {
	tb.Helper()
	d, err := NewDictionary()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// goldenVectors are the spec vectors the fixtures carry: TS 35.208 set 1 (Milenage) and the
// TS 33.220 Annex B.3 NAF key computed from it.
type goldenVectors struct {
	RAND, AUTN, AUTS, XRES, CK, IK []byte
	IMPI, NAFFQDN                  string
	UaID, KsNAF                    []byte
}

func loadGoldenVectors(tb testing.TB) goldenVectors {
	tb.Helper()
	var m struct {
		Sets []struct {
			Name string `json:"name"`
			RAND string `json:"RAND"`
			AUTN string `json:"AUTN"`
			AUTS string `json:"AUTS"`
			F2   string `json:"f2"`
			F3   string `json:"f3"`
			F4   string `json:"f4"`
		} `json:"sets"`
	}
	if err := specs.Vectors("ts35208", &m); err != nil {
		tb.Fatal(err)
	}
	var k struct {
		NAFKeys []struct {
			Name    string `json:"name"`
			RAND    string `json:"rand"`
			IMPI    string `json:"impi"`
			NAFFQDN string `json:"naf_fqdn"`
			UaID    string `json:"ua_id"`
			Key     string `json:"key"`
		} `json:"naf_keys"`
	}
	if err := specs.Vectors("ts33220", &k); err != nil {
		tb.Fatal(err)
	}
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			tb.Fatalf("vector hex %q: %v", s, err)
		}
		return b
	}
	var v goldenVectors
	for _, s := range m.Sets {
		if s.Name == "TS35208/set1" {
			v.RAND, v.AUTN, v.AUTS = h(s.RAND), h(s.AUTN), h(s.AUTS)
			v.XRES, v.CK, v.IK = h(s.F2), h(s.F3), h(s.F4)
		}
	}
	for _, n := range k.NAFKeys {
		if n.Name == "TS35208/set1/gba-me/http-digest" {
			if !bytes.Equal(h(n.RAND), v.RAND) {
				tb.Fatalf("ts33220 %s: RAND is not TS35208/set1's", n.Name)
			}
			v.IMPI, v.NAFFQDN, v.UaID, v.KsNAF = n.IMPI, n.NAFFQDN, h(n.UaID), h(n.Key)
		}
	}
	if v.RAND == nil || v.KsNAF == nil {
		tb.Fatal("specs/vectors: TS35208/set1 or TS35208/set1/gba-me/http-digest missing")
	}
	return v
}

// Fixed values of the fixtures.
const (
	goldenBSF   = "bsf.home1.net"
	goldenHSS   = "hss.home1.net"
	goldenNAF   = "naf.home1.net"
	goldenRealm = "home1.net"
)

// goldenGUSS is the GUSS of GBA-DIGEST §5 (TS 29.109 Annex A) in an MAA.
const goldenGUSS = `<?xml version="1.0" encoding="UTF-8"?>
<guss id="user1_private@home1.net">
  <bsfInfo><uiccType>GBA</uiccType><lifeTime>3600</lifeTime></bsfInfo>
  <ussList>
    <uss id="1" type="0" nafGroup="m2m"><uids><uid>sip:user1@home1.net</uid></uids><flags><flag>1</flag></flags></uss>
  </ussList>
</guss>
`

// goldenUSS is what the BSF returns to the NAF on Zn: the USS for its NAF group only.
const goldenUSS = `<?xml version="1.0" encoding="UTF-8"?>
<ussList>
  <uss id="1" type="0" nafGroup="m2m"><uids><uid>sip:user1@home1.net</uid></uids><flags><flag>1</flag></flags></uss>
</ussList>
`

type goldenCase struct {
	file string // testdata/<file>.hex
	what string // first comment line
	msg  TypedMessage
}

func goldenCases(tb testing.TB) []goldenCase {
	tb.Helper()
	v := loadGoldenVectors(tb)
	btid := base64.StdEncoding.EncodeToString(v.RAND) + "@" + goldenBSF // TS 33.220 §4.5.2
	nafID := append([]byte(v.NAFFQDN), v.UaID...)                       // TS 33.220 Annex H
	zh := VendorSpecificApplicationID{VendorID: VendorID3GPP, AuthApplicationID: AppIDZh}
	zn := VendorSpecificApplicationID{VendorID: VendorID3GPP, AuthApplicationID: AppIDZn}
	created := time.Date(2020, 10, 28, 22, 36, 26, 0, time.UTC)
	expiry := created.Add(time.Hour) // GUSS lifeTime 3600

	av, err := NewAKAAuthDataItem(AKAVector{RAND: v.RAND, AUTN: v.AUTN, XRES: v.XRES, CK: v.CK, IK: v.IK})
	if err != nil {
		tb.Fatal(err)
	}
	resync, err := NewResyncAuthDataItem(v.RAND, v.AUTS)
	if err != nil {
		tb.Fatal(err)
	}
	zhIDs := HeaderIDs{HopByHopID: 0x00000001, EndToEndID: 0x5f99f201}
	resyncIDs := HeaderIDs{HopByHopID: 0x00000002, EndToEndID: 0x5f99f202}
	znIDs := HeaderIDs{HopByHopID: 0x00000003, EndToEndID: 0x5f99f203}

	return []goldenCase{
		{"mar", "Zh Multimedia-Auth-Request (MAR), TS 29.109 §6.1.1: BSF asks the HSS for one AV for IMPI user1_private@home1.net", &MAR{
			HeaderIDs:                   zhIDs,
			SessionID:                   goldenBSF + ";1603924586;1",
			VendorSpecificApplicationID: zh,
			OriginHost:                  goldenBSF,
			OriginRealm:                 goldenRealm,
			DestinationRealm:            goldenRealm,
			DestinationHost:             goldenHSS,
			IMPI:                        v.IMPI,
		}},
		{"mar_resync", "Zh MAR after a synchronisation failure, TS 29.109 §6.1.1: SIP-Authorization = RAND||AUTS (TS 35.208 set 1)", &MAR{
			HeaderIDs:                   resyncIDs,
			SessionID:                   goldenBSF + ";1603924586;2",
			VendorSpecificApplicationID: zh,
			OriginHost:                  goldenBSF,
			OriginRealm:                 goldenRealm,
			DestinationRealm:            goldenRealm,
			DestinationHost:             goldenHSS,
			IMPI:                        v.IMPI,
			SIPAuthDataItem:             resync,
			GUSSTimestamp:               created.Add(-time.Minute),
		}},
		{"maa", "Zh Multimedia-Auth-Answer (MAA), TS 29.109 §6.1.2: success, one AV from TS 35.208 set 1 and the GUSS", &MAA{
			HeaderIDs:                   zhIDs,
			SessionID:                   goldenBSF + ";1603924586;1",
			VendorSpecificApplicationID: zh,
			ResultCode:                  ResultSuccess,
			OriginHost:                  goldenHSS,
			OriginRealm:                 goldenRealm,
			IMPI:                        v.IMPI,
			SIPAuthDataItem:             av,
			GUSS:                        []byte(goldenGUSS),
		}},
		{"maa_5401", "Zh MAA, TS 29.109 §6.1.2: Experimental-Result DIAMETER_ERROR_IMPI_UNKNOWN (5401, TS 29.109 §6.3.3.1)", &MAA{
			HeaderIDs:                   zhIDs,
			SessionID:                   goldenBSF + ";1603924586;1",
			VendorSpecificApplicationID: zh,
			ExperimentalResult:          &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: ExpIMPIUnknown},
			OriginHost:                  goldenHSS,
			OriginRealm:                 goldenRealm,
		}},
		{"bir", "Zn Bootstrapping-Info-Request (BIR), TS 29.109 §6.2.1: NAF asks the BSF for Ks_NAF, NAF-Id = naf.home1.net || 01 00 00 00 02", &BIR{
			HeaderIDs:                   znIDs,
			SessionID:                   goldenNAF + ";1603924587;1",
			VendorSpecificApplicationID: zn,
			OriginHost:                  goldenNAF,
			OriginRealm:                 goldenRealm,
			DestinationRealm:            goldenRealm,
			DestinationHost:             goldenBSF,
			BTID:                        btid,
			NAFID:                       nafID,
			GBAUAwarenessIndicator:      new(GBAUAwarenessNo),
		}},
		{"bia", "Zn Bootstrapping-Info-Answer (BIA), TS 29.109 §6.2.2: success, ME-Key-Material = Ks_NAF (TS 33.220 §B.3, set 1)", &BIA{
			HeaderIDs:                   znIDs,
			SessionID:                   goldenNAF + ";1603924587;1",
			VendorSpecificApplicationID: zn,
			ResultCode:                  ResultSuccess,
			OriginHost:                  goldenBSF,
			OriginRealm:                 goldenRealm,
			IMPI:                        v.IMPI,
			MEKeyMaterial:               v.KsNAF,
			KeyExpiryTime:               expiry,
			BootstrapInfoCreationTime:   created,
			GUSS:                        []byte(goldenUSS),
			GBAType:                     new(GBAType3G),
		}},
		{"bia_5403", "Zn BIA, TS 29.109 §6.2.2: Experimental-Result DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID (5403, TS 29.109 §6.3.3.3)", &BIA{
			HeaderIDs:                   znIDs,
			SessionID:                   goldenNAF + ";1603924587;1",
			VendorSpecificApplicationID: zn,
			ExperimentalResult:          &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: ExpTransactionIdentifierInvalid},
			OriginHost:                  goldenBSF,
			OriginRealm:                 goldenRealm,
		}},
	}
}

func goldenPath(file string) string { return filepath.Join("testdata", file+".hex") }

// parseGoldenHex reads the annotated format: hex digits and blanks, '#' to the end of a line
// is a comment.
func parseGoldenHex(text string) ([]byte, error) {
	var sb strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	return hex.DecodeString(sb.String())
}

// readGolden returns the octets of testdata/<file>.hex.
func readGolden(tb testing.TB, file string) []byte {
	tb.Helper()
	text, err := os.ReadFile(goldenPath(file))
	if err != nil {
		tb.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	b, err := parseGoldenHex(string(text))
	if err != nil {
		tb.Fatalf("%s: %v", goldenPath(file), err)
	}
	return b
}

// annotateGolden writes b (one message) in the annotated format: the header on one line,
// then one AVP per line (members of a grouped AVP indented under it), each with a comment
// naming it.
func annotateGolden(d *dict.Parser, what string, b []byte) (string, error) {
	m, err := ParseMessage(d, b)
	if err != nil {
		return "", err
	}
	h := m.Header
	var sb strings.Builder
	fmt.Fprintf(&sb, "# %s\n", what)
	sb.WriteString("# Generated by `go test ./internal/diameter -run TestGolden -update` from golden_test.go.\n")
	sb.WriteString("# Format: hex octets; '#' starts a comment; one AVP per line (code, flags, length, [vendor], data, padding).\n")
	fmt.Fprintf(&sb, "%s %s %s %s %s %s %s  # header: version 1, length %d, flags %s, command %d, application %d, hop-by-hop 0x%08x, end-to-end 0x%08x\n",
		hex.EncodeToString(b[0:1]), hex.EncodeToString(b[1:4]), hex.EncodeToString(b[4:5]), hex.EncodeToString(b[5:8]),
		hex.EncodeToString(b[8:12]), hex.EncodeToString(b[12:16]), hex.EncodeToString(b[16:20]),
		h.MessageLength, headerFlagNames(h.CommandFlags), h.CommandCode, h.ApplicationID, h.HopByHopID, h.EndToEndID)
	if err := annotateAVPs(&sb, d, h.ApplicationID, b[diam.HeaderLength:], ""); err != nil {
		return "", err
	}
	return sb.String(), nil
}

func headerFlagNames(f uint8) string {
	var names []string
	for _, x := range []struct {
		bit  uint8
		name string
	}{{diam.RequestFlag, "R"}, {diam.ProxiableFlag, "P"}, {diam.ErrorFlag, "E"}, {diam.RetransmittedFlag, "T"}} {
		if f&x.bit != 0 {
			names = append(names, x.name)
		}
	}
	return fmt.Sprintf("0x%02x (%s)", f, strings.Join(names, " "))
}

func annotateAVPs(sb *strings.Builder, d *dict.Parser, app uint32, b []byte, indent string) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("annotate: %d trailing octets", len(b))
		}
		code := binary.BigEndian.Uint32(b[0:4])
		flags := b[4]
		length := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		hdr, vendor := 8, uint32(0)
		if flags&avp.Vbit != 0 {
			hdr, vendor = 12, binary.BigEndian.Uint32(b[8:12])
		}
		padded := (length + 3) &^ 3
		if length < hdr || padded > len(b) {
			return fmt.Errorf("annotate: AVP %d length %d", code, length)
		}
		data := b[hdr:length]
		def, err := d.FindAVPWithVendor(app, code, vendor)
		if err != nil {
			return fmt.Errorf("annotate: AVP %d vendor %d not in the dictionary", code, vendor)
		}
		fields := []string{hex.EncodeToString(b[0:4]), hex.EncodeToString(b[4:5]), hex.EncodeToString(b[5:8])}
		if hdr == 12 {
			fields = append(fields, hex.EncodeToString(b[8:12]))
		}
		flagNames := []string{}
		if flags&avp.Vbit != 0 {
			flagNames = append(flagNames, "V")
		}
		if flags&avp.Mbit != 0 {
			flagNames = append(flagNames, "M")
		}
		id := fmt.Sprintf("%s (%d", def.Name, code)
		if vendor != 0 {
			id += fmt.Sprintf(", vendor %d", vendor)
		}
		id += fmt.Sprintf("), flags %s, length %d", strings.Join(flagNames, ","), length)
		if def.Data.Type == datatype.GroupedType {
			fmt.Fprintf(sb, "%s%s  # %s, grouped:\n", indent, strings.Join(fields, " "), id)
			if err := annotateAVPs(sb, d, app, data, indent+"    "); err != nil {
				return err
			}
		} else {
			if len(data) > 0 {
				fields = append(fields, hex.EncodeToString(data))
			}
			if padded > length {
				fields = append(fields, hex.EncodeToString(b[length:padded]))
			}
			fmt.Fprintf(sb, "%s%s  # %s%s\n", indent, strings.Join(fields, " "), id, describeValue(def, data))
		}
		b = b[padded:]
	}
	return nil
}

// describeValue renders the value of a non-grouped AVP for the comment.
func describeValue(def *dict.AVP, data []byte) string {
	switch def.Data.Type {
	case datatype.UTF8StringType, datatype.DiameterIdentityType:
		return fmt.Sprintf(": %q", data)
	case datatype.Unsigned32Type:
		if len(data) == 4 {
			return fmt.Sprintf(": %d", binary.BigEndian.Uint32(data))
		}
	case datatype.EnumeratedType:
		if len(data) == 4 {
			n := int32(binary.BigEndian.Uint32(data))
			for _, it := range def.Data.Enum {
				if it.Code == n {
					return fmt.Sprintf(": %d (%s)", n, it.Name)
				}
			}
			return fmt.Sprintf(": %d", n)
		}
	case datatype.TimeType:
		if len(data) == 4 {
			return ": " + TimeFromDiameter(binary.BigEndian.Uint32(data)).Format(time.RFC3339)
		}
	case datatype.OctetStringType:
		if isPrintable(data) && len(data) > 0 {
			if len(data) > 48 {
				return fmt.Sprintf(": %d octets of text", len(data))
			}
			return fmt.Sprintf(": %q", data)
		}
		return fmt.Sprintf(": %d octets", len(data))
	}
	return ""
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\n' {
			return false
		}
	}
	return true
}

// TestGolden checks every fixture both ways: struct → bytes equals testdata/<file>.hex (and
// the Message Length field equals the octet count), bytes → struct equals the struct.
func TestGolden(t *testing.T) {
	d := goldenDict(t)
	for _, tc := range goldenCases(t) {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Encode(d, tc.msg)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if n := int(got[1])<<16 | int(got[2])<<8 | int(got[3]); n != len(got) {
				t.Fatalf("Message Length field %d, encoded %d octets", n, len(got))
			}
			if *updateGolden {
				text, err := annotateGolden(d, tc.what, got)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(goldenPath(tc.file), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readGolden(t, tc.file)
			if !bytes.Equal(got, want) {
				gotText, _ := annotateGolden(d, tc.what, got)
				t.Fatalf("struct → bytes differs from %s\ngot:\n%s", goldenPath(tc.file), gotText)
			}
			back, err := Decode(d, want)
			if err != nil {
				t.Fatalf("decode %s: %v", goldenPath(tc.file), err)
			}
			if !reflect.DeepEqual(back, tc.msg) {
				t.Fatalf("bytes → struct:\ngot  %s\nwant %s", dumpTyped(back), dumpTyped(tc.msg))
			}
		})
	}
}

// dumpTyped prints a typed message with its secrets in hex, for test failure messages only.
func dumpTyped(m TypedMessage) string {
	s := fmt.Sprintf("%+v", m)
	reveal := func(name string, b Secret) {
		if b != nil {
			s += fmt.Sprintf(" %s=%x", name, []byte(b))
		}
	}
	switch x := m.(type) {
	case *MAA:
		if x.SIPAuthDataItem != nil {
			s += fmt.Sprintf(" item=%+v", *x.SIPAuthDataItem)
			reveal("XRES", x.SIPAuthDataItem.Authorization)
			reveal("CK", x.SIPAuthDataItem.CK)
			reveal("IK", x.SIPAuthDataItem.IK)
		}
	case *MAR:
		if x.SIPAuthDataItem != nil {
			s += fmt.Sprintf(" item=%+v", *x.SIPAuthDataItem)
			reveal("Authorization", x.SIPAuthDataItem.Authorization)
		}
	case *BIA:
		reveal("ME-Key-Material", x.MEKeyMaterial)
	}
	return s
}

// TestGoldenFilesAreCases fails on a testdata/*.hex that no golden case produces, so a stale
// fixture cannot linger (the interop test decodes every file).
func TestGoldenFilesAreCases(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, tc := range goldenCases(t) {
		known[goldenPath(tc.file)] = true
	}
	for _, f := range files {
		if !known[f] {
			t.Errorf("%s is not produced by goldenCases", f)
		}
	}
	if len(files) < len(known) {
		t.Errorf("%d fixtures for %d cases", len(files), len(known))
	}
}

// TestGoldenValues pins the spec values inside the fixtures independently of the encoder:
// the octets of RAND||AUTN, XRES, CK, IK, RAND||AUTS, Ks_NAF and NAF-Id appear in the files.
func TestGoldenValues(t *testing.T) {
	v := loadGoldenVectors(t)
	contains := func(file string, parts ...[]byte) {
		t.Helper()
		b := readGolden(t, file)
		for _, p := range parts {
			if !bytes.Contains(b, p) {
				t.Errorf("%s lacks %x", file, p)
			}
		}
	}
	contains("maa", concat(v.RAND, v.AUTN), v.XRES, v.CK, v.IK, []byte(SchemeAKAv1MD5))
	contains("mar_resync", concat(v.RAND, v.AUTS))
	contains("bia", v.KsNAF)
	contains("bir", append([]byte("naf.home1.net"), 1, 0, 0, 0, 2))
}
