package bsf

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/gba"
)

const memShards = 32

// MemoryStore keeps sessions in process memory, sharded by RAND. It is for tests and
// single-process labs: nothing survives a restart. Ks stays in memory unencrypted (inside
// gba.Key, which never prints it).
type MemoryStore struct {
	now    func() time.Time
	shards [memShards]memShard
}

type memShard struct {
	mu sync.RWMutex
	m  map[[gba.RANDSize]byte]memSession
}

// memSession is kept small: about 200 octets per session with the map overhead (see
// TestMemoryStoreFootprint).
type memSession struct {
	domain  string
	impi    string
	ks      gba.Key
	created int64 // unix seconds
	expires int64
	guss    []byte
	gbaType GBAType
}

// NewMemoryStore returns an empty MemoryStore. now may be nil (time.Now).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	s := &MemoryStore{now: now}
	for i := range s.shards {
		s.shards[i].m = make(map[[gba.RANDSize]byte]memSession)
	}
	return s
}

var _ Store = (*MemoryStore)(nil)

func (s *MemoryStore) shard(rand *[gba.RANDSize]byte) *memShard { return &s.shards[rand[0]%memShards] }

// CreateSession implements Store.
func (s *MemoryStore) CreateSession(_ context.Context, in Session) error {
	now := s.now().Unix()
	sh := s.shard(&in.BTID.RAND)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[in.BTID.RAND]; ok && old.expires > now {
		return ErrSessionExists
	}
	sh.m[in.BTID.RAND] = memSession{
		domain:  in.BTID.Domain,
		impi:    strings.Clone(in.IMPI), // never pin a larger string (the Authorization header)
		ks:      in.Ks,
		created: in.Created.Unix(),
		expires: in.Expires.Unix(),
		guss:    in.GUSS,
		gbaType: in.GBAType,
	}
	return nil
}

// Session implements Store.
func (s *MemoryStore) Session(_ context.Context, btid gba.BTID) (Session, error) {
	now := s.now().Unix()
	sh := s.shard(&btid.RAND)
	sh.mu.RLock()
	m, ok := sh.m[btid.RAND]
	sh.mu.RUnlock()
	if !ok || m.expires <= now || m.domain != btid.Domain {
		return Session{}, ErrSessionNotFound
	}
	return Session{
		BTID:    btid,
		IMPI:    m.impi,
		Ks:      m.ks,
		Created: fromUnix(m.created),
		Expires: fromUnix(m.expires),
		GUSS:    m.guss,
		GBAType: m.gbaType,
	}, nil
}

// Live implements Store.
func (s *MemoryStore) Live(_ context.Context) (int64, error) {
	now := s.now().Unix()
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, m := range sh.m {
			if m.expires > now {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	return n, nil
}

// Sweep implements Store.
func (s *MemoryStore) Sweep(_ context.Context) (int64, error) {
	now := s.now().Unix()
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, m := range sh.m {
			if m.expires <= now {
				delete(sh.m, k)
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }
