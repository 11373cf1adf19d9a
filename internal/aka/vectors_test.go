package aka

import (
	"bytes"
	"errors"
	"testing"
)

// TestVectors reproduces every set of specs/vectors/ts35208.json through f1…f5*, OPc, AUTN
// (GenerateAV) and AUTS (USIM sync failure with SQN_MS = SQN), and recovers SQN from AUTS.
func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			p := v.Provenance
			if p.Spec == "" || p.Clause == "" || len(p.V)+len(p.C) == 0 {
				t.Fatalf("set %s lacks provenance (spec, clause, V/C)", v.Name)
			}
			k, opc, rand, sqn, amf := setInputs(t, v)

			// TS 35.206 §4.1: OPc from OP.
			gotOPc, err := DeriveOPc(k, mustKey(t, v.OP))
			if err != nil {
				t.Fatal(err)
			}
			if gotOPc != opc {
				t.Errorf("OPc = %x, want %s", gotOPc[:], v.OPc)
			}

			// TS 35.206 §4.1: f1 and f1* (the table's f1* uses the set's AMF).
			macA, err := newFns(&k, &opc, &rand).f1(sqn, amf)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "f1", macA[:], unhex(t, v.F1, 8))
			macS, err := newFns(&k, &opc, &rand).f1Star(sqn, amf)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "f1*", macS[:], unhex(t, v.F1Star, 8))
			o, err := newFns(&k, &opc, &rand).f2345()
			if err != nil {
				t.Fatal(err)
			}
			check(t, "f2", o.res[:], unhex(t, v.F2, 8))
			check(t, "f3", o.ck[:], unhex(t, v.F3, 16))
			check(t, "f4", o.ik[:], unhex(t, v.F4, 16))
			check(t, "f5", o.ak[:], unhex(t, v.F5, 6))
			aks, err := newFns(&k, &opc, &rand).f5Star()
			if err != nil {
				t.Fatal(err)
			}
			check(t, "f5*", aks[:], unhex(t, v.F5Star, 6))

			// TS 33.102 §6.3.2: the network side.
			av, err := GenerateAV(k, opc, rand, sqn, amf)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "AUTN", av.AUTN[:], unhex(t, v.AUTN, AUTNLen))
			check(t, "XRES", av.XRES[:], unhex(t, v.F2, 8))
			check(t, "CK", av.CK[:], unhex(t, v.F3, 16))
			check(t, "IK", av.IK[:], unhex(t, v.F4, 16))
			if av.RAND != rand {
				t.Errorf("AV.RAND = %x", av.RAND)
			}

			// TS 33.102 §6.3.3: a USIM whose highest accepted SQN is this SQN rejects the
			// replay with AUTS built from SQN_MS = SQN.
			u := newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme(), sqn), AMFSeparationIgnored)
			_, err = u.Authenticate(rand[:], av.AUTN[:])
			var sf *SyncFailure
			if !errors.As(err, &sf) {
				t.Fatalf("replay: err = %v, want *SyncFailure", err)
			}
			check(t, "AUTS", sf.AUTS[:], unhex(t, v.AUTS, AUTSLen))
			if bytes.Equal(sf.AUTS[6:], macS[:]) {
				t.Errorf("MAC-S equals the table's f1*: AMF=0000 not applied")
			}

			// TS 33.102 §6.3.5: the network recovers SQN_MS from the published AUTS.
			got, err := VerifyAUTS(k, opc, rand[:], unhex(t, v.AUTS, AUTSLen))
			if err != nil {
				t.Fatal(err)
			}
			if got != sqn {
				t.Errorf("SQN_MS = %012x, want %012x", uint64(got), uint64(sqn))
			}

			// A USIM one step behind accepts the vector and returns RES, CK, IK.
			s := DefaultSQNScheme()
			prev := joinSQN(sqn.SEQ(s.INDBits)-1, sqn.IND(s.INDBits), s.INDBits)
			u = newUSIM(t, k, opc, arrayWith(t, s, prev), AMFSeparationIgnored)
			r, err := u.Authenticate(rand[:], av.AUTN[:])
			if err != nil {
				t.Fatal(err)
			}
			check(t, "RES", r.RES[:], unhex(t, v.F2, 8))
			check(t, "CK", r.CK[:], unhex(t, v.F3, 16))
			check(t, "IK", r.IK[:], unhex(t, v.F4, 16))
		})
	}
}

// TestTS35208Set2IsSet1 records the finding that TS 35.208 §4.3.2 repeats set 1.
func TestTS35208Set2IsSet1(t *testing.T) {
	sets := map[string]vectorSet{}
	for _, v := range loadVectors(t) {
		sets[v.Name] = v
	}
	s1, s2 := sets["TS35208/set1"], sets["TS35208/set2"]
	if s2.Provenance.DuplicateOf != "TS35208/set1" {
		t.Fatalf("set2 provenance duplicate_of = %q", s2.Provenance.DuplicateOf)
	}
	if a, b := s1.values(), s2.values(); a != b {
		t.Errorf("set2 values %v differ from set1 %v", b, a)
	}
	if _, ok := sets["TS35207/set2"]; !ok {
		t.Errorf("TS35207/set2 missing")
	}
}

func check(t *testing.T, name string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %x, want %x", name, got, want)
	}
}
