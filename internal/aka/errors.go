package aka

import "errors"

// Sentinel errors. They are immutable and carry no key material; callers match them with
// errors.Is. A failed SQN check is reported as *SyncFailure instead (errors.As).
var (
	// ErrLength reports an input of the wrong size (RAND, AUTN, AUTS, key text).
	ErrLength = errors.New("aka: invalid length")
	// ErrKeyEncoding reports key text that is not hexadecimal.
	ErrKeyEncoding = errors.New("aka: key is not hexadecimal")
	// ErrMACFailure reports that MAC-A in AUTN does not verify (TS 33.102 §6.3.3).
	ErrMACFailure = errors.New("aka: MAC failure")
	// ErrResyncMACFailure reports that MAC-S in AUTS does not verify (TS 33.102 §6.3.5).
	ErrResyncMACFailure = errors.New("aka: resynchronisation MAC-S failure")
	// ErrAMFSeparation reports an AUTN whose AMF separation bit the AMFPolicy forbids
	// (TS 33.102 §H, TS 33.401 §6.1.1).
	ErrAMFSeparation = errors.New("aka: AMF separation bit rejected by policy")
	// ErrSQNRange reports a sequence number that does not fit the 48-bit SQN or its SEQ part.
	ErrSQNRange = errors.New("aka: SQN out of range")
	// ErrSQNExhausted reports that SEQ_HE cannot be incremented any further (TS 33.102 §C.1.1).
	ErrSQNExhausted = errors.New("aka: SEQ exhausted")
	// ErrScheme reports invalid SEQ‖IND parameters (IND length, Δ, L).
	ErrScheme = errors.New("aka: invalid SQN scheme")
	// ErrState reports a serialised SQN array that is malformed.
	ErrState = errors.New("aka: invalid SQN array state")
	// ErrAMFPolicy reports an unknown AMFPolicy value.
	ErrAMFPolicy = errors.New("aka: unknown AMF policy")
)
