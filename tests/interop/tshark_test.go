// Package interop checks OpenGBA's Zh/Zn wire fixtures (3GPP TS 29.109) against an
// independent decoder, Wireshark's Diameter dissector (tshark).
package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/diameter"
)

// goldenDir holds the annotated fixtures written by internal/diameter's TestGolden.
const goldenDir = "../../internal/diameter/testdata"

// Wireshark expert severities (epan/proto.h PI_WARN, PI_ERROR).
const (
	severityWarn  = 0x00600000
	severityError = 0x00800000
)

// dissectFields returns the tshark fields every check reads. Wireshark names the Cx AVPs
// reused by Zh with a "3GPP-" prefix and NAF-Id (402) "NAF-Hostname".
func dissectFields() []string {
	return []string{
		"_ws.malformed", "_ws.expert.severity", "_ws.expert.message", "_ws.col.Info",
		"diameter.version", "diameter.length", "diameter.flags", "diameter.cmd.code", "diameter.applicationId",
		"diameter.hopbyhopid", "diameter.endtoendid",
		"diameter.avp.code", "diameter.avp.unknown", "diameter.avp.code.unknown", "diameter.unknown_vendor",
		"diameter.Session-Id", "diameter.Origin-Host", "diameter.Origin-Realm", "diameter.Destination-Realm",
		"diameter.Destination-Host", "diameter.User-Name", "diameter.Vendor-Id", "diameter.Auth-Application-Id",
		"diameter.Auth-Session-State", "diameter.Result-Code", "diameter.Experimental-Result-Code",
		"diameter.3GPP-SIP-Authentication-Scheme", "diameter.3GPP-SIP-Authenticate", "diameter.3GPP-SIP-Authorization",
		"diameter.Confidentiality-Key", "diameter.Integrity-Key", "diameter.GBA-UserSecSettings", "diameter.GUSS-Timestamp",
		"diameter.Transaction-Identifier", "diameter.NAF-Hostname", "diameter.GBA_U-Awareness-Indicator",
		"diameter.ME-Key-Material", "diameter.Key-ExpiryTime", "diameter.BootstrapInfoCreationTime", "diameter.GBA-Type",
	}
}

// isTimeField reports FT_ABSOLUTE_TIME fields, compared as instants.
func isTimeField(f string) bool {
	switch f {
	case "diameter.GUSS-Timestamp", "diameter.Key-ExpiryTime", "diameter.BootstrapInfoCreationTime":
		return true
	}
	return false
}

// tools returns the paths of tshark and text2pcap, or skips the test.
func tools(t *testing.T) (tshark, text2pcap string) {
	t.Helper()
	tshark, err1 := exec.LookPath("tshark")
	text2pcap, err2 := exec.LookPath("text2pcap")
	if err1 != nil || err2 != nil {
		t.Skip("interop: tshark and text2pcap (Wireshark) are not on PATH; install wireshark-common/tshark to run the Wireshark interop test")
	}
	return tshark, text2pcap
}

// readHex reads an annotated fixture: hex digits, '#' comments to the end of the line.
func readHex(path string) ([]byte, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	return hex.DecodeString(sb.String())
}

// odText renders b as text2pcap input: "offset hex hex ..." lines, 16 octets each.
func odText(b []byte) string {
	var sb strings.Builder
	for off := 0; off < len(b); off += 16 {
		fmt.Fprintf(&sb, "%06x", off)
		for _, c := range b[off:min(off+16, len(b))] {
			fmt.Fprintf(&sb, " %02x", c)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// dissection is tshark's view of one Diameter message: -T json -e <dissectFields>.
type dissection struct {
	fields map[string][]string
}

// dissect wraps msg in a TCP segment on port 3868 (text2pcap -T) and decodes it with tshark.
func dissect(t *testing.T, msg []byte) dissection {
	t.Helper()
	tshark, text2pcap := tools(t)
	dir := t.TempDir()
	in, pcap := filepath.Join(dir, "msg.txt"), filepath.Join(dir, "msg.pcap")
	if err := os.WriteFile(in, []byte(odText(msg)), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := "40000,3868" // a request travels to the Diameter port
	if len(msg) > 4 && msg[4]&0x80 == 0 {
		ports = "3868,40000"
	}
	run(t, text2pcap, "-q", "-T", ports, in, pcap)

	args := []string{"-r", pcap, "-T", "json"}
	for _, f := range dissectFields() {
		args = append(args, "-e", f)
	}
	var packets []struct {
		Source struct {
			Layers map[string][]string `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(run(t, tshark, args...), &packets); err != nil {
		t.Fatalf("tshark -T json: %v", err)
	}
	if len(packets) != 1 {
		t.Fatalf("tshark saw %d packets, want 1", len(packets))
	}
	return dissection{fields: packets[0].Source.Layers}
}

// run executes a tool with TZ=UTC and returns its standard output. tshark's "Running as
// user root" notice on standard error is ignored; a non-zero exit status fails the test.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// problems lists what makes a dissection unclean: a malformed packet, an expert warning or
// error, an AVP the dissector does not know, or AVP codes that differ from the octets.
func (d dissection) problems(msg []byte) []string {
	var p []string
	if len(d.fields["_ws.malformed"]) > 0 {
		p = append(p, "tshark: malformed packet (_ws.malformed)")
	}
	for i, s := range d.fields["_ws.expert.severity"] {
		sev, err := strconv.ParseUint(s, 0, 32)
		if err != nil || sev >= severityWarn {
			m := ""
			if i < len(d.fields["_ws.expert.message"]) {
				m = d.fields["_ws.expert.message"][i]
			}
			level := "warning"
			if sev >= severityError {
				level = "error"
			}
			p = append(p, fmt.Sprintf("tshark expert %s: %s", level, m))
		}
	}
	for _, f := range []string{"diameter.avp.unknown", "diameter.avp.code.unknown", "diameter.unknown_vendor"} {
		if len(d.fields[f]) > 0 {
			p = append(p, fmt.Sprintf("tshark: %s present %v", f, d.fields[f]))
		}
	}
	want, err := avpCodes(msg[20:])
	if err != nil {
		p = append(p, err.Error())
	}
	if got := d.fields["diameter.avp.code"]; !slices.Equal(got, want) {
		p = append(p, fmt.Sprintf("AVP codes: tshark %v, octets %v", got, want))
	}
	return p
}

// isGrouped reports the grouped AVPs of the fixtures (tshark lists their members after them):
// Vendor-Specific-Application-Id, Failed-AVP, Proxy-Info, Experimental-Result,
// SIP-Auth-Data-Item.
func isGrouped(code uint32) bool {
	switch code {
	case 260, 279, 284, 297, 612:
		return true
	}
	return false
}

// avpCodes lists the AVP codes in b in dissection order (pre-order through grouped AVPs),
// parsed here without go-diameter.
func avpCodes(b []byte) ([]string, error) {
	var codes []string
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("octets: %d trailing octets", len(b))
		}
		code := binary.BigEndian.Uint32(b)
		length := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		hdr := 8
		if b[4]&0x80 != 0 {
			hdr = 12
		}
		padded := (length + 3) &^ 3
		if length < hdr || padded > len(b) {
			return nil, fmt.Errorf("octets: AVP %d has length %d", code, length)
		}
		codes = append(codes, strconv.FormatUint(uint64(code), 10))
		if isGrouped(code) {
			inner, err := avpCodes(b[hdr:length])
			if err != nil {
				return nil, err
			}
			codes = append(codes, inner...)
		}
		b = b[padded:]
	}
	return codes, nil
}

// expected returns the tshark field values a fixture must show, from its decoded struct.
// Byte fields are lowercase hex without separators; time fields are compared as instants.
func expected(msg []byte, m diameter.TypedMessage) (want map[string][]string, names []string) {
	h := func(b []byte) []string { return []string{hex.EncodeToString(b)} }
	s := func(v string) []string { return []string{v} }
	u := func(v uint32) []string { return []string{strconv.FormatUint(uint64(v), 10)} }
	i := func(v int32) []string { return []string{strconv.FormatInt(int64(v), 10)} }
	tm := func(v time.Time) []string { return []string{v.UTC().Format(time.RFC3339)} }
	want = map[string][]string{
		"diameter.version":       s("0x01"),
		"diameter.length":        u(uint32(len(msg))),
		"diameter.flags":         s(fmt.Sprintf("0x%02x", msg[4])),
		"diameter.cmd.code":      u(binary.BigEndian.Uint32(msg[4:8]) & 0xffffff),
		"diameter.applicationId": u(binary.BigEndian.Uint32(msg[8:12])),
		"diameter.hopbyhopid":    s(fmt.Sprintf("0x%08x", binary.BigEndian.Uint32(msg[12:16]))),
		"diameter.endtoendid":    s(fmt.Sprintf("0x%08x", binary.BigEndian.Uint32(msg[16:20]))),
	}
	app := func(v diameter.VendorSpecificApplicationID, er *diameter.ExperimentalResult) {
		want["diameter.Vendor-Id"] = u(v.VendorID)
		want["diameter.Auth-Application-Id"] = u(v.AuthApplicationID)
		if er != nil {
			want["diameter.Vendor-Id"] = append(want["diameter.Vendor-Id"], u(er.VendorID)...)
			want["diameter.Experimental-Result-Code"] = u(er.ExperimentalResultCode)
		}
	}
	item := func(it *diameter.SIPAuthDataItem) {
		if it == nil {
			return
		}
		want["diameter.3GPP-SIP-Authentication-Scheme"] = s(it.AuthenticationScheme)
		if it.Authenticate != nil {
			want["diameter.3GPP-SIP-Authenticate"] = h(it.Authenticate)
		}
		want["diameter.3GPP-SIP-Authorization"] = h(it.Authorization)
		if it.CK != nil {
			want["diameter.Confidentiality-Key"] = h(it.CK)
			want["diameter.Integrity-Key"] = h(it.IK)
		}
	}
	opt := func(field, v string) {
		if v != "" {
			want[field] = s(v)
		}
	}
	switch x := m.(type) {
	case *diameter.MAR:
		names = []string{"cmd=Multimedia-Auth Request(303)", "appl=3GPP Zh(16777221)"}
		want["diameter.Session-Id"] = s(x.SessionID)
		app(x.VendorSpecificApplicationID, nil)
		want["diameter.Auth-Session-State"] = s("1")
		want["diameter.Origin-Host"], want["diameter.Origin-Realm"] = s(x.OriginHost), s(x.OriginRealm)
		want["diameter.Destination-Realm"] = s(x.DestinationRealm)
		opt("diameter.Destination-Host", x.DestinationHost)
		opt("diameter.User-Name", x.IMPI)
		item(x.SIPAuthDataItem)
		if !x.GUSSTimestamp.IsZero() {
			want["diameter.GUSS-Timestamp"] = tm(x.GUSSTimestamp)
		}
	case *diameter.MAA:
		names = []string{"cmd=Multimedia-Auth Answer(303)", "appl=3GPP Zh(16777221)"}
		want["diameter.Session-Id"] = s(x.SessionID)
		app(x.VendorSpecificApplicationID, x.ExperimentalResult)
		if x.ResultCode != 0 {
			want["diameter.Result-Code"] = u(x.ResultCode)
		}
		want["diameter.Auth-Session-State"] = s("1")
		want["diameter.Origin-Host"], want["diameter.Origin-Realm"] = s(x.OriginHost), s(x.OriginRealm)
		opt("diameter.User-Name", x.IMPI)
		item(x.SIPAuthDataItem)
		if x.GUSS != nil {
			want["diameter.GBA-UserSecSettings"] = h(x.GUSS)
		}
	case *diameter.BIR:
		names = []string{"cmd=Boostrapping-Info Request(310)", "appl=3GPP Zn(16777220)"}
		want["diameter.Session-Id"] = s(x.SessionID)
		app(x.VendorSpecificApplicationID, nil)
		want["diameter.Origin-Host"], want["diameter.Origin-Realm"] = s(x.OriginHost), s(x.OriginRealm)
		want["diameter.Destination-Realm"] = s(x.DestinationRealm)
		opt("diameter.Destination-Host", x.DestinationHost)
		want["diameter.Transaction-Identifier"] = h([]byte(x.BTID))
		want["diameter.NAF-Hostname"] = h(x.NAFID)
		if x.GBAUAwarenessIndicator != nil {
			want["diameter.GBA_U-Awareness-Indicator"] = i(*x.GBAUAwarenessIndicator)
		}
	case *diameter.BIA:
		names = []string{"cmd=Boostrapping-Info Answer(310)", "appl=3GPP Zn(16777220)"}
		want["diameter.Session-Id"] = s(x.SessionID)
		app(x.VendorSpecificApplicationID, x.ExperimentalResult)
		if x.ResultCode != 0 {
			want["diameter.Result-Code"] = u(x.ResultCode)
		}
		want["diameter.Origin-Host"], want["diameter.Origin-Realm"] = s(x.OriginHost), s(x.OriginRealm)
		opt("diameter.User-Name", x.IMPI)
		if x.MEKeyMaterial != nil {
			want["diameter.ME-Key-Material"] = h(x.MEKeyMaterial)
		}
		if !x.KeyExpiryTime.IsZero() {
			want["diameter.Key-ExpiryTime"] = tm(x.KeyExpiryTime)
		}
		if !x.BootstrapInfoCreationTime.IsZero() {
			want["diameter.BootstrapInfoCreationTime"] = tm(x.BootstrapInfoCreationTime)
		}
		if x.GUSS != nil {
			want["diameter.GBA-UserSecSettings"] = h(x.GUSS)
		}
		if x.GBAType != nil {
			want["diameter.GBA-Type"] = i(*x.GBAType)
		}
	}
	return want, names
}

// mismatches compares the fields of a dissection with want; a field absent from want must be
// absent from the dissection too (checked for the value fields only).
func (d dissection) mismatches(want map[string][]string, names []string) []string {
	var p []string
	for _, f := range dissectFields() {
		if !strings.HasPrefix(f, "diameter.") || strings.HasPrefix(f, "diameter.avp.") || f == "diameter.unknown_vendor" {
			continue
		}
		got := d.fields[f]
		if isTimeField(f) {
			got = normalizeTimes(got)
		}
		if !slices.Equal(got, want[f]) {
			p = append(p, fmt.Sprintf("%s: tshark %q, want %q", f, got, want[f]))
		}
	}
	info := strings.Join(d.fields["_ws.col.Info"], " ")
	for _, n := range names {
		if !strings.Contains(info, n) {
			p = append(p, fmt.Sprintf("tshark Info column %q lacks %q", info, n))
		}
	}
	return p
}

// normalizeTimes turns tshark's "Oct 28, 2020 23:36:26.000000000 UTC" into RFC 3339.
func normalizeTimes(vs []string) []string {
	var out []string
	for _, v := range vs {
		t, err := time.Parse("Jan 2, 2006 15:04:05.000000000 MST", strings.Join(strings.Fields(v), " "))
		if err != nil {
			out = append(out, "unparsed: "+v)
			continue
		}
		out = append(out, t.UTC().Format(time.RFC3339))
	}
	return out
}

// TestTsharkDecodesGoldens hands every fixture to Wireshark: every AVP must be named, the
// values must be ours, and there must be no malformed packet and no expert warning or error.
func TestTsharkDecodesGoldens(t *testing.T) {
	tools(t)
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.hex"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 7 {
		t.Fatalf("found %d fixtures in %s, want at least 7", len(files), goldenDir)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".hex"), func(t *testing.T) {
			msg, err := readHex(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := diameter.Decode(d, msg)
			if err != nil {
				t.Fatalf("our decoder: %v", err)
			}
			ds := dissect(t, msg)
			for _, p := range ds.problems(msg) {
				t.Error(p)
			}
			want, names := expected(msg, m)
			for _, p := range ds.mismatches(want, names) {
				t.Error(p)
			}
		})
	}
}

// TestTsharkCheckFails shows the checks can fail: an unknown AVP, a wrong AVP length and a
// changed value are each reported.
func TestTsharkCheckFails(t *testing.T) {
	tools(t)
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := readHex(filepath.Join(goldenDir, "bia.hex"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := diameter.Decode(d, msg)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("unknown AVP", func(t *testing.T) {
		extra := []byte{0, 0, 0x27, 0x0f, 0xc0, 0, 0, 16, 0, 0, 0x28, 0xaf, 'a', 'b', 'c', 'd'} // AVP 9999, vendor 10415
		b := append(bytes.Clone(msg), extra...)
		b[1], b[2], b[3] = byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
		if p := dissect(t, b).problems(b); len(p) == 0 {
			t.Fatal("no problem reported for an unknown AVP")
		}
	})
	t.Run("bad AVP length", func(t *testing.T) {
		b := bytes.Clone(msg)
		b[20+7] = 0xff // Session-Id claims 255 octets
		if p := dissect(t, b).problems(b); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, "malformed") }) {
			t.Fatalf("no malformed packet reported: %v", p)
		}
	})
	t.Run("changed value", func(t *testing.T) {
		bia := m.(*diameter.BIA)
		changed := *bia
		changed.MEKeyMaterial = bytes.Repeat([]byte{0x11}, 32)
		changed.KeyExpiryTime = bia.KeyExpiryTime.Add(time.Second)
		b, err := diameter.Encode(d, &changed)
		if err != nil {
			t.Fatal(err)
		}
		want, names := expected(msg, m) // expectations of the original fixture
		p := dissect(t, b).mismatches(want, names)
		for _, f := range []string{"diameter.ME-Key-Material", "diameter.Key-ExpiryTime"} {
			if !slices.ContainsFunc(p, func(s string) bool { return strings.HasPrefix(s, f+":") }) {
				t.Errorf("no mismatch reported for %s: %v", f, p)
			}
		}
	})
}

// TestTimeMatchesWireshark checks the era rule of diameter.TimeToDiameter against
// Wireshark's Time decoding on both sides of the 2036 rollover, RFC 6733 §4.3.1.
func TestTimeMatchesWireshark(t *testing.T) {
	tools(t)
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	for _, when := range []time.Time{
		time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC), // last second of era 0 (0xFFFFFFFF)
		time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), // first second of era 1 (0x00000000)
		time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		t.Run(when.Format(time.RFC3339), func(t *testing.T) {
			bia := &diameter.BIA{
				HeaderIDs: diameter.HeaderIDs{HopByHopID: 1, EndToEndID: 1}, SessionID: "bsf;1",
				ResultCode: diameter.ResultSuccess, OriginHost: "bsf.home1.net", OriginRealm: "home1.net",
				KeyExpiryTime: when,
			}
			b, err := diameter.Encode(d, bia)
			if err != nil {
				t.Fatal(err)
			}
			got := normalizeTimes(dissect(t, b).fields["diameter.Key-ExpiryTime"])
			if want := when.Format(time.RFC3339); !slices.Equal(got, []string{want}) {
				t.Fatalf("tshark shows %v, want %s", got, want)
			}
		})
	}
}
