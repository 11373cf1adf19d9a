// Package ue implements the device side of the 3GPP Generic Bootstrapping Architecture
// (TS 33.220 §4.5, TS 24.109 V18 §A.3) for GBA_ME devices and its use for oneM2M M2M
// enrolment.
//
// # Flow
//
// A device holds a USIM (here the emulated [USIM], or any [Authenticator], for example
// a real UICC reached through PC/SC or AT+CSIM). The [Client] runs the bootstrapping
// procedure over the Ub reference point against the BSF (TS 33.220 §4.5.2, TS 24.109
// §4.2 and §A.3):
//
//  1. GET / with Authorization: Digest username="<IMPI>", realm, nonce="", uri="/",
//     response="" (TS 24.109 §A.3 step 1).
//  2. The BSF answers 401 with an AKAv1-MD5 (or AKAv2-MD5) challenge whose nonce is
//     base64(RAND ‖ AUTN ‖ server data) (RFC 3310 §3.2).
//  3. The USIM runs AUTHENTICATE (TS 33.102 §6.3.3): it checks MAC-A, the freshness of SQN
//     (TS 33.102 §C.2) and the AMF separation bit, and returns RES, CK and IK.
//  4. The client answers with qop=auth-int and the password RES as raw octets
//     (RFC 3310 §3.3); for AKAv2-MD5 the password of RFC 4169 §3.
//  5. The BSF answers 200 with Authentication-Info (rspauth, which authenticates the
//     BSF, RFC 3310 §3.5) and a BootstrappingInfo XML body carrying the B-TID and the key
//     lifetime (TS 24.109 §C.1). Ks = CK ‖ IK (TS 33.220 §4.5.2).
//
// On a synchronisation failure the client sends AUTS with an empty-password response and
// answers the next challenge once (RFC 3310 §3.4, TS 24.109 §4.5); on a MAC failure it
// sends the empty-password response without AUTS and gives up with
// [ErrNetworkAuthFailed] (TS 24.109 §4.4).
//
// The resulting [Bootstrap] derives NAF-specific keys, Ks_NAF (TS 33.220 §B.3). Over Ua,
// the [Transport] answers a NAF's HTTP Digest challenge with realm
// "3GPP-bootstrapping@<naf-fqdn>" using username = B-TID and password = base64(Ks_NAF)
// (TS 24.109 §5.2, TS 33.220 §4.5.3). [Client.Enrol] uses it for oneM2M enrolment with
// an M2M Enrolment Function acting as NAF; the M2M root key Kmr is the Ks_NAF of the MEF
// and is derived locally: it never travels.
//
// # Secrets
//
// K, OPc, CK, IK, RES, Ks, Ks_NAF and Kmr are held in [Key128], [Key] and [AKAResult],
// which print "REDACTED" under every fmt verb, slog and encoding.TextMarshaler. Read them
// only through their Bytes methods.
//
// # Persistence
//
// A device keeps two things across restarts: the USIM's SQN array (USIM.MarshalBinary,
// TS 33.102 §C.2), without which a replayed challenge would be accepted, and optionally
// the bootstrap itself (Config.Store, for example a FileStore), so that Ks is reused
// until it expires instead of bootstrapping at every start.
package ue
