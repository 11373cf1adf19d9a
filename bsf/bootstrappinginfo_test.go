package bsf

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/specs"
)

type nafKeyVector struct {
	Name                           string
	CK, IK, RAND, IMPI, Label, Key string
	NAFFQDN                        string `json:"naf_fqdn"`
	UaID                           string `json:"ua_id"`
}

func loadNAFKeyVectors(t *testing.T) []nafKeyVector {
	var f struct {
		NAFKeys []nafKeyVector `json:"naf_keys"`
	}
	if err := specs.Vectors("ts33220", &f); err != nil {
		t.Fatal(err)
	}
	return f.NAFKeys
}

// znFixture stores a session built from TS 35.208 set 1 (CK, IK, RAND) for the IMPI of the
// TS 33.220 vectors.
type znFixture struct {
	*testBSF
	s Session
}

func newZnFixture(t *testing.T, guss string) znFixture {
	tb := newTestBSF(t, withConfig(func(c *Config) {
		c.Zn.NAFs = map[string]NAFPolicy{
			"NAF.home1.net":  {FQDNs: []string{"naf.home1.net"}, Group: "m2m", IMPI: IMPIOnRequest},
			"naf2.home1.net": {FQDNs: []string{"naf2.home1.net", "naf2b.home1.net"}, Group: "iptv", IMPI: IMPIAlways},
			"naf3.home1.net": {FQDNs: []string{"naf3.home1.net"}, Group: "other"},
		}
	}))
	set := loadSet1(t)
	ks, err := gba.Ks(unhex(t, set.F3), unhex(t, set.F4))
	if err != nil {
		t.Fatal(err)
	}
	btid, err := gba.NewBTID(unhex(t, set.RAND), "bsf.home1.net")
	if err != nil {
		t.Fatal(err)
	}
	s := Session{
		BTID: btid, IMPI: impi1, Ks: ks,
		Created: testEpoch(), Expires: testEpoch().Add(24 * time.Hour), GBAType: GBAType3G,
	}
	if guss != "" {
		s.GUSS = []byte(guss)
	}
	if err := tb.store.CreateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return znFixture{tb, s}
}

func nafID(t *testing.T, fqdn, ua string) []byte {
	return append([]byte(fqdn), unhex(t, ua)...)
}

func TestBootstrappingInfoVectors(t *testing.T) {
	f := newZnFixture(t, "")
	for _, v := range loadNAFKeyVectors(t) {
		if v.Label != "gba-me" {
			continue // Ks_int_NAF is GBA_U
		}
		t.Run(v.Name, func(t *testing.T) {
			if v.CK != loadSet1(t).F3 || v.RAND != loadSet1(t).RAND || v.IMPI != impi1 {
				t.Fatal("vector inputs are not TS 35.208 set 1")
			}
			ans, err := f.BootstrappingInfo(context.Background(), ZnRequest{
				NAFHost: "naf.home1.net", BTID: f.s.BTID.String(), NAFID: nafID(t, v.NAFFQDN, v.UaID),
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(ans.KsNAF.Bytes()); got != v.Key {
				t.Errorf("Ks_NAF = %s, want %s", got, v.Key)
			}
			if !ans.KeyExpiry.Equal(f.s.Expires) || !ans.BootstrapInfoCreationTime.Equal(f.s.Created) {
				t.Errorf("times %s, %s", ans.KeyExpiry, ans.BootstrapInfoCreationTime)
			}
			if ans.IMPI != "" || ans.USS != nil || ans.GBAType != GBAType3G {
				t.Errorf("answer %+v: no IMPI (not requested), no USS (no GUSS), 3G GBA expected", ans)
			}
		})
	}
}

// TestBootstrappingInfoNAFIdOctets: Ks_NAF is derived from the NAF-Id octets exactly as
// received (TS 33.220 §B.3), even when the FQDN matches the configuration only
// case-insensitively.
func TestBootstrappingInfoNAFIdOctets(t *testing.T) {
	f := newZnFixture(t, "")
	raw := nafID(t, "NAF.Home1.NET", "0100000002")
	ans, err := f.BootstrappingInfo(context.Background(), ZnRequest{NAFHost: "naf.home1.net", BTID: f.s.BTID.String(), NAFID: raw})
	if err != nil {
		t.Fatal(err)
	}
	rnd := f.s.RAND()
	want, err := gba.KDF(f.s.Ks.Bytes(), gba.FCNAF, []byte("gba-me"), rnd[:], []byte(impi1), raw)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(ans.KsNAF.Bytes()) != hex.EncodeToString(want) {
		t.Error("Ks_NAF not derived from the received NAF-Id octets")
	}
}

func TestBootstrappingInfoErrors(t *testing.T) {
	f := newZnFixture(t, "")
	good := nafID(t, "naf.home1.net", "0100000002")
	btid := f.s.BTID.String()
	other, _ := gba.NewBTID(make([]byte, 16), "bsf.home1.net")
	tests := []struct {
		name string
		req  ZnRequest
		want error
	}{
		{"unauthorised NAF", ZnRequest{NAFHost: "evil.home1.net", BTID: btid, NAFID: good}, ErrNAFNotAuthorized},
		{"unauthorised NAF, unknown B-TID", ZnRequest{NAFHost: "evil.home1.net", BTID: other.String(), NAFID: good}, ErrNAFNotAuthorized},
		{"wrong NAF FQDN", ZnRequest{NAFHost: "naf.home1.net", BTID: btid, NAFID: nafID(t, "naf2.home1.net", "0100000002")}, ErrNAFNotAuthorized},
		{"malformed NAF-Id", ZnRequest{NAFHost: "naf.home1.net", BTID: btid, NAFID: []byte{1, 0, 0}}, ErrNAFNotAuthorized},
		{"unknown B-TID", ZnRequest{NAFHost: "naf.home1.net", BTID: other.String(), NAFID: good}, ErrBTIDUnknown},
		{"malformed B-TID", ZnRequest{NAFHost: "naf.home1.net", BTID: "nonsense", NAFID: good}, ErrBTIDUnknown},
		{"B-TID of another BSF", ZnRequest{NAFHost: "naf.home1.net", BTID: strings.Replace(btid, "home1", "home2", 1), NAFID: good}, ErrBTIDUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.BootstrappingInfo(context.Background(), tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("B-TID domain case", func(t *testing.T) {
		upper := strings.Replace(btid, "bsf.home1.net", "BSF.Home1.net", 1)
		if _, err := f.BootstrappingInfo(context.Background(), ZnRequest{NAFHost: "naf.home1.net", BTID: upper, NAFID: good}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBootstrappingInfoExpired(t *testing.T) {
	f := newZnFixture(t, "")
	req := ZnRequest{NAFHost: "naf.home1.net", BTID: f.s.BTID.String(), NAFID: nafID(t, "naf.home1.net", "0100000002")}
	f.clock.Advance(24*time.Hour - time.Second)
	if _, err := f.BootstrappingInfo(context.Background(), req); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.BootstrappingInfo(context.Background(), req); !errors.Is(err, ErrBTIDUnknown) {
		t.Fatalf("at expiry: %v, want ErrBTIDUnknown", err)
	}
}

func TestBootstrappingInfoRequestedKeyLifetime(t *testing.T) {
	f := newZnFixture(t, "")
	base := ZnRequest{NAFHost: "naf.home1.net", BTID: f.s.BTID.String(), NAFID: nafID(t, "naf.home1.net", "0100000002")}
	for _, tt := range []struct {
		name      string
		requested time.Time
		want      time.Time
	}{
		{"none", time.Time{}, f.s.Expires},
		{"shorter", testEpoch().Add(time.Hour), testEpoch().Add(time.Hour)},
		{"longer", f.s.Expires.Add(time.Hour), f.s.Expires},
		{"equal", f.s.Expires, f.s.Expires},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := base
			req.RequestedKeyLifetime = tt.requested
			ans, err := f.BootstrappingInfo(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !ans.KeyExpiry.Equal(tt.want) {
				t.Errorf("Key-ExpiryTime %s, want %s", ans.KeyExpiry, tt.want)
			}
		})
	}
}

func TestBootstrappingInfoIMPIPolicy(t *testing.T) {
	f := newZnFixture(t, gussDoc)
	for _, tt := range []struct {
		host, fqdn string
		requested  bool
		want       string
	}{
		{"naf.home1.net", "naf.home1.net", false, ""},
		{"naf.home1.net", "naf.home1.net", true, impi1},
		{"naf2.home1.net", "naf2b.home1.net", false, impi1},
	} {
		ans, err := f.BootstrappingInfo(context.Background(), ZnRequest{
			NAFHost: tt.host, BTID: f.s.BTID.String(), NAFID: nafID(t, tt.fqdn, "0100000002"), PrivateIdentityRequested: tt.requested,
		})
		if err != nil {
			t.Fatal(err)
		}
		if ans.IMPI != tt.want {
			t.Errorf("%s requested=%v: IMPI %q, want %q", tt.host, tt.requested, ans.IMPI, tt.want)
		}
	}
}

// TestBootstrappingInfoUSS: only the USSs of the NAF's group go to the NAF, rooted at
// ussList; a NAF whose group no USS covers is not authorised (TS 33.220 Annex J).
func TestBootstrappingInfoUSS(t *testing.T) {
	f := newZnFixture(t, gussDoc)
	type uss struct {
		ID       string   `xml:"id,attr"`
		NAFGroup string   `xml:"nafGroup,attr"`
		UIDs     []string `xml:"uids>uid"`
	}
	var list struct {
		XMLName xml.Name
		USS     []uss `xml:"uss"`
	}
	for _, tt := range []struct {
		host, fqdn string
		wantID     string
		wantUID    string
	}{
		{"naf.home1.net", "naf.home1.net", "1", "sip:user1@home1.net"},
		{"naf2.home1.net", "naf2.home1.net", "2", "tel:+358"},
	} {
		ans, err := f.BootstrappingInfo(context.Background(), ZnRequest{NAFHost: tt.host, BTID: f.s.BTID.String(), NAFID: nafID(t, tt.fqdn, "0100000002")})
		if err != nil {
			t.Fatal(err)
		}
		list.USS = nil
		if err := xml.Unmarshal(ans.USS, &list); err != nil {
			t.Fatalf("USS: %v\n%s", err, ans.USS)
		}
		if list.XMLName.Local != "ussList" || list.XMLName.Space != "uri:3gpp-gba" {
			t.Errorf("root %v, want ussList in uri:3gpp-gba", list.XMLName)
		}
		if len(list.USS) != 1 || list.USS[0].ID != tt.wantID || len(list.USS[0].UIDs) != 1 || list.USS[0].UIDs[0] != tt.wantUID {
			t.Errorf("%s: USS %+v, want only uss %s", tt.host, list.USS, tt.wantID)
		}
	}
	_, err := f.BootstrappingInfo(context.Background(), ZnRequest{NAFHost: "naf3.home1.net", BTID: f.s.BTID.String(), NAFID: nafID(t, "naf3.home1.net", "0100000002")})
	if !errors.Is(err, ErrNAFNotAuthorized) {
		t.Fatalf("NAF group without USS: %v, want ErrNAFNotAuthorized", err)
	}
}
