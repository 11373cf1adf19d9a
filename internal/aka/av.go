package aka

import (
	"fmt"
	"io"
	"log/slog"
)

// Octet lengths of the AKA parameters (TS 33.102 §6.3.2, §6.3.3).
const (
	RANDLen = 16
	AUTNLen = 16
	AUTSLen = 14
)

// AV is an authentication vector, the quintet {RAND, XRES, CK, IK, AUTN} of TS 33.102 §6.3.2.
// XRES, CK and IK redact themselves under fmt and slog; RAND and AUTN are public.
type AV struct {
	RAND [RANDLen]byte
	XRES RES
	CK   Key
	IK   Key
	AUTN [AUTNLen]byte
}

// LogValue implements slog.LogValuer: it shows RAND and AUTN and hides the rest.
func (av AV) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("rand", fmt.Sprintf("%x", av.RAND)),
		slog.String("autn", fmt.Sprintf("%x", av.AUTN)),
		slog.String("xres", redacted),
		slog.String("ck", redacted),
		slog.String("ik", redacted),
	)
}

// NewRAND reads a 128-bit random challenge from r (TS 33.102 §6.3.2). Pass crypto/rand.Reader
// in production and a fixed reader in tests.
func NewRAND(r io.Reader) ([RANDLen]byte, error) {
	var rnd [RANDLen]byte
	if _, err := io.ReadFull(r, rnd[:]); err != nil {
		return rnd, fmt.Errorf("aka: RAND: %w", err)
	}
	return rnd, nil
}

// GenerateAV builds the authentication vector for (K, OPc, RAND, SQN, AMF) as the HE/AuC
// does in TS 33.102 §6.3.2: MAC-A = f1, XRES = f2, CK = f3, IK = f4, AK = f5 and
// AUTN = (SQN ⊕ AK) ‖ AMF ‖ MAC-A. Derive OPc from OP with DeriveOPc.
func GenerateAV(k, opc Key, rand [RANDLen]byte, sqn SQN, amf AMF) (AV, error) {
	if sqn > MaxSQN {
		return AV{}, fmt.Errorf("%w: SQN exceeds 48 bits", ErrSQNRange)
	}
	f := newFns(&k, &opc, &rand)
	mac, err := f.f1(sqn, amf)
	if err != nil {
		return AV{}, err
	}
	o, err := f.f2345()
	if err != nil {
		return AV{}, err
	}
	av := AV{RAND: rand, XRES: o.res, CK: o.ck, IK: o.ik}
	sqnb := sqn.Bytes()
	for i := range sqnb {
		av.AUTN[i] = sqnb[i] ^ o.ak[i]
	}
	av.AUTN[6], av.AUTN[7] = byte(amf>>8), byte(amf)
	copy(av.AUTN[8:], mac[:])
	return av, nil
}
