package hsssim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// crashChildEnv makes TestSQNCrashChild run as the child of TestSQNSurvivesKill.
const crashChildEnv = "HSSSIM_SQN_CRASH_CHILD_DB"

// crashSQN is the scheme of the crash test: small blocks so that a run spans many.
func crashSQNConfig() SQNConfig { return SQNConfig{INDBits: 5, BlockSize: 50, Delta: DefaultDelta} }

func crashIMPIs() []string {
	return []string{testSub(1).IMPI, testSub(2).IMPI, testSub(3).IMPI}
}

// TestSQNCrashChild is the child process: it issues SQNs for three IMPIs from several
// goroutines forever and writes "SQN <impi> <hex>" to stdout after each one is issued.
func TestSQNCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("helper process of TestSQNSurvivesKill")
	}
	ctx := context.Background()
	st, err := OpenSQLiteStore(ctx, StoreConfig{Backend: BackendSQLite, Path: path}, crashSQNConfig(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1_000_000; i++ { // bounded in case the parent dies
				impi := crashIMPIs()[(i+w)%3]
				ad, err := st.NextSQN(ctx, impi)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				_, _ = fmt.Fprintf(os.Stdout, "SQN %s %x\n", impi, ad.SQN) // unbuffered write
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

// runCrashChild starts the child on path, reads until it has reported n SQNs, SIGKILLs it
// and returns every SQN it reported (including lines still in the pipe).
func runCrashChild(t *testing.T, path string, n int) map[string][]uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSQNCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := map[string][]uint64{}
	count, killed := 0, false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "SQN" {
			continue
		}
		v, err := strconv.ParseUint(f[2], 16, 64)
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		got[f[1]] = append(got[f[1]], v)
		count++
		if count == n && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code, no Close
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d SQNs without being killed: %v", count, err)
	}
	if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); ok && !ws.Signaled() {
		t.Fatalf("child was not killed by a signal: %v", err)
	}
	return got
}

// TestSQNSurvivesKill: after kill -9 and a restart on the same database the HSS never
// issues a SQN it issued before, and skips at most one block per restart.
func TestSQNSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hss.db")
	st, err := OpenSQLiteStore(ctx, StoreConfig{Backend: BackendSQLite, Path: path}, crashSQNConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := st.Create(ctx, testSub(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	run1 := runCrashChild(t, path, 1200)
	run2 := runCrashChild(t, path, 600)

	st, err = OpenSQLiteStore(ctx, StoreConfig{Backend: BackendSQLite, Path: path}, crashSQNConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A provisioning update right after the crash, before any vector, must not lose the
	// reservation that protects the numbers issued before the kill.
	if _, err := st.Update(ctx, crashIMPIs()[0], func(s *Subscriber) error { s.AMF = [2]byte{0x12, 0x34}; return nil }); err != nil {
		t.Fatal(err)
	}
	run3 := map[string][]uint64{}
	for _, impi := range crashIMPIs() {
		for i := 0; i < 20; i++ {
			ad, err := st.NextSQN(ctx, impi)
			if err != nil {
				t.Fatal(err)
			}
			run3[impi] = append(run3[impi], ad.SQN)
		}
	}

	for _, impi := range crashIMPIs() {
		runs := [][]uint64{run1[impi], run2[impi], run3[impi]}
		seen := map[uint64]int{}
		for r, sqns := range runs {
			if len(sqns) == 0 {
				t.Fatalf("run %d issued nothing for %s", r+1, impi)
			}
			for _, v := range sqns {
				if prev, dup := seen[v]; dup {
					t.Fatalf("%s: SQN %x issued in run %d and again in run %d", impi, v, prev+1, r+1)
				}
				seen[v] = r
			}
		}
		for r := 1; r < len(runs); r++ {
			maxPrev := slicesMax(runs[r-1])
			minNext := slicesMin(runs[r])
			if minNext <= maxPrev {
				t.Fatalf("%s: run %d starts at %x, not above run %d's maximum %x", impi, r+1, minNext, r, maxPrev)
			}
			// At most the rest of one block (plus vectors issued but not yet reported when
			// the kill arrived) is skipped.
			if skip := crashSQNConfig().SEQ(minNext) - crashSQNConfig().SEQ(maxPrev); skip > crashSQNConfig().BlockSize+1 {
				t.Fatalf("%s: restart %d skipped %d SEQ values, more than one block of %d", impi, r, skip, crashSQNConfig().BlockSize)
			}
		}
	}
}

func slicesMax(v []uint64) uint64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func slicesMin(v []uint64) uint64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "hss.db")
	cfg := StoreConfig{Backend: BackendSQLite, Path: path}
	st, err := OpenSQLiteStore(ctx, cfg, DefaultSQNConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := testSub(9)
	s.GUSS = `<guss id="x"><bsfInfo><uiccType>GBA</uiccType><lifeTime>3600</lifeTime></bsfInfo></guss>`
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("database mode %v is readable by others", fi.Mode().Perm())
	}
	st, err = OpenSQLiteStore(ctx, cfg, DefaultSQNConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Get(ctx, s.IMPI)
	if err != nil {
		t.Fatal(err)
	}
	if got.K != s.K || got.OPc != s.OPc || got.GUSS != s.GUSS || got.IMPUs[0] != s.IMPUs[0] {
		t.Fatal("record changed across reopen")
	}
	var mode string
	if err := st.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
}

func TestSQLiteBadPath(t *testing.T) {
	_, err := OpenSQLiteStore(context.Background(), StoreConfig{Backend: BackendSQLite, Path: "x?mode=memory"}, DefaultSQNConfig(), nil)
	if err == nil {
		t.Fatal("accepted a path with a query")
	}
}
