package maf

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/sqlitedb"
)

// Record is one stored Kmr: Sealed is 0x01 || GCM nonce || AES-256-GCM(KEK, Kmr, AAD =
// Kmr-ID). The store never sees the key in clear.
type Record struct {
	KmrID   string
	NodeID  string
	Sealed  []byte
	Expires time.Time
	Created time.Time
}

// Store persists MAF records. Implementations are safe for concurrent use.
type Store interface {
	// Put inserts or replaces the record with r.KmrID and, in the same transaction,
	// deletes every other record of r.NodeID.
	Put(ctx context.Context, r Record) error
	// Get returns the record for kmrID or ErrNotFound.
	Get(ctx context.Context, kmrID string) (Record, error)
	// Delete removes the record for kmrID or returns ErrNotFound.
	Delete(ctx context.Context, kmrID string) error
	// DeleteExpired removes records whose expiry is at or before now.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	Ping(ctx context.Context) error
	Close() error
}

// MemoryStore is a Store in memory, for tests and labs.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]Record
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: make(map[string]Record)} }

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.m {
		if old.NodeID == r.NodeID && id != r.KmrID {
			delete(s.m, id)
		}
	}
	r.Sealed = append([]byte(nil), r.Sealed...)
	s.m[r.KmrID] = r
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, kmrID string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[kmrID]
	if !ok {
		return Record{}, ErrNotFound
	}
	r.Sealed = append([]byte(nil), r.Sealed...)
	return r, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, kmrID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[kmrID]; !ok {
		return ErrNotFound
	}
	delete(s.m, kmrID)
	return nil
}

// DeleteExpired implements Store.
func (s *MemoryStore) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, r := range s.m {
		if !now.Before(r.Expires) {
			delete(s.m, id)
			n++
		}
	}
	return n, nil
}

// Len returns the number of records.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Ping implements Store.
func (s *MemoryStore) Ping(context.Context) error { return nil }

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }

// SQLiteStore is the durable Store: one SQLite file (WAL, synchronous=FULL, created 0600).
// Kmr values are stored sealed; the KEK is not in the file.
type SQLiteStore struct {
	db *sql.DB
}

var _ Store = (*SQLiteStore)(nil)

const sqliteVersion = 1

const sqliteSchema = `
CREATE TABLE kmr (
	kmr_id  TEXT    NOT NULL PRIMARY KEY,
	node_id TEXT    NOT NULL,
	sealed  BLOB    NOT NULL,
	expires INTEGER NOT NULL,
	created INTEGER NOT NULL
) WITHOUT ROWID, STRICT;
CREATE INDEX kmr_node ON kmr (node_id);
CREATE INDEX kmr_expires ON kmr (expires);`

// OpenSQLiteStore opens (creating if needed) the MAF database at path.
func OpenSQLiteStore(ctx context.Context, path string, busy time.Duration) (*SQLiteStore, error) {
	db, err := sqlitedb.Open(ctx, sqlitedb.Config{Prefix: "maf", Path: path, BusyTimeout: busy, ForeignKeys: true, Schema: sqliteSchema, Version: sqliteVersion})
	if err != nil {
		return nil, err
	}
	return &SQLiteStore{db: db}, nil
}

// Put implements Store.
func (s *SQLiteStore) Put(ctx context.Context, r Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("maf: sqlite: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM kmr WHERE node_id = ? AND kmr_id <> ?`, r.NodeID, r.KmrID); err != nil {
		return fmt.Errorf("maf: sqlite: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO kmr (kmr_id, node_id, sealed, expires, created) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kmr_id) DO UPDATE SET node_id = excluded.node_id, sealed = excluded.sealed,
		expires = excluded.expires, created = excluded.created`,
		r.KmrID, r.NodeID, r.Sealed, sqlitedb.UnixNano(r.Expires), sqlitedb.UnixNano(r.Created)); err != nil {
		return fmt.Errorf("maf: sqlite: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("maf: sqlite: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *SQLiteStore) Get(ctx context.Context, kmrID string) (Record, error) {
	var r Record
	var exp, cre int64
	err := s.db.QueryRowContext(ctx, `SELECT kmr_id, node_id, sealed, expires, created FROM kmr WHERE kmr_id = ?`, kmrID).
		Scan(&r.KmrID, &r.NodeID, &r.Sealed, &exp, &cre)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("maf: sqlite: %w", err)
	}
	r.Expires, r.Created = sqlitedb.FromUnixNano(exp), sqlitedb.FromUnixNano(cre)
	return r, nil
}

// Delete implements Store.
func (s *SQLiteStore) Delete(ctx context.Context, kmrID string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM kmr WHERE kmr_id = ?`, kmrID)
	if err != nil {
		return fmt.Errorf("maf: sqlite: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteExpired implements Store.
func (s *SQLiteStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM kmr WHERE expires <= ?`, now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("maf: sqlite: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Ping implements Store.
func (s *SQLiteStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close implements Store.
func (s *SQLiteStore) Close() error { return s.db.Close() }
