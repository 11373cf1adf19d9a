package bsf

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killHelperEnv makes the test binary act as the SIGKILL victim (see TestMain).
const killHelperEnv = "BSF_KILL_HELPER_DB"

// runKillHelper opens the SQLite store named by killHelperEnv and creates sessions forever,
// printing "ack <i>" after each CreateSession returned, exactly as the BSF sends a 200
// only after the commit.
func runKillHelper() int {
	ctx := context.Background()
	s, err := OpenSQLiteStore(ctx, SQLiteConfig{Path: os.Getenv(killHelperEnv), Synchronous: os.Getenv("BSF_KILL_HELPER_SYNC")},
		KEKRing{Current: testKEK()}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	now := time.Now()
	for i := 0; ; i++ {
		if err := s.CreateSession(ctx, testSession(nopTB{}, i, now, time.Hour)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", i); err != nil {
			return 1
		}
	}
}

// nopTB lets testSession run outside a test.
type nopTB struct{ testing.TB }

func (nopTB) Helper()           {}
func (nopTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// TestSQLiteSurvivesSIGKILL re-executes the test binary as a child that creates sessions,
// kills it with SIGKILL once it acknowledged N, reopens the database and finds all N.
func TestSQLiteSurvivesSIGKILL(t *testing.T) {
	for _, sync := range []string{"normal", "full"} {
		t.Run("synchronous="+sync, func(t *testing.T) {
			const n = 200
			path := filepath.Join(t.TempDir(), "bsf.db")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), killHelperEnv+"="+path, "BSF_KILL_HELPER_SYNC="+sync)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			last := -1
			for last < n-1 && sc.Scan() {
				i, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack "))
				if err != nil {
					t.Fatalf("helper said %q", sc.Text())
				}
				last = i
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if last < n-1 {
				t.Fatalf("helper acknowledged only %d sessions", last+1)
			}
			s := openTestSQLite(t, path, nil)
			now := time.Now()
			for i := 0; i <= last; i++ {
				want := testSession(t, i, now, time.Hour)
				got, err := s.Session(context.Background(), want.BTID)
				if err != nil {
					t.Fatalf("acknowledged session %d lost after kill -9: %v", i, err)
				}
				if !got.Ks.Equal(want.Ks) {
					t.Fatalf("session %d has another Ks", i)
				}
			}
			t.Logf("%d acknowledged sessions survived kill -9", last+1)
		})
	}
}
