package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opengba/opengba/bsf"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testbed"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/ue"
)

// memStore is a ue.Store in memory.
type memStore struct {
	mu sync.Mutex
	m  map[string]*ue.Bootstrap
}

func (s *memStore) Load(_ context.Context, impi string) (*ue.Bootstrap, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.m[impi]; ok {
		return b, nil
	}
	return nil, ue.ErrNotFound
}

func (s *memStore) Save(_ context.Context, b *ue.Bootstrap) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*ue.Bootstrap)
	}
	s.m[b.IMPI] = b
	return nil
}

func (s *memStore) Delete(_ context.Context, impi string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, impi)
	return nil
}

// checkReEnrolment checks the end of an enrolment that started with a B-TID the BSF no
// longer (or never) knew: Ua 401 (challenge), 401 (Zn 5403, TS 24.109 §5.2.4), a new
// bootstrap, 200; Kmr-ID is the new B-TID, and the MAF holds the UE's Kmr.
func checkReEnrolment(ctx context.Context, t *testing.T, tb *testbed.Testbed, zn *znLog, u *ueRig, oldBTID string, enr *ue.Enrolment, wantUb []int) {
	t.Helper()
	if got, want := u.uaStatuses(), []int{401, 401, 200}; !slices.Equal(got, want) {
		t.Errorf("Ua statuses %v, want %v", got, want)
	}
	if got := u.ubStatuses(); !slices.Equal(got, wantUb) {
		t.Errorf("Ub statuses %v, want %v", got, wantUb)
	}
	if errs := zn.forBTID(oldBTID); len(errs) != 1 || !errors.Is(errs[0], naf.ErrBTIDUnknown) {
		t.Errorf("Zn for the old B-TID: %v, want one 5403 (naf.ErrBTIDUnknown)", errs)
	}
	if enr.KmrID == oldBTID {
		t.Fatalf("enrolled with the old B-TID %s", oldBTID)
	}
	if errs := zn.forBTID(enr.KmrID); len(errs) != 1 || errs[0] != nil {
		t.Errorf("Zn for the new B-TID: %v, want one success", errs)
	}
	maf, err := tb.LookupKmr(ctx, enr.KmrID)
	if err != nil {
		t.Fatalf("LookupKmr: %v", err)
	}
	if maf.Kmr.Hex() != hexOf(enr.Kmr.Bytes()) {
		t.Errorf("Kmr at the MAF %s differs from the UE's", maf.Kmr.Fingerprint())
	}
}

// TestUaUnknownBTID: the UE holds a B-TID the BSF never issued; the MEF gets Zn 5403 and
// answers 401, the UE bootstraps again and the enrolment succeeds (TS 24.109 §5.2.4).
func TestUaUnknownBTID(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 30*time.Second)
	zn := observeZn(t, tb)
	s := tbSubscribers(t, tb, 1, 1)[0]

	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	ks := make([]byte, 32)
	_, _ = rand.Read(ks)
	btid, err := gba.NewBTID(rnd[:], testbed.BSFDomain)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ue.NewKey(ks)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := ue.NewBootstrap(btid.String(), s.IMPI, rnd, key, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	registerBootstrap(fake, tb.Endpoints().NAFFQDN)
	store := &memStore{}
	_ = store.Save(ctx, fake)

	u := tbUE(t, tb, s, ueOptions{store: store})
	enr, err := u.Enrol(ctx, tb.EnrolmentURL())
	if err != nil {
		t.Fatalf("Enrol: %v", err)
	}
	suite.secrets.add("Kmr "+enr.KmrID, enr.Kmr.Bytes())
	if b, err := u.Current(ctx); err == nil {
		registerBootstrap(b, tb.Endpoints().NAFFQDN)
	}
	checkReEnrolment(ctx, t, tb, zn, u, fake.BTID, enr, []int{401, 200})
}

// TestUaExpiredBTID: the BSF's session has expired (its clock moved past the key lifetime,
// TS 33.220 §4.5.2) while the UE still uses the B-TID; the MEF gets Zn 5403 and answers
// 401, the UE bootstraps again and the enrolment succeeds.
func TestUaExpiredBTID(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 30*time.Second)
	zn := observeZn(t, tb)
	s := tbSubscribers(t, tb, 1, 1)[0]
	clock := &fakeClock{}
	replaceBSF(t, tb, replaceOptions{configure: func(c *bsf.Config) {
		c.Now = clock.Now
		c.Ub.DefaultLifetime = time.Hour
	}})
	u := tbUE(t, tb, s, ueOptions{})
	b1, err := u.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	registerBootstrap(b1, tb.Endpoints().NAFFQDN)
	if life := time.Until(b1.Expires); life > time.Hour || life < 50*time.Minute {
		t.Fatalf("key lifetime %v, want the configured 1h", life)
	}
	clock.Advance(2 * time.Hour) // at the BSF the session is now expired; the UE's clock did not move

	enr, err := u.Enrol(ctx, tb.EnrolmentURL())
	if err != nil {
		t.Fatalf("Enrol: %v", err)
	}
	suite.secrets.add("Kmr "+enr.KmrID, enr.Kmr.Bytes())
	if b, err := u.Current(ctx); err == nil {
		registerBootstrap(b, tb.Endpoints().NAFFQDN)
	}
	checkReEnrolment(ctx, t, tb, zn, u, b1.BTID, enr, []int{401, 200, 401, 200})
}

// TestUaNAFNotAuthorized: the BSF refuses the NAF key (Zn 5402, TS 29.109 §6.2.2.2): the
// MEF answers 403 with a clear error and no challenge. Two causes: the MEF's FQDN is not in
// its BSF policy (specs/decisions.md DB.4), and the subscriber's GUSS has no USS for the
// MEF's NAF group (TS 33.220 Annex J).
func TestUaNAFNotAuthorized(t *testing.T) {
	t.Parallel()
	const wantErr = "the BSF does not authorise this NAF for the subscriber (Zn 5402)"
	run := func(t *testing.T, tb *testbed.Testbed, s sub) {
		ctx := testCtx(t, 30*time.Second)
		zn := observeZn(t, tb)
		u := tbUE(t, tb, s, ueOptions{})
		b, err := u.Bootstrap(ctx)
		if err != nil {
			t.Fatalf("Bootstrap: %v", err)
		}
		registerBootstrap(b)
		rep, _ := tbUa(tb).enrol(ctx, t, b.BTID, ksNAF(t, b, tb.Endpoints().NAFFQDN))
		if rep.Status != http.StatusForbidden || jsonError(rep.Body) != wantErr || rep.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("Ua: %v, want 403 %q without a challenge", rep, wantErr)
		}
		if errs := zn.forBTID(b.BTID); len(errs) != 1 || !errors.Is(errs[0], naf.ErrNotAuthorized) {
			t.Errorf("Zn: %v, want one 5402 (naf.ErrNotAuthorized)", errs)
		}
		_, err = u.Enrol(ctx, tb.EnrolmentURL())
		var se *ue.StatusError
		if !errors.Is(err, ue.ErrAuthRejected) || !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
			t.Errorf("ue Enrol: %v, want ErrAuthRejected with 403", err)
		}
		if got := u.uaStatuses(); !slices.Equal(got, []int{401, 403}) {
			t.Errorf("ue Ua statuses %v, want [401 403]", got)
		}
	}
	t.Run("policy", func(t *testing.T) {
		t.Parallel()
		tb := newTestbed(t)
		s := tbSubscribers(t, tb, 1, 1)[0]
		replaceBSF(t, tb, replaceOptions{configure: func(c *bsf.Config) {
			p := c.Zn.NAFs[testbed.MEFHost]
			p.FQDNs = []string{"another-naf.opengba.test"}
			c.Zn.NAFs[testbed.MEFHost] = p
		}})
		run(t, tb, s)
	})
	t.Run("guss", func(t *testing.T) {
		t.Parallel()
		tb := newTestbed(t)
		s := newSub("guss@" + testbed.IMSDomain)
		spec := s.spec("")
		spec.GUSS = `<guss xmlns="uri:3gpp-gba" id="` + s.IMPI + `"><bsfInfo><uiccType>GBA</uiccType><lifeTime>3600</lifeTime></bsfInfo>` +
			`<ussList><uss id="1" type="0" nafGroup="not-m2m"><uids><uid>sip:guss@` + testbed.IMSDomain + `</uid></uids>` +
			`<flags><flag>1</flag></flags></uss></ussList></guss>`
		tbHSS(tb).create(testCtx(t, 10*time.Second), t, spec)
		run(t, tb, s)
	})
}

// TestUaFQDNMismatch: a UE that derives Ks_NAF for another NAF FQDN than the MEF's
// (TS 33.220 §B.3: NAF_Id = FQDN ‖ Ua id) fails the Ua digest: 401 with a fresh challenge.
// The same exchange with the MEF's FQDN succeeds.
func TestUaFQDNMismatch(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 30*time.Second)
	zn := observeZn(t, tb)
	s := tbSubscribers(t, tb, 1, 1)[0]
	u := tbUE(t, tb, s, ueOptions{})
	b, err := u.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	registerBootstrap(b)
	ua := tbUa(tb)
	rep, ch := ua.enrol(ctx, t, b.BTID, ksNAF(t, b, "naf.elsewhere.opengba.test"))
	fresh, err := parseChallenge(rep.Header)
	if rep.Status != http.StatusUnauthorized || err != nil || fresh.Nonce == ch.Nonce || fresh.Stale ||
		fresh.Realm != "3GPP-bootstrapping@"+tb.Endpoints().NAFFQDN || jsonError(rep.Body) != "authentication failed" {
		t.Errorf("Ua with Ks_NAF of another FQDN: %v, want 401 with a fresh challenge and \"authentication failed\"", rep)
	}
	// The BSF gave the MEF its key; the digest failed at the MEF.
	if errs := zn.forBTID(b.BTID); len(errs) != 1 || errs[0] != nil {
		t.Errorf("Zn: %v, want one success", errs)
	}
	if rep, _ := ua.enrol(ctx, t, b.BTID, ksNAF(t, b, tb.Endpoints().NAFFQDN)); rep.Status != http.StatusOK {
		t.Errorf("control with the MEF's FQDN: %v, want 200", rep)
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }
