// Package sqlitedb opens the SQLite files of the MEF and MAF stores (modernc.org/sqlite,
// pure Go) with the durability settings of the project: WAL, synchronous=FULL, immediate
// write transactions, a busy timeout, and a file readable by its owner only.
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

// ErrPath reports a database path that cannot be used.
var ErrPath = errors.New("sqlitedb: path must be a file path without '?' or '#'")

// Open opens (creating if needed) the database at path and brings its schema to version
// by running schema once on a fresh file (PRAGMA user_version 0). A file with another
// version is refused. prefix names the caller in errors ("mef", "maf").
func Open(ctx context.Context, prefix, path string, busy time.Duration, schema string, version int) (*sql.DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("%s: sqlite: %w", prefix, ErrPath)
	}
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	if err := createPrivateFile(path); err != nil {
		return nil, fmt.Errorf("%s: sqlite: %w", prefix, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%s: sqlite: open: %w", prefix, err)
	}
	// One connection: SQLite has a single writer, and these stores are small.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := migrate(ctx, prefix, db, schema, version); err != nil {
		_ = db.Close()
		return nil, err
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
