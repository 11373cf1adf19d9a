package hsssim

import (
	"context"
	"fmt"
	"time"
)

// Store keeps subscribers and their SQN state. Both backends (NewMemoryStore,
// OpenSQLiteStore) implement it and are safe for concurrent use. Errors are the package
// sentinels (ErrUnknownIMPI, ErrExists, ErrInvalid, ErrSQNExhausted, ErrClosed), wrapped.
type Store interface {
	// Create adds a new subscriber; ErrExists if the IMPI is provisioned already.
	Create(ctx context.Context, s *Subscriber) error
	// Get returns a copy of the subscriber with its current SQN_HE.
	Get(ctx context.Context, impi string) (*Subscriber, error)
	// Update applies fn to a copy of the record and stores the result atomically. fn must
	// not change IMPI or Created. If fn changes SQN, SQN_HE is reset to that value.
	Update(ctx context.Context, impi string, fn func(*Subscriber) error) (*Subscriber, error)
	// Delete removes a subscriber; ErrUnknownIMPI if there is none.
	Delete(ctx context.Context, impi string) error
	// List returns up to limit subscribers with IMPI > after, in IMPI order (keyset
	// pagination: pass the last IMPI of a page as after for the next one).
	List(ctx context.Context, after string, limit int) ([]*Subscriber, error)
	// Count returns the number of subscribers.
	Count(ctx context.Context) (int, error)

	// NextSQN allocates the SQN for one new authentication vector (TS 33.102 §C.1.1) and
	// returns it with the subscriber's K, OPc and AMF (and, for both backends of this
	// package, its GUSS; see AuthData). Calls for one IMPI are ordered and never return the
	// same SQN, also across restarts (see SQNConfig.BlockSize).
	NextSQN(ctx context.Context, impi string) (AuthData, error)
	// Resync adopts SQN_MS from a verified AUTS (TS 33.102 §6.3.5, §C.3): afterwards
	// NextSQN returns SEQ > SEQ_MS. The caller must have verified MAC-S first.
	Resync(ctx context.Context, impi string, sqnMS uint64) error

	// Close flushes the SQN state and releases the store.
	Close() error
}

// BatchCreator is implemented by stores that can create many subscribers in one
// transaction. errs[i] is the result for subs[i]; err reports a failure of the batch as a
// whole (nothing was created).
type BatchCreator interface {
	CreateBatch(ctx context.Context, subs []*Subscriber) (errs []error, err error)
}

// AuthData is what the Zh server needs to answer one MAR: to build the authentication
// vector with Milenage (TS 33.102 §6.3.2) the fresh SQN and the subscriber's K, OPc and
// AMF, and the GUSS (TS 29.109 Annex A) with its timestamp for GBA-UserSecSettings
// (TS 29.109 §4.2 Table 4.2). MemoryStore and SQLiteStore fill GUSS and GUSSTimestamp
// from the same state as the SQN, without a second read per MAR; a Store of another
// package may leave them empty (the Zh server then reads the GUSS with Get).
type AuthData struct {
	IMPI string
	SQN  uint64
	K    Key
	OPc  Key
	AMF  [2]byte
	// GUSS is the subscriber's GUSS document, empty when it has none.
	GUSS string
	// GUSSTimestamp is the time of the GUSS's last change (zero without a GUSS).
	GUSSTimestamp time.Time
}

// authDataGUSS is implemented by the stores whose NextSQN fills AuthData.GUSS and
// AuthData.GUSSTimestamp.
type authDataGUSS interface {
	nextSQNHasGUSS()
}

var (
	_ authDataGUSS = (*MemoryStore)(nil)
	_ authDataGUSS = (*SQLiteStore)(nil)
)

// StoreConfig selects and tunes the store backend.
type StoreConfig struct {
	// Backend is "sqlite" (default, durable) or "memory" (tests; nothing survives a restart).
	Backend string `yaml:"backend"`
	// Path is the SQLite database file.
	Path string `yaml:"path"`
	// BusyTimeout is how long SQLite waits for a lock held by another connection or process.
	BusyTimeout time.Duration `yaml:"busy_timeout"`
	// ReadConns bounds the read connection pool (writes use one connection).
	ReadConns int `yaml:"read_conns"`
}

// Store backends.
const (
	BackendSQLite = "sqlite"
	BackendMemory = "memory"
)

// OpenStore opens the backend named by cfg. now may be nil (time.Now).
func OpenStore(ctx context.Context, cfg StoreConfig, sqn SQNConfig, now func() time.Time) (Store, error) {
	switch cfg.Backend {
	case BackendSQLite:
		return OpenSQLiteStore(ctx, cfg, sqn, now)
	case BackendMemory:
		return NewMemoryStore(sqn, now)
	}
	return nil, &ConfigError{Field: "store.backend", Reason: fmt.Sprintf("unknown backend %q", cfg.Backend)}
}

// validateRecord checks a record before it is stored.
func validateRecord(s *Subscriber) error {
	if err := ValidateIMPI(s.IMPI); err != nil {
		return err
	}
	if _, err := validateIMPUs(s.IMPUs); err != nil {
		return err
	}
	if s.K.IsZero() {
		return fieldErr("k", "required")
	}
	if s.OPc.IsZero() {
		return fieldErr("opc", "required")
	}
	if s.SQN > MaxSQN {
		return fieldErr("sqn", "exceeds 2^48-1")
	}
	if s.GUSS != "" {
		if err := ValidateGUSS([]byte(s.GUSS)); err != nil {
			return err
		}
	}
	return nil
}

// nowFunc returns now or time.Now.
func nowFunc(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// clampLimit bounds a page size to 1..hi.
func clampLimit(limit, hi int) int {
	if limit < 1 {
		return 1
	}
	if limit > hi {
		return hi
	}
	return limit
}
