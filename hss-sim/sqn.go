package hsssim

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// SQN parameters of TS 33.102 Annex C.
const (
	// DefaultINDBits is the IND length of TS 33.102 §C.3 (5 bits: a USIM array of 32).
	DefaultINDBits = 5
	// MaxINDBits bounds IND so that the USIM array stays small.
	MaxINDBits = 10
	// DefaultDelta is Δ of TS 33.102 §C.2.1, the largest SEQ jump a USIM accepts: 2^28.
	DefaultDelta = 1 << 28
	// DefaultSQNBlockSize is how many SEQ values are reserved per durable write.
	DefaultSQNBlockSize = 1000
)

// SQNConfig holds the SEQ ‖ IND scheme of TS 33.102 Annex C as the HE/AuC runs it.
//
// Generation (TS 33.102 §C.1.1, §C.1.2): SQN = SEQ ‖ IND, IND in the low INDBits bits.
// Every authentication vector gets a new SEQ: SEQ_HE is incremented by one per vector, and
// IND cycles by one per vector through 0 … 2^INDBits−1, so consecutive vectors land in
// different slots of the USIM array of TS 33.102 §C.2.2 and out-of-order use of up to
// 2^INDBits vectors is tolerated. (The per-node IND allocation of §C.1.2 does not apply:
// the only Zh client is the BSF, and every vector is used at once.)
//
// Durability without an fsync per vector: before a SEQ beyond the persisted reservation is
// handed out, the store durably records reserved-up-to = SEQ_HE + BlockSize (one SQLite
// commit with synchronous=FULL), then serves the next BlockSize vectors from memory. A clean
// Close writes the exact SQN_HE back. After a crash (kill -9, power loss) the store resumes
// above the persisted reservation, so no SQN is ever issued twice; at most BlockSize SEQ
// values per subscriber are skipped per crash.
//
// Skipped values and the USIM: a USIM accepts a SEQ only if SEQ − SEQ_MS ≤ Δ
// (TS 33.102 §C.2.1; recommended Δ = 2^28, TS 33.102 §C.3) before the array check of
// §C.2.2. One skipped block per restart (default 1000) is about 2^10, far below Δ ≈ 2.7·10^8,
// so even hundreds of thousands of consecutive crashes without a single successful
// authentication in between stay inside the window; Validate insists that
// BlockSize ≤ Delta/1024. Skips also spend SEQ space (2^(48−INDBits) values, 2^43 by
// default) at one block per crash, which is negligible. Should a USIM still reject the jump
// it answers with a synchronisation failure and Resync brings SEQ_HE back in range.
type SQNConfig struct {
	// INDBits is the length of IND (TS 33.102 §C.1.2), 0 … MaxINDBits; default 5.
	INDBits uint8 `yaml:"ind_bits"`
	// BlockSize is how many SEQ values one durable reservation covers; default 1000.
	BlockSize uint64 `yaml:"block_size"`
	// Delta is the USIM's Δ (TS 33.102 §C.2.1), used by Resync to decide whether SEQ_HE is
	// still acceptable; default 2^28.
	Delta uint64 `yaml:"delta"`
}

// DefaultSQNConfig returns IND = 5 bits, blocks of 1000 and Δ = 2^28.
func DefaultSQNConfig() SQNConfig {
	return SQNConfig{INDBits: DefaultINDBits, BlockSize: DefaultSQNBlockSize, Delta: DefaultDelta}
}

// Validate checks the parameters and names the bad one.
func (c SQNConfig) Validate() error {
	switch {
	case c.INDBits > MaxINDBits:
		return &ConfigError{Field: "sqn.ind_bits", Reason: fmt.Sprintf("must be 0..%d", MaxINDBits)}
	case c.Delta == 0 || c.Delta > c.maxSEQ():
		return &ConfigError{Field: "sqn.delta", Reason: "must be between 1 and the SEQ range"}
	case c.BlockSize == 0:
		return &ConfigError{Field: "sqn.block_size", Reason: "must be at least 1"}
	case c.BlockSize > c.Delta/1024:
		return &ConfigError{Field: "sqn.block_size", Reason: "must be at most delta/1024 so that a restart stays far inside the USIM window (TS 33.102 §C.2.1)"}
	}
	return nil
}

func (c SQNConfig) maxSEQ() uint64  { return MaxSQN >> c.INDBits }
func (c SQNConfig) indMask() uint64 { return 1<<c.INDBits - 1 }

// SEQ returns the SEQ part of sqn (TS 33.102 §C.1.1).
func (c SQNConfig) SEQ(sqn uint64) uint64 { return (sqn & MaxSQN) >> c.INDBits }

// IND returns the IND part of sqn (TS 33.102 §C.1.2).
func (c SQNConfig) IND(sqn uint64) uint64 { return sqn & c.indMask() }

// Join builds SEQ ‖ IND (TS 33.102 §C.1.1).
func (c SQNConfig) Join(seq, ind uint64) uint64 { return (seq<<c.INDBits | ind&c.indMask()) & MaxSQN }

// next returns the SQN after last: SEQ+1 and the next IND in the cycle (TS 33.102 §C.1.1,
// §C.1.2).
func (c SQNConfig) next(last uint64) (uint64, error) {
	seq := c.SEQ(last)
	if seq >= c.maxSEQ() {
		return 0, ErrSQNExhausted
	}
	return c.Join(seq+1, c.IND(last)+1), nil
}

// resync returns SQN_HE after a verified SQN_MS (TS 33.102 §6.3.5, §C.3). If SEQ_HE+1
// would already be accepted by the USIM (SEQ_MS < SEQ_HE+1 ≤ SEQ_MS + Δ, TS 33.102 §C.2.1,
// §C.2.2) SQN_HE is kept, so nothing is reissued; otherwise SEQ_HE := SEQ_MS and IND keeps
// cycling. Either way the next SQN has SEQ > SEQ_MS.
func (c SQNConfig) resync(last, sqnMS uint64) uint64 {
	seqMS := c.SEQ(sqnMS)
	if next := c.SEQ(last) + 1; next > seqMS && next-seqMS <= c.Delta {
		return last
	}
	return c.Join(seqMS, c.IND(last))
}

// sqnRecord is what a backend keeps per subscriber for NextSQN.
type sqnRecord struct {
	K, OPc Key
	AMF    [2]byte
	// SQN is the last SQN_HE written back (it may lag the allocator's).
	SQN uint64
	// Reserved is an upper bound of every SQN that may have been issued.
	Reserved uint64
}

// sqnBackend is the persistence the allocator needs.
type sqnBackend interface {
	// loadSQN reads the record; ErrUnknownIMPI if absent.
	loadSQN(ctx context.Context, impi string) (sqnRecord, error)
	// saveSQN durably stores SQN_HE and the reservation; ErrUnknownIMPI if absent.
	saveSQN(ctx context.Context, impi string, sqn, reserved uint64) error
	// flushSQN writes back exact SQN_HE values (reservation = SQN_HE) in one transaction,
	// skipping IMPIs that no longer exist.
	flushSQN(ctx context.Context, states []sqnFlush) error
}

// sqnFlush is one exact SQN_HE to write back.
type sqnFlush struct {
	IMPI string
	SQN  uint64
}

// sqnEntry is the in-memory SQN state of one subscriber. mu orders all SQN work for the
// IMPI; refs (guarded by the allocator's mu) counts goroutines holding or waiting for it.
type sqnEntry struct {
	mu     sync.Mutex
	refs   int
	loaded bool
	rec    sqnRecord
	// limitSEQ: every SEQ ≤ limitSEQ is covered by a durable reservation.
	limitSEQ uint64
	// view is SQN_HE for lock-free reads by List; valid while viewOK.
	view   atomic.Uint64
	viewOK atomic.Bool
}

// sqnAllocator hands out SQNs with per-IMPI ordering. Subscribers do not wait for each
// other except for the short map lookup and the backend's own write serialisation.
type sqnAllocator struct {
	cfg     SQNConfig
	be      sqnBackend
	mu      sync.Mutex
	entries map[string]*sqnEntry
	closed  atomic.Bool
}

func newSQNAllocator(cfg SQNConfig, be sqnBackend) *sqnAllocator {
	return &sqnAllocator{cfg: cfg, be: be, entries: make(map[string]*sqnEntry)}
}

// lock returns the entry of impi with its mutex held. Call unlock when done.
func (a *sqnAllocator) lock(impi string) (*sqnEntry, error) {
	a.mu.Lock()
	if a.closed.Load() {
		a.mu.Unlock()
		return nil, ErrClosed
	}
	e := a.entries[impi]
	if e == nil {
		e = &sqnEntry{}
		a.entries[impi] = e
	}
	e.refs++
	a.mu.Unlock()
	e.mu.Lock()
	if a.closed.Load() { // flushAll ran while we waited
		a.unlock(impi, e)
		return nil, ErrClosed
	}
	return e, nil
}

// unlock releases the entry and drops it from the map when nobody uses it and it holds no
// state.
func (a *sqnAllocator) unlock(impi string, e *sqnEntry) {
	e.mu.Unlock()
	a.mu.Lock()
	e.refs--
	if e.refs == 0 && !e.loaded && a.entries[impi] == e {
		delete(a.entries, impi)
	}
	a.mu.Unlock()
}

// current returns the in-memory SQN_HE of impi, if the allocator holds one.
func (a *sqnAllocator) current(impi string) (uint64, bool) {
	a.mu.Lock()
	e := a.entries[impi]
	a.mu.Unlock()
	if e == nil || !e.viewOK.Load() {
		return 0, false
	}
	return e.view.Load(), true
}

func (e *sqnEntry) setSQN(sqn uint64) {
	e.rec.SQN = sqn
	e.view.Store(sqn)
	e.viewOK.Store(true)
}

// unload forgets the state; the backend is authoritative again.
func (e *sqnEntry) unload() {
	e.loaded = false
	e.viewOK.Store(false)
}

// ensure loads the entry from the backend. After a crash the persisted reservation is
// above the persisted SQN_HE: resume at the reservation (TS 33.102 §C.1.1 never reissue).
func (a *sqnAllocator) ensure(ctx context.Context, impi string, e *sqnEntry) error {
	if e.loaded {
		return nil
	}
	rec, err := a.be.loadSQN(ctx, impi)
	if err != nil {
		return err
	}
	e.rec = rec
	seq := a.cfg.SEQ(rec.SQN)
	if rec.Reserved > rec.SQN {
		if r := a.cfg.SEQ(rec.Reserved); r > seq {
			seq = r
		}
	}
	e.limitSEQ = seq
	e.setSQN(a.cfg.Join(seq, a.cfg.IND(rec.SQN)))
	e.loaded = true
	return nil
}

// updateReservation returns the reservation to store with a record updated under the
// IMPI's lock. shown is the SQN_HE the update started from, stored the record's persisted
// reservation, loaded whether the allocator held live state.
//   - SQN provisioned explicitly (sqn != shown): the operator resets SQN_HE; the reservation
//     follows.
//   - Live state: shown is the exact SQN_HE (nothing above it was issued), so the
//     reservation shrinks to it and a later load skips nothing.
//   - No live state: keep the stored reservation. After a crash it is above the stored
//     SQN_HE and must survive until the allocator has loaded it.
func updateReservation(sqn, shown, stored uint64, loaded bool) uint64 {
	if sqn != shown || loaded {
		return sqn
	}
	return max(stored, sqn)
}

// reservation is the SQN bound written for a SEQ limit: every SQN with SEQ ≤ limit.
func (a *sqnAllocator) reservation(limitSEQ uint64) uint64 {
	return a.cfg.Join(limitSEQ, a.cfg.indMask())
}

// nextSQN implements Store.NextSQN.
func (a *sqnAllocator) nextSQN(ctx context.Context, impi string) (AuthData, error) {
	e, err := a.lock(impi)
	if err != nil {
		return AuthData{}, err
	}
	defer a.unlock(impi, e)
	if err := ctx.Err(); err != nil {
		return AuthData{}, err
	}
	if err := a.ensure(ctx, impi, e); err != nil {
		return AuthData{}, err
	}
	next, err := a.cfg.next(e.rec.SQN)
	if err != nil {
		return AuthData{}, err
	}
	if seq := a.cfg.SEQ(next); seq > e.limitSEQ {
		limit := min(a.cfg.SEQ(e.rec.SQN)+a.cfg.BlockSize, a.cfg.maxSEQ())
		// Durable before any number of the block leaves the store.
		if err := a.be.saveSQN(ctx, impi, e.rec.SQN, a.reservation(limit)); err != nil {
			return AuthData{}, err
		}
		e.limitSEQ = limit
	}
	e.setSQN(next)
	return AuthData{IMPI: impi, SQN: next, K: e.rec.K, OPc: e.rec.OPc, AMF: e.rec.AMF}, nil
}

// resyncSQN implements Store.Resync. The new state is written at once (resyncs are rare).
func (a *sqnAllocator) resyncSQN(ctx context.Context, impi string, sqnMS uint64) error {
	if sqnMS > MaxSQN {
		return fieldErr("sqn", "SQN_MS exceeds 2^48-1")
	}
	e, err := a.lock(impi)
	if err != nil {
		return err
	}
	defer a.unlock(impi, e)
	if err := a.ensure(ctx, impi, e); err != nil {
		return err
	}
	sqn := a.cfg.resync(e.rec.SQN, sqnMS)
	if sqn == e.rec.SQN {
		return nil
	}
	// SEQ_HE moves forward (SEQ_MS was ahead) or, when the USIM is more than Δ behind,
	// back to SEQ_MS as TS 33.102 §6.3.5 demands; either way the reservation becomes the
	// new SQN_HE exactly.
	if err := a.be.saveSQN(ctx, impi, sqn, sqn); err != nil {
		return err
	}
	e.limitSEQ = a.cfg.SEQ(sqn)
	e.setSQN(sqn)
	return nil
}

// flushAll writes the exact SQN_HE of every loaded entry back in one transaction
// (reservation = SQN_HE, so a clean restart skips nothing) and refuses further work. If the
// write fails the reservations stand: the next start skips the rest of each block.
func (a *sqnAllocator) flushAll(ctx context.Context) error {
	a.mu.Lock()
	if a.closed.Swap(true) {
		a.mu.Unlock()
		return nil
	}
	entries := make(map[string]*sqnEntry, len(a.entries))
	for k, e := range a.entries {
		entries[k] = e
	}
	a.mu.Unlock()
	// Anyone who got an entry's lock before closed was set finishes first; anyone after
	// sees closed and backs off, so the values collected here are final.
	var states []sqnFlush
	for impi, e := range entries {
		e.mu.Lock()
		if e.loaded {
			states = append(states, sqnFlush{IMPI: impi, SQN: e.rec.SQN})
			e.unload()
		}
		e.mu.Unlock()
	}
	if len(states) == 0 {
		return nil
	}
	return a.be.flushSQN(ctx, states)
}
