package aka

import (
	"fmt"

	"github.com/wmnsk/milenage"
)

// resyncAMF is the dummy AMF of MAC-S: TS 33.102 §6.3.3 computes f1* with AMF = 0x0000 so
// that AMF need not travel in AUTS.
const resyncAMF AMF = 0x0000

// DeriveOPc computes OPc = OP ⊕ E[OP]K (TS 35.206 §4.1).
func DeriveOPc(k, op Key) (Key, error) {
	opc, err := milenage.ComputeOPc(k[:], op[:])
	if err != nil {
		return Key{}, fmt.Errorf("aka: OPc: %w", err)
	}
	var out Key
	if copy(out[:], opc) != len(out) {
		return Key{}, fmt.Errorf("%w: OPc", ErrLength)
	}
	return out, nil
}

// f1 returns MAC-A = f1(K, SQN, RAND, AMF) (TS 35.206 §4.1, OUT1 bits 0..63).
func f1(k, opc Key, rand *[16]byte, sqn SQN, amf AMF) ([8]byte, error) {
	m := milenage.NewWithOPc(k[:], opc[:], rand[:], uint64(sqn), uint16(amf))
	mac, err := m.F1()
	if err != nil {
		return [8]byte{}, fmt.Errorf("aka: f1: %w", err)
	}
	var out [8]byte
	copy(out[:], mac)
	return out, nil
}

// f1Star returns MAC-S = f1*(K, SQN, RAND, AMF) (TS 35.206 §4.1, OUT1 bits 64..127).
func f1Star(k, opc Key, rand *[16]byte, sqn SQN, amf AMF) ([8]byte, error) {
	m := milenage.NewWithOPc(k[:], opc[:], rand[:], uint64(sqn), uint16(amf))
	mac, err := m.F1Star(m.SQN, m.AMF)
	if err != nil {
		return [8]byte{}, fmt.Errorf("aka: f1*: %w", err)
	}
	var out [8]byte
	copy(out[:], mac)
	return out, nil
}

// f2345Out holds the outputs of f2, f3, f4 and f5 for one RAND.
type f2345Out struct {
	res    RES
	ck, ik Key
	ak     [6]byte
}

// f2345 returns RES = f2, CK = f3, IK = f4 and AK = f5 of (K, RAND) (TS 35.206 §4.1).
func f2345(k, opc Key, rand *[16]byte) (f2345Out, error) {
	m := milenage.NewWithOPc(k[:], opc[:], rand[:], 0, 0)
	res, ck, ik, ak, err := m.F2345()
	if err != nil {
		return f2345Out{}, fmt.Errorf("aka: f2345: %w", err)
	}
	var o f2345Out
	copy(o.res[:], res)
	copy(o.ck[:], ck)
	copy(o.ik[:], ik)
	copy(o.ak[:], ak)
	return o, nil
}

// f5Star returns AK* = f5*(K, RAND) (TS 35.206 §4.1, OUT5 bits 0..47).
func f5Star(k, opc Key, rand *[16]byte) ([6]byte, error) {
	m := milenage.NewWithOPc(k[:], opc[:], rand[:], 0, 0)
	aks, err := m.F5Star()
	if err != nil {
		return [6]byte{}, fmt.Errorf("aka: f5*: %w", err)
	}
	var out [6]byte
	copy(out[:], aks)
	return out, nil
}
