package naf_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/naftest"
)

var testNAFID = gba.NAFID{FQDN: nafFQDN, UaID: gba.UaIDHTTPDigest}

// countingSource answers with a fixed expiry and counts calls per B-TID.
type countingSource struct {
	mu      sync.Mutex
	calls   map[string]int
	expires time.Time
	err     error
}

func (s *countingSource) KsNAF(_ context.Context, btid string, _ gba.NAFID) (naf.NAFKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[btid]++
	if s.err != nil {
		return naf.NAFKey{}, s.err
	}
	k, _ := gba.NewKey(make([]byte, gba.KeySize))
	return naf.NAFKey{KsNAF: k, Expires: s.expires}, nil
}

func (s *countingSource) n(btid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[btid]
}

func btidN(t testing.TB, i int) string {
	t.Helper()
	r := make([]byte, 16)
	r[0] = byte(i)
	b, err := gba.NewBTID(r, bsfDomain)
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCacheExpiryNeverExceeded(t *testing.T) {
	clk := newClock()
	src := &countingSource{expires: clk.Now().Add(time.Hour)}
	c := naf.NewCache(src, naf.CacheConfig{Now: clk.Now})
	b := btidN(t, 1)
	ctx := t.Context()
	for i := 0; i < 3; i++ {
		if _, err := c.KsNAF(ctx, b, testNAFID); err != nil {
			t.Fatal(err)
		}
	}
	if src.n(b) != 1 {
		t.Fatalf("source called %d times, want 1", src.n(b))
	}
	clk.Advance(time.Hour - time.Nanosecond)
	k, err := c.KsNAF(ctx, b, testNAFID)
	if err != nil || src.n(b) != 1 {
		t.Fatalf("one ns before expiry: err %v, calls %d", err, src.n(b))
	}
	if !clk.Now().Before(k.Expires) {
		t.Fatal("returned a key at or past its expiry")
	}
	// At Key-ExpiryTime the entry is dead; the source (BSF) now says the session is over.
	clk.Advance(time.Nanosecond)
	src.mu.Lock()
	src.err = fmt.Errorf("%w: 5403", naf.ErrBTIDUnknown)
	src.mu.Unlock()
	if _, err := c.KsNAF(ctx, b, testNAFID); !errors.Is(err, naf.ErrBTIDUnknown) {
		t.Fatalf("at expiry: %v, want ErrBTIDUnknown", err)
	}
	if src.n(b) != 2 {
		t.Errorf("expired entry served from cache (calls %d)", src.n(b))
	}
	// A source that answers with an already-expired key is refused, not cached.
	src.mu.Lock()
	src.err, src.expires = nil, clk.Now()
	src.mu.Unlock()
	if _, err := c.KsNAF(ctx, b, testNAFID); !errors.Is(err, naf.ErrBTIDUnknown) {
		t.Fatalf("expired answer: %v", err)
	}
	if st := c.Stats(); st.Len != 0 {
		t.Errorf("cache holds %d entries after expiry", st.Len)
	}
}

func TestCacheSingleflight(t *testing.T) {
	clk := newClock()
	bsf := naftest.NewFakeBSF(clk.Now)
	bsf.Gate = make(chan struct{})
	s := set1(t, clk.Now().Add(time.Hour))
	btid, err := bsf.Bootstrap(s)
	if err != nil {
		t.Fatal(err)
	}
	c := naf.NewCache(bsf, naf.CacheConfig{Now: clk.Now})
	const n = 100
	var wg sync.WaitGroup
	var ok atomic.Int64
	keys := make([]gba.Key, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := c.KsNAF(context.Background(), btid.String(), testNAFID)
			if err == nil {
				ok.Add(1)
				keys[i] = k.KsNAF
			}
		}()
	}
	// Every request has missed and joined (or is about to join) the one blocked fetch.
	for c.Stats().Misses < n {
		runtime.Gosched()
	}
	close(bsf.Gate)
	wg.Wait()
	if ok.Load() != n {
		t.Fatalf("%d of %d requests succeeded", ok.Load(), n)
	}
	if bsf.Calls() != 1 {
		t.Fatalf("KeySource called %d times for a burst of %d, want 1", bsf.Calls(), n)
	}
	for i := 1; i < n; i++ {
		if !keys[i].Equal(keys[0]) {
			t.Fatal("requests got different keys")
		}
	}
	if st := c.Stats(); st.Fetches != 1 || st.Misses != n {
		t.Errorf("stats %+v", st)
	}
}

func TestCacheWaiterCancelled(t *testing.T) {
	clk := newClock()
	bsf := naftest.NewFakeBSF(clk.Now)
	bsf.Gate = make(chan struct{})
	btid, _ := bsf.Bootstrap(set1(t, clk.Now().Add(time.Hour)))
	c := naf.NewCache(bsf, naf.CacheConfig{Now: clk.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.KsNAF(ctx, btid.String(), testNAFID)
		done <- err
	}()
	for c.Stats().Misses < 1 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, naf.ErrBSFUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	// The fetch itself was not cancelled: it completes and fills the cache.
	close(bsf.Gate)
	if _, err := c.KsNAF(context.Background(), btid.String(), testNAFID); err != nil {
		t.Fatal(err)
	}
	if bsf.Calls() > 2 {
		t.Errorf("calls %d", bsf.Calls())
	}
}

func TestCacheLRUBound(t *testing.T) {
	clk := newClock()
	src := &countingSource{expires: clk.Now().Add(time.Hour)}
	c := naf.NewCache(src, naf.CacheConfig{Size: 3, Now: clk.Now})
	ctx := t.Context()
	get := func(i int) {
		t.Helper()
		if _, err := c.KsNAF(ctx, btidN(t, i), testNAFID); err != nil {
			t.Fatal(err)
		}
	}
	get(1)
	get(2)
	get(3)
	get(1) // 1 is now the most recently used; 2 is the LRU
	get(4) // evicts 2
	if st := c.Stats(); st.Len != 3 {
		t.Fatalf("len %d, want 3", st.Len)
	}
	get(1)
	get(3)
	get(4)
	if src.n(btidN(t, 1)) != 1 || src.n(btidN(t, 3)) != 1 || src.n(btidN(t, 4)) != 1 {
		t.Error("a recently used entry was evicted")
	}
	get(2)
	if src.n(btidN(t, 2)) != 2 {
		t.Errorf("LRU entry not evicted (calls %d)", src.n(btidN(t, 2)))
	}
	for i := 10; i < 100; i++ {
		get(i)
	}
	if st := c.Stats(); st.Len != 3 {
		t.Errorf("len %d after 90 inserts, want 3", st.Len)
	}
}

func TestCacheKeyedByNAFID(t *testing.T) {
	clk := newClock()
	bsf := naftest.NewFakeBSF(clk.Now)
	btid, _ := bsf.Bootstrap(set1(t, clk.Now().Add(time.Hour)))
	c := naf.NewCache(bsf, naf.CacheConfig{Now: clk.Now})
	a, err := c.KsNAF(t.Context(), btid.String(), testNAFID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.KsNAF(t.Context(), btid.String(), gba.NAFID{FQDN: "naf2.home1.net", UaID: gba.UaIDHTTPDigest})
	if err != nil {
		t.Fatal(err)
	}
	if a.KsNAF.Equal(b.KsNAF) {
		t.Error("two NAF_Ids share one cache entry")
	}
	c.Invalidate(btid.String(), testNAFID)
	if st := c.Stats(); st.Len != 1 {
		t.Errorf("len %d after Invalidate, want 1", st.Len)
	}
}

func TestCacheErrorsNotCached(t *testing.T) {
	clk := newClock()
	src := &countingSource{expires: clk.Now().Add(time.Hour), err: fmt.Errorf("%w: timeout", naf.ErrBSFUnavailable)}
	c := naf.NewCache(src, naf.CacheConfig{Now: clk.Now})
	b := btidN(t, 1)
	if _, err := c.KsNAF(t.Context(), b, testNAFID); !errors.Is(err, naf.ErrBSFUnavailable) {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	if _, err := c.KsNAF(t.Context(), b, testNAFID); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	// An answer without Key-ExpiryTime is unusable.
	c2 := naf.NewCache(naf.KeySourceFunc(func(context.Context, string, gba.NAFID) (naf.NAFKey, error) {
		k, _ := gba.NewKey(make([]byte, 32))
		return naf.NAFKey{KsNAF: k}, nil
	}), naf.CacheConfig{Now: clk.Now})
	if _, err := c2.KsNAF(t.Context(), b, testNAFID); !errors.Is(err, naf.ErrInvalidKey) {
		t.Fatalf("no expiry: %v, want ErrInvalidKey", err)
	}
}
