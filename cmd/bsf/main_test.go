package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
	"github.com/opengba/opengba/internal/testlog"
)

func TestRunCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("store:\n  backend: memory\nub:\n  domain: bsf.home1.net\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("store:\n  backend: memory\nub:\n  algorithm: MD5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-check", "-config", good}, 0, "configuration ok"},
		{[]string{"-check", "-config", bad}, 2, "ub.algorithm"},
		{[]string{"-check", "-config", good, "-log-level", "loud"}, 2, "log.level"},
		{[]string{"-check", "-config", good, "-ub-listen", "nohostport"}, 2, "ub.listen"},
		{[]string{"-check"}, 2, "store.kek"}, // defaults: SQLite needs a key-encryption key
		{[]string{"-check", "-config", filepath.Join(dir, "missing.yaml")}, 2, "missing.yaml"},
		{[]string{"-bogus"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if code := run(tt.args, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run(%q) = %d, %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}

// syncBuffer collects the output of concurrent writers.
type syncBuffer = testlog.Buffer

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// readyz returns the status of GET /readyz, or 0 when the ops listener does not answer.
func readyz(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls url until it answers want (the BSF has no readiness event to wait on
// from outside: /readyz is that signal).
func waitStatus(t *testing.T, url string, want int, done <-chan int) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for readyz(url) != want {
		select {
		case <-deadline:
			t.Fatalf("%s never answered %d", url, want)
		case code := <-done:
			t.Fatalf("run exited with %d", code)
		case <-tick.C:
		}
	}
}

// TestRunServes runs the command against a Zh server on 127.0.0.1 that starts only after the
// BSF: /readyz flips from 503 to 200 once the HSS is up; a NAF connects over Zn; cancelling
// the context (what SIGTERM does) stops the BSF, which sends a DPR to the NAF and to the HSS
// (RFC 6733 §5.4) and exits 0.
func TestRunServes(t *testing.T) {
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	hssAddr, ubAddr, opsAddr, znAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`store:
  backend: memory
ub:
  listen: %q
  domain: bsf.home1.net
ops:
  listen: %q
zh:
  timeout: 1s
  peers:
    - address: %q
      host: hss.home1.net
zn:
  listen_tcp: [%q]
  nafs:
    naf.home1.net:
      fqdns: [naf.home1.net]
`, ubAddr, opsAddr, hssAddr, znAddr)
	path := filepath.Join(t.TempDir(), "bsf.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, []string{"-config", path}, &stderr) }()
	url := "http://" + opsAddr + "/readyz"
	waitStatus(t, url, http.StatusServiceUnavailable, done)
	// The compose healthcheck: /readyz 503 (no HSS yet) is unhealthy, with one line.
	var hc bytes.Buffer
	if code := runContext(ctx, []string{"healthcheck", url, "--timeout", "5s"}, &hc); code != 1 ||
		!strings.HasPrefix(hc.String(), "bsf: healthcheck: unhealthy: GET "+url+": 503 Service Unavailable") || strings.Count(hc.String(), "\n") != 1 {
		t.Fatalf("healthcheck before the HSS is up: %d %q", code, hc.String())
	}

	// The HSS comes up: a Zh server on the configured address.
	var hssLog syncBuffer
	hss, err := peer.NewServer(peer.ServerConfig{
		Identity:     peer.Identity{OriginHost: "hss.home1.net", OriginRealm: "home1.net", ProductName: "test HSS"},
		Applications: []peer.Application{{ID: diameter.AppIDZh, VendorID: diameter.VendorID3GPP}},
		Dictionary:   d,
		Logger:       slog.New(slog.NewTextHandler(&hssLog, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", hssAddr)
	if err != nil {
		t.Fatal(err)
	}
	hctx, hcancel := context.WithCancel(context.Background())
	defer hcancel()
	go func() { _ = hss.Serve(hctx, ln) }()
	defer hss.Close()
	waitStatus(t, url, http.StatusOK, done)
	hc.Reset()
	if code := runContext(ctx, []string{"healthcheck", url}, &hc); code != 0 || hc.Len() != 0 {
		t.Fatalf("healthcheck with the HSS up: %d %q", code, hc.String())
	}

	// A NAF connects over Zn.
	var nafLog syncBuffer
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	naf, err := peer.Connect(cctx, peer.ClientConfig{
		Identity:     peer.Identity{OriginHost: "naf.home1.net", OriginRealm: "home1.net", ProductName: "test NAF"},
		Applications: []peer.Application{{ID: diameter.AppIDZn, VendorID: diameter.VendorID3GPP}},
		Servers:      []string{znAddr},
		Dictionary:   d,
		Logger:       slog.New(slog.NewTextHandler(&nafLog, nil)),
		BackoffMin:   time.Hour, // no reconnection after the BSF leaves
	})
	if err != nil {
		t.Fatalf("NAF cannot connect over Zn: %v", err)
	}
	defer naf.Close()

	cancel() // SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	for name, log := range map[string]*syncBuffer{"HSS": &hssLog, "NAF": &nafLog} {
		if !strings.Contains(log.String(), "DPR received") {
			t.Errorf("the %s got no DPR:\n%s", name, log.String())
		}
	}
	if !strings.Contains(stderr.String(), "bsf stopped") {
		t.Errorf("no clean stop in the log:\n%s", stderr.String())
	}
}

func TestRunZnFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("store:\n  backend: memory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := run([]string{"-check", "-config", good, "-zn-tls-cert", filepath.Join(dir, "missing.pem"), "-zn-tls-key", filepath.Join(dir, "missing.key")}, &stderr); code != 2 || !strings.Contains(stderr.String(), "missing.pem") {
		t.Errorf("missing TLS files: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-check", "-config", good, "-zn-tls-ca", "ca.pem"}, &stderr); code != 2 {
		t.Errorf("CA without certificate: %d %q", code, stderr.String())
	}
}

// TestRunPrecedence: zn.open, zn.tls and zh.tls come from the file, and a flag given on the
// command line overrides the file, also to an empty value or false (defaults < file < flags).
func TestRunPrecedence(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const base = "store:\n  backend: memory\n"
	znTLS := write("zn.yaml", base+"zn:\n  tls:\n    cert_file: "+missing+"\n    key_file: "+missing+"\n")
	zhTLS := write("zh.yaml", base+"zh:\n  tls:\n    ca_file: "+missing+"\n")
	// The started cases listen on ephemeral ports only: the default Zn port may be taken by a
	// parallel test binary.
	const anyPort = "  listen_tcp: [\"127.0.0.1:0\"]\n"
	open := write("open.yaml", base+"zn:\n  open: true\n  nafs: {}\n"+anyPort)
	closed := write("closed.yaml", base+"zn:\n  nafs: {}\n"+anyPort)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-check", "-config", znTLS}, 2, "zn.tls.cert_file"},
		{[]string{"-check", "-config", znTLS, "-zn-tls-cert=", "-zn-tls-key="}, 0, "configuration ok"},
		{[]string{"-check", "-config", znTLS, "-zn-tls-key="}, 2, "zn.tls.key_file"},
		{[]string{"-check", "-config", zhTLS}, 2, "zh.tls.ca_file"},
		{[]string{"-check", "-config", zhTLS, "-zh-tls-ca", ""}, 0, "configuration ok"},
		{[]string{"-check", "-config", closed, "-zh-tls-ca", missing}, 2, "missing.pem"},
		{[]string{"-check", "-config", closed, "-zh-tls-cert", missing}, 2, "zh.tls.key_file"},
		{[]string{"-check", "-config", closed, "extra"}, 2, `unexpected argument "extra"`},
	} {
		var stderr bytes.Buffer
		if code := run(tc.args, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run(%q) = %d, %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
	// zn.open: without NAFs the Zn server only starts when open (file, or flag over file).
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-config", open}, true},
		{[]string{"-config", open, "-zn-open=false"}, false},
		{[]string{"-config", closed}, false},
		{[]string{"-config", closed, "-zn-open"}, true},
	} {
		var stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		args := append([]string{"-ub-listen", "127.0.0.1:0", "-ops-listen", "127.0.0.1:0"}, tc.args...)
		done := make(chan int, 1)
		go func() { done <- runContext(ctx, args, &stderr) }()
		if tc.ok {
			// Started (Zn, then Ub serving): it stops cleanly when cancelled.
			waitLog(t, &stderr, `"msg":"bsf serving"`, done)
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("%q: exit %d: %s", tc.args, code, stderr.String())
			}
		} else if code := <-done; code != 1 || !strings.Contains(stderr.String(), "zn.nafs") {
			t.Errorf("%q: exit %d, want 1 naming zn.nafs: %s", tc.args, code, stderr.String())
		}
		cancel()
	}
}

// waitLog polls the log until it contains want (the BSF's readiness event seen from outside).
func waitLog(t *testing.T, log *syncBuffer, want string, done <-chan int) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(log.String(), want) {
		select {
		case <-deadline:
			t.Fatalf("log never showed %s:\n%s", want, log.String())
		case code := <-done:
			t.Fatalf("run exited with %d:\n%s", code, log.String())
		case <-tick.C:
		}
	}
}
