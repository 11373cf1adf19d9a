package diameter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// The Zh frame path: MAR and MAA read from and written to wire octets without building a
// go-diameter message (RFC 6733 §3 header, RFC 6733 §4.1 AVPs). It gives exactly what the
// go-diameter path gives:
//
//   - DecodeMARFrame / DecodeMAAFrame equal (reflect.DeepEqual) DecodeMAR / DecodeMAA of
//     go-diameter's decode of the frame (Validator.Decode), for every frame a Validator for
//     AppIDZh built from the same dictionary accepts, errors agreeing in kind;
//   - (*MAR).AppendFrame / (*MAA).AppendFrame append exactly the octets of Message followed
//     by (*diam.Message).Serialize (with the Message Length of the octets, as peer.Client.Do
//     sends them).
//
// Whatever the byte path cannot be sure to read or write exactly as the go-diameter path
// does (a dictionary whose definitions differ from TS 29.109 §6.3 / RFC 6733, a frame that
// is not an MAR or MAA, an AVP that does not fit its container, a fixed-size AVP of another
// length, a Failed-AVP, a struct that Message would reject, ...) takes the go-diameter path
// itself, so the results still agree.

// zhDef names one AVP definition the frame path reads or writes.
type zhDef uint8

const (
	zdSessionID zhDef = iota
	zdVSAI
	zdVendorID
	zdAuthApplicationID
	zdAuthSessionState
	zdOriginHost
	zdOriginRealm
	zdDestinationRealm
	zdDestinationHost
	zdUserName
	zdPublicIdentity
	zdSIPAuthDataItem
	zdSIPItemNumber
	zdSIPAuthenticationScheme
	zdSIPAuthenticate
	zdSIPAuthorization
	zdSIPAuthenticationContext
	zdConfidentialityKey
	zdIntegrityKey
	zdGUSSTimestamp
	zdResultCode
	zdExperimentalResult
	zdExperimentalResultCode
	zdGBAUserSecSettings
	zhNumDefs
)

// zhDefSpecs is what the frame path assumes of each definition: RFC 6733 §4.5 and §7 for the
// base AVPs, TS 29.109 §6.3 Table 6.3.1 and TS 29.229 §6.3 for the 3GPP ones. A dictionary
// that defines one otherwise makes the frame path fall back wherever it is used.
var zhDefSpecs = [zhNumDefs]struct {
	code, vendor uint32
	name         string
	typ          datatype.TypeID
}{
	zdSessionID:                {avp.SessionID, 0, "Session-Id", datatype.UTF8StringType},
	zdVSAI:                     {avp.VendorSpecificApplicationID, 0, "Vendor-Specific-Application-Id", datatype.GroupedType},
	zdVendorID:                 {avp.VendorID, 0, "Vendor-Id", datatype.Unsigned32Type},
	zdAuthApplicationID:        {avp.AuthApplicationID, 0, "Auth-Application-Id", datatype.Unsigned32Type},
	zdAuthSessionState:         {avp.AuthSessionState, 0, "Auth-Session-State", datatype.EnumeratedType},
	zdOriginHost:               {avp.OriginHost, 0, "Origin-Host", datatype.DiameterIdentityType},
	zdOriginRealm:              {avp.OriginRealm, 0, "Origin-Realm", datatype.DiameterIdentityType},
	zdDestinationRealm:         {avp.DestinationRealm, 0, "Destination-Realm", datatype.DiameterIdentityType},
	zdDestinationHost:          {avp.DestinationHost, 0, "Destination-Host", datatype.DiameterIdentityType},
	zdUserName:                 {avp.UserName, 0, "User-Name", datatype.UTF8StringType},
	zdPublicIdentity:           {AVPPublicIdentity, VendorID3GPP, "Public-Identity", datatype.UTF8StringType},
	zdSIPAuthDataItem:          {AVPSIPAuthDataItem, VendorID3GPP, "SIP-Auth-Data-Item", datatype.GroupedType},
	zdSIPItemNumber:            {AVPSIPItemNumber, VendorID3GPP, "SIP-Item-Number", datatype.Unsigned32Type},
	zdSIPAuthenticationScheme:  {AVPSIPAuthenticationScheme, VendorID3GPP, "SIP-Authentication-Scheme", datatype.UTF8StringType},
	zdSIPAuthenticate:          {AVPSIPAuthenticate, VendorID3GPP, "SIP-Authenticate", datatype.OctetStringType},
	zdSIPAuthorization:         {AVPSIPAuthorization, VendorID3GPP, "SIP-Authorization", datatype.OctetStringType},
	zdSIPAuthenticationContext: {AVPSIPAuthenticationContext, VendorID3GPP, "SIP-Authentication-Context", datatype.OctetStringType},
	zdConfidentialityKey:       {AVPConfidentialityKey, VendorID3GPP, "Confidentiality-Key", datatype.OctetStringType},
	zdIntegrityKey:             {AVPIntegrityKey, VendorID3GPP, "Integrity-Key", datatype.OctetStringType},
	zdGUSSTimestamp:            {AVPGUSSTimestamp, VendorID3GPP, "GUSS-Timestamp", datatype.TimeType},
	zdResultCode:               {avp.ResultCode, 0, "Result-Code", datatype.Unsigned32Type},
	zdExperimentalResult:       {avp.ExperimentalResult, 0, "Experimental-Result", datatype.GroupedType},
	zdExperimentalResultCode:   {avp.ExperimentalResultCode, 0, "Experimental-Result-Code", datatype.Unsigned32Type},
	zdGBAUserSecSettings:       {AVPGBAUserSecSettings, VendorID3GPP, "GBA-UserSecSettings", datatype.OctetStringType},
}

// States of a definition in ZhFrameCodec.state.
const (
	zsCodeDone uint8 = 1 << iota // the by-code lookup ran
	zsCodeOK                     // FindAVPByCode gives the definition of zhDefSpecs
	zsNameDone                   // the by-name lookup ran
	zsNameOK                     // FindAVP by name gives the same code, vendor, type and M bit
)

// States of the Multimedia-Auth command in ZhFrameCodec.cmd.
const (
	zcDone uint8 = 1 << iota
	zcRequestOK
	zcAnswerOK
)

// ZhFrameCodec reads and writes the Zh MAR and MAA (TS 29.109 §6.1.1, §6.1.2) as wire
// octets with the definitions of one dictionary, which it resolves once: build it with
// NewZhFrameCodec from the dictionary the Validator and the peers use and keep it. It is
// immutable after NewZhFrameCodec and safe for concurrent use (the zero value has no
// dictionary: every call takes go-diameter's path and fails). DecodeMARFrame,
// DecodeMAAFrame and the AppendFrame methods do the same work with a codec of their own,
// resolving on each call only the definitions that call needs.
type ZhFrameCodec struct {
	d     *dict.Parser
	cmd   uint8
	state [zhNumDefs]uint8
	flags [zhNumDefs]uint8 // AVP flags as the encoders set them: V with a Vendor-ID, M when must="M"
}

// NewZhFrameCodec resolves the MAR and MAA definitions of d (normally NewDictionary()).
// A dictionary whose definitions differ from TS 29.109 §6.3 makes the codec take the
// go-diameter path for what they concern; the results are the same either way. The only
// error is a nil dictionary.
func NewZhFrameCodec(d *dict.Parser) (*ZhFrameCodec, error) {
	if d == nil {
		return nil, errors.New("diameter: Zh frame codec: nil dictionary")
	}
	c := &ZhFrameCodec{d: d}
	c.command()
	for i := range zhNumDefs {
		c.byName(i)
	}
	return c, nil
}

// byCode reports whether the definition go-diameter finds for def's code and vendor
// (FindAVPByCode in application Zh, as its decoder looks it up) is def's.
// On a codec from NewZhFrameCodec it only reads.
func (c *ZhFrameCodec) byCode(def zhDef) bool {
	if c.d == nil {
		return false // the zero codec: go-diameter's path reports the missing dictionary
	}
	s := c.state[def]
	if s&zsCodeDone == 0 {
		s |= zsCodeDone
		sp := &zhDefSpecs[def]
		da, err := c.d.FindAVPByCode(AppIDZh, sp.code, sp.vendor)
		if err == nil && da != nil && da.Code == sp.code && da.VendorID == sp.vendor &&
			da.Name == sp.name && da.Data.Type == sp.typ {
			s |= zsCodeOK
			c.flags[def] = defFlags(da)
		}
		c.state[def] = s
	}
	return s&zsCodeOK != 0
}

// byName reports byCode and whether the encoder's lookup by name (FindAVP) gives a
// definition with the same code, vendor, type and flags. On a codec from NewZhFrameCodec
// it only reads.
func (c *ZhFrameCodec) byName(def zhDef) bool {
	if !c.byCode(def) {
		return false
	}
	s := c.state[def]
	if s&zsNameDone == 0 {
		s |= zsNameDone
		sp := &zhDefSpecs[def]
		da, err := c.d.FindAVP(AppIDZh, sp.name)
		if err == nil && da != nil && da.Code == sp.code && da.VendorID == sp.vendor &&
			da.Data.Type == sp.typ && defFlags(da) == c.flags[def] {
			s |= zsNameOK
		}
		c.state[def] = s
	}
	return s&zsNameOK != 0
}

// defFlags are the AVP flags the encoder (Message) gives an AVP of definition
// da: V when it has a Vendor-ID, M when its must flags hold M (RFC 6733 §4.1).
func defFlags(da *dict.AVP) uint8 {
	var f uint8
	if strings.Contains(da.Must, "M") {
		f |= avpFlagMandatory
	}
	if da.VendorID != 0 {
		f |= avpFlagVendor
	}
	return f
}

// command reports the Multimedia-Auth command of application Zh in the dictionary, with
// the rule counts go-diameter's decoder needs (it refuses a command without rules).
func (c *ZhFrameCodec) command() uint8 {
	if c.d == nil {
		return 0
	}
	if c.cmd&zcDone == 0 {
		s := zcDone
		if cmd, err := c.d.FindCommand(AppIDZh, CmdMultimediaAuth); err == nil && cmd != nil {
			if len(cmd.Request.Rule) > 0 {
				s |= zcRequestOK
			}
			if len(cmd.Answer.Rule) > 0 {
				s |= zcAnswerOK
			}
		}
		c.cmd = s
	}
	return c.cmd
}

// --- decoding ---

// nextAVP splits the first AVP off b, RFC 6733 §4.1: code, Vendor-ID (0 without the V
// bit), data, and what follows its padding. ok is false when the header, the data or the
// padding does not fit in b.
func nextAVP(b []byte) (code, vendor uint32, data, rest []byte, ok bool) {
	if len(b) < 8 {
		return 0, 0, nil, nil, false
	}
	code = binary.BigEndian.Uint32(b[0:4])
	length := int(uint24(b[5:8]))
	hdr := 8
	if b[4]&avpFlagVendor != 0 {
		if len(b) < 12 {
			return 0, 0, nil, nil, false
		}
		vendor = binary.BigEndian.Uint32(b[8:12])
		hdr = 12
	}
	if length < hdr || pad4(length) > len(b) {
		return 0, 0, nil, nil, false
	}
	return code, vendor, b[hdr:length], b[pad4(length):], true
}

// zhView is what a frame walk found: for each definition the data of its first AVP (the
// first AVP of a code with the Vendor-ID the code has wins, as go-diameter's Unmarshal in
// DecodeMAR and DecodeMAA reads them), aliasing the frame; nil is absent. Members of the groups read into
// uint32s are kept decoded.
type zhView struct {
	seen   uint32 // bit i: definition i was seen
	fields [zhNumDefs][]byte
	vsai   VendorSpecificApplicationID
	exp    ExperimentalResult
}

func (v *zhView) first(def zhDef) bool {
	bit := uint32(1) << def
	if v.seen&bit != 0 {
		return false
	}
	v.seen |= bit
	return true
}

// defMask is the set of definitions ds.
func defMask(ds ...zhDef) uint32 {
	var m uint32
	for _, d := range ds {
		m |= 1 << d
	}
	return m
}

// The top-level AVPs each command's decoder reads (DecodeMAR, DecodeMAA), TS 29.109
// §6.1.1 and §6.1.2, and the members of
// SIP-Auth-Data-Item, TS 29.229 §6.3.13.
var (
	marTopDefs = defMask(zdSessionID, zdVSAI, zdOriginHost, zdOriginRealm, zdDestinationRealm,
		zdDestinationHost, zdUserName, zdPublicIdentity, zdSIPAuthDataItem, zdGUSSTimestamp)
	maaTopDefs = defMask(zdSessionID, zdVSAI, zdResultCode, zdExperimentalResult, zdOriginHost,
		zdOriginRealm, zdUserName, zdPublicIdentity, zdSIPAuthDataItem, zdGBAUserSecSettings)
	itemDefs = defMask(zdSIPItemNumber, zdSIPAuthenticationScheme, zdSIPAuthenticate,
		zdSIPAuthorization, zdSIPAuthenticationContext, zdConfidentialityKey, zdIntegrityKey)
)

// defOf returns the definition that an AVP of this code and Vendor-ID is read as: only the
// Vendor-ID the code has counts (RFC 6733 §4.1; DM.5 in specs/decisions.md).
func defOf(code, vendor uint32) (zhDef, bool) {
	var def zhDef
	switch code {
	case avp.SessionID:
		def = zdSessionID
	case avp.VendorSpecificApplicationID:
		def = zdVSAI
	case avp.VendorID:
		def = zdVendorID
	case avp.AuthApplicationID:
		def = zdAuthApplicationID
	case avp.AuthSessionState:
		def = zdAuthSessionState
	case avp.OriginHost:
		def = zdOriginHost
	case avp.OriginRealm:
		def = zdOriginRealm
	case avp.DestinationRealm:
		def = zdDestinationRealm
	case avp.DestinationHost:
		def = zdDestinationHost
	case avp.UserName:
		def = zdUserName
	case AVPPublicIdentity:
		def = zdPublicIdentity
	case AVPSIPAuthDataItem:
		def = zdSIPAuthDataItem
	case AVPSIPItemNumber:
		def = zdSIPItemNumber
	case AVPSIPAuthenticationScheme:
		def = zdSIPAuthenticationScheme
	case AVPSIPAuthenticate:
		def = zdSIPAuthenticate
	case AVPSIPAuthorization:
		def = zdSIPAuthorization
	case AVPSIPAuthenticationContext:
		def = zdSIPAuthenticationContext
	case AVPConfidentialityKey:
		def = zdConfidentialityKey
	case AVPIntegrityKey:
		def = zdIntegrityKey
	case AVPGUSSTimestamp:
		def = zdGUSSTimestamp
	case avp.ResultCode:
		def = zdResultCode
	case avp.ExperimentalResult:
		def = zdExperimentalResult
	case avp.ExperimentalResultCode:
		def = zdExperimentalResultCode
	case AVPGBAUserSecSettings:
		def = zdGBAUserSecSettings
	default:
		return 0, false
	}
	return def, vendor == zhDefSpecs[def].vendor
}

// fixedLen is the data length of the fixed-size types the frame path reads (Unsigned32,
// Enumerated, Time: RFC 6733 §4.2, §4.3.1), or -1.
func fixedLen(def zhDef) int {
	switch zhDefSpecs[def].typ {
	case datatype.Unsigned32Type, datatype.EnumeratedType, datatype.TimeType:
		return 4
	}
	return -1
}

// walk reads the AVPs of b (a message body or the data of a Grouped AVP, RFC 6733 §4.4)
// whose definitions are in want into v, descending into the first
// Vendor-Specific-Application-Id, Experimental-Result and SIP-Auth-Data-Item. It reports
// false on anything the go-diameter path might read otherwise: an AVP that does not fit in
// b with its padding, a definition of the dictionary that is not the one assumed, a
// fixed-size AVP of another length, a top-level Failed-AVP in an answer.
func (c *ZhFrameCodec) walk(b []byte, want uint32, v *zhView) bool {
	for len(b) > 0 {
		code, vendor, data, rest, ok := nextAVP(b)
		if !ok {
			return false
		}
		b = rest
		if code == avp.FailedAVP && want == maaTopDefs {
			return false // DecodeMAA reads it into []*diam.AVP: go-diameter's path
		}
		def, ok := defOf(code, vendor)
		if !ok || want&(1<<def) == 0 {
			continue
		}
		if !c.byCode(def) {
			return false
		}
		if n := fixedLen(def); n >= 0 && len(data) != n {
			return false
		}
		if !v.first(def) {
			continue
		}
		v.fields[def] = data
		switch def {
		case zdVSAI:
			ok = c.walkPair(data, zdAuthApplicationID, &v.vsai.VendorID, &v.vsai.AuthApplicationID)
		case zdExperimentalResult:
			ok = c.walkPair(data, zdExperimentalResultCode, &v.exp.VendorID, &v.exp.ExperimentalResultCode)
		case zdSIPAuthDataItem:
			ok = c.walk(data, itemDefs, v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// walkPair reads a Grouped AVP of Vendor-Id and another Unsigned32 member (second):
// Vendor-Specific-Application-Id (RFC 6733 §6.11) or Experimental-Result (RFC 6733 §7.6),
// the first of each member winning, as Unmarshal reads them.
func (c *ZhFrameCodec) walkPair(b []byte, second zhDef, vendorID, dst *uint32) bool {
	var seenVendor, seenSecond bool
	for len(b) > 0 {
		code, vendor, data, rest, ok := nextAVP(b)
		if !ok {
			return false
		}
		b = rest
		def, ok := defOf(code, vendor)
		if !ok || (def != zdVendorID && def != second) {
			continue
		}
		if !c.byCode(def) || len(data) != 4 {
			return false
		}
		switch {
		case def == zdVendorID && !seenVendor:
			seenVendor = true
			*vendorID = binary.BigEndian.Uint32(data)
		case def == second && !seenSecond:
			seenSecond = true
			*dst = binary.BigEndian.Uint32(data)
		}
	}
	return true
}

// head reports whether frame is a Multimedia-Auth request (request true) or answer of
// application Zh, TS 29.109 §6.1, whose Message Length is its size (RFC 6733 §3), with a
// dictionary that go-diameter decodes it with.
func (c *ZhFrameCodec) head(frame []byte, request bool) bool {
	if len(frame) < headerLen || int(uint24(frame[1:4])) != len(frame) ||
		uint24(frame[5:8]) != CmdMultimediaAuth || binary.BigEndian.Uint32(frame[8:12]) != AppIDZh ||
		(frame[4]&flagRequest != 0) != request {
		return false
	}
	want := zcAnswerOK
	if request {
		want = zcRequestOK
	}
	return c.command()&want != 0
}

func frameIDs(frame []byte) HeaderIDs {
	return HeaderIDs{HopByHopID: binary.BigEndian.Uint32(frame[12:16]), EndToEndID: binary.BigEndian.Uint32(frame[16:20])}
}

// viewStrings copies the string fields of a view into one allocation.
type viewStrings struct {
	s   string
	off int
}

func newViewStrings(v *zhView, defs ...zhDef) viewStrings {
	n := 0
	for _, d := range defs {
		n += len(v.fields[d])
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, d := range defs {
		sb.Write(v.fields[d])
	}
	return viewStrings{s: sb.String()}
}

// next returns the next string, in the order of newViewStrings's defs.
func (vs *viewStrings) next(p []byte) string {
	s := vs.s[vs.off : vs.off+len(p)]
	vs.off += len(p)
	return s
}

// viewOctets copies the OctetString fields of a view into one allocation; each field gets
// its own capacity, so that appending to one never writes into another.
type viewOctets struct {
	b   []byte
	off int
}

func newViewOctets(v *zhView, defs ...zhDef) viewOctets {
	n := 0
	for _, d := range defs {
		n += len(v.fields[d])
	}
	return viewOctets{b: make([]byte, n)}
}

// next returns a copy of p (nil for an absent field, non-nil for an empty one, as
// go-diameter's OctetString converts), in the order of newViewOctets's defs.
func (vo *viewOctets) next(p []byte) []byte {
	if p == nil {
		return nil
	}
	end := vo.off + copy(vo.b[vo.off:], p)
	s := vo.b[vo.off:end:end]
	vo.off = end
	return s
}

// item builds the SIP-Auth-Data-Item of v in it (TS 29.229 §6.3.13), SIP-Item-Number in *n.
func (v *zhView) item(it *SIPAuthDataItem, n *uint32, strs *viewStrings, octs *viewOctets) {
	if p := v.fields[zdSIPItemNumber]; p != nil {
		*n = binary.BigEndian.Uint32(p)
		it.ItemNumber = n
	}
	it.AuthenticationScheme = strs.next(v.fields[zdSIPAuthenticationScheme])
	it.Authenticate = octs.next(v.fields[zdSIPAuthenticate])
	it.Authorization = octs.next(v.fields[zdSIPAuthorization])
	it.AuthenticationContext = octs.next(v.fields[zdSIPAuthenticationContext])
	it.CK = octs.next(v.fields[zdConfidentialityKey])
	it.IK = octs.next(v.fields[zdIntegrityKey])
}

// The decoded message, its SIP-Auth-Data-Item and SIP-Item-Number in one allocation.
type (
	marBlock struct {
		r  MAR
		it SIPAuthDataItem
		n  uint32
	}
	maaBlock struct {
		a  MAA
		it SIPAuthDataItem
		er ExperimentalResult
		n  uint32
	}
)

// DecodeMARFrame returns the MAR in frame, TS 29.109 §6.1.1, read from the octets with the
// definitions of d: exactly (reflect.DeepEqual) what DecodeMAR gives for go-diameter's
// decode of frame, and an error exactly when that path gives one.
//
// Precondition: frame was accepted by a Validator built from d that serves AppIDZh (see
// Validate). The octets are walked as RFC 6733 §4.1 and §4.4 frame them; what the walk
// cannot be sure to read as go-diameter does is decoded by go-diameter (diam.ReadMessage,
// a panic recovered as in Validator.Decode) and DecodeMAR. On a frame no such Validator
// accepts, the result may differ from go-diameter's, but DecodeMARFrame never panics.
//
// The strings share one allocation, the octets another. Callers that decode many frames
// keep a ZhFrameCodec and call its DecodeMAR.
func DecodeMARFrame(frame []byte, d *dict.Parser) (*MAR, error) {
	c := ZhFrameCodec{d: d}
	return c.DecodeMAR(frame)
}

// DecodeMAR is DecodeMARFrame with the codec's dictionary.
func (c *ZhFrameCodec) DecodeMAR(frame []byte) (*MAR, error) {
	var v zhView
	if !c.head(frame, true) || !c.walk(frame[headerLen:], marTopDefs, &v) {
		m, err := zhFrameMessage(frame, c.d)
		if err != nil {
			return nil, err
		}
		return DecodeMAR(m)
	}
	blk := new(marBlock)
	r := &blk.r
	r.HeaderIDs = frameIDs(frame)
	strs := newViewStrings(&v, zdSessionID, zdOriginHost, zdOriginRealm, zdDestinationRealm,
		zdDestinationHost, zdUserName, zdPublicIdentity, zdSIPAuthenticationScheme)
	r.SessionID = strs.next(v.fields[zdSessionID])
	r.VendorSpecificApplicationID = v.vsai
	r.OriginHost = strs.next(v.fields[zdOriginHost])
	r.OriginRealm = strs.next(v.fields[zdOriginRealm])
	r.DestinationRealm = strs.next(v.fields[zdDestinationRealm])
	r.DestinationHost = strs.next(v.fields[zdDestinationHost])
	r.IMPI = strs.next(v.fields[zdUserName])
	r.IMPU = strs.next(v.fields[zdPublicIdentity])
	if v.fields[zdSIPAuthDataItem] != nil {
		octs := newViewOctets(&v, zdSIPAuthenticate, zdSIPAuthorization, zdSIPAuthenticationContext,
			zdConfidentialityKey, zdIntegrityKey)
		v.item(&blk.it, &blk.n, &strs, &octs)
		r.SIPAuthDataItem = &blk.it
	}
	if p := v.fields[zdGUSSTimestamp]; p != nil {
		// RFC 6733 §4.3.1: what go-diameter's Time and timeAVP make of the four octets.
		r.GUSSTimestamp = TimeFromDiameter(binary.BigEndian.Uint32(p))
	}
	return r, nil
}

// DecodeMAAFrame returns the MAA in frame, TS 29.109 §6.1.2, read from the octets with the
// definitions of d: exactly (reflect.DeepEqual) what DecodeMAA gives for go-diameter's
// decode of frame, and an error exactly when that path gives one. A frame with a
// Failed-AVP (RFC 6733 §7.5, held as []*diam.AVP) is decoded by go-diameter.
//
// Precondition and fallback as for DecodeMARFrame. Callers that decode many frames keep a
// ZhFrameCodec and call its DecodeMAA.
func DecodeMAAFrame(frame []byte, d *dict.Parser) (*MAA, error) {
	c := ZhFrameCodec{d: d}
	return c.DecodeMAA(frame)
}

// DecodeMAA is DecodeMAAFrame with the codec's dictionary.
func (c *ZhFrameCodec) DecodeMAA(frame []byte) (*MAA, error) {
	var v zhView
	if !c.head(frame, false) || !c.walk(frame[headerLen:], maaTopDefs, &v) {
		m, err := zhFrameMessage(frame, c.d)
		if err != nil {
			return nil, err
		}
		return DecodeMAA(m)
	}
	blk := new(maaBlock)
	a := &blk.a
	a.HeaderIDs = frameIDs(frame)
	strs := newViewStrings(&v, zdSessionID, zdOriginHost, zdOriginRealm, zdUserName,
		zdPublicIdentity, zdSIPAuthenticationScheme)
	octs := newViewOctets(&v, zdSIPAuthenticate, zdSIPAuthorization, zdSIPAuthenticationContext,
		zdConfidentialityKey, zdIntegrityKey, zdGBAUserSecSettings)
	a.SessionID = strs.next(v.fields[zdSessionID])
	a.VendorSpecificApplicationID = v.vsai
	if p := v.fields[zdResultCode]; p != nil {
		a.ResultCode = binary.BigEndian.Uint32(p)
	}
	if v.fields[zdExperimentalResult] != nil {
		blk.er = v.exp
		a.ExperimentalResult = &blk.er
	}
	a.OriginHost = strs.next(v.fields[zdOriginHost])
	a.OriginRealm = strs.next(v.fields[zdOriginRealm])
	a.IMPI = strs.next(v.fields[zdUserName])
	a.IMPU = strs.next(v.fields[zdPublicIdentity])
	if v.fields[zdSIPAuthDataItem] != nil {
		v.item(&blk.it, &blk.n, &strs, &octs)
		a.SIPAuthDataItem = &blk.it
	}
	a.GUSS = octs.next(v.fields[zdGBAUserSecSettings])
	return a, nil
}

// zhFrameMessage is the go-diameter path's decode of frame, as Validator.Decode does it.
func zhFrameMessage(frame []byte, d *dict.Parser) (*diam.Message, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: nil dictionary", ErrDecode)
	}
	// RFC 6733 §3: go-diameter reads Message Length octets whatever the frame holds (a
	// Validator never accepts another length): refuse rather than let it allocate them.
	if len(frame) < headerLen || int(uint24(frame[1:4])) != len(frame) {
		return nil, fmt.Errorf("%w: not one frame of its Message Length (%d octets)", ErrDecode, len(frame))
	}
	return readMessage(bytes.NewReader(frame), d)
}

// --- encoding ---

// AppendFrame appends the MAR in wire form (RFC 6733 §3 header: R and P flags, command
// 303, application 16777221, TS 29.109 §6.1.1; the AVPs as in Message) to b and returns
// the extended slice: exactly the octets of Message(d) serialized
// ((*diam.Message).Serialize, with the Message Length of the octets as the peer layer
// sends them), and an error exactly when Message gives one (b is then returned as it was).
// As in diam.NewMessage, a zero Hop-by-Hop or End-to-End Identifier is replaced by a
// random one. Callers that encode many messages keep a ZhFrameCodec and call AppendMAR.
func (r *MAR) AppendFrame(b []byte, d *dict.Parser) ([]byte, error) {
	c := ZhFrameCodec{d: d}
	return c.AppendMAR(b, r)
}

// AppendFrame appends the MAA in wire form (RFC 6733 §3 header: P flag, E for a 3xxx
// Result-Code (RFC 6733 §7.1.3), command 303, application 16777221, TS 29.109 §6.1.2; the
// AVPs as in Message) to b and returns the extended slice, as (*MAR).AppendFrame does:
// exactly the octets of Message(d) serialized, errors exactly when Message gives one. An
// MAA with a Failed-AVP is built by Message. Callers that encode many messages keep a
// ZhFrameCodec and call AppendMAA.
func (a *MAA) AppendFrame(b []byte, d *dict.Parser) ([]byte, error) {
	c := ZhFrameCodec{d: d}
	return c.AppendMAA(b, a)
}

// AppendMAR is (*MAR).AppendFrame with the codec's dictionary.
func (c *ZhFrameCodec) AppendMAR(b []byte, r *MAR) ([]byte, error) {
	if r == nil {
		return b, errors.New("diameter: MAR: nil message")
	}
	if out, ok := c.appendMARDirect(b, r); ok {
		return out, nil
	}
	return appendMessage(b, r, c.d)
}

// appendMARDirect appends r as Message builds it, or reports false where the codec leaves it
// to Message (a missing required field, a GUSS-Timestamp outside the Diameter time window, a
// definition of the dictionary that is not the one assumed, by code or by name): Message
// then builds it or reports the error.
func (c *ZhFrameCodec) appendMARDirect(b []byte, r *MAR) ([]byte, bool) {
	if r.SessionID == "" || r.OriginHost == "" || r.OriginRealm == "" || r.DestinationRealm == "" ||
		!c.headUsable() || !c.byName(zdDestinationRealm) ||
		(r.DestinationHost != "" && !c.byName(zdDestinationHost)) ||
		!c.userUsable(r.IMPI, r.IMPU, r.SIPAuthDataItem) {
		return b, false
	}
	var ts uint32
	if !r.GUSSTimestamp.IsZero() {
		v, err := TimeToDiameter(r.GUSSTimestamp)
		if err != nil || !c.byName(zdGUSSTimestamp) {
			return b, false
		}
		ts = v
	}
	b = slices.Grow(b, frameBound(r.SessionID, r.OriginHost, r.OriginRealm, r.DestinationRealm,
		r.DestinationHost, r.IMPI, r.IMPU)+itemBound(r.SIPAuthDataItem))
	start := len(b)
	b = appendFrameHeader(b, flagRequest|flagProxiable, r.HeaderIDs)
	b = c.appendHead(b, r.SessionID, r.VendorSpecificApplicationID)
	b = c.appendOrigin(b, r.OriginHost, r.OriginRealm)
	b = c.appendString(b, zdDestinationRealm, r.DestinationRealm)
	if r.DestinationHost != "" {
		b = c.appendString(b, zdDestinationHost, r.DestinationHost)
	}
	b = c.appendUser(b, r.IMPI, r.IMPU, r.SIPAuthDataItem)
	if !r.GUSSTimestamp.IsZero() {
		// RFC 6733 §4.3.1: what datatype.Time(TimeFromDiameter(ts)) serializes to.
		b = c.appendUnsigned32(b, zdGUSSTimestamp, ts)
	}
	putUint24(b[start+1:start+4], uint32(len(b)-start))
	return b, true
}

// AppendMAA is (*MAA).AppendFrame with the codec's dictionary.
func (c *ZhFrameCodec) AppendMAA(b []byte, a *MAA) ([]byte, error) {
	if a == nil {
		return b, errors.New("diameter: MAA: nil message")
	}
	if out, ok := c.appendMAADirect(b, a); ok {
		return out, nil
	}
	return appendMessage(b, a, c.d)
}

// appendMAADirect appends a as Message builds it, or reports false where the codec leaves it
// to Message (see maaDirect).
func (c *ZhFrameCodec) appendMAADirect(b []byte, a *MAA) ([]byte, bool) {
	experimental, ok := c.maaDirect(a)
	if !ok {
		return b, false
	}
	b = slices.Grow(b, frameBound(a.SessionID, a.OriginHost, a.OriginRealm, a.IMPI, a.IMPU)+
		itemBound(a.SIPAuthDataItem)+len(a.GUSS))
	start := len(b)
	flags := flagProxiable
	if IsProtocolError(a.ResultCode) {
		flags |= flagError // RFC 6733 §7.1.3
	}
	b = appendFrameHeader(b, flags, a.HeaderIDs)
	b = c.appendHead(b, a.SessionID, a.VendorSpecificApplicationID)
	if experimental {
		// Experimental-Result, RFC 6733 §7.6: { Vendor-Id } { Experimental-Result-Code }.
		g := len(b)
		b = c.appendHeader(b, zdExperimentalResult, 0)
		b = c.appendUnsigned32(b, zdVendorID, a.ExperimentalResult.VendorID)
		b = c.appendUnsigned32(b, zdExperimentalResultCode, a.ExperimentalResult.ExperimentalResultCode)
		putUint24(b[g+5:g+8], uint32(len(b)-g))
	} else {
		b = c.appendUnsigned32(b, zdResultCode, a.ResultCode)
	}
	b = c.appendOrigin(b, a.OriginHost, a.OriginRealm)
	b = c.appendUser(b, a.IMPI, a.IMPU, a.SIPAuthDataItem)
	if a.GUSS != nil {
		b = c.appendOctets(b, zdGBAUserSecSettings, a.GUSS)
	}
	putUint24(b[start+1:start+4], uint32(len(b)-start))
	return b, true
}

// maaDirect reports whether the codec builds a itself (else Message does: a missing
// required field, a Failed-AVP, a definition of the dictionary that is not the one assumed,
// by code or by name), and whether a carries Experimental-Result rather than Result-Code:
// exactly one of them, RFC 6733 §7.6 (answerResult).
func (c *ZhFrameCodec) maaDirect(a *MAA) (experimental, ok bool) {
	if a.SessionID == "" || a.OriginHost == "" || a.OriginRealm == "" || len(a.FailedAVP) > 0 ||
		(a.ResultCode == 0) == (a.ExperimentalResult == nil) {
		return false, false
	}
	if experimental = a.ExperimentalResult != nil; experimental {
		if a.ExperimentalResult.ExperimentalResultCode == 0 || !c.byName(zdExperimentalResult) ||
			!c.byName(zdVendorID) || !c.byName(zdExperimentalResultCode) {
			return true, false
		}
	} else if !c.byName(zdResultCode) {
		return false, false
	}
	ok = c.headUsable() && c.userUsable(a.IMPI, a.IMPU, a.SIPAuthDataItem) &&
		(a.GUSS == nil || c.byName(zdGBAUserSecSettings))
	return experimental, ok
}

// headUsable: Session-Id, Vendor-Specific-Application-Id and its members,
// Auth-Session-State, Origin-Host and Origin-Realm.
func (c *ZhFrameCodec) headUsable() bool {
	for _, d := range [...]zhDef{zdSessionID, zdVSAI, zdVendorID, zdAuthApplicationID,
		zdAuthSessionState, zdOriginHost, zdOriginRealm} {
		if !c.byName(d) {
			return false
		}
	}
	return true
}

// userUsable: User-Name, Public-Identity and SIP-Auth-Data-Item with its members, each
// when present.
func (c *ZhFrameCodec) userUsable(impi, impu string, it *SIPAuthDataItem) bool {
	if (impi != "" && !c.byName(zdUserName)) || (impu != "" && !c.byName(zdPublicIdentity)) {
		return false
	}
	if it == nil {
		return true
	}
	return c.byName(zdSIPAuthDataItem) &&
		(it.ItemNumber == nil || c.byName(zdSIPItemNumber)) &&
		(it.AuthenticationScheme == "" || c.byName(zdSIPAuthenticationScheme)) &&
		(it.Authenticate == nil || c.byName(zdSIPAuthenticate)) &&
		(it.Authorization == nil || c.byName(zdSIPAuthorization)) &&
		(it.AuthenticationContext == nil || c.byName(zdSIPAuthenticationContext)) &&
		(it.CK == nil || c.byName(zdConfidentialityKey)) &&
		(it.IK == nil || c.byName(zdIntegrityKey))
}

// appendMessage is the go-diameter path: Message, then Serialize, the Message Length set
// from the octets as peer.Client.Do sends them.
func appendMessage(b []byte, t TypedMessage, d *dict.Parser) ([]byte, error) {
	m, err := t.Message(d)
	if err != nil {
		return b, err
	}
	f, err := m.Serialize()
	if err != nil {
		return b, err
	}
	putUint24(f[1:4], uint32(len(f)))
	return append(b, f...), nil
}

// avpBound bounds the octets of one AVP beyond its data: a 12-octet header and 3 of padding.
const avpBound = 15

// frameBound bounds the octets of a Zh message with the given strings: the header, up to
// 13 top-level AVPs and members of Vendor-Specific-Application-Id or Experimental-Result.
func frameBound(strs ...string) int {
	n := headerLen + 13*avpBound
	for _, s := range strs {
		n += len(s)
	}
	return n
}

// itemBound bounds the octets of a SIP-Auth-Data-Item's members.
func itemBound(it *SIPAuthDataItem) int {
	if it == nil {
		return 0
	}
	return 7*avpBound + len(it.AuthenticationScheme) + len(it.Authenticate) + len(it.Authorization) +
		len(it.AuthenticationContext) + len(it.CK) + len(it.IK)
}

// appendFrameHeader appends the RFC 6733 §3 header of a Multimedia-Auth message of
// application Zh with Message Length 0 (the caller sets it). A zero identifier is replaced
// by a random one, as diam.NewMessage does.
func appendFrameHeader(b []byte, flags uint8, ids HeaderIDs) []byte {
	if ids.HopByHopID == 0 {
		ids.HopByHopID = rand.Uint32()
	}
	if ids.EndToEndID == 0 {
		ids.EndToEndID = rand.Uint32()
	}
	cmd := CmdMultimediaAuth
	b = append(b, diamVersion, 0, 0, 0, flags, byte(cmd>>16), byte(cmd>>8), byte(cmd))
	b = binary.BigEndian.AppendUint32(b, AppIDZh)
	b = binary.BigEndian.AppendUint32(b, ids.HopByHopID)
	return binary.BigEndian.AppendUint32(b, ids.EndToEndID)
}

// appendHeader appends the header of an AVP of def holding dataLen octets, RFC 6733 §4.1:
// code, the flags of the dictionary, Length (header and data), Vendor-ID with the V bit.
// A Grouped AVP is appended with dataLen 0 and its Length set once its members are.
func (c *ZhFrameCodec) appendHeader(b []byte, def zhDef, dataLen int) []byte {
	sp := &zhDefSpecs[def]
	f := c.flags[def]
	hdr := 8
	if f&avpFlagVendor != 0 {
		hdr = 12
	}
	l := hdr + dataLen
	b = binary.BigEndian.AppendUint32(b, sp.code)
	b = append(b, f, byte(l>>16), byte(l>>8), byte(l))
	if hdr == 12 {
		b = binary.BigEndian.AppendUint32(b, sp.vendor)
	}
	return b
}

// appendPad appends the zero padding of n octets of data, RFC 6733 §4.1.
func appendPad(b []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}

func (c *ZhFrameCodec) appendString(b []byte, def zhDef, s string) []byte {
	b = append(c.appendHeader(b, def, len(s)), s...)
	return appendPad(b, len(s))
}

func (c *ZhFrameCodec) appendOctets(b []byte, def zhDef, p []byte) []byte {
	b = append(c.appendHeader(b, def, len(p)), p...)
	return appendPad(b, len(p))
}

func (c *ZhFrameCodec) appendUnsigned32(b []byte, def zhDef, v uint32) []byte {
	return binary.BigEndian.AppendUint32(c.appendHeader(b, def, 4), v)
}

// appendHead appends Session-Id and Vendor-Specific-Application-Id (3GPP/Zh when v is
// zero), TS 29.109 §6.1, as Message writes them.
func (c *ZhFrameCodec) appendHead(b []byte, sessionID string, v VendorSpecificApplicationID) []byte {
	b = c.appendString(b, zdSessionID, sessionID)
	if v == (VendorSpecificApplicationID{}) {
		v = VendorSpecificApplicationID{VendorID: VendorID3GPP, AuthApplicationID: AppIDZh}
	}
	g := len(b)
	b = c.appendHeader(b, zdVSAI, 0)
	b = c.appendUnsigned32(b, zdVendorID, v.VendorID)
	b = c.appendUnsigned32(b, zdAuthApplicationID, v.AuthApplicationID)
	putUint24(b[g+5:g+8], uint32(len(b)-g))
	return b
}

// appendOrigin appends Auth-Session-State (NO_STATE_MAINTAINED, TS 29.109 §6.1.1, RFC 6733
// §8.11), Origin-Host and Origin-Realm.
func (c *ZhFrameCodec) appendOrigin(b []byte, host, realm string) []byte {
	b = c.appendUnsigned32(b, zdAuthSessionState, uint32(AuthSessionStateNoStateMaintained))
	b = c.appendString(b, zdOriginHost, host)
	return c.appendString(b, zdOriginRealm, realm)
}

// appendUser appends User-Name, Public-Identity and SIP-Auth-Data-Item (TS 29.229
// §6.3.13), each when present, as Message writes them.
func (c *ZhFrameCodec) appendUser(b []byte, impi, impu string, it *SIPAuthDataItem) []byte {
	if impi != "" {
		b = c.appendString(b, zdUserName, impi)
	}
	if impu != "" {
		b = c.appendString(b, zdPublicIdentity, impu)
	}
	if it == nil {
		return b
	}
	g := len(b)
	b = c.appendHeader(b, zdSIPAuthDataItem, 0)
	if it.ItemNumber != nil {
		b = c.appendUnsigned32(b, zdSIPItemNumber, *it.ItemNumber)
	}
	if it.AuthenticationScheme != "" {
		b = c.appendString(b, zdSIPAuthenticationScheme, it.AuthenticationScheme)
	}
	for _, m := range [...]struct {
		def zhDef
		p   []byte
	}{
		{zdSIPAuthenticate, it.Authenticate},
		{zdSIPAuthorization, it.Authorization},
		{zdSIPAuthenticationContext, it.AuthenticationContext},
		{zdConfidentialityKey, it.CK},
		{zdIntegrityKey, it.IK},
	} {
		if m.p != nil {
			b = c.appendOctets(b, m.def, m.p)
		}
	}
	putUint24(b[g+5:g+8], uint32(len(b)-g))
	return b
}
