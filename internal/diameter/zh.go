package diameter

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// Octet lengths of the AKA parameters carried on Zh, TS 33.102 §6.3.2 and §6.3.3.
const (
	lenRAND = 16
	lenAUTN = 16
	lenAUTS = 14
	lenCK   = 16
	lenIK   = 16
	minXRES = 4  // 32 bits
	maxXRES = 16 // 128 bits
)

// ErrAuthData reports a SIP-Auth-Data-Item whose contents are not a GBA AKA vector or a
// resynchronisation request.
var ErrAuthData = errors.New("diameter: bad SIP-Auth-Data-Item")

// SIPAuthDataItem is the grouped SIP-Auth-Data-Item AVP (612, vendor 10415) of TS 29.229
// §6.3.13 as Zh reuses it, TS 29.109 §6.1.1 and §6.1.2:
//
//	SIP-Auth-Data-Item ::= < AVP Header : 612 10415 >
//	                       [ SIP-Item-Number ]
//	                       [ SIP-Authentication-Scheme ]
//	                       [ SIP-Authenticate ]
//	                       [ SIP-Authorization ]
//	                       [ SIP-Authentication-Context ]
//	                       [ Confidentiality-Key ]
//	                       [ Integrity-Key ]
//	                      *[ AVP ]
//
// (TS 29.229 lists further members that GBA does not use: SIP-Digest-Authenticate,
// Framed-IP-Address, ...; a decoder skips them like any *[ AVP ].)
// Empty strings and nil slices are absent AVPs. SIP-Authorization holds XRES in an MAA and
// RAND||AUTS in a resynchronisation MAR; it is a Secret either way.
type SIPAuthDataItem struct {
	ItemNumber            *uint32 `avp:"SIP-Item-Number"`
	AuthenticationScheme  string  `avp:"SIP-Authentication-Scheme"`
	Authenticate          []byte  `avp:"SIP-Authenticate"`
	Authorization         Secret  `avp:"SIP-Authorization"`
	AuthenticationContext []byte  `avp:"SIP-Authentication-Context"`
	CK                    Secret  `avp:"Confidentiality-Key"`
	IK                    Secret  `avp:"Integrity-Key"`
}

// Format implements fmt.Formatter: every verb prints the fields, with secrets as REDACTED.
func (it SIPAuthDataItem) Format(f fmt.State, verb rune) { formatRedacted(f, verb, it) }

func (e *encoder) sipAuthDataItem(it *SIPAuthDataItem) {
	if it == nil {
		return
	}
	e.group("SIP-Auth-Data-Item", func(g *encoder) {
		if it.ItemNumber != nil {
			g.unsigned32("SIP-Item-Number", *it.ItemNumber)
		}
		g.utf8("SIP-Authentication-Scheme", it.AuthenticationScheme)
		g.octets("SIP-Authenticate", it.Authenticate)
		g.octets("SIP-Authorization", it.Authorization)
		g.octets("SIP-Authentication-Context", it.AuthenticationContext)
		g.octets("Confidentiality-Key", it.CK)
		g.octets("Integrity-Key", it.IK)
	})
}

// AKAVector is the UMTS authentication vector an HSS returns on Zh, TS 33.102 §6.3.2: RAND,
// AUTN, XRES, CK, IK. TS 33.220 §4.5.2 bootstraps with exactly one.
type AKAVector struct {
	RAND []byte
	AUTN []byte
	XRES Secret
	CK   Secret
	IK   Secret
}

// Format implements fmt.Formatter: every verb prints the fields, with secrets as REDACTED.
func (av AKAVector) Format(f fmt.State, verb rune) { formatRedacted(f, verb, av) }

// NewAKAAuthDataItem returns the SIP-Auth-Data-Item of a successful MAA, TS 29.109 §6.1.2:
// SIP-Authentication-Scheme "Digest-AKAv1-MD5", SIP-Authenticate = RAND||AUTN,
// SIP-Authorization = XRES, Confidentiality-Key = CK, Integrity-Key = IK. The octets are
// copied. Lengths are checked against TS 33.102 §6.3.2 (XRES 4 to 16 octets).
func NewAKAAuthDataItem(av AKAVector) (*SIPAuthDataItem, error) {
	if err := av.check(); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, len(av.RAND)+len(av.AUTN)+len(av.XRES)+len(av.CK)+len(av.IK))
	it := &SIPAuthDataItem{AuthenticationScheme: SchemeAKAv1MD5}
	it.Authenticate = carve(&buf, av.RAND, av.AUTN)
	it.Authorization = carve(&buf, av.XRES)
	it.CK = carve(&buf, av.CK)
	it.IK = carve(&buf, av.IK)
	return it, nil
}

// carve appends the concatenation of parts to *buf, whose capacity must hold it, and
// returns it as a full slice (capacity = length: appending to it never overwrites what
// follows), or nil when every part is nil. The fields of one value share one allocation
// this way instead of one each.
func carve(buf *[]byte, parts ...[]byte) []byte {
	start, none := len(*buf), true
	for _, p := range parts {
		none = none && p == nil
		*buf = append(*buf, p...)
	}
	if none {
		return nil
	}
	return (*buf)[start:len(*buf):len(*buf)]
}

func (av AKAVector) check() error {
	switch {
	case len(av.RAND) != lenRAND:
		return fmt.Errorf("%w: RAND is %d octets, want %d", ErrAuthData, len(av.RAND), lenRAND)
	case len(av.AUTN) != lenAUTN:
		return fmt.Errorf("%w: AUTN is %d octets, want %d", ErrAuthData, len(av.AUTN), lenAUTN)
	case len(av.XRES) < minXRES || len(av.XRES) > maxXRES:
		return fmt.Errorf("%w: XRES is %d octets, want %d to %d", ErrAuthData, len(av.XRES), minXRES, maxXRES)
	case len(av.CK) != lenCK:
		return fmt.Errorf("%w: CK is %d octets, want %d", ErrAuthData, len(av.CK), lenCK)
	case len(av.IK) != lenIK:
		return fmt.Errorf("%w: IK is %d octets, want %d", ErrAuthData, len(av.IK), lenIK)
	}
	return nil
}

// AKAVector returns the vector of an MAA's SIP-Auth-Data-Item (see NewAKAAuthDataItem), with
// fresh copies of the octets. A scheme other than "Digest-AKAv1-MD5", or a length that
// TS 33.102 §6.3.2 does not allow, gives an error wrapping ErrAuthData.
func (it *SIPAuthDataItem) AKAVector() (AKAVector, error) {
	if it == nil {
		return AKAVector{}, fmt.Errorf("%w: absent", ErrAuthData)
	}
	if it.AuthenticationScheme != SchemeAKAv1MD5 {
		return AKAVector{}, fmt.Errorf("%w: SIP-Authentication-Scheme %q, want %q", ErrAuthData, it.AuthenticationScheme, SchemeAKAv1MD5)
	}
	if len(it.Authenticate) != lenRAND+lenAUTN {
		return AKAVector{}, fmt.Errorf("%w: SIP-Authenticate is %d octets, want RAND||AUTN (%d)", ErrAuthData, len(it.Authenticate), lenRAND+lenAUTN)
	}
	buf := make([]byte, 0, len(it.Authenticate)+len(it.Authorization)+len(it.CK)+len(it.IK))
	av := AKAVector{
		RAND: carve(&buf, it.Authenticate[:lenRAND]),
		AUTN: carve(&buf, it.Authenticate[lenRAND:]),
		XRES: carve(&buf, it.Authorization),
		CK:   carve(&buf, it.CK),
		IK:   carve(&buf, it.IK),
	}
	if err := av.check(); err != nil {
		return AKAVector{}, err
	}
	return av, nil
}

// NewResyncAuthDataItem returns the SIP-Auth-Data-Item of an MAR after a synchronisation
// failure, TS 29.109 §6.1.1 with TS 33.220 §4.5.2: SIP-Authorization = RAND||AUTS (30 octets).
// It also names the scheme, SIP-Authentication-Scheme "Digest-AKAv1-MD5", as Cx does for the
// same procedure (TS 29.229 §6.3.13); see specs/decisions.md.
func NewResyncAuthDataItem(rand, auts []byte) (*SIPAuthDataItem, error) {
	if len(rand) != lenRAND {
		return nil, fmt.Errorf("%w: RAND is %d octets, want %d", ErrAuthData, len(rand), lenRAND)
	}
	if len(auts) != lenAUTS {
		return nil, fmt.Errorf("%w: AUTS is %d octets, want %d", ErrAuthData, len(auts), lenAUTS)
	}
	return &SIPAuthDataItem{
		AuthenticationScheme: SchemeAKAv1MD5,
		Authorization:        concat(rand, auts),
	}, nil
}

// Resync returns RAND and AUTS from the SIP-Authorization of a resynchronisation MAR
// (see NewResyncAuthDataItem). A missing scheme is accepted; another scheme is an error.
func (it *SIPAuthDataItem) Resync() (rand, auts []byte, err error) {
	if it == nil {
		return nil, nil, fmt.Errorf("%w: absent", ErrAuthData)
	}
	if it.AuthenticationScheme != "" && it.AuthenticationScheme != SchemeAKAv1MD5 {
		return nil, nil, fmt.Errorf("%w: SIP-Authentication-Scheme %q, want %q", ErrAuthData, it.AuthenticationScheme, SchemeAKAv1MD5)
	}
	if len(it.Authorization) != lenRAND+lenAUTS {
		return nil, nil, fmt.Errorf("%w: SIP-Authorization is %d octets, want RAND||AUTS (%d)", ErrAuthData, len(it.Authorization), lenRAND+lenAUTS)
	}
	return bytes.Clone(it.Authorization[:lenRAND]), bytes.Clone(it.Authorization[lenRAND:]), nil
}

func concat(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// MAR is the Zh Multimedia-Auth-Request the BSF sends the HSS to fetch one AV (and the GUSS),
// TS 29.109 §6.1.1:
//
//	< MAR > ::= < Diameter Header: 303, REQ, PXY, 16777221 >
//	            < Session-Id >
//	            { Vendor-Specific-Application-Id }
//	            { Auth-Session-State }
//	            { Origin-Host }
//	            { Origin-Realm }
//	            { Destination-Realm }
//	            [ Destination-Host ]
//	            [ User-Name ]
//	            [ Public-Identity ]
//	            [ SIP-Auth-Data-Item ]
//	            [ GUSS-Timestamp ]
//	           *[ AVP ]
//	           *[ Proxy-Info ]
//	           *[ Route-Record ]
//
// Auth-Session-State is always NO_STATE_MAINTAINED (TS 29.109 §6.1.1, RFC 6733 §8.11) and is
// not a field. Empty strings, a nil item and a zero time are absent AVPs.
type MAR struct {
	HeaderIDs
	SessionID                   string                      `avp:"Session-Id"`
	VendorSpecificApplicationID VendorSpecificApplicationID `avp:"Vendor-Specific-Application-Id"`
	OriginHost                  string                      `avp:"Origin-Host"`
	OriginRealm                 string                      `avp:"Origin-Realm"`
	DestinationRealm            string                      `avp:"Destination-Realm"`
	DestinationHost             string                      `avp:"Destination-Host"`
	IMPI                        string                      `avp:"User-Name"`
	IMPU                        string                      `avp:"Public-Identity"`
	SIPAuthDataItem             *SIPAuthDataItem            `avp:"SIP-Auth-Data-Item"`
	GUSSTimestamp               time.Time                   // GUSS-Timestamp (409), Time
}

func (*MAR) typed() {}

// Format implements fmt.Formatter: every verb prints the fields, with secrets as REDACTED.
func (r MAR) Format(f fmt.State, verb rune) { formatRedacted(f, verb, r) }

// Message builds the MAR: R and P flags, application 16777221, TS 29.109 §6.1.1.
func (r *MAR) Message(d *dict.Parser) (*diam.Message, error) {
	e := newEncoder(d, AppIDZh, "MAR")
	e.require("Session-Id", r.SessionID == "")
	e.require("Origin-Host", r.OriginHost == "")
	e.require("Origin-Realm", r.OriginRealm == "")
	e.require("Destination-Realm", r.DestinationRealm == "")
	e.utf8("Session-Id", r.SessionID)
	e.vsai(r.VendorSpecificApplicationID)
	e.enumerated("Auth-Session-State", new(AuthSessionStateNoStateMaintained))
	e.identity("Origin-Host", r.OriginHost)
	e.identity("Origin-Realm", r.OriginRealm)
	e.identity("Destination-Realm", r.DestinationRealm)
	e.identity("Destination-Host", r.DestinationHost)
	e.utf8("User-Name", r.IMPI)
	e.utf8("Public-Identity", r.IMPU)
	e.sipAuthDataItem(r.SIPAuthDataItem)
	e.time("GUSS-Timestamp", r.GUSSTimestamp)
	return e.message(CmdMultimediaAuth, true, 0, r.HeaderIDs)
}

// DecodeMAR returns the MAR in m. It extracts values and checks no grammar (run
// Validator.Validate on the frame first). It never panics: a panic inside go-diameter becomes
// an error wrapping ErrMalformed.
func DecodeMAR(m *diam.Message) (r *MAR, err error) {
	defer recoverDecode("MAR", &r, &err)
	r = new(MAR)
	if err := decodeAVPs(m, "MAR", AppIDZh, CmdMultimediaAuth, true, r, &r.HeaderIDs); err != nil {
		return nil, err
	}
	if r.GUSSTimestamp, err = timeAVP(m, "GUSS-Timestamp", AVPGUSSTimestamp); err != nil {
		return nil, err
	}
	return r, nil
}

// MAA is the Zh Multimedia-Auth-Answer, TS 29.109 §6.1.2:
//
//	< MAA > ::= < Diameter Header: 303, PXY, 16777221 >
//	            < Session-Id >
//	            { Vendor-Specific-Application-Id }
//	            [ Result-Code ]
//	            [ Experimental-Result ]
//	            { Auth-Session-State }
//	            { Origin-Host }
//	            { Origin-Realm }
//	            [ User-Name ]
//	            [ Public-Identity ]
//	            [ SIP-Auth-Data-Item ]
//	            [ GBA-UserSecSettings ]
//	           *[ AVP ]
//	           *[ Proxy-Info ]
//	           *[ Route-Record ]
//
// Exactly one of ResultCode (0 = absent) and ExperimentalResult is set. FailedAVP holds the
// AVPs of a Failed-AVP (RFC 6733 §7.5) when the answer reports an error about them.
// Auth-Session-State is always NO_STATE_MAINTAINED and is not a field.
type MAA struct {
	HeaderIDs
	SessionID                   string                      `avp:"Session-Id"`
	VendorSpecificApplicationID VendorSpecificApplicationID `avp:"Vendor-Specific-Application-Id"`
	ResultCode                  uint32                      `avp:"Result-Code"`
	ExperimentalResult          *ExperimentalResult         `avp:"Experimental-Result"`
	OriginHost                  string                      `avp:"Origin-Host"`
	OriginRealm                 string                      `avp:"Origin-Realm"`
	IMPI                        string                      `avp:"User-Name"`
	IMPU                        string                      `avp:"Public-Identity"`
	SIPAuthDataItem             *SIPAuthDataItem            `avp:"SIP-Auth-Data-Item"`
	GUSS                        []byte                      `avp:"GBA-UserSecSettings"` // XML, TS 29.109 Annex A
	FailedAVP                   []*diam.AVP                 // Failed-AVP (279) contents
}

func (*MAA) typed() {}

// Format implements fmt.Formatter: every verb prints the fields, with secrets as REDACTED.
func (a MAA) Format(f fmt.State, verb rune) { formatRedacted(f, verb, a) }

// Message builds the MAA: P flag (and E for a 3xxx Result-Code), application 16777221,
// TS 29.109 §6.1.2.
func (a *MAA) Message(d *dict.Parser) (*diam.Message, error) {
	e := newEncoder(d, AppIDZh, "MAA")
	e.require("Session-Id", a.SessionID == "")
	e.require("Origin-Host", a.OriginHost == "")
	e.require("Origin-Realm", a.OriginRealm == "")
	e.utf8("Session-Id", a.SessionID)
	e.vsai(a.VendorSpecificApplicationID)
	e.result(a.ResultCode, a.ExperimentalResult)
	e.enumerated("Auth-Session-State", new(AuthSessionStateNoStateMaintained))
	e.identity("Origin-Host", a.OriginHost)
	e.identity("Origin-Realm", a.OriginRealm)
	e.utf8("User-Name", a.IMPI)
	e.utf8("Public-Identity", a.IMPU)
	e.sipAuthDataItem(a.SIPAuthDataItem)
	e.octets("GBA-UserSecSettings", a.GUSS)
	e.failed(a.FailedAVP)
	return e.message(CmdMultimediaAuth, false, a.ResultCode, a.HeaderIDs)
}

// Result returns the outcome of the answer (see Result); neither or both of Result-Code and
// Experimental-Result is an error wrapping ErrMalformed.
func (a *MAA) Result() (Result, error) {
	return answerResult("MAA", a.ResultCode, a.ExperimentalResult)
}

// Err returns nil for a successful answer, a *ResultError for any other result, or the error
// of Result.
func (a *MAA) Err() error {
	r, err := a.Result()
	if err != nil {
		return err
	}
	return r.Err()
}

// DecodeMAA returns the MAA in m. It extracts values and checks no grammar; see Result and Err
// for the outcome. It never panics.
func DecodeMAA(m *diam.Message) (a *MAA, err error) {
	defer recoverDecode("MAA", &a, &err)
	a = new(MAA)
	if err := decodeAVPs(m, "MAA", AppIDZh, CmdMultimediaAuth, false, a, &a.HeaderIDs); err != nil {
		return nil, err
	}
	if a.FailedAVP, err = failedAVPs(m); err != nil {
		return nil, err
	}
	return a, nil
}
