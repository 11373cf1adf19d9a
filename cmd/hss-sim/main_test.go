package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	hsssim "github.com/opengba/opengba/hss-sim"
)

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		// kill_test.go runs the test binary as the hss-sim binary itself.
		main()
		return
	}
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// execEnv makes the test binary run main() (see TestMain).
const execEnv = "HSS_SIM_TEST_EXEC"

const testCSV = "../../hss-sim/testdata/subscribers.csv"

func noEnv(string) (string, bool) { return "", false }

// writeConfig writes a config for a temporary database and returns its path.
func writeConfig(t *testing.T, extra string) (cfgPath, dbPath string) {
	t.Helper()
	dir := t.TempDir()
	dbPath = filepath.Join(dir, "hss.db")
	cfgPath = filepath.Join(dir, "hss-sim.yaml")
	y := fmt.Sprintf("store:\n  path: %s\ndiameter:\n  listen_tcp: [\"127.0.0.1:0\"]\nprovisioning:\n  listen: 127.0.0.1:0\n%s", dbPath, extra)
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbPath
}

func runCLI(t *testing.T, env func(string) (string, bool), args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, env)
	return code, out.String(), errb.String()
}

func TestImportAndList(t *testing.T) {
	cfg, _ := writeConfig(t, "")
	code, out, errOut := runCLI(t, noEnv, "subscribers", "import", testCSV, "--dry-run", "--config", cfg)
	if code != exitRows || !strings.Contains(out, "7 rows, would import 3, failed 4") || !strings.Contains(out, "line 5: ") {
		t.Fatalf("dry run: %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, noEnv, "subscribers", "list", "--config", cfg)
	if code != exitOK || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("list after dry run: %d %q", code, out)
	}
	code, out, _ = runCLI(t, noEnv, "subscribers", "import", "--config", cfg, testCSV)
	if code != exitRows || !strings.Contains(out, "imported 3, failed 4") {
		t.Fatalf("import: %d %q", code, out)
	}
	code, out, _ = runCLI(t, noEnv, "subscribers", "list", "--config", cfg, "--limit", "2")
	if code != exitOK || !strings.Contains(out, "quoted,impi@home1.net") || !strings.Contains(out, "more: --after user1_private@home1.net") {
		t.Fatalf("list page: %d %q", code, out)
	}
	code, out, _ = runCLI(t, noEnv, "subscribers", "list", "--config", cfg, "--limit", "1", "--all")
	if code != exitOK || !strings.Contains(out, "user2_private@home1.net") || !strings.Contains(out, "ff9bb4d0b607") || strings.Contains(out, "more:") {
		t.Fatalf("list all: %d %q", code, out)
	}
	for _, secret := range []string{"465b5ce8b199b49faa5f0a2ee238a6bc", "cd63cb71954a9f4e48a5994e37a02baf", "0396eb317b6d1c36f19c1c84cd6ffd16"} {
		if strings.Contains(out, secret) {
			t.Fatal("list prints key material")
		}
	}
	// $HSS_SIM_CONFIG and --db.
	env := func(k string) (string, bool) {
		if k == "HSS_SIM_CONFIG" {
			return cfg, true
		}
		return "", false
	}
	code, out, _ = runCLI(t, env, "subscribers", "list", "--all")
	if code != exitOK || !strings.Contains(out, "user1_private@home1.net") {
		t.Fatalf("list via env: %d %q", code, out)
	}
	other := filepath.Join(t.TempDir(), "other.db")
	code, out, _ = runCLI(t, env, "subscribers", "list", "--db", other)
	if code != exitOK || strings.Contains(out, "user1_private") {
		t.Fatalf("--db ignored: %d %q", code, out)
	}
}

// TestImportSkipExisting runs the compose lab's hss-init command twice on one database:
// the second run skips the subscriber and succeeds.
func TestImportSkipExisting(t *testing.T) {
	cfg, _ := writeConfig(t, "")
	const lab = "../../deploy/compose/subscribers.yaml"
	for i, want := range []string{"1 rows, imported 1, skipped 0 already in the store, failed 0", "1 rows, imported 0, skipped 1 already in the store, failed 0"} {
		code, out, errOut := runCLI(t, noEnv, "subscribers", "import", "--skip-existing", lab, "--config", cfg)
		if code != exitOK || !strings.Contains(out, want) {
			t.Fatalf("run %d: %d %q %q, want %q", i+1, code, out, errOut, want)
		}
	}
	// Without the flag the existing IMPI fails the row (exit 1).
	if code, out, _ := runCLI(t, noEnv, "subscribers", "import", lab, "--config", cfg); code != exitRows || !strings.Contains(out, "imported 0, failed 1") {
		t.Fatalf("without --skip-existing: %d %q", code, out)
	}
	// A dry run reports the skip too.
	if code, out, _ := runCLI(t, noEnv, "subscribers", "import", lab, "--skip-existing", "--dry-run", "--config", cfg); code != exitOK || !strings.Contains(out, "would import 0, skipped 1") {
		t.Fatalf("dry run: %d %q", code, out)
	}
}

func TestHealthcheckUsage(t *testing.T) {
	for _, args := range [][]string{{"healthcheck"}, {"healthcheck", "ftp://x/"}, {"healthcheck", "http://127.0.0.1:1/", "--timeout", "x"}} {
		if code, out, errOut := runCLI(t, noEnv, args...); code != exitFailed || out != "" || !strings.HasPrefix(errOut, "hss-sim: healthcheck: usage") {
			t.Errorf("%q: %d %q %q", args, code, out, errOut)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cfg, _ := writeConfig(t, "")
	bad, _ := writeConfig(t, "bogus: 1\n")
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"subscribers"},
		{"subscribers", "import"},
		{"subscribers", "import", testCSV, "--format", "xml", "--config", cfg},
		{"subscribers", "import", "/nonexistent.csv", "--config", cfg},
		{"subscribers", "list", "--limit", "0", "--config", cfg},
		{"subscribers", "list", "--config", bad},
		{"serve", "extra", "--config", cfg},
		{"serve", "--config", bad},
		{"serve", "--config", cfg, "--log-level", "loud"},
	} {
		if code, _, _ := runCLI(t, noEnv, args...); code != exitFailed {
			t.Errorf("%v: exit %d, want %d", args, code, exitFailed)
		}
	}
	if code, out, _ := runCLI(t, noEnv, "help"); code != exitOK || !strings.Contains(out, "subscribers import") {
		t.Fatalf("help: %d %q", code, out)
	}
}

func TestServe(t *testing.T) {
	cfg, _ := writeConfig(t, "  token: a-long-enough-test-token\n")
	if code, _, _ := runCLI(t, noEnv, "subscribers", "import", testCSV, "--config", cfg); code != exitRows {
		t.Fatalf("import exit %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan serveAddrs, 1)
	done := make(chan int, 1)
	var logs bytes.Buffer
	go func() {
		done <- cmdServe(ctx, []string{"--config", cfg, "--log-level", "info"}, &syncWriter{w: &logs}, noEnv, func(a serveAddrs) { addrc <- a })
	}()
	var addrs serveAddrs
	select {
	case addrs = <-addrc:
	case code := <-done:
		t.Fatalf("serve exited early: %d", code)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not become ready")
	}
	base := "http://" + addrs.API.String()
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz", ""); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %d %s", code, body)
	}
	// The compose healthcheck: the binary probes its own /healthz.
	if code, out, errOut := runCLI(t, noEnv, "healthcheck", base+"/healthz", "--timeout", "5s"); code != exitOK || out != "" || errOut != "" {
		t.Fatalf("healthcheck /healthz: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, noEnv, "healthcheck", base+"/v1/subscribers"); code != 1 ||
		!strings.HasPrefix(errOut, "hss-sim: healthcheck: unhealthy: GET "+base+"/v1/subscribers: 401 Unauthorized") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("healthcheck of a 401: %d %q", code, errOut)
	}
	if code, _ := get("/v1/subscribers", ""); code != http.StatusUnauthorized {
		t.Fatalf("reads are protected by default: %d", code)
	}
	if code, body := get("/v1/subscribers/user1_private@home1.net", "a-long-enough-test-token"); code != 200 || !strings.Contains(body, `"k_set":true`) {
		t.Fatalf("get: %d %s", code, body)
	}

	// Zh: one TCP listener; a raw peer does CER/CEA and MAR/MAA and must get a DPR when
	// the server stops (RFC 6733 §5.4).
	if len(addrs.Zh) != 1 || addrs.Zh[0].Transport != hsssim.TransportTCP {
		t.Fatalf("Zh listeners %v", addrs.Zh)
	}
	bsf := dialBSF(t, addrs.Zh[0].Addr.String())
	maa := bsf.mar(t, "user1_private@home1.net")
	set1 := vectorKeys(t, "TS35208/set1")
	checkAV(t, maa, set1)

	if code, body := get("/metrics", ""); code != 200 || !strings.Contains(body, "hss_subscribers 3") || !strings.Contains(body, "go_goroutines") ||
		!strings.Contains(body, `hss_zh_answers_total{command="MAR",experimental="false",result="2001"} 1`) || !strings.Contains(body, "hss_zh_peers 1") {
		t.Fatalf("metrics: %d %s", code, body)
	}
	cancel()
	bsf.expectDPR(t)
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("serve exit %d: %s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if strings.Contains(logs.String(), "user1_private@home1.net") {
		t.Fatal("IMPI logged at info level")
	}
	for _, want := range []string{`"msg":"provisioning request"`, `"msg":"Zh Diameter listening"`, addrs.Zh[0].Addr.String()} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %s: %s", want, logs.String())
		}
	}
	assertNoSecrets(t, logs.String(), set1, vectorKeys(t, "TS35207/set2"))
}

// syncWriter serialises writes from the server goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
