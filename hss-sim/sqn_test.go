package hsssim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestSQNConfigArithmetic(t *testing.T) {
	c := DefaultSQNConfig()
	// TS35208/set1 SQN ff9bb4d0b607 split as SEQ ‖ IND with IND = 5 bits (TS 33.102 §C.1.1).
	const sqn = 0xff9bb4d0b607
	if got := c.SEQ(sqn); got != sqn>>5 {
		t.Fatalf("SEQ = %x", got)
	}
	if got := c.IND(sqn); got != sqn&0x1f {
		t.Fatalf("IND = %x", got)
	}
	if got := c.Join(c.SEQ(sqn), c.IND(sqn)); got != sqn {
		t.Fatalf("Join = %x", got)
	}
	// next: SEQ+1 and IND+1 modulo 32, wrapping IND 31 → 0 (TS 33.102 §C.1.2).
	for _, tc := range []struct{ last, want uint64 }{
		{0, 1<<5 | 1},
		{c.Join(7, 3), c.Join(8, 4)},
		{c.Join(7, 31), c.Join(8, 0)},
	} {
		got, err := c.next(tc.last)
		if err != nil || got != tc.want {
			t.Errorf("next(%x) = %x, %v; want %x", tc.last, got, err, tc.want)
		}
	}
	if _, err := c.next(MaxSQN); !errors.Is(err, ErrSQNExhausted) {
		t.Fatalf("next(max) = %v", err)
	}
	zero := SQNConfig{INDBits: 0, BlockSize: 1, Delta: DefaultDelta}
	if got, _ := zero.next(41); got != 42 {
		t.Fatalf("IND-less next = %d", got)
	}
}

func TestSQNResyncRule(t *testing.T) {
	c := DefaultSQNConfig()
	j := c.Join
	for _, tc := range []struct {
		name           string
		last, ms, want uint64
	}{
		// SEQ_MS ahead of SEQ_HE: adopt SEQ_MS, keep the IND cycle (TS 33.102 §6.3.5).
		{"ms-ahead", j(10, 4), j(500, 9), j(500, 4)},
		// SEQ_HE+1 already acceptable (SEQ_MS < SEQ_HE+1 ≤ SEQ_MS+Δ): keep, reissue nothing.
		{"he-acceptable", j(600, 4), j(500, 9), j(600, 4)},
		{"he-just-ahead", j(500, 4), j(500, 9), j(500, 4)},
		// SEQ_HE = SEQ_MS - 1: next SEQ equals SEQ_MS, not fresh: adopt.
		{"he-one-behind", j(499, 4), j(500, 9), j(500, 4)},
		// SEQ_HE more than Δ ahead of the USIM (TS 33.102 §C.2.1): go back to SEQ_MS.
		{"he-beyond-delta", j(500+DefaultDelta, 4), j(500, 9), j(500, 4)},
		{"he-at-delta", j(499+DefaultDelta, 4), j(500, 9), j(499+DefaultDelta, 4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.resync(tc.last, tc.ms)
			if got != tc.want {
				t.Fatalf("resync = SEQ %d IND %d, want SEQ %d IND %d", c.SEQ(got), c.IND(got), c.SEQ(tc.want), c.IND(tc.want))
			}
			next, _ := c.next(got)
			if c.SEQ(next) <= c.SEQ(tc.ms) {
				t.Fatalf("next SEQ %d not above SEQ_MS %d", c.SEQ(next), c.SEQ(tc.ms))
			}
		})
	}
}

func TestSQNConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg   SQNConfig
		field string
	}{
		{DefaultSQNConfig(), ""},
		{SQNConfig{INDBits: 11, BlockSize: 1, Delta: DefaultDelta}, "sqn.ind_bits"},
		{SQNConfig{INDBits: 5, BlockSize: 0, Delta: DefaultDelta}, "sqn.block_size"},
		{SQNConfig{INDBits: 5, BlockSize: DefaultDelta / 512, Delta: DefaultDelta}, "sqn.block_size"},
		{SQNConfig{INDBits: 5, BlockSize: 1, Delta: 0}, "sqn.delta"},
		{SQNConfig{INDBits: 5, BlockSize: 1, Delta: 1 << 44}, "sqn.delta"},
	} {
		err := tc.cfg.Validate()
		var ce *ConfigError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: unexpected %v", tc.cfg, err)
		case tc.field != "" && (!errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, ErrConfig)):
			t.Errorf("%+v: got %v, want field %s", tc.cfg, err, tc.field)
		}
	}
}

func TestNextSQNSequence(t *testing.T) {
	cfg := SQNConfig{INDBits: 5, BlockSize: 10, Delta: DefaultDelta}
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := f.open(t, cfg)
			s := testSub(1)
			s.SQN = cfg.Join(100, 30)
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			prev := s.SQN
			for i := 0; i < 35; i++ { // crosses several blocks
				ad, err := st.NextSQN(ctx, s.IMPI)
				if err != nil {
					t.Fatal(err)
				}
				if cfg.SEQ(ad.SQN) != cfg.SEQ(prev)+1 || cfg.IND(ad.SQN) != (cfg.IND(prev)+1)%32 {
					t.Fatalf("step %d: %x after %x", i, ad.SQN, prev)
				}
				if ad.K != s.K || ad.OPc != s.OPc || ad.AMF != s.AMF || ad.IMPI != s.IMPI {
					t.Fatal("auth data differs from the record")
				}
				prev = ad.SQN
			}
			got, err := st.Get(ctx, s.IMPI)
			if err != nil || got.SQN != prev {
				t.Fatalf("Get SQN = %x, %v; want %x", got.SQN, err, prev)
			}
			page, err := st.List(ctx, "", 10)
			if err != nil || page[0].SQN != prev {
				t.Fatalf("List SQN = %x, %v; want %x", page[0].SQN, err, prev)
			}
			if _, err := st.NextSQN(ctx, "nobody@home1.net"); !errors.Is(err, ErrUnknownIMPI) {
				t.Fatalf("unknown: %v", err)
			}
		})
	}
}

func TestNextSQNExhausted(t *testing.T) {
	cfg := DefaultSQNConfig()
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := f.open(t, cfg)
			s := testSub(1)
			s.SQN = cfg.Join(cfg.maxSEQ()-1, 0)
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			if _, err := st.NextSQN(ctx, s.IMPI); err != nil {
				t.Fatal(err)
			}
			if _, err := st.NextSQN(ctx, s.IMPI); !errors.Is(err, ErrSQNExhausted) {
				t.Fatalf("got %v, want ErrSQNExhausted", err)
			}
		})
	}
}

func TestResyncStore(t *testing.T) {
	cfg := SQNConfig{INDBits: 5, BlockSize: 10, Delta: DefaultDelta}
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			st, reopen := f.open(t, cfg)
			s := testSub(1)
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			if _, err := st.NextSQN(ctx, s.IMPI); err != nil {
				t.Fatal(err)
			}
			sqnMS := cfg.Join(5000, 7)
			if err := st.Resync(ctx, s.IMPI, sqnMS); err != nil {
				t.Fatal(err)
			}
			ad, err := st.NextSQN(ctx, s.IMPI)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.SEQ(ad.SQN) != 5001 {
				t.Fatalf("after resync SEQ = %d, want 5001", cfg.SEQ(ad.SQN))
			}
			// A stale SQN_MS (behind SEQ_HE, inside Δ) changes nothing.
			if err := st.Resync(ctx, s.IMPI, cfg.Join(10, 0)); err != nil {
				t.Fatal(err)
			}
			ad2, _ := st.NextSQN(ctx, s.IMPI)
			if cfg.SEQ(ad2.SQN) != 5002 {
				t.Fatalf("stale resync moved SEQ to %d", cfg.SEQ(ad2.SQN))
			}
			if err := st.Resync(ctx, s.IMPI, MaxSQN+1); !errors.Is(err, ErrInvalid) {
				t.Fatalf("oversized SQN_MS: %v", err)
			}
			if err := st.Resync(ctx, "nobody@home1.net", 1); !errors.Is(err, ErrUnknownIMPI) {
				t.Fatalf("unknown: %v", err)
			}
			if reopen != nil {
				// A clean close writes SQN_HE back exactly: nothing is skipped.
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				st2 := reopen()
				ad3, err := st2.NextSQN(ctx, s.IMPI)
				if err != nil {
					t.Fatal(err)
				}
				if cfg.SEQ(ad3.SQN) != 5003 {
					t.Fatalf("after clean restart SEQ = %d, want 5003", cfg.SEQ(ad3.SQN))
				}
			}
		})
	}
}

func TestUpdateSQNResets(t *testing.T) {
	cfg := SQNConfig{INDBits: 5, BlockSize: 100, Delta: DefaultDelta}
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			st, reopen := f.open(t, cfg)
			s := testSub(1)
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if _, err := st.NextSQN(ctx, s.IMPI); err != nil {
					t.Fatal(err)
				}
			}
			// An unrelated update keeps SQN_HE exactly (no block is lost).
			if _, err := st.Update(ctx, s.IMPI, func(r *Subscriber) error { r.AMF = [2]byte{1, 2}; return nil }); err != nil {
				t.Fatal(err)
			}
			ad, _ := st.NextSQN(ctx, s.IMPI)
			if cfg.SEQ(ad.SQN) != 4 || ad.AMF != [2]byte{1, 2} {
				t.Fatalf("after update: SEQ %d AMF %x", cfg.SEQ(ad.SQN), ad.AMF)
			}
			// Provisioning SQN resets SQN_HE.
			if _, err := st.Update(ctx, s.IMPI, func(r *Subscriber) error { r.SQN = cfg.Join(2000, 0); return nil }); err != nil {
				t.Fatal(err)
			}
			ad, _ = st.NextSQN(ctx, s.IMPI)
			if ad.SQN != cfg.Join(2001, 1) {
				t.Fatalf("after SQN provisioning: %x", ad.SQN)
			}
			if reopen != nil {
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				got, err := reopen().Get(ctx, s.IMPI)
				if err != nil || got.SQN != ad.SQN {
					t.Fatalf("persisted SQN %x, %v; want %x", got.SQN, err, ad.SQN)
				}
			}
		})
	}
}

// TestNextSQNConcurrentSameIMPI: concurrent calls for one IMPI never return the same SQN,
// and each caller sees strictly increasing values (per-IMPI ordering).
func TestNextSQNConcurrentSameIMPI(t *testing.T) {
	cfg := SQNConfig{INDBits: 5, BlockSize: 7, Delta: DefaultDelta}
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := f.open(t, cfg)
			for i := 0; i < 3; i++ {
				if err := st.Create(ctx, testSub(i)); err != nil {
					t.Fatal(err)
				}
			}
			const workers, per = 8, 60
			var mu sync.Mutex
			seen := map[string]map[uint64]bool{}
			var wg sync.WaitGroup
			errc := make(chan error, workers)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					last := map[string]uint64{}
					for i := 0; i < per; i++ {
						impi := testSub(i % 3).IMPI
						ad, err := st.NextSQN(ctx, impi)
						if err != nil {
							errc <- err
							return
						}
						if ad.SQN <= last[impi] {
							errc <- fmt.Errorf("not increasing for one caller: %x after %x", ad.SQN, last[impi])
							return
						}
						last[impi] = ad.SQN
						mu.Lock()
						if seen[impi] == nil {
							seen[impi] = map[uint64]bool{}
						}
						if seen[impi][ad.SQN] {
							mu.Unlock()
							errc <- fmt.Errorf("SQN %x issued twice", ad.SQN)
							return
						}
						seen[impi][ad.SQN] = true
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			total := 0
			for _, m := range seen {
				total += len(m)
			}
			if total != workers*per {
				t.Fatalf("%d distinct SQNs, want %d", total, workers*per)
			}
		})
	}
}

// blockingBackend is an in-memory sqnBackend whose saveSQN blocks for one IMPI.
type blockingBackend struct {
	mu      sync.Mutex
	recs    map[string]sqnRecord
	blockOn string
	entered chan struct{}
	release chan struct{}
}

func (b *blockingBackend) loadSQN(_ context.Context, impi string) (sqnRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.recs[impi]
	if !ok {
		return r, ErrUnknownIMPI
	}
	return r, nil
}

func (b *blockingBackend) saveSQN(ctx context.Context, impi string, sqn, reserved uint64) error {
	if impi == b.blockOn {
		close(b.entered)
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.recs[impi]
	r.SQN, r.Reserved = sqn, reserved
	b.recs[impi] = r
	return nil
}

func (b *blockingBackend) flushSQN(context.Context, []sqnFlush) error { return nil }

// TestNextSQNIMPIsIndependent: an IMPI stuck in a durable write does not hold up others.
func TestNextSQNIMPIsIndependent(t *testing.T) {
	be := &blockingBackend{
		recs:    map[string]sqnRecord{"a@x": {K: Key{1}, OPc: Key{2}}, "b@x": {K: Key{3}, OPc: Key{4}}},
		blockOn: "a@x",
		entered: make(chan struct{}),
		release: make(chan struct{}),
	}
	alloc := newSQNAllocator(DefaultSQNConfig(), be)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	aDone := make(chan error, 1)
	go func() {
		_, err := alloc.nextSQN(ctx, "a@x")
		aDone <- err
	}()
	<-be.entered // a@x now holds its lock inside the durable write
	bDone := make(chan error, 1)
	go func() {
		_, err := alloc.nextSQN(ctx, "b@x")
		bDone <- err
	}()
	select {
	case err := <-bDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("b@x waited for a@x")
	}
	close(be.release)
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
}

// TestNextSQNReservationBeforeUse: the reservation write precedes the numbers it covers,
// and a failed write hands out nothing.
func TestNextSQNReservationBeforeUse(t *testing.T) {
	cfg := SQNConfig{INDBits: 5, BlockSize: 4, Delta: DefaultDelta}
	be := &failingBackend{rec: sqnRecord{K: Key{1}, OPc: Key{2}}}
	alloc := newSQNAllocator(cfg, be)
	ctx := context.Background()
	var got []uint64
	for i := 0; i < 9; i++ {
		ad, err := alloc.nextSQN(ctx, "a@x")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SEQ(ad.SQN) > cfg.SEQ(be.rec.Reserved) {
			t.Fatalf("SQN %x issued beyond the persisted reservation %x", ad.SQN, be.rec.Reserved)
		}
		got = append(got, ad.SQN)
	}
	if be.saves != 3 { // SEQ 1-4, 5-8, 9-12
		t.Fatalf("%d durable writes for 9 vectors with blocks of 4, want 3", be.saves)
	}
	be.fail = true
	for i := 0; i < 4; i++ {
		_, err := alloc.nextSQN(ctx, "a@x")
		if i < 3 && err != nil {
			t.Fatalf("within the block: %v", err)
		}
		if i == 3 && err == nil {
			t.Fatal("a SQN beyond the reservation was issued although the write failed")
		}
	}
}

type failingBackend struct {
	rec   sqnRecord
	saves int
	fail  bool
}

func (b *failingBackend) loadSQN(context.Context, string) (sqnRecord, error) { return b.rec, nil }

func (b *failingBackend) saveSQN(_ context.Context, _ string, sqn, reserved uint64) error {
	if b.fail {
		return errors.New("disk full")
	}
	b.saves++
	b.rec.SQN, b.rec.Reserved = sqn, reserved
	return nil
}

func (b *failingBackend) flushSQN(context.Context, []sqnFlush) error { return nil }
