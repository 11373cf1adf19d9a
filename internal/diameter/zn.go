package diameter

import (
	"fmt"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// BIR is the Zn Bootstrapping-Info-Request a NAF sends the BSF to fetch the NAF key for a
// B-TID, TS 29.109 §6.2.1:
//
//	< BIR > ::= < Diameter Header: 310, REQ, PXY, 16777220 >
//	            < Session-Id >
//	            { Vendor-Specific-Application-Id }
//	            { Origin-Host }
//	            { Origin-Realm }
//	            { Destination-Realm }
//	            [ Destination-Host ]
//	           *[ GAA-Service-Identifier ]
//	            { Transaction-Identifier }
//	            { NAF-Id }
//	            [ GBA_U-Awareness-Indicator ]
//	            [ Requested-Key-Lifetime ]
//	            [ Private-Identity-Request ]
//	            [ Security-Feature-Request ]
//	           *[ AVP ]
//	           *[ Proxy-Info ]
//	           *[ Route-Record ]
//
// Transaction-Identifier carries the B-TID (TS 33.220 §4.5.2) and NAF-Id the NAF_Id, FQDN ||
// Ua security protocol id (TS 33.220 Annex H). Empty strings, nil slices and pointers, and a
// zero time are absent AVPs; enumerations are pointers because their value 0 is meaningful.
type BIR struct {
	HeaderIDs
	SessionID                   string                      `avp:"Session-Id"`
	VendorSpecificApplicationID VendorSpecificApplicationID `avp:"Vendor-Specific-Application-Id"`
	OriginHost                  string                      `avp:"Origin-Host"`
	OriginRealm                 string                      `avp:"Origin-Realm"`
	DestinationRealm            string                      `avp:"Destination-Realm"`
	DestinationHost             string                      `avp:"Destination-Host"`
	GAAServiceIdentifiers       [][]byte                    `avp:"GAA-Service-Identifier"`
	BTID                        string                      `avp:"Transaction-Identifier"`
	NAFID                       []byte                      `avp:"NAF-Id"`
	GBAUAwarenessIndicator      *int32                      `avp:"GBA_U-Awareness-Indicator"` // GBAUAwarenessNo/Yes
	RequestedKeyLifetime        time.Time                   // Requested-Key-Lifetime (415), Time
	PrivateIdentityRequest      *int32                      `avp:"Private-Identity-Request"` // PrivateIdentityRequested/NotRequested
	SecurityFeatureRequest      []byte                      `avp:"Security-Feature-Request"`
}

func (*BIR) typed() {}

// Message builds the BIR: R and P flags, application 16777220, TS 29.109 §6.2.1.
func (r *BIR) Message(d *dict.Parser) (*diam.Message, error) {
	e := newEncoder(d, AppIDZn, "BIR")
	e.require("Session-Id", r.SessionID == "")
	e.require("Origin-Host", r.OriginHost == "")
	e.require("Origin-Realm", r.OriginRealm == "")
	e.require("Destination-Realm", r.DestinationRealm == "")
	e.require("Transaction-Identifier", r.BTID == "")
	e.require("NAF-Id", len(r.NAFID) == 0)
	e.utf8("Session-Id", r.SessionID)
	e.vsai(r.VendorSpecificApplicationID)
	e.identity("Origin-Host", r.OriginHost)
	e.identity("Origin-Realm", r.OriginRealm)
	e.identity("Destination-Realm", r.DestinationRealm)
	e.identity("Destination-Host", r.DestinationHost)
	for _, id := range r.GAAServiceIdentifiers {
		if id == nil {
			id = []byte{}
		}
		e.octets("GAA-Service-Identifier", id)
	}
	e.octets("Transaction-Identifier", []byte(r.BTID))
	e.octets("NAF-Id", r.NAFID)
	e.enumerated("GBA_U-Awareness-Indicator", r.GBAUAwarenessIndicator)
	e.time("Requested-Key-Lifetime", r.RequestedKeyLifetime)
	e.enumerated("Private-Identity-Request", r.PrivateIdentityRequest)
	e.octets("Security-Feature-Request", r.SecurityFeatureRequest)
	return e.message(CmdBootstrappingInfo, true, 0, r.HeaderIDs)
}

// DecodeBIR returns the BIR in m. It extracts values and checks no grammar (run
// Validator.Validate on the frame first). It never panics.
func DecodeBIR(m *diam.Message) (r *BIR, err error) {
	defer recoverDecode("BIR", &r, &err)
	r = new(BIR)
	if err := decodeAVPs(m, "BIR", AppIDZn, CmdBootstrappingInfo, true, r, &r.HeaderIDs); err != nil {
		return nil, err
	}
	if r.RequestedKeyLifetime, err = timeAVP(m, "Requested-Key-Lifetime", AVPRequestedKeyLifetime); err != nil {
		return nil, err
	}
	return r, nil
}

// BIA is the Zn Bootstrapping-Info-Answer, TS 29.109 §6.2.2:
//
//	< BIA > ::= < Diameter Header: 310, PXY, 16777220 >
//	            < Session-Id >
//	            { Vendor-Specific-Application-Id }
//	            [ Result-Code ]
//	            [ Experimental-Result ]
//	            { Origin-Host }
//	            { Origin-Realm }
//	            [ User-Name ]
//	            [ ME-Key-Material ]
//	            [ UICC-Key-Material ]
//	            [ Key-ExpiryTime ]
//	            [ BootstrapInfoCreationTime ]
//	            [ GBA-UserSecSettings ]
//	            [ GBA-Type ]
//	            [ Security-Feature-Response ]
//	           *[ AVP ]
//	           *[ Proxy-Info ]
//	           *[ Route-Record ]
//
// User-Name is the IMPI; ME-Key-Material is Ks_NAF (GBA_ME) or Ks_ext_NAF (GBA_U) and
// UICC-Key-Material Ks_int_NAF, TS 33.220 §4.5.3 and Annex B.3. Exactly one of ResultCode
// (0 = absent) and ExperimentalResult is set.
type BIA struct {
	HeaderIDs
	SessionID                   string                      `avp:"Session-Id"`
	VendorSpecificApplicationID VendorSpecificApplicationID `avp:"Vendor-Specific-Application-Id"`
	ResultCode                  uint32                      `avp:"Result-Code"`
	ExperimentalResult          *ExperimentalResult         `avp:"Experimental-Result"`
	OriginHost                  string                      `avp:"Origin-Host"`
	OriginRealm                 string                      `avp:"Origin-Realm"`
	IMPI                        string                      `avp:"User-Name"`
	MEKeyMaterial               Secret                      `avp:"ME-Key-Material"`
	UICCKeyMaterial             Secret                      `avp:"UICC-Key-Material"`
	KeyExpiryTime               time.Time                   // Key-ExpiryTime (404), Time
	BootstrapInfoCreationTime   time.Time                   // BootstrapInfoCreationTime (408), Time
	GUSS                        []byte                      `avp:"GBA-UserSecSettings"` // XML, TS 29.109 Annex A
	GBAType                     *int32                      `avp:"GBA-Type"`            // GBAType3G/2G
	SecurityFeatureResponse     []byte                      `avp:"Security-Feature-Response"`
	FailedAVP                   []*diam.AVP                 // Failed-AVP (279) contents
}

func (*BIA) typed() {}

// Format implements fmt.Formatter: every verb prints the fields, with secrets as REDACTED.
func (a BIA) Format(f fmt.State, verb rune) { formatRedacted(f, verb, a) }

// Message builds the BIA: P flag (and E for a 3xxx Result-Code), application 16777220,
// TS 29.109 §6.2.2.
func (a *BIA) Message(d *dict.Parser) (*diam.Message, error) {
	e := newEncoder(d, AppIDZn, "BIA")
	e.require("Session-Id", a.SessionID == "")
	e.require("Origin-Host", a.OriginHost == "")
	e.require("Origin-Realm", a.OriginRealm == "")
	e.utf8("Session-Id", a.SessionID)
	e.vsai(a.VendorSpecificApplicationID)
	e.result(a.ResultCode, a.ExperimentalResult)
	e.identity("Origin-Host", a.OriginHost)
	e.identity("Origin-Realm", a.OriginRealm)
	e.utf8("User-Name", a.IMPI)
	e.octets("ME-Key-Material", a.MEKeyMaterial)
	e.octets("UICC-Key-Material", a.UICCKeyMaterial)
	e.time("Key-ExpiryTime", a.KeyExpiryTime)
	e.time("BootstrapInfoCreationTime", a.BootstrapInfoCreationTime)
	e.octets("GBA-UserSecSettings", a.GUSS)
	e.enumerated("GBA-Type", a.GBAType)
	e.octets("Security-Feature-Response", a.SecurityFeatureResponse)
	e.failed(a.FailedAVP)
	return e.message(CmdBootstrappingInfo, false, a.ResultCode, a.HeaderIDs)
}

// Result returns the outcome of the answer (see Result); neither or both of Result-Code and
// Experimental-Result is an error wrapping ErrMalformed.
func (a *BIA) Result() (Result, error) {
	return answerResult("BIA", a.ResultCode, a.ExperimentalResult)
}

// Err returns nil for a successful answer, a *ResultError for any other result (for example
// 5403 when the B-TID is unknown or expired, TS 29.109 §6.3.3.3), or the error of Result.
func (a *BIA) Err() error {
	r, err := a.Result()
	if err != nil {
		return err
	}
	return r.Err()
}

// DecodeBIA returns the BIA in m. It extracts values and checks no grammar; see Result and Err
// for the outcome. It never panics.
func DecodeBIA(m *diam.Message) (a *BIA, err error) {
	defer recoverDecode("BIA", &a, &err)
	a = new(BIA)
	if err := decodeAVPs(m, "BIA", AppIDZn, CmdBootstrappingInfo, false, a, &a.HeaderIDs); err != nil {
		return nil, err
	}
	if a.KeyExpiryTime, err = timeAVP(m, "Key-ExpiryTime", AVPKeyExpiryTime); err != nil {
		return nil, err
	}
	if a.BootstrapInfoCreationTime, err = timeAVP(m, "BootstrapInfoCreationTime", AVPBootstrapInfoCreationTime); err != nil {
		return nil, err
	}
	if a.FailedAVP, err = failedAVPs(m); err != nil {
		return nil, err
	}
	return a, nil
}
