package aka

import (
	"errors"
	"testing"
)

// fuzzUSIM returns a USIM with the set-1 keys and a default array, accepting any AMF.
func fuzzUSIM(t *testing.T) (*USIM, Key, Key) {
	k, opc := testKeys(t)
	return newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme()), AMFSeparationIgnored), k, opc
}

// FuzzUSIMAuthenticate feeds untrusted RAND and AUTN octets to the USIM (TS 33.102 §6.3.3).
func FuzzUSIMAuthenticate(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(unhex(f, v.RAND, RANDLen), unhex(f, v.AUTN, AUTNLen))
	}
	k, opc := testKeys(f)
	var rnd [RANDLen]byte
	av, err := GenerateAV(k, opc, rnd, joinSQN(1, 0, DefaultINDBits), 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(av.RAND[:], av.AUTN[:])
	f.Add(av.RAND[:], av.AUTN[:15])
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, rand, autn []byte) {
		u, k, opc := fuzzUSIM(t)
		r, err := u.Authenticate(rand, autn)
		var sf *SyncFailure
		switch {
		case err == nil:
			rnd := [RANDLen]byte(rand)
			o, err := newFns(&k, &opc, &rnd).f2345()
			if err != nil {
				t.Fatal(err)
			}
			if r.RES != o.res || r.CK != o.ck || r.IK != o.ik {
				t.Fatalf("accepted with outputs that are not f2/f3/f4 of RAND")
			}
			if _, err := u.Authenticate(rand, autn); !errors.As(err, &sf) {
				t.Fatalf("replay not rejected: %v", err)
			}
		case errors.As(err, &sf):
			got, err := VerifyAUTS(k, opc, rand, sf.AUTS[:])
			if err != nil || got != u.SQNArray().SQNMS() {
				t.Fatalf("AUTS does not verify to SQN_MS: %x, %v", uint64(got), err)
			}
		case errors.Is(err, ErrLength), errors.Is(err, ErrMACFailure):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzVerifyAUTS feeds untrusted RAND and AUTS octets to the HE/AuC (TS 33.102 §6.3.5).
func FuzzVerifyAUTS(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(unhex(f, v.RAND, RANDLen), unhex(f, v.AUTS, AUTSLen))
	}
	f.Add(make([]byte, RANDLen), make([]byte, AUTSLen-1))
	f.Fuzz(func(t *testing.T, rand, auts []byte) {
		k, opc := testKeys(t)
		sqnMS, err := VerifyAUTS(k, opc, rand, auts)
		switch {
		case err == nil:
			rnd := [RANDLen]byte(rand)
			again, err := buildAUTS(k, opc, &rnd, sqnMS)
			if err != nil || string(again[:]) != string(auts) {
				t.Fatalf("accepted AUTS is not (SQN_MS ⊕ AK*) ‖ MAC-S")
			}
		case errors.Is(err, ErrLength), errors.Is(err, ErrResyncMACFailure):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzSQNArrayUnmarshalBinary feeds untrusted stored state to UnmarshalBinary.
func FuzzSQNArrayUnmarshalBinary(f *testing.F) {
	for _, s := range []SQNScheme{DefaultSQNScheme(), {INDBits: 0, Delta: 1}, {INDBits: 2, Delta: 9, L: 3}} {
		b, err := arrayWith(f, s, joinSQN(7, 1%(1<<s.INDBits), s.INDBits)).MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a SQNArray
		if err := a.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrState) {
				t.Fatalf("error %v is not ErrState", err)
			}
			return
		}
		out, err := a.MarshalBinary()
		if err != nil || string(out) != string(b) {
			t.Fatalf("accepted state does not re-encode to itself: %v", err)
		}
		k, opc := testKeys(t)
		if _, err := NewUSIM(k, opc, a, AMFSeparationMustBeZero); err != nil {
			t.Fatalf("accepted state is not usable: %v", err)
		}
	})
}

// FuzzUSIMState drives authentic AUTNs with arbitrary SQN and AMF against arbitrary stored
// state, checking the array rules of TS 33.102 §C.2 end to end.
func FuzzUSIMState(f *testing.F) {
	def, _ := arrayWith(f, DefaultSQNScheme(), joinSQN(100, 3, DefaultINDBits)).MarshalBinary()
	small, _ := arrayWith(f, SQNScheme{INDBits: 1, Delta: 4, L: 2}, 5).MarshalBinary()
	f.Add(def, uint64(joinSQN(101, 3, DefaultINDBits)), uint16(0))
	f.Add(def, uint64(joinSQN(100, 3, DefaultINDBits)), uint16(0x8000))
	f.Add(small, uint64(0xffffffffffff), uint16(1))
	f.Fuzz(func(t *testing.T, state []byte, sqn64 uint64, amf16 uint16) {
		var a SQNArray
		if a.UnmarshalBinary(state) != nil {
			return
		}
		k, opc := testKeys(t)
		u := newUSIM(t, k, opc, a, AMFSeparationMustBeZero)
		sqn, amf := SQN(sqn64)&MaxSQN, AMF(amf16)
		var rnd [RANDLen]byte
		rnd[0] = byte(sqn64)
		av, err := GenerateAV(k, opc, rnd, sqn, amf)
		if err != nil {
			t.Fatal(err)
		}
		before := u.SQNArray()
		_, err = u.Authenticate(av.RAND[:], av.AUTN[:])
		var sf *SyncFailure
		switch {
		case err == nil:
			if amf.Separation() {
				t.Fatalf("separation bit accepted under AMFSeparationMustBeZero")
			}
			if before.check(sqn) != 0 {
				t.Fatalf("accepted a SQN the array rules reject")
			}
			n := a.Scheme().INDBits
			if got := u.SQNArray().seq[sqn.IND(n)]; got != sqn.SEQ(n) {
				t.Fatalf("SEQ_MS(IND) = %d, want %d", got, sqn.SEQ(n))
			}
		case errors.As(err, &sf):
			if sf.Reason != before.check(sqn) {
				t.Fatalf("reason %v, array rules say %v", sf.Reason, before.check(sqn))
			}
			got, err := VerifyAUTS(k, opc, av.RAND[:], sf.AUTS[:])
			if err != nil || got != before.SQNMS() {
				t.Fatalf("AUTS carries %x (%v), want SQN_MS %x", uint64(got), err, uint64(before.SQNMS()))
			}
		case errors.Is(err, ErrAMFSeparation):
			if !amf.Separation() {
				t.Fatalf("ErrAMFSeparation without the separation bit")
			}
		default:
			t.Fatalf("authentic AUTN gave %v", err)
		}
	})
}
