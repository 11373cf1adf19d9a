package gba

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/opengba/opengba/specs"
)

type provenance struct {
	Spec, Version, Table, Status, Source string
}

type ts33220Vectors struct {
	NAFKeys []struct {
		Name       string
		Provenance provenance
		CK, IK     string
		RAND       string
		IMPI       string
		NAFFQDN    string `json:"naf_fqdn"`
		UaID       string `json:"ua_id"`
		Label      string
		S          string
		Key        string
		KeyBase64  string `json:"key_base64"`
	} `json:"naf_keys"`
	TMPI []struct {
		Name       string
		Provenance provenance
		CK, IK     string
		RAND       string
		IMPI       string
		BSFFQDN    string `json:"bsf_fqdn"`
		S          string
		KDFOutput  string `json:"kdf_output"`
		TMPI       string
	}
	BTID []struct {
		Name       string
		Provenance provenance
		BTID       string
		RAND       string
		Domain     string
	}
}

func loadVectors(t testing.TB) ts33220Vectors {
	t.Helper()
	var v ts33220Vectors
	if err := specs.Vectors("ts33220", &v); err != nil {
		t.Fatal(err)
	}
	if len(v.NAFKeys) == 0 || len(v.TMPI) == 0 || len(v.BTID) == 0 {
		t.Fatal("ts33220.json: empty vector sets")
	}
	return v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestNAFKeyVectors(t *testing.T) {
	for _, tc := range loadVectors(t).NAFKeys {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Provenance.Spec == "" || tc.Provenance.Status == "" {
				t.Fatal("vector lacks provenance")
			}
			ks, err := Ks(unhex(t, tc.CK), unhex(t, tc.IK))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ks.Bytes(), unhex(t, tc.CK+tc.IK); !bytes.Equal(got, want) {
				t.Fatalf("Ks = %x, want CK||IK %x", got, want)
			}
			ua, err := ParseUaID(unhex(t, tc.UaID))
			if err != nil {
				t.Fatal(err)
			}
			naf, err := NewNAFID(tc.NAFFQDN, ua)
			if err != nil {
				t.Fatal(err)
			}
			rand := unhex(t, tc.RAND)

			s, err := KDFInput(FCNAF, []byte(tc.Label), rand, []byte(tc.IMPI), naf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(s); got != tc.S {
				t.Errorf("S = %s\nwant %s", got, tc.S)
			}

			var k Key
			switch tc.Label {
			case labelGBAME:
				k, err = KsNAF(ks, rand, tc.IMPI, naf)
				if err == nil {
					ext, err2 := KsExtNAF(ks, rand, tc.IMPI, naf)
					if err2 != nil || !ext.Equal(k) {
						t.Errorf("Ks_ext_NAF differs from Ks_NAF (err %v)", err2)
					}
				}
			case labelGBAU:
				k, err = KsIntNAF(ks, rand, tc.IMPI, naf)
			default:
				t.Fatalf("unknown label %q", tc.Label)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(k.Bytes()); got != tc.Key {
				t.Errorf("key = %s, want %s", got, tc.Key)
			}
			if got := k.Base64(); got != tc.KeyBase64 {
				t.Errorf("base64 = %s, want %s", got, tc.KeyBase64)
			}
			// The generic KDF gives the same answer.
			raw, err := KDF(ks.Bytes(), FCNAF, []byte(tc.Label), rand, []byte(tc.IMPI), naf.Bytes())
			if err != nil || hex.EncodeToString(raw) != tc.Key {
				t.Errorf("KDF = %x, %v; want %s", raw, err, tc.Key)
			}
		})
	}
}

func TestTMPIVectors(t *testing.T) {
	for _, tc := range loadVectors(t).TMPI {
		t.Run(tc.Name, func(t *testing.T) {
			ks, err := Ks(unhex(t, tc.CK), unhex(t, tc.IK))
			if err != nil {
				t.Fatal(err)
			}
			bsfID, err := BSFID(tc.BSFFQDN)
			if err != nil {
				t.Fatal(err)
			}
			s, err := KDFInput(FCNAF, []byte(labelGBAME), unhex(t, tc.RAND), []byte(tc.IMPI), bsfID.Bytes())
			if err != nil || hex.EncodeToString(s) != tc.S {
				t.Errorf("S = %x, %v; want %s", s, err, tc.S)
			}
			got, err := TMPI(ks, unhex(t, tc.RAND), tc.IMPI, tc.BSFFQDN)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.TMPI {
				t.Errorf("TMPI = %s, want %s", got, tc.TMPI)
			}
		})
	}
}

func TestKDFInputLengths(t *testing.T) {
	s, err := KDFInput(0x7f, nil, []byte{0xaa})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x7f, 0x00, 0x00, 0xaa, 0x00, 0x01}; !bytes.Equal(s, want) {
		t.Errorf("S = %x, want %x", s, want)
	}
	long := make([]byte, 0x10000)
	if _, err := KDFInput(1, long); !errors.Is(err, ErrKDFParam) {
		t.Errorf("65536-octet parameter: err = %v, want ErrKDFParam", err)
	}
	if s, err := KDFInput(1, long[:0xffff]); err != nil || s[len(s)-2] != 0xff || s[len(s)-1] != 0xff {
		t.Errorf("65535-octet parameter: err = %v", err)
	}
	if _, err := KDF(nil, 1); !errors.Is(err, ErrKeyLength) {
		t.Errorf("empty key: err = %v, want ErrKeyLength", err)
	}
}

func TestNAFKeyInputErrors(t *testing.T) {
	ks, _ := NewKey(make([]byte, KeySize))
	naf := NAFID{FQDN: "naf.home1.net", UaID: UaIDHTTPDigest}
	rand := make([]byte, RANDSize)
	cases := []struct {
		name string
		ks   Key
		rand []byte
		impi string
		naf  NAFID
		want error
	}{
		{"zero Ks", Key{}, rand, "u@h", naf, ErrKeyLength},
		{"short RAND", ks, rand[:15], "u@h", naf, ErrRANDLength},
		{"empty IMPI", ks, rand, "", naf, ErrInvalidIMPI},
		{"non-UTF-8 IMPI", ks, rand, "u\xff@h", naf, ErrInvalidIMPI},
		{"bad FQDN", ks, rand, "u@h", NAFID{FQDN: "naf..net", UaID: UaIDHTTPDigest}, ErrInvalidNAFID},
		{"40-bit overflow", ks, rand, "u@h", NAFID{FQDN: "naf.net", UaID: 1 << 40}, ErrInvalidUaID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []func(Key, []byte, string, NAFID) (Key, error){KsNAF, KsExtNAF, KsIntNAF} {
				if _, err := f(tc.ks, tc.rand, tc.impi, tc.naf); !errors.Is(err, tc.want) {
					t.Errorf("err = %v, want %v", err, tc.want)
				}
			}
		})
	}
	if _, err := TMPI(ks, rand, "u@h", "bsf_1"); !errors.Is(err, ErrInvalidHostname) {
		t.Errorf("TMPI bad BSF FQDN: err = %v", err)
	}
}

func TestKs(t *testing.T) {
	if _, err := Ks(make([]byte, 15), make([]byte, 16)); !errors.Is(err, ErrKeyLength) {
		t.Errorf("short CK: %v", err)
	}
	if _, err := Ks(make([]byte, 16), make([]byte, 17)); !errors.Is(err, ErrKeyLength) {
		t.Errorf("long IK: %v", err)
	}
}

func BenchmarkKsNAF(b *testing.B) {
	ks, _ := NewKey(bytes.Repeat([]byte{7}, KeySize))
	rand := make([]byte, RANDSize)
	naf := NAFID{FQDN: "naf.home1.net", UaID: UaIDHTTPDigest}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := KsNAF(ks, rand, "user1_private@home1.net", naf); err != nil {
			b.Fatal(err)
		}
	}
}
