package ue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"unicode/utf8"

	"github.com/opengba/opengba/internal/aka"
)

// Authenticator is the UICC side of AKA: the USIM's AUTHENTICATE command
// (TS 33.102 §6.3.3, TS 31.102 §7.1) and the private identity used on Ub. USIM emulates
// one; a device with a real UICC implements it over PC/SC or AT+CSIM and plugs it into
// Config without touching the Client.
//
// Authenticate returns RES, CK and IK for an authentic and fresh challenge. Otherwise it
// returns an error that matches ErrMACFailure (MAC-A wrong), ErrAMFSeparation (AMF
// separation bit refused) or is a *SyncFailure carrying AUTS (SQN not fresh); any other
// error (card I/O, ctx) ends the bootstrap as is. Implementations must be safe for
// concurrent use.
type Authenticator interface {
	// IMPI returns the IP Multimedia Private Identity sent as username on Ub
	// (TS 33.220 §4.5.2, TS 23.003 §13.3).
	IMPI() string
	// Authenticate runs AKA on the challenge RAND and AUTN (TS 33.102 §6.3.3).
	Authenticate(ctx context.Context, rand, autn [16]byte) (AKAResult, error)
}

// RES length bounds of TS 33.102 §6.3.2: 32 to 128 bits.
const (
	minRESLen = 4
	maxRESLen = 16
)

// AKAResult is the output of a successful AUTHENTICATE: RES, CK and IK (TS 33.102
// §6.3.3). It prints REDACTED under fmt and slog; read it through its methods.
type AKAResult struct {
	res    func() []byte // a closure, so that no fmt path reaches the octets
	ck, ik Key128
}

// NewAKAResult builds an AKAResult from RES (4 to 16 octets, TS 33.102 §6.3.2), CK and IK.
// Authenticators other than USIM use it to return what the card answered.
func NewAKAResult(res []byte, ck, ik Key128) (AKAResult, error) {
	if len(res) < minRESLen || len(res) > maxRESLen {
		return AKAResult{}, fmt.Errorf("%w: RES is %d octets, want %d to %d", ErrKeyFormat, len(res), minRESLen, maxRESLen)
	}
	if ck.IsZero() || ik.IsZero() {
		return AKAResult{}, fmt.Errorf("%w: CK and IK must be set", ErrKeyFormat)
	}
	return AKAResult{res: hide(res), ck: ck, ik: ik}, nil
}

// hide copies b behind a closure.
func hide(b []byte) func() []byte {
	c := append([]byte(nil), b...)
	return func() []byte { return c }
}

// RES returns a copy of RES, or nil for the zero AKAResult.
func (r AKAResult) RES() []byte {
	if r.res == nil {
		return nil
	}
	return append([]byte(nil), r.res()...)
}

// CK returns the cipher key.
func (r AKAResult) CK() Key128 { return r.ck }

// IK returns the integrity key.
func (r AKAResult) IK() Key128 { return r.ik }

// String returns "REDACTED".
func (AKAResult) String() string { return redacted }

// GoString returns "REDACTED".
func (AKAResult) GoString() string { return redacted }

// Format prints "REDACTED" for every verb and flag.
func (AKAResult) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "REDACTED".
func (AKAResult) LogValue() slog.Value { return slog.StringValue(redacted) }

// AMFPolicy says what the USIM emulator does with the AMF separation bit (bit 0 of AMF,
// TS 33.102 §H) of an authentic and fresh AUTN.
type AMFPolicy uint8

const (
	// AMFSeparationMustBeZero rejects vectors with the separation bit set, which are meant
	// for E-UTRAN where CK and IK never leave the HSS (TS 33.401 §6.1.1); on Ub the BSF
	// receives CK and IK. This is the default.
	AMFSeparationMustBeZero AMFPolicy = iota
	// AMFSeparationMustBeOne requires the separation bit (TS 33.401 §6.1.1).
	AMFSeparationMustBeOne
	// AMFSeparationIgnored accepts either value (TS 33.102 §6.3.3 does not check AMF).
	AMFSeparationIgnored
)

// SQNScheme holds the parameters of the SEQ ‖ IND sequence number scheme of
// TS 33.102 §C.1. The USIM and the HSS must agree on INDBits and Delta.
type SQNScheme struct {
	// INDBits is the length of IND (TS 33.102 §C.1.2); the USIM keeps 2^INDBits entries
	// SEQ_MS(i) (TS 33.102 §C.2.2). At most 10.
	INDBits uint8
	// Delta is Δ: a SEQ more than Δ above the highest accepted one is refused
	// (TS 33.102 §C.2.1). At least 1.
	Delta uint64
	// L is the optional age limit of TS 33.102 §C.2.2; zero disables it.
	L uint64
}

// DefaultSQNScheme returns IND = 5 bits, Δ = 2^28 and no age limit: the values
// internal to OpenGBA's HSS simulator.
func DefaultSQNScheme() SQNScheme {
	s := aka.DefaultSQNScheme()
	return SQNScheme{INDBits: s.INDBits, Delta: s.Delta, L: s.L}
}

// USIMOptions tunes a USIM. The zero value (and a nil pointer) selects the defaults.
type USIMOptions struct {
	// Scheme is the SQN scheme; the zero SQNScheme means DefaultSQNScheme.
	Scheme SQNScheme
	// AMFPolicy defaults to AMFSeparationMustBeZero.
	AMFPolicy AMFPolicy
}

// maxIMPILen bounds the IMPI (an NAI, TS 23.003 §13.3; RFC 7542 §2.2 allows 253 octets).
const maxIMPILen = 512

// USIM emulates a USIM for GBA_ME: AUTHENTICATE of TS 33.102 §6.3.3 on the Milenage
// algorithm set (TS 35.206) with the SQN array of TS 33.102 §C.2. It is safe for
// concurrent use and prints REDACTED under fmt and slog.
//
// A device must keep the SQN array across restarts, or a replayed challenge would be
// accepted again: save it with MarshalBinary after each bootstrap and restore it with
// UnmarshalBinary.
type USIM struct {
	impi   string
	k, opc Key128 // behind pointers, so that no fmt path prints them
	policy aka.AMFPolicy

	mu   sync.Mutex
	card *aka.USIM
}

// NewUSIM returns a USIM for the IMPI, the subscriber key K and the operator key OPc
// (TS 35.206 §4.1) with a fresh SQN array. opts may be nil.
func NewUSIM(impi string, k, opc Key128, opts *USIMOptions) (*USIM, error) {
	if err := checkIMPI(impi); err != nil {
		return nil, err
	}
	if k.IsZero() || opc.IsZero() {
		return nil, fmt.Errorf("%w: K and OPc must be set", ErrConfig)
	}
	var o USIMOptions
	if opts != nil {
		o = *opts
	}
	scheme := o.Scheme
	if scheme == (SQNScheme{}) {
		scheme = DefaultSQNScheme()
	}
	policy, err := o.AMFPolicy.internal()
	if err != nil {
		return nil, err
	}
	arr, err := aka.NewSQNArray(aka.SQNScheme{INDBits: scheme.INDBits, Delta: scheme.Delta, L: scheme.L})
	if err != nil {
		return nil, fmt.Errorf("%w: SQN scheme: %w", ErrConfig, err)
	}
	u := &USIM{impi: impi, k: k, opc: opc, policy: policy}
	if u.card, err = aka.NewUSIM(aka.Key(*k.arr()), aka.Key(*opc.arr()), arr, policy); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return u, nil
}

// NewUSIMWithOP is NewUSIM for a card provisioned with OP instead of OPc: it derives
// OPc = OP ⊕ E[OP]K (TS 35.206 §4.1).
func NewUSIMWithOP(impi string, k, op Key128, opts *USIMOptions) (*USIM, error) {
	if k.IsZero() || op.IsZero() {
		return nil, fmt.Errorf("%w: K and OP must be set", ErrConfig)
	}
	opc, err := aka.DeriveOPc(aka.Key(*k.arr()), aka.Key(*op.arr()))
	if err != nil {
		return nil, fmt.Errorf("%w: OPc: %w", ErrConfig, err)
	}
	return NewUSIM(impi, k, key128Of((*[Key128Size]byte)(opc[:])), opts)
}

func (p AMFPolicy) internal() (aka.AMFPolicy, error) {
	switch p {
	case AMFSeparationMustBeZero:
		return aka.AMFSeparationMustBeZero, nil
	case AMFSeparationMustBeOne:
		return aka.AMFSeparationMustBeOne, nil
	case AMFSeparationIgnored:
		return aka.AMFSeparationIgnored, nil
	}
	return 0, fmt.Errorf("%w: unknown AMFPolicy %d", ErrConfig, uint8(p))
}

// checkIMPI accepts a non-empty UTF-8 string of printable characters: the IMPI travels in
// a quoted-string and enters the KDF (TS 33.220 §B.2.1).
func checkIMPI(impi string) error {
	switch {
	case impi == "":
		return fmt.Errorf("%w: IMPI is empty", ErrConfig)
	case len(impi) > maxIMPILen:
		return fmt.Errorf("%w: IMPI longer than %d octets", ErrConfig, maxIMPILen)
	case !utf8.ValidString(impi):
		return fmt.Errorf("%w: IMPI is not UTF-8", ErrConfig)
	}
	for _, r := range impi {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("%w: IMPI contains a control character", ErrConfig)
		}
	}
	return nil
}

// IMPI implements Authenticator.
func (u *USIM) IMPI() string { return u.impi }

// Authenticate implements Authenticator with AUTHENTICATE of TS 33.102 §6.3.3:
//
//  1. SQN = (SQN ⊕ AK) ⊕ f5(K, RAND) from AUTN;
//  2. XMAC = f1(K, SQN, RAND, AMF) equals MAC-A in constant time, else ErrMACFailure;
//  3. SQN is fresh by the array scheme of TS 33.102 §C.2, else a *SyncFailure with
//     AUTS = (SQN_MS ⊕ AK*) ‖ MAC-S (TS 33.102 §6.3.3);
//  4. the AMF separation bit satisfies the AMFPolicy (TS 33.102 §H), else
//     ErrAMFSeparation;
//  5. RES = f2, CK = f3, IK = f4, and the SQN array records SQN.
//
// The SQN array changes only on success.
func (u *USIM) Authenticate(ctx context.Context, rand, autn [16]byte) (AKAResult, error) {
	if err := ctx.Err(); err != nil {
		return AKAResult{}, err
	}
	u.mu.Lock()
	card := u.card
	u.mu.Unlock()
	r, err := card.Authenticate(rand[:], autn[:])
	if err != nil {
		var sf *aka.SyncFailure
		switch {
		case errors.As(err, &sf):
			return AKAResult{}, &SyncFailure{AUTS: sf.AUTS}
		case errors.Is(err, aka.ErrMACFailure):
			return AKAResult{}, ErrMACFailure
		case errors.Is(err, aka.ErrAMFSeparation):
			return AKAResult{}, ErrAMFSeparation
		}
		return AKAResult{}, fmt.Errorf("ue: usim: %w", err)
	}
	ck, ik := [Key128Size]byte(r.CK), [Key128Size]byte(r.IK)
	return AKAResult{res: hide(r.RES[:]), ck: key128Of(&ck), ik: key128Of(&ik)}, nil
}

// MarshalBinary returns the SQN state of the USIM (the SEQ_MS array of TS 33.102 §C.2.2
// and its scheme) in a versioned binary form. It holds no key material.
func (u *USIM) MarshalBinary() ([]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	b, err := u.card.SQNArray().MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("ue: usim: %w", err)
	}
	return b, nil
}

// UnmarshalBinary restores SQN state written by MarshalBinary, scheme included. On error
// the USIM is unchanged. Restore before the first Authenticate: a concurrent call may
// still run against the previous state.
func (u *USIM) UnmarshalBinary(b []byte) error {
	var arr aka.SQNArray
	if err := arr.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("ue: usim: SQN state: %w", err)
	}
	card, err := aka.NewUSIM(aka.Key(*u.k.arr()), aka.Key(*u.opc.arr()), arr, u.policy)
	if err != nil {
		return fmt.Errorf("ue: usim: SQN state: %w", err)
	}
	u.mu.Lock()
	u.card = card
	u.mu.Unlock()
	return nil
}

// String returns "REDACTED".
func (*USIM) String() string { return redacted }

// GoString returns "REDACTED".
func (*USIM) GoString() string { return redacted }

// Format prints "REDACTED" for every verb and flag.
func (*USIM) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "REDACTED".
func (*USIM) LogValue() slog.Value { return slog.StringValue(redacted) }
