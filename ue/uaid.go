package ue

import (
	"encoding/hex"
	"fmt"
)

// UaID is a Ua security protocol identifier, five octets (TS 33.220 §H.1), held in the
// low 40 bits: UaID(0x0100000002) is 01 00 00 00 02. It is the last part of NAF_Id =
// FQDN ‖ Ua security protocol identifier (TS 33.220 §B.3).
type UaID uint64

// Ua security protocol identifiers of TS 33.220 §H.3.
const (
	// UaIDHTTPDigest is 01 00 00 00 02: HTTP Digest authentication on Ua (TS 24.109).
	// It is what the Transport and Client.Enrol use unless configured otherwise.
	UaIDHTTPDigest UaID = 0x01_00_00_00_02
	// UaIDSharedKeyTLS13 is 01 00 00 00 07: shared-key TLS 1.3 (TS 33.222 §5.4.0.2).
	UaIDSharedKeyTLS13 UaID = 0x01_00_00_00_07
)

const uaIDMax UaID = 1<<40 - 1

// UaIDTLSPSK returns 01 00 01 yy zz, shared-key TLS ≤ 1.2 (TS 33.222) with the negotiated
// cipher suite yy zz (TS 33.220 §H.3): suite 0x00AE gives 01 00 01 00 AE.
func UaIDTLSPSK(suite uint16) UaID { return 0x01_00_01_00_00 | UaID(suite) }

// Bytes returns the five octets of u (TS 33.220 §H.1).
func (u UaID) Bytes() [5]byte {
	return [5]byte{byte(u >> 32), byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
}

// Valid reports whether u fits in five octets.
func (u UaID) Valid() bool { return u <= uaIDMax }

// String returns the ten lower-case hex digits of u, e.g. "0100000002".
func (u UaID) String() string {
	b := u.Bytes()
	if !u.Valid() {
		return "invalid"
	}
	return hex.EncodeToString(b[:])
}

// ParseUaID reads ten hexadecimal digits, e.g. "0100000002".
func ParseUaID(s string) (UaID, error) {
	var b [5]byte
	if len(s) != 2*len(b) {
		return 0, fmt.Errorf("%w: Ua security protocol identifier must be 10 hex digits", ErrConfig)
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return 0, fmt.Errorf("%w: Ua security protocol identifier must be 10 hex digits", ErrConfig)
	}
	var u UaID
	for _, c := range b {
		u = u<<8 | UaID(c)
	}
	return u, nil
}
