package aka

import (
	"bytes"
	"crypto/aes"
	"math/rand/v2"
	"testing"
)

// diffIterations is the number of random inputs of each differential test. testing.Short
// does not reduce it.
const diffIterations = 10000

// diffInput is one random (K, OP, RAND, SQN, AMF, SQN_MS) tuple.
type diffInput struct {
	k, op      Key
	rand       [RANDLen]byte
	sqn, sqnMS SQN
	amf        AMF
}

// diffInputs yields diffIterations inputs from a fixed seed so that failures reproduce.
// Every 16th input uses extreme SQN/AMF values.
func diffInputs(seed uint64) func(yield func(int, diffInput) bool) {
	return func(yield func(int, diffInput) bool) {
		r := rand.New(rand.NewPCG(seed, 0x6f70656e676261)) // "opengba"
		fill := func(b []byte) {
			for i := range b {
				b[i] = byte(r.Uint32())
			}
		}
		for i := range diffIterations {
			var in diffInput
			fill(in.k[:])
			fill(in.op[:])
			fill(in.rand[:])
			in.sqn = SQN(r.Uint64()) & MaxSQN
			in.sqnMS = SQN(r.Uint64()) & MaxSQN
			in.amf = AMF(r.Uint32())
			if i%16 == 0 {
				edges := []SQN{0, 1, MaxSQN, MaxSQN - 1, 1 << 47}
				in.sqn = edges[r.IntN(len(edges))]
				in.amf = []AMF{0, 0xffff, 0x8000}[r.IntN(3)]
			}
			if !yield(i, in) {
				return
			}
		}
	}
}

// refMilenage is an independent transcription of TS 35.206 §4.1 on crypto/aes, used only to
// check github.com/wmnsk/milenage:
//
//	OPc  = OP ⊕ E[OP]K
//	TEMP = E[RAND ⊕ OPc]K
//	IN1  = SQN ‖ AMF ‖ SQN ‖ AMF
//	OUT1 = E[TEMP ⊕ rot(IN1 ⊕ OPc, r1) ⊕ c1]K ⊕ OPc
//	OUTi = E[rot(TEMP ⊕ OPc, ri) ⊕ ci]K ⊕ OPc, i = 2…5
//
// with r1…r5 = 64, 0, 32, 64, 96 bits and c1…c5 = 0, 1, 2, 4, 8 (in the last octet).
type refOut struct {
	opc             [16]byte
	macA, macS, res [8]byte
	ck, ik          [16]byte
	ak, akStar      [6]byte
}

func refMilenage(t testing.TB, k, op Key, rnd [16]byte, sqn SQN, amf AMF) refOut {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		t.Fatal(err)
	}
	enc := func(in [16]byte) (out [16]byte) { block.Encrypt(out[:], in[:]); return out }
	xor := func(a, b [16]byte) (o [16]byte) {
		for i := range o {
			o[i] = a[i] ^ b[i]
		}
		return o
	}
	// rot(x, r): rotate r bits towards the most significant bit.
	rot := func(x [16]byte, r int) (o [16]byte) {
		for i := range o {
			o[i] = x[(i+r/8)%16]
		}
		return o
	}
	c := func(v byte) (o [16]byte) { o[15] = v; return o }

	var out refOut
	out.opc = xor(enc(op), op)
	opc := out.opc
	temp := enc(xor(rnd, opc))
	var in1 [16]byte
	s := sqn.Bytes()
	copy(in1[0:6], s[:])
	in1[6], in1[7] = byte(amf>>8), byte(amf)
	copy(in1[8:16], in1[0:8])
	out1 := xor(enc(xor(xor(temp, rot(xor(in1, opc), 64)), c(0))), opc)
	outi := func(r int, ci byte) [16]byte { return xor(enc(xor(rot(xor(temp, opc), r), c(ci))), opc) }
	out2, out3, out4, out5 := outi(0, 1), outi(32, 2), outi(64, 4), outi(96, 8)
	copy(out.macA[:], out1[0:8])
	copy(out.macS[:], out1[8:16])
	copy(out.res[:], out2[8:16])
	copy(out.ak[:], out2[0:6])
	out.ck, out.ik = out3, out4
	copy(out.akStar[:], out5[0:6])
	return out
}

// TestRefMilenageVectors validates the reference transcription itself on TS 35.208.
func TestRefMilenageVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			k, _, rnd, sqn, amf := setInputs(t, v)
			o := refMilenage(t, k, mustKey(t, v.OP), rnd, sqn, amf)
			check(t, "OPc", o.opc[:], unhex(t, v.OPc, 16))
			check(t, "f1", o.macA[:], unhex(t, v.F1, 8))
			check(t, "f1*", o.macS[:], unhex(t, v.F1Star, 8))
			check(t, "f2", o.res[:], unhex(t, v.F2, 8))
			check(t, "f3", o.ck[:], unhex(t, v.F3, 16))
			check(t, "f4", o.ik[:], unhex(t, v.F4, 16))
			check(t, "f5", o.ak[:], unhex(t, v.F5, 6))
			check(t, "f5*", o.akStar[:], unhex(t, v.F5Star, 6))
		})
	}
}

// TestDifferentialReference compares every output of the production path (wmnsk/milenage)
// with the TS 35.206 transcription on diffIterations random inputs.
func TestDifferentialReference(t *testing.T) {
	for i, in := range diffInputs(1) {
		want := refMilenage(t, in.k, in.op, in.rand, in.sqn, in.amf)
		opc, err := DeriveOPc(in.k, in.op)
		if err != nil {
			t.Fatal(err)
		}
		fail := func(what string, got, want []byte) {
			t.Helper()
			if !bytes.Equal(got, want) {
				t.Fatalf("input %d: %s = %x, want %x", i, what, got, want)
			}
		}
		fail("OPc", opc[:], want.opc[:])
		// One fns serves all the functions, as in GenerateAV and Authenticate: a function
		// must not depend on what an earlier one left in the shared state.
		f := newFns(&in.k, &opc, &in.rand)
		macA, err := f.f1(in.sqn, in.amf)
		if err != nil {
			t.Fatal(err)
		}
		fail("f1", macA[:], want.macA[:])
		macS, err := f.f1Star(in.sqn, in.amf)
		if err != nil {
			t.Fatal(err)
		}
		fail("f1*", macS[:], want.macS[:])
		o, err := f.f2345()
		if err != nil {
			t.Fatal(err)
		}
		fail("f2", o.res[:], want.res[:])
		fail("f3", o.ck[:], want.ck[:])
		fail("f4", o.ik[:], want.ik[:])
		fail("f5", o.ak[:], want.ak[:])
		aks, err := f.f5Star()
		if err != nil {
			t.Fatal(err)
		}
		fail("f5*", aks[:], want.akStar[:])

		av, err := GenerateAV(in.k, opc, in.rand, in.sqn, in.amf)
		if err != nil {
			t.Fatal(err)
		}
		s := in.sqn.Bytes()
		var autn [16]byte
		for j := range 6 {
			autn[j] = s[j] ^ want.ak[j]
		}
		autn[6], autn[7] = byte(in.amf>>8), byte(in.amf)
		copy(autn[8:], want.macA[:])
		fail("AUTN", av.AUTN[:], autn[:])

		// AUTS over SQN_MS with AMF = 0000 (TS 33.102 §6.3.3).
		auts, err := buildAUTS(in.k, opc, &in.rand, in.sqnMS)
		if err != nil {
			t.Fatal(err)
		}
		ref := refMilenage(t, in.k, in.op, in.rand, in.sqnMS, 0)
		sm := in.sqnMS.Bytes()
		var wantAUTS [14]byte
		for j := range 6 {
			wantAUTS[j] = sm[j] ^ ref.akStar[j]
		}
		copy(wantAUTS[6:], ref.macS[:])
		fail("AUTS", auts[:], wantAUTS[:])
		if got, err := VerifyAUTS(in.k, opc, in.rand[:], auts[:]); err != nil || got != in.sqnMS {
			t.Fatalf("input %d: VerifyAUTS = %x, %v", i, uint64(got), err)
		}
	}
}
