package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/bsf"
	hsssim "github.com/opengba/opengba/hss-sim"
	"github.com/opengba/opengba/internal/testbed"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/ue"
)

// TestHSSDownThenUp: with the HSS stopped the BSF answers 503 with Retry-After
// (specs/decisions.md DB.2); once the HSS is back, Ub works again within 5 s.
func TestHSSDownThenUp(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx := testCtx(t, 60*time.Second)
	s := tbSubscribers(t, tb, 1, 1)[0]
	ub := tbUb(tb)
	if err := tb.Stop(testbed.NodeHSS); err != nil {
		t.Fatalf("stop HSS: %v", err)
	}
	r := ub.initial(ctx, t, s.IMPI, testbed.BSFDomain)
	wantRetry := strconv.Itoa(int(bsf.Default().Ub.RetryAfter / time.Second))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != wantRetry {
		t.Fatalf("HSS down: %v Retry-After %q, want 503 with Retry-After %s", r, r.Header.Get("Retry-After"), wantRetry)
	}
	u := tbUE(t, tb, s, ueOptions{})
	if _, err := u.Bootstrap(ctx); err == nil {
		t.Fatal("ue Bootstrap succeeded with the HSS down")
	}

	if err := tb.Restart(ctx, testbed.NodeHSS); err != nil {
		t.Fatalf("restart HSS: %v", err)
	}
	up := time.Now()
	var last reply
	eventually(t, 5*time.Second, "Ub recovery after the HSS came back", func() (bool, string) {
		last = ub.initial(ctx, t, s.IMPI, testbed.BSFDomain)
		return last.Status == http.StatusUnauthorized, last.String()
	})
	took := time.Since(up)
	if took > 5*time.Second {
		t.Errorf("Ub recovered %v after the HSS came back, want within 5s", took)
	}
	t.Logf("Ub answered 401 again %v after the HSS was back", took.Round(time.Millisecond))
	b, err := u.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("bootstrap after recovery: %v", err)
	}
	registerBootstrap(b)
}

// TestBSFKillRestart: the real bsf binary with its SQLite store is killed with SIGKILL
// after acknowledging bootstraps (200) and started again; a NAF's BIR over Zn
// (naf.ZnClient) for each acknowledged B-TID then succeeds with the UE's Ks_NAF
// (specs/decisions.md DB.5). hss-sim runs as a process too.
func TestBSFKillRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t, 90*time.Second)
	hss := startHSSProc(t, "hss-sim", dir, "")
	subs := []sub{newSub("kill-bsf-1@e2e.opengba.test"), newSub("kill-bsf-2@e2e.opengba.test")}
	for _, s := range subs {
		hss.api.create(ctx, t, s.spec(""))
	}
	b := startBSFProc(t, "bsf", dir, hss.zhAddr)
	var boots []*ue.Bootstrap
	for _, s := range subs {
		u := newUE(t, b.ubURL, nil, s.usim(t), ueOptions{})
		bt, err := u.Bootstrap(ctx)
		if err != nil {
			t.Fatalf("bootstrap %s: %v", s.IMPI, err)
		}
		registerBootstrap(bt, e2eNAF)
		boots = append(boots, bt)
	}

	b.kill(t)
	if b.err == nil || !strings.Contains(b.err.Error(), "killed") {
		t.Fatalf("bsf exit: %v, want killed by SIGKILL", b.err)
	}
	b.run(t)

	zn := newZnClient(t, b.znAddr, b.originHost, b.domain)
	for i, bt := range boots {
		k, err := zn.KsNAF(ctx, bt.BTID, nafID(e2eNAF))
		if err != nil {
			t.Errorf("BIR for %s after the restart: %v", bt.BTID, err)
			continue
		}
		if !bytes.Equal(k.KsNAF.Bytes(), ksNAF(t, bt, e2eNAF)) {
			t.Errorf("Ks_NAF for %s differs from the UE's", bt.BTID)
		}
		if k.IMPI != subs[i].IMPI {
			t.Errorf("User-Name %q, want %q", k.IMPI, subs[i].IMPI)
		}
		if !k.Expires.Equal(bt.Expires) {
			t.Errorf("Key-ExpiryTime %v, want the bootstrap's %v", k.Expires, bt.Expires)
		}
	}
	// The Zn path is live, not vacuous: a B-TID never issued is 5403.
	if _, err := zn.KsNAF(ctx, "AAAAAAAAAAAAAAAAAAAAAA==@"+b.domain, nafID(e2eNAF)); !errors.Is(err, naf.ErrBTIDUnknown) {
		t.Errorf("BIR for an unknown B-TID: %v, want naf.ErrBTIDUnknown", err)
	}
}

// TestHSSKillRestart: the real hss-sim binary (SQLite) is killed with SIGKILL between
// bootstraps and started again; no SQN is ever issued twice (TS 33.102 §C.1.1,
// specs/decisions.md DS.1). SQNs are recovered from every AUTN the UE side received
// (SQN = (SQN ⊕ AK) ⊕ f5(K, RAND)), including the challenges used to probe recovery.
func TestHSSKillRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t, 90*time.Second)
	hss := startHSSProc(t, "hss-sim", dir, "")
	s := newSub("kill-hss@e2e.opengba.test")
	hss.api.create(ctx, t, s.spec(""))
	n := startBSF(t, bsfSpec{
		name: "hss-kill", hssAddr: hss.zhAddr, hssHost: e2eHSS, originHost: "bsf.e2e.opengba.test", realm: e2eRealm,
		domain: e2eDomain, nafs: map[string]bsf.NAFPolicy{e2eNAF: {FQDNs: []string{e2eNAF}}},
	})
	usim := s.usim(t)
	u := newUE(t, n.ubURL, nil, usim, ueOptions{})
	ub := ubHand{hc: http.DefaultClient, url: n.ubURL}
	var sqns []uint64 // in the order the UE side saw them
	record := func(from int) int {
		ev := usim.seen()
		for _, e := range ev[from:] {
			sqns = append(sqns, e.SQN)
			if e.Err != nil {
				t.Errorf("USIM refused SQN %x: %v", e.SQN, e.Err)
			}
		}
		return len(ev)
	}
	seen := 0
	bootstrap := func(phase string) {
		for range 3 {
			b, err := u.Bootstrap(ctx)
			if err != nil {
				t.Fatalf("%s bootstrap: %v", phase, err)
			}
			registerBootstrap(b)
		}
		seen = record(seen)
	}
	bootstrap("before the kill")
	before := len(sqns)

	hss.kill(t)
	if hss.err == nil || !strings.Contains(hss.err.Error(), "killed") {
		t.Fatalf("hss-sim exit: %v, want killed by SIGKILL", hss.err)
	}
	hss.run(t, "hss-sim (restarted)")
	// Until the BSF has reconnected Ub answers 503; each 401 carries an AV whose SQN counts.
	eventually(t, 10*time.Second, "Ub after the HSS restart", func() (bool, string) {
		r := ub.initial(ctx, t, s.IMPI, e2eDomain)
		if r.Status != http.StatusUnauthorized {
			return false, r.String()
		}
		ch, err := parseChallenge(r.Header)
		if err != nil {
			t.Fatal(err)
		}
		rnd, autn, err := ch.AKA()
		if err != nil {
			t.Fatal(err)
		}
		sqns = append(sqns, sqnOf(s.K, s.OPc, rnd, autn))
		return true, ""
	})
	bootstrap("after the restart")

	cfg := hsssim.DefaultSQNConfig()
	for i := 1; i < len(sqns); i++ {
		if sqns[i] <= sqns[i-1] {
			t.Errorf("SQN %d is %x after %x: reused or out of order (all: %x)", i, sqns[i], sqns[i-1], sqns)
		}
	}
	if len(sqns) != before+4 {
		t.Errorf("%d SQNs recorded, want %d", len(sqns), before+4)
	}
	jump := cfg.SEQ(sqns[before]) - cfg.SEQ(sqns[before-1])
	t.Logf("SEQ jump across the kill: %d (block size %d)", jump, cfg.BlockSize)
	if jump == 0 || jump > cfg.BlockSize+1 {
		t.Errorf("SEQ jumped by %d across the kill, want 1 … %d (one reserved block)", jump, cfg.BlockSize+1)
	}
	if he := hss.api.sqn(ctx, t, s.IMPI); he < sqns[len(sqns)-1] {
		t.Errorf("HSS SQN_HE %x below the last SQN issued %x", he, sqns[len(sqns)-1])
	}
}

// TestTwoBSFProcessesSharedRedis: two bsf processes (the real binary) share one real
// redis-server; a UE bootstraps at the first and a NAF's BIR at the second succeeds with
// the UE's Ks_NAF: any BSF behind a load balancer can answer a NAF (DB.1, DB.5).
func TestTwoBSFProcessesSharedRedis(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	ctx := testCtx(t, 60*time.Second)
	s := newSub("redis-proc@e2e.opengba.test")
	hss := startHSS(t, s)
	kek := newKEK()
	prefix := fmt.Sprintf("e2e-proc-%d:", time.Now().UnixNano())
	var procs [2]*bsfProc
	for i := range procs {
		procs[i] = startBSFProcWith(t, bsfProcSpec{
			name: fmt.Sprintf("bsf-redis-%d", i+1), dir: t.TempDir(), hssZh: hss.addr,
			originHost: fmt.Sprintf("bsf%d.e2e.opengba.test", i+1),
			redisAddr:  redis.addr, redisPrefix: prefix, kek: kek,
		})
	}
	u := newUE(t, procs[0].ubURL, nil, s.usim(t), ueOptions{})
	b, err := u.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("bootstrap at bsf process 1: %v", err)
	}
	registerBootstrap(b, e2eNAF)
	zn := newZnClient(t, procs[1].znAddr, "bsf2.e2e.opengba.test", e2eDomain)
	k, err := zn.KsNAF(ctx, b.BTID, nafID(e2eNAF))
	if err != nil {
		t.Fatalf("BIR at bsf process 2: %v", err)
	}
	if !bytes.Equal(k.KsNAF.Bytes(), ksNAF(t, b, e2eNAF)) || k.IMPI != s.IMPI {
		t.Errorf("BIA at bsf process 2: Ks_NAF differs from the UE's, or User-Name %q", k.IMPI)
	}
}

// TestTwoBSFsSharedRedis: two BSF instances share a Redis session store (and pending
// challenges, specs/decisions.md DB.1); a UE bootstraps at the first, a NAF's BIR at the
// second succeeds with the UE's Ks_NAF, and a challenge issued by one is answered at the
// other.
func TestTwoBSFsSharedRedis(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	ctx := testCtx(t, 60*time.Second)
	subs := []sub{newSub("redis-1@e2e.opengba.test"), newSub("redis-2@e2e.opengba.test")}
	hss := startHSS(t, subs...)
	kek := newKEK()
	prefix := fmt.Sprintf("e2e-%d:", time.Now().UnixNano())
	shared := func(c *bsf.Config) {
		c.Store.Backend = bsf.BackendRedis
		c.Store.KEK = kek
		c.Store.Redis.Addrs = []string{redis.addr}
		c.Store.Redis.KeyPrefix = prefix
	}
	nafs := map[string]bsf.NAFPolicy{e2eNAF: {FQDNs: []string{e2eNAF}, IMPI: bsf.IMPIOnRequest}}
	var bsfs [2]*bsfNode
	for i := range bsfs {
		bsfs[i] = startBSF(t, bsfSpec{
			name: fmt.Sprintf("redis-%d", i+1), hssAddr: hss.addr, hssHost: e2eHSS,
			originHost: fmt.Sprintf("bsf%d.e2e.opengba.test", i+1), realm: e2eRealm, domain: e2eDomain,
			nafs: nafs, configure: shared,
		})
	}

	u := newUE(t, bsfs[0].ubURL, nil, subs[0].usim(t), ueOptions{})
	b, err := u.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("bootstrap at BSF 1: %v", err)
	}
	registerBootstrap(b, e2eNAF)
	zn2 := newZnClient(t, bsfs[1].znAddr, "bsf2.e2e.opengba.test", e2eDomain)
	k, err := zn2.KsNAF(ctx, b.BTID, nafID(e2eNAF))
	if err != nil {
		t.Fatalf("BIR at BSF 2: %v", err)
	}
	if !bytes.Equal(k.KsNAF.Bytes(), ksNAF(t, b, e2eNAF)) || k.IMPI != subs[0].IMPI {
		t.Errorf("BIA at BSF 2: Ks_NAF differs from the UE's or User-Name %q", k.IMPI)
	}

	// A challenge from BSF 2, answered at BSF 1 (the pending challenge lives in Redis).
	r := ubHand{hc: http.DefaultClient, url: bsfs[1].ubURL}.initial(ctx, t, subs[1].IMPI, e2eDomain)
	ch, err := parseChallenge(r.Header)
	if r.Status != http.StatusUnauthorized || err != nil {
		t.Fatalf("challenge at BSF 2: %v (%v)", r, err)
	}
	usim := subs[1].usim(t)
	rnd, autn, err := ch.AKA()
	if err != nil {
		t.Fatal(err)
	}
	res, err := usim.Authenticate(ctx, rnd, autn)
	if err != nil {
		t.Fatal(err)
	}
	ans, _ := ubHand{hc: http.DefaultClient, url: bsfs[0].ubURL}.answer(ctx, t, subs[1].IMPI, ch, res.RES(), nil)
	if ans.Status != http.StatusOK {
		t.Errorf("answer at BSF 1 to BSF 2's challenge: %v, want 200", ans)
	}
	ob := orphanBootstrapIn(t, subs[1].IMPI, rnd, res, e2eDomain)
	zn1 := newZnClient(t, bsfs[0].znAddr, "bsf1.e2e.opengba.test", e2eDomain)
	if k, err := zn1.KsNAF(ctx, ob.BTID, nafID(e2eNAF)); err != nil || !bytes.Equal(k.KsNAF.Bytes(), ksNAF(t, ob, e2eNAF)) {
		t.Errorf("BIR at BSF 1 for the session it created: %v", err)
	}
}
