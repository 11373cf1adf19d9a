package hsssim

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/redact"
	"github.com/opengba/opengba/internal/sqlitedb"
)

// SQLite defaults.
const (
	// DefaultBusyTimeout is how long a connection waits for a lock before failing.
	DefaultBusyTimeout = sqlitedb.DefaultBusyTimeout
	// DefaultReadConns is the size of the read connection pool.
	DefaultReadConns = 4
	// sqliteSchemaVersion is stored in PRAGMA user_version.
	sqliteSchemaVersion = 1
)

// SQLiteStore is the durable Store: one SQLite file (modernc.org/sqlite, pure Go) in WAL
// mode with synchronous=FULL, so every commit survives a crash. All writes go through one
// connection (SQLite has a single writer anyway) with BEGIN IMMEDIATE; reads use a small
// pool of query-only connections. Other processes (the CLI) may use the file at the same
// time; they wait up to BusyTimeout for the write lock.
//
// The file holds K and OPc in clear: protect it like a key store (it is created 0600).
type SQLiteStore struct {
	now   func() time.Time
	w     *sql.DB
	r     *sql.DB
	alloc *sqnAllocator
	once  sync.Once
	err   error
	// gussStmt reads the GUSS columns of one subscriber on the read pool; gussCache keeps
	// what it read (see NextSQN).
	gussStmt  *sql.Stmt
	gussCache *gussCache
}

var (
	_ Store        = (*SQLiteStore)(nil)
	_ BatchCreator = (*SQLiteStore)(nil)
)

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS subscribers (
	impi         TEXT    NOT NULL PRIMARY KEY,
	impus        TEXT    NOT NULL,
	k            BLOB    NOT NULL,
	opc          BLOB    NOT NULL,
	amf          BLOB    NOT NULL,
	sqn          INTEGER NOT NULL,
	sqn_reserved INTEGER NOT NULL,
	guss         TEXT    NOT NULL,
	guss_ts      INTEGER NOT NULL,
	created      INTEGER NOT NULL,
	updated      INTEGER NOT NULL
) WITHOUT ROWID, STRICT`

const subscriberCols = `impi, impus, k, opc, amf, sqn, sqn_reserved, guss, guss_ts, created, updated`

// OpenSQLiteStore opens (creating if needed) the database at cfg.Path. now may be nil.
func OpenSQLiteStore(ctx context.Context, cfg StoreConfig, sqn SQNConfig, now func() time.Time) (*SQLiteStore, error) {
	if err := sqn.Validate(); err != nil {
		return nil, err
	}
	if cfg.Path == "" || strings.ContainsAny(cfg.Path, "?#") {
		return nil, &ConfigError{Field: "store.path", Reason: "must be a file path without '?' or '#'"}
	}
	reads := cfg.ReadConns
	if reads <= 0 {
		reads = DefaultReadConns
	}
	db := sqlitedb.Config{Prefix: "hsssim", Path: cfg.Path, BusyTimeout: cfg.BusyTimeout, Synchronous: sqlitedb.SyncFull,
		Schema: sqliteSchema, Version: sqliteSchemaVersion}
	w, err := sqlitedb.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	r, err := sqlitedb.OpenReader(ctx, db, reads)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	gussStmt, err := r.PrepareContext(ctx, `SELECT guss, guss_ts FROM subscribers WHERE impi = ?`)
	if err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("hsssim: sqlite: prepare guss: %w", err)
	}
	s := &SQLiteStore{now: nowFunc(now), w: w, r: r, gussStmt: gussStmt, gussCache: newGUSSCache()}
	s.alloc = newSQNAllocator(sqn, sqliteSQN{s})
	return s, nil
}

// row is a scanned database row.
type row struct {
	redact.Fields // sub holds K and OPc
	sub           Subscriber
	reserved      uint64
}

type scanner interface{ Scan(dest ...any) error }

func scanRow(sc scanner) (*row, error) {
	var (
		r                row
		impus            string
		k, opc, amf      []byte
		sqn, reserved    int64
		gussTS, cre, upd int64
	)
	if err := sc.Scan(&r.sub.IMPI, &impus, &k, &opc, &amf, &sqn, &reserved, &r.sub.GUSS, &gussTS, &cre, &upd); err != nil {
		return nil, err
	}
	if len(k) != len(Key{}) || len(opc) != len(Key{}) || len(amf) != 2 || sqn < 0 || reserved < 0 {
		return nil, fmt.Errorf("hsssim: sqlite: corrupt record")
	}
	if err := json.Unmarshal([]byte(impus), &r.sub.IMPUs); err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: corrupt impus: %w", err)
	}
	r.sub.K, r.sub.OPc, r.sub.AMF = Key(k), Key(opc), [2]byte(amf)
	r.sub.SQN, r.reserved = uint64(sqn), uint64(reserved)
	r.sub.GUSSTimestamp = sqlitedb.FromUnixNano(gussTS)
	r.sub.Created, r.sub.Updated = sqlitedb.FromUnixNano(cre), sqlitedb.FromUnixNano(upd)
	return &r, nil
}

// args returns the column values of s in subscriberCols order.
func rowArgs(s *Subscriber, reserved uint64) ([]any, error) {
	impus := s.IMPUs
	if impus == nil {
		impus = []string{}
	}
	j, err := json.Marshal(impus)
	if err != nil {
		return nil, err
	}
	return []any{
		s.IMPI, string(j), s.K[:], s.OPc[:], s.AMF[:], int64(s.SQN), int64(reserved),
		s.GUSS, sqlitedb.UnixNano(s.GUSSTimestamp), sqlitedb.UnixNano(s.Created), sqlitedb.UnixNano(s.Updated),
	}, nil
}

const insertSQL = `INSERT INTO subscribers (` + subscriberCols + `) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(impi) DO NOTHING`

func (s *SQLiteStore) prepare(sub *Subscriber) (*Subscriber, error) {
	if err := validateRecord(sub); err != nil {
		return nil, err
	}
	c := sub.Clone()
	now := s.now()
	if c.Created.IsZero() {
		c.Created = now
	}
	if c.Updated.IsZero() {
		c.Updated = now
	}
	return c, nil
}

// Create implements Store.
func (s *SQLiteStore) Create(ctx context.Context, sub *Subscriber) error {
	if s.alloc.closed.Load() {
		return ErrClosed
	}
	c, err := s.prepare(sub)
	if err != nil {
		return err
	}
	args, err := rowArgs(c, c.SQN)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, insertSQL, args...)
	if err != nil {
		return fmt.Errorf("hsssim: sqlite: create: %w", err)
	}
	return insertResult(res)
}

func insertResult(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("hsssim: sqlite: create: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: create", ErrExists)
	}
	return nil
}

// CreateBatch implements BatchCreator: all rows in one transaction, one result per row.
func (s *SQLiteStore) CreateBatch(ctx context.Context, subs []*Subscriber) ([]error, error) {
	if s.alloc.closed.Load() {
		return nil, ErrClosed
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: batch: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, insertSQL)
	if err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: batch: %w", err)
	}
	defer stmt.Close()
	errs := make([]error, len(subs))
	for i, sub := range subs {
		c, err := s.prepare(sub)
		if err != nil {
			errs[i] = err
			continue
		}
		args, err := rowArgs(c, c.SQN)
		if err != nil {
			errs[i] = err
			continue
		}
		res, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("hsssim: sqlite: batch: %w", err)
		}
		errs[i] = insertResult(res)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: batch: %w", err)
	}
	return errs, nil
}

// Get implements Store.
func (s *SQLiteStore) Get(ctx context.Context, impi string) (*Subscriber, error) {
	if s.alloc.closed.Load() {
		return nil, ErrClosed
	}
	r, err := scanRow(s.r.QueryRowContext(ctx, `SELECT `+subscriberCols+` FROM subscribers WHERE impi = ?`, impi))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: get", ErrUnknownIMPI)
	}
	if err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: get: %w", err)
	}
	if v, ok := s.alloc.current(impi); ok {
		r.sub.SQN = v
	}
	return &r.sub, nil
}

// Update implements Store. It holds the IMPI's SQN lock, so the SQN_HE it writes back is
// exact and the reservation shrinks to it.
func (s *SQLiteStore) Update(ctx context.Context, impi string, fn func(*Subscriber) error) (*Subscriber, error) {
	e, err := s.alloc.lock(impi)
	if err != nil {
		return nil, err
	}
	defer s.alloc.unlock(impi, e)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: update: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	r, err := scanRow(tx.QueryRowContext(ctx, `SELECT `+subscriberCols+` FROM subscribers WHERE impi = ?`, impi))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: update", ErrUnknownIMPI)
	}
	if err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: update: %w", err)
	}
	c := r.sub.Clone()
	if e.loaded {
		c.SQN = e.rec.SQN
	}
	shown := c.SQN
	if err := fn(c); err != nil {
		return nil, err
	}
	if c.IMPI != impi {
		return nil, fieldErr("impi", "cannot be changed")
	}
	if err := validateRecord(c); err != nil {
		return nil, err
	}
	c.Created = r.sub.Created
	c.Updated = s.now()
	args, err := rowArgs(c, updateReservation(c.SQN, shown, r.reserved, e.loaded))
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET impus=?2, k=?3, opc=?4, amf=?5, sqn=?6, sqn_reserved=?7, guss=?8, guss_ts=?9, created=?10, updated=?11 WHERE impi=?1`, args...); err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: update: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: update: %w", err)
	}
	e.unload()
	s.gussCache.invalidate(impi)
	return c, nil
}

// Delete implements Store.
func (s *SQLiteStore) Delete(ctx context.Context, impi string) error {
	e, err := s.alloc.lock(impi)
	if err != nil {
		return err
	}
	defer s.alloc.unlock(impi, e)
	res, err := s.w.ExecContext(ctx, `DELETE FROM subscribers WHERE impi = ?`, impi)
	if err != nil {
		return fmt.Errorf("hsssim: sqlite: delete: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("hsssim: sqlite: delete: %w", err)
	} else if n == 0 {
		return fmt.Errorf("%w: delete", ErrUnknownIMPI)
	}
	e.unload()
	s.gussCache.invalidate(impi)
	return nil
}

// List implements Store. The primary key is the IMPI (a WITHOUT ROWID b-tree), so every
// page is an index range scan whatever its position.
func (s *SQLiteStore) List(ctx context.Context, after string, limit int) ([]*Subscriber, error) {
	if s.alloc.closed.Load() {
		return nil, ErrClosed
	}
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+subscriberCols+` FROM subscribers WHERE impi > ? ORDER BY impi LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: list: %w", err)
	}
	defer rows.Close()
	out := make([]*Subscriber, 0, min(limit, 1024))
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("hsssim: sqlite: list: %w", err)
		}
		if v, ok := s.alloc.current(r.sub.IMPI); ok {
			r.sub.SQN = v
		}
		out = append(out, &r.sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: list: %w", err)
	}
	return out, nil
}

// Count implements Store.
func (s *SQLiteStore) Count(ctx context.Context) (int, error) {
	if s.alloc.closed.Load() {
		return 0, ErrClosed
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscribers`).Scan(&n); err != nil {
		return 0, fmt.Errorf("hsssim: sqlite: count: %w", err)
	}
	return n, nil
}

// NextSQN implements Store. It returns the GUSS with the SQN (see AuthData) from a cache
// of the GUSS columns that Update and Delete invalidate, so that an MAR costs no database
// read in the steady state. The GUSS is read first: a failed read consumes no SQN.
//
// Like K and OPc, which the SQN allocator keeps in memory for every subscriber it has
// served, the cached GUSS follows changes made through this store only: a change written
// to the file by another process is seen after a restart.
func (s *SQLiteStore) NextSQN(ctx context.Context, impi string) (AuthData, error) {
	if s.alloc.closed.Load() {
		return AuthData{}, ErrClosed
	}
	g, err := s.guss(ctx, impi)
	if err != nil {
		return AuthData{}, err
	}
	ad, err := s.alloc.nextSQN(ctx, impi)
	if err != nil {
		return AuthData{}, err
	}
	ad.GUSS, ad.GUSSTimestamp = g.doc, g.ts
	return ad, nil
}

// Resync implements Store.
func (s *SQLiteStore) Resync(ctx context.Context, impi string, sqnMS uint64) error {
	return s.alloc.resyncSQN(ctx, impi, sqnMS)
}

// Close flushes the exact SQN_HE values and closes the database. It is idempotent.
func (s *SQLiteStore) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := s.alloc.flushAll(ctx)
		s.err = errors.Join(err, s.gussStmt.Close(), s.r.Close(), s.w.Close())
	})
	return s.err
}

// sqliteSQN adapts SQLiteStore to sqnBackend.
type sqliteSQN struct{ s *SQLiteStore }

func (b sqliteSQN) loadSQN(ctx context.Context, impi string) (sqnRecord, error) {
	var (
		rec           sqnRecord
		k, opc, amf   []byte
		sqn, reserved int64
	)
	err := b.s.r.QueryRowContext(ctx, `SELECT k, opc, amf, sqn, sqn_reserved FROM subscribers WHERE impi = ?`, impi).
		Scan(&k, &opc, &amf, &sqn, &reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, fmt.Errorf("%w: load SQN", ErrUnknownIMPI)
	}
	if err != nil {
		return rec, fmt.Errorf("hsssim: sqlite: load SQN: %w", err)
	}
	if len(k) != len(Key{}) || len(opc) != len(Key{}) || len(amf) != 2 || sqn < 0 || reserved < 0 {
		return rec, fmt.Errorf("hsssim: sqlite: corrupt record")
	}
	rec.K, rec.OPc, rec.AMF = Key(k), Key(opc), [2]byte(amf)
	rec.SQN, rec.Reserved = uint64(sqn), uint64(reserved)
	return rec, nil
}

func (b sqliteSQN) saveSQN(ctx context.Context, impi string, sqn, reserved uint64) error {
	res, err := b.s.w.ExecContext(ctx, `UPDATE subscribers SET sqn = ?, sqn_reserved = ? WHERE impi = ?`, int64(sqn), int64(reserved), impi)
	if err != nil {
		return fmt.Errorf("hsssim: sqlite: save SQN: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("hsssim: sqlite: save SQN: %w", err)
	} else if n == 0 {
		return fmt.Errorf("%w: save SQN", ErrUnknownIMPI)
	}
	return nil
}

func (b sqliteSQN) flushSQN(ctx context.Context, states []sqnFlush) error {
	tx, err := b.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hsssim: sqlite: flush SQN: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `UPDATE subscribers SET sqn = ?, sqn_reserved = ? WHERE impi = ?`)
	if err != nil {
		return fmt.Errorf("hsssim: sqlite: flush SQN: %w", err)
	}
	defer stmt.Close()
	for _, st := range states {
		if _, err := stmt.ExecContext(ctx, int64(st.SQN), int64(st.SQN), st.IMPI); err != nil {
			return fmt.Errorf("hsssim: sqlite: flush SQN: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("hsssim: sqlite: flush SQN: %w", err)
	}
	return nil
}
