package hsssim

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// What the Zh logic reads from a Store besides NextSQN and Resync: the IMPI of a
// Public-Identity, and the GUSS of a subscriber with its timestamp. Both backends answer
// them with cheaper queries than the general Store methods; any other Store works through
// List and Get.

// IMPUResolver is implemented by stores that can find subscribers by public identity, for
// an MAR that names the user by Public-Identity only (TS 29.109 §4.2 Table 4.1).
type IMPUResolver interface {
	// IMPIsByIMPU returns up to limit IMPIs, in IMPI order, whose IMPUs include impu
	// (compared octet by octet).
	IMPIsByIMPU(ctx context.Context, impu string, limit int) ([]string, error)
}

var (
	_ IMPUResolver = (*MemoryStore)(nil)
	_ IMPUResolver = (*SQLiteStore)(nil)
)

// lookupIMPU resolves impu with the store's IMPUResolver, or by paging through List for a
// store without one.
func lookupIMPU(ctx context.Context, st Store, impu string, limit int) ([]string, error) {
	if r, ok := st.(IMPUResolver); ok {
		return r.IMPIsByIMPU(ctx, impu, limit)
	}
	var out []string
	after := ""
	for len(out) < limit {
		page, err := st.List(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		for _, s := range page {
			if slices.Contains(s.IMPUs, impu) && len(out) < limit {
				out = append(out, s.IMPI)
			}
		}
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].IMPI
	}
	return out, nil
}

// IMPIsByIMPU implements IMPUResolver with a scan of the records (the memory store is for
// tests and small labs).
func (m *MemoryStore) IMPIsByIMPU(ctx context.Context, impu string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.alloc.closed.Load() {
		return nil, ErrClosed
	}
	var out []string
	m.mu.RLock()
	for impi, r := range m.recs {
		if slices.Contains(r.sub.IMPUs, impu) {
			out = append(out, impi)
		}
	}
	m.mu.RUnlock()
	slices.Sort(out)
	return out[:min(len(out), max(limit, 0))], nil
}

// IMPIsByIMPU implements IMPUResolver. The IMPUs are a JSON array per record, so this is
// a scan with SQLite's json_each; the schema has no IMPU index (an MAR by IMPU is the rare
// case, TS 33.220 §4.5.2 bootstraps with the IMPI).
func (s *SQLiteStore) IMPIsByIMPU(ctx context.Context, impu string, limit int) ([]string, error) {
	if s.alloc.closed.Load() {
		return nil, ErrClosed
	}
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT s.impi FROM subscribers AS s, json_each(s.impus) AS j WHERE j.value = ? ORDER BY s.impi LIMIT ?`,
		impu, limit)
	if err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: impu lookup: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var impi string
		if err := rows.Scan(&impi); err != nil {
			return nil, fmt.Errorf("hsssim: sqlite: impu lookup: %w", err)
		}
		out = append(out, impi)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: impu lookup: %w", err)
	}
	return out, nil
}

// gussFunc returns the GUSS document of impi and its timestamp (TS 29.109 Annex A); an
// empty document when the subscriber has none, ErrUnknownIMPI when there is no such
// subscriber.
type gussFunc func(ctx context.Context, impi string) (doc string, ts time.Time, err error)

// gussPreparer is implemented by stores with a cheaper GUSS read than Get.
type gussPreparer interface {
	prepareGUSS(ctx context.Context) (gussFunc, error)
}

var (
	_ gussPreparer = (*MemoryStore)(nil)
	_ gussPreparer = (*SQLiteStore)(nil)
)

// newGUSSFunc returns the GUSS read of st: its own when it has one, else Get.
func newGUSSFunc(ctx context.Context, st Store) (gussFunc, error) {
	if p, ok := st.(gussPreparer); ok {
		return p.prepareGUSS(ctx)
	}
	return func(ctx context.Context, impi string) (string, time.Time, error) {
		sub, err := st.Get(ctx, impi)
		if err != nil {
			return "", time.Time{}, err
		}
		return sub.GUSS, sub.GUSSTimestamp, nil
	}, nil
}

func (m *MemoryStore) prepareGUSS(context.Context) (gussFunc, error) {
	return func(ctx context.Context, impi string) (string, time.Time, error) {
		if err := ctx.Err(); err != nil {
			return "", time.Time{}, err
		}
		if m.alloc.closed.Load() {
			return "", time.Time{}, ErrClosed
		}
		m.mu.RLock()
		defer m.mu.RUnlock()
		r, ok := m.recs[impi]
		if !ok {
			return "", time.Time{}, fmt.Errorf("%w: guss", ErrUnknownIMPI)
		}
		return r.sub.GUSS, r.sub.GUSSTimestamp, nil
	}, nil
}

// prepareGUSS prepares the two-column read once on the read pool: parsing SQL costs more
// than running it (modernc.org/sqlite), and an MAR needs this read every time.
func (s *SQLiteStore) prepareGUSS(ctx context.Context) (gussFunc, error) {
	stmt, err := s.r.PrepareContext(ctx, `SELECT guss, guss_ts FROM subscribers WHERE impi = ?`)
	if err != nil {
		return nil, fmt.Errorf("hsssim: sqlite: prepare guss: %w", err)
	}
	return func(ctx context.Context, impi string) (string, time.Time, error) {
		if s.alloc.closed.Load() {
			return "", time.Time{}, ErrClosed
		}
		var (
			doc string
			ts  int64
		)
		err := stmt.QueryRowContext(ctx, impi).Scan(&doc, &ts)
		if errors.Is(err, sql.ErrNoRows) {
			return "", time.Time{}, fmt.Errorf("%w: guss", ErrUnknownIMPI)
		}
		if err != nil {
			return "", time.Time{}, fmt.Errorf("hsssim: sqlite: guss: %w", err)
		}
		return doc, fromUnixNano(ts), nil
	}, nil
}
