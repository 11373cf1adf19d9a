package hsssim

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// MemoryStore is the in-memory Store for tests. It keeps nothing across restarts but runs
// the same SQN allocator as the SQLite store.
type MemoryStore struct {
	now   func() time.Time
	alloc *sqnAllocator

	mu   sync.RWMutex
	recs map[string]*memRecord
	// keys is the sorted IMPI list for keyset pagination; rebuilt lazily.
	keys  []string
	dirty bool
}

type memRecord struct {
	sub      *Subscriber
	reserved uint64
}

var (
	_ Store        = (*MemoryStore)(nil)
	_ BatchCreator = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty in-memory store. now may be nil (time.Now).
func NewMemoryStore(sqn SQNConfig, now func() time.Time) (*MemoryStore, error) {
	if err := sqn.Validate(); err != nil {
		return nil, err
	}
	m := &MemoryStore{now: nowFunc(now), recs: make(map[string]*memRecord)}
	m.alloc = newSQNAllocator(sqn, memSQN{m})
	return m, nil
}

// Create implements Store.
func (m *MemoryStore) Create(ctx context.Context, s *Subscriber) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.alloc.closed.Load() {
		return ErrClosed
	}
	if err := validateRecord(s); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.createLocked(s)
}

func (m *MemoryStore) createLocked(s *Subscriber) error {
	if _, ok := m.recs[s.IMPI]; ok {
		return fmt.Errorf("%w: create", ErrExists)
	}
	c := s.Clone()
	m.fillTimes(c)
	m.recs[s.IMPI] = &memRecord{sub: c, reserved: c.SQN}
	m.dirty = true
	return nil
}

func (m *MemoryStore) fillTimes(s *Subscriber) {
	now := m.now()
	if s.Created.IsZero() {
		s.Created = now
	}
	if s.Updated.IsZero() {
		s.Updated = now
	}
}

// CreateBatch implements BatchCreator.
func (m *MemoryStore) CreateBatch(ctx context.Context, subs []*Subscriber) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.alloc.closed.Load() {
		return nil, ErrClosed
	}
	errs := make([]error, len(subs))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range subs {
		if err := validateRecord(s); err != nil {
			errs[i] = err
			continue
		}
		errs[i] = m.createLocked(s)
	}
	return errs, nil
}

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, impi string) (*Subscriber, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.alloc.closed.Load() {
		return nil, ErrClosed
	}
	m.mu.RLock()
	r, ok := m.recs[impi]
	var c *Subscriber
	if ok {
		c = r.sub.Clone()
	}
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: get", ErrUnknownIMPI)
	}
	if v, ok := m.alloc.current(impi); ok {
		c.SQN = v
	}
	return c, nil
}

// Update implements Store.
func (m *MemoryStore) Update(ctx context.Context, impi string, fn func(*Subscriber) error) (*Subscriber, error) {
	e, err := m.alloc.lock(impi)
	if err != nil {
		return nil, err
	}
	defer m.alloc.unlock(impi, e)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[impi]
	if !ok {
		return nil, fmt.Errorf("%w: update", ErrUnknownIMPI)
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
	c.Updated = m.now()
	r.sub, r.reserved = c, updateReservation(c.SQN, shown, r.reserved, e.loaded)
	e.unload()
	return c.Clone(), nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(ctx context.Context, impi string) error {
	e, err := m.alloc.lock(impi)
	if err != nil {
		return err
	}
	defer m.alloc.unlock(impi, e)
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[impi]; !ok {
		return fmt.Errorf("%w: delete", ErrUnknownIMPI)
	}
	delete(m.recs, impi)
	m.dirty = true
	e.unload()
	return nil
}

// List implements Store.
func (m *MemoryStore) List(ctx context.Context, after string, limit int) ([]*Subscriber, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.alloc.closed.Load() {
		return nil, ErrClosed
	}
	if limit < 1 {
		return nil, nil
	}
	m.mu.Lock()
	if m.dirty {
		m.keys = m.keys[:0]
		for k := range m.recs {
			m.keys = append(m.keys, k)
		}
		slices.Sort(m.keys)
		m.dirty = false
	}
	i := sort.SearchStrings(m.keys, after)
	if i < len(m.keys) && m.keys[i] == after {
		i++
	}
	out := make([]*Subscriber, 0, min(limit, len(m.keys)-i))
	for ; i < len(m.keys) && len(out) < limit; i++ {
		out = append(out, m.recs[m.keys[i]].sub.Clone())
	}
	m.mu.Unlock()
	for _, s := range out {
		if v, ok := m.alloc.current(s.IMPI); ok {
			s.SQN = v
		}
	}
	return out, nil
}

// Count implements Store.
func (m *MemoryStore) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.recs), nil
}

// NextSQN implements Store, with the GUSS (see AuthData).
func (m *MemoryStore) NextSQN(ctx context.Context, impi string) (AuthData, error) {
	ad, err := m.alloc.nextSQN(ctx, impi)
	if err != nil {
		return AuthData{}, err
	}
	m.mu.RLock()
	r, ok := m.recs[impi]
	if ok {
		ad.GUSS, ad.GUSSTimestamp = r.sub.GUSS, r.sub.GUSSTimestamp
	}
	m.mu.RUnlock()
	if !ok { // deleted since the SQN was allocated
		return AuthData{}, fmt.Errorf("%w: next SQN", ErrUnknownIMPI)
	}
	return ad, nil
}

// Resync implements Store.
func (m *MemoryStore) Resync(ctx context.Context, impi string, sqnMS uint64) error {
	return m.alloc.resyncSQN(ctx, impi, sqnMS)
}

// Close implements Store.
func (m *MemoryStore) Close() error {
	return m.alloc.flushAll(context.Background())
}

// memSQN adapts MemoryStore to sqnBackend.
type memSQN struct{ m *MemoryStore }

func (b memSQN) loadSQN(_ context.Context, impi string) (sqnRecord, error) {
	b.m.mu.RLock()
	defer b.m.mu.RUnlock()
	r, ok := b.m.recs[impi]
	if !ok {
		return sqnRecord{}, fmt.Errorf("%w: load SQN", ErrUnknownIMPI)
	}
	return sqnRecord{K: r.sub.K, OPc: r.sub.OPc, AMF: r.sub.AMF, SQN: r.sub.SQN, Reserved: r.reserved}, nil
}

func (b memSQN) flushSQN(_ context.Context, states []sqnFlush) error {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	for _, st := range states {
		if r, ok := b.m.recs[st.IMPI]; ok {
			r.sub.SQN, r.reserved = st.SQN, st.SQN
		}
	}
	return nil
}

func (b memSQN) saveSQN(_ context.Context, impi string, sqn, reserved uint64) error {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	r, ok := b.m.recs[impi]
	if !ok {
		return fmt.Errorf("%w: save SQN", ErrUnknownIMPI)
	}
	r.sub.SQN, r.reserved = sqn, reserved
	return nil
}
