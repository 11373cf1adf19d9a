package hsssim

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/sqlitedb"
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

// newGUSSFunc returns the GUSS read of a Store whose NextSQN does not return the GUSS
// (see AuthData): Get. It is nil for the backends of this package, which do.
func newGUSSFunc(st Store) gussFunc {
	if _, ok := st.(authDataGUSS); ok {
		return nil
	}
	return func(ctx context.Context, impi string) (string, time.Time, error) {
		sub, err := st.Get(ctx, impi)
		if err != nil {
			return "", time.Time{}, err
		}
		return sub.GUSS, sub.GUSSTimestamp, nil
	}
}

func (*MemoryStore) nextSQNHasGUSS() {}
func (*SQLiteStore) nextSQNHasGUSS() {}

// gussDoc is a GUSS document with its timestamp.
type gussDoc struct {
	doc string
	ts  time.Time
}

// gussCache keeps the GUSS of the subscribers the Zh server has seen, so that an MAR needs
// no database read for it (an MAR always needs the GUSS, TS 29.109 §4.2 Table 4.2; it
// changes rarely). Every change of a record in this process invalidates its entry. A fill
// races with an invalidation safely: the reader takes the epoch before it reads the
// database and the entry is only stored if no invalidation happened since, so a value read
// before a commit is never kept after the commit's invalidation.
type gussCache struct {
	mu    sync.RWMutex
	epoch uint64
	m     map[string]gussDoc
}

func newGUSSCache() *gussCache { return &gussCache{m: make(map[string]gussDoc)} }

// get returns the cached GUSS of impi, or the epoch to pass to put after a database read.
func (c *gussCache) get(impi string) (d gussDoc, epoch uint64, ok bool) {
	c.mu.RLock()
	d, ok = c.m[impi]
	epoch = c.epoch
	c.mu.RUnlock()
	return d, epoch, ok
}

// put stores d unless an invalidation happened after epoch was read.
func (c *gussCache) put(impi string, d gussDoc, epoch uint64) {
	c.mu.Lock()
	if c.epoch == epoch {
		c.m[impi] = d
	}
	c.mu.Unlock()
}

// invalidate drops the entry of impi; call it after the change is committed.
func (c *gussCache) invalidate(impi string) {
	c.mu.Lock()
	c.epoch++
	delete(c.m, impi)
	c.mu.Unlock()
}

// guss returns the GUSS of impi from the cache, reading the database on a miss with the
// two-column statement prepared at open (parsing SQL costs more than running it with
// modernc.org/sqlite).
func (s *SQLiteStore) guss(ctx context.Context, impi string) (gussDoc, error) {
	d, epoch, ok := s.gussCache.get(impi)
	if ok {
		return d, nil
	}
	var ts int64
	err := s.gussStmt.QueryRowContext(ctx, impi).Scan(&d.doc, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return gussDoc{}, fmt.Errorf("%w: guss", ErrUnknownIMPI)
	}
	if err != nil {
		return gussDoc{}, fmt.Errorf("hsssim: sqlite: guss: %w", err)
	}
	d.ts = sqlitedb.FromUnixNano(ts)
	s.gussCache.put(impi, d, epoch)
	return d, nil
}
