package bsf

import (
	"context"
	"crypto/rand"
	"fmt"
)

// cryptoRand reads crypto/rand.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }

// OpenStore opens the session store cfg.Store selects and, for backends shared between
// instances, the matching ChallengeStore (nil otherwise: New then uses the in-memory table).
// The caller closes the Store.
func OpenStore(ctx context.Context, cfg Config) (Store, ChallengeStore, error) {
	switch cfg.Store.Backend {
	case BackendMemory:
		return NewMemoryStore(cfg.Now), nil, nil
	case BackendSQLite:
		cur, prev, err := cfg.Store.KEKs()
		if err != nil {
			return nil, nil, err
		}
		s, err := OpenSQLiteStore(ctx, cfg.Store.SQLite, KEKRing{Current: cur, Previous: prev, Rand: cfg.Rand}, cfg.Now)
		if err != nil {
			return nil, nil, err
		}
		return s, nil, nil
	case BackendRedis:
		cur, prev, err := cfg.Store.KEKs()
		if err != nil {
			return nil, nil, err
		}
		return openRedis(ctx, cfg.Store.Redis, KEKRing{Current: cur, Previous: prev, Rand: cfg.Rand}, cfg.Now)
	}
	return nil, nil, fmt.Errorf("%w: store.backend: unknown backend", ErrConfig)
}
