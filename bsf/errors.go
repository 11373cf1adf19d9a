package bsf

import "errors"

// Domain errors. They are protocol-neutral: ubStatus maps them to HTTP status codes on Ub and
// the Zn server maps them to Diameter result codes. None of them carries key material, RES
// or an IMPI.
var (
	// ErrBTIDUnknown reports a B-TID that names no live bootstrapping session: never issued,
	// malformed, issued by another BSF, or expired (TS 33.220 §4.5.3). On Zn it is
	// DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID (5403), TS 29.109 §6.2.2.3.
	ErrBTIDUnknown = errors.New("bsf: B-TID unknown or expired")
	// ErrNAFNotAuthorized reports a NAF that may not receive keys for this request: unknown
	// NAF Origin-Host, a NAF-Id whose FQDN is not configured for that NAF, or a GUSS whose USSs
	// do not cover the NAF's group (TS 33.220 §4.5.3, Annex J). On Zn it is
	// DIAMETER_ERROR_NOT_AUTHORIZED (5402), TS 29.109 §6.2.2.2.
	ErrNAFNotAuthorized = errors.New("bsf: NAF not authorized")

	// ErrIMPIUnknown reports an IMPI the HSS does not know (Zh
	// DIAMETER_ERROR_IDENTITY_UNKNOWN 5401, TS 29.109 §6.2.2.1). Ub answers 403.
	ErrIMPIUnknown = errors.New("bsf: IMPI unknown")
	// ErrHSSUnavailable reports that no HSS answered within the Zh timeout (or none is
	// reachable). Ub answers 503 with Retry-After.
	ErrHSSUnavailable = errors.New("bsf: HSS unavailable")
	// ErrResyncFailed reports that the HSS rejected a resynchronisation request (MAC-S of
	// AUTS did not verify, TS 33.102 §6.3.5). Ub answers 403.
	ErrResyncFailed = errors.New("bsf: resynchronisation failed")

	// ErrBadRequest reports a Ub request that is not a well-formed bootstrapping request
	// (missing or malformed Authorization, wrong realm, algorithm, qop or digest-uri). 400.
	ErrBadRequest = errors.New("bsf: malformed Ub request")
	// ErrRequestTooLarge reports a Ub request body over the configured limit. 413.
	ErrRequestTooLarge = errors.New("bsf: Ub request body too large")
	// ErrNetworkAuthFailure reports that the UE could not authenticate the network: it
	// answered with a response over the empty password and no auts (TS 24.109 §4.4). 403.
	ErrNetworkAuthFailure = errors.New("bsf: UE failed to authenticate the network")
	// ErrTooManyFailures reports a UE that sent a wrong response too many times in a row
	// (TS 24.109 §4.3). 403.
	ErrTooManyFailures = errors.New("bsf: too many authentication failures")
	// ErrTMPIUnknown reports a TMPI in the username parameter: this BSF issues no TMPIs, so
	// it can never resolve one (TS 33.220 §4.5.2: the UE then retries with its IMPI). 403.
	ErrTMPIUnknown = errors.New("bsf: TMPI unknown")
	// ErrOverloaded reports that the pending-challenge table is full. Ub answers 503.
	ErrOverloaded = errors.New("bsf: too many pending challenges")

	// ErrSessionNotFound is returned by Store.Session for an unknown or expired B-TID.
	ErrSessionNotFound = errors.New("bsf: session not found")
	// ErrSessionExists is returned by Store.CreateSession when a live session already uses
	// the B-TID (a RAND collision).
	ErrSessionExists = errors.New("bsf: session already exists")
	// ErrChallengeNotFound is returned by ChallengeStore.TakeChallenge for a nonce that was
	// never issued, was already used, or has expired.
	ErrChallengeNotFound = errors.New("bsf: challenge not found")
	// ErrChallengeExists is returned by ChallengeStore.PutChallenge for a nonce that is
	// already pending.
	ErrChallengeExists = errors.New("bsf: challenge already pending")
	// ErrSealed reports sealed key material that does not open under any configured
	// key-encryption key (wrong key, or the record was tampered with or moved).
	ErrSealed = errors.New("bsf: sealed key does not open")
	// ErrInvalidGUSS reports a GBA-UserSecSettings document from the HSS that this BSF
	// cannot use (TS 29.109 Annex A).
	ErrInvalidGUSS = errors.New("bsf: invalid GUSS")
	// ErrConfig is matched by every *ConfigError.
	ErrConfig = errors.New("bsf: config")
)
