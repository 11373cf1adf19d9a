package gba

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Sentinel errors for NAF_Id and Ua security protocol identifiers.
var (
	// ErrInvalidUaID reports a Ua security protocol identifier that is not 5 octets.
	ErrInvalidUaID = errors.New("gba: invalid Ua security protocol identifier")
	// ErrInvalidNAFID reports a malformed NAF_Id.
	ErrInvalidNAFID = errors.New("gba: invalid NAF_Id")
)

// UaIDSize is the length of a Ua security protocol identifier, TS 33.220 §H.1.
const UaIDSize = 5

// UaID is a Ua security protocol identifier, TS 33.220 Annex H: five octets, the first
// naming the organisation (§H.2), the other four the protocol. It is held in the low 40
// bits of a uint64 so that the identifiers can be constants; UaID(0x0100000002) is the
// octet string 01 00 00 00 02.
type UaID uint64

// Ua security protocol identifiers, TS 33.220 §H.3 (and §H.2 for the default).
const (
	// UaIDDefault is 00 00 00 00 00, the default/unspecified protocol (TS 33.220 §H.2).
	UaIDDefault UaID = 0x00_00_00_00_00
	// UaIDPKIPortal is 01 00 00 00 00: the PKI portal of TS 33.221.
	UaIDPKIPortal UaID = 0x01_00_00_00_00
	// UaIDMBMS is 01 00 00 00 01: MBMS, TS 33.246.
	UaIDMBMS UaID = 0x01_00_00_00_01
	// UaIDHTTPDigest is 01 00 00 00 02: HTTP Digest authentication on Ua, TS 24.109.
	UaIDHTTPDigest UaID = 0x01_00_00_00_02
	// UaIDMBMSHTTP is 01 00 00 00 03: HTTP-based MBMS user service security, TS 26.237.
	UaIDMBMSHTTP UaID = 0x01_00_00_00_03
	// UaIDMBMSSIP is 01 00 00 00 04: SIP-based MBMS user service security, TS 26.237.
	UaIDMBMSSIP UaID = 0x01_00_00_00_04
	// UaIDGPL is 01 00 00 00 05: Generic Push Layer, TS 33.224.
	UaIDGPL UaID = 0x01_00_00_00_05
	// UaIDIMSKMS is 01 00 00 00 06: IMS UE to KMS HTTP exchanges, TS 33.328.
	UaIDIMSKMS UaID = 0x01_00_00_00_06
	// UaIDSharedKeyTLS13 is 01 00 00 00 07: shared-key TLS 1.3, TS 33.222 §5.4.0.2.
	UaIDSharedKeyTLS13 UaID = 0x01_00_00_00_07
	// UaIDTMPI is 01 00 00 01 00: generation of the TMPI, TS 33.220 §B.4.
	UaIDTMPI UaID = 0x01_00_00_01_00
)

const (
	uaIDTLSPSKPrefix    UaID = 0x01_00_01_00_00 // 01 00 01 yy zz, TS 33.220 §H.3
	uaIDDigestTLSPrefix UaID = 0x01_00_02_00_00 // 01 00 02 yy zz, TS 33.220 §H.3
	uaIDSuiteMask       UaID = 0xFF_FF_FF_00_00
	uaIDMax             UaID = 0xFF_FF_FF_FF_FF
)

// UaIDTLSPSK returns 01 00 01 yy zz: shared-key TLS (TS 33.222 §5.3/§5.4, TLS ≤ 1.2)
// where yy zz is the negotiated cipher suite, TS 33.220 §H.3. For example suite 0x00AE
// (TLS_PSK_WITH_AES_128_CBC_SHA256) gives 01 00 01 00 AE.
//
// Note: the suite occupies the last two octets; it is not OR-ed into 0x0100.
func UaIDTLSPSK(suite uint16) UaID { return uaIDTLSPSKPrefix | UaID(suite) }

// UaIDDigestTLS returns 01 00 02 yy zz: HTTP Digest over server-authenticated TLS
// (TS 33.222 Annex D) with negotiated cipher suite yy zz, TS 33.220 §H.3.
func UaIDDigestTLS(suite uint16) UaID { return uaIDDigestTLSPrefix | UaID(suite) }

// ParseUaID reads a 5-octet Ua security protocol identifier, TS 33.220 §H.1.
func ParseUaID(b []byte) (UaID, error) {
	if len(b) != UaIDSize {
		return 0, fmt.Errorf("%w: want %d octets, got %d", ErrInvalidUaID, UaIDSize, len(b))
	}
	var u UaID
	for _, c := range b {
		u = u<<8 | UaID(c)
	}
	return u, nil
}

// Valid reports whether u fits in 5 octets.
func (u UaID) Valid() bool { return u <= uaIDMax }

// Bytes returns the 5-octet encoding of u, TS 33.220 §H.1.
func (u UaID) Bytes() [UaIDSize]byte {
	return [UaIDSize]byte{byte(u >> 32), byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
}

// Organization returns the organisation octet, TS 33.220 §H.2 (0x01 is 3GPP).
func (u UaID) Organization() byte { return byte(u >> 32) }

// CipherSuite returns the TLS cipher suite carried by the 01 00 01 yy zz and 01 00 02 yy zz
// identifiers of TS 33.220 §H.3, and false for every other identifier.
func (u UaID) CipherSuite() (uint16, bool) {
	switch u & uaIDSuiteMask {
	case uaIDTLSPSKPrefix, uaIDDigestTLSPrefix:
		return uint16(u), true
	}
	return 0, false
}

// String returns the identifier as 10 lowercase hex digits, e.g. "0100000002".
func (u UaID) String() string {
	if !u.Valid() {
		return fmt.Sprintf("invalid(%#x)", uint64(u))
	}
	b := u.Bytes()
	return hex.EncodeToString(b[:])
}

// NAFID is a NAF_Id: the NAF's FQDN and the Ua security protocol identifier,
// TS 33.220 §4.5.2 and Annex H. Its octet form (Bytes) is P3 of the NAF key derivation
// (TS 33.220 §B.3) and the NAF-Id AVP of Zn (TS 29.109 §6.3.1.3).
//
// The FQDN is used verbatim: the KDF hashes its octets, so the BSF and the UE must spell it
// identically (no case folding is applied here).
type NAFID struct {
	FQDN string
	UaID UaID
}

// NewNAFID validates fqdn (RFC 1123 host name) and ua and returns the NAF_Id.
func NewNAFID(fqdn string, ua UaID) (NAFID, error) {
	n := NAFID{FQDN: fqdn, UaID: ua}
	if err := n.Validate(); err != nil {
		return NAFID{}, err
	}
	return n, nil
}

// Validate checks the FQDN (RFC 1035 §2.3.1 as relaxed by RFC 1123 §2.1) and the UaID range.
func (n NAFID) Validate() error {
	if err := checkHostname(n.FQDN); err != nil {
		return fmt.Errorf("%w: FQDN: %w", ErrInvalidNAFID, err)
	}
	if !n.UaID.Valid() {
		return fmt.Errorf("%w: %w: more than 5 octets", ErrInvalidNAFID, ErrInvalidUaID)
	}
	return nil
}

// Bytes returns NAF_Id = UTF-8(FQDN) || Ua security protocol id, TS 33.220 §B.3 and Annex H.
func (n NAFID) Bytes() []byte {
	ua := n.UaID.Bytes()
	b := make([]byte, 0, len(n.FQDN)+UaIDSize)
	b = append(b, n.FQDN...)
	return append(b, ua[:]...)
}

// String returns "<fqdn>/<uaid hex>", for logs.
func (n NAFID) String() string { return n.FQDN + "/" + n.UaID.String() }

// ParseNAFID splits a NAF_Id received on the wire (e.g. the Zn NAF-Id AVP) into FQDN and
// Ua security protocol identifier: the last 5 octets are the identifier (TS 33.220 Annex H),
// the rest must be a valid host name.
func ParseNAFID(b []byte) (NAFID, error) {
	if len(b) < UaIDSize+1 {
		return NAFID{}, fmt.Errorf("%w: %d octets, need an FQDN and a 5-octet Ua id", ErrInvalidNAFID, len(b))
	}
	cut := len(b) - UaIDSize
	ua, err := ParseUaID(b[cut:])
	if err != nil {
		return NAFID{}, fmt.Errorf("%w: %w", ErrInvalidNAFID, err)
	}
	fqdn := string(b[:cut])
	if err := checkHostname(fqdn); err != nil {
		return NAFID{}, fmt.Errorf("%w: FQDN: %w", ErrInvalidNAFID, err)
	}
	return NAFID{FQDN: fqdn, UaID: ua}, nil
}
