package gba

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzParseBTID(f *testing.F) {
	for _, tc := range loadVectors(f).BTID {
		f.Add(tc.BTID)
	}
	f.Add("fve4iTWb1rTb297CzVSrpw==@bsf")
	f.Add("fve4iTWb1rTb297CzVSrpw==@@bsf")
	f.Add("fve4iTWb1rTb297CzVSrpwAA@bsf.net")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBTID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidBTID) {
				t.Fatalf("error does not wrap ErrInvalidBTID: %v", err)
			}
			return
		}
		// Accepted input is canonical: it formats back to itself.
		if b.String() != s {
			t.Fatalf("String() = %q, input %q", b.String(), s)
		}
		again, err := ParseBTID(b.String())
		if err != nil || again != b {
			t.Fatalf("re-parse = %v, %v", again, err)
		}
	})
}

func FuzzParseNAFID(f *testing.F) {
	for _, tc := range loadVectors(f).NAFKeys {
		ua := unhex(f, tc.UaID)
		f.Add(append([]byte(tc.NAFFQDN), ua...))
	}
	f.Add([]byte("bsf.home1.net\x01\x00\x00\x01\x00"))
	f.Add([]byte{1, 0, 0, 0, 2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNAFID(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidNAFID) {
				t.Fatalf("error does not wrap ErrInvalidNAFID: %v", err)
			}
			return
		}
		if !bytes.Equal(n.Bytes(), b) {
			t.Fatalf("Bytes() = %x, input %x", n.Bytes(), b)
		}
		if err := n.Validate(); err != nil {
			t.Fatalf("parsed NAF_Id does not validate: %v", err)
		}
	})
}
