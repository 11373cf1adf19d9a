package ue

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Match them with errors.Is; none carries key material.
var (
	// ErrKeyFormat reports key material of the wrong length or encoding.
	ErrKeyFormat = errors.New("ue: invalid key")
	// ErrConfig reports an invalid Config, USIM or Transport setting; the message names it.
	ErrConfig = errors.New("ue: invalid configuration")

	// ErrMACFailure is returned by an Authenticator whose MAC-A check of AUTN failed: the
	// challenge did not come from the subscriber's home network (TS 33.102 §6.3.3).
	ErrMACFailure = errors.New("ue: AUTN MAC failure")
	// ErrAMFSeparation is returned by an Authenticator that rejects the AMF separation bit
	// of an otherwise valid AUTN (TS 33.102 §H, TS 33.401 §6.1.1).
	ErrAMFSeparation = errors.New("ue: AMF separation bit rejected")

	// ErrNetworkAuthFailed reports that the UE could not authenticate the network on Ub:
	// the USIM rejected AUTN (MAC or AMF). The client has sent the empty-password
	// response without auts (TS 24.109 §4.4). It wraps the Authenticator's error.
	ErrNetworkAuthFailed = errors.New("ue: network authentication failed")
	// ErrResyncFailed reports a second synchronisation failure after a re-synchronisation
	// (RFC 3310 §3.4, TS 24.109 §4.5): the client answers the new challenge only once.
	ErrResyncFailed = errors.New("ue: re-synchronisation failed")
	// ErrServerAuthFailed reports a server that did not authenticate itself: the
	// Authentication-Info rspauth is missing or wrong (RFC 2617 §3.2.3, RFC 3310 §3.5).
	ErrServerAuthFailed = errors.New("ue: server authentication failed (rspauth)")
	// ErrAuthRejected reports that the server refused the UE's credentials (TS 24.109 §4.3
	// on Ub, §5.2.3 on Ua). It is wrapped together with a *StatusError.
	ErrAuthRejected = errors.New("ue: authentication rejected by server")
	// ErrProtocol reports a server message the client cannot use: a missing or malformed
	// challenge, an unsupported algorithm or qop, a realm naming another host.
	ErrProtocol = errors.New("ue: protocol error")
	// ErrBootstrappingInfo reports a 200 OK body on Ub that is not a valid
	// BootstrappingInfo document (TS 24.109 §C.1).
	ErrBootstrappingInfo = errors.New("ue: invalid BootstrappingInfo")
	// ErrEnrolment reports an enrolment response that is malformed, incomplete or names
	// another Kmr-ID than the B-TID used.
	ErrEnrolment = errors.New("ue: invalid enrolment response")
	// ErrBodyTooLarge reports a request or response body over the configured limit.
	ErrBodyTooLarge = errors.New("ue: body too large")

	// ErrNotFound is returned by a Store that holds no bootstrap for the IMPI.
	ErrNotFound = errors.New("ue: no stored bootstrap")
	// ErrStore reports a stored bootstrap that cannot be read: corrupt, tampered with,
	// encrypted under another key, or with unsafe file permissions.
	ErrStore = errors.New("ue: unusable bootstrap store")
)

// StatusError reports an HTTP status the client did not expect at that step.
type StatusError struct {
	// Op names the exchange: "ub", "ua" or "enrolment".
	Op string
	// StatusCode is the HTTP status received.
	StatusCode int
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("ue: %s: unexpected HTTP status %d %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
}

// SyncFailure is the error of an Authenticator that found AUTN authentic but its sequence
// number not acceptable (TS 33.102 §6.3.3, §C.2). AUTS = (SQN_MS ⊕ AK*) ‖ MAC-S goes back
// to the network for re-synchronisation (TS 33.102 §6.3.5, RFC 3310 §3.4). AUTS is not
// secret; it does not appear in Error.
type SyncFailure struct {
	AUTS [14]byte
}

// Error implements error.
func (*SyncFailure) Error() string { return "ue: SQN synchronisation failure" }
