package aka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestSQNParts(t *testing.T) {
	s := SQN(0xff9bb4d0b607) // TS 35.208 set 1
	if b := s.Bytes(); !bytes.Equal(b[:], []byte{0xff, 0x9b, 0xb4, 0xd0, 0xb6, 0x07}) {
		t.Errorf("Bytes = %x", b)
	}
	if s.IND(5) != 0x07 || s.SEQ(5) != 0xff9bb4d0b607>>5 {
		t.Errorf("SEQ/IND = %x/%x", s.SEQ(5), s.IND(5))
	}
	if s.IND(0) != 0 || s.SEQ(0) != uint64(s) {
		t.Errorf("IND length 0: SEQ/IND = %x/%x", s.SEQ(0), s.IND(0))
	}
	if joinSQN(s.SEQ(5), s.IND(5), 5) != s {
		t.Errorf("joinSQN does not invert SEQ/IND")
	}
	if !AMF(0x8000).Separation() || AMF(0x7fff).Separation() {
		t.Errorf("separation bit is not bit 0 (MSB)")
	}
	var rand [RANDLen]byte
	k, opc := testKeys(t)
	if _, err := GenerateAV(k, opc, rand, MaxSQN+1, 0); !errors.Is(err, ErrSQNRange) {
		t.Errorf("GenerateAV(SQN > 48 bits): err = %v", err)
	}
}

// TestSQNGenerator checks SQN = SEQ ‖ IND with a new SEQ per AV and IND cycling
// (TS 33.102 §C.1.1, §C.1.2).
func TestSQNGenerator(t *testing.T) {
	g := SQNGenerator{Scheme: SQNScheme{INDBits: 2, Delta: 100}}
	want := []SQN{1<<2 | 0, 2<<2 | 1, 3<<2 | 2, 4<<2 | 3, 5<<2 | 0}
	for i, w := range want {
		sqn, next, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		if sqn != w {
			t.Errorf("SQN %d = %b, want %b", i, sqn, w)
		}
		g = next
	}
	if g.SEQ != 5 || g.IND != 1 {
		t.Errorf("state = %+v", g)
	}

	// SEQ exhaustion.
	s := SQNScheme{INDBits: MaxINDBits, Delta: 1}
	g = SQNGenerator{Scheme: s, SEQ: s.maxSEQ() - 1}
	if _, g, err := g.Next(); err != nil {
		t.Fatal(err)
	} else if _, _, err := g.Next(); !errors.Is(err, ErrSQNExhausted) {
		t.Errorf("err = %v, want ErrSQNExhausted", err)
	}

	// Invalid states name their fault.
	for name, g := range map[string]SQNGenerator{
		"zero value":       {},
		"IND too long":     {Scheme: SQNScheme{INDBits: MaxINDBits + 1, Delta: 1}},
		"IND out of range": {Scheme: DefaultSQNScheme(), IND: 32},
		"SEQ out of range": {Scheme: DefaultSQNScheme(), SEQ: 1 << 43},
	} {
		if _, _, err := g.Next(); err == nil {
			t.Errorf("%s: Next accepted %+v", name, g)
		}
		if _, err := g.Resync(0); err == nil {
			t.Errorf("%s: Resync accepted %+v", name, g)
		}
	}
	if _, err := (SQNGenerator{Scheme: DefaultSQNScheme()}).Resync(MaxSQN + 1); !errors.Is(err, ErrSQNRange) {
		t.Errorf("Resync(SQN > 48 bits): %v", err)
	}
}

// TestSQNGeneratorResync checks the range test of TS 33.102 §6.3.5 and SEQ_HE := SEQ_MS.
func TestSQNGeneratorResync(t *testing.T) {
	s := SQNScheme{INDBits: 5, Delta: 1000}
	tests := []struct {
		name    string
		seqHE   uint64
		seqMS   uint64
		wantSEQ uint64
	}{
		{"HE behind", 10, 500, 500},
		{"HE equal", 500, 500, 500},
		{"HE just ahead", 500, 499, 500},
		{"HE ahead within delta", 1400, 500, 1400},
		{"HE ahead at delta", 1499, 500, 1499},
		{"HE beyond delta", 1500, 500, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := SQNGenerator{Scheme: s, SEQ: tc.seqHE, IND: 7}
			sqnMS := joinSQN(tc.seqMS, 3, s.INDBits)
			g, err := g.Resync(sqnMS)
			if err != nil {
				t.Fatal(err)
			}
			if g.SEQ != tc.wantSEQ || g.IND != 7 {
				t.Errorf("state = %+v, want SEQ %d IND 7", g, tc.wantSEQ)
			}
			next, _, err := g.Next()
			if err != nil {
				t.Fatal(err)
			}
			if next <= sqnMS || next.SEQ(5)-tc.seqMS > s.Delta {
				t.Errorf("next SQN %x not acceptable after SQN_MS %x", uint64(next), uint64(sqnMS))
			}
		})
	}
}

func TestSQNSchemeValidate(t *testing.T) {
	if err := DefaultSQNScheme().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]SQNScheme{
		"zero delta":      {INDBits: 5},
		"IND too long":    {INDBits: MaxINDBits + 1, Delta: 1},
		"delta too large": {INDBits: 5, Delta: 1 << 43},
		"L too large":     {INDBits: 5, Delta: 1, L: 1 << 43},
	} {
		if err := s.Validate(); !errors.Is(err, ErrScheme) {
			t.Errorf("%s: err = %v, want ErrScheme", name, err)
		}
		if _, err := NewSQNArray(s); err == nil {
			t.Errorf("%s: NewSQNArray accepted it", name)
		}
	}
}

func TestSQNArrayMarshalRoundTrip(t *testing.T) {
	for _, s := range []SQNScheme{
		DefaultSQNScheme(),
		{INDBits: 0, Delta: 1, L: 0},
		{INDBits: MaxINDBits, Delta: 1<<38 - 1, L: 1<<38 - 1},
		{INDBits: 3, Delta: 77, L: 9},
	} {
		a := arrayWith(t, s)
		n := s.INDBits
		for i := uint64(0); i < 1<<n; i += 3 {
			a.accept(joinSQN(s.maxSEQ()-i, i, n))
		}
		b, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 18+6<<n || b[0] != 1 {
			t.Fatalf("encoding: %d octets, version %d", len(b), b[0])
		}
		var got SQNArray
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if got.Scheme() != s || got.SQNMS() != a.SQNMS() {
			t.Errorf("round trip: scheme %+v SQN_MS %x, want %+v %x", got.Scheme(), uint64(got.SQNMS()), s, uint64(a.SQNMS()))
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Errorf("re-encoding differs")
		}
	}

	// The USIM's state survives a restart: a replay after the round trip is still rejected.
	k, opc := testKeys(t)
	netw := newNetwork(t, k, opc, DefaultSQNScheme())
	u := newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme()), AMFSeparationMustBeZero)
	av, _ := netw.next()
	if _, err := u.Authenticate(av.RAND[:], av.AUTN[:]); err != nil {
		t.Fatal(err)
	}
	b, err := u.SQNArray().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var restored SQNArray
	if err := restored.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	u2 := newUSIM(t, k, opc, restored, AMFSeparationMustBeZero)
	var sf *SyncFailure
	if _, err := u2.Authenticate(av.RAND[:], av.AUTN[:]); !errors.As(err, &sf) {
		t.Errorf("replay after restart: err = %v, want *SyncFailure", err)
	}
}

func TestSQNArrayUnmarshalCorrupt(t *testing.T) {
	good, err := arrayWith(t, DefaultSQNScheme(), 0x1234).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := map[string][]byte{
		"empty":         nil,
		"short header":  good[:17],
		"header only":   good[:18],
		"one short":     good[:len(good)-1],
		"one long":      append(bytes.Clone(good), 0),
		"version 0":     mod(func(b []byte) []byte { b[0] = 0; return b }),
		"version 2":     mod(func(b []byte) []byte { b[0] = 2; return b }),
		"IND too long":  mod(func(b []byte) []byte { b[1] = MaxINDBits + 1; return b }),
		"IND mismatch":  mod(func(b []byte) []byte { b[1] = 4; return b }),
		"delta zero":    mod(func(b []byte) []byte { binary.BigEndian.PutUint64(b[2:10], 0); return b }),
		"delta too big": mod(func(b []byte) []byte { binary.BigEndian.PutUint64(b[2:10], 1<<43); return b }),
		"L too big":     mod(func(b []byte) []byte { binary.BigEndian.PutUint64(b[10:18], 1<<43); return b }),
		"SEQ too big":   mod(func(b []byte) []byte { b[18+6*31] = 0xff; return b }),
		"SEQ top bits":  mod(func(b []byte) []byte { b[18] = 0x08; return b }),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			a := arrayWith(t, SQNScheme{INDBits: 1, Delta: 3}, 0x5)
			before, _ := a.MarshalBinary()
			if err := a.UnmarshalBinary(b); !errors.Is(err, ErrState) {
				t.Fatalf("err = %v, want ErrState", err)
			}
			after, _ := a.MarshalBinary()
			if !bytes.Equal(before, after) {
				t.Errorf("failed UnmarshalBinary changed the array")
			}
		})
	}
	var zero SQNArray
	if _, err := zero.MarshalBinary(); err == nil {
		t.Errorf("MarshalBinary of the zero SQNArray succeeded")
	}
}
