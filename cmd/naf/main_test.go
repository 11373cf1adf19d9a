package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opengba/opengba/internal/testlog"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/mef"
	"github.com/opengba/opengba/naf/naftest"
	"github.com/opengba/opengba/naf/service"
)

const example = "../../naf/naf.example.yaml"

// syncBuffer collects the output of concurrent writers.
type syncBuffer = testlog.Buffer

func testEnv(t *testing.T, extra map[string]string) (env, *syncBuffer, *syncBuffer) {
	dir := t.TempDir()
	vars := map[string]string{
		"MAF_KEK":        base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
		"MAF_MEF_TOKEN":  "mef-token-0123456789abcdef",
		"MAF_CSE_TOKEN":  "cse-token-0123456789abcdef",
		"MEF_DB":         filepath.Join(dir, "mef.db"),
		"MAF_DB":         filepath.Join(dir, "maf.db"),
		"NAF_OPS_LISTEN": "127.0.0.1:0",
		"MEF_LISTEN":     "127.0.0.1:0",
		"MAF_LISTEN":     "127.0.0.1:0",
	}
	for k, v := range extra {
		vars[k] = v
	}
	out, errOut := &syncBuffer{}, &syncBuffer{}
	return env{
		stdout: out, stderr: errOut,
		lookup:       func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		newKeySource: newKeySource,
	}, out, errOut
}

func TestCheckConfig(t *testing.T) {
	e, out, _ := testEnv(t, nil)
	if code := run(t.Context(), []string{"check-config", "--config", example}, e); code != exitOK || !strings.Contains(out.String(), "role both") {
		t.Fatalf("code %d, out %q", code, out.String())
	}
	e, _, errOut := testEnv(t, nil)
	if code := run(t.Context(), []string{"check-config", "--config", example, "--role", "naf"}, e); code != exitUsage || !strings.Contains(errOut.String(), "role") {
		t.Fatalf("bad role: code %d, %q", code, errOut.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("role: both\nmef:\n  lisen: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, _, errOut = testEnv(t, nil)
	if code := run(t.Context(), []string{"check-config", "--config", bad}, e); code != exitUsage || !strings.Contains(errOut.String(), "lisen") {
		t.Fatalf("unknown key: code %d, %q", code, errOut.String())
	}
	e, _, errOut = testEnv(t, nil)
	if code := run(t.Context(), []string{"frobnicate"}, e); code != exitUsage || !strings.Contains(errOut.String(), "usage") {
		t.Fatalf("unknown command: %d", code)
	}
}

func TestRegistrationCLI(t *testing.T) {
	e, out, errOut := testEnv(t, nil)
	ctx := t.Context()
	args := func(a ...string) []string { return append(a, "--config", example) }
	if code := run(ctx, args("registration", "put", "--impi", "user1_private@home1.net", "--subscription", "sub-7",
		"--cse-id", "/cse-7", "--expires", "2030-01-01T00:00:00Z"), e); code != exitOK {
		t.Fatalf("put: %d %s", code, errOut.String())
	}
	var r mef.Registration
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil || r.SubscriptionID != "sub-7" || r.CSEID != "/cse-7" || r.Expires.Year() != 2030 {
		t.Fatalf("put output %q: %v", out.String(), err)
	}
	e2, out2, _ := testEnv(t, nil)
	e2.lookup = e.lookup // same database files
	if code := run(ctx, args("registration", "list"), e2); code != exitOK || !strings.Contains(out2.String(), "user1_private@home1.net") {
		t.Fatalf("list: %d %q", code, out2.String())
	}
	e3, _, errOut3 := testEnv(t, nil)
	e3.lookup = e.lookup
	if code := run(ctx, args("registration", "put", "--impi", "x@y", "--subscription", "s", "--cse-id", "nope"), e3); code != exitUsage || !strings.Contains(errOut3.String(), "cse_id") {
		t.Fatalf("bad cse-id: %d %q", code, errOut3.String())
	}
	e4, _, errOut4 := testEnv(t, nil)
	e4.lookup = e.lookup
	if code := run(ctx, args("registration", "delete", "--impi", "user1_private@home1.net"), e4); code != exitOK {
		t.Fatalf("delete: %d %s", code, errOut4.String())
	}
	e5, _, _ := testEnv(t, nil)
	e5.lookup = e.lookup
	if code := run(ctx, args("registration", "get", "--impi", "user1_private@home1.net"), e5); code != exitFailure {
		t.Fatalf("get after delete: %d", code)
	}
	e6, out6, _ := testEnv(t, nil)
	e6.lookup = e.lookup
	if code := run(ctx, args("enrolment", "list"), e6); code != exitOK || strings.TrimSpace(out6.String()) != "[]" {
		t.Fatalf("enrolment list: %d %q", code, out6.String())
	}
}

func serveUntilReady(t *testing.T, e env, args []string) (*service.Service, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan *service.Service, 1)
	e.ready = func(s *service.Service) { readyc <- s }
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, e) }()
	select {
	case s := <-readyc:
		return s, func() int { cancel(); return <-done }
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d before it was ready", code)
	}
	return nil, nil
}

func TestServeMAFRole(t *testing.T) {
	e, _, errOut := testEnv(t, nil)
	svc, stop := serveUntilReady(t, e, []string{"--config", example, "--role", "maf"})
	resp, err := http.Get("http://" + svc.Addr("ops") + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "maf_store") {
		t.Fatalf("readyz %d %s", resp.StatusCode, b)
	}
	if svc.Addr("mef") != "" {
		t.Error("role maf listens for the MEF")
	}
	// The compose healthcheck: 0 on /readyz 200, 1 with one line on a 404.
	he, hout, herr := testEnv(t, nil)
	if code := run(t.Context(), []string{"healthcheck", "http://" + svc.Addr("ops") + "/readyz", "--timeout", "5s"}, he); code != exitOK || hout.String() != "" || herr.String() != "" {
		t.Fatalf("healthcheck /readyz: %d %q %q", code, hout.String(), herr.String())
	}
	he, _, herr = testEnv(t, nil)
	if code := run(t.Context(), []string{"healthcheck", "http://" + svc.Addr("ops") + "/nope"}, he); code != 1 ||
		!strings.HasPrefix(herr.String(), "naf: healthcheck: unhealthy: GET ") || !strings.Contains(herr.String(), "404 Not Found") || strings.Count(herr.String(), "\n") != 1 {
		t.Fatalf("healthcheck of a 404: %d %q", code, herr.String())
	}
	he, _, herr = testEnv(t, nil)
	if code := run(t.Context(), []string{"healthcheck"}, he); code != exitUsage || !strings.Contains(herr.String(), "usage") {
		t.Fatalf("healthcheck without URL: %d %q", code, herr.String())
	}
	resp, err = http.Get("http://" + svc.Addr("ops") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "go_goroutines") {
		t.Error("/metrics lacks the Go collector")
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rec map[string]any
	first := strings.SplitN(errOut.String(), "\n", 2)[0]
	if err := json.Unmarshal([]byte(first), &rec); err != nil || rec["service"] != "naf" {
		t.Errorf("logs are not slog JSON: %q", first)
	}
}

// TestServeBothWithKeySource runs the whole process with a fake BSF in place of Zn.
func TestServeBothWithKeySource(t *testing.T) {
	bsf := naftest.NewFakeBSF(nil)
	e, _, errOut := testEnv(t, map[string]string{"NAF_LOG_LEVEL": "debug"})
	e.newKeySource = func(context.Context, service.Config, *naf.Metrics, *slog.Logger) (naf.KeySource, func(), error) {
		return bsf, nil, nil
	}
	svc, stop := serveUntilReady(t, e, []string{"serve", "--config", example})
	if svc.Addr("mef") == "" || svc.Addr("maf") == "" {
		t.Fatal("role both must listen for MEF and MAF")
	}
	resp, err := http.Post("http://"+svc.Addr("mef")+mef.EnrolmentPath, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `realm="3GPP-bootstrapping@mef.sp.example"`) {
		t.Fatalf("challenge: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}
