package aka

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// network is a minimal HE/AuC for tests: one subscriber, one SQNGenerator.
type network struct {
	t      *testing.T
	k, opc Key
	gen    SQNGenerator
	amf    AMF
	n      byte
}

func newNetwork(t *testing.T, k, opc Key, s SQNScheme) *network {
	return &network{t: t, k: k, opc: opc, gen: SQNGenerator{Scheme: s}}
}

// next issues a fresh AV (TS 33.102 §6.3.2) with a distinct RAND.
func (n *network) next() (AV, SQN) {
	n.t.Helper()
	sqn, gen, err := n.gen.Next()
	if err != nil {
		n.t.Fatal(err)
	}
	n.gen = gen
	n.n++
	var rand [RANDLen]byte
	rand[0], rand[15] = n.n, 0x5a
	av, err := GenerateAV(n.k, n.opc, rand, sqn, n.amf)
	if err != nil {
		n.t.Fatal(err)
	}
	return av, sqn
}

func TestUSIMAccept(t *testing.T) {
	k, opc := testKeys(t)
	netw := newNetwork(t, k, opc, DefaultSQNScheme())
	u := newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme()), AMFSeparationMustBeZero)
	for i := range 100 { // several laps of the 32-entry IND array
		av, sqn := netw.next()
		r, err := u.Authenticate(av.RAND[:], av.AUTN[:])
		if err != nil {
			t.Fatalf("AV %d (SQN %012x): %v", i, uint64(sqn), err)
		}
		if r.RES != av.XRES || r.CK != av.CK || r.IK != av.IK {
			t.Fatalf("AV %d: RES/CK/IK differ from the AV", i)
		}
		if got := u.SQNArray().SQNMS(); got != sqn {
			t.Fatalf("SQN_MS = %012x, want %012x", uint64(got), uint64(sqn))
		}
	}
}

func TestUSIMMACFailure(t *testing.T) {
	k, opc := testKeys(t)
	netw := newNetwork(t, k, opc, DefaultSQNScheme())
	av, _ := netw.next()
	otherK := k
	otherK[0] ^= 1
	tests := []struct {
		name       string
		k          Key
		rand, autn func([]byte)
	}{
		{name: "MAC-A bit", k: k, autn: func(b []byte) { b[15] ^= 0x01 }},
		{name: "AMF bit", k: k, autn: func(b []byte) { b[7] ^= 0x01 }},
		{name: "concealed SQN bit", k: k, autn: func(b []byte) { b[5] ^= 0x01 }},
		{name: "RAND bit", k: k, rand: func(b []byte) { b[0] ^= 0x80 }},
		{name: "wrong K", k: otherK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUSIM(t, tc.k, opc, arrayWith(t, DefaultSQNScheme()), AMFSeparationMustBeZero)
			before, _ := u.SQNArray().MarshalBinary()
			rand, autn := bytes.Clone(av.RAND[:]), bytes.Clone(av.AUTN[:])
			if tc.rand != nil {
				tc.rand(rand)
			}
			if tc.autn != nil {
				tc.autn(autn)
			}
			_, err := u.Authenticate(rand, autn)
			if !errors.Is(err, ErrMACFailure) {
				t.Fatalf("err = %v, want ErrMACFailure", err)
			}
			after, _ := u.SQNArray().MarshalBinary()
			if !bytes.Equal(before, after) {
				t.Errorf("SQN array changed on MAC failure")
			}
		})
	}
}

func TestUSIMReplayRejected(t *testing.T) {
	k, opc := testKeys(t)
	netw := newNetwork(t, k, opc, DefaultSQNScheme())
	u := newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme()), AMFSeparationMustBeZero)
	av, sqn := netw.next()
	if _, err := u.Authenticate(av.RAND[:], av.AUTN[:]); err != nil {
		t.Fatal(err)
	}
	_, err := u.Authenticate(av.RAND[:], av.AUTN[:])
	var sf *SyncFailure
	if !errors.As(err, &sf) || sf.Reason != SyncNotFresh {
		t.Fatalf("replay: err = %v, want *SyncFailure(SyncNotFresh)", err)
	}
	got, err := VerifyAUTS(k, opc, av.RAND[:], sf.AUTS[:])
	if err != nil {
		t.Fatal(err)
	}
	if got != sqn {
		t.Errorf("SQN_MS from AUTS = %012x, want %012x", uint64(got), uint64(sqn))
	}
}

// TestResync walks the whole re-synchronisation of TS 33.102 §6.3.5 in both directions.
func TestResync(t *testing.T) {
	k, opc := testKeys(t)
	s := DefaultSQNScheme()
	tests := []struct {
		name       string
		usimSEQs   []uint64 // accepted before the test, IND 0
		networkSEQ uint64   // SEQ_HE when the rejected AV is issued
		heAfter    uint64   // SEQ_HE when the resync arrives, if it moved on meanwhile
		reason     SyncReason
		wantReset  bool
	}{
		{name: "network beyond delta", networkSEQ: s.Delta + 100, reason: SyncDelta, wantReset: true},
		{name: "USIM ahead of network", usimSEQs: []uint64{1000}, networkSEQ: 5, reason: SyncNotFresh, wantReset: true},
		// An old AV reaches the USIM while SEQ_HE is already in range: no reset (§6.3.5).
		{name: "stale AV, network in range", usimSEQs: []uint64{100}, networkSEQ: 49, heAfter: 200, reason: SyncNotFresh},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var accepted []SQN
			for _, q := range tc.usimSEQs {
				accepted = append(accepted, joinSQN(q, 0, s.INDBits))
			}
			u := newUSIM(t, k, opc, arrayWith(t, s, accepted...), AMFSeparationMustBeZero)
			netw := newNetwork(t, k, opc, s)
			netw.gen.SEQ = tc.networkSEQ

			av, _ := netw.next()
			_, err := u.Authenticate(av.RAND[:], av.AUTN[:])
			var sf *SyncFailure
			if !errors.As(err, &sf) || sf.Reason != tc.reason {
				t.Fatalf("err = %v, want *SyncFailure(%v)", err, tc.reason)
			}
			if strings.Contains(err.Error(), string(sf.AUTS[:])) {
				t.Errorf("error text carries AUTS")
			}

			sqnMS, err := VerifyAUTS(k, opc, av.RAND[:], sf.AUTS[:])
			if err != nil {
				t.Fatal(err)
			}
			if want := u.SQNArray().SQNMS(); sqnMS != want {
				t.Fatalf("SQN_MS = %012x, want %012x", uint64(sqnMS), uint64(want))
			}
			if tc.heAfter != 0 {
				netw.gen.SEQ = tc.heAfter
			}
			gen, err := netw.gen.Resync(sqnMS)
			if err != nil {
				t.Fatal(err)
			}
			if reset := gen.SEQ != netw.gen.SEQ; reset != tc.wantReset || (reset && gen.SEQ != sqnMS.SEQ(s.INDBits)) {
				t.Errorf("reset = %v, want %v", reset, tc.wantReset)
			}
			netw.gen = gen
			av2, sqn2 := netw.next()
			if sqn2 <= sqnMS {
				t.Errorf("next SQN %012x not above SQN_MS %012x", uint64(sqn2), uint64(sqnMS))
			}
			if _, err := u.Authenticate(av2.RAND[:], av2.AUTN[:]); err != nil {
				t.Errorf("after resync: %v", err)
			}
		})
	}
}

func TestVerifyAUTSFailure(t *testing.T) {
	k, opc := testKeys(t)
	var rand [RANDLen]byte
	auts, err := buildAUTS(k, opc, &rand, 0x1234)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyAUTS(k, opc, rand[:], auts[:]); err != nil || got != 0x1234 {
		t.Fatalf("VerifyAUTS = %x, %v", uint64(got), err)
	}
	tampered := auts
	tampered[13] ^= 1
	otherRAND := rand
	otherRAND[3] ^= 1
	shiftedSQN := auts
	shiftedSQN[5] ^= 1
	tests := []struct {
		name       string
		rand, auts []byte
		want       error
	}{
		{"MAC-S bit", rand[:], tampered[:], ErrResyncMACFailure},
		{"concealed SQN_MS bit", rand[:], shiftedSQN[:], ErrResyncMACFailure},
		{"other RAND", otherRAND[:], auts[:], ErrResyncMACFailure},
		{"short AUTS", rand[:], auts[:13], ErrLength},
		{"long AUTS", rand[:], append(auts[:], 0), ErrLength},
		{"short RAND", rand[:15], auts[:], ErrLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VerifyAUTS(k, opc, tc.rand, tc.auts); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestINDArray checks the array scheme of TS 33.102 §C.2.2.
func TestINDArray(t *testing.T) {
	k, opc := testKeys(t)
	s := DefaultSQNScheme()
	netw := newNetwork(t, k, opc, s)
	var avs []AV
	for range 40 {
		av, _ := netw.next()
		avs = append(avs, av)
	}
	u := newUSIM(t, k, opc, arrayWith(t, s), AMFSeparationMustBeZero)
	auth := func(i int) error {
		_, err := u.Authenticate(avs[i].RAND[:], avs[i].AUTN[:])
		return err
	}
	// Out of order, each on its own IND: all fresh.
	for _, i := range []int{3, 2, 1, 7, 5, 6} {
		if err := auth(i); err != nil {
			t.Fatalf("AV %d (out of order, distinct IND): %v", i, err)
		}
	}
	// AV 32 has IND 0 and SEQ 33; once it is used, the unused AV 0 (IND 0, SEQ 1) is stale...
	if err := auth(32); err != nil {
		t.Fatalf("AV 32: %v", err)
	}
	var sf *SyncFailure
	if err := auth(0); !errors.As(err, &sf) || sf.Reason != SyncNotFresh {
		t.Fatalf("AV 0 after AV 32 on the same IND: %v", err)
	}
	// ...while AV 4 (IND 4, SEQ 5, older than SEQ_MS = 33) is still fresh in its slot.
	if err := auth(4); err != nil {
		t.Fatalf("AV 4, older SEQ on an unused IND: %v", err)
	}
	// AV 33 (IND 1, SEQ 34) is fresh; AV 1 already used, and a second use is a replay.
	if err := auth(33); err != nil {
		t.Fatalf("AV 33: %v", err)
	}
	if err := auth(1); !errors.As(err, &sf) || sf.Reason != SyncNotFresh {
		t.Fatalf("AV 1 replay: %v", err)
	}
	if got, want := u.SQNArray().SQNMS(), joinSQN(34, 1, s.INDBits); got != want {
		t.Errorf("SQN_MS = %012x, want %012x", uint64(got), uint64(want))
	}
}

// TestDeltaAndAgeLimits checks Δ (TS 33.102 §C.2.1) and L (TS 33.102 §C.2.2).
func TestDeltaAndAgeLimits(t *testing.T) {
	k, opc := testKeys(t)
	s := SQNScheme{INDBits: 2, Delta: 10, L: 5}
	tests := []struct {
		name     string
		accepted []SQN
		sqn      SQN
		want     SyncReason // 0 = accepted
	}{
		{"delta reached", nil, joinSQN(10, 0, 2), 0},
		{"delta exceeded", nil, joinSQN(11, 0, 2), SyncDelta},
		{"delta from SEQ_MS", []SQN{joinSQN(20, 1, 2)}, joinSQN(30, 2, 2), 0},
		{"delta exceeded from SEQ_MS", []SQN{joinSQN(20, 1, 2)}, joinSQN(31, 2, 2), SyncDelta},
		{"age below L", []SQN{joinSQN(20, 1, 2)}, joinSQN(16, 2, 2), 0},
		{"age at L", []SQN{joinSQN(20, 1, 2)}, joinSQN(15, 2, 2), SyncAge},
		{"same IND not fresh", []SQN{joinSQN(20, 1, 2)}, joinSQN(19, 1, 2), SyncNotFresh},
		{"same IND equal", []SQN{joinSQN(20, 1, 2)}, joinSQN(20, 1, 2), SyncNotFresh},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUSIM(t, k, opc, arrayWith(t, s, tc.accepted...), AMFSeparationMustBeZero)
			var rand [RANDLen]byte
			av, err := GenerateAV(k, opc, rand, tc.sqn, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = u.Authenticate(av.RAND[:], av.AUTN[:])
			var sf *SyncFailure
			switch {
			case tc.want == 0 && err != nil:
				t.Fatalf("err = %v, want accepted", err)
			case tc.want != 0 && (!errors.As(err, &sf) || sf.Reason != tc.want):
				t.Fatalf("err = %v, want *SyncFailure(%v)", err, tc.want)
			}
		})
	}
	// L = 0 disables the age limit.
	u := newUSIM(t, k, opc, arrayWith(t, SQNScheme{INDBits: 2, Delta: 10}, joinSQN(20, 1, 2)), AMFSeparationMustBeZero)
	var rand [RANDLen]byte
	av, _ := GenerateAV(k, opc, rand, joinSQN(1, 2, 2), 0)
	if _, err := u.Authenticate(av.RAND[:], av.AUTN[:]); err != nil {
		t.Errorf("L=0: %v", err)
	}
}

// TestAMFPolicy checks the separation bit handling (TS 33.102 §H, TS 33.401 §6.1.1).
func TestAMFPolicy(t *testing.T) {
	k, opc := testKeys(t)
	tests := []struct {
		policy AMFPolicy
		amf    AMF
		ok     bool
	}{
		{AMFSeparationMustBeZero, 0x0000, true},
		{AMFSeparationMustBeZero, 0x7fff, true},
		{AMFSeparationMustBeZero, 0x8000, false},
		{AMFSeparationMustBeOne, 0x8000, true},
		{AMFSeparationMustBeOne, 0x0000, false},
		{AMFSeparationIgnored, 0x8000, true},
		{AMFSeparationIgnored, 0x0000, true},
	}
	for _, tc := range tests {
		t.Run(tc.policy.String()+"/"+amfName(tc.amf), func(t *testing.T) {
			u := newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme()), tc.policy)
			var rand [RANDLen]byte
			av, err := GenerateAV(k, opc, rand, joinSQN(1, 0, DefaultINDBits), tc.amf)
			if err != nil {
				t.Fatal(err)
			}
			_, err = u.Authenticate(av.RAND[:], av.AUTN[:])
			if tc.ok && err != nil {
				t.Fatalf("err = %v, want accepted", err)
			}
			if !tc.ok {
				if !errors.Is(err, ErrAMFSeparation) {
					t.Fatalf("err = %v, want ErrAMFSeparation", err)
				}
				if got := u.SQNArray().SQNMS(); got != 0 {
					t.Errorf("rejected AUTN consumed the SQN: SQN_MS = %x", uint64(got))
				}
			}
		})
	}
	if _, err := NewUSIM(k, opc, arrayWith(t, DefaultSQNScheme()), AMFPolicy(9)); !errors.Is(err, ErrAMFPolicy) {
		t.Errorf("unknown policy: err = %v", err)
	}
	var zero AMFPolicy
	if zero != AMFSeparationMustBeZero {
		t.Errorf("zero AMFPolicy is %v, want the GBA default", zero)
	}
}

// amfName formats an AMF for test names.
func amfName(a AMF) string { return string("0123456789abcdef"[a>>12]) + "xxx" }

func TestUSIMBadInput(t *testing.T) {
	k, opc := testKeys(t)
	u := newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme()), AMFSeparationMustBeZero)
	for _, tc := range []struct {
		name       string
		rand, autn []byte
	}{
		{"nil", nil, nil},
		{"short RAND", make([]byte, 15), make([]byte, 16)},
		{"long RAND", make([]byte, 17), make([]byte, 16)},
		{"short AUTN", make([]byte, 16), make([]byte, 15)},
		{"long AUTN", make([]byte, 16), make([]byte, 32)},
	} {
		if _, err := u.Authenticate(tc.rand, tc.autn); !errors.Is(err, ErrLength) {
			t.Errorf("%s: err = %v, want ErrLength", tc.name, err)
		}
	}
	if _, err := NewUSIM(k, opc, SQNArray{}, AMFSeparationMustBeZero); err == nil {
		t.Errorf("NewUSIM accepted a zero SQNArray")
	}
}

// TestUSIMConcurrent lets -race see the USIM lock.
func TestUSIMConcurrent(t *testing.T) {
	k, opc := testKeys(t)
	netw := newNetwork(t, k, opc, DefaultSQNScheme())
	u := newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme()), AMFSeparationMustBeZero)
	var avs []AV
	for range 64 {
		av, _ := netw.next()
		avs = append(avs, av)
	}
	errs := make(chan error, len(avs))
	for _, av := range avs {
		go func() {
			_, err := u.Authenticate(av.RAND[:], av.AUTN[:])
			errs <- err
		}()
	}
	var ok int
	for range avs {
		if err := <-errs; err == nil {
			ok++
		}
	}
	// Order is random, so some vectors may be overtaken by a later one on the same IND;
	// at least one per IND slot must pass.
	if ok < 32 {
		t.Errorf("%d of %d accepted, want at least 32", ok, len(avs))
	}
}
