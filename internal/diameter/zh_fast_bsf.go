package diameter

import (
	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// The MAA is decoded for every AV the BSF fetches. decodeMAAFast reads the AVPs of the
// TS 29.109 §6.1.2 grammar with a direct walk over the decoded message, like decodeMARFast
// does for the MAR, and gives exactly the struct that unmarshalAVPs gives (not FailedAVP,
// which DecodeMAA reads either way): for each field the first AVP with its code whose
// Vendor-ID is the one the code has (RFC 6733 §4.1), octets copied. An AVP whose data is not
// of the dictionary's type makes it report false, and DecodeMAA falls back to unmarshalAVPs.

// decodeMAAFast fills the AVP fields of a (not FailedAVP) from m; false: fall back.
func decodeMAAFast(m *diam.Message, a *MAA) bool {
	const (
		fSession seen = 1 << iota
		fVSAI
		fResultCode
		fExperimental
		fOriginHost
		fOriginRealm
		fUserName
		fPublicIdentity
		fAuthDataItem
		fGUSS
	)
	var s seen
	return walkFast(m.AVP, func(v *diam.AVP) bool {
		switch v.Code {
		case avp.SessionID:
			return s.str(fSession, v, &a.SessionID)
		case avp.OriginHost:
			return s.str(fOriginHost, v, &a.OriginHost)
		case avp.OriginRealm:
			return s.str(fOriginRealm, v, &a.OriginRealm)
		case avp.UserName:
			return s.str(fUserName, v, &a.IMPI)
		case AVPPublicIdentity:
			return s.str(fPublicIdentity, v, &a.IMPU)
		case avp.ResultCode:
			return s.u32(fResultCode, v, &a.ResultCode)
		case avp.ExperimentalResult:
			return !s.first(fExperimental) || decodeExperimentalResultFast(v, &a.ExperimentalResult)
		case AVPGBAUserSecSettings:
			return s.octets(fGUSS, v, &a.GUSS)
		case avp.VendorSpecificApplicationID:
			return !s.first(fVSAI) || decodeVSAIFast(v, &a.VendorSpecificApplicationID)
		case AVPSIPAuthDataItem:
			return !s.first(fAuthDataItem) || decodeSIPAuthDataItemFast(v, &a.SIPAuthDataItem)
		}
		return true
	})
}

// decodeExperimentalResultFast reads Experimental-Result (RFC 6733 §7.6) into a new value
// stored in *dst.
func decodeExperimentalResultFast(a *diam.AVP, dst **ExperimentalResult) bool {
	er := &ExperimentalResult{}
	if !decodeUnsigned32PairFast(a, avp.VendorID, &er.VendorID, avp.ExperimentalResultCode, &er.ExperimentalResultCode) {
		return false
	}
	*dst = er
	return true
}

// The MAR is encoded for every AV the BSF fetches. messageFast builds it as (*MAR).message
// does, like (*MAA).messageFast: definitions from the dictionary resolved by code, AVPs in
// one allocation. A missing required field, a GUSS-Timestamp outside the Diameter time
// window or a dictionary whose definitions differ from TS 29.109 §6.3 make it return nil,
// and Message takes the general path, which also reports the errors.
func (r *MAR) messageFast(d *dict.Parser) *diam.Message {
	if d == nil || r.SessionID == "" || r.OriginHost == "" || r.OriginRealm == "" || r.DestinationRealm == "" {
		return nil
	}
	var gussTS datatype.Type
	if !r.GUSSTimestamp.IsZero() {
		v, err := TimeToDiameter(r.GUSSTimestamp)
		if err != nil {
			return nil
		}
		gussTS = datatype.Time(TimeFromDiameter(v))
	}
	e := newFastEncoder(d)
	avps := e.head(r.SessionID, r.VendorSpecificApplicationID)
	avps = e.origin(avps, r.OriginHost, r.OriginRealm)
	avps = append(avps, e.identity(avp.DestinationRealm, "Destination-Realm", r.DestinationRealm))
	if r.DestinationHost != "" {
		avps = append(avps, e.identity(avp.DestinationHost, "Destination-Host", r.DestinationHost))
	}
	avps = e.user(avps, r.IMPI, r.IMPU, r.SIPAuthDataItem)
	if gussTS != nil {
		avps = append(avps, e.avp(AVPGUSSTimestamp, VendorID3GPP, "GUSS-Timestamp", datatype.TimeType, gussTS))
	}
	return e.message(diam.RequestFlag|diam.ProxiableFlag, r.HeaderIDs, avps)
}
