package ue_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/ue"
)

// wideOpts accepts the large SQNs of the TS 35.208 sets from a fresh array and ignores
// the AMF separation bit, which several sets have set.
func wideOpts() *ue.USIMOptions {
	return &ue.USIMOptions{
		Scheme:    ue.SQNScheme{INDBits: 5, Delta: 1<<43 - 1},
		AMFPolicy: ue.AMFSeparationIgnored,
	}
}

// TestUSIMAuthenticate checks AUTHENTICATE against every TS 35.208 set: RES = f2,
// CK = f3, IK = f4, and the AUTS of a replay built from SQN_MS = SQN.
func TestUSIMAuthenticate(t *testing.T) {
	ctx := context.Background()
	for _, s := range milenageSets(t) {
		t.Run(s.Name, func(t *testing.T) {
			for _, variant := range []string{"OPc", "OP"} {
				opts := wideOpts()
				var u *ue.USIM
				var err error
				if variant == "OPc" {
					u, err = ue.NewUSIM(testIMPI, key128(t, s.K), key128(t, s.OPc), opts)
				} else {
					u, err = ue.NewUSIMWithOP(testIMPI, key128(t, s.K), key128(t, s.OP), opts)
				}
				if err != nil {
					t.Fatal(err)
				}
				rand, autn := [16]byte(unhex(t, s.RAND)), [16]byte(unhex(t, s.AUTN))
				r, err := u.Authenticate(ctx, rand, autn)
				if err != nil {
					t.Fatalf("%s: %v", variant, err)
				}
				if !bytes.Equal(r.RES(), unhex(t, s.F2)) || !bytes.Equal(r.CK().Bytes(), unhex(t, s.F3)) || !bytes.Equal(r.IK().Bytes(), unhex(t, s.F4)) {
					t.Errorf("%s: RES, CK or IK differs from the set", variant)
				}
				// TS 33.102 §C.2.2: the same SQN is not fresh any more.
				_, err = u.Authenticate(ctx, rand, autn)
				var sf *ue.SyncFailure
				if !errors.As(err, &sf) {
					t.Fatalf("%s: replay: %v, want *SyncFailure", variant, err)
				}
				if !bytes.Equal(sf.AUTS[:], unhex(t, s.AUTS)) {
					t.Errorf("%s: AUTS %x, want %s", variant, sf.AUTS, s.AUTS)
				}
			}
		})
	}
}

func TestUSIMFailures(t *testing.T) {
	ctx := context.Background()
	s := set1(t)
	rand, autn := [16]byte(unhex(t, s.RAND)), [16]byte(unhex(t, s.AUTN))

	t.Run("MAC", func(t *testing.T) {
		u, _ := ue.NewUSIM(testIMPI, key128(t, s.K), key128(t, s.OPc), wideOpts())
		bad := autn
		bad[15] ^= 1
		if _, err := u.Authenticate(ctx, rand, bad); !errors.Is(err, ue.ErrMACFailure) {
			t.Fatalf("err = %v, want ErrMACFailure", err)
		}
		// The rejected AUTN did not touch the SQN array: the good one still passes.
		if _, err := u.Authenticate(ctx, rand, autn); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("AMF-separation-default", func(t *testing.T) {
		opts := wideOpts()
		opts.AMFPolicy = ue.AMFSeparationMustBeZero // set 1 AMF b9b9 has the bit set
		u, _ := ue.NewUSIM(testIMPI, key128(t, s.K), key128(t, s.OPc), opts)
		if _, err := u.Authenticate(ctx, rand, autn); !errors.Is(err, ue.ErrAMFSeparation) {
			t.Fatalf("err = %v, want ErrAMFSeparation", err)
		}
	})
	t.Run("delta", func(t *testing.T) {
		u, _ := ue.NewUSIM(testIMPI, key128(t, s.K), key128(t, s.OPc), nil) // Δ = 2^28
		var sf *ue.SyncFailure
		if _, err := u.Authenticate(ctx, rand, autn); !errors.As(err, &sf) {
			t.Fatalf("err = %v, want *SyncFailure (SEQ beyond Δ, TS 33.102 §C.2.1)", err)
		}
	})
	t.Run("context", func(t *testing.T) {
		u, _ := ue.NewUSIM(testIMPI, key128(t, s.K), key128(t, s.OPc), nil)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := u.Authenticate(cctx, rand, autn); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestUSIMState: the SQN array survives MarshalBinary/UnmarshalBinary, so a restored USIM
// refuses a replay that a fresh one would accept.
func TestUSIMState(t *testing.T) {
	ctx := context.Background()
	s := set1(t)
	k, opc := key128(t, s.K), key128(t, s.OPc)
	ak, aopc := aka.Key(unhex(t, s.K)), aka.Key(unhex(t, s.OPc))
	rand := [16]byte(unhex(t, s.RAND))
	av, err := aka.GenerateAV(ak, aopc, rand, aka.SQN(5<<5|3), 0)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := ue.NewUSIM(testIMPI, k, opc, nil)
	if _, err := u.Authenticate(ctx, rand, av.AUTN); err != nil {
		t.Fatal(err)
	}
	state, err := u.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}

	restored, _ := ue.NewUSIM(testIMPI, k, opc, nil)
	if err := restored.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	var sf *ue.SyncFailure
	if _, err := restored.Authenticate(ctx, rand, av.AUTN); !errors.As(err, &sf) {
		t.Fatalf("restored USIM accepted a replay: %v", err)
	}
	fresh, _ := ue.NewUSIM(testIMPI, k, opc, nil)
	if _, err := fresh.Authenticate(ctx, rand, av.AUTN); err != nil {
		t.Fatalf("fresh USIM: %v", err)
	}
	if again, _ := restored.MarshalBinary(); !bytes.Equal(again, state) {
		t.Error("state changed by a refused challenge")
	}
	if err := restored.UnmarshalBinary(state[:5]); err == nil {
		t.Error("truncated state accepted")
	}
	if err := restored.UnmarshalBinary(append(state, 0)); err == nil {
		t.Error("over-long state accepted")
	}
}

func TestNewUSIM(t *testing.T) {
	s := set1(t)
	k, opc := key128(t, s.K), key128(t, s.OPc)
	for _, tc := range []struct {
		name string
		impi string
		k    ue.Key128
		opts *ue.USIMOptions
	}{
		{"empty-IMPI", "", k, nil},
		{"control-in-IMPI", "a\nb@c", k, nil},
		{"bad-UTF-8", "\xff@home1.net", k, nil},
		{"zero-K", testIMPI, ue.Key128{}, nil},
		{"bad-scheme", testIMPI, k, &ue.USIMOptions{Scheme: ue.SQNScheme{INDBits: 11, Delta: 1}}},
		{"bad-policy", testIMPI, k, &ue.USIMOptions{AMFPolicy: 9}},
	} {
		if _, err := ue.NewUSIM(tc.impi, tc.k, opc, tc.opts); !errors.Is(err, ue.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tc.name, err)
		}
	}
}

func TestParseKey128(t *testing.T) {
	secret := "465b5ce8b199b49faa5f0a2ee238a6bZ"
	for _, in := range []string{"", "00", secret, secret + "00"} {
		_, err := ue.ParseKey128(in)
		if !errors.Is(err, ue.ErrKeyFormat) {
			t.Errorf("ParseKey128(%q) err = %v", in, err)
		}
		if err != nil && len(in) > 4 && bytes.Contains([]byte(err.Error()), []byte(in[:8])) {
			t.Errorf("error echoes the key: %v", err)
		}
	}
	if _, err := ue.NewAKAResult([]byte{1, 2, 3}, key128(t, secret[:31]+"0"), key128(t, secret[:31]+"0")); !errors.Is(err, ue.ErrKeyFormat) {
		t.Errorf("3-octet RES accepted: %v", err)
	}
}

func TestUaID(t *testing.T) {
	for _, tc := range []struct {
		id   ue.UaID
		want string
	}{
		{ue.UaIDHTTPDigest, "0100000002"},
		{ue.UaIDTLSPSK(0x00ae), "01000100ae"},
		{ue.UaIDSharedKeyTLS13, "0100000007"},
	} {
		if got := tc.id.String(); got != tc.want {
			t.Errorf("%#x: %q, want %q", uint64(tc.id), got, tc.want)
		}
		back, err := ue.ParseUaID(tc.want)
		if err != nil || back != tc.id {
			t.Errorf("ParseUaID(%q) = %v, %v", tc.want, back, err)
		}
	}
	if _, err := ue.ParseUaID("01000000"); !errors.Is(err, ue.ErrConfig) {
		t.Errorf("short id: %v", err)
	}
	if _, err := ue.ParseUaID("01000000zz"); !errors.Is(err, ue.ErrConfig) {
		t.Errorf("bad hex: %v", err)
	}
}
