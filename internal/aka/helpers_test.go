package aka

import (
	"encoding/hex"
	"testing"

	"github.com/opengba/opengba/specs"
)

// vectorSet is one set of specs/vectors/ts35208.json.
type vectorSet struct {
	Name       string `json:"name"`
	Provenance struct {
		Spec        string   `json:"spec"`
		Clause      string   `json:"clause"`
		V           []string `json:"V"`
		C           []string `json:"C"`
		DuplicateOf string   `json:"duplicate_of"`
	} `json:"provenance"`
	K, RAND, SQN, AMF, OP, OPc                     string
	F1, F1Star, F2, F3, F4, F5, F5Star, AUTN, AUTS string
}

// values lists every hex field, for comparing sets.
func (v vectorSet) values() [15]string {
	return [15]string{v.K, v.RAND, v.SQN, v.AMF, v.OP, v.OPc,
		v.F1, v.F1Star, v.F2, v.F3, v.F4, v.F5, v.F5Star, v.AUTN, v.AUTS}
}

func loadVectors(t testing.TB) []vectorSet {
	t.Helper()
	var f struct {
		Sets []vectorSet `json:"sets"`
	}
	if err := specs.Vectors("ts35208", &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Sets) < 6 {
		t.Fatalf("ts35208.json has %d sets, want at least 6", len(f.Sets))
	}
	return f.Sets
}

func unhex(t testing.TB, s string, n int) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n {
		t.Fatalf("bad hex %q (want %d octets): %v", s, n, err)
	}
	return b
}

func mustKey(t testing.TB, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// setInputs decodes the inputs of a vector set.
func setInputs(t testing.TB, v vectorSet) (k, opc Key, rand [RANDLen]byte, sqn SQN, amf AMF) {
	t.Helper()
	k = mustKey(t, v.K)
	opc = mustKey(t, v.OPc)
	rand = [RANDLen]byte(unhex(t, v.RAND, RANDLen))
	s := [6]byte(unhex(t, v.SQN, 6))
	sqn = sqnFromBytes(&s)
	a := unhex(t, v.AMF, 2)
	amf = AMF(a[0])<<8 | AMF(a[1])
	return k, opc, rand, sqn, amf
}

// testKeys are the set-1 subscriber keys, used where any valid key will do.
func testKeys(t testing.TB) (k, opc Key) {
	t.Helper()
	return mustKey(t, "465b5ce8b199b49faa5f0a2ee238a6bc"), mustKey(t, "cd63cb71954a9f4e48a5994e37a02baf")
}

// arrayWith returns a fresh array for s in which every sqn has been accepted.
func arrayWith(t testing.TB, s SQNScheme, sqns ...SQN) SQNArray {
	t.Helper()
	a, err := NewSQNArray(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range sqns {
		a.accept(q)
	}
	return a
}

func newUSIM(t testing.TB, k, opc Key, a SQNArray, p AMFPolicy) *USIM {
	t.Helper()
	u, err := NewUSIM(k, opc, a, p)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
