// Package diameter implements the Zh and Zn reference points of 3GPP TS 29.109 on top of
// the go-diameter codec: typed MAR/MAA/BIR/BIA messages, result codes, request validation
// against the command grammars of RFC 6733 §3, and the peer plumbing shared by every
// OpenGBA Diameter edge.
package diameter

// Application identifiers and command codes, TS 29.109 §5.1 and §6.
const (
	// AppIDZh is the Zh application (BSF ↔ HSS), TS 29.109 §5.1.
	AppIDZh uint32 = 16777221
	// AppIDZn is the Zn application (NAF ↔ BSF), TS 29.109 §5.1.
	AppIDZn uint32 = 16777220
	// VendorID3GPP is the IANA enterprise number of 3GPP.
	VendorID3GPP uint32 = 10415

	// CmdMultimediaAuth is the MAR/MAA command code, TS 29.109 §6.1.
	CmdMultimediaAuth uint32 = 303
	// CmdBootstrappingInfo is the BIR/BIA command code, TS 29.109 §6.2.
	CmdBootstrappingInfo uint32 = 310
)

// AVP codes of TS 29.109 §6.3 (vendor 10415) and the Cx AVPs it reuses (TS 29.229 §6.3).
const (
	AVPGBAUserSecSettings        uint32 = 400
	AVPTransactionIdentifier     uint32 = 401
	AVPNAFId                     uint32 = 402
	AVPGAAServiceIdentifier      uint32 = 403
	AVPKeyExpiryTime             uint32 = 404
	AVPMEKeyMaterial             uint32 = 405
	AVPUICCKeyMaterial           uint32 = 406
	AVPGBAUAwarenessIndicator    uint32 = 407
	AVPBootstrapInfoCreationTime uint32 = 408
	AVPGUSSTimestamp             uint32 = 409
	AVPGBAType                   uint32 = 410
	AVPUEId                      uint32 = 411
	AVPUEIdType                  uint32 = 412
	AVPUICCAppLabel              uint32 = 413
	AVPUICCME                    uint32 = 414
	AVPRequestedKeyLifetime      uint32 = 415
	AVPPrivateIdentityRequest    uint32 = 416
	AVPGBAPushInfo               uint32 = 417
	AVPNAFSAIdentifier           uint32 = 418
	AVPSecurityFeatureRequest    uint32 = 419
	AVPSecurityFeatureResponse   uint32 = 420

	AVPPublicIdentity           uint32 = 601
	AVPSIPNumberAuthItems       uint32 = 607
	AVPSIPAuthenticationScheme  uint32 = 608
	AVPSIPAuthenticate          uint32 = 609
	AVPSIPAuthorization         uint32 = 610
	AVPSIPAuthenticationContext uint32 = 611
	AVPSIPAuthDataItem          uint32 = 612
	AVPSIPItemNumber            uint32 = 613
	AVPConfidentialityKey       uint32 = 625
	AVPIntegrityKey             uint32 = 626
)

// Enumerated values, TS 29.109 §6.3.
const (
	GBAUAwarenessNo  int32 = 0 // GBA_U-Awareness-Indicator NO, TS 29.109 Table 6.3.1
	GBAUAwarenessYes int32 = 1

	GBAType3G int32 = 0 // GBA-Type 3G_GBA, TS 29.109 Table 6.3.1
	GBAType2G int32 = 1

	PrivateIdentityRequested    int32 = 0 // Private-Identity-Request, TS 29.109 Table 6.3.1
	PrivateIdentityNotRequested int32 = 1

	// AuthSessionStateNoStateMaintained is Auth-Session-State NO_STATE_MAINTAINED, RFC 6733 §8.11.
	AuthSessionStateNoStateMaintained int32 = 1

	// SchemeAKAv1MD5 is the SIP-Authentication-Scheme of a GBA AV, TS 29.109 §6.1.2.
	SchemeAKAv1MD5 = "Digest-AKAv1-MD5"
)

// Result-Code values of RFC 6733 §7.1.
const (
	ResultSuccess                uint32 = 2001
	ResultCommandUnsupported     uint32 = 3001
	ResultUnableToDeliver        uint32 = 3002
	ResultRealmNotServed         uint32 = 3003
	ResultTooBusy                uint32 = 3004
	ResultApplicationUnsupported uint32 = 3007
	ResultInvalidHdrBits         uint32 = 3008
	ResultInvalidAVPBits         uint32 = 3009
	ResultUnknownPeer            uint32 = 3010
	ResultAuthenticationRejected uint32 = 4001
	ResultAVPUnsupported         uint32 = 5001
	ResultUnknownSessionID       uint32 = 5002
	ResultAuthorizationRejected  uint32 = 5003
	ResultInvalidAVPValue        uint32 = 5004
	ResultMissingAVP             uint32 = 5005
	ResultResourcesExceeded      uint32 = 5006
	ResultContradictingAVPs      uint32 = 5007
	ResultAVPNotAllowed          uint32 = 5008
	ResultAVPOccursTooManyTimes  uint32 = 5009
	ResultNoCommonApplication    uint32 = 5010
	ResultUnsupportedVersion     uint32 = 5011
	ResultUnableToComply         uint32 = 5012
	ResultInvalidBitInHeader     uint32 = 5013
	ResultInvalidAVPLength       uint32 = 5014
	ResultInvalidMessageLength   uint32 = 5015
	ResultInvalidAVPBitCombo     uint32 = 5016
	ResultNoCommonSecurity       uint32 = 5017
)

// Experimental-Result-Code values (vendor 10415).
const (
	// ExpUserUnknown is DIAMETER_ERROR_USER_UNKNOWN, TS 29.229 §6.2.2.1.
	ExpUserUnknown uint32 = 5001
	// ExpIdentitiesDontMatch is DIAMETER_ERROR_IDENTITIES_DONT_MATCH, TS 29.229 §6.2.2.2.
	ExpIdentitiesDontMatch uint32 = 5002
	// ExpAuthSchemeNotSupported is DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED, TS 29.229 §6.2.2.6.
	ExpAuthSchemeNotSupported uint32 = 5006
	// ExpIMPIUnknown is DIAMETER_ERROR_IMPI_UNKNOWN of TS 29.109 (Zh), registered in TS 29.230 §8.1.
	ExpIMPIUnknown uint32 = 5401
	// ExpNotAuthorized is DIAMETER_ERROR_NOT_AUTHORIZED of TS 29.109 (Zn), registered in TS 29.230 §8.1.
	ExpNotAuthorized uint32 = 5402
	// ExpTransactionIdentifierInvalid is DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID of
	// TS 29.109 (Zn: B-TID unknown or expired), registered in TS 29.230 §8.1.
	ExpTransactionIdentifierInvalid uint32 = 5403
)
