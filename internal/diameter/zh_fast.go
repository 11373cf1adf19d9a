package diameter

import (
	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// The MAR is decoded on every Zh request the HSS serves. decodeMARFast reads the AVPs of the
// TS 29.109 §6.1.1 grammar with a direct walk over the decoded message, without the
// reflection of unmarshalAVPs, and gives exactly the same struct: for each field the first
// AVP with its code whose Vendor-ID is the one the code has (RFC 6733 §4.1, see
// vendorFiltered), its data converted as go-diameter's Unmarshal converts it (octets are
// copied: go-diameter's OctetString is a string). An AVP whose data is not of the type the
// dictionary gives its code (only a message built by hand can hold one) makes it report
// false, and DecodeMAR falls back to unmarshalAVPs, so odd messages keep the reflection
// path's result. The walking helpers are shared with the BSF's paths (zh_fast_avp.go).

// decodeMARFast fills the AVP fields of r (not GUSSTimestamp) from m; false: fall back.
func decodeMARFast(m *diam.Message, r *MAR) bool {
	const (
		fSession seen = 1 << iota
		fVSAI
		fOriginHost
		fOriginRealm
		fDestRealm
		fDestHost
		fUserName
		fPublicIdentity
		fAuthDataItem
	)
	var s seen
	return walkFast(m.AVP, func(a *diam.AVP) bool {
		switch a.Code {
		case avp.SessionID:
			return s.str(fSession, a, &r.SessionID)
		case avp.OriginHost:
			return s.str(fOriginHost, a, &r.OriginHost)
		case avp.OriginRealm:
			return s.str(fOriginRealm, a, &r.OriginRealm)
		case avp.DestinationRealm:
			return s.str(fDestRealm, a, &r.DestinationRealm)
		case avp.DestinationHost:
			return s.str(fDestHost, a, &r.DestinationHost)
		case avp.UserName:
			return s.str(fUserName, a, &r.IMPI)
		case AVPPublicIdentity:
			return s.str(fPublicIdentity, a, &r.IMPU)
		case avp.VendorSpecificApplicationID:
			return !s.first(fVSAI) || decodeVSAIFast(a, &r.VendorSpecificApplicationID)
		case AVPSIPAuthDataItem:
			return !s.first(fAuthDataItem) || decodeSIPAuthDataItemFast(a, &r.SIPAuthDataItem)
		}
		return true
	})
}

// The MAA is encoded for every MAR the HSS answers. messageFast builds the successful and
// Result-Code answers, the ones the HSS sends by the thousand, with the AVP definitions
// (code, Vendor-ID, M and V flags) taken from the dictionary as the general encoder takes
// them, but resolved by code, with the AVPs in one allocation and no intermediate encoder
// state; it gives the same message as (*MAA).message. Anything else (Experimental-Result,
// Failed-AVP, a missing required field, a dictionary whose definitions differ from
// TS 29.109 §6.3 by name or type) makes it return nil and Message takes the general path,
// which also reports the errors.

// messageFast returns the MAA built as message builds it, or nil (see above).
func (a *MAA) messageFast(d *dict.Parser) *diam.Message {
	if d == nil || a.SessionID == "" || a.OriginHost == "" || a.OriginRealm == "" ||
		a.ResultCode == 0 || a.ExperimentalResult != nil || len(a.FailedAVP) > 0 {
		return nil
	}
	e := newFastEncoder(d)
	avps := e.head(a.SessionID, a.VendorSpecificApplicationID)
	avps = append(avps, e.avp(avp.ResultCode, 0, "Result-Code", datatype.Unsigned32Type, datatype.Unsigned32(a.ResultCode)))
	avps = e.origin(avps, a.OriginHost, a.OriginRealm)
	avps = e.user(avps, a.IMPI, a.IMPU, a.SIPAuthDataItem)
	avps = appendAVP(avps, e.octets(AVPGBAUserSecSettings, "GBA-UserSecSettings", a.GUSS))
	flags := uint8(diam.ProxiableFlag)
	if a.ResultCode >= 3000 && a.ResultCode < 4000 {
		flags |= diam.ErrorFlag
	}
	return e.message(flags, a.HeaderIDs, avps)
}
