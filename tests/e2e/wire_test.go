package e2e

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opengba/opengba/bsf"
	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/testbed"
)

// diamMsg is one Diameter message a relay forwarded.
type diamMsg struct {
	Cmd     uint32
	Request bool
	AppID   uint32
}

// diamRelay forwards TCP between a Diameter client and its server and notes the command of
// every message (RFC 6733 §3 header: version, length, flags, code, application). The wire
// test waits on it for the watchdog exchange instead of sleeping.
type diamRelay struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	msgs     []diamMsg
	changed  chan struct{}
	conns    []net.Conn
}

func startRelay(t *testing.T, upstream string) *diamRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &diamRelay{ln: ln, upstream: upstream, changed: make(chan struct{})}
	go r.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.conns {
			_ = c.Close()
		}
	})
	return r
}

func (r *diamRelay) addr() string { return r.ln.Addr().String() }

func (r *diamRelay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", r.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, u)
		r.mu.Unlock()
		go r.pipe(u, c)
		go r.pipe(c, u)
	}
}

// pipe copies whole Diameter messages from src to dst.
func (r *diamRelay) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	hdr := make([]byte, 20)
	for {
		if _, err := io.ReadFull(src, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[0:4]) & 0xffffff)
		if n < 20 || n > 1<<20 {
			return
		}
		msg := make([]byte, n)
		copy(msg, hdr)
		if _, err := io.ReadFull(src, msg[20:]); err != nil {
			return
		}
		if _, err := dst.Write(msg); err != nil {
			return
		}
		m := diamMsg{Cmd: binary.BigEndian.Uint32(hdr[4:8]) & 0xffffff, Request: hdr[4]&0x80 != 0, AppID: binary.BigEndian.Uint32(hdr[8:12])}
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
}

// waitFor waits until n messages matching m went through.
func (r *diamRelay) waitFor(ctx context.Context, m diamMsg, n int) error {
	for {
		r.mu.Lock()
		count := 0
		for _, x := range r.msgs {
			if x.Cmd == m.Cmd && x.Request == m.Request {
				count++
			}
		}
		ch := r.changed
		r.mu.Unlock()
		if count >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("e2e: relay saw %d of %d command %d (request %v): %w", count, n, m.Cmd, m.Request, ctx.Err())
		}
	}
}

// capture is a running tshark capture on the loopback interface.
type capture struct {
	*process
	file string
}

// startCapture runs tshark on lo for the TCP ports and returns once packets are being
// written: tshark prints "Capturing on" a moment before the first packets are really
// taken, so a canary port in the filter is dialled until the capture file grows. It skips
// the test when tshark is missing or may not capture.
func startCapture(t *testing.T, ports ...string) *capture {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("e2e: tshark is not on PATH; install tshark to run the wire check")
	}
	canary, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer canary.Close()
	go func() {
		for {
			c, err := canary.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	_, cport, _ := net.SplitHostPort(canary.Addr().String())
	var f []string
	for _, p := range append(ports, cport) {
		f = append(f, "tcp port "+p)
	}
	c := &capture{file: filepath.Join(t.TempDir(), "e2e.pcapng")}
	c.process = startProcess(t, "tshark", bin, "-i", "lo", "-f", strings.Join(f, " or "), "-w", c.file, "-q")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if _, _, err := c.out.waitLine(ctx, 0, func(l string) bool { return strings.Contains(l, "Capturing on") }); err != nil {
		out := c.out.String()
		if c.exited() && (strings.Contains(out, "ermission") || strings.Contains(out, "not permitted") || strings.Contains(out, "privileges")) {
			t.Skipf("e2e: tshark may not capture on lo here: %s", strings.TrimSpace(out))
		}
		t.Fatalf("tshark did not start capturing (%v):\n%s", err, out)
	}
	size := func() int64 {
		st, err := os.Stat(c.file)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	empty := size()
	eventually(t, 20*time.Second, "tshark capturing the canary port", func() (bool, string) {
		if c.exited() {
			t.Fatalf("tshark exited: %v\n%s", c.err, c.out)
		}
		if conn, err := net.Dial("tcp", canary.Addr().String()); err == nil {
			_ = conn.Close()
		}
		n := size()
		return n > empty, fmt.Sprintf("capture file %d octets", n)
	})
	return c
}

// stop ends the capture (SIGINT, so that tshark writes out what it captured).
func (c *capture) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("tshark did not stop:\n%s", c.out)
	}
}

// wireFields are the tshark fields the wire check reads.
var wireFields = []string{
	"frame.number", "tcp.srcport", "tcp.dstport", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message",
	"diameter.cmd.code", "diameter.flags.request", "diameter.applicationId", "diameter.Auth-Application-Id",
	"diameter.Result-Code", "diameter.ME-Key-Material", "diameter.User-Name", "diameter.Transaction-Identifier",
	"http.www_authenticate", "http.authorization", "http.response.code",
}

// frame is tshark's view of one packet: field → values.
type frame map[string][]string

func (f frame) one(name string) string {
	if v := f[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// decode reads the capture with tshark, Diameter and HTTP decoded on the given ports
// (decode-as), and returns the frames that carry either.
func decode(t *testing.T, file string, diamPorts, httpPorts []string) []frame {
	t.Helper()
	args := []string{"-r", file, "-2", "-Y", "diameter || http"}
	for _, p := range diamPorts {
		args = append(args, "-d", "tcp.port=="+p+",diameter")
	}
	for _, p := range httpPorts {
		args = append(args, "-d", "tcp.port=="+p+",http")
	}
	args = append(args, "-T", "json")
	for _, f := range wireFields {
		args = append(args, "-e", f)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tshark", args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var packets []struct {
		Source struct {
			Layers frame `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(out, &packets); err != nil {
		t.Fatalf("tshark -T json: %v", err)
	}
	frames := make([]frame, len(packets))
	for i, p := range packets {
		frames[i] = p.Source.Layers
	}
	return frames
}

// severity parses a tshark expert severity (decimal or 0x…).
func severity(s string) uint64 {
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0
	}
	return v
}

// Wireshark expert severities (epan/proto.h PI_WARN, PI_ERROR).
const (
	severityWarn  = 0x00600000
	severityError = 0x00800000
)

func isTrue(s string) bool { return s == "1" || strings.EqualFold(s, "true") }

// TestWireTshark captures one bootstrap and enrolment on loopback with tshark and checks
// it with Wireshark's dissectors (an independent decoder): every Diameter message decodes
// without malformed packets or expert errors; CER/CEA, MAR/MAA, BIR/BIA and DWR/DWA occur
// with the application ids of TS 29.109 (Zh 16777221, Zn 16777220) and RFC 6733 (base 0);
// the BIA's ME-Key-Material is the Ks_NAF the UE derived; the Digest headers on Ub and Ua
// decode.
func TestWireTshark(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("e2e: tshark is not on PATH; install tshark to run the wire check")
	}
	tb := newTestbed(t)
	ctx := testCtx(t, 60*time.Second)
	s := tbSubscribers(t, tb, 1, 1)[0]
	ep := tb.Endpoints()
	relay := startRelay(t, ep.HSSZh.Addr) // the BSF reaches the HSS through it
	port := func(addr string) string {
		_, p, err := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(addr, "http://"), "/"))
		if err != nil {
			t.Fatalf("port of %q: %v", addr, err)
		}
		return p
	}
	zh, zn, ub, ua := port(relay.addr()), port(ep.BSFZn.Addr), port(ep.UbURL), port(ep.MEFAddr)
	const tw = 500 * time.Millisecond
	var c *capture
	replaceBSF(t, tb, replaceOptions{
		hssAddr:     relay.addr(),
		configure:   func(cfg *bsf.Config) { cfg.Zh.WatchdogInterval = tw },
		beforeStart: func() { c = startCapture(t, zh, zn, ub, ua) }, // CER/CEA of both links are captured
	})

	u := tbUE(t, tb, s, ueOptions{})
	enr, err := u.Enrol(ctx, tb.EnrolmentURL())
	if err != nil {
		t.Fatalf("Enrol: %v", err)
	}
	b, err := u.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	registerBootstrap(b, ep.NAFFQDN)
	suite.secrets.add("Kmr "+enr.KmrID, enr.Kmr.Bytes())
	// Tw after the last Zh message the BSF sends a DWR (RFC 3539 §3.4.1); wait for two
	// answered, so that the first is surely in the capture.
	wctx, cancel := context.WithTimeout(ctx, 10*tw+5*time.Second)
	defer cancel()
	if err := relay.waitFor(wctx, diamMsg{Cmd: diameter.CmdDeviceWatchdog, Request: false}, 2); err != nil {
		t.Fatal(err)
	}
	c.stop(t)

	frames := decode(t, c.file, []string{zh, zn}, []string{ub, ua})
	if len(frames) == 0 {
		t.Fatalf("tshark decoded nothing:\n%s", c.out)
	}
	type key struct {
		cmd     string
		request bool
	}
	want := map[key]string{ // command → application id
		{"257", true}: "0", {"257", false}: "0", // CER/CEA
		{"280", true}: "0", {"280", false}: "0", // DWR/DWA
		{"303", true}: strconv.Itoa(int(diameter.AppIDZh)), {"303", false}: strconv.Itoa(int(diameter.AppIDZh)), // MAR/MAA
		{"310", true}: strconv.Itoa(int(diameter.AppIDZn)), {"310", false}: strconv.Itoa(int(diameter.AppIDZn)), // BIR/BIA
	}
	seen := map[key]int{}
	advertised := map[string][]string{} // port of the link → Auth-Application-Id in CER/CEA
	var meKeys []string
	var uaWWW, uaAuthz, ubWWW, ubAuthz []string
	for _, f := range frames {
		num := f.one("frame.number")
		if len(f["_ws.malformed"]) > 0 {
			t.Errorf("frame %s: malformed (_ws.malformed)", num)
		}
		for i, sv := range f["_ws.expert.severity"] {
			msg := ""
			if i < len(f["_ws.expert.message"]) {
				msg = f["_ws.expert.message"][i]
			}
			switch sev := severity(sv); {
			case sev >= severityError:
				t.Errorf("frame %s: expert error: %s", num, msg)
			case sev >= severityWarn:
				t.Logf("frame %s: expert warning: %s", num, msg)
			}
		}
		src, dst := f.one("tcp.srcport"), f.one("tcp.dstport")
		link := src
		if dst == zh || dst == zn {
			link = dst
		}
		cmds, reqs, apps := f["diameter.cmd.code"], f["diameter.flags.request"], f["diameter.applicationId"]
		if len(reqs) != len(cmds) || len(apps) != len(cmds) {
			t.Errorf("frame %s: %d commands, %d R flags, %d application ids", num, len(cmds), len(reqs), len(apps))
			continue
		}
		for i, cmd := range cmds {
			k := key{cmd, isTrue(reqs[i])}
			seen[k]++
			if w, ok := want[k]; ok && apps[i] != w {
				t.Errorf("frame %s: command %s (request %v) with application id %s, want %s", num, cmd, k.request, apps[i], w)
			}
			if cmd == "257" {
				advertised[link] = append(advertised[link], f["diameter.Auth-Application-Id"]...)
			}
			if cmd == "310" && !k.request {
				meKeys = append(meKeys, f["diameter.ME-Key-Material"]...)
			}
		}
		switch {
		case src == ub:
			ubWWW = append(ubWWW, f["http.www_authenticate"]...)
		case dst == ub:
			ubAuthz = append(ubAuthz, f["http.authorization"]...)
		case src == ua:
			uaWWW = append(uaWWW, f["http.www_authenticate"]...)
		case dst == ua:
			uaAuthz = append(uaAuthz, f["http.authorization"]...)
		}
	}
	for k := range want {
		if seen[k] == 0 {
			t.Errorf("no command %s (request %v) in the capture; seen %v", k.cmd, k.request, seen)
		}
	}
	if got := advertised[zh]; len(got) < 2 || slices.ContainsFunc(got, func(s string) bool { return s != strconv.Itoa(int(diameter.AppIDZh)) }) {
		t.Errorf("Zh CER/CEA advertise Auth-Application-Id %v, want %d in both", got, diameter.AppIDZh)
	}
	if got := advertised[zn]; len(got) < 2 || slices.ContainsFunc(got, func(s string) bool { return s != strconv.Itoa(int(diameter.AppIDZn)) }) {
		t.Errorf("Zn CER/CEA advertise Auth-Application-Id %v, want %d in both", got, diameter.AppIDZn)
	}
	wantKey := hex.EncodeToString(enr.Kmr.Bytes()) // Kmr = the UE's Ks_NAF for the MEF
	if len(meKeys) != 1 || strings.ReplaceAll(meKeys[0], ":", "") != wantKey {
		t.Errorf("BIA ME-Key-Material: %d value(s), want one equal to the UE's Ks_NAF", len(meKeys))
	}
	checkDigest(t, "Ub WWW-Authenticate", ubWWW, `algorithm=AKAv1-MD5`, `qop="auth-int"`, `realm="`+testbed.BSFDomain+`"`)
	checkDigest(t, "Ub Authorization", ubAuthz, `username="`+s.IMPI+`"`, `qop=auth-int`, `uri="/"`)
	checkDigest(t, "Ua WWW-Authenticate", uaWWW, `realm="3GPP-bootstrapping@`+ep.NAFFQDN+`"`, `algorithm=MD5`)
	checkDigest(t, "Ua Authorization", uaAuthz, `username="`+enr.KmrID+`"`, `qop=auth-int`)
	t.Logf("tshark: %d frames; commands %v", len(frames), seen)
	if t.Failed() {
		for _, f := range frames {
			t.Logf("frame %s %s→%s diameter %v R %v app %v http %v%v", f.one("frame.number"), f.one("tcp.srcport"), f.one("tcp.dstport"),
				f["diameter.cmd.code"], f["diameter.flags.request"], f["diameter.applicationId"], f["http.response.code"], f["http.authorization"])
		}
		if dir := os.Getenv("E2E_PCAP_DIR"); dir != "" {
			b, _ := os.ReadFile(c.file)
			_ = os.WriteFile(filepath.Join(dir, "e2e-wire.pcapng"), b, 0o600)
		}
	}
}

// checkDigest asserts that some decoded header value is a Digest value containing every
// part.
func checkDigest(t *testing.T, what string, values []string, parts ...string) {
	t.Helper()
	for _, v := range values {
		ok := strings.HasPrefix(v, "Digest ")
		for _, p := range parts {
			ok = ok && strings.Contains(v, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("%s: no decoded value with %q among %q", what, parts, values)
}
