package aka

import (
	"fmt"

	"github.com/wmnsk/milenage"

	"github.com/opengba/opengba/internal/redact"
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

// fns runs the Milenage functions of TS 35.206 §4.1 for one (K, OPc, RAND) with
// wmnsk/milenage. One value serves every function a procedure needs for that RAND (the
// AuC's f1 and f2345, the USIM's f5, f1 and f2345, f5* and f1* of a resynchronisation), so
// that the library's per-instance state is set up once per procedure, not once per
// function.
type fns struct{ m *milenage.Milenage }

func newFns(k, opc *Key, rand *[RANDLen]byte) fns {
	return fns{milenage.NewWithOPc(k[:], opc[:], rand[:], 0, 0)}
}

// f1 returns MAC-A = f1(K, SQN, RAND, AMF) (TS 35.206 §4.1, OUT1 bits 0..63).
func (f fns) f1(sqn SQN, amf AMF) ([8]byte, error) {
	b := sqn.Bytes()
	copy(f.m.SQN, b[:])
	f.m.AMF[0], f.m.AMF[1] = byte(amf>>8), byte(amf)
	mac, err := f.m.F1()
	if err != nil {
		return [8]byte{}, fmt.Errorf("aka: f1: %w", err)
	}
	var out [8]byte
	copy(out[:], mac)
	return out, nil
}

// f1Star returns MAC-S = f1*(K, SQN, RAND, AMF) (TS 35.206 §4.1, OUT1 bits 64..127).
func (f fns) f1Star(sqn SQN, amf AMF) ([8]byte, error) {
	b := sqn.Bytes()
	mac, err := f.m.F1Star(b[:], []byte{byte(amf >> 8), byte(amf)})
	if err != nil {
		return [8]byte{}, fmt.Errorf("aka: f1*: %w", err)
	}
	var out [8]byte
	copy(out[:], mac)
	return out, nil
}

// f2345Out holds the outputs of f2, f3, f4 and f5 for one RAND.
type f2345Out struct {
	redact.Fields
	res    RES
	ck, ik Key
	ak     [6]byte
}

// f2345 returns RES = f2, CK = f3, IK = f4 and AK = f5 of (K, RAND) (TS 35.206 §4.1).
func (f fns) f2345() (f2345Out, error) {
	res, ck, ik, ak, err := f.m.F2345()
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
func (f fns) f5Star() ([6]byte, error) {
	aks, err := f.m.F5Star()
	if err != nil {
		return [6]byte{}, fmt.Errorf("aka: f5*: %w", err)
	}
	var out [6]byte
	copy(out[:], aks)
	return out, nil
}
