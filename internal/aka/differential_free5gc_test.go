// Differential test of the production Milenage (github.com/wmnsk/milenage) against the
// independent implementation in github.com/free5gc/util/milenage.

package aka

import (
	"bytes"
	"testing"

	f5gc "github.com/free5gc/util/milenage"
)

// TestDifferentialFree5GC compares every output free5gc exposes with the production path
// (wmnsk/milenage) on diffIterations random inputs: OPc, AUTN (f1, f5), XRES (f2), CK (f3),
// IK (f4), AK (f5), AUTS (f5*, f1* with AMF = 0000), and SQN recovery from AUTN and AUTS.
// free5gc does not export f1* for other AMF values; TestDifferentialReference covers it.
func TestDifferentialFree5GC(t *testing.T) {
	for i, in := range diffInputs(2) {
		fail := func(what string, got, want []byte) {
			t.Helper()
			if !bytes.Equal(got, want) {
				t.Fatalf("input %d: %s = %x, free5gc %x", i, what, got, want)
			}
		}
		opc, err := DeriveOPc(in.k, in.op)
		if err != nil {
			t.Fatal(err)
		}
		wantOPc, err := f5gc.GenerateOPc(in.k[:], in.op[:])
		if err != nil {
			t.Fatal(err)
		}
		fail("OPc", opc[:], wantOPc)

		sqn, amf := in.sqn.Bytes(), [2]byte{byte(in.amf >> 8), byte(in.amf)}
		ik, ck, xres, autn, err := f5gc.GenerateAKAParameters(opc[:], in.k[:], in.rand[:], sqn[:], amf[:])
		if err != nil {
			t.Fatal(err)
		}
		av, err := GenerateAV(in.k, opc, in.rand, in.sqn, in.amf)
		if err != nil {
			t.Fatal(err)
		}
		fail("AUTN", av.AUTN[:], autn)
		fail("XRES", av.XRES[:], xres)
		fail("CK", av.CK[:], ck)
		fail("IK", av.IK[:], ik)

		sqnHE, ak, ik2, ck2, res, err := f5gc.GenerateKeysWithAUTN(opc[:], in.k[:], in.rand[:], av.AUTN[:])
		if err != nil {
			t.Fatalf("input %d: free5gc rejects our AUTN: %v", i, err)
		}
		o, err := newFns(&in.k, &opc, &in.rand).f2345()
		if err != nil {
			t.Fatal(err)
		}
		fail("SQN from AUTN", sqn[:], sqnHE)
		fail("AK", o.ak[:], ak)
		fail("IK (USIM)", o.ik[:], ik2)
		fail("CK (USIM)", o.ck[:], ck2)
		fail("RES", o.res[:], res)

		sqnMS := in.sqnMS.Bytes()
		wantAUTS, err := f5gc.GenerateAUTS(opc[:], in.k[:], in.rand[:], sqnMS[:])
		if err != nil {
			t.Fatal(err)
		}
		auts, err := buildAUTS(in.k, opc, &in.rand, in.sqnMS)
		if err != nil {
			t.Fatal(err)
		}
		fail("AUTS", auts[:], wantAUTS)
		got, err := f5gc.ValidateAUTS(opc[:], in.k[:], in.rand[:], auts[:])
		if err != nil {
			t.Fatalf("input %d: free5gc rejects our AUTS: %v", i, err)
		}
		fail("SQN_MS", sqnMS[:], got)
	}
}

// TestVectorsFree5GC recomputes the [C] columns of specs/vectors/ts35208.json (AUTN, AUTS)
// and the table outputs with free5gc, the second library the provenance names.
func TestVectorsFree5GC(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			k, opc, rnd := unhex(t, v.K, 16), unhex(t, v.OPc, 16), unhex(t, v.RAND, 16)
			gotOPc, err := f5gc.GenerateOPc(k, unhex(t, v.OP, 16))
			if err != nil {
				t.Fatal(err)
			}
			check(t, "OPc", gotOPc, opc)
			ik, ck, xres, autn, err := f5gc.GenerateAKAParameters(opc, k, rnd, unhex(t, v.SQN, 6), unhex(t, v.AMF, 2))
			if err != nil {
				t.Fatal(err)
			}
			check(t, "AUTN", autn, unhex(t, v.AUTN, AUTNLen))
			check(t, "f2", xres, unhex(t, v.F2, 8))
			check(t, "f3", ck, unhex(t, v.F3, 16))
			check(t, "f4", ik, unhex(t, v.F4, 16))
			auts, err := f5gc.GenerateAUTS(opc, k, rnd, unhex(t, v.SQN, 6))
			if err != nil {
				t.Fatal(err)
			}
			check(t, "AUTS", auts, unhex(t, v.AUTS, AUTSLen))
		})
	}
}
