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
	for _, v := range m.AVP {
		if v == nil || v.Data == nil {
			return false
		}
		if !vendorMatches(v) {
			continue
		}
		var (
			dst *string
			bit seen
		)
		switch v.Code {
		case avp.SessionID:
			dst, bit = &a.SessionID, fSession
		case avp.OriginHost:
			dst, bit = &a.OriginHost, fOriginHost
		case avp.OriginRealm:
			dst, bit = &a.OriginRealm, fOriginRealm
		case avp.UserName:
			dst, bit = &a.IMPI, fUserName
		case AVPPublicIdentity:
			dst, bit = &a.IMPU, fPublicIdentity
		case avp.ResultCode:
			if s.first(fResultCode) {
				n, ok := avpUnsigned32(v)
				if !ok {
					return false
				}
				a.ResultCode = n
			}
			continue
		case avp.ExperimentalResult:
			if s.first(fExperimental) {
				er := &ExperimentalResult{}
				if !decodeExperimentalResultFast(v, er) {
					return false
				}
				a.ExperimentalResult = er
			}
			continue
		case AVPGBAUserSecSettings:
			if s.first(fGUSS) {
				b, ok := avpOctets(v)
				if !ok {
					return false
				}
				a.GUSS = b
			}
			continue
		case avp.VendorSpecificApplicationID:
			if s.first(fVSAI) && !decodeVSAIFast(v, &a.VendorSpecificApplicationID) {
				return false
			}
			continue
		case AVPSIPAuthDataItem:
			if s.first(fAuthDataItem) {
				it := &SIPAuthDataItem{}
				if !decodeSIPAuthDataItemFast(v, it) {
					return false
				}
				a.SIPAuthDataItem = it
			}
			continue
		default:
			continue
		}
		if !s.first(bit) {
			continue
		}
		str, ok := avpString(v)
		if !ok {
			return false
		}
		*dst = str
	}
	return true
}

// decodeExperimentalResultFast reads Experimental-Result (RFC 6733 §7.6).
func decodeExperimentalResultFast(a *diam.AVP, er *ExperimentalResult) bool {
	g, ok := a.Data.(*diam.GroupedAVP)
	if !ok {
		return false
	}
	var s seen
	for _, m := range g.AVP {
		if m == nil || m.Data == nil {
			return false
		}
		if !vendorMatches(m) {
			continue
		}
		var dst *uint32
		switch m.Code {
		case avp.VendorID:
			if !s.first(1) {
				continue
			}
			dst = &er.VendorID
		case avp.ExperimentalResultCode:
			if !s.first(2) {
				continue
			}
			dst = &er.ExperimentalResultCode
		default:
			continue
		}
		n, ok := avpUnsigned32(m)
		if !ok {
			return false
		}
		*dst = n
	}
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
	e := &fastEncoder{d: d, store: new([maxMAAAVPs]diam.AVP), ok: true}
	avps := make([]*diam.AVP, 0, 11)
	avps = append(avps, e.utf8(avp.SessionID, 0, "Session-Id", r.SessionID))
	v := r.VendorSpecificApplicationID
	if v == (VendorSpecificApplicationID{}) {
		v = VendorSpecificApplicationID{VendorID: VendorID3GPP, AuthApplicationID: AppIDZh}
	}
	vsai := make([]*diam.AVP, 2)
	vsai[0] = e.avp(avp.VendorID, 0, "Vendor-Id", datatype.Unsigned32Type, datatype.Unsigned32(v.VendorID))
	vsai[1] = e.avp(avp.AuthApplicationID, 0, "Auth-Application-Id", datatype.Unsigned32Type, datatype.Unsigned32(v.AuthApplicationID))
	avps = append(avps, e.avp(avp.VendorSpecificApplicationID, 0, "Vendor-Specific-Application-Id", datatype.GroupedType, &diam.GroupedAVP{AVP: vsai}))
	avps = append(avps, e.avp(avp.AuthSessionState, 0, "Auth-Session-State", datatype.EnumeratedType, datatype.Enumerated(AuthSessionStateNoStateMaintained)))
	avps = append(avps, e.avp(avp.OriginHost, 0, "Origin-Host", datatype.DiameterIdentityType, datatype.DiameterIdentity(r.OriginHost)))
	avps = append(avps, e.avp(avp.OriginRealm, 0, "Origin-Realm", datatype.DiameterIdentityType, datatype.DiameterIdentity(r.OriginRealm)))
	avps = append(avps, e.avp(avp.DestinationRealm, 0, "Destination-Realm", datatype.DiameterIdentityType, datatype.DiameterIdentity(r.DestinationRealm)))
	if r.DestinationHost != "" {
		avps = append(avps, e.avp(avp.DestinationHost, 0, "Destination-Host", datatype.DiameterIdentityType, datatype.DiameterIdentity(r.DestinationHost)))
	}
	avps = appendAVP(avps, e.utf8(avp.UserName, 0, "User-Name", r.IMPI))
	avps = appendAVP(avps, e.utf8(AVPPublicIdentity, VendorID3GPP, "Public-Identity", r.IMPU))
	if it := r.SIPAuthDataItem; it != nil {
		members := make([]*diam.AVP, 0, 7)
		if it.ItemNumber != nil {
			members = append(members, e.avp(AVPSIPItemNumber, VendorID3GPP, "SIP-Item-Number", datatype.Unsigned32Type, datatype.Unsigned32(*it.ItemNumber)))
		}
		members = appendAVP(members, e.utf8(AVPSIPAuthenticationScheme, VendorID3GPP, "SIP-Authentication-Scheme", it.AuthenticationScheme))
		members = appendAVP(members, e.octets(AVPSIPAuthenticate, "SIP-Authenticate", it.Authenticate))
		members = appendAVP(members, e.octets(AVPSIPAuthorization, "SIP-Authorization", it.Authorization))
		members = appendAVP(members, e.octets(AVPSIPAuthenticationContext, "SIP-Authentication-Context", it.AuthenticationContext))
		members = appendAVP(members, e.octets(AVPConfidentialityKey, "Confidentiality-Key", it.CK))
		members = appendAVP(members, e.octets(AVPIntegrityKey, "Integrity-Key", it.IK))
		if len(members) == 0 {
			members = nil // as the general encoder: no member, no slice
		}
		avps = append(avps, e.avp(AVPSIPAuthDataItem, VendorID3GPP, "SIP-Auth-Data-Item", datatype.GroupedType, &diam.GroupedAVP{AVP: members}))
	}
	if gussTS != nil {
		avps = append(avps, e.avp(AVPGUSSTimestamp, VendorID3GPP, "GUSS-Timestamp", datatype.TimeType, gussTS))
	}
	if !e.ok {
		return nil
	}
	m := diam.NewMessage(CmdMultimediaAuth, diam.RequestFlag|diam.ProxiableFlag, AppIDZh, r.HopByHopID, r.EndToEndID, d)
	m.AVP = avps
	for _, x := range avps {
		m.Header.MessageLength += uint32(x.Len())
	}
	return m
}
