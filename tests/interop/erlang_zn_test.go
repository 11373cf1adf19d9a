package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testlog"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/naftest"
)

// znErlDir holds the independent Zn server: zn_bsf.escript and its dictionary zn.dia.
const znErlDir = "erlang_zn"

// znErlRequire skips the test unless escript and erl are on PATH and OTP's diameter
// application loads (Debian: erlang-base and erlang-diameter).
func znErlRequire(t *testing.T) (escript string) {
	t.Helper()
	escript, err := exec.LookPath("escript")
	if err != nil {
		t.Skip("interop: escript is not on PATH; install Erlang/OTP (Debian: apt-get install erlang-base erlang-diameter) to run the Erlang Zn interop test")
	}
	erl, err := exec.LookPath("erl")
	if err != nil {
		t.Skip("interop: erl is not on PATH; install Erlang/OTP (Debian: apt-get install erlang-base erlang-diameter) to run the Erlang Zn interop test")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, erl, "-noshell", "-eval",
		`case application:load(diameter) of ok -> halt(0); {error, {already_loaded, _}} -> halt(0); _ -> halt(1) end.`).CombinedOutput()
	if err != nil {
		t.Skipf("interop: OTP's diameter application does not load (%v: %s); install erlang-diameter to run the Erlang Zn interop test", err, bytes.TrimSpace(out))
	}
	return escript
}

// znErlServer is one running zn_bsf.escript.
type znErlServer struct {
	addr   string
	lines  chan string // stdout lines after LISTENING
	stderr *znErlBuffer
}

// znErlBuffer collects the escript's stderr and the client's logs.
type znErlBuffer = testlog.Buffer

// startZnErl runs the escript with name=value args and waits for its listening port.
func startZnErl(t *testing.T, escript string, args ...string) *znErlServer {
	t.Helper()
	script, err := filepath.Abs(filepath.Join(znErlDir, "zn_bsf.escript"))
	if err != nil {
		t.Fatal(err)
	}
	dict, err := filepath.Abs(filepath.Join(znErlDir, "zn.dia"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(escript, append([]string{script, "dict=" + dict}, args...)...)
	cmd.Dir = t.TempDir()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &znErlServer{lines: make(chan string, 64), stderr: &znErlBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // the escript halts when stdin closes
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case line, ok := <-s.lines:
		port, found := strings.CutPrefix(line, "LISTENING ")
		if !ok || !found {
			t.Fatalf("escript did not start (first line %q)\nstderr:\n%s", line, s.stderr.String())
		}
		if _, err := strconv.Atoi(port); err != nil {
			t.Fatalf("escript: bad port line %q", line)
		}
		s.addr = "127.0.0.1:" + port
	case <-time.After(60 * time.Second):
		t.Fatalf("escript did not listen within 60 s\nstderr:\n%s", s.stderr.String())
	}
	return s
}

// drain returns the stdout lines printed so far (for failure messages).
func (s *znErlServer) drain() string {
	var b strings.Builder
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				return b.String()
			}
			b.WriteString(line + "\n")
		case <-time.After(100 * time.Millisecond):
			return b.String()
		}
	}
}

// next returns the rest of the next stdout line of the escript, which must start with
// prefix.
func (s *znErlServer) next(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case line, ok := <-s.lines:
		if !ok {
			t.Fatalf("escript exited before printing %q\nstderr:\n%s", prefix, s.stderr.String())
		}
		rest, found := strings.CutPrefix(line, prefix)
		if !found {
			t.Fatalf("escript printed %q, want a line starting %q", line, prefix)
		}
		return rest
	case <-time.After(10 * time.Second):
		t.Fatalf("escript printed no %q line within 10 s\nstderr:\n%s", prefix, s.stderr.String())
	}
	return ""
}

// nextBIR returns the fields of the next "BIR k=v ..." line.
func (s *znErlServer) nextBIR(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range strings.Fields(s.next(t, "BIR ")) {
		k, v, _ := strings.Cut(f, "=")
		out[k] = v
	}
	return out
}

// TestErlangZnServer runs OpenGBA's NAF Zn client (naf.ZnClient) against an independent
// Zn server written with Erlang/OTP diameter and its own dictionary (TS 29.109 §6.2):
// capabilities exchange, BIR as the Erlang codec decodes it (NAF-Id octets, P flag),
// Ks_NAF and Key-ExpiryTime of the BIA, Experimental-Result 5403/5402 mapping, DPR/DPA.
func TestErlangZnServer(t *testing.T) {
	escript := znErlRequire(t)
	v, err := naftest.Vector("TS35208/set1/gba-me/http-digest")
	if err != nil {
		t.Fatal(err)
	}
	const bsfRealm = "bsf.home1.net"
	known, err := gba.NewBTID(naftest.MustHex(v.RAND), bsfRealm)
	if err != nil {
		t.Fatal(err)
	}
	unknown, _ := gba.NewBTID(bytes.Repeat([]byte{0x55}, 16), bsfRealm)
	denied, _ := gba.NewBTID(bytes.Repeat([]byte{0x66}, 16), bsfRealm)
	expires := time.Now().Add(time.Hour).Truncate(time.Second).UTC()

	srv := startZnErl(t, escript,
		"key="+v.Key,
		"expires="+strconv.FormatInt(expires.Unix(), 10),
		"impi="+v.IMPI,
		"unknown="+unknown.String(),
		"denied="+denied.String(),
		"host=bsf.home1.net", "realm=home1.net")

	var logs znErlBuffer
	zc := naf.DefaultZnConfig()
	zc.OriginHost, zc.OriginRealm, zc.Timeout = "naf.home1.net", "home1.net", 5*time.Second
	zc.BSFs = []naf.ZnPeer{{Realm: bsfRealm, Address: srv.addr}}
	client, err := naf.NewZnClient(naf.ZnClientConfig{Zn: zc,
		Logger:     slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = client.Close()
		}
	})
	nafID, err := gba.NewNAFID(v.NAFFQDN, gba.UaIDHTTPDigest)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Note: OTP's diameter throws away every message but DWA while the RFC 3539 watchdog
	// of a new connection is still INITIAL, which it leaves asynchronously after sending
	// the CEA; a BIR sent at once can be lost. Wait for the server's peer_up first.
	if host := srv.next(t, "PEER_UP "); host != "naf.home1.net" {
		t.Fatalf("the Erlang server saw Origin-Host %q in the CER", host)
	}

	t.Run("TS35208/set1", func(t *testing.T) {
		k, err := client.KsNAF(ctx, known.String(), nafID)
		if err != nil {
			t.Fatalf("%v\nescript stderr:\n%s\nescript stdout:\n%s\nclient logs:\n%s", err, srv.stderr.String(), srv.drain(), logs.String())
		}
		if got := hex.EncodeToString(k.KsNAF.Bytes()); got != v.Key {
			t.Errorf("Ks_NAF %s, want %s", got, v.Key)
		}
		if !k.Expires.Equal(expires) {
			t.Errorf("Key-ExpiryTime %v, want %v", k.Expires, expires)
		}
		if k.IMPI != v.IMPI || k.GBAType != naf.GBAType3G {
			t.Errorf("User-Name %q, GBA-Type %v", k.IMPI, k.GBAType)
		}
		bir := srv.nextBIR(t)
		wantNAFID := hex.EncodeToString(append([]byte(v.NAFFQDN), 0x01, 0x00, 0x00, 0x00, 0x02))
		want := map[string]string{"btid": known.String(), "nafid": wantNAFID, "dest_realm": bsfRealm,
			"gbau": "0", "pir": "0", "pxy": "true", "errors": "none"}
		for f, w := range want {
			if bir[f] != w {
				t.Errorf("the Erlang server decoded %s = %q, want %q", f, bir[f], w)
			}
		}
		if !strings.HasPrefix(bir["session"], "naf.home1.net;") {
			t.Errorf("Session-Id %q", bir["session"])
		}
	})

	t.Run("5403", func(t *testing.T) {
		_, err := client.KsNAF(ctx, unknown.String(), nafID)
		if !errors.Is(err, naf.ErrBTIDUnknown) {
			t.Fatalf("unknown B-TID: %v, want ErrBTIDUnknown\nescript stderr:\n%s\nescript stdout:\n%s", err, srv.stderr.String(), srv.drain())
		}
		srv.nextBIR(t)
	})

	t.Run("5402", func(t *testing.T) {
		_, err := client.KsNAF(ctx, denied.String(), nafID)
		if !errors.Is(err, naf.ErrNotAuthorized) {
			t.Fatalf("denied: %v, want ErrNotAuthorized", err)
		}
		srv.nextBIR(t)
	})

	t.Run("DPR", func(t *testing.T) {
		closed = true
		if err := client.Close(); err != nil {
			t.Fatalf("Close: %v (no DPA from the Erlang server)", err)
		}
		if host := srv.next(t, "PEER_DOWN "); host != "naf.home1.net" {
			t.Errorf("PEER_DOWN %q", host)
		}
	})

	if strings.Contains(logs.String(), v.Key) || strings.Contains(logs.String(), v.KeyBase64) {
		t.Fatal("Ks_NAF in the client logs")
	}
}
