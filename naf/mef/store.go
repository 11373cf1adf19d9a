package mef

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/opengba/opengba/internal/sqlitedb"
)

// Store errors.
var (
	// ErrNotFound: no registration or enrolment for the key asked.
	ErrNotFound = errors.New("mef: not found")
	// ErrConflict: the Node-ID is already assigned to another IMPI.
	ErrConflict = errors.New("mef: Node-ID already assigned to another IMPI")
	// ErrInvalid: a registration breaks a rule (field named in the message).
	ErrInvalid = errors.New("mef: invalid registration")
)

// Registration associates an IMPI with an M2M subscription: which IMPIs may enrol, and
// the Node-ID and CSE-ID the MEF assigns them (oneM2M identities are configured by the
// service provider, GBA-DIGEST §7).
type Registration struct {
	IMPI           string    `json:"impi"`
	SubscriptionID string    `json:"subscription_id"`
	NodeID         string    `json:"node_id,omitempty"` // "" = generated (see NodeID)
	CSEID          string    `json:"cse_id,omitempty"`  // SP-relative "/<id>"; "" = device hosts no CSE
	Expires        time.Time `json:"expires,omitzero"`  // zero = no expiry
	Created        time.Time `json:"created,omitzero"`
	Updated        time.Time `json:"updated,omitzero"`
}

// Limits on registration fields.
const (
	MaxIMPILen   = 255
	MaxIDLen     = 256
	MaxSubIDLen  = 128
	maxCSEIDPart = 128
)

// Validate checks the fields and names the first bad one.
func (r Registration) Validate() error {
	if err := ValidateIMPI(r.IMPI); err != nil {
		return err
	}
	if err := checkPrintable("subscription_id", r.SubscriptionID, MaxSubIDLen, true); err != nil {
		return err
	}
	if err := checkPrintable("node_id", r.NodeID, MaxIDLen, false); err != nil {
		return err
	}
	if r.CSEID != "" {
		if err := ValidateCSEID("cse_id", r.CSEID); err != nil {
			return err
		}
	}
	return nil
}

// ValidateIMPI accepts 1..255 octets of UTF-8 without spaces or control characters (an
// NAI, TS 23.003 §13.3; TS 33.220 §B.2.1 encodes it as UTF-8).
func ValidateIMPI(impi string) error {
	if !utf8.ValidString(impi) {
		return fmt.Errorf("%w: impi is not UTF-8", ErrInvalid)
	}
	return checkPrintable("impi", impi, MaxIMPILen, true)
}

func checkPrintable(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%w: %s is required", ErrInvalid, field)
		}
		return nil
	}
	if len(s) > max {
		return fmt.Errorf("%w: %s longer than %d characters", ErrInvalid, field, max)
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == utf8.RuneError {
			return fmt.Errorf("%w: %s contains a space or control character", ErrInvalid, field)
		}
	}
	return nil
}

// ValidateCSEID accepts an SP-relative CSE-ID "/" + CSE-ID (oneM2M TS-0001 §7.2), with the
// CSE-ID made of unreserved URI characters (letters, digits, "-", ".", "_", "~").
func ValidateCSEID(field, s string) error {
	if len(s) < 2 || s[0] != '/' || len(s) > maxCSEIDPart+1 {
		return fmt.Errorf("%w: %s must be SP-relative \"/<id>\" (1 to %d characters after '/')", ErrInvalid, field, maxCSEIDPart)
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return fmt.Errorf("%w: %s may contain only letters, digits, '-', '.', '_' and '~' after '/'", ErrInvalid, field)
		}
	}
	return nil
}

// Enrolment is the MEF's record of the last successful enrolment of an IMPI: the Kmr-ID
// (B-TID) and expiry of the Kmr provisioned to the MAF. The Kmr itself is not stored.
type Enrolment struct {
	IMPI           string    `json:"impi"`
	NodeID         string    `json:"node_id"`
	SubscriptionID string    `json:"subscription_id,omitempty"`
	CSEID          string    `json:"cse_id,omitempty"`
	KmrID          string    `json:"kmr_id"`
	KmrExpires     time.Time `json:"kmr_expires"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
}

// Store persists registrations and enrolment records. Implementations are safe for
// concurrent use.
type Store interface {
	// PutRegistration inserts or replaces the registration of r.IMPI (ErrConflict when
	// r.NodeID belongs to another IMPI); created reports an insert.
	PutRegistration(ctx context.Context, r Registration) (created bool, err error)
	GetRegistration(ctx context.Context, impi string) (Registration, error)
	DeleteRegistration(ctx context.Context, impi string) error
	ListRegistrations(ctx context.Context) ([]Registration, error)
	// PutEnrolment inserts or replaces the enrolment record of e.IMPI.
	PutEnrolment(ctx context.Context, e Enrolment) error
	GetEnrolment(ctx context.Context, impi string) (Enrolment, error)
	ListEnrolments(ctx context.Context) ([]Enrolment, error)
	Ping(ctx context.Context) error
	Close() error
}

// MemoryStore is a Store in memory, for tests.
type MemoryStore struct {
	mu   sync.Mutex
	regs map[string]Registration
	enrs map[string]Enrolment
	// FailEnrolmentWrites makes PutEnrolment fail (to test compensation).
	FailEnrolmentWrites bool
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{regs: map[string]Registration{}, enrs: map[string]Enrolment{}}
}

// PutRegistration implements Store.
func (s *MemoryStore) PutRegistration(_ context.Context, r Registration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.NodeID != "" {
		for impi, o := range s.regs {
			if o.NodeID == r.NodeID && impi != r.IMPI {
				return false, ErrConflict
			}
		}
	}
	old, ok := s.regs[r.IMPI]
	if ok {
		r.Created = old.Created
	}
	s.regs[r.IMPI] = r
	return !ok, nil
}

// GetRegistration implements Store.
func (s *MemoryStore) GetRegistration(_ context.Context, impi string) (Registration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.regs[impi]
	if !ok {
		return Registration{}, ErrNotFound
	}
	return r, nil
}

// DeleteRegistration implements Store.
func (s *MemoryStore) DeleteRegistration(_ context.Context, impi string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.regs[impi]; !ok {
		return ErrNotFound
	}
	delete(s.regs, impi)
	return nil
}

// ListRegistrations implements Store (sorted by IMPI).
func (s *MemoryStore) ListRegistrations(context.Context) ([]Registration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Registration, 0, len(s.regs))
	for _, r := range s.regs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IMPI < out[j].IMPI })
	return out, nil
}

// PutEnrolment implements Store.
func (s *MemoryStore) PutEnrolment(_ context.Context, e Enrolment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FailEnrolmentWrites {
		return errors.New("mef: memory store: write failure (test)")
	}
	if old, ok := s.enrs[e.IMPI]; ok {
		e.Created = old.Created
	}
	s.enrs[e.IMPI] = e
	return nil
}

// GetEnrolment implements Store.
func (s *MemoryStore) GetEnrolment(_ context.Context, impi string) (Enrolment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.enrs[impi]
	if !ok {
		return Enrolment{}, ErrNotFound
	}
	return e, nil
}

// ListEnrolments implements Store (sorted by IMPI).
func (s *MemoryStore) ListEnrolments(context.Context) ([]Enrolment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Enrolment, 0, len(s.enrs))
	for _, e := range s.enrs {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IMPI < out[j].IMPI })
	return out, nil
}

// Ping implements Store.
func (s *MemoryStore) Ping(context.Context) error { return nil }

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }

// SQLiteStore is the durable Store (WAL, synchronous=FULL, file mode 0600).
type SQLiteStore struct{ db *sql.DB }

var _ Store = (*SQLiteStore)(nil)

const sqliteVersion = 1

const sqliteSchema = `
CREATE TABLE registrations (
	impi            TEXT    NOT NULL PRIMARY KEY,
	subscription_id TEXT    NOT NULL,
	node_id         TEXT    NOT NULL,
	cse_id          TEXT    NOT NULL,
	expires         INTEGER NOT NULL,
	created         INTEGER NOT NULL,
	updated         INTEGER NOT NULL
) WITHOUT ROWID, STRICT;
CREATE UNIQUE INDEX registrations_node ON registrations (node_id) WHERE node_id <> '';
CREATE TABLE enrolments (
	impi            TEXT    NOT NULL PRIMARY KEY,
	node_id         TEXT    NOT NULL,
	subscription_id TEXT    NOT NULL,
	cse_id          TEXT    NOT NULL,
	kmr_id          TEXT    NOT NULL,
	kmr_expires     INTEGER NOT NULL,
	created         INTEGER NOT NULL,
	updated         INTEGER NOT NULL
) WITHOUT ROWID, STRICT;`

// OpenSQLiteStore opens (creating if needed) the MEF database at path.
func OpenSQLiteStore(ctx context.Context, path string, busy time.Duration) (*SQLiteStore, error) {
	db, err := sqlitedb.Open(ctx, sqlitedb.Config{Prefix: "mef", Path: path, BusyTimeout: busy, ForeignKeys: true, Schema: sqliteSchema, Version: sqliteVersion})
	if err != nil {
		return nil, err
	}
	return &SQLiteStore{db: db}, nil
}

func wrap(err error) error { return fmt.Errorf("mef: sqlite: %w", err) }

// PutRegistration implements Store.
func (s *SQLiteStore) PutRegistration(ctx context.Context, r Registration) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, wrap(err)
	}
	defer func() { _ = tx.Rollback() }()
	if r.NodeID != "" {
		var other string
		err := tx.QueryRowContext(ctx, `SELECT impi FROM registrations WHERE node_id = ? AND impi <> ?`, r.NodeID, r.IMPI).Scan(&other)
		if err == nil {
			return false, ErrConflict
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, wrap(err)
		}
	}
	var created int64
	err = tx.QueryRowContext(ctx, `SELECT created FROM registrations WHERE impi = ?`, r.IMPI).Scan(&created)
	isNew := errors.Is(err, sql.ErrNoRows)
	if err != nil && !isNew {
		return false, wrap(err)
	}
	if isNew {
		created = sqlitedb.UnixNano(r.Created)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO registrations
		(impi, subscription_id, node_id, cse_id, expires, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.IMPI, r.SubscriptionID, r.NodeID, r.CSEID, sqlitedb.UnixNano(r.Expires), created, sqlitedb.UnixNano(r.Updated)); err != nil {
		return false, wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return false, wrap(err)
	}
	return isNew, nil
}

const regCols = `impi, subscription_id, node_id, cse_id, expires, created, updated`

func scanReg(sc interface{ Scan(...any) error }) (Registration, error) {
	var r Registration
	var exp, cre, upd int64
	if err := sc.Scan(&r.IMPI, &r.SubscriptionID, &r.NodeID, &r.CSEID, &exp, &cre, &upd); err != nil {
		return Registration{}, err
	}
	r.Expires, r.Created, r.Updated = sqlitedb.FromUnixNano(exp), sqlitedb.FromUnixNano(cre), sqlitedb.FromUnixNano(upd)
	return r, nil
}

// GetRegistration implements Store.
func (s *SQLiteStore) GetRegistration(ctx context.Context, impi string) (Registration, error) {
	r, err := scanReg(s.db.QueryRowContext(ctx, `SELECT `+regCols+` FROM registrations WHERE impi = ?`, impi))
	if errors.Is(err, sql.ErrNoRows) {
		return Registration{}, ErrNotFound
	}
	if err != nil {
		return Registration{}, wrap(err)
	}
	return r, nil
}

// DeleteRegistration implements Store.
func (s *SQLiteStore) DeleteRegistration(ctx context.Context, impi string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM registrations WHERE impi = ?`, impi)
	if err != nil {
		return wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ListRegistrations implements Store.
func (s *SQLiteStore) ListRegistrations(ctx context.Context) ([]Registration, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+regCols+` FROM registrations ORDER BY impi`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Registration
	for rows.Next() {
		r, err := scanReg(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	return out, nil
}

// PutEnrolment implements Store.
func (s *SQLiteStore) PutEnrolment(ctx context.Context, e Enrolment) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO enrolments
		(impi, node_id, subscription_id, cse_id, kmr_id, kmr_expires, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (impi) DO UPDATE SET node_id = excluded.node_id, subscription_id = excluded.subscription_id,
		cse_id = excluded.cse_id, kmr_id = excluded.kmr_id, kmr_expires = excluded.kmr_expires, updated = excluded.updated`,
		e.IMPI, e.NodeID, e.SubscriptionID, e.CSEID, e.KmrID, sqlitedb.UnixNano(e.KmrExpires),
		sqlitedb.UnixNano(e.Created), sqlitedb.UnixNano(e.Updated))
	if err != nil {
		return wrap(err)
	}
	return nil
}

const enrCols = `impi, node_id, subscription_id, cse_id, kmr_id, kmr_expires, created, updated`

func scanEnr(sc interface{ Scan(...any) error }) (Enrolment, error) {
	var e Enrolment
	var exp, cre, upd int64
	if err := sc.Scan(&e.IMPI, &e.NodeID, &e.SubscriptionID, &e.CSEID, &e.KmrID, &exp, &cre, &upd); err != nil {
		return Enrolment{}, err
	}
	e.KmrExpires, e.Created, e.Updated = sqlitedb.FromUnixNano(exp), sqlitedb.FromUnixNano(cre), sqlitedb.FromUnixNano(upd)
	return e, nil
}

// GetEnrolment implements Store.
func (s *SQLiteStore) GetEnrolment(ctx context.Context, impi string) (Enrolment, error) {
	e, err := scanEnr(s.db.QueryRowContext(ctx, `SELECT `+enrCols+` FROM enrolments WHERE impi = ?`, impi))
	if errors.Is(err, sql.ErrNoRows) {
		return Enrolment{}, ErrNotFound
	}
	if err != nil {
		return Enrolment{}, wrap(err)
	}
	return e, nil
}

// ListEnrolments implements Store.
func (s *SQLiteStore) ListEnrolments(ctx context.Context) ([]Enrolment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+enrCols+` FROM enrolments ORDER BY impi`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Enrolment
	for rows.Next() {
		e, err := scanEnr(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	return out, nil
}

// Ping implements Store.
func (s *SQLiteStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close implements Store.
func (s *SQLiteStore) Close() error { return s.db.Close() }
