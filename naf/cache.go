package naf

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/opengba/opengba/internal/gba"
)

// Cache defaults.
const (
	// DefaultCacheSize bounds the number of (B-TID, NAF_Id) entries.
	DefaultCacheSize = 10000
	// DefaultFetchTimeout bounds one KeySource call made on behalf of a burst of requests.
	DefaultFetchTimeout = 5 * time.Second
)

// CacheConfig configures a Cache.
type CacheConfig struct {
	// Size is the most entries kept (least recently used evicted first); 0 means
	// DefaultCacheSize.
	Size int
	// FetchTimeout bounds one KeySource call; 0 means DefaultFetchTimeout. The call runs on
	// behalf of every request waiting for the same key, so it is detached from the first
	// caller's cancellation (each waiter still stops waiting when its own context ends).
	FetchTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// CacheStats are the counters of a Cache.
type CacheStats struct {
	Hits    uint64 // answered from the cache
	Misses  uint64 // needed the KeySource (joined or started a fetch)
	Fetches uint64 // KeySource calls made
	Len     int    // entries held now
}

// Cache is a KeySource that keeps the Ks_NAF of each (B-TID, NAF_Id) until its
// Key-ExpiryTime and never past it (TS 33.220 §4.5.3: the NAF uses Ks_NAF only while the key
// is valid; TS 24.109 §5.2.5: afterwards the UE must bootstrap again). Concurrent misses
// for one key make a single KeySource call (singleflight); the number of entries is bounded
// (LRU). Failures are not cached. The Cache never logs.
type Cache struct {
	src     KeySource
	size    int
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	lru     *list.List // front = most recently used; values are *cacheEntry
	entries map[string]*list.Element

	flight singleflight.Group

	hits, misses, fetches atomic.Uint64
}

type cacheEntry struct {
	key string
	val NAFKey
}

var _ KeySource = (*Cache)(nil)

// NewCache puts a cache in front of src.
func NewCache(src KeySource, cfg CacheConfig) *Cache {
	if cfg.Size <= 0 {
		cfg.Size = DefaultCacheSize
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{
		src:     src,
		size:    cfg.Size,
		timeout: cfg.FetchTimeout,
		now:     cfg.Now,
		lru:     list.New(),
		entries: make(map[string]*list.Element),
	}
}

// cacheKey joins B-TID and NAF_Id; a NUL cannot occur in a parsed B-TID.
func cacheKey(btid string, nafID gba.NAFID) string {
	return btid + "\x00" + string(nafID.Bytes())
}

// KsNAF returns the cached key for (btid, nafID) when it is still valid, or asks the
// KeySource (once for all concurrent callers). A key whose Key-ExpiryTime is not in the
// future is never returned: an expired entry is dropped and fetched again, and a fetched
// key that is already expired gives ErrBTIDUnknown (the BSF session is over).
func (c *Cache) KsNAF(ctx context.Context, btid string, nafID gba.NAFID) (NAFKey, error) {
	k := cacheKey(btid, nafID)
	if v, ok := c.get(k); ok {
		c.hits.Add(1)
		return v, nil
	}
	c.misses.Add(1)
	ch := c.flight.DoChan(k, func() (any, error) {
		// A burst that started before an entry was stored may arrive here after it was:
		// look again before calling out.
		if v, ok := c.get(k); ok {
			return v, nil
		}
		c.fetches.Add(1)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		v, err := c.src.KsNAF(fctx, btid, nafID)
		if err != nil {
			return NAFKey{}, err
		}
		if v.KsNAF.IsZero() || v.Expires.IsZero() {
			return NAFKey{}, fmt.Errorf("%w: Ks_NAF or Key-ExpiryTime missing", ErrInvalidKey)
		}
		if !v.validAt(c.now()) {
			return NAFKey{}, fmt.Errorf("%w: Key-ExpiryTime has passed", ErrBTIDUnknown)
		}
		c.put(k, v)
		return v, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return NAFKey{}, r.Err
		}
		return r.Val.(NAFKey), nil
	case <-ctx.Done():
		return NAFKey{}, fmt.Errorf("%w: %w", ErrBSFUnavailable, ctx.Err())
	}
}

// get returns a valid entry and marks it used; an expired entry is removed.
func (c *Cache) get(k string) (NAFKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return NAFKey{}, false
	}
	e := el.Value.(*cacheEntry)
	if !e.val.validAt(c.now()) {
		c.lru.Remove(el)
		delete(c.entries, k)
		return NAFKey{}, false
	}
	c.lru.MoveToFront(el)
	return e.val, true
}

func (c *Cache) put(k string, v NAFKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		el.Value.(*cacheEntry).val = v
		c.lru.MoveToFront(el)
		return
	}
	c.entries[k] = c.lru.PushFront(&cacheEntry{key: k, val: v})
	for c.lru.Len() > c.size {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.entries, el.Value.(*cacheEntry).key)
	}
}

// Invalidate drops the entry for (btid, nafID), e.g. after the application learnt that the
// bootstrapping session was replaced.
func (c *Cache) Invalidate(btid string, nafID gba.NAFID) {
	k := cacheKey(btid, nafID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.lru.Remove(el)
		delete(c.entries, k)
	}
}

// Stats returns the counters. Hits/(Hits+Misses) is the hit ratio.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	n := c.lru.Len()
	c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Fetches: c.fetches.Load(), Len: n}
}
