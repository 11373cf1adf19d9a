package bsf

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/sqlitedb"
)

const (
	sqliteSchemaVersion = 1
	sweepBatch          = 10_000
)

// SQLiteStore is the default Store: one SQLite file (modernc.org/sqlite, pure Go, the
// engine the HSS simulator uses too) in WAL mode. CreateSession returns only after its
// transaction committed, so a session acknowledged to a UE is in the WAL before the 200 is
// written: it survives kill -9 of the BSF with synchronous=NORMAL (the WAL lives in the OS
// page cache) and also power failure with synchronous=FULL (fsync per commit). Writes go
// through one connection (SQLite has one writer); reads use a small pool. Ks is sealed with
// AES-256-GCM under the key-encryption key, AAD = B-TID.
type SQLiteStore struct {
	now  func() time.Time
	seal *keySealer
	w, r *sql.DB
}

var _ Store = (*SQLiteStore)(nil)

// KEKRing holds the key-encryption keys of a durable store: Current seals, all open.
type KEKRing struct {
	Current  []byte
	Previous [][]byte
	// Rand supplies AES-GCM nonces (nil: crypto/rand).
	Rand io.Reader
}

func (k KEKRing) sealer() (*keySealer, error) {
	r := k.Rand
	if r == nil {
		r = cryptoRand{}
	}
	return newKeySealer(k.Current, k.Previous, r)
}

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS sessions (
	btid     TEXT    NOT NULL PRIMARY KEY,
	impi     TEXT    NOT NULL,
	ks       BLOB    NOT NULL,
	created  INTEGER NOT NULL,
	expires  INTEGER NOT NULL,
	guss     BLOB,
	gba_type INTEGER NOT NULL
) WITHOUT ROWID, STRICT;
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);`

// OpenSQLiteStore opens (creating if needed, mode 0600) the database at cfg.Path. now may
// be nil (time.Now).
func OpenSQLiteStore(ctx context.Context, cfg SQLiteConfig, keys KEKRing, now func() time.Time) (*SQLiteStore, error) {
	if cfg.Path == "" {
		return nil, cfgErr("store.sqlite.path", "required")
	}
	sync := sqlitedb.SyncNormal
	switch cfg.Synchronous {
	case "", "normal":
	case "full":
		sync = sqlitedb.SyncFull
	default:
		return nil, cfgErr("store.sqlite.synchronous", "must be normal or full")
	}
	seal, err := keys.sealer()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	db := sqlitedb.Config{Prefix: "bsf", Path: cfg.Path, BusyTimeout: cfg.BusyTimeout, Synchronous: sync,
		Schema: sqliteSchema, Version: sqliteSchemaVersion}
	w, err := sqlitedb.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	r, err := sqlitedb.OpenReader(ctx, db, 4)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	return &SQLiteStore{now: now, seal: seal, w: w, r: r}, nil
}

// CreateSession implements Store: one INSERT that replaces an expired row with the same
// B-TID and leaves a live one alone (then ErrSessionExists), committed before it returns.
func (s *SQLiteStore) CreateSession(ctx context.Context, in Session) error {
	key := in.BTID.String()
	ks, err := s.seal.seal(in.Ks.Bytes(), key)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO sessions (btid, impi, ks, created, expires, guss, gba_type)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (btid) DO UPDATE SET impi = excluded.impi, ks = excluded.ks, created = excluded.created,
	expires = excluded.expires, guss = excluded.guss, gba_type = excluded.gba_type
WHERE sessions.expires <= ?`,
		key, in.IMPI, ks, in.Created.Unix(), in.Expires.Unix(), in.GUSS, int64(in.GBAType), s.now().Unix())
	if err != nil {
		return fmt.Errorf("bsf: sqlite: insert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("bsf: sqlite: insert: %w", err)
	}
	if n == 0 {
		return ErrSessionExists
	}
	return nil
}

// Session implements Store.
func (s *SQLiteStore) Session(ctx context.Context, btid gba.BTID) (Session, error) {
	key := btid.String()
	var (
		impi             string
		ks, guss         []byte
		created, expires int64
		gbaType          int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT impi, ks, created, expires, guss, gba_type FROM sessions WHERE btid = ? AND expires > ?`,
		key, s.now().Unix()).Scan(&impi, &ks, &created, &expires, &guss, &gbaType)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrSessionNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("bsf: sqlite: select: %w", err)
	}
	raw, err := s.seal.open(ks, key)
	if err != nil {
		return Session{}, err
	}
	defer clear(raw)
	k, err := gba.NewKey(raw)
	if err != nil {
		return Session{}, fmt.Errorf("bsf: sqlite: corrupt Ks: %w", err)
	}
	return Session{
		BTID:    btid,
		IMPI:    impi,
		Ks:      k,
		Created: fromUnix(created),
		Expires: fromUnix(expires),
		GUSS:    guss,
		GBAType: GBAType(gbaType),
	}, nil
}

// Live implements Store.
func (s *SQLiteStore) Live(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE expires > ?`, s.now().Unix()).Scan(&n); err != nil {
		return 0, fmt.Errorf("bsf: sqlite: count: %w", err)
	}
	return n, nil
}

// Sweep implements Store, deleting in batches so that the writer is never held long.
func (s *SQLiteStore) Sweep(ctx context.Context) (int64, error) {
	now := s.now().Unix()
	var total int64
	for {
		res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE btid IN
(SELECT btid FROM sessions WHERE expires <= ? LIMIT ?)`, now, sweepBatch)
		if err != nil {
			return total, fmt.Errorf("bsf: sqlite: sweep: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("bsf: sqlite: sweep: %w", err)
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}

// Close implements Store.
func (s *SQLiteStore) Close() error {
	return errors.Join(s.w.Close(), s.r.Close())
}
