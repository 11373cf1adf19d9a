package aka

import (
	"crypto/subtle"
	"fmt"
)

// buildAUTS computes AUTS = (SQN_MS ⊕ AK*) ‖ MAC-S with AK* = f5*(K, RAND) and
// MAC-S = f1*(K, SQN_MS, RAND, AMF = 0x0000) (TS 33.102 §6.3.3).
func buildAUTS(k, opc Key, rand *[RANDLen]byte, sqnMS SQN) ([AUTSLen]byte, error) {
	return newFns(&k, &opc, rand).auts(sqnMS)
}

// auts is buildAUTS for f's (K, OPc, RAND).
func (f fns) auts(sqnMS SQN) ([AUTSLen]byte, error) {
	var auts [AUTSLen]byte
	aks, err := f.f5Star()
	if err != nil {
		return auts, err
	}
	macS, err := f.f1Star(sqnMS, resyncAMF)
	if err != nil {
		return auts, err
	}
	b := sqnMS.Bytes()
	for i := range b {
		auts[i] = b[i] ^ aks[i]
	}
	copy(auts[6:], macS[:])
	return auts, nil
}

// VerifyAUTS is the HE/AuC part of re-synchronisation (TS 33.102 §6.3.5): from the RAND of
// the rejected challenge and the AUTS the UE returned it recovers SQN_MS with
// AK* = f5*(K, RAND) and checks MAC-S = f1*(K, SQN_MS, RAND, AMF = 0x0000) in constant time,
// else ErrResyncMACFailure. On Zh the two arrive together as RAND ‖ AUTS (30 octets) in
// SIP-Authorization; split them at RANDLen. Feed the result to SQNGenerator.Resync.
func VerifyAUTS(k, opc Key, rand, auts []byte) (SQN, error) {
	if len(rand) != RANDLen {
		return 0, fmt.Errorf("%w: RAND is %d octets, want %d", ErrLength, len(rand), RANDLen)
	}
	if len(auts) != AUTSLen {
		return 0, fmt.Errorf("%w: AUTS is %d octets, want %d", ErrLength, len(auts), AUTSLen)
	}
	rnd := [RANDLen]byte(rand)
	f := newFns(&k, &opc, &rnd)
	aks, err := f.f5Star()
	if err != nil {
		return 0, err
	}
	var conc [6]byte
	for i := range conc {
		conc[i] = auts[i] ^ aks[i]
	}
	sqnMS := sqnFromBytes(&conc)
	xmacS, err := f.f1Star(sqnMS, resyncAMF)
	if err != nil {
		return 0, err
	}
	if subtle.ConstantTimeCompare(xmacS[:], auts[6:]) != 1 {
		return 0, ErrResyncMACFailure
	}
	return sqnMS, nil
}
