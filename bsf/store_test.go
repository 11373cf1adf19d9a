package bsf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/gba"
)

// testKEK is a fixed key-encryption key for tests.
func testKEK() []byte { return bytes.Repeat([]byte{0x42}, KEKSize) }

func testSession(t testing.TB, i int, created time.Time, lifetime time.Duration) Session {
	t.Helper()
	var rnd [16]byte
	binary.BigEndian.PutUint64(rnd[8:], uint64(i))
	rnd[0] = byte(i) // spread over shards
	btid, err := gba.NewBTID(rnd[:], "bsf.home1.net")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	ks, _ := gba.NewKey(sum[:])
	return Session{
		BTID:    btid,
		IMPI:    fmt.Sprintf("user%d@home1.net", i),
		Ks:      ks,
		Created: created.UTC().Truncate(time.Second),
		Expires: created.UTC().Truncate(time.Second).Add(lifetime),
		GUSS:    []byte(gussDoc),
		GBAType: GBAType3G,
	}
}

func sameSession(t testing.TB, got, want Session) {
	t.Helper()
	if got.BTID != want.BTID || got.IMPI != want.IMPI || !got.Ks.Equal(want.Ks) ||
		!got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) ||
		!bytes.Equal(got.GUSS, want.GUSS) || got.GBAType != want.GBAType {
		t.Fatalf("session %v (IMPI %q), want %v (IMPI %q)", got, got.IMPI, want, want.IMPI)
	}
}

// storeFactory opens a fresh store on the given clock.
type storeFactory func(t *testing.T, now func() time.Time) Store

// testStoreConformance is the behaviour every Store backend shares. expiresByTTL marks
// backends whose records expire on the server's own clock (Redis): the test clock cannot
// make them disappear, so the replace-after-expiry step is skipped.
func testStoreConformance(t *testing.T, open storeFactory, expiresByTTL bool) {
	ctx := context.Background()
	t.Run("create and get", func(t *testing.T) {
		clock := newClock(time.Now())
		s := open(t, clock.Now)
		want := testSession(t, 1, clock.Now(), time.Hour)
		if err := s.CreateSession(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Session(ctx, want.BTID)
		if err != nil {
			t.Fatal(err)
		}
		sameSession(t, got, want)
		if n, err := s.Live(ctx); err != nil || n != 1 {
			t.Errorf("Live = %d, %v; want 1", n, err)
		}
	})
	t.Run("RAND collision with a live session", func(t *testing.T) {
		clock := newClock(time.Now())
		s := open(t, clock.Now)
		a := testSession(t, 2, clock.Now(), time.Hour)
		if err := s.CreateSession(ctx, a); err != nil {
			t.Fatal(err)
		}
		b := testSession(t, 2, clock.Now(), 2*time.Hour)
		b.IMPI = "intruder@home1.net"
		if err := s.CreateSession(ctx, b); !errors.Is(err, ErrSessionExists) {
			t.Fatalf("second create: %v, want ErrSessionExists", err)
		}
		got, _ := s.Session(ctx, a.BTID)
		sameSession(t, got, a)
	})
	t.Run("unknown", func(t *testing.T) {
		clock := newClock(time.Now())
		s := open(t, clock.Now)
		a := testSession(t, 3, clock.Now(), time.Hour)
		if _, err := s.Session(ctx, a.BTID); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("got %v, want ErrSessionNotFound", err)
		}
		if err := s.CreateSession(ctx, a); err != nil {
			t.Fatal(err)
		}
		other := a.BTID
		other.Domain = "bsf.other.net"
		if _, err := s.Session(ctx, other); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("other domain: %v, want ErrSessionNotFound", err)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		clock := newClock(time.Now())
		s := open(t, clock.Now)
		a := testSession(t, 4, clock.Now(), time.Hour)
		live := testSession(t, 5, clock.Now(), 3*time.Hour)
		for _, x := range []Session{a, live} {
			if err := s.CreateSession(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Hour) // a expires exactly now (TS 33.220 §4.5.3: valid until its lifetime ends)
		if _, err := s.Session(ctx, a.BTID); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("expired session: %v, want ErrSessionNotFound", err)
		}
		if expiresByTTL {
			return // the server's clock, not the test's, removes a and updates Live
		}
		if n, _ := s.Live(ctx); n != 1 {
			t.Errorf("Live = %d, want 1", n)
		}
		if n, err := s.Sweep(ctx); err != nil || n != 1 {
			t.Errorf("Sweep = %d, %v; want 1", n, err)
		}
		b := testSession(t, 4, clock.Now(), time.Hour) // same B-TID, after expiry
		b.IMPI = "next@home1.net"
		if err := s.CreateSession(ctx, b); err != nil {
			t.Fatalf("re-create after expiry: %v", err)
		}
		got, _ := s.Session(ctx, b.BTID)
		sameSession(t, got, b)
	})
	t.Run("concurrent", func(t *testing.T) {
		clock := newClock(time.Now())
		s := open(t, clock.Now)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 8 {
					x := testSession(t, 100+g*8+i, clock.Now(), time.Hour)
					if err := s.CreateSession(ctx, x); err != nil {
						errs <- err
						return
					}
					if _, err := s.Session(ctx, x.BTID); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n, _ := s.Live(ctx); n != 64 {
			t.Errorf("Live = %d, want 64", n)
		}
	})
}

func TestMemoryStore(t *testing.T) {
	testStoreConformance(t, func(t *testing.T, now func() time.Time) Store { return NewMemoryStore(now) }, false)
}

func openTestSQLite(t *testing.T, path string, now func() time.Time) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLiteStore(context.Background(), SQLiteConfig{Path: path}, KEKRing{Current: testKEK()}, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSQLiteStore(t *testing.T) {
	testStoreConformance(t, func(t *testing.T, now func() time.Time) Store {
		return openTestSQLite(t, filepath.Join(t.TempDir(), "bsf.db"), now)
	}, false)
}

// TestSQLiteKsSealed: Ks never reaches the file in clear, the AAD binds it to its B-TID,
// and a wrong key-encryption key cannot open it.
func TestSQLiteKsSealed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "bsf.db")
	s := openTestSQLite(t, path, nil)
	a := testSession(t, 7, time.Now(), time.Hour)
	if err := s.CreateSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		raw, _ := os.ReadFile(f)
		if bytes.Contains(raw, a.Ks.Bytes()) {
			t.Fatalf("%s holds Ks in clear", filepath.Base(f))
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, want 0600", fi.Mode().Perm())
	}
	// Move the sealed Ks to another B-TID: the AAD no longer matches.
	b := testSession(t, 8, time.Now(), time.Hour)
	if err := s.CreateSession(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE sessions SET ks = (SELECT ks FROM sessions WHERE btid = ?) WHERE btid = ?`,
		a.BTID.String(), b.BTID.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, b.BTID); !errors.Is(err, ErrSealed) {
		t.Fatalf("moved Ks: %v, want ErrSealed", err)
	}
	// Another KEK cannot open a, the old one as "previous" can.
	other := bytes.Repeat([]byte{7}, KEKSize)
	s2, err := OpenSQLiteStore(ctx, SQLiteConfig{Path: path}, KEKRing{Current: other}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Session(ctx, a.BTID); !errors.Is(err, ErrSealed) {
		t.Fatalf("wrong KEK: %v, want ErrSealed", err)
	}
	s3, err := OpenSQLiteStore(ctx, SQLiteConfig{Path: path}, KEKRing{Current: other, Previous: [][]byte{testKEK()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	got, err := s3.Session(ctx, a.BTID)
	if err != nil {
		t.Fatalf("rotated KEK: %v", err)
	}
	sameSession(t, got, a)
}

func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bsf.db")
	s, err := OpenSQLiteStore(ctx, SQLiteConfig{Path: path, Synchronous: "full"}, KEKRing{Current: testKEK()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := testSession(t, 9, time.Now(), time.Hour)
	if err := s.CreateSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTestSQLite(t, path, nil)
	got, err := s2.Session(ctx, a.BTID)
	if err != nil {
		t.Fatal(err)
	}
	sameSession(t, got, a)
}

func TestMemoryChallenges(t *testing.T) {
	ctx := context.Background()
	clock := newClock(testEpoch())
	m := NewMemoryChallenges(2, clock.Now)
	p := func(n string) PendingChallenge { return PendingChallenge{Nonce: n, IMPI: "u@x"} }
	if err := m.PutChallenge(ctx, p("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.PutChallenge(ctx, p("a"), time.Minute); !errors.Is(err, ErrChallengeExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := m.PutChallenge(ctx, p("b"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.PutChallenge(ctx, p("c"), time.Minute); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("full table: %v, want ErrOverloaded", err)
	}
	got, err := m.TakeChallenge(ctx, "a")
	if err != nil || got.Nonce != "a" {
		t.Fatalf("take: %v %v", got, err)
	}
	if _, err := m.TakeChallenge(ctx, "a"); !errors.Is(err, ErrChallengeNotFound) {
		t.Fatalf("second take: %v, want ErrChallengeNotFound (single use)", err)
	}
	clock.Advance(time.Minute)
	if _, err := m.TakeChallenge(ctx, "b"); !errors.Is(err, ErrChallengeNotFound) {
		t.Fatalf("expired take: %v", err)
	}
	// Expired entries make room.
	if err := m.PutChallenge(ctx, p("d"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.PutChallenge(ctx, p("e"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 2 {
		t.Errorf("Len = %d, want 2", m.Len())
	}
}

// TestMemoryStoreFootprint measures the heap cost of one session in MemoryStore with
// 1,000,000 sessions (target about 1 KiB). It needs about 400 MB and runs only with
// BSF_MEMTEST=1:
//
//	BSF_MEMTEST=1 go test -run TestMemoryStoreFootprint -v ./bsf/
func TestMemoryStoreFootprint(t *testing.T) {
	if os.Getenv("BSF_MEMTEST") == "" || testing.Short() {
		t.Skip("set BSF_MEMTEST=1 to measure 1,000,000 sessions")
	}
	const n = 1_000_000
	now := time.Now()
	ks, _ := gba.NewKey(bytes.Repeat([]byte{1}, 32))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewMemoryStore(func() time.Time { return now })
	var rnd [16]byte
	for i := range n {
		binary.BigEndian.PutUint64(rnd[:8], uint64(i)*0x9e3779b97f4a7c15)
		binary.BigEndian.PutUint64(rnd[8:], uint64(i))
		k, _ := gba.NewKey(append(ks.Bytes()[:24], rnd[:8]...))
		err := s.CreateSession(context.Background(), Session{
			BTID:    gba.BTID{RAND: rnd, Domain: "bsf.mnc001.mcc001.pub.3gppnetwork.org"},
			IMPI:    fmt.Sprintf("%015d@ims.mnc001.mcc001.3gppnetwork.org", 1010000000000+i),
			Ks:      k,
			Created: now, Expires: now.Add(24 * time.Hour),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("MemoryStore: %.0f bytes per session with %d sessions (heap %d MiB)", per, n, (after.HeapAlloc-before.HeapAlloc)>>20)
	if per > 1024 {
		t.Errorf("%.0f bytes per session, target ≤ 1024", per)
	}
	runtime.KeepAlive(s)
}
