package gba

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestUaIDConstants(t *testing.T) {
	// TS 33.220 §H.2/§H.3, octet by octet.
	cases := []struct {
		id   UaID
		want string
	}{
		{UaIDDefault, "0000000000"},
		{UaIDPKIPortal, "0100000000"},
		{UaIDMBMS, "0100000001"},
		{UaIDHTTPDigest, "0100000002"},
		{UaIDMBMSHTTP, "0100000003"},
		{UaIDMBMSSIP, "0100000004"},
		{UaIDGPL, "0100000005"},
		{UaIDIMSKMS, "0100000006"},
		{UaIDSharedKeyTLS13, "0100000007"},
		{UaIDTMPI, "0100000100"},
		{UaIDTLSPSK(0x00AE), "01000100ae"},
		{UaIDTLSPSK(0xC0A8), "010001c0a8"},
		{UaIDDigestTLS(0x1301), "0100021301"},
	}
	for _, tc := range cases {
		b := tc.id.Bytes()
		if got := hex.EncodeToString(b[:]); got != tc.want {
			t.Errorf("%s: bytes %s, want %s", tc.want, got, tc.want)
		}
		if tc.id.String() != tc.want {
			t.Errorf("String = %s, want %s", tc.id, tc.want)
		}
		back, err := ParseUaID(b[:])
		if err != nil || back != tc.id {
			t.Errorf("ParseUaID(%s) = %v, %v", tc.want, back, err)
		}
	}
	// Regression for the public-code mistake 0x0100|suite (GBA-DIGEST §9).
	if b := UaIDTLSPSK(0x00AE).Bytes(); !bytes.Equal(b[:], []byte{0x01, 0x00, 0x01, 0x00, 0xAE}) {
		t.Errorf("TLS-PSK 0x00AE = % x", b)
	}
	if s, ok := UaIDTLSPSK(0x00AE).CipherSuite(); !ok || s != 0x00AE {
		t.Errorf("CipherSuite = %#x, %v", s, ok)
	}
	if s, ok := UaIDDigestTLS(0xC02F).CipherSuite(); !ok || s != 0xC02F {
		t.Errorf("CipherSuite = %#x, %v", s, ok)
	}
	if _, ok := UaIDHTTPDigest.CipherSuite(); ok {
		t.Error("HTTP digest id reports a cipher suite")
	}
	if UaIDHTTPDigest.Organization() != 0x01 || UaIDDefault.Organization() != 0 {
		t.Error("Organization is wrong")
	}
	if UaID(1<<40).Valid() || !UaID(1<<40-1).Valid() {
		t.Error("Valid is wrong")
	}
}

func TestParseNAFID(t *testing.T) {
	wire := append([]byte("naf.home1.net"), 0x01, 0x00, 0x00, 0x00, 0x02)
	n, err := ParseNAFID(wire)
	if err != nil {
		t.Fatal(err)
	}
	if n.FQDN != "naf.home1.net" || n.UaID != UaIDHTTPDigest {
		t.Errorf("ParseNAFID = %+v", n)
	}
	if !bytes.Equal(n.Bytes(), wire) {
		t.Errorf("Bytes = %x, want %x", n.Bytes(), wire)
	}
	if n.String() != "naf.home1.net/0100000002" {
		t.Errorf("String = %q", n.String())
	}

	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrInvalidNAFID},
		{"ua id only", []byte{1, 0, 0, 0, 2}, ErrInvalidNAFID},
		{"trailing dot", append([]byte("naf.net."), 1, 0, 0, 0, 2), ErrInvalidHostname},
		{"bad fqdn", append([]byte("naf..net"), 1, 0, 0, 0, 2), ErrInvalidHostname},
		{"binary fqdn", append([]byte{0xff, 'a'}, 1, 0, 0, 0, 2), ErrInvalidHostname},
		{"nul in fqdn", append([]byte("naf\x00.net"), 1, 0, 0, 0, 2), ErrInvalidHostname},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNAFID(tc.in)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidNAFID) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := ParseUaID([]byte{1, 2, 3}); !errors.Is(err, ErrInvalidUaID) {
		t.Errorf("ParseUaID(3 octets) = %v", err)
	}
	if _, err := NewNAFID("naf.net", 1<<41); !errors.Is(err, ErrInvalidUaID) {
		t.Errorf("NewNAFID with 41-bit id = %v", err)
	}
}
