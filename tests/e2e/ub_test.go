package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengba/opengba/bsf"
	hsssim "github.com/opengba/opengba/hss-sim"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testbed"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/ue"
)

// TestHappyPath: bootstrap (TS 24.109 Annex A) and enrolment over Ua with the MEF acting as
// NAF; the Kmr the UE derived (Ks_NAF, TS 33.220 §B.3) is the one the MAF holds, read
// through its IN-CSE lookup API; every message of the run has the expected status.
func TestHappyPath(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 30*time.Second)
	subs, err := tb.Subscribers(ctx, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	fromTestbed(subs[0])
	res, err := tb.RunDevice(ctx, subs[0], testbed.RunOptions{Ladder: true})
	if res != nil {
		suite.secrets.addKs(subs[0].IMPI, hexBytes(res.Ks.Hex()))
		suite.secrets.add("Kmr "+subs[0].IMPI, hexBytes(res.Kmr.Hex()))
	}
	if err != nil {
		t.Fatalf("RunDevice: %v", err)
	}

	// The whole ladder, statuses and result codes included, in order.
	want := []string{
		"UE>BSF Ub GET /",
		"BSF>HSS Zh MAR (303)",
		"HSS>BSF Zh MAA 2001 DIAMETER_SUCCESS",
		"BSF>UE Ub 401 Unauthorized",
		"UE>BSF Ub GET /",
		"BSF>UE Ub 200 OK",
		"UE>MEF Ua POST /m2m/enrolment",
		"MEF>UE Ua 401 Unauthorized",
		"UE>MEF Ua POST /m2m/enrolment",
		"MEF>BSF Zn BIR (310)",
		"BSF>MEF Zn BIA 2001 DIAMETER_SUCCESS",
		"MEF>MAF MAF POST /maf/v1/keys",
		"MAF>MEF MAF 201 Created",
		"MEF>UE Ua 200 OK (enrolment)",
	}
	var got []string
	for _, s := range res.Ladder.Steps {
		if !s.Note() {
			got = append(got, fmt.Sprintf("%s>%s %s %s", s.From, s.To, s.Interface, s.Label))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ladder:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// Kmr at the UE == Kmr at the MAF (lookup API, GET /maf/v1/keys?kmr_id=…).
	enr := res.Enrolment
	maf, err := tb.LookupKmr(ctx, enr.KmrID)
	if err != nil {
		t.Fatalf("LookupKmr: %v", err)
	}
	if ueKmr := hex.EncodeToString(enr.Kmr.Bytes()); maf.Kmr.Hex() != ueKmr || len(enr.Kmr.Bytes()) != 32 {
		t.Errorf("Kmr at the MAF %s, at the UE %s", maf.Kmr.Fingerprint(), res.Kmr.Fingerprint())
	}
	// Kmr = Ks_NAF for NAF_Id = MEF FQDN ‖ 01 00 00 00 02.
	if k, err := res.Bootstrap.KsNAF(tb.Endpoints().NAFFQDN, ue.UaIDHTTPDigest); err != nil || !k.Equal(enr.Kmr) {
		t.Errorf("Kmr is not Ks_NAF of the MEF (%v)", err)
	}
	if enr.KmrID != res.Bootstrap.BTID || maf.KmrID != res.Bootstrap.BTID {
		t.Errorf("Kmr-ID UE %q MAF %q, want the B-TID %q", enr.KmrID, maf.KmrID, res.Bootstrap.BTID)
	}
	if !strings.HasSuffix(res.Bootstrap.BTID, "@"+testbed.BSFDomain) {
		t.Errorf("B-TID %q is not in the BSF's domain (TS 33.220 §4.5.2)", res.Bootstrap.BTID)
	}
	if maf.NodeID == "" || maf.NodeID != enr.NodeID {
		t.Errorf("Node-ID UE %q MAF %q", enr.NodeID, maf.NodeID)
	}
	if maf.Expires.After(res.Bootstrap.Expires) {
		t.Errorf("Kmr expires %v after Ks %v (TS 33.220 §4.5.3)", maf.Expires, res.Bootstrap.Expires)
	}
}

func hexBytes(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

// TestResync: the USIM accepted SQNs the HSS has not reached (the subscriber is
// re-provisioned with a lower SQN after the USIM accepted a higher one); the USIM answers
// with AUTS, the BSF resynchronises over Zh (TS 33.102 §6.3.5, RFC 3310 §3.4, TS 24.109
// §4.5) and the bootstrap succeeds; the HSS's SQN is then beyond SQN_MS.
func TestResync(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 30*time.Second)
	api := tbHSS(tb)
	s := newSub("resync@" + testbed.IMSDomain)
	sqn := hsssim.DefaultSQNConfig()
	start := sqn.Join(1000, 0) // SEQ 1000, IND 0
	api.create(ctx, t, s.spec(fmt.Sprintf("%x", start)))

	u := tbUE(t, tb, s, ueOptions{})
	b1, err := u.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("first bootstrap: %v", err)
	}
	registerBootstrap(b1)
	ev := u.usim.seen()
	if len(ev) != 1 || ev[0].Err != nil || ev[0].SQN != sqn.Join(1001, 1) {
		t.Fatalf("first bootstrap: USIM saw %+v, want one accepted SQN %x", ev, sqn.Join(1001, 1))
	}
	accepted := ev[0].SQN

	// The HSS goes back to SQN_HE = start: its next AV repeats an SQN the USIM accepted.
	api.patch(ctx, t, s.IMPI, map[string]string{"sqn": fmt.Sprintf("%x", start)})
	b2, err := u.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("bootstrap with resync: %v", err)
	}
	registerBootstrap(b2)
	if got, want := u.ubStatuses(), []int{401, 200, 401, 401, 200}; !slices.Equal(got, want) {
		t.Errorf("Ub statuses %v, want %v (challenge, AUTS → fresh challenge, 200)", got, want)
	}
	ev = u.usim.seen()[1:]
	var sf *ue.SyncFailure
	if len(ev) != 2 || !errors.As(ev[0].Err, &sf) || ev[1].Err != nil {
		t.Fatalf("USIM outcomes %+v, want a sync failure then success", ev)
	}
	if ev[0].SQN != accepted || ev[0].SQNMS != accepted {
		t.Errorf("replayed SQN %x, SQN_MS in AUTS %x, want both %x", ev[0].SQN, ev[0].SQNMS, accepted)
	}
	sqnMS := ev[0].SQNMS
	if sqn.SEQ(ev[1].SQN) <= sqn.SEQ(sqnMS) {
		t.Errorf("SQN after resync %x, not beyond SQN_MS %x", ev[1].SQN, sqnMS)
	}
	if he := api.sqn(ctx, t, s.IMPI); sqn.SEQ(he) <= sqn.SEQ(sqnMS) || he < ev[1].SQN {
		t.Errorf("HSS SQN_HE %x, want beyond SQN_MS %x and at least the last SQN %x", he, sqnMS, ev[1].SQN)
	}
	if b2.BTID == b1.BTID {
		t.Error("the resynchronised bootstrap reused the B-TID")
	}
}

// TestWrongRES: a wrong RES is answered with 401 and a fresh challenge, and once
// ub.max_failures wrong responses came in a row with 403 (TS 24.109 §4.3,
// specs/decisions.md DB.2); no session exists for any of the RANDs. Run with the testbed's
// BSF (the default, 3) and with a BSF configured for 2.
func TestWrongRES(t *testing.T) {
	t.Parallel()
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		tb := newTestbed(t)
		wrongRES(t, tb, bsf.Default().Ub.MaxFailures) // the testbed runs the BSF defaults
	})
	t.Run("configured", func(t *testing.T) {
		t.Parallel()
		tb := newTestbed(t)
		replaceBSF(t, tb, replaceOptions{configure: func(c *bsf.Config) { c.Ub.MaxFailures = 2 }})
		wrongRES(t, tb, 2)
	})
}

func wrongRES(t *testing.T, tb *testbed.Testbed, maxFailures int) {
	ctx := testCtx(t, 30*time.Second)
	s := tbSubscribers(t, tb, 1, 1)[0]
	usim := s.usim(t)
	ub := tbUb(tb)
	zn := observeZn(t, tb)

	r := ub.initial(ctx, t, s.IMPI, testbed.BSFDomain)
	nonces := map[string]bool{}
	var boots []*ue.Bootstrap
	for i := 1; i <= maxFailures; i++ {
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("before wrong response %d: %v, want 401", i, r)
		}
		ch, err := parseChallenge(r.Header)
		if err != nil {
			t.Fatal(err)
		}
		if nonces[ch.Nonce] || ch.Stale || ch.Algorithm != "AKAv1-MD5" || ch.QOP != "auth-int" {
			t.Fatalf("challenge %d: %+v: want a fresh AKAv1-MD5 auth-int nonce without stale", i, ch)
		}
		nonces[ch.Nonce] = true
		rnd, autn, err := ch.AKA()
		if err != nil {
			t.Fatal(err)
		}
		res, err := usim.Authenticate(ctx, rnd, autn)
		if err != nil {
			t.Fatalf("USIM: %v", err)
		}
		boots = append(boots, orphanBootstrap(t, s.IMPI, rnd, res))
		wrong := res.RES()
		wrong[0] ^= 0xff
		r, _ = ub.answer(ctx, t, s.IMPI, ch, wrong, nil)
	}
	if r.Status != http.StatusForbidden || r.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("after %d wrong responses: %v, want 403 without a challenge", maxFailures, r)
	}

	// No session: a correct Ua for each RAND's B-TID is refused as unknown (Zn 5403).
	ua := tbUa(tb)
	for _, b := range boots {
		rep, _ := ua.enrol(ctx, t, b.BTID, ksNAF(t, b, tb.Endpoints().NAFFQDN))
		if rep.Status != http.StatusUnauthorized || jsonError(rep.Body) != "B-TID unknown or expired: bootstrap again" {
			t.Errorf("Ua with B-TID %s: %v, want 401 B-TID unknown", b.BTID, rep)
		}
		if errs := zn.forBTID(b.BTID); len(errs) != 1 || !errors.Is(errs[0], naf.ErrBTIDUnknown) {
			t.Errorf("Zn for %s: %v, want one 5403", b.BTID, errs)
		}
	}

	// Control: the same hand-built exchanges with the right RES succeed.
	b := handBootstrap(ctx, t, ub, s.IMPI, usim)
	if rep, _ := ua.enrol(ctx, t, b.BTID, ksNAF(t, b, tb.Endpoints().NAFFQDN)); rep.Status != http.StatusOK {
		t.Errorf("control enrolment: %v, want 200", rep)
	}
}

// orphanBootstrap is the bootstrap a session for rnd would have (B-TID, Ks = CK ‖ IK), to
// probe the NAF with.
func orphanBootstrap(t *testing.T, impi string, rnd [16]byte, res ue.AKAResult) *ue.Bootstrap {
	t.Helper()
	return orphanBootstrapIn(t, impi, rnd, res, testbed.BSFDomain)
}

// orphanBootstrapIn is orphanBootstrap for the BSF domain domain.
func orphanBootstrapIn(t *testing.T, impi string, rnd [16]byte, res ue.AKAResult, domain string) *ue.Bootstrap {
	t.Helper()
	btid, err := gba.NewBTID(rnd[:], domain)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := ue.NewKey(append(res.CK().Bytes(), res.IK().Bytes()...))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ue.NewBootstrap(btid.String(), impi, rnd, ks, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	registerBootstrap(b)
	return b
}

// handBootstrap runs Ub by hand to 200 and checks the BSF's rspauth and BootstrappingInfo
// (TS 24.109 Annex A, Annex C; RFC 3310 §3.5).
func handBootstrap(ctx context.Context, t *testing.T, ub ubHand, impi string, usim *recUSIM) *ue.Bootstrap {
	t.Helper()
	r := ub.initial(ctx, t, impi, testbed.BSFDomain)
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("initial Ub request: %v, want 401", r)
	}
	ch, err := parseChallenge(r.Header)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := handAnswer(ctx, t, ub, impi, usim, ch)
	return b
}

// handAnswer answers ch with the USIM's RES, expects 200 and returns the bootstrap, the
// Authorization sent and the reply.
func handAnswer(ctx context.Context, t *testing.T, ub ubHand, impi string, usim *recUSIM, ch digestChallenge) (*ue.Bootstrap, string, reply) {
	t.Helper()
	rnd, autn, err := ch.AKA()
	if err != nil {
		t.Fatal(err)
	}
	res, err := usim.Authenticate(ctx, rnd, autn)
	if err != nil {
		t.Fatalf("USIM: %v", err)
	}
	r, authz := ub.answer(ctx, t, impi, ch, res.RES(), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("Ub answer: %v, want 200", r)
	}
	if err := checkRspAuth(authz, res.RES(), r.Header, r.Body); err != nil {
		t.Errorf("BSF rspauth: %v", err)
	}
	if ct := r.Header.Get("Content-Type"); ct != bsf.ContentTypeBootstrappingInfo {
		t.Errorf("Content-Type %q", ct)
	}
	btid, err := gba.NewBTID(rnd[:], testbed.BSFDomain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.Body, []byte("<btid>"+btid.String()+"</btid>")) {
		t.Errorf("BootstrappingInfo %s lacks <btid>%s</btid> (B-TID = base64(RAND)@domain)", r.Body, btid)
	}
	b := orphanBootstrap(t, impi, rnd, res)
	return b, authz, r
}

// TestUbReplayedNonce: an Authorization that already produced a 200 is answered, when sent
// again, with 401, stale=true and a fresh nonce; so are a nonce the BSF never issued and a
// nonce issued to another IMPI (specs/decisions.md DB.2, RFC 7616 §3.3).
func TestUbReplayedNonce(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 30*time.Second)
	subs := tbSubscribers(t, tb, 1, 2)
	s := subs[0]
	ub := tbUb(tb)
	wantStale := func(what string, r reply, old string) {
		t.Helper()
		rc, err := parseChallenge(r.Header)
		if r.Status != http.StatusUnauthorized || err != nil || !rc.Stale || rc.Nonce == old {
			t.Errorf("%s: %v, want 401 with stale=true and a fresh nonce", what, r)
		}
	}
	r := ub.initial(ctx, t, s.IMPI, testbed.BSFDomain)
	ch, err := parseChallenge(r.Header)
	if err != nil || r.Status != http.StatusUnauthorized {
		t.Fatalf("initial: %v (%v)", r, err)
	}
	_, authz, _ := handAnswer(ctx, t, ub, s.IMPI, s.usim(t), ch)
	wantStale("replayed Authorization", ub.send(ctx, t, authz), ch.Nonce)

	// A nonce of the AKA form that this BSF never issued.
	forged := ch
	raw, _ := base64.StdEncoding.DecodeString(ch.Nonce)
	raw[0] ^= 0xff
	forged.Nonce = base64.StdEncoding.EncodeToString(raw)
	r, _ = ub.answer(ctx, t, s.IMPI, forged, []byte("whatever"), nil)
	wantStale("a nonce never issued", r, forged.Nonce)

	// A nonce issued to the first IMPI, answered as the second.
	r = ub.initial(ctx, t, s.IMPI, testbed.BSFDomain)
	other, err := parseChallenge(r.Header)
	if err != nil || r.Status != http.StatusUnauthorized {
		t.Fatalf("initial: %v (%v)", r, err)
	}
	r, _ = ub.answer(ctx, t, subs[1].IMPI, other, []byte("whatever"), nil)
	wantStale("a nonce issued to another IMPI", r, other.Nonce)
}

// TestUbStaleNonce: a correct answer to a challenge older than ub.nonce_max_age gets 401
// with stale=true and a fresh nonce (specs/decisions.md DB.2); the fresh one succeeds, and
// the stale nonce is spent. The BSF's clock is moved instead of waiting.
func TestUbStaleNonce(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 30*time.Second)
	s := tbSubscribers(t, tb, 1, 1)[0]
	clock := &fakeClock{}
	var bsfLog bytes.Buffer
	logw := &lockedWriter{w: &bsfLog}
	maxAge := 20 * time.Second
	replaceBSF(t, tb, replaceOptions{log: logw, configure: func(c *bsf.Config) {
		c.Now = clock.Now
		c.Ub.NonceMaxAge = maxAge
	}})
	ub := tbUb(tb)
	usim := s.usim(t)
	r := ub.initial(ctx, t, s.IMPI, testbed.BSFDomain)
	old, err := parseChallenge(r.Header)
	if err != nil || r.Status != http.StatusUnauthorized {
		t.Fatalf("initial: %v (%v)", r, err)
	}
	clock.Advance(maxAge + time.Second) // older than the limit, younger than the table's TTL
	rnd, autn, err := old.AKA()
	if err != nil {
		t.Fatal(err)
	}
	res, err := usim.Authenticate(ctx, rnd, autn)
	if err != nil {
		t.Fatal(err)
	}
	stale, staleAuthz := ub.answer(ctx, t, s.IMPI, old, res.RES(), nil)
	fresh, err := parseChallenge(stale.Header)
	if stale.Status != http.StatusUnauthorized || err != nil || !fresh.Stale || fresh.Nonce == old.Nonce {
		t.Fatalf("answer to a stale nonce: %v, want 401 with stale=true and a fresh nonce", stale)
	}
	if !strings.Contains(logw.String(), `"result":"stale_nonce"`) {
		t.Errorf("the BSF did not log result=stale_nonce")
	}
	handAnswer(ctx, t, ub, s.IMPI, usim, fresh)
	again := ub.send(ctx, t, staleAuthz)
	if rc, err := parseChallenge(again.Header); again.Status != http.StatusUnauthorized || err != nil || !rc.Stale {
		t.Errorf("the stale nonce once more: %v, want 401 stale=true (spent)", again)
	}
}

// TestUnknownIMPI: an IMPI the HSS does not know (Zh 5401) is refused with 403
// (specs/decisions.md DB.2), by hand and through the ue library.
func TestUnknownIMPI(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 30*time.Second)
	s := newSub("nobody@" + testbed.IMSDomain)
	r := tbUb(tb).initial(ctx, t, s.IMPI, testbed.BSFDomain)
	if r.Status != http.StatusForbidden || r.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("initial request for an unknown IMPI: %v, want 403 without a challenge", r)
	}
	u := tbUE(t, tb, s, ueOptions{})
	_, err := u.Bootstrap(ctx)
	var se *ue.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
		t.Errorf("ue Bootstrap: %v, want a 403 StatusError", err)
	}
	if got := u.ubStatuses(); !slices.Equal(got, []int{403}) {
		t.Errorf("Ub statuses %v, want [403]", got)
	}
	if len(u.usim.seen()) != 0 {
		t.Error("the USIM ran AUTHENTICATE for an unknown IMPI")
	}
}

// TestMACFailure: a UE with a wrong K cannot authenticate the network (MAC-A fails,
// TS 33.102 §6.3.3); it answers without RES (TS 24.109 §4.4) and the BSF answers 403.
func TestMACFailure(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 30*time.Second)
	s := tbSubscribers(t, tb, 1, 1)[0]
	wrongK := newSub(s.IMPI)
	wrongK.OPc = s.OPc
	u := tbUE(t, tb, wrongK, ueOptions{})
	_, err := u.Bootstrap(ctx)
	if !errors.Is(err, ue.ErrNetworkAuthFailed) || !errors.Is(err, ue.ErrMACFailure) {
		t.Errorf("Bootstrap with a wrong K: %v, want ue.ErrNetworkAuthFailed (MAC failure)", err)
	}
	if got := u.ubStatuses(); !slices.Equal(got, []int{401, 403}) {
		t.Errorf("Ub statuses %v, want [401 403]", got)
	}
	if ev := u.usim.seen(); len(ev) != 1 || !errors.Is(ev[0].Err, ue.ErrMACFailure) {
		t.Errorf("USIM outcomes %+v, want one MAC failure", ev)
	}
	// The right K still works: the failure was the key's.
	good := tbUE(t, tb, s, ueOptions{})
	b, err := good.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("bootstrap with the right K: %v", err)
	}
	registerBootstrap(b)
}

// lockedWriter serialises writes to w (a node's log tee).
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
