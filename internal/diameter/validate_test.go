package diameter

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// Test fixtures: well-formed MAR, BIR, CER, DWR, DPR and MAA frames built with go-diameter
// from our dictionary, which the corruption cases below alter byte-wise.

const (
	testHopByHop  = 0x01020304
	testEndToEnd  = 0x0a0b0c0d
	testSessionID = "bsf.example.org;1;42"
)

func testDict(tb testing.TB) *dict.Parser {
	tb.Helper()
	d, err := NewDictionary()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func testValidator(tb testing.TB, d *dict.Parser, apps ...uint32) *Validator {
	tb.Helper()
	v, err := NewValidator(d, apps...)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

type avpSpec struct {
	code   uint32
	flags  uint8
	vendor uint32
	data   datatype.Type
}

func u32(v uint32) datatype.Type         { return datatype.Unsigned32(v) }
func enum(v int32) datatype.Type         { return datatype.Enumerated(v) }
func ident(s string) datatype.Type       { return datatype.DiameterIdentity(s) }
func utf8s(s string) datatype.Type       { return datatype.UTF8String(s) }
func octets(s string) datatype.Type      { return datatype.OctetString(s) }
func group(a ...*diam.AVP) datatype.Type { return &diam.GroupedAVP{AVP: a} }

func mk(code uint32, flags uint8, vendor uint32, data datatype.Type) *diam.AVP {
	return diam.NewAVP(code, flags, vendor, data)
}

func vsai(app uint32) *diam.AVP {
	return mk(avp.VendorSpecificApplicationID, avp.Mbit, 0, group(
		mk(avp.VendorID, avp.Mbit, 0, u32(VendorID3GPP)),
		mk(avp.AuthApplicationID, avp.Mbit, 0, u32(app)),
	))
}

func marAVPs() []*diam.AVP {
	return []*diam.AVP{
		mk(avp.SessionID, avp.Mbit, 0, utf8s(testSessionID)),
		vsai(AppIDZh),
		mk(avp.AuthSessionState, avp.Mbit, 0, enum(AuthSessionStateNoStateMaintained)),
		mk(avp.OriginHost, avp.Mbit, 0, ident("bsf.example.org")),
		mk(avp.OriginRealm, avp.Mbit, 0, ident("example.org")),
		mk(avp.DestinationRealm, avp.Mbit, 0, ident("example.org")),
		mk(avp.UserName, avp.Mbit, 0, utf8s("001010123456789@ims.mnc001.mcc001.3gppnetwork.org")),
		mk(AVPSIPAuthDataItem, avp.Mbit, VendorID3GPP, group(
			mk(AVPSIPAuthenticationScheme, avp.Mbit, VendorID3GPP, utf8s(SchemeAKAv1MD5)),
		)),
		mk(AVPSIPNumberAuthItems, avp.Mbit, VendorID3GPP, u32(1)),
	}
}

func birAVPs() []*diam.AVP {
	return []*diam.AVP{
		mk(avp.SessionID, avp.Mbit, 0, utf8s("naf.example.org;7;7")),
		vsai(AppIDZn),
		mk(avp.OriginHost, avp.Mbit, 0, ident("naf.example.org")),
		mk(avp.OriginRealm, avp.Mbit, 0, ident("example.org")),
		mk(avp.DestinationRealm, avp.Mbit, 0, ident("example.org")),
		mk(AVPTransactionIdentifier, avp.Mbit, VendorID3GPP, octets("ZmFrZWJ0aWQ=@bsf.example.org")),
		mk(AVPNAFId, avp.Mbit, VendorID3GPP, octets("naf.example.org\x01\x00\x00\x00\x02")),
		mk(AVPGBAUAwarenessIndicator, avp.Mbit, VendorID3GPP, enum(GBAUAwarenessNo)),
	}
}

func cerAVPs() []*diam.AVP {
	return []*diam.AVP{
		mk(avp.OriginHost, avp.Mbit, 0, ident("bsf.example.org")),
		mk(avp.OriginRealm, avp.Mbit, 0, ident("example.org")),
		mk(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.ParseIP("192.0.2.1").To4())),
		mk(avp.VendorID, avp.Mbit, 0, u32(0)),
		mk(avp.ProductName, 0, 0, utf8s("OpenGBA")),
		mk(avp.SupportedVendorID, avp.Mbit, 0, u32(VendorID3GPP)),
		vsai(AppIDZh),
	}
}

func maaAVPs() []*diam.AVP {
	return []*diam.AVP{
		mk(avp.SessionID, avp.Mbit, 0, utf8s(testSessionID)),
		vsai(AppIDZh),
		mk(avp.ResultCode, avp.Mbit, 0, u32(ResultSuccess)),
		mk(avp.AuthSessionState, avp.Mbit, 0, enum(AuthSessionStateNoStateMaintained)),
		mk(avp.OriginHost, avp.Mbit, 0, ident("hss.example.org")),
		mk(avp.OriginRealm, avp.Mbit, 0, ident("example.org")),
	}
}

func frame(tb testing.TB, d *dict.Parser, flags uint8, app, code uint32, avps []*diam.AVP) []byte {
	tb.Helper()
	m := diam.NewMessage(code, flags, app, testHopByHop, testEndToEnd, d)
	for _, a := range avps {
		m.AddAVP(a)
	}
	b, err := m.Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

const reqPXY = diam.RequestFlag | diam.ProxiableFlag

func goodMAR(tb testing.TB, d *dict.Parser) []byte {
	return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, marAVPs())
}

func goodBIR(tb testing.TB, d *dict.Parser) []byte {
	return frame(tb, d, reqPXY, AppIDZn, CmdBootstrappingInfo, birAVPs())
}

// without returns avps minus every AVP with the code.
func without(avps []*diam.AVP, code uint32) []*diam.AVP {
	var out []*diam.AVP
	for _, a := range avps {
		if a.Code != code {
			out = append(out, a)
		}
	}
	return out
}

// topOffset is the offset of the n-th (0-based) top-level AVP with code in f.
func topOffset(tb testing.TB, f []byte, code uint32, n int) int {
	tb.Helper()
	for off := headerLen; off+8 <= len(f); {
		if binary.BigEndian.Uint32(f[off:]) == code {
			if n == 0 {
				return off
			}
			n--
		}
		off += pad4(int(uint24(f[off+5 : off+8])))
	}
	tb.Fatalf("AVP %d not found", code)
	return 0
}

func setLen(f []byte, n int) []byte { putUint24(f[1:4], uint32(n)); return f }

func hexAVP(tb testing.TB, code uint32, flags uint8, vendor uint32, data string) string {
	tb.Helper()
	raw, err := hex.DecodeString(data)
	if err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(AppendAVP(nil, code, flags, vendor, raw))
}

type validateCase struct {
	name   string
	app    []uint32 // applications served; default Zh and Zn
	frame  func(tb testing.TB, d *dict.Parser) []byte
	code   uint32 // 0: accepted
	failed string // hex of the Failed-AVP content; "" for none, "*" for don't care
}

func validateCases() []validateCase {
	return []validateCase{
		{name: "RFC6733/accept/MAR", frame: goodMAR},
		{name: "RFC6733/accept/BIR", frame: goodBIR},
		{name: "RFC6733/accept/CER", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.RequestFlag, 0, CmdCapabilitiesExchange, cerAVPs())
		}},
		{name: "RFC6733/accept/DWR", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.RequestFlag, 0, CmdDeviceWatchdog, cerAVPs()[:2])
		}},
		{name: "RFC6733/accept/DPR", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.RequestFlag, 0, CmdDisconnectPeer,
				append(cerAVPs()[:2], mk(avp.DisconnectCause, avp.Mbit, 0, enum(DisconnectCauseRebooting))))
		}},
		{name: "RFC6733/accept/MAA", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.ProxiableFlag, AppIDZh, CmdMultimediaAuth, maaAVPs())
		}},
		{name: "RFC6733/7.2/accept-E-answer-without-grammar", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.ProxiableFlag|diam.ErrorFlag, AppIDZh, CmdMultimediaAuth,
				[]*diam.AVP{mk(avp.ResultCode, avp.Mbit, 0, u32(ResultCommandUnsupported))})
		}},
		{name: "RFC6733/4.1/accept-unknown-AVP-without-M", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth,
				append(marAVPs(), mk(9999, 0, 0, octets("ignored"))))
		}},
		{name: "RFC6733/3/accept-reserved-and-T-bits", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			f[4] |= diam.RetransmittedFlag | 0x0f
			return f
		}},

		{name: "RFC6733/3/5015-header-truncated", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return goodMAR(tb, d)[:12]
		}, code: ResultInvalidMessageLength},
		{name: "RFC6733/7.1.5/5011-version-2", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			f[0] = 2
			return f
		}, code: ResultUnsupportedVersion},
		{name: "RFC6733/3/5015-length-past-frame", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			return setLen(f, len(f)+4)
		}, code: ResultInvalidMessageLength},
		{name: "RFC6733/3/5015-length-not-multiple-of-4", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			return setLen(f, len(f)-1)
		}, code: ResultInvalidMessageLength},
		{name: "RFC6733/3/5015-length-below-header", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return setLen(goodMAR(tb, d), 16)
		}, code: ResultInvalidMessageLength},
		{name: "RFC6733/3/5015-frame-truncated", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			return f[:len(f)-8]
		}, code: ResultInvalidMessageLength},
		{name: "RFC6733/3/3008-E-bit-on-request", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			f[4] |= diam.ErrorFlag
			return f
		}, code: ResultInvalidHdrBits},
		{name: "RFC6733/3.2/3008-P-clear-on-MAR", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			f[4] &^= diam.ProxiableFlag
			return f
		}, code: ResultInvalidHdrBits},
		{name: "RFC6733/3.2/3008-P-set-on-CER", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, 0, CmdCapabilitiesExchange, cerAVPs())
		}, code: ResultInvalidHdrBits},
		{name: "RFC6733/7.1.3/3007-unknown-application", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			binary.BigEndian.PutUint32(f[8:12], 16777265) // SWx
			return f
		}, code: ResultApplicationUnsupported},
		{name: "RFC6733/7.1.3/3007-application-not-served", app: []uint32{AppIDZn}, frame: goodMAR,
			code: ResultApplicationUnsupported},
		{name: "RFC6733/7.1.3/3001-unknown-command", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			putUint24(f[5:8], 304)
			return f
		}, code: ResultCommandUnsupported},
		{name: "RFC6733/7.1.3/3001-base-command-not-supported", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, 0, 271, cerAVPs()[:2]) // ACR
		}, code: ResultCommandUnsupported},
		{name: "RFC6733/7.1.3/3001-base-command-in-application", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.RequestFlag, AppIDZh, CmdCapabilitiesExchange, cerAVPs())
		}, code: ResultCommandUnsupported},

		{name: "RFC6733/7.1.5/5014-AVP-shorter-than-header", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			putUint24(f[headerLen+5:headerLen+8], 5) // Session-Id
			return f
		}, code: ResultInvalidAVPLength, failed: "0000010740000008"},
		{name: "RFC6733/7.1.5/5014-V-AVP-shorter-than-12", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			off := topOffset(tb, f, AVPSIPNumberAuthItems, 0)
			putUint24(f[off+5:off+8], 10)
			return f
		}, code: ResultInvalidAVPLength, failed: "0000025fc0000010000028af00000000"},
		{name: "RFC6733/7.1.5/5014-AVP-past-message-end", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			off := topOffset(tb, f, AVPSIPNumberAuthItems, 0)
			putUint24(f[off+5:off+8], 64)
			return f
		}, code: ResultInvalidAVPLength, failed: "0000025fc0000010000028af00000000"},
		{name: "RFC6733/7.1.5/5014-header-truncated-at-end", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := append(goodMAR(tb, d), 0, 0, 0x01, 0x07)
			return setLen(f, len(f))
		}, code: ResultInvalidAVPLength, failed: "0000010700000008"},
		{name: "RFC6733/4.2/5014-Unsigned32-of-8", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(without(marAVPs(), AVPSIPNumberAuthItems),
				mk(AVPSIPNumberAuthItems, avp.Mbit, VendorID3GPP, octets("12345678"))))
		}, code: ResultInvalidAVPLength, failed: "0000025fc0000010000028af00000000"},
		{name: "RFC6733/4.2/5014-Enumerated-of-2", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZn, CmdBootstrappingInfo, append(without(birAVPs(), AVPGBAUAwarenessIndicator),
				mk(AVPGBAUAwarenessIndicator, avp.Mbit, VendorID3GPP, octets("\x00\x01"))))
		}, code: ResultInvalidAVPLength, failed: "00000197c0000010000028af00000000"},
		{name: "RFC6733/4.3.1/5014-Time-of-3", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth,
				append(marAVPs(), mk(AVPGUSSTimestamp, 0, VendorID3GPP, octets("abc"))))
		}, code: ResultInvalidAVPLength, failed: "0000019980000010000028af00000000"},
		{name: "RFC6733/4.4/5014-inside-grouped", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(without(marAVPs(), AVPSIPAuthDataItem),
				mk(AVPSIPAuthDataItem, avp.Mbit, VendorID3GPP, group(
					mk(AVPSIPItemNumber, avp.Mbit, VendorID3GPP, octets("\x00\x00\x00\x00\x01"))))))
		}, code: ResultInvalidAVPLength, failed: "00000264c000001c000028af00000265c0000010000028af00000000"},
		{name: "RFC6733/4.4/5014-grouped-length-past-group", frame: func(tb testing.TB, d *dict.Parser) []byte {
			f := goodMAR(tb, d)
			off := topOffset(tb, f, AVPSIPAuthDataItem, 0)
			putUint24(f[off+12+5:off+12+8], 200) // SIP-Authentication-Scheme inside
			return f
		}, code: ResultInvalidAVPLength, failed: "00000264c0000018000028af00000260c000000c000028af"},
		{name: "RFC6733/4.1/5001-unknown-M-AVP", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth,
				append(marAVPs(), mk(9999, avp.Mbit, 0, octets("abcde"))))
		}, code: ResultAVPUnsupported, failed: "0000270f4000000d6162636465000000"},
		{name: "RFC6733/4.1/5001-3GPP-code-without-vendor", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZn, CmdBootstrappingInfo,
				append(birAVPs(), mk(AVPUICCME, avp.Mbit, 0, enum(1))))
		}, code: ResultAVPUnsupported, failed: "0000019e4000000c00000001"},
		{name: "RFC6733/4.4/5001-unknown-M-AVP-inside-grouped", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(without(marAVPs(), AVPSIPAuthDataItem),
				mk(AVPSIPAuthDataItem, avp.Mbit, VendorID3GPP, group(
					mk(AVPSIPItemNumber, avp.Mbit, VendorID3GPP, u32(1)),
					mk(4242, avp.Mbit, VendorID3GPP, octets("x"))))))
		}, code: ResultAVPUnsupported, failed: "00000264c000001c000028af00001092c000000d000028af78000000"},
		{name: "RFC6733/7.1.5/5005-missing-Session-Id", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, without(marAVPs(), avp.SessionID))
		}, code: ResultMissingAVP, failed: "0000010740000008"},
		{name: "RFC6733/7.1.5/5005-missing-Auth-Session-State", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, without(marAVPs(), avp.AuthSessionState))
		}, code: ResultMissingAVP, failed: "000001154000000c00000000"},
		{name: "RFC6733/7.1.5/5005-missing-NAF-Id", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZn, CmdBootstrappingInfo, without(birAVPs(), AVPNAFId))
		}, code: ResultMissingAVP, failed: "00000192c000000c000028af"},
		{name: "RFC6733/7.1.5/5005-missing-Host-IP-Address", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.RequestFlag, 0, CmdCapabilitiesExchange, without(cerAVPs(), avp.HostIPAddress))
		}, code: ResultMissingAVP, failed: "000001014000000e0001000000000000"},
		{name: "RFC6733/7.1.5/5005-missing-Origin-Host-in-answer", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.ProxiableFlag, AppIDZh, CmdMultimediaAuth, without(maaAVPs(), avp.OriginHost))
		}, code: ResultMissingAVP, failed: "0000010840000008"},
		{name: "RFC6733/6.11/5005-VSAI-without-Vendor-Id", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(without(marAVPs(), avp.VendorSpecificApplicationID),
				mk(avp.VendorSpecificApplicationID, avp.Mbit, 0, group(mk(avp.AuthApplicationID, avp.Mbit, 0, u32(AppIDZh))))))
		}, code: ResultMissingAVP, failed: "00000104400000140000010a4000000c00000000"},
		{name: "RFC6733/6.11/5005-VSAI-without-application", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(without(marAVPs(), avp.VendorSpecificApplicationID),
				mk(avp.VendorSpecificApplicationID, avp.Mbit, 0, group(mk(avp.VendorID, avp.Mbit, 0, u32(VendorID3GPP))))))
		}, code: ResultMissingAVP, failed: "000001044000001400000102" + "4000000c00000000"},
		{name: "RFC6733/6.11/5007-VSAI-with-auth-and-acct", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(without(marAVPs(), avp.VendorSpecificApplicationID),
				mk(avp.VendorSpecificApplicationID, avp.Mbit, 0, group(
					mk(avp.VendorID, avp.Mbit, 0, u32(VendorID3GPP)),
					mk(avp.AuthApplicationID, avp.Mbit, 0, u32(AppIDZh)),
					mk(avp.AcctApplicationID, avp.Mbit, 0, u32(AppIDZh))))))
		}, code: ResultContradictingAVPs, failed: "000001044000001400000103" + "4000000c01000005"},
		{name: "RFC6733/7.1.5/5009-duplicate-Origin-Host", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth,
				append(marAVPs(), mk(avp.OriginHost, avp.Mbit, 0, ident("evil.example"))))
		}, code: ResultAVPOccursTooManyTimes, failed: "00000108400000146576696c2e6578616d706c65"},
		{name: "RFC6733/7.1.5/5009-duplicate-NAF-Id", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZn, CmdBootstrappingInfo,
				append(birAVPs(), mk(AVPNAFId, avp.Mbit, VendorID3GPP, octets("abcd"))))
		}, code: ResultAVPOccursTooManyTimes, failed: "00000192c0000010000028af61626364"},
		{name: "RFC6733/4.4/5009-duplicate-inside-grouped", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(without(marAVPs(), AVPSIPAuthDataItem),
				mk(AVPSIPAuthDataItem, avp.Mbit, VendorID3GPP, group(
					mk(AVPSIPItemNumber, avp.Mbit, VendorID3GPP, u32(1)),
					mk(AVPSIPItemNumber, avp.Mbit, VendorID3GPP, u32(2))))))
		}, code: ResultAVPOccursTooManyTimes, failed: "00000264c000001c000028af00000265c0000010000028af00000002"},
		{name: "RFC6733/4.1/5004-Enumerated-value-undefined", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(without(marAVPs(), avp.AuthSessionState),
				mk(avp.AuthSessionState, avp.Mbit, 0, enum(7))))
		}, code: ResultInvalidAVPValue, failed: "000001154000000c00000007"},
		{name: "RFC6733/4.3.1/5004-UTF8String-invalid", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(without(marAVPs(), avp.UserName),
				mk(avp.UserName, avp.Mbit, 0, octets("\xff\xfe"))))
		}, code: ResultInvalidAVPValue, failed: "000000014000000afffe0000"},
		{name: "RFC6733/4.3.1/5004-Address-family-0", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.RequestFlag, 0, CmdCapabilitiesExchange, append(without(cerAVPs(), avp.HostIPAddress),
				mk(avp.HostIPAddress, avp.Mbit, 0, octets("\x00\x00\xc0\x00\x02\x01"))))
		}, code: ResultInvalidAVPValue, failed: "000001014000000e0001000000000000"},
		{name: "RFC6733/4.3.1/5004-Address-IPv4-mapped", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.RequestFlag, 0, CmdCapabilitiesExchange, append(without(cerAVPs(), avp.HostIPAddress),
				mk(avp.HostIPAddress, avp.Mbit, 0, octets("\x00\x02"+string(net.ParseIP("::ffff:192.0.2.1"))))))
		}, code: ResultInvalidAVPValue, failed: "*"},
		{name: "RFC6733/4.3.1/5014-Address-IPv4-of-3", frame: func(tb testing.TB, d *dict.Parser) []byte {
			return frame(tb, d, diam.RequestFlag, 0, CmdCapabilitiesExchange, append(without(cerAVPs(), avp.HostIPAddress),
				mk(avp.HostIPAddress, avp.Mbit, 0, octets("\x00\x01\xc0\x00\x02"))))
		}, code: ResultInvalidAVPLength, failed: "000001014000000e0001000000000000"},
		{name: "RFC6733/4.4/5004-grouped-nesting-too-deep", frame: func(tb testing.TB, d *dict.Parser) []byte {
			inner := mk(avp.FailedAVP, avp.Mbit, 0, group(mk(avp.ResultCode, avp.Mbit, 0, u32(1))))
			for range maxGroupDepth {
				inner = mk(avp.FailedAVP, avp.Mbit, 0, group(inner))
			}
			return frame(tb, d, reqPXY, AppIDZh, CmdMultimediaAuth, append(marAVPs(), inner))
		}, code: ResultInvalidAVPValue, failed: "*"},
	}
}

func TestValidate(t *testing.T) {
	d := testDict(t)
	for _, tc := range validateCases() {
		t.Run(tc.name, func(t *testing.T) {
			apps := tc.app
			if apps == nil {
				apps = []uint32{AppIDZh, AppIDZn}
			}
			v := testValidator(t, d, apps...)
			f := tc.frame(t, d)
			err := v.Validate(f)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				m, err := v.Decode(f)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if m.Len() != len(f) {
					t.Fatalf("go-diameter decoded %d octets of %d", m.Len(), len(f))
				}
				return
			}
			var perr *ProtocolError
			if !errors.As(err, &perr) {
				t.Fatalf("Validate = %v, want *ProtocolError %d", err, tc.code)
			}
			if perr.ResultCode != tc.code {
				t.Fatalf("Result-Code %d (%v), want %d", perr.ResultCode, perr, tc.code)
			}
			if perr.ErrorBit() != (tc.code/1000 == 3) {
				t.Errorf("ErrorBit %v for %d", perr.ErrorBit(), tc.code)
			}
			if !strings.HasPrefix(err.Error(), "diameter: ") || perr.Reason == "" {
				t.Errorf("error text %q", err)
			}
			switch tc.failed {
			case "*":
				if perr.FailedAVP == nil {
					t.Errorf("no Failed-AVP")
				}
			default:
				if got := hex.EncodeToString(perr.FailedAVP); got != tc.failed {
					t.Errorf("Failed-AVP\n got %s\nwant %s", got, tc.failed)
				}
			}
			if perr.FailedAVP != nil {
				// The Failed-AVP content must itself be decodable (go-diameter decodes it).
				w := avpWalker{v: v, app: binary.BigEndian.Uint32(f[8:12])}
				if _, werr := w.walk(perr.FailedAVP, 0, 0, true); werr != nil {
					t.Errorf("Failed-AVP content not well-formed: %v", werr)
				}
			}
			if _, err := v.Decode(f); !errors.As(err, &perr) {
				t.Errorf("Decode = %v, want the protocol error", err)
			}
			checkErrorAnswer(t, v, f, perr)
		})
	}
}

// checkErrorAnswer builds the error answer and checks it against RFC 6733 §7.2 and §6.2.
func checkErrorAnswer(t *testing.T, v *Validator, req []byte, perr *ProtocolError) {
	t.Helper()
	opts := AnswerOptions{OriginHost: "hss.example.org", OriginRealm: "example.org", ErrorMessage: perr.Reason}
	ans, err := v.ErrorAnswer(req, perr, opts)
	if len(req) < headerLen || req[4]&flagRequest == 0 {
		if !errors.Is(err, ErrUnanswerable) {
			t.Fatalf("ErrorAnswer on an unanswerable frame: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("ErrorAnswer: %v", err)
	}
	if ans[0] != 1 || int(uint24(ans[1:4])) != len(ans) || len(ans)%4 != 0 {
		t.Fatalf("answer header %x", ans[:4])
	}
	if ans[4]&flagRequest != 0 || ans[4]&flagProxiable != req[4]&flagProxiable ||
		(ans[4]&flagError != 0) != perr.ErrorBit() {
		t.Errorf("answer flags %#x for request flags %#x and %d", ans[4], req[4], perr.ResultCode)
	}
	if !bytes.Equal(ans[5:20], req[5:20]) {
		t.Errorf("answer code/app/ids %x, request %x", ans[5:20], req[5:20])
	}
	w := avpWalker{v: v, app: binary.BigEndian.Uint32(ans[8:12])}
	top, werr := w.walk(ans[headerLen:], headerLen, 0, true)
	if werr != nil {
		t.Fatalf("answer AVPs: %v", werr)
	}
	var rc uint32
	var failed []byte
	for _, a := range top {
		switch a.key() {
		case avpKey{avp.ResultCode, 0}:
			rc = binary.BigEndian.Uint32(a.data)
		case keyFailedAVP:
			failed = a.data
		}
	}
	if rc != perr.ResultCode {
		t.Errorf("answer Result-Code %d, want %d", rc, perr.ResultCode)
	}
	if !bytes.Equal(failed, perr.FailedAVP) {
		t.Errorf("answer Failed-AVP %x, want %x", failed, perr.FailedAVP)
	}
	if bytes.Contains(req, []byte(testSessionID)) && perr.ResultCode != ResultInvalidAVPLength && top[0].code != avp.SessionID {
		t.Errorf("Session-Id not first in the answer")
	}
	// An answer to a served application command is itself valid, so our own clients can
	// decode it; only a Session-Id the request did not carry readably can be missing.
	app, code := binary.BigEndian.Uint32(req[8:12]), uint24(req[5:8])
	if app != AppIDBase && v.served[app] && v.commands[cmdKey{app, code}] != nil {
		err := v.Validate(ans)
		var aerr *ProtocolError
		if errors.As(err, &aerr) && aerr.ResultCode == ResultMissingAVP && top[0].code != avp.SessionID &&
			strings.Contains(aerr.Reason, "Session-Id") {
			return
		}
		if err != nil {
			t.Errorf("our error answer does not validate: %v", err)
		}
		if _, err := v.Decode(ans); err != nil {
			t.Errorf("our error answer does not decode: %v", err)
		}
	}
}

func TestErrorAnswerFillsAnswerGrammar(t *testing.T) {
	d := testDict(t)
	v := testValidator(t, d, AppIDZh, AppIDZn)
	// A MAR without VSAI and Auth-Session-State gets an MAA (5005, no E bit) that carries
	// both, built from the application, as the MAA grammar of TS 29.109 §6.1.2 requires.
	req := frame(t, d, reqPXY, AppIDZh, CmdMultimediaAuth,
		without(without(marAVPs(), avp.VendorSpecificApplicationID), avp.AuthSessionState))
	err := v.Validate(req)
	var perr *ProtocolError
	if !errors.As(err, &perr) || perr.ResultCode != ResultMissingAVP {
		t.Fatalf("Validate = %v", err)
	}
	ans, err := v.ErrorAnswer(req, perr, AnswerOptions{OriginHost: "hss.example.org", OriginRealm: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.Decode(ans)
	if err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	a, err := m.FindAVP(avp.AuthApplicationID, 0)
	if err != nil || a.Data.(datatype.Unsigned32) != datatype.Unsigned32(AppIDZh) {
		t.Errorf("Auth-Application-Id %v %v", a, err)
	}
	a, err = m.FindAVP(avp.VendorID, 0)
	if err != nil || a.Data.(datatype.Unsigned32) != datatype.Unsigned32(VendorID3GPP) {
		t.Errorf("Vendor-Id %v %v", a, err)
	}
	a, err = m.FindAVP(avp.AuthSessionState, 0)
	if err != nil || a.Data.(datatype.Enumerated) != datatype.Enumerated(AuthSessionStateNoStateMaintained) {
		t.Errorf("Auth-Session-State %v %v", a, err)
	}
	if m.Header.CommandFlags&diam.ErrorFlag != 0 {
		t.Errorf("E bit on a 5005 answer")
	}
}

func TestErrorAnswerCopiesProxyInfoAndExtra(t *testing.T) {
	d := testDict(t)
	v := testValidator(t, d, AppIDZh)
	pi := mk(avp.ProxyInfo, avp.Mbit, 0, group(
		mk(avp.ProxyHost, avp.Mbit, 0, ident("dra.example.org")),
		mk(avp.ProxyState, avp.Mbit, 0, octets("state-1"))))
	req := frame(t, d, reqPXY, AppIDZh, 999, append(marAVPs(), pi))
	perr := v.Validate(req).(*ProtocolError)
	if perr.ResultCode != ResultCommandUnsupported {
		t.Fatalf("Validate = %v", perr)
	}
	extra := diam.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("OpenGBA"))
	ans, err := v.ErrorAnswer(req, perr, AnswerOptions{OriginHost: "h", OriginRealm: "r", Extra: []*diam.AVP{extra}})
	if err != nil {
		t.Fatal(err)
	}
	piBytes, _ := pi.Serialize()
	if !bytes.HasSuffix(ans, piBytes) {
		t.Errorf("Proxy-Info not copied at the end")
	}
	exBytes, _ := extra.Serialize()
	if !bytes.Contains(ans, exBytes) {
		t.Errorf("extra AVP missing")
	}
	if ans[4] != diam.ProxiableFlag|diam.ErrorFlag {
		t.Errorf("flags %#x", ans[4])
	}
}

func TestErrorAnswerUnanswerable(t *testing.T) {
	d := testDict(t)
	v := testValidator(t, d, AppIDZh)
	if _, err := v.ErrorAnswer(make([]byte, 19), &ProtocolError{ResultCode: 5015}, AnswerOptions{}); !errors.Is(err, ErrUnanswerable) {
		t.Errorf("short frame: %v", err)
	}
	ans := frame(t, d, diam.ProxiableFlag, AppIDZh, CmdMultimediaAuth, maaAVPs())
	if _, err := v.ErrorAnswer(ans, &ProtocolError{ResultCode: 5005}, AnswerOptions{}); !errors.Is(err, ErrUnanswerable) {
		t.Errorf("answer: %v", err)
	}
}

func TestNewValidatorErrors(t *testing.T) {
	d := testDict(t)
	if _, err := NewValidator(nil); err == nil {
		t.Error("nil dictionary accepted")
	}
	if _, err := NewValidator(d, 16777265); err == nil || !strings.HasPrefix(err.Error(), "diameter: ") {
		t.Errorf("application absent from the dictionary: %v", err)
	}
	v := testValidator(t, d, AppIDZn)
	if !v.Serves(AppIDZn) || !v.Serves(AppIDBase) || v.Serves(AppIDZh) {
		t.Error("Serves")
	}
}

func TestProtocolErrorNeverPrintsAVPData(t *testing.T) {
	secret := "c0ffee-secret-key"
	perr := &ProtocolError{ResultCode: 5009, FailedAVP: AppendAVP(nil, AVPConfidentialityKey, 0xc0, VendorID3GPP, []byte(secret)), Reason: "x"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, perr)
		if strings.Contains(out, secret) || strings.Contains(out, hex.EncodeToString([]byte(secret))) {
			t.Errorf("%s prints the AVP data: %s", verb, out)
		}
	}
}

func TestResultName(t *testing.T) {
	for code, want := range map[uint32]string{
		2001: "DIAMETER_SUCCESS", 3007: "DIAMETER_APPLICATION_UNSUPPORTED", 5014: "DIAMETER_INVALID_AVP_LENGTH",
		5011: "DIAMETER_UNSUPPORTED_VERSION", 4242: "4242",
	} {
		if got := ResultName(code); got != want {
			t.Errorf("ResultName(%d) = %s, want %s", code, got, want)
		}
	}
}

// TestGoDiameterGaps documents why Validate must run before go-diameter's decoder: on each
// of these frames go-diameter v4.3.0 either panics, returns an error, or decodes a length
// other than the frame's, and Validate rejects all of them.
func TestGoDiameterGaps(t *testing.T) {
	d := testDict(t)
	v := testValidator(t, d, AppIDZh, AppIDZn)
	cases := map[string][]byte{}
	f := goodMAR(t, d)
	off := topOffset(t, f, AVPSIPNumberAuthItems, 0)
	g := bytes.Clone(f)
	putUint24(g[off+5:off+8], 18) // Unsigned32 of 6 octets: go-diameter mis-frames
	cases["Unsigned32-of-6"] = g
	g = append(bytes.Clone(f), 0, 0, 0, 1)
	cases["trailing-4-octets"] = setLen(g, len(g))
	cases["AVP-length-0"] = func() []byte { g := bytes.Clone(f); putUint24(g[headerLen+5:headerLen+8], 0); return g }()
	for name, fr := range cases {
		t.Run(name, func(t *testing.T) {
			if err := v.Validate(fr); err == nil {
				t.Fatal("Validate accepted it")
			}
			var m *diam.Message
			var err error
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				m, err = diam.ReadMessage(bytes.NewReader(fr), d)
				return false
			}()
			if !panicked && err == nil && m.Len() == len(fr) {
				t.Errorf("go-diameter decodes it cleanly: the gap this test documents is gone")
			}
		})
	}
}

func BenchmarkValidateMAR(b *testing.B) {
	d := testDict(b)
	v := testValidator(b, d, AppIDZh, AppIDZn)
	f := goodMAR(b, d)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(f); err != nil {
			b.Fatal(err)
		}
	}
}

// validatorGoldenFrames reads the golden wire frames of testdata/*.hex (annotated hex: '#'
// starts a comment), the typed-message goldens checked once in Wireshark.
func validatorGoldenFrames(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		var sb strings.Builder
		for line := range strings.Lines(string(raw)) {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			sb.WriteString(strings.Join(strings.Fields(line), ""))
		}
		b, err := hex.DecodeString(sb.String())
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out[filepath.Base(name)] = b
	}
	return out
}

// Every golden MAR, MAA, BIR and BIA of the typed-message layer is valid.
func TestValidateGoldenFrames(t *testing.T) {
	d := testDict(t)
	v := testValidator(t, d, AppIDZh, AppIDZn)
	frames := validatorGoldenFrames(t)
	if len(frames) == 0 {
		t.Skip("no golden frames in testdata yet")
	}
	for name, f := range frames {
		if err := v.Validate(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
