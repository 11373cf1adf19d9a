package bsf

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
)

// RedisStore keeps sessions and pending challenges in Redis (one node or Redis Cluster,
// through redis.UniversalClient), so that several BSF instances share them. Every session
// is one key "<prefix>s:<B-TID>" with TTL = remaining lifetime, so sessions expire on their
// own; pending challenges are "<prefix>c:<nonce>" with TTL = twice the nonce max age and
// are taken with GETDEL (single use across instances). Ks and the pending AV are sealed
// with AES-256-GCM under the key-encryption key (AAD = the key name). Redis' own
// persistence (AOF/RDB) decides what survives a Redis restart.
type RedisStore struct {
	c      redis.UniversalClient
	prefix string
	seal   *keySealer
	now    func() time.Time
	closed atomic.Bool
}

var (
	_ Store          = (*RedisStore)(nil)
	_ ChallengeStore = (*RedisStore)(nil)
)

func openRedis(ctx context.Context, cfg RedisConfig, keys KEKRing, now func() time.Time) (Store, ChallengeStore, error) {
	s, err := OpenRedisStore(ctx, cfg, keys, now)
	if err != nil {
		return nil, nil, err
	}
	return s, s, nil
}

// OpenRedisStore connects to Redis (cluster mode with several addresses or cfg.Cluster)
// and pings it. now may be nil (time.Now).
func OpenRedisStore(ctx context.Context, cfg RedisConfig, keys KEKRing, now func() time.Time) (*RedisStore, error) {
	if len(cfg.Addrs) == 0 {
		return nil, cfgErr("store.redis.addrs", "need at least one host:port")
	}
	seal, err := keys.sealer()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	opt := &redis.UniversalOptions{
		Addrs:         cfg.Addrs,
		IsClusterMode: cfg.Cluster,
		Username:      cfg.Username,
		Password:      cfg.Password,
		DB:            cfg.DB,
		DialTimeout:   cfg.DialTimeout,
		ReadTimeout:   cfg.ReadTimeout,
		WriteTimeout:  cfg.WriteTimeout,
		PoolSize:      cfg.PoolSize,
		ClientName:    "opengba-bsf",
	}
	if cfg.TLS {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	c := redis.NewUniversalClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("bsf: redis: ping: %w", err)
	}
	prefix := cfg.KeyPrefix
	return &RedisStore{c: c, prefix: prefix, seal: seal, now: now}, nil
}

// redisSession is the JSON value of a session key.
type redisSession struct {
	IMPI    string `json:"impi"`
	Ks      []byte `json:"ks"` // sealed, AAD = key name
	Created int64  `json:"created"`
	Expires int64  `json:"expires"`
	GUSS    []byte `json:"guss,omitempty"`
	GBAType uint8  `json:"gba_type"`
}

func (s *RedisStore) sessionKey(btid gba.BTID) string  { return s.prefix + "s:" + btid.String() }
func (s *RedisStore) challengeKey(nonce string) string { return s.prefix + "c:" + nonce }

// CreateSession implements Store: SET NX with TTL = remaining lifetime; an existing key is a
// live session (Redis drops expired ones), hence ErrSessionExists.
func (s *RedisStore) CreateSession(ctx context.Context, in Session) error {
	ttl := in.Expires.Sub(s.now())
	if ttl <= 0 {
		return fmt.Errorf("bsf: redis: session already expired")
	}
	key := s.sessionKey(in.BTID)
	ks, err := s.seal.seal(in.Ks.Bytes(), key)
	if err != nil {
		return err
	}
	v, err := json.Marshal(redisSession{
		IMPI: in.IMPI, Ks: ks, Created: in.Created.Unix(), Expires: in.Expires.Unix(),
		GUSS: in.GUSS, GBAType: uint8(in.GBAType),
	})
	if err != nil {
		return fmt.Errorf("bsf: redis: encode: %w", err)
	}
	ok, err := s.c.SetNX(ctx, key, v, ttl).Result()
	if err != nil {
		return fmt.Errorf("bsf: redis: set: %w", err)
	}
	if !ok {
		return ErrSessionExists
	}
	return nil
}

// Session implements Store.
func (s *RedisStore) Session(ctx context.Context, btid gba.BTID) (Session, error) {
	key := s.sessionKey(btid)
	v, err := s.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrSessionNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("bsf: redis: get: %w", err)
	}
	var r redisSession
	if err := json.Unmarshal(v, &r); err != nil {
		return Session{}, fmt.Errorf("bsf: redis: corrupt session: %w", err)
	}
	if r.Expires <= s.now().Unix() {
		return Session{}, ErrSessionNotFound
	}
	raw, err := s.seal.open(r.Ks, key)
	if err != nil {
		return Session{}, err
	}
	defer clear(raw)
	k, err := gba.NewKey(raw)
	if err != nil {
		return Session{}, fmt.Errorf("bsf: redis: corrupt Ks: %w", err)
	}
	return Session{
		BTID: btid, IMPI: r.IMPI, Ks: k,
		Created: fromUnix(r.Created), Expires: fromUnix(r.Expires),
		GUSS: r.GUSS, GBAType: GBAType(r.GBAType),
	}, nil
}

// Live implements Store by scanning the session keys of every master (SCAN, not KEYS). It
// costs one round trip per 1000 keys: fine for a scrape every 15 s or more.
func (s *RedisStore) Live(ctx context.Context) (int64, error) {
	var n atomic.Int64
	count := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, s.prefix+"s:*", 1000).Iterator()
		for it.Next(ctx) {
			n.Add(1)
		}
		return it.Err()
	}
	var err error
	switch c := s.c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, count)
	case *redis.Client:
		err = count(ctx, c)
	default:
		return 0, errors.New("bsf: redis: unsupported client type")
	}
	if err != nil {
		return 0, fmt.Errorf("bsf: redis: scan: %w", err)
	}
	return n.Load(), nil
}

// Sweep implements Store: Redis expires sessions itself.
func (s *RedisStore) Sweep(context.Context) (int64, error) { return 0, nil }

// Close implements Store.
func (s *RedisStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.c.Close()
}

// redisChallenge is the sealed JSON value of a pending challenge.
type redisChallenge struct {
	Opaque        string `json:"opaque"`
	IMPI          string `json:"impi"`
	Algorithm     string `json:"alg"`
	RAND          []byte `json:"rand"`
	AUTN          []byte `json:"autn"`
	XRES          []byte `json:"xres"`
	CK            []byte `json:"ck"`
	IK            []byte `json:"ik"`
	Issued        int64  `json:"issued"` // unix nanoseconds
	Failures      int    `json:"failures"`
	GUSS          []byte `json:"guss,omitempty"`
	GUSSTimestamp int64  `json:"guss_ts,omitempty"`
}

// PutChallenge implements ChallengeStore (SET NX PX). The table is bounded by Redis'
// maxmemory policy, not here.
func (s *RedisStore) PutChallenge(ctx context.Context, c PendingChallenge, ttl time.Duration) error {
	key := s.challengeKey(c.Nonce)
	var gts int64
	if !c.GUSSTimestamp.IsZero() {
		gts = c.GUSSTimestamp.UnixNano()
	}
	plain, err := json.Marshal(redisChallenge{
		Opaque: c.Opaque, IMPI: c.IMPI, Algorithm: string(c.Algorithm),
		RAND: c.RAND[:], AUTN: c.AUTN[:], XRES: c.XRES, CK: c.CK[:], IK: c.IK[:],
		Issued: c.Issued.UnixNano(), Failures: c.Failures, GUSS: c.GUSS, GUSSTimestamp: gts,
	})
	if err != nil {
		return fmt.Errorf("bsf: redis: encode: %w", err)
	}
	defer clear(plain)
	v, err := s.seal.seal(plain, key)
	if err != nil {
		return err
	}
	ok, err := s.c.SetNX(ctx, key, v, ttl).Result()
	if err != nil {
		return fmt.Errorf("bsf: redis: set: %w", err)
	}
	if !ok {
		return ErrChallengeExists
	}
	return nil
}

// TakeChallenge implements ChallengeStore with GETDEL (Redis ≥ 6.2): one instance at most
// gets the entry.
func (s *RedisStore) TakeChallenge(ctx context.Context, nonce string) (PendingChallenge, error) {
	key := s.challengeKey(nonce)
	v, err := s.c.GetDel(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return PendingChallenge{}, ErrChallengeNotFound
	}
	if err != nil {
		return PendingChallenge{}, fmt.Errorf("bsf: redis: getdel: %w", err)
	}
	plain, err := s.seal.open(v, key)
	if err != nil {
		return PendingChallenge{}, err
	}
	defer clear(plain)
	var r redisChallenge
	if err := json.Unmarshal(plain, &r); err != nil {
		return PendingChallenge{}, fmt.Errorf("bsf: redis: corrupt challenge: %w", err)
	}
	if len(r.RAND) != RANDSize || len(r.AUTN) != AUTNSize || len(r.CK) != CKSize || len(r.IK) != IKSize {
		return PendingChallenge{}, errors.New("bsf: redis: corrupt challenge")
	}
	p := PendingChallenge{
		Nonce: nonce, Opaque: r.Opaque, IMPI: r.IMPI, Algorithm: digest.Algorithm(r.Algorithm),
		XRES: r.XRES, Issued: time.Unix(0, r.Issued), Failures: r.Failures, GUSS: r.GUSS,
	}
	copy(p.RAND[:], r.RAND)
	copy(p.AUTN[:], r.AUTN)
	copy(p.CK[:], r.CK)
	copy(p.IK[:], r.IK)
	if r.GUSSTimestamp != 0 {
		p.GUSSTimestamp = time.Unix(0, r.GUSSTimestamp)
	}
	return p, nil
}
