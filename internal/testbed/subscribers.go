package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	hsssim "github.com/opengba/opengba/hss-sim"
	"github.com/opengba/opengba/ue"
)

// provisionBatch is the number of subscribers created per store transaction (the
// importer's batch size).
const provisionBatch = hsssim.DefaultImportBatch

// Subscriber is one subscription of the HSS simulator as the device's USIM holds it
// (TS 33.102 §6.3: IMPI, K, OPc). K and OPc print REDACTED.
type Subscriber struct {
	IMPI string
	K    ue.Key128
	OPc  ue.Key128
}

// IMPI returns the IMPI of subscriber number i: user<i, 6 digits>@ims.opengba.test.
func IMPI(i int) string { return fmt.Sprintf("user%06d@%s", i, IMSDomain) }

// USIM returns an emulated USIM for s with a fresh SQN array (TS 33.102 §C.2), which
// accepts the HSS's next SQN.
func (s Subscriber) USIM() (*ue.USIM, error) { return ue.NewUSIM(s.IMPI, s.K, s.OPc, nil) }

// Subscribers returns subscribers number first … first+n-1 (see IMPI). Those the HSS does
// not hold yet are created with random K and OPc (AMF 0000, SQN 0), in batches of one
// transaction each; the others are read back from the HSS store, so a kept data
// directory gives the same credentials again.
func (tb *Testbed) Subscribers(ctx context.Context, first, n int) ([]Subscriber, error) {
	if first < 1 || n < 0 {
		return nil, errors.New("testbed: subscribers: first must be at least 1 and n not negative")
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.closed {
		return nil, ErrClosed
	}
	if tb.hss == nil {
		return nil, fmt.Errorf("%w: %s", ErrNodeStopped, NodeHSS)
	}
	store := tb.hss.store
	r := tb.opts.Rand
	if r == nil {
		r = rand.Reader
	}
	out := make([]Subscriber, 0, n)
	var batch []*hsssim.Subscriber
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		defer func() { batch = batch[:0] }()
		if bc, ok := store.(hsssim.BatchCreator); ok {
			errs, err := bc.CreateBatch(ctx, batch)
			if err != nil {
				return fmt.Errorf("testbed: provision subscribers: %w", err)
			}
			for i, e := range errs {
				if e != nil {
					return fmt.Errorf("testbed: provision %s: %w", batch[i].IMPI, e)
				}
			}
			return nil
		}
		for _, s := range batch {
			if err := store.Create(ctx, s); err != nil {
				return fmt.Errorf("testbed: provision %s: %w", s.IMPI, err)
			}
		}
		return nil
	}
	now := time.Now()
	for i := first; i < first+n; i++ {
		impi := IMPI(i)
		got, err := store.Get(ctx, impi)
		switch {
		case err == nil:
			s, err := subscriberOf(impi, got.K[:], got.OPc[:])
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			continue
		case !errors.Is(err, hsssim.ErrUnknownIMPI):
			return nil, fmt.Errorf("testbed: read subscriber %s: %w", impi, err)
		}
		var raw [32]byte
		if _, err := io.ReadFull(r, raw[:]); err != nil {
			return nil, fmt.Errorf("testbed: randomness: %w", err)
		}
		raw[0] |= 1 // never all zero
		raw[16] |= 1
		spec := hsssim.SubscriberSpec{IMPI: impi, K: hex.EncodeToString(raw[:16]), OPc: hex.EncodeToString(raw[16:]), AMF: "0000"}
		rec, err := spec.Build(now)
		if err != nil {
			return nil, fmt.Errorf("testbed: subscriber %s: %w", impi, err)
		}
		s, err := subscriberOf(impi, raw[:16], raw[16:])
		clear(raw[:])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if batch = append(batch, rec); len(batch) == provisionBatch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func subscriberOf(impi string, k, opc []byte) (Subscriber, error) {
	kk, err := ue.NewKey128(k)
	if err != nil {
		return Subscriber{}, fmt.Errorf("testbed: subscriber %s: K: %w", impi, err)
	}
	oo, err := ue.NewKey128(opc)
	if err != nil {
		return Subscriber{}, fmt.Errorf("testbed: subscriber %s: OPc: %w", impi, err)
	}
	return Subscriber{IMPI: impi, K: kk, OPc: oo}, nil
}
