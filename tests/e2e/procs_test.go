package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries builds cmd/bsf and cmd/hss-sim once per run, with `go build` into a temporary
// directory (removed by TestMain).
type binaries struct {
	once   sync.Once
	dir    string
	bsf    string
	hssSim string
	err    error
}

// get returns the paths of the bsf and hss-sim binaries, building them on first use.
func (b *binaries) get(t *testing.T) (bsfBin, hssBin string) {
	t.Helper()
	b.once.Do(func() {
		start := time.Now()
		defer func() {
			t.Logf("go build of cmd/bsf and cmd/hss-sim (race %v): %v", raceEnabled, time.Since(start).Round(time.Millisecond))
		}()
		goBin, err := exec.LookPath("go")
		if err != nil {
			b.err = fmt.Errorf("go toolchain not on PATH: %w", err)
			return
		}
		if b.dir, err = os.MkdirTemp("", "opengba-e2e-bin-"); err != nil {
			b.err = err
			return
		}
		args := []string{"build", "-o", b.dir + string(filepath.Separator)}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/opengba/opengba/cmd/bsf", "github.com/opengba/opengba/cmd/hss-sim")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
			return
		}
		b.bsf, b.hssSim = filepath.Join(b.dir, "bsf"), filepath.Join(b.dir, "hss-sim")
	})
	if b.err != nil {
		t.Fatalf("build binaries: %v", b.err)
	}
	return b.bsf, b.hssSim
}

// freePort returns a loopback address with a port the kernel just handed out and released.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// process is a node run as an operating-system process; its stdout and stderr go into the
// suite's log sink and into out.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *lineLog
	done chan struct{}
	err  error
}

func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, out: newLineLog(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "TZ=UTC")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait() // returns once the output is copied
		p.out.flush()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	return p
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process (and the copying of its output) to end.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not exit after SIGKILL", p.name)
	}
}

// waitJSON waits for a JSON log record whose "msg" is msg and returns it.
func (p *process) waitJSON(t *testing.T, timeout time.Duration, from int, msg string) (map[string]any, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var rec map[string]any
	_, i, err := p.out.waitLine(ctx, from, func(line string) bool {
		rec = nil
		return json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg
	})
	if err != nil {
		t.Fatalf("%s: no %q log record (%v; exited: %v %v):\n%s", p.name, msg, err, p.exited(), p.err, p.out)
	}
	return rec, i
}

// waitHTTP polls url until it answers want.
func waitHTTP(t *testing.T, p *process, timeout time.Duration, url string, want int) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	eventually(t, timeout, p.name+" "+url, func() (bool, string) {
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.out)
		}
		resp, err := hc.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == want, fmt.Sprintf("status %d", resp.StatusCode)
	})
}

// writeFile writes a configuration file into dir.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// hssProc is the hss-sim binary with a SQLite store.
type hssProc struct {
	*process
	cfgPath string
	zhAddr  string
	token   string
	api     hssAPI
}

// startHSSProc runs `hss-sim serve` with a SQLite store in dir, Zh on zhAddr ("" picks one
// and keeps it for restarts of the same hssProc) and the provisioning API on a free port.
func startHSSProc(t *testing.T, name, dir, zhAddr string) *hssProc {
	t.Helper()
	if zhAddr == "" {
		zhAddr = freePort(t)
	}
	token := strings.TrimRight(newKEK(), "=")
	cfg := fmt.Sprintf(`store:
  backend: sqlite
  path: %q
provisioning:
  listen: "127.0.0.1:0"
  token: %q
diameter:
  listen_tcp: [%q]
  origin_host: %s
  origin_realm: %s
  open: true
log:
  level: debug
`, filepath.Join(dir, "hss.db"), token, zhAddr, e2eHSS, e2eRealm)
	h := &hssProc{cfgPath: writeFile(t, dir, "hss-sim.yaml", cfg), zhAddr: zhAddr, token: token}
	h.run(t, name)
	return h
}

// run starts (or restarts) the process with the same configuration and waits until both
// listeners are up.
func (h *hssProc) run(t *testing.T, name string) {
	t.Helper()
	_, bin := suite.bins.get(t)
	h.process = startProcess(t, name, bin, "serve", "--config", h.cfgPath)
	rec, _ := h.waitJSON(t, 30*time.Second, 0, "provisioning API listening")
	api, _ := rec["addr"].(string)
	h.api = hssAPI{url: "http://" + api, token: h.token}
	zh, _ := h.waitJSON(t, 30*time.Second, 0, "Zh Diameter listening")
	if got, _ := zh["addr"].(string); got != h.zhAddr {
		t.Fatalf("hss-sim Zh on %q, want %q", got, h.zhAddr)
	}
}

// bsfProc is the bsf binary with a SQLite store.
type bsfProc struct {
	*process
	cfgPath          string
	ubURL, opsURL    string
	znAddr           string
	kek              string
	domain, nafFQDN  string
	originHost, name string
}

// startBSFProc runs the bsf binary with a SQLite store in dir, towards the HSS at hssZh,
// authorising the NAF e2eNAF for the FQDN e2eNAF.
func startBSFProc(t *testing.T, name, dir, hssZh string) *bsfProc {
	t.Helper()
	return startBSFProcWith(t, bsfProcSpec{name: name, dir: dir, hssZh: hssZh})
}

// bsfProcSpec varies the bsf process: its Origin-Host, and a Redis session store (with
// its KEK and key prefix) instead of SQLite.
type bsfProcSpec struct {
	name, dir, hssZh string
	originHost       string // default bsf.e2e.opengba.test
	redisAddr        string // "": SQLite in dir
	redisPrefix, kek string
}

func startBSFProcWith(t *testing.T, s bsfProcSpec) *bsfProc {
	t.Helper()
	name, dir, hssZh := s.name, s.dir, s.hssZh
	b := &bsfProc{
		ubURL: "http://" + freePort(t) + "/", opsURL: "http://" + freePort(t), znAddr: freePort(t),
		kek: s.kek, domain: e2eDomain, nafFQDN: e2eNAF, originHost: s.originHost, name: name,
	}
	if b.kek == "" {
		b.kek = newKEK()
	}
	if b.originHost == "" {
		b.originHost = "bsf.e2e.opengba.test"
	}
	store := fmt.Sprintf("  sqlite:\n    path: %q\n", filepath.Join(dir, "bsf.db"))
	backend := "sqlite"
	if s.redisAddr != "" {
		backend = "redis"
		store = fmt.Sprintf("  redis:\n    addrs: [%q]\n    key_prefix: %q\n", s.redisAddr, s.redisPrefix)
	}
	cfg := fmt.Sprintf(`ub:
  listen: %q
  domain: %s
store:
  backend: %s
  kek: %q
%szh:
  origin_host: %s
  origin_realm: %s
  destination_realm: %s
  peers:
    - address: %q
      host: %s
      transport: tcp
      priority: 1
zn:
  listen_tcp: [%q]
  origin_host: %s
  origin_realm: %s
  nafs:
    %s:
      fqdns: [%s]
      group: m2m
      impi: on_request
ops:
  listen: %q
log:
  level: debug
`, strings.TrimSuffix(strings.TrimPrefix(b.ubURL, "http://"), "/"), b.domain, backend, b.kek, store,
		b.originHost, e2eRealm, e2eRealm, hssZh, e2eHSS,
		b.znAddr, b.originHost, e2eRealm, e2eNAF, e2eNAF,
		strings.TrimPrefix(b.opsURL, "http://"))
	b.cfgPath = writeFile(t, dir, "bsf.yaml", cfg)
	b.run(t)
	return b
}

// run starts (or restarts) the BSF and waits until Zn listens and /readyz says the HSS
// link is up.
func (b *bsfProc) run(t *testing.T) {
	t.Helper()
	bin, _ := suite.bins.get(t)
	b.process = startProcess(t, b.name, bin, "-config", b.cfgPath)
	b.waitJSON(t, 30*time.Second, 0, "zn listening")
	waitHTTP(t, b.process, 30*time.Second, b.opsURL+"/readyz", http.StatusOK)
}

// redisProc is a redis-server on a free loopback port, without persistence.
type redisProc struct {
	*process
	addr string
}

// startRedis runs redis-server, or skips the test when it is not installed.
func startRedis(t *testing.T) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("e2e: redis-server is not on PATH; install redis-server to run the two-BSF Redis test")
	}
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	p := startProcess(t, "redis", bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--dir", t.TempDir())
	eventually(t, 15*time.Second, "redis PING", func() (bool, string) {
		if p.exited() {
			t.Fatalf("redis-server exited: %v\n%s", p.err, p.out)
		}
		return redisPing(addr)
	})
	return &redisProc{process: p, addr: addr}
}

func redisPing(addr string) (bool, string) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false, err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false, err.Error()
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return false, err.Error()
	}
	return strings.HasPrefix(line, "+PONG"), strings.TrimSpace(line)
}
