package diameter

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// TestAKAAuthDataItem builds and reads back the MAA item of TS 29.109 §6.1.2 from
// TS 35.208 set 1.
func TestAKAAuthDataItem(t *testing.T) {
	v := loadGoldenVectors(t)
	t.Run("TS35208/set1", func(t *testing.T) {
		in := AKAVector{RAND: v.RAND, AUTN: v.AUTN, XRES: v.XRES, CK: v.CK, IK: v.IK}
		it, err := NewAKAAuthDataItem(in)
		if err != nil {
			t.Fatal(err)
		}
		if it.AuthenticationScheme != "Digest-AKAv1-MD5" || !bytes.Equal(it.Authenticate, concat(v.RAND, v.AUTN)) ||
			!it.Authorization.Equal(v.XRES) || !it.CK.Equal(v.CK) || !it.IK.Equal(v.IK) {
			t.Fatalf("item %+v", it)
		}
		orig := in.RAND[0]
		in.RAND[0] ^= 0xff // the item holds copies
		copied := it.Authenticate[0] == orig
		in.RAND[0] = orig
		if !copied {
			t.Fatal("the item aliases the caller's RAND")
		}
		out, err := it.AKAVector()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.RAND, v.RAND) || !bytes.Equal(out.AUTN, v.AUTN) || !out.XRES.Equal(v.XRES) ||
			!out.CK.Equal(v.CK) || !out.IK.Equal(v.IK) {
			t.Fatalf("AKAVector() = %+v", out)
		}
	})

	short := func(b []byte) []byte { return b[:len(b)-1] }
	for _, tc := range []struct {
		name string
		av   AKAVector
	}{
		{"short RAND", AKAVector{RAND: short(v.RAND), AUTN: v.AUTN, XRES: v.XRES, CK: v.CK, IK: v.IK}},
		{"short AUTN", AKAVector{RAND: v.RAND, AUTN: short(v.AUTN), XRES: v.XRES, CK: v.CK, IK: v.IK}},
		{"XRES of 3 octets", AKAVector{RAND: v.RAND, AUTN: v.AUTN, XRES: Secret{1, 2, 3}, CK: v.CK, IK: v.IK}},
		{"XRES of 17 octets", AKAVector{RAND: v.RAND, AUTN: v.AUTN, XRES: make(Secret, 17), CK: v.CK, IK: v.IK}},
		{"no CK", AKAVector{RAND: v.RAND, AUTN: v.AUTN, XRES: v.XRES, IK: v.IK}},
		{"short IK", AKAVector{RAND: v.RAND, AUTN: v.AUTN, XRES: v.XRES, CK: v.CK, IK: short(v.IK)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewAKAAuthDataItem(tc.av); !errors.Is(err, ErrAuthData) {
				t.Fatalf("NewAKAAuthDataItem: %v, want ErrAuthData", err)
			}
			it := &SIPAuthDataItem{AuthenticationScheme: SchemeAKAv1MD5, Authenticate: concat(tc.av.RAND, tc.av.AUTN),
				Authorization: tc.av.XRES, CK: tc.av.CK, IK: tc.av.IK}
			_, err := it.AKAVector()
			if !errors.Is(err, ErrAuthData) {
				t.Fatalf("AKAVector: %v, want ErrAuthData", err)
			}
			if leaked(err.Error(), v) {
				t.Fatalf("error quotes key material: %v", err)
			}
		})
	}
	if _, err := (&SIPAuthDataItem{AuthenticationScheme: "Digest-MD5"}).AKAVector(); !errors.Is(err, ErrAuthData) {
		t.Fatalf("Digest-MD5 accepted: %v", err)
	}
	if _, err := (*SIPAuthDataItem)(nil).AKAVector(); !errors.Is(err, ErrAuthData) {
		t.Fatalf("nil item accepted: %v", err)
	}
}

func leaked(s string, v goldenVectors) bool {
	for _, b := range [][]byte{v.XRES, v.CK, v.IK} {
		if strings.Contains(s, string(b)) || strings.Contains(strings.ToLower(s), hex.EncodeToString(b)) {
			return true
		}
	}
	return false
}

// TestResyncAuthDataItem builds and reads back the MAR item after a synchronisation failure,
// SIP-Authorization = RAND||AUTS, from TS 35.208 set 1.
func TestResyncAuthDataItem(t *testing.T) {
	v := loadGoldenVectors(t)
	t.Run("TS35208/set1", func(t *testing.T) {
		it, err := NewResyncAuthDataItem(v.RAND, v.AUTS)
		if err != nil {
			t.Fatal(err)
		}
		if len(it.Authorization) != 30 || !it.Authorization.Equal(concat(v.RAND, v.AUTS)) ||
			it.AuthenticationScheme != SchemeAKAv1MD5 || it.Authenticate != nil || it.CK != nil || it.IK != nil {
			t.Fatalf("item %+v", it)
		}
		rand, auts, err := it.Resync()
		if err != nil || !bytes.Equal(rand, v.RAND) || !bytes.Equal(auts, v.AUTS) {
			t.Fatalf("Resync() = %x, %x, %v", rand, auts, err)
		}
		it.AuthenticationScheme = "" // a peer that sends SIP-Authorization alone
		if _, _, err := it.Resync(); err != nil {
			t.Fatalf("without a scheme: %v", err)
		}
	})
	for _, tc := range []struct {
		name       string
		rand, auts []byte
	}{
		{"short RAND", v.RAND[:15], v.AUTS},
		{"long AUTS", v.RAND, append(bytes.Clone(v.AUTS), 0)},
		{"no AUTS", v.RAND, nil},
	} {
		if _, err := NewResyncAuthDataItem(tc.rand, tc.auts); !errors.Is(err, ErrAuthData) {
			t.Errorf("%s: %v, want ErrAuthData", tc.name, err)
		}
	}
	for _, it := range []*SIPAuthDataItem{
		nil,
		{Authorization: make(Secret, 29)},
		{Authorization: make(Secret, 31)},
		{AuthenticationScheme: "Digest-AKAv2-SHA-256", Authorization: make(Secret, 30)},
	} {
		if _, _, err := it.Resync(); !errors.Is(err, ErrAuthData) {
			t.Errorf("Resync(%+v): %v, want ErrAuthData", it, err)
		}
	}
}
