package aka

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"sync"
)

// AMFPolicy says what the ME does with the AMF separation bit (bit 0 of AMF, TS 33.102 §H)
// of an AUTN whose MAC and SQN are valid. The zero value, AMFSeparationMustBeZero, is the
// default for GBA_ME over UTRAN-style AKA on Ub.
type AMFPolicy uint8

const (
	// AMFSeparationMustBeZero rejects vectors with the separation bit set. Such vectors are
	// meant for E-UTRAN, where CK and IK never leave the HSS (TS 33.401 §6.1.1); on Ub the
	// BSF receives CK and IK in the clear, so an EPS vector must not be accepted there.
	// This is the default.
	AMFSeparationMustBeZero AMFPolicy = iota
	// AMFSeparationMustBeOne requires the separation bit, as the ME does on E-UTRAN
	// (TS 33.401 §6.1.1).
	AMFSeparationMustBeOne
	// AMFSeparationIgnored accepts either value, as a pre-EPS UTRAN ME does (TS 33.102 §6.3.3
	// does not check AMF). Use it only to interwork with an HSS that sets the bit on Zh.
	AMFSeparationIgnored
)

// String names the policy.
func (p AMFPolicy) String() string {
	switch p {
	case AMFSeparationMustBeZero:
		return "separation-bit-0"
	case AMFSeparationMustBeOne:
		return "separation-bit-1"
	case AMFSeparationIgnored:
		return "separation-bit-ignored"
	}
	return fmt.Sprintf("AMFPolicy(%d)", uint8(p))
}

// allows reports whether the policy accepts amf (TS 33.102 §H, TS 33.401 §6.1.1).
func (p AMFPolicy) allows(amf AMF) bool {
	switch p {
	case AMFSeparationMustBeZero:
		return !amf.Separation()
	case AMFSeparationMustBeOne:
		return amf.Separation()
	case AMFSeparationIgnored:
		return true
	}
	return false
}

// Result is what a successful USIM authentication returns (TS 33.102 §6.3.3): RES for the
// network and the keys CK and IK. All three redact themselves.
type Result struct {
	RES RES
	CK  Key
	IK  Key
}

// SyncFailure is the error of a USIM that found AUTN authentic but its SQN not acceptable
// (TS 33.102 §6.3.3, §C.2). AUTS = (SQN_MS ⊕ AK*) ‖ MAC-S is what the UE sends back for
// re-synchronisation (TS 33.102 §6.3.5); it is public and does not appear in Error.
type SyncFailure struct {
	AUTS   [AUTSLen]byte
	Reason SyncReason
}

// Error implements error.
func (e *SyncFailure) Error() string { return "aka: synchronisation failure: " + e.Reason.String() }

// USIM emulates the AKA part of a USIM and the ME checks around it: it verifies AUTN, keeps
// the SQN array of TS 33.102 §C.2 and computes RES, CK and IK (TS 33.102 §6.3.3). It is safe
// for concurrent use. It prints as REDACTED under fmt and slog.
type USIM struct {
	// keys returns K and OPc. They sit behind a closure so that no fmt verb can reach them,
	// even when a USIM is printed as an unexported field of another struct (fmt then
	// bypasses the methods below and prints the fields by reflection).
	keys   func() (k, opc Key)
	policy AMFPolicy

	mu  sync.Mutex
	sqn SQNArray
}

// NewUSIM returns a USIM for K and OPc with the given SQN array (NewSQNArray for a new card,
// UnmarshalBinary for a stored one) and AMF policy. The array is copied.
func NewUSIM(k, opc Key, sqn SQNArray, policy AMFPolicy) (*USIM, error) {
	if err := sqn.valid(); err != nil {
		return nil, err
	}
	if policy > AMFSeparationIgnored {
		return nil, fmt.Errorf("%w: %d", ErrAMFPolicy, uint8(policy))
	}
	return &USIM{keys: func() (Key, Key) { return k, opc }, policy: policy, sqn: sqn.clone()}, nil
}

// SQNArray returns a copy of the current SQN array, to be persisted with MarshalBinary.
func (u *USIM) SQNArray() SQNArray {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sqn.clone()
}

// Authenticate runs the USIM side of AKA on a challenge (TS 33.102 §6.3.3):
//
//  1. AK = f5(K, RAND); SQN = (SQN ⊕ AK) ⊕ AK from AUTN;
//  2. XMAC = f1(K, SQN, RAND, AMF) compared with MAC-A in constant time, else ErrMACFailure;
//  3. SQN freshness by the array scheme of TS 33.102 §C.2, else a *SyncFailure whose AUTS
//     is built from SQN_MS, the highest SQN accepted so far;
//  4. the AMF separation bit against the AMFPolicy (TS 33.102 §H), else ErrAMFSeparation;
//  5. RES = f2, CK = f3, IK = f4, and SEQ_MS(IND) := SEQ.
//
// The SQN array changes only on success.
func (u *USIM) Authenticate(rand, autn []byte) (Result, error) {
	if len(rand) != RANDLen {
		return Result{}, fmt.Errorf("%w: RAND is %d octets, want %d", ErrLength, len(rand), RANDLen)
	}
	if len(autn) != AUTNLen {
		return Result{}, fmt.Errorf("%w: AUTN is %d octets, want %d", ErrLength, len(autn), AUTNLen)
	}
	rnd := [RANDLen]byte(rand)
	k, opc := u.keys()
	f := newFns(&k, &opc, &rnd)
	o, err := f.f2345()
	if err != nil {
		return Result{}, err
	}
	var conc [6]byte
	for i := range conc {
		conc[i] = autn[i] ^ o.ak[i]
	}
	sqn := sqnFromBytes(&conc)
	amf := AMF(autn[6])<<8 | AMF(autn[7])
	xmac, err := f.f1(sqn, amf)
	if err != nil {
		return Result{}, err
	}
	if subtle.ConstantTimeCompare(xmac[:], autn[8:16]) != 1 {
		return Result{}, ErrMACFailure
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	if reason := u.sqn.check(sqn); reason != 0 {
		auts, err := f.auts(u.sqn.SQNMS())
		if err != nil {
			return Result{}, err
		}
		return Result{}, &SyncFailure{AUTS: auts, Reason: reason}
	}
	if !u.policy.allows(amf) {
		return Result{}, fmt.Errorf("%w (%s)", ErrAMFSeparation, u.policy)
	}
	u.sqn.accept(sqn)
	return Result{RES: o.res, CK: o.ck, IK: o.ik}, nil
}

// String implements fmt.Stringer.
func (*USIM) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (*USIM) GoString() string { return redacted }

// Format implements fmt.Formatter for every verb.
func (*USIM) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (*USIM) LogValue() slog.Value { return slog.StringValue(redacted) }
