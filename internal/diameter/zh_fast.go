package diameter

import (
	"strings"

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
// path's result.

// seen is a bit set of the fields already filled (the first AVP with the code wins).
type seen uint16

func (s *seen) first(bit seen) bool {
	if *s&bit != 0 {
		return false
	}
	*s |= bit
	return true
}

// avpString is the data of a UTF8String or DiameterIdentity AVP.
func avpString(a *diam.AVP) (string, bool) {
	switch v := a.Data.(type) {
	case datatype.UTF8String:
		return string(v), true
	case datatype.DiameterIdentity:
		return string(v), true
	}
	return "", false
}

// avpUnsigned32 is the data of an Unsigned32 AVP.
func avpUnsigned32(a *diam.AVP) (uint32, bool) {
	v, ok := a.Data.(datatype.Unsigned32)
	return uint32(v), ok
}

// avpOctets is a copy of the data of an OctetString AVP.
func avpOctets(a *diam.AVP) ([]byte, bool) {
	v, ok := a.Data.(datatype.OctetString)
	return []byte(v), ok
}

// vendorMatches reports whether a is read as its code: unknown codes never are, known codes
// only with the Vendor-ID they have (avpVendor).
func vendorMatches(a *diam.AVP) bool {
	v, known := avpVendor(a.Code)
	return known && v == a.VendorID
}

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
	for _, a := range m.AVP {
		if a == nil || a.Data == nil {
			return false
		}
		if !vendorMatches(a) {
			continue
		}
		var (
			dst *string
			bit seen
		)
		switch a.Code {
		case avp.SessionID:
			dst, bit = &r.SessionID, fSession
		case avp.OriginHost:
			dst, bit = &r.OriginHost, fOriginHost
		case avp.OriginRealm:
			dst, bit = &r.OriginRealm, fOriginRealm
		case avp.DestinationRealm:
			dst, bit = &r.DestinationRealm, fDestRealm
		case avp.DestinationHost:
			dst, bit = &r.DestinationHost, fDestHost
		case avp.UserName:
			dst, bit = &r.IMPI, fUserName
		case AVPPublicIdentity:
			dst, bit = &r.IMPU, fPublicIdentity
		case avp.VendorSpecificApplicationID:
			if s.first(fVSAI) && !decodeVSAIFast(a, &r.VendorSpecificApplicationID) {
				return false
			}
			continue
		case AVPSIPAuthDataItem:
			if s.first(fAuthDataItem) {
				it := &SIPAuthDataItem{}
				if !decodeSIPAuthDataItemFast(a, it) {
					return false
				}
				r.SIPAuthDataItem = it
			}
			continue
		default:
			continue
		}
		if !s.first(bit) {
			continue
		}
		v, ok := avpString(a)
		if !ok {
			return false
		}
		*dst = v
	}
	return true
}

// decodeVSAIFast reads Vendor-Specific-Application-Id (RFC 6733 §6.11).
func decodeVSAIFast(a *diam.AVP, v *VendorSpecificApplicationID) bool {
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
			dst = &v.VendorID
		case avp.AuthApplicationID:
			if !s.first(2) {
				continue
			}
			dst = &v.AuthApplicationID
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

// decodeSIPAuthDataItemFast reads SIP-Auth-Data-Item (TS 29.229 §6.3.13).
func decodeSIPAuthDataItemFast(a *diam.AVP, it *SIPAuthDataItem) bool {
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
		var dst *[]byte
		switch m.Code {
		case AVPSIPItemNumber:
			if s.first(1) {
				n, ok := avpUnsigned32(m)
				if !ok {
					return false
				}
				it.ItemNumber = &n
			}
			continue
		case AVPSIPAuthenticationScheme:
			if s.first(2) {
				v, ok := m.Data.(datatype.UTF8String)
				if !ok {
					return false
				}
				it.AuthenticationScheme = string(v)
			}
			continue
		case AVPSIPAuthenticate:
			if !s.first(4) {
				continue
			}
			dst = &it.Authenticate
		case AVPSIPAuthorization:
			if !s.first(8) {
				continue
			}
			dst = (*[]byte)(&it.Authorization)
		case AVPSIPAuthenticationContext:
			if !s.first(16) {
				continue
			}
			dst = &it.AuthenticationContext
		case AVPConfidentialityKey:
			if !s.first(32) {
				continue
			}
			dst = (*[]byte)(&it.CK)
		case AVPIntegrityKey:
			if !s.first(64) {
				continue
			}
			dst = (*[]byte)(&it.IK)
		default:
			continue
		}
		b, ok := avpOctets(m)
		if !ok {
			return false
		}
		*dst = b
	}
	return true
}

// The MAA is encoded for every MAR the HSS answers. messageFast builds the successful and
// Result-Code answers, the ones the HSS sends by the thousand, with the AVP definitions
// (code, Vendor-ID, M and V flags) taken from the dictionary as the general encoder takes
// them, but resolved by code, with the AVPs in one allocation and no intermediate encoder
// state; it gives the same message as (*MAA).message. Anything else (Experimental-Result,
// Failed-AVP, a missing required field, a dictionary whose definitions differ from
// TS 29.109 §6.3 by name or type) makes it return nil and Message takes the general path,
// which also reports the errors.

// maxMAAAVPs is the number of AVPs of the largest MAA messageFast builds: 11 at the top
// level, 2 in Vendor-Specific-Application-Id, 7 in SIP-Auth-Data-Item.
const maxMAAAVPs = 20

// fastEncoder builds AVPs into a fixed array; ok turns false on any definition it cannot
// use, and the caller falls back.
type fastEncoder struct {
	d     *dict.Parser
	store *[maxMAAAVPs]diam.AVP
	n     int
	ok    bool
}

// avp returns a new AVP with the definition of (code, vendor), which must be named name and
// have type typ in the dictionary, holding data.
func (e *fastEncoder) avp(code, vendor uint32, name string, typ datatype.TypeID, data datatype.Type) *diam.AVP {
	if !e.ok {
		return nil
	}
	def, err := e.d.FindAVPByCode(AppIDZh, code, vendor)
	if err != nil || def == nil || def.Name != name || def.Data.Type != typ || e.n == len(e.store) {
		e.ok = false
		return nil
	}
	var flags uint8
	if strings.Contains(def.Must, "M") {
		flags |= avp.Mbit
	}
	hdr := 8
	if def.VendorID != 0 {
		flags |= avp.Vbit
		hdr = 12
	}
	a := &e.store[e.n]
	e.n++
	// As diam.NewAVP: Length without padding.
	*a = diam.AVP{Code: def.Code, Flags: flags, VendorID: def.VendorID, Data: data, Length: hdr + data.Len()}
	return a
}

// octets is an OctetString AVP holding a copy of v, or nil when v is nil (absent).
func (e *fastEncoder) octets(code uint32, name string, v []byte) *diam.AVP {
	if v == nil {
		return nil
	}
	// The conversion copies (OctetString is a string type), as the general encoder's
	// bytes.Clone does.
	return e.avp(code, VendorID3GPP, name, datatype.OctetStringType, datatype.OctetString(v))
}

// utf8 is a UTF8String AVP, or nil when v is empty (absent).
func (e *fastEncoder) utf8(code, vendor uint32, name, v string) *diam.AVP {
	if v == "" {
		return nil
	}
	return e.avp(code, vendor, name, datatype.UTF8StringType, datatype.UTF8String(v))
}

func appendAVP(avps []*diam.AVP, a *diam.AVP) []*diam.AVP {
	if a == nil {
		return avps
	}
	return append(avps, a)
}

// messageFast returns the MAA built as message builds it, or nil (see above).
func (a *MAA) messageFast(d *dict.Parser) *diam.Message {
	if d == nil || a.SessionID == "" || a.OriginHost == "" || a.OriginRealm == "" ||
		a.ResultCode == 0 || a.ExperimentalResult != nil || len(a.FailedAVP) > 0 {
		return nil
	}
	e := &fastEncoder{d: d, store: new([maxMAAAVPs]diam.AVP), ok: true}
	avps := make([]*diam.AVP, 0, 11)
	avps = append(avps, e.utf8(avp.SessionID, 0, "Session-Id", a.SessionID))
	v := a.VendorSpecificApplicationID
	if v == (VendorSpecificApplicationID{}) {
		v = VendorSpecificApplicationID{VendorID: VendorID3GPP, AuthApplicationID: AppIDZh}
	}
	vsai := make([]*diam.AVP, 2)
	vsai[0] = e.avp(avp.VendorID, 0, "Vendor-Id", datatype.Unsigned32Type, datatype.Unsigned32(v.VendorID))
	vsai[1] = e.avp(avp.AuthApplicationID, 0, "Auth-Application-Id", datatype.Unsigned32Type, datatype.Unsigned32(v.AuthApplicationID))
	avps = append(avps, e.avp(avp.VendorSpecificApplicationID, 0, "Vendor-Specific-Application-Id", datatype.GroupedType, &diam.GroupedAVP{AVP: vsai}))
	avps = append(avps, e.avp(avp.ResultCode, 0, "Result-Code", datatype.Unsigned32Type, datatype.Unsigned32(a.ResultCode)))
	avps = append(avps, e.avp(avp.AuthSessionState, 0, "Auth-Session-State", datatype.EnumeratedType, datatype.Enumerated(AuthSessionStateNoStateMaintained)))
	avps = append(avps, e.avp(avp.OriginHost, 0, "Origin-Host", datatype.DiameterIdentityType, datatype.DiameterIdentity(a.OriginHost)))
	avps = append(avps, e.avp(avp.OriginRealm, 0, "Origin-Realm", datatype.DiameterIdentityType, datatype.DiameterIdentity(a.OriginRealm)))
	avps = appendAVP(avps, e.utf8(avp.UserName, 0, "User-Name", a.IMPI))
	avps = appendAVP(avps, e.utf8(AVPPublicIdentity, VendorID3GPP, "Public-Identity", a.IMPU))
	if it := a.SIPAuthDataItem; it != nil {
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
	avps = appendAVP(avps, e.octets(AVPGBAUserSecSettings, "GBA-UserSecSettings", a.GUSS))
	if !e.ok {
		return nil
	}
	flags := uint8(diam.ProxiableFlag)
	if a.ResultCode >= 3000 && a.ResultCode < 4000 {
		flags |= diam.ErrorFlag
	}
	m := diam.NewMessage(CmdMultimediaAuth, flags, AppIDZh, a.HopByHopID, a.EndToEndID, d)
	m.AVP = avps
	for _, x := range avps {
		m.Header.MessageLength += uint32(x.Len())
	}
	return m
}
