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
	"sync"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
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

// syncBuffer is a bytes.Buffer safe for the concurrent writes of loggers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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
