package naf_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testbed"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/naftest"
	"github.com/opengba/opengba/ue"
)

// coldInFlight is the number of Ua requests in flight in BenchmarkUaCold.
const coldInFlight = 64

// coldChunk is the number of requests of each kind per round. The measured requests are
// split into rounds of one bare, one cold and one cached chunk (the bare chunk first in
// even rounds, last in odd ones), so that the three rates share the machine's conditions
// (load from other jobs drifts); a chunk of about 8×coldInFlight keeps the partly filled
// last wave of each chunk small.
const coldChunk = 500

// BenchmarkUaCold measures, in one run and with 64 requests in flight over loopback HTTP/1.1
// keep-alive, the rate of
//
//   - bare:   the handler without authentication (baseline);
//   - cold:   Ua HTTP Digest (TS 24.109 §5.2) where every request carries a B-TID the NAF
//     has not seen, so the Cache misses and the ZnClient makes one Bootstrapping-Info-
//     Request to the BSF (TS 29.109 §6.2): a real bsf.ZnServer over Diameter/TCP, reading
//     the session from its SQLite store (Ks sealed under a KEK) and deriving Ks_NAF;
//   - cached: the same B-TIDs again, Ks_NAF now cached (no Zn traffic).
//
// b.N is the number of requests of each kind. The sessions are real bootstraps: before the
// timer starts, b.N+1 distinct subscribers are provisioned in the HSS simulator and each UE
// runs Ub (TS 24.109 §4, one Zh MAR/MAA each) against the testbed's BSF; the UE derives
// Ks_NAF itself (TS 33.220 §B.3), so a request only succeeds when the BSF's key agrees. The
// testbed's MEF is stopped: this benchmark's NAF takes its Zn identity and NAF FQDN, which
// the testbed's BSF policy authorises. Each session has its own server nonce (the cold
// request uses nc=1, the cached one nc=2), and the Authorization headers are computed
// before the timer starts. The rates are requests over the summed wall time of their
// chunks (see coldChunk); ns/op covers one request of each kind. The HTTP client runs in
// the same process and shares the CPUs.
//
//	go test -run '^$' -bench BenchmarkUaCold -benchtime 2000x ./naf/
func BenchmarkUaCold(b *testing.B) {
	ctx := b.Context()
	n := b.N
	tb, err := testbed.Start(ctx, testbed.Options{DemoSubscribers: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := tb.Close(); err != nil {
			b.Error(err)
		}
	})
	if err := tb.Stop(testbed.NodeMEF); err != nil {
		b.Fatal(err)
	}
	ep := tb.Endpoints()

	zn, err := naf.NewZnClient(naf.ZnClientConfig{Zn: naf.ZnConfig{
		OriginHost:  testbed.MEFHost,
		OriginRealm: testbed.Realm,
		BSFs:        []naf.ZnPeer{{Realm: ep.BSFDomain, Address: ep.BSFZn.Addr, Host: ep.BSFZn.OriginHost}},
		RequestIMPI: true,
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = zn.Close() })
	cache := naf.NewCache(zn, naf.CacheConfig{Size: n + 1})
	auth, err := naf.NewAuthenticator(naf.UaConfig{NAFFQDN: ep.NAFFQDN, Keys: cache, QOP: []digest.QOP{digest.QOPAuth}})
	if err != nil {
		b.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	bare := httptest.NewServer(handler)
	b.Cleanup(bare.Close)
	uaSrv := httptest.NewServer(auth.Middleware(handler))
	b.Cleanup(uaSrv.Close)
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: 4 * coldInFlight, MaxIdleConnsPerHost: 2 * coldInFlight},
		Timeout:   30 * time.Second,
	}
	b.Cleanup(client.CloseIdleConnections)
	send := func(url, authz string, want int) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return nil, fmt.Errorf("GET %s: status %d, want %d", url, resp.StatusCode, want)
		}
		return resp, nil
	}

	// Setup: n+1 subscribers, each bootstrapped over Ub; session 0 warms the Zn peer.
	t0 := time.Now()
	subs, err := tb.Subscribers(ctx, 1, n+1)
	if err != nil {
		b.Fatal(err)
	}
	cold := make([]string, n+1)   // Authorization with nc=1: first use of the B-TID
	cached := make([]string, n+1) // same B-TID and nonce, nc=2
	if _, err := inFlight(n+1, func(i int) error {
		c, err := tb.NewUE(subs[i], testbed.UEOptions{})
		if err != nil {
			return err
		}
		bt, err := c.Bootstrap(ctx)
		if err != nil {
			return fmt.Errorf("bootstrap %d: %w", i, err)
		}
		k, err := bt.KsNAF(ep.NAFFQDN, ue.UaIDHTTPDigest)
		if err != nil {
			return err
		}
		ks, err := gba.NewKey(k.Bytes())
		if err != nil {
			return err
		}
		u := &naftest.UE{BTID: bt.BTID, KsNAF: ks, QOP: digest.QOPAuth}
		resp, err := send(uaSrv.URL+"/", "", http.StatusUnauthorized)
		if err != nil {
			return err
		}
		if err := u.SetChallenge(resp.Header.Get("WWW-Authenticate")); err != nil {
			return err
		}
		if cold[i], _, err = u.Authorize(http.MethodGet, "/", nil); err != nil {
			return err
		}
		cached[i], _, err = u.Authorize(http.MethodGet, "/", nil)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	setup := time.Since(t0)
	// Warm up: the Zn connection (CER/CEA) and one key, and coldInFlight connections to
	// the bare server (the challenges above opened those to the Ua server).
	if _, err := send(uaSrv.URL+"/", cold[0], http.StatusOK); err != nil {
		b.Fatal(err)
	}
	if _, err := send(uaSrv.URL+"/", cached[0], http.StatusOK); err != nil {
		b.Fatal(err)
	}
	if _, err := inFlight(coldInFlight, func(int) error {
		_, err := send(bare.URL+"/", "", http.StatusOK)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	before := cache.Stats()

	var tBare, tCold, tCached time.Duration
	runBare := func(k int) {
		d, err := inFlight(k, func(int) error {
			_, err := send(bare.URL+"/", "", http.StatusOK)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		tBare += d
	}
	runUa := func(headers []string) time.Duration {
		d, err := inFlight(len(headers), func(i int) error {
			_, err := send(uaSrv.URL+"/", headers[i], http.StatusOK)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	rounds := max(1, (n+coldChunk/2)/coldChunk)
	b.ResetTimer()
	for r := range rounds {
		lo, hi := 1+r*n/rounds, 1+(r+1)*n/rounds
		if lo == hi {
			continue
		}
		if r%2 == 0 {
			runBare(hi - lo)
		}
		tCold += runUa(cold[lo:hi])
		tCached += runUa(cached[lo:hi])
		if r%2 == 1 {
			runBare(hi - lo)
		}
	}
	b.StopTimer()

	after := cache.Stats()
	if got := after.Fetches - before.Fetches; got != uint64(n) {
		b.Errorf("Zn BIRs during the run: %d, want %d (one per cold request)", got, n)
	}
	if got := after.Hits - before.Hits; got != uint64(n) {
		b.Errorf("cache hits during the run: %d, want %d (one per cached request)", got, n)
	}
	if tBare > 0 && tCold > 0 && tCached > 0 {
		s := float64(n)
		b.ReportMetric(s/tBare.Seconds(), "bare-req/s")
		b.ReportMetric(s/tCached.Seconds(), "cached-req/s")
		b.ReportMetric(s/tCold.Seconds(), "cold-req/s")
		b.ReportMetric(tBare.Seconds()/tCached.Seconds(), "cached/bare")
		b.ReportMetric(tBare.Seconds()/tCold.Seconds(), "cold/bare")
	}
	b.Logf("N=%d: %d sessions bootstrapped over Ub (real HSS simulator) and challenged in %v", n, n+1, setup.Round(time.Millisecond))
}

// inFlight calls f(0) … f(n-1) from coldInFlight goroutines and returns the wall time; the
// first error stops the remaining calls and is returned.
func inFlight(n int, f func(i int) error) (time.Duration, error) {
	var (
		next   atomic.Int64
		failed atomic.Bool
		once   sync.Once
		first  error
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range min(coldInFlight, n) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), first
}
