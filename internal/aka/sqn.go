package aka

import (
	"encoding/binary"
	"fmt"
)

// SQN is a 48-bit sequence number (TS 33.102 §6.3.2). Under the scheme of TS 33.102 §C.1.1
// it is SEQ ‖ IND: SEQ in the high 48−n bits and the index IND in the low n bits, where n is
// SQNScheme.INDBits.
type SQN uint64

// MaxSQN is the largest 48-bit sequence number.
const MaxSQN SQN = 1<<48 - 1

// Bytes returns the 6-octet big-endian encoding used in AUTN and AUTS (TS 33.102 §6.3.2).
func (s SQN) Bytes() [6]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(s))
	return [6]byte(b[2:])
}

// SEQ returns the SEQ part of s for an IND of indBits bits (TS 33.102 §C.1.1).
func (s SQN) SEQ(indBits uint8) uint64 { return uint64(s&MaxSQN) >> indBits }

// IND returns the IND part of s for an IND of indBits bits (TS 33.102 §C.1.2).
func (s SQN) IND(indBits uint8) uint64 { return uint64(s) & (1<<indBits - 1) }

// sqnFromBytes decodes 6 big-endian octets.
func sqnFromBytes(b *[6]byte) SQN {
	var v [8]byte
	copy(v[2:], b[:])
	return SQN(binary.BigEndian.Uint64(v[:]))
}

// joinSQN builds SEQ ‖ IND (TS 33.102 §C.1.1).
func joinSQN(seq, ind uint64, indBits uint8) SQN {
	return SQN(seq<<indBits | ind)
}

// AMF is the 16-bit Authentication Management Field carried in AUTN (TS 33.102 §6.3.2).
type AMF uint16

// AMFSeparationBit is bit 0, the most significant bit, of AMF: the "AMF separation bit"
// of TS 33.102 §H, set to 1 in authentication vectors meant for E-UTRAN (TS 33.401 §6.1.1).
const AMFSeparationBit AMF = 0x8000

// Separation reports whether the AMF separation bit is set (TS 33.102 §H).
func (a AMF) Separation() bool { return a&AMFSeparationBit != 0 }

// Defaults and limits of the SEQ‖IND scheme.
const (
	// DefaultINDBits is the default IND length n of TS 33.102 §C.1.2: 5 bits, an array of
	// a = 32 entries in the USIM (TS 33.102 §C.2.2).
	DefaultINDBits = 5
	// DefaultDelta is the Δ of TS 33.102 §C.2.1 used when none is configured: 2^28.
	DefaultDelta = 1 << 28
	// MaxINDBits bounds the IND length so that the USIM array stays small (1024 entries).
	MaxINDBits = 10
)

// SQNScheme holds the parameters of the SEQ‖IND sequence number scheme of TS 33.102 Annex C.
// The HE/AuC (SQNGenerator) and the USIM (SQNArray) must use the same INDBits and Delta.
type SQNScheme struct {
	// INDBits is the length n of IND (TS 33.102 §C.1.2); the USIM array has a = 2^n entries
	// (TS 33.102 §C.2.2). Zero means a single counter without an array.
	INDBits uint8
	// Delta is Δ: the USIM accepts SEQ only if SEQ − SEQ_MS ≤ Δ (TS 33.102 §C.2.1). It must
	// be at least 1.
	Delta uint64
	// L is the optional age limit: if non-zero the USIM accepts SEQ only if
	// SEQ_MS − SEQ < L (TS 33.102 §C.2.2). Zero means no limit.
	L uint64
}

// DefaultSQNScheme returns IND = 5 bits, Δ = 2^28 and no age limit L.
func DefaultSQNScheme() SQNScheme {
	return SQNScheme{INDBits: DefaultINDBits, Delta: DefaultDelta}
}

// maxSEQ is the largest SEQ for the IND length.
func (s SQNScheme) maxSEQ() uint64 { return uint64(MaxSQN) >> s.INDBits }

// Validate checks the parameters and names the bad one.
func (s SQNScheme) Validate() error {
	switch {
	case s.INDBits > MaxINDBits:
		return fmt.Errorf("%w: INDBits %d exceeds %d", ErrScheme, s.INDBits, MaxINDBits)
	case s.Delta == 0:
		return fmt.Errorf("%w: Delta must be at least 1", ErrScheme)
	case s.Delta > s.maxSEQ():
		return fmt.Errorf("%w: Delta exceeds the SEQ range", ErrScheme)
	case s.L > s.maxSEQ():
		return fmt.Errorf("%w: L exceeds the SEQ range", ErrScheme)
	}
	return nil
}

// SyncReason says which freshness rule of TS 33.102 §C.2 rejected a sequence number.
type SyncReason uint8

// Reasons for a synchronisation failure.
const (
	// SyncNotFresh: SEQ ≤ SEQ_MS(IND), a replay or an older vector (TS 33.102 §C.2.2).
	SyncNotFresh SyncReason = iota + 1
	// SyncDelta: SEQ − SEQ_MS > Δ, a jump too far ahead (TS 33.102 §C.2.1).
	SyncDelta
	// SyncAge: SEQ_MS − SEQ ≥ L, a vector too old (TS 33.102 §C.2.2).
	SyncAge
)

// String names the reason.
func (r SyncReason) String() string {
	switch r {
	case SyncNotFresh:
		return "SQN not fresh"
	case SyncDelta:
		return "SQN beyond delta"
	case SyncAge:
		return "SQN beyond age limit"
	}
	return fmt.Sprintf("SyncReason(%d)", uint8(r))
}

// SQNArray is the USIM's record of accepted sequence numbers, SEQ_MS(0) … SEQ_MS(a−1) of
// TS 33.102 §C.2.2, together with its SQNScheme. A device must keep it across restarts:
// persist it with MarshalBinary and restore it with UnmarshalBinary. The zero value is
// invalid; use NewSQNArray.
type SQNArray struct {
	scheme SQNScheme
	seq    []uint64 // SEQ_MS(i); each element starts at zero (TS 33.102 §C.2.2)
}

// NewSQNArray returns a fresh array (every SEQ_MS(i) = 0) for the scheme.
func NewSQNArray(s SQNScheme) (SQNArray, error) {
	if err := s.Validate(); err != nil {
		return SQNArray{}, err
	}
	return SQNArray{scheme: s, seq: make([]uint64, 1<<s.INDBits)}, nil
}

// Scheme returns the parameters the array was built with.
func (a SQNArray) Scheme() SQNScheme { return a.scheme }

// SQNMS returns SQN_MS, the highest previously accepted sequence number anywhere in the
// array (TS 33.102 §C.2.2): SEQ_MS(i) ‖ i for the largest SEQ_MS(i), lowest i on a tie.
// A fresh array gives 0.
func (a SQNArray) SQNMS() SQN {
	seq, ind := a.highest()
	return joinSQN(seq, ind, a.scheme.INDBits)
}

func (a SQNArray) highest() (seq, ind uint64) {
	for i, s := range a.seq {
		if s > seq {
			seq, ind = s, uint64(i)
		}
	}
	return seq, ind
}

// valid reports whether a was built by NewSQNArray or UnmarshalBinary.
func (a SQNArray) valid() error {
	if err := a.scheme.Validate(); err != nil {
		return err
	}
	if len(a.seq) != 1<<a.scheme.INDBits {
		return fmt.Errorf("%w: array not initialised", ErrState)
	}
	return nil
}

// check applies the freshness rules of TS 33.102 §C.2 to sqn without changing the array.
// It returns 0 if sqn is acceptable.
func (a SQNArray) check(sqn SQN) SyncReason {
	n := a.scheme.INDBits
	seq, ind := sqn.SEQ(n), sqn.IND(n)
	seqMS, _ := a.highest()
	// TS 33.102 §C.2.1: only increases of at most Δ, checked before §C.2.2.
	if seq > seqMS && seq-seqMS > a.scheme.Delta {
		return SyncDelta
	}
	// TS 33.102 §C.2.2: the optional limit L, checked before conditions (a) and (b).
	if a.scheme.L != 0 && seq < seqMS && seqMS-seq >= a.scheme.L {
		return SyncAge
	}
	// TS 33.102 §C.2.2 (a)/(b): fresh only if SEQ > SEQ_MS(IND).
	if seq <= a.seq[ind] {
		return SyncNotFresh
	}
	return 0
}

// accept records sqn as accepted: SEQ_MS(IND) := SEQ (TS 33.102 §C.2.2 (a)).
func (a *SQNArray) accept(sqn SQN) {
	n := a.scheme.INDBits
	a.seq[sqn.IND(n)] = sqn.SEQ(n)
}

// clone returns a deep copy.
func (a SQNArray) clone() SQNArray {
	c := a
	c.seq = append([]uint64(nil), a.seq...)
	return c
}

// Serialised form of SQNArray, version 1:
//
//	octet 0        version (1)
//	octet 1        INDBits n (0..MaxINDBits)
//	octets 2..9    Δ, big-endian
//	octets 10..17  L, big-endian
//	then 2^n × 6   SEQ_MS(0) … SEQ_MS(2^n−1), 48-bit big-endian each
const (
	sqnArrayVersion   = 1
	sqnArrayHeaderLen = 18
	sqnArrayEntryLen  = 6
)

// MarshalBinary implements encoding.BinaryMarshaler.
func (a SQNArray) MarshalBinary() ([]byte, error) {
	if err := a.valid(); err != nil {
		return nil, err
	}
	b := make([]byte, sqnArrayHeaderLen, sqnArrayHeaderLen+sqnArrayEntryLen*len(a.seq))
	b[0] = sqnArrayVersion
	b[1] = a.scheme.INDBits
	binary.BigEndian.PutUint64(b[2:10], a.scheme.Delta)
	binary.BigEndian.PutUint64(b[10:18], a.scheme.L)
	for _, s := range a.seq {
		e := SQN(s).Bytes()
		b = append(b, e[:]...)
	}
	return b, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. It accepts only version 1 with the
// exact length for its IND size and in-range values; on error a is left unchanged.
func (a *SQNArray) UnmarshalBinary(b []byte) error {
	if len(b) < sqnArrayHeaderLen {
		return fmt.Errorf("%w: %d octets, want at least %d", ErrState, len(b), sqnArrayHeaderLen)
	}
	if b[0] != sqnArrayVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrState, b[0], sqnArrayVersion)
	}
	s := SQNScheme{
		INDBits: b[1],
		Delta:   binary.BigEndian.Uint64(b[2:10]),
		L:       binary.BigEndian.Uint64(b[10:18]),
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	size := 1 << s.INDBits
	if want := sqnArrayHeaderLen + sqnArrayEntryLen*size; len(b) != want {
		return fmt.Errorf("%w: %d octets, want %d", ErrState, len(b), want)
	}
	seq := make([]uint64, size)
	for i := range seq {
		e := [6]byte(b[sqnArrayHeaderLen+sqnArrayEntryLen*i:])
		v := uint64(sqnFromBytes(&e))
		if v > s.maxSEQ() {
			return fmt.Errorf("%w: SEQ_MS(%d) out of range", ErrState, i)
		}
		seq[i] = v
	}
	a.scheme, a.seq = s, seq
	return nil
}

// SQNGenerator is the HE/AuC sequence number state of one subscriber for the SEQ‖IND scheme
// of TS 33.102 §C.1.1 and §C.1.2: every authentication vector gets a new SEQ (SEQ_HE + 1),
// and IND cycles through 0 … 2^n−1. It is a plain value with no hidden state: Next and
// Resync return the successor state, which the HSS persists in its own store (together with
// the vector, so that a SQN is never issued twice, also across restarts).
type SQNGenerator struct {
	// Scheme must match the USIMs' (INDBits, Delta); L is not used here.
	Scheme SQNScheme
	// SEQ is SEQ_HE, the SEQ of the most recent SQN issued (0 before the first).
	SEQ uint64
	// IND is the IND the next SQN will carry.
	IND uint64
}

func (g SQNGenerator) validate() error {
	if err := g.Scheme.Validate(); err != nil {
		return err
	}
	if g.SEQ > g.Scheme.maxSEQ() {
		return fmt.Errorf("%w: SEQ_HE out of range", ErrSQNRange)
	}
	if g.IND >= 1<<g.Scheme.INDBits {
		return fmt.Errorf("%w: IND out of range", ErrSQNRange)
	}
	return nil
}

// Next returns the SQN for a fresh authentication vector, SEQ_HE+1 ‖ IND, and the state to
// store (TS 33.102 §C.1.1, §C.1.2). It fails with ErrSQNExhausted once SEQ reaches its
// maximum.
func (g SQNGenerator) Next() (SQN, SQNGenerator, error) {
	if err := g.validate(); err != nil {
		return 0, g, err
	}
	if g.SEQ == g.Scheme.maxSEQ() {
		return 0, g, ErrSQNExhausted
	}
	n := g.Scheme.INDBits
	next := g
	next.SEQ = g.SEQ + 1
	next.IND = (g.IND + 1) & (1<<n - 1)
	return joinSQN(next.SEQ, g.IND, n), next, nil
}

// Resync applies a verified SQN_MS (see VerifyAUTS) to the state (TS 33.102 §6.3.5).
// If SEQ_HE+1 would already be accepted by the USIM (SEQ_MS < SEQ_HE+1 ≤ SEQ_MS+Δ) the
// state is kept, so no SEQ is issued twice; otherwise SEQ_HE := SEQ_MS. Either way the next
// SQN from Next is greater than SQN_MS.
func (g SQNGenerator) Resync(sqnMS SQN) (SQNGenerator, error) {
	if err := g.validate(); err != nil {
		return g, err
	}
	if sqnMS > MaxSQN {
		return g, ErrSQNRange
	}
	seqMS := sqnMS.SEQ(g.Scheme.INDBits)
	if next := g.SEQ + 1; next > seqMS && next-seqMS <= g.Scheme.Delta {
		return g, nil
	}
	g.SEQ = seqMS
	return g, nil
}
