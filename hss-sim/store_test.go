package hsssim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestMain(m *testing.M) {
	// gin prints route tables in its default debug mode; this is process state of the
	// test binary only.
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// fixedClock is a deterministic clock that advances one second per call.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fixedClock {
	return &fixedClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// storeFactory opens a store; reopen (nil for memory) opens it again on the same data.
type storeFactory struct {
	name string
	open func(t *testing.T, sqn SQNConfig) (st Store, reopen func() Store)
}

func storeFactories() []storeFactory {
	return []storeFactory{
		{"memory", func(t *testing.T, sqn SQNConfig) (Store, func() Store) {
			st, err := NewMemoryStore(sqn, newClock().Now)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st, nil
		}},
		{"sqlite", func(t *testing.T, sqn SQNConfig) (Store, func() Store) {
			path := filepath.Join(t.TempDir(), "hss.db")
			open := func() Store {
				st, err := OpenSQLiteStore(context.Background(), StoreConfig{Backend: BackendSQLite, Path: path}, sqn, newClock().Now)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = st.Close() })
				return st
			}
			return open(), open
		}},
	}
}

// testSub returns a valid subscriber; n varies IMPI and K.
func testSub(n int) *Subscriber {
	s := &Subscriber{
		IMPI:  fmt.Sprintf("user%06d@ims.mnc001.mcc001.3gppnetwork.org", n),
		IMPUs: []string{fmt.Sprintf("sip:user%06d@home1.net", n)},
		AMF:   [2]byte{0x80, 0x00},
	}
	for i := range s.K {
		s.K[i] = byte(n + i + 1)
		s.OPc[i] = byte(0xa0 + i)
	}
	return s
}

func TestStoreCRUD(t *testing.T) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := f.open(t, DefaultSQNConfig())
			s := testSub(1)
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			if err := st.Create(ctx, s); !errors.Is(err, ErrExists) {
				t.Fatalf("second create: %v, want ErrExists", err)
			}
			got, err := st.Get(ctx, s.IMPI)
			if err != nil {
				t.Fatal(err)
			}
			if got.K != s.K || got.OPc != s.OPc || got.AMF != s.AMF || len(got.IMPUs) != 1 || got.IMPUs[0] != s.IMPUs[0] {
				t.Fatalf("get: record differs")
			}
			if got.Created.IsZero() || got.Updated.IsZero() {
				t.Fatal("times not set")
			}
			if _, err := st.Get(ctx, "nobody@home1.net"); !errors.Is(err, ErrUnknownIMPI) {
				t.Fatalf("get unknown: %v", err)
			}
			upd, err := st.Update(ctx, s.IMPI, func(r *Subscriber) error {
				r.IMPUs = append(r.IMPUs, "tel:+15551234")
				r.AMF = [2]byte{0, 1}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(upd.IMPUs) != 2 || upd.AMF != [2]byte{0, 1} || !upd.Updated.After(got.Updated) || !upd.Created.Equal(got.Created) {
				t.Fatalf("update result wrong: %+v", upd)
			}
			if _, err := st.Update(ctx, s.IMPI, func(r *Subscriber) error { r.IMPI = "x@y"; return nil }); !errors.Is(err, ErrInvalid) {
				t.Fatalf("IMPI change: %v", err)
			}
			if _, err := st.Update(ctx, s.IMPI, func(r *Subscriber) error { r.K = Key{}; return nil }); !errors.Is(err, ErrInvalid) {
				t.Fatalf("zero K: %v", err)
			}
			boom := errors.New("boom")
			if _, err := st.Update(ctx, s.IMPI, func(*Subscriber) error { return boom }); !errors.Is(err, boom) {
				t.Fatalf("fn error: %v", err)
			}
			if _, err := st.Update(ctx, "nobody@home1.net", func(*Subscriber) error { return nil }); !errors.Is(err, ErrUnknownIMPI) {
				t.Fatalf("update unknown: %v", err)
			}
			n, err := st.Count(ctx)
			if err != nil || n != 1 {
				t.Fatalf("count = %d, %v", n, err)
			}
			if err := st.Delete(ctx, s.IMPI); err != nil {
				t.Fatal(err)
			}
			if err := st.Delete(ctx, s.IMPI); !errors.Is(err, ErrUnknownIMPI) {
				t.Fatalf("second delete: %v", err)
			}
			if _, err := st.NextSQN(ctx, s.IMPI); !errors.Is(err, ErrUnknownIMPI) {
				t.Fatalf("NextSQN after delete: %v", err)
			}
		})
	}
}

func TestStoreRejectsInvalid(t *testing.T) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			st, _ := f.open(t, DefaultSQNConfig())
			for name, mut := range map[string]func(*Subscriber){
				"impi":  func(s *Subscriber) { s.IMPI = "" },
				"k":     func(s *Subscriber) { s.K = Key{} },
				"opc":   func(s *Subscriber) { s.OPc = Key{} },
				"sqn":   func(s *Subscriber) { s.SQN = MaxSQN + 1 },
				"guss":  func(s *Subscriber) { s.GUSS = "<nope/>" },
				"impus": func(s *Subscriber) { s.IMPUs = []string{"a b"} },
			} {
				s := testSub(2)
				mut(s)
				var fe *FieldError
				if err := st.Create(context.Background(), s); !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, name) {
					t.Errorf("%s: got %v", name, err)
				}
			}
		})
	}
}

func TestStoreList(t *testing.T) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := f.open(t, DefaultSQNConfig())
			var want []string
			for i := 0; i < 25; i++ {
				s := testSub(25 - i) // insert out of order
				if err := st.Create(ctx, s); err != nil {
					t.Fatal(err)
				}
				want = append(want, s.IMPI)
			}
			sort.Strings(want)
			var got []string
			after := ""
			for {
				page, err := st.List(ctx, after, 7)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > 7 {
					t.Fatalf("page of %d", len(page))
				}
				if len(page) == 0 {
					break
				}
				for _, s := range page {
					got = append(got, s.IMPI)
				}
				after = page[len(page)-1].IMPI
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("list order:\n got %v\nwant %v", got, want)
			}
			page, err := st.List(ctx, "", 0)
			if err != nil || len(page) != 0 {
				t.Fatalf("limit 0: %d, %v", len(page), err)
			}
		})
	}
}

func TestStoreBatch(t *testing.T) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := f.open(t, DefaultSQNConfig())
			if err := st.Create(ctx, testSub(1)); err != nil {
				t.Fatal(err)
			}
			bad := testSub(3)
			bad.K = Key{}
			errs, err := st.(BatchCreator).CreateBatch(ctx, []*Subscriber{testSub(1), testSub(2), bad, testSub(4)})
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(errs[0], ErrExists) || errs[1] != nil || !errors.Is(errs[2], ErrInvalid) || errs[3] != nil {
				t.Fatalf("errs = %v", errs)
			}
			if n, _ := st.Count(ctx); n != 3 {
				t.Fatalf("count = %d, want 3", n)
			}
		})
	}
}

func TestStoreClosed(t *testing.T) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := f.open(t, DefaultSQNConfig())
			if err := st.Create(ctx, testSub(1)); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := st.NextSQN(ctx, testSub(1).IMPI); !errors.Is(err, ErrClosed) {
				t.Fatalf("NextSQN after close: %v", err)
			}
			if _, err := st.Get(ctx, testSub(1).IMPI); !errors.Is(err, ErrClosed) {
				t.Fatalf("Get after close: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Fatalf("second close: %v", err)
			}
		})
	}
}
