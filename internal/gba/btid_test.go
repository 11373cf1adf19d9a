package gba

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestBTIDVectors(t *testing.T) {
	for _, tc := range loadVectors(t).BTID {
		t.Run(tc.Name, func(t *testing.T) {
			b, err := ParseBTID(tc.BTID)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b.RAND[:]); got != tc.RAND {
				t.Errorf("RAND = %s, want %s", got, tc.RAND)
			}
			if b.Domain != tc.Domain {
				t.Errorf("domain = %q, want %q", b.Domain, tc.Domain)
			}
			if b.String() != tc.BTID {
				t.Errorf("String = %q, want %q", b.String(), tc.BTID)
			}
			built, err := NewBTID(unhex(t, tc.RAND), tc.Domain)
			if err != nil || built != b {
				t.Errorf("NewBTID = %v, %v; want %v", built, err, b)
			}
			// Round trip through encoding.TextMarshaler (used for the XML/JSON btid).
			j, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			var back BTID
			if err := json.Unmarshal(j, &back); err != nil || back != b {
				t.Errorf("JSON round trip = %v, %v", back, err)
			}
		})
	}
}

func TestBTIDRealm(t *testing.T) {
	b, err := ParseBTID("fve4iTWb1rTb297CzVSrpw==@BSF.Home1.NET")
	if err != nil {
		t.Fatal(err)
	}
	if b.Realm() != "bsf.home1.net" || b.Domain != "BSF.Home1.NET" {
		t.Errorf("Realm = %q, Domain = %q", b.Realm(), b.Domain)
	}
}

func TestParseBTIDRejects(t *testing.T) {
	const r = "fve4iTWb1rTb297CzVSrpw=="
	cases := []struct {
		name, in string
		want     error
		reason   string
	}{
		{"empty", "", ErrInvalidBTID, "missing '@'"},
		{"no at", r + "bsf.net", ErrInvalidBTID, "missing '@'"},
		{"two at", r + "@bsf@net", ErrInvalidBTID, "more than one '@'"},
		{"at in rand", "fve4iTWb1rTb@97CzVSrpw==@bsf.net", ErrInvalidBTID, "more than one '@'"},
		{"short rand", "fve4iTWb1rTb297CzVSrpw=@bsf.net", ErrInvalidBTID, "23 characters"},
		{"unpadded", "fve4iTWb1rTb297CzVSrpw@bsf.net", ErrInvalidBTID, "22 characters"},
		{"rand 18 octets", "fve4iTWb1rTb297CzVSrpwAA@bsf.net", ErrInvalidBTID, "not padded standard base64"},
		{"url alphabet", "fve4iTWb1rTb297CzVSr-_==@bsf.net", ErrInvalidBTID, "not padded standard base64"},
		{"non-canonical bits", "fve4iTWb1rTb297CzVSrpx==@bsf.net", ErrInvalidBTID, "not padded standard base64"},
		{"newline in rand", "fve4iTWb1rTb\n97CzVSrpw==@bsf.net", ErrInvalidBTID, "control"},
		{"space", r + "@bsf .net", ErrInvalidBTID, "control, space"},
		{"nul", r + "@bsf\x00.net", ErrInvalidBTID, "control"},
		{"utf8 domain", r + "@bsf.näf.net", ErrInvalidBTID, "non-ASCII"},
		{"empty domain", r + "@", ErrInvalidHostname, "empty"},
		{"empty label", r + "@bsf..net", ErrInvalidHostname, "label 2 is empty"},
		{"trailing dot", r + "@bsf.net.", ErrInvalidHostname, "label 3 is empty"},
		{"leading hyphen", r + "@-bsf.net", ErrInvalidHostname, "hyphen"},
		{"trailing hyphen", r + "@bsf-.net", ErrInvalidHostname, "hyphen"},
		{"underscore", r + "@bsf_1.net", ErrInvalidHostname, "not a letter"},
		{"long label", r + "@" + strings.Repeat("a", 64) + ".net", ErrInvalidHostname, "longer than 63"},
		{"over-long input", r + "@" + strings.Repeat("a", 300), ErrInvalidBTID, "longer than 278"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBTID(tc.in)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidBTID) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %q, want it to mention %q", err, tc.reason)
			}
			if len(tc.in) > 3 && strings.Contains(err.Error(), tc.in) {
				t.Errorf("error echoes the input: %q", err)
			}
		})
	}
}

func TestParseBTIDAccepts(t *testing.T) {
	const r = "fve4iTWb1rTb297CzVSrpw=="
	for _, d := range []string{"bsf", "1bsf.example", "b-s-f.x9", strings.Repeat("a", 63) + ".net", strings.Repeat("a.", 126) + "a"} {
		if _, err := ParseBTID(r + "@" + d); err != nil {
			t.Errorf("%q: %v", d, err)
		}
	}
}

func TestHostnameLength(t *testing.T) {
	if err := checkHostname(strings.Repeat("a.", 126) + "a"); err != nil { // 253
		t.Errorf("253 characters: %v", err)
	}
	if err := checkHostname(strings.Repeat("a.", 126) + "ab"); !errors.Is(err, ErrInvalidHostname) { // 254
		t.Errorf("254 characters: %v", err)
	}
	if _, err := NewBTID(make([]byte, 16), strings.Repeat("a.", 126)+"ab"); !errors.Is(err, ErrInvalidHostname) {
		t.Errorf("NewBTID with 254-character domain: %v", err)
	}
}

func TestNewBTIDRejects(t *testing.T) {
	if _, err := NewBTID(make([]byte, 15), "bsf.net"); !errors.Is(err, ErrRANDLength) {
		t.Errorf("short RAND: %v", err)
	}
	if _, err := NewBTID(make([]byte, 16), "bsf net"); !errors.Is(err, ErrInvalidHostname) {
		t.Errorf("bad domain: %v", err)
	}
	if _, err := (BTID{}).MarshalText(); !errors.Is(err, ErrInvalidBTID) {
		t.Errorf("MarshalText of zero BTID: %v", err)
	}
}
