package diameter

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// checkDecode is the property FuzzDecode and the regression tests check: Decode (bytes →
// *diam.Message under recover → typed struct by command) never panics and returns a struct
// xor an error; a struct it returns that encodes again gives octets our decoder accepts, and
// encoding is then stable (encode ∘ decode is idempotent after one round).
func checkDecode(t *testing.T, d *dict.Parser, b []byte) {
	t.Helper()
	m, err := Decode(d, b)
	if (m == nil) == (err == nil) {
		t.Fatalf("Decode = %v, %v: want exactly one of message and error", m, err)
	}
	if err != nil {
		return
	}
	b2, err := Encode(d, m)
	if err != nil {
		return // decoded but incomplete (a required AVP missing): not encodable, by design
	}
	m2, err := Decode(d, b2)
	if err != nil {
		t.Fatalf("our own encoding does not decode: %v\n%x", err, b2)
	}
	b3, err := Encode(d, m2)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if !bytes.Equal(b2, b3) {
		t.Fatalf("encoding is not stable:\n%x\n%x", b2, b3)
	}
}

// FuzzDecode feeds arbitrary octets through the decode path of every Diameter edge, seeded
// with every golden fixture. Each crash it finds becomes a case in TestDecodeRegressions.
//
//	go test ./internal/diameter -run '^$' -fuzz FuzzDecode -fuzztime 20s
func FuzzDecode(f *testing.F) {
	d := goldenDict(f)
	for _, tc := range goldenCases(f) {
		b := readGolden(f, tc.file)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	for _, tc := range decodeRegressions() {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, d, b)
	})
}

// decodeRegressions are inputs that once broke the decode path (named after what they are)
// plus hand-made inputs that make go-diameter's own decoder panic or misparse.
func decodeRegressions() []struct {
	name string
	b    []byte
} {
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			panic(err) // constant test input
		}
		return b
	}
	return []struct {
		name string
		b    []byte
	}{
		// Vendor-Specific-Application-Id whose Vendor-Id member claims 4 octets (less than an AVP
		// header): go-diameter keeps the member without data and panics on its length.
		{"grouped member shorter than a header", h("01000028c000012f01000005000000010000000100000104400000140000010a40000004000028af")},
		// The same member claiming 255 octets, past the end of its group: same panic.
		{"grouped member past its group", h("01000028c000012f01000005000000010000000100000104400000140000010a400000ff000028af")},
		// A Vendor-Id member of 8 octets: go-diameter decodes it as 0 with a 4-octet length, the
		// group parse shifts into the member's data and panics on the 4 octets left.
		{"Unsigned32 member of 8 octets", h("0100002cc000012f01000005000000010000000100000104400000180000010a4000001000000000000028af")},
		// Message Length 0: go-diameter would allocate 2^32-20 octets for the body.
		{"message length 0", h("01000000c000012f010000050000000100000001")},
		// Message Length smaller than the header.
		{"message length 12", h("0100000cc000012f010000050000000100000001")},
		// Time AVP (Key-ExpiryTime) of 3 octets in a BIA.
		{"Time of 3 octets", h("010000244000013601000004000000010000000100000194c000000f000028af01020300")},
	}
}

// TestDecodeRegressions replays decodeRegressions through the FuzzDecode property and checks
// that each is rejected with an error.
func TestDecodeRegressions(t *testing.T) {
	d := goldenDict(t)
	for _, tc := range decodeRegressions() {
		t.Run(tc.name, func(t *testing.T) {
			checkDecode(t, d, tc.b)
			if m, err := Decode(d, tc.b); err == nil {
				t.Fatalf("accepted: %v", m)
			}
		})
	}
}
