package diameter

import (
	"encoding/binary"
	"strconv"

	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// Diameter constants of RFC 6733 not provided by go-diameter's diam and avp packages.
const (
	headerLen   = 20 // RFC 6733 §3
	diamVersion = 1  // RFC 6733 §3

	flagRequest   uint8 = 0x80 // R, RFC 6733 §3
	flagProxiable uint8 = 0x40 // P, RFC 6733 §3
	flagError     uint8 = 0x20 // E, RFC 6733 §3

	avpFlagVendor    uint8 = 0x80 // V, RFC 6733 §4.1
	avpFlagMandatory uint8 = 0x40 // M, RFC 6733 §4.1

	// AppIDBase is the application id of the base protocol messages, RFC 6733 §2.4.
	AppIDBase uint32 = 0
	// AppIDRelay is the relay application id; a peer advertising it shares every
	// application, RFC 6733 §2.4 and §5.3.
	AppIDRelay uint32 = 0xffffffff

	// CmdCapabilitiesExchange is CER/CEA, RFC 6733 §5.3.
	CmdCapabilitiesExchange uint32 = 257
	// CmdDeviceWatchdog is DWR/DWA, RFC 6733 §5.5.
	CmdDeviceWatchdog uint32 = 280
	// CmdDisconnectPeer is DPR/DPA, RFC 6733 §5.4.
	CmdDisconnectPeer uint32 = 282
)

// Disconnect-Cause values, RFC 6733 §5.4.3.
const (
	DisconnectCauseRebooting int32 = 0
	DisconnectCauseBusy      int32 = 1
	DisconnectCauseDoNotWant int32 = 2
)

// ResultName returns the RFC 6733 §7.1 name of a Result-Code ("DIAMETER_MISSING_AVP"), or
// the number when it is not a base protocol code.
func ResultName(code uint32) string {
	if name := baseResultName(code); name != "" {
		return name
	}
	return strconv.FormatUint(uint64(code), 10)
}

// baseResultName returns the RFC 6733 §7.1 name of a base protocol Result-Code, or "".
func baseResultName(code uint32) string {
	switch code {
	case ResultSuccess:
		return "DIAMETER_SUCCESS"
	case ResultCommandUnsupported:
		return "DIAMETER_COMMAND_UNSUPPORTED"
	case ResultUnableToDeliver:
		return "DIAMETER_UNABLE_TO_DELIVER"
	case ResultRealmNotServed:
		return "DIAMETER_REALM_NOT_SERVED"
	case ResultTooBusy:
		return "DIAMETER_TOO_BUSY"
	case ResultApplicationUnsupported:
		return "DIAMETER_APPLICATION_UNSUPPORTED"
	case ResultInvalidHdrBits:
		return "DIAMETER_INVALID_HDR_BITS"
	case ResultInvalidAVPBits:
		return "DIAMETER_INVALID_AVP_BITS"
	case ResultUnknownPeer:
		return "DIAMETER_UNKNOWN_PEER"
	case ResultAuthenticationRejected:
		return "DIAMETER_AUTHENTICATION_REJECTED"
	case ResultAVPUnsupported:
		return "DIAMETER_AVP_UNSUPPORTED"
	case ResultUnknownSessionID:
		return "DIAMETER_UNKNOWN_SESSION_ID"
	case ResultAuthorizationRejected:
		return "DIAMETER_AUTHORIZATION_REJECTED"
	case ResultInvalidAVPValue:
		return "DIAMETER_INVALID_AVP_VALUE"
	case ResultMissingAVP:
		return "DIAMETER_MISSING_AVP"
	case ResultResourcesExceeded:
		return "DIAMETER_RESOURCES_EXCEEDED"
	case ResultContradictingAVPs:
		return "DIAMETER_CONTRADICTING_AVPS"
	case ResultAVPNotAllowed:
		return "DIAMETER_AVP_NOT_ALLOWED"
	case ResultAVPOccursTooManyTimes:
		return "DIAMETER_AVP_OCCURS_TOO_MANY_TIMES"
	case ResultNoCommonApplication:
		return "DIAMETER_NO_COMMON_APPLICATION"
	case ResultUnsupportedVersion:
		return "DIAMETER_UNSUPPORTED_VERSION"
	case ResultUnableToComply:
		return "DIAMETER_UNABLE_TO_COMPLY"
	case ResultInvalidBitInHeader:
		return "DIAMETER_INVALID_BIT_IN_HEADER"
	case ResultInvalidAVPLength:
		return "DIAMETER_INVALID_AVP_LENGTH"
	case ResultInvalidMessageLength:
		return "DIAMETER_INVALID_MESSAGE_LENGTH"
	case ResultInvalidAVPBitCombo:
		return "DIAMETER_INVALID_AVP_BIT_COMBO"
	case ResultNoCommonSecurity:
		return "DIAMETER_NO_COMMON_SECURITY"
	}
	return ""
}

// IsProtocolError reports whether a Result-Code is in the 3xxx protocol error class, whose
// answers carry the E bit, RFC 6733 §7.1.3.
func IsProtocolError(code uint32) bool { return code >= 3000 && code < 4000 }

// AppendAVP appends one AVP in wire form (header, data, zero padding) to dst, RFC 6733 §4.1.
// The V flag is forced on when vendor is not 0 and the Vendor-ID field is written whenever
// V is set. It never fails: it is the encoder the error answers use when go-diameter cannot
// decode the request.
func AppendAVP(dst []byte, code uint32, flags uint8, vendor uint32, data []byte) []byte {
	if vendor != 0 {
		flags |= avpFlagVendor
	}
	hdr := 8
	if flags&avpFlagVendor != 0 {
		hdr = 12
	}
	length := hdr + len(data)
	var h [12]byte
	binary.BigEndian.PutUint32(h[0:4], code)
	h[4] = flags
	putUint24(h[5:8], uint32(length))
	binary.BigEndian.PutUint32(h[8:12], vendor)
	dst = append(dst, h[:hdr]...)
	dst = append(dst, data...)
	for i := length; i%4 != 0; i++ {
		dst = append(dst, 0)
	}
	return dst
}

func appendUnsigned32AVP(dst []byte, code uint32, flags uint8, vendor, v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return AppendAVP(dst, code, flags, vendor, b[:])
}

func putUint24(b []byte, v uint32) {
	b[0] = byte(v >> 16)
	b[1] = byte(v >> 8)
	b[2] = byte(v)
}

func uint24(b []byte) uint32 {
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}

func pad4(n int) int { return (n + 3) &^ 3 }

// minDataLength is the minimum payload length of a data type (RFC 6733 §4.2, §4.3), used
// for the zero-filled example AVPs of Failed-AVP, RFC 6733 §7.5.
func minDataLength(t datatype.TypeID) int {
	switch t {
	case datatype.Integer32Type, datatype.Unsigned32Type, datatype.Float32Type,
		datatype.EnumeratedType, datatype.TimeType, datatype.IPv4Type:
		return 4
	case datatype.Integer64Type, datatype.Unsigned64Type, datatype.Float64Type:
		return 8
	case datatype.IPv6Type:
		return 16
	case datatype.AddressType:
		return 6
	}
	return 0
}

// fixedDataLength is the exact payload length of a fixed-size data type (RFC 6733 §4.2,
// §4.3.1 Time), or -1 for variable-length types.
func fixedDataLength(t datatype.TypeID) int {
	switch t {
	case datatype.Integer32Type, datatype.Unsigned32Type, datatype.Float32Type,
		datatype.EnumeratedType, datatype.TimeType, datatype.IPv4Type:
		return 4
	case datatype.Integer64Type, datatype.Unsigned64Type, datatype.Float64Type:
		return 8
	case datatype.IPv6Type:
		return 16
	}
	return -1
}
