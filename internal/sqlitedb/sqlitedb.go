// Package sqlitedb opens the SQLite files of the project's stores (modernc.org/sqlite, pure
// Go) with its durability settings: WAL, a chosen synchronous level, immediate write
// transactions, a busy timeout, and a file readable by its owner only.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// DefaultBusyTimeout is how long a connection waits for the write lock.
const DefaultBusyTimeout = 5 * time.Second

// Synchronous levels (PRAGMA synchronous) of the writer.
const (
	// SyncFull fsyncs the WAL on every commit: a commit survives power failure.
	SyncFull = "FULL"
	// SyncNormal leaves the WAL in the OS page cache: a commit survives a process crash.
	SyncNormal = "NORMAL"
)

// ErrPath reports a database path that cannot be used.
var ErrPath = errors.New("sqlitedb: path must be a file path without '?' or '#'")

// Config is what Open needs.
type Config struct {
	// Prefix names the caller in errors ("mef", "bsf").
	Prefix string
	// Path is the database file, created (mode 0600, directory 0700) if needed.
	Path string
	// BusyTimeout is how long a connection waits for a lock (0: DefaultBusyTimeout).
	BusyTimeout time.Duration
	// Synchronous is SyncFull ("" too) or SyncNormal.
	Synchronous string
	// ForeignKeys turns on PRAGMA foreign_keys.
	ForeignKeys bool
	// Schema is run once on a fresh file (PRAGMA user_version 0), which then gets Version.
	Schema  string
	Version int
}

func (c Config) busy() time.Duration {
	if c.BusyTimeout <= 0 {
		return DefaultBusyTimeout
	}
	return c.BusyTimeout
}

func (c Config) dsn(q url.Values) string { return "file:" + c.Path + "?" + q.Encode() }

// Open opens (creating if needed) the database at cfg.Path for writing, on one connection
// (SQLite has a single writer) with immediate write transactions, and brings its schema to
// cfg.Version by running cfg.Schema once on a fresh file. A file with another version is
// refused.
func Open(ctx context.Context, cfg Config) (*sql.DB, error) {
	if cfg.Path == "" || strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("%s: sqlite: %w", cfg.Prefix, ErrPath)
	}
	sync := cfg.Synchronous
	switch sync {
	case "":
		sync = SyncFull
	case SyncFull, SyncNormal:
	default:
		return nil, fmt.Errorf("%s: sqlite: synchronous %q is not %s or %s", cfg.Prefix, sync, SyncFull, SyncNormal)
	}
	if err := createPrivateFile(cfg.Path); err != nil {
		return nil, fmt.Errorf("%s: sqlite: %w", cfg.Prefix, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.busy().Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	if cfg.ForeignKeys {
		q.Add("_pragma", "foreign_keys(1)")
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", cfg.dsn(q))
	if err != nil {
		return nil, fmt.Errorf("%s: sqlite: open: %w", cfg.Prefix, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := migrate(ctx, cfg.Prefix, db, cfg.Schema, cfg.Version); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// OpenReader opens a pool of conns query-only connections to the database Open opened with
// cfg, and checks that one connects.
func OpenReader(ctx context.Context, cfg Config, conns int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.busy().Milliseconds()))
	q.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", cfg.dsn(q))
	if err != nil {
		return nil, fmt.Errorf("%s: sqlite: open: %w", cfg.Prefix, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: sqlite: %w", cfg.Prefix, err)
	}
	return db, nil
}

func migrate(ctx context.Context, prefix string, db *sql.DB, schema string, version int) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("%s: sqlite: %w", prefix, err)
	}
	switch v {
	case 0:
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("%s: sqlite: %w", prefix, err)
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return fmt.Errorf("%s: sqlite: create schema: %w", prefix, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
			return fmt.Errorf("%s: sqlite: %w", prefix, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("%s: sqlite: %w", prefix, err)
		}
	case version:
	default:
		return fmt.Errorf("%s: sqlite: schema version %d is not supported (want %d)", prefix, v, version)
	}
	return nil
}

// createPrivateFile creates the file (and its directory) readable by the owner only;
// SQLite gives the -wal and -shm files the same mode.
func createPrivateFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// UnixNano returns t as Unix nanoseconds, 0 for the zero time.
func UnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromUnixNano is the inverse of UnixNano (UTC).
func FromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
