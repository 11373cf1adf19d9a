package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
)

// hssProcess is the hss-sim binary (this test binary re-executed through TestMain) with
// its log.
type hssProcess struct {
	cmd    *exec.Cmd
	zhAddr string
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan error
}

func (p *hssProcess) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startHSS runs "hss-sim serve --config cfg" and returns once the Zh listener is up (its
// address is read from the "Zh Diameter listening" log record).
func startHSS(t *testing.T, cfg string) *hssProcess {
	t.Helper()
	p := &hssProcess{exited: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], "serve", "--config", cfg)
	p.cmd.Env = append(os.Environ(), execEnv+"=1")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "Zh Diameter listening" {
				select {
				case addrc <- rec.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	select {
	case p.zhAddr = <-addrc:
	case err := <-p.exited:
		t.Fatalf("hss-sim exited before listening: %v\n%s", err, p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("hss-sim did not listen in time\n%s", p.logs())
	}
	return p
}

func (p *hssProcess) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.exited:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("hss-sim did not exit\n%s", p.logs())
		return nil
	}
}

// sqnLog collects the SQNs received per IMPI.
type sqnLog struct {
	mu   sync.Mutex
	sqns map[string][]uint64
}

func (l *sqnLog) add(impi string, sqn uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sqns[impi] = append(l.sqns[impi], sqn)
}

func (l *sqnLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range l.sqns {
		n += len(v)
	}
	return n
}

// load sends MARs for the IMPIs from workers goroutines over one Zh connection until
// stop is closed or a request fails (the server went away). onCount is called with the
// running total after each answer.
func load(t *testing.T, addr string, impis []string, keys testKeys, workers int, out *sqnLog, stop <-chan struct{}, onCount func(int64)) {
	t.Helper()
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := peer.Connect(ctx, peer.ClientConfig{
		Identity:     peer.Identity{OriginHost: "bsf.home1.net", OriginRealm: "home1.net", ProductName: "load"},
		Applications: []peer.Application{{ID: diameter.AppIDZh, VendorID: diameter.VendorID3GPP}},
		Servers:      []string{addr},
		Dictionary:   d,
		BackoffMin:   time.Second, BackoffMax: time.Second,
		Tunables: peer.Tunables{DisconnectTimeout: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var count atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				impi := impis[(w+i)%len(impis)]
				m, err := (&diameter.MAR{SessionID: fmt.Sprintf("bsf.home1.net;%d;%d", w, i), OriginHost: "bsf.home1.net",
					OriginRealm: "home1.net", DestinationRealm: "home1.net", IMPI: impi}).Message(d)
				if err != nil {
					t.Error(err)
					return
				}
				rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
				a, err := c.Do(rctx, m)
				rcancel()
				if err != nil {
					return // the server is gone
				}
				maa, err := diameter.DecodeMAA(a)
				if err != nil {
					t.Error(err)
					return
				}
				if maa.Err() != nil {
					t.Errorf("MAA for %s: %v", impi, maa.Err())
					return
				}
				av, err := maa.SIPAuthDataItem.AKAVector()
				if err != nil {
					t.Error(err)
					return
				}
				out.add(impi, sqnOf(t, keys, av))
				onCount(count.Add(1))
			}
		})
	}
	wg.Wait()
}

// TestSIGKILLUnderLoadNeverReusesSQN: an hss-sim with a SQLite store is SIGKILLed while
// several goroutines send MARs, restarted on the same database and loaded again; no SQN
// is ever issued twice for an IMPI (TS 33.102 §C.1.1, specs/decisions.md DS.1), every
// SQN of the second run is above every SQN of the first, and SIGTERM then stops the
// server cleanly after a DPR to its peer.
func TestSIGKILLUnderLoadNeverReusesSQN(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hss-sim processes")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL and SIGTERM")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hss-sim.yaml")
	// Small SQN blocks so that the load crosses many durable reservations.
	y := fmt.Sprintf(`store:
  path: %s
sqn:
  block_size: 8
provisioning:
  listen: 127.0.0.1:0
diameter:
  listen_tcp: ["127.0.0.1:0"]
  open: true
`, filepath.Join(dir, "hss.db"))
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	set1 := vectorKeys(t, "TS35208/set1")
	var subs strings.Builder
	subs.WriteString("subscribers:\n")
	var impis []string
	for i := range 6 {
		impi := fmt.Sprintf("kill%d@home1.net", i)
		impis = append(impis, impi)
		fmt.Fprintf(&subs, "  - {impi: %s, k: %s, opc: %s, amf: \"0000\"}\n", impi, set1.hex[0], set1.hex[2])
	}
	subsPath := filepath.Join(dir, "subs.yaml")
	if err := os.WriteFile(subsPath, []byte(subs.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, noEnv, "subscribers", "import", subsPath, "--config", cfg); code != exitOK {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}

	// Run 1: SIGKILL once 300 answers have arrived, with requests still in flight.
	run1 := &sqnLog{sqns: map[string][]uint64{}}
	p := startHSS(t, cfg)
	killed := make(chan struct{})
	var once sync.Once
	load(t, p.zhAddr, impis, set1, 8, run1, killed, func(n int64) {
		if n >= 300 {
			once.Do(func() {
				_ = p.cmd.Process.Signal(syscall.SIGKILL)
				close(killed) // the workers still waiting for answers see the connection drop
			})
		}
	})
	err := p.wait(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("run 1 did not die by SIGKILL: %v", err)
	}
	if run1.total() < 300 {
		t.Fatalf("run 1: %d answers", run1.total())
	}

	// Run 2 on the same database: 300 more answers, then SIGTERM.
	run2 := &sqnLog{sqns: map[string][]uint64{}}
	p = startHSS(t, cfg)
	stop := make(chan struct{})
	var stopOnce sync.Once
	load(t, p.zhAddr, impis, set1, 8, run2, stop, func(n int64) {
		if n >= 300 {
			stopOnce.Do(func() { close(stop) })
		}
	})
	// SIGTERM: the server sends DPR to its peers (RFC 6733 §5.4) and exits with 0.
	bsf := dialBSF(t, p.zhAddr)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	bsf.expectDPR(t)
	if err := p.wait(t); err != nil {
		t.Fatalf("run 2 exit after SIGTERM: %v\n%s", err, p.logs())
	}
	if !strings.Contains(p.logs(), `"msg":"shutting down"`) {
		t.Fatalf("no clean shutdown in the log:\n%s", p.logs())
	}
	assertNoSecrets(t, p.logs(), set1)

	for _, impi := range impis {
		a, b := run1.sqns[impi], run2.sqns[impi]
		all := append(slices.Clone(a), b...)
		slices.Sort(all)
		for i := 1; i < len(all); i++ {
			if all[i] == all[i-1] {
				t.Fatalf("%s: SQN %012x issued twice", impi, all[i])
			}
		}
		if len(a) == 0 || len(b) == 0 {
			t.Fatalf("%s: %d answers in run 1, %d in run 2", impi, len(a), len(b))
		}
		if slices.Min(b) <= slices.Max(a) {
			t.Fatalf("%s: run 2 issued %012x, not above run 1's highest %012x", impi, slices.Min(b), slices.Max(a))
		}
	}
	t.Logf("run 1: %d SQNs, run 2: %d SQNs, none repeated", run1.total(), run2.total())
}
