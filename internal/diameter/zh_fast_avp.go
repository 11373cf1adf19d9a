package diameter

import (
	"strings"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// The AVP walking and encoding shared by the fast Zh paths: the HSS's (decodeMARFast,
// (*MAA).messageFast) and the BSF's (decodeMAAFast, (*MAR).messageFast).

// seen is a bit set of the fields already filled (the first AVP with the code wins).
type seen uint16

func (s *seen) first(bit seen) bool {
	if *s&bit != 0 {
		return false
	}
	*s |= bit
	return true
}

// fill sets *dst to the data of a as read by conv if bit is not yet seen; false: the data is
// not of conv's type.
func fill[T any](s *seen, bit seen, a *diam.AVP, dst *T, conv func(*diam.AVP) (T, bool)) bool {
	if !s.first(bit) {
		return true
	}
	v, ok := conv(a)
	if ok {
		*dst = v
	}
	return ok
}

// str fills dst from a UTF8String or DiameterIdentity AVP (fill).
func (s *seen) str(bit seen, a *diam.AVP, dst *string) bool { return fill(s, bit, a, dst, avpString) }

// u32 fills dst from an Unsigned32 AVP (fill).
func (s *seen) u32(bit seen, a *diam.AVP, dst *uint32) bool {
	return fill(s, bit, a, dst, avpUnsigned32)
}

// octets fills dst with a copy of an OctetString AVP (fill).
func (s *seen) octets(bit seen, a *diam.AVP, dst *[]byte) bool {
	return fill(s, bit, a, dst, avpOctets)
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

// walkFast calls visit for each AVP of avps that is read as its code (vendorMatches,
// RFC 6733 §4.1); false when an AVP or its data is nil or visit reports false.
func walkFast(avps []*diam.AVP, visit func(*diam.AVP) bool) bool {
	for _, a := range avps {
		if a == nil || a.Data == nil {
			return false
		}
		if vendorMatches(a) && !visit(a) {
			return false
		}
	}
	return true
}

// decodeUnsigned32PairFast reads a grouped AVP of two Unsigned32 members, code1 into dst1
// and code2 into dst2 (the first of each wins).
func decodeUnsigned32PairFast(a *diam.AVP, code1 uint32, dst1 *uint32, code2 uint32, dst2 *uint32) bool {
	g, ok := a.Data.(*diam.GroupedAVP)
	if !ok {
		return false
	}
	var s seen
	return walkFast(g.AVP, func(m *diam.AVP) bool {
		switch m.Code {
		case code1:
			return s.u32(1, m, dst1)
		case code2:
			return s.u32(2, m, dst2)
		}
		return true
	})
}

// decodeVSAIFast reads Vendor-Specific-Application-Id (RFC 6733 §6.11).
func decodeVSAIFast(a *diam.AVP, v *VendorSpecificApplicationID) bool {
	return decodeUnsigned32PairFast(a, avp.VendorID, &v.VendorID, avp.AuthApplicationID, &v.AuthApplicationID)
}

// decodeSIPAuthDataItemFast reads SIP-Auth-Data-Item (TS 29.229 §6.3.13) into a new item
// stored in *dst.
func decodeSIPAuthDataItemFast(a *diam.AVP, dst **SIPAuthDataItem) bool {
	g, ok := a.Data.(*diam.GroupedAVP)
	if !ok {
		return false
	}
	it := &SIPAuthDataItem{}
	var s seen
	ok = walkFast(g.AVP, func(m *diam.AVP) bool {
		switch m.Code {
		case AVPSIPItemNumber:
			if !s.first(1) {
				return true
			}
			n, ok := avpUnsigned32(m)
			if ok {
				it.ItemNumber = &n
			}
			return ok
		case AVPSIPAuthenticationScheme:
			if !s.first(2) {
				return true
			}
			v, ok := m.Data.(datatype.UTF8String)
			if ok {
				it.AuthenticationScheme = string(v)
			}
			return ok
		case AVPSIPAuthenticate:
			return s.octets(4, m, &it.Authenticate)
		case AVPSIPAuthorization:
			return s.octets(8, m, (*[]byte)(&it.Authorization))
		case AVPSIPAuthenticationContext:
			return s.octets(16, m, &it.AuthenticationContext)
		case AVPConfidentialityKey:
			return s.octets(32, m, (*[]byte)(&it.CK))
		case AVPIntegrityKey:
			return s.octets(64, m, (*[]byte)(&it.IK))
		}
		return true
	})
	if ok {
		*dst = it
	}
	return ok
}

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

func newFastEncoder(d *dict.Parser) *fastEncoder {
	return &fastEncoder{d: d, store: new([maxMAAAVPs]diam.AVP), ok: true}
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

// identity is a DiameterIdentity AVP.
func (e *fastEncoder) identity(code uint32, name, v string) *diam.AVP {
	return e.avp(code, 0, name, datatype.DiameterIdentityType, datatype.DiameterIdentity(v))
}

func appendAVP(avps []*diam.AVP, a *diam.AVP) []*diam.AVP {
	if a == nil {
		return avps
	}
	return append(avps, a)
}

// head is the start of a Zh message: Session-Id and Vendor-Specific-Application-Id
// (3GPP/Zh when v is zero), TS 29.109 §6.1.
func (e *fastEncoder) head(sessionID string, v VendorSpecificApplicationID) []*diam.AVP {
	avps := make([]*diam.AVP, 0, 11)
	avps = append(avps, e.utf8(avp.SessionID, 0, "Session-Id", sessionID))
	if v == (VendorSpecificApplicationID{}) {
		v = VendorSpecificApplicationID{VendorID: VendorID3GPP, AuthApplicationID: AppIDZh}
	}
	vsai := make([]*diam.AVP, 2)
	vsai[0] = e.avp(avp.VendorID, 0, "Vendor-Id", datatype.Unsigned32Type, datatype.Unsigned32(v.VendorID))
	vsai[1] = e.avp(avp.AuthApplicationID, 0, "Auth-Application-Id", datatype.Unsigned32Type, datatype.Unsigned32(v.AuthApplicationID))
	return append(avps, e.avp(avp.VendorSpecificApplicationID, 0, "Vendor-Specific-Application-Id", datatype.GroupedType, &diam.GroupedAVP{AVP: vsai}))
}

// origin appends Auth-Session-State (NO_STATE_MAINTAINED), Origin-Host and Origin-Realm.
func (e *fastEncoder) origin(avps []*diam.AVP, host, realm string) []*diam.AVP {
	avps = append(avps, e.avp(avp.AuthSessionState, 0, "Auth-Session-State", datatype.EnumeratedType, datatype.Enumerated(AuthSessionStateNoStateMaintained)))
	avps = append(avps, e.identity(avp.OriginHost, "Origin-Host", host))
	return append(avps, e.identity(avp.OriginRealm, "Origin-Realm", realm))
}

// user appends User-Name, Public-Identity and SIP-Auth-Data-Item (TS 29.229 §6.3.13), each
// when present.
func (e *fastEncoder) user(avps []*diam.AVP, impi, impu string, it *SIPAuthDataItem) []*diam.AVP {
	avps = appendAVP(avps, e.utf8(avp.UserName, 0, "User-Name", impi))
	avps = appendAVP(avps, e.utf8(AVPPublicIdentity, VendorID3GPP, "Public-Identity", impu))
	if it == nil {
		return avps
	}
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
	return append(avps, e.avp(AVPSIPAuthDataItem, VendorID3GPP, "SIP-Auth-Data-Item", datatype.GroupedType, &diam.GroupedAVP{AVP: members}))
}

// message is the Multimedia-Auth message holding avps, or nil when a definition was not
// usable.
func (e *fastEncoder) message(flags uint8, ids HeaderIDs, avps []*diam.AVP) *diam.Message {
	if !e.ok {
		return nil
	}
	m := diam.NewMessage(CmdMultimediaAuth, flags, AppIDZh, ids.HopByHopID, ids.EndToEndID, e.d)
	m.AVP = avps
	for _, x := range avps {
		m.Header.MessageLength += uint32(x.Len())
	}
	return m
}
