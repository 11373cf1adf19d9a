package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/ue"
	"github.com/opengba/opengba/ue/uetest"
)

// TS 35.208 set 1 (specs/vectors/ts35208.json) and the derived values of
// specs/vectors/ts33220.json.
const (
	set1K    = "465b5ce8b199b49faa5f0a2ee238a6bc"
	set1OPc  = "cd63cb71954a9f4e48a5994e37a02baf"
	set1OP   = "cdc202d5123e20f62b6d676ac72cb318"
	set1RAND = "23553cbe9637a89d218ae64dae47bf35"
	set1Ks   = "b40ba9a3c58b2a05bbf0d987b21bf8cb" + "f769bcd751044604127672711c6d3441" // CK || IK
	set1BTID = "I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net"
	set1NAF  = "d4bcc1d30ed5b3f92db5ced018cb02aa117e8a2cd253235679570a94c5db2428" // naf.home1.net
	impi     = "user1_private@home1.net"
)

// world is the in-process network the CLI runs against.
type world struct {
	t     *testing.T
	net   *uetest.Network
	clock *uetest.Clock
	bsf   *uetest.BSF
	naf   *uetest.NAF
	envs  map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, net: uetest.NewNetwork(), clock: uetest.NewClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)), envs: map[string]string{}}
	t.Cleanup(w.net.Close)
	k, _ := ue.ParseKey128(set1K)
	opc, _ := ue.ParseKey128(set1OPc)
	rnd, _ := hex.DecodeString(set1RAND)
	w.bsf = uetest.NewBSF("bsf.home1.net")
	w.bsf.Now = w.clock.Now
	w.bsf.Rand = uetest.RepeatReader(rnd)
	if err := w.bsf.AddSubscriber(impi, k, opc); err != nil {
		t.Fatal(err)
	}
	w.net.Handle("bsf.home1.net", w.bsf)
	w.naf = uetest.NewNAF("naf.home1.net", w.bsf.NAFKey, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id, _ := uetest.IdentityFrom(r.Context())
		rw.Header().Set("Content-Type", "text/plain")
		_, _ = rw.Write([]byte("hello " + id.BTID + " " + r.Method))
	}))
	w.net.Handle("naf.home1.net", w.naf)
	w.net.Handle("mef.home1.net", uetest.NewNAF("mef.home1.net", w.bsf.NAFKey, uetest.EnrolmentHandler(func(id uetest.Identity) ue.EnrolmentResponse {
		return ue.EnrolmentResponse{NodeID: "urn:oid:2.999.7", INCSEID: "/in-cse", MAFID: "maf.home1.net", KmrID: id.BTID, KmrExpires: id.Expires}
	})))
	return w
}

type result struct {
	code           int
	stdout, stderr string
}

func (w *world) run(args ...string) result {
	w.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env{
		stdout:     &out,
		stderr:     &errb,
		lookup:     func(k string) (string, bool) { v, ok := w.envs[k]; return v, ok },
		httpClient: w.net.Client(),
		now:        w.clock.Now,
	})
	return result{code, out.String(), errb.String()}
}

var identity = []string{"--impi", impi, "--k", set1K, "--opc", set1OPc}

func args(cmd string, extra ...string) []string {
	return append(append([]string{cmd, "--bsf", "http://bsf.home1.net"}, identity...), extra...)
}

func TestBootstrapHuman(t *testing.T) {
	w := newWorld(t)
	r := w.run(args("bootstrap", "--naf", "naf.home1.net")...)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"Ub    401  challenge", "AKAv1-MD5", "Ub    200  bootstrapped", "B-TID    " + set1BTID,
		"expires  2025-06-01T13:00:00Z (in 1h0m0s)", "Ks       REDACTED (use --show-keys)", "Ks_NAF   REDACTED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, set1Ks[:16]) || strings.Contains(r.stdout, set1NAF[:16]) {
		t.Error("key printed without --show-keys")
	}
}

func TestBootstrapJSON(t *testing.T) {
	w := newWorld(t)
	r := w.run(args("bootstrap", "--json", "--show-keys", "--naf", "naf.home1.net")...)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var out struct {
		Steps []struct {
			Step   string
			Status int
		}
		BTID, Ks string
		KsNAF    string `json:"ks_naf"`
		Expires  time.Time
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if out.BTID != set1BTID || out.Ks != set1Ks || out.KsNAF != set1NAF {
		t.Errorf("json %+v", out)
	}
	if len(out.Steps) != 2 || out.Steps[0].Step != "ub-challenge" || out.Steps[0].Status != 401 || out.Steps[1].Status != 200 {
		t.Errorf("steps %+v", out.Steps)
	}
	// Without --show-keys the JSON carries no key at all.
	r = w.run(args("bootstrap", "--json")...)
	if strings.Contains(r.stdout, `"ks"`) || strings.Contains(r.stdout, set1Ks[:16]) {
		t.Errorf("key in JSON without --show-keys:\n%s", r.stdout)
	}
}

func TestIdentitySources(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()

	// Environment only, OP instead of OPc.
	w.envs = map[string]string{"GBA_IMPI": impi, "GBA_K": set1K, "GBA_OP": set1OP, "GBA_BSF": "http://bsf.home1.net"}
	if r := w.run("bootstrap"); r.code != exitOK {
		t.Fatalf("env: exit %d: %s", r.code, r.stderr)
	}

	// Profile with ${VAR} expansion; the environment overrides it, flags override both.
	prof := filepath.Join(dir, "ue.yaml")
	writeFile(t, prof, "impi: "+impi+"\nk: ${MY_K}\nopc: "+set1OPc+"\nbsf: http://bsf.home1.net\n")
	w.envs = map[string]string{"MY_K": set1K}
	if r := w.run("bootstrap", "--profile", prof); r.code != exitOK {
		t.Fatalf("profile: exit %d: %s", r.code, r.stderr)
	}
	w.envs["GBA_K"] = strings.Repeat("0", 32) // wrong K from the environment
	if r := w.run("bootstrap", "--profile", prof); r.code != exitAuth {
		t.Fatalf("env over profile: exit %d, want %d (MAC failure)", r.code, exitAuth)
	}
	if r := w.run("bootstrap", "--profile", prof, "--k", set1K); r.code != exitOK {
		t.Fatalf("flag over env: exit %d: %s", r.code, r.stderr)
	}

	// Strict profile: unknown keys are an error.
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "impi: "+impi+"\nkey: "+set1K+"\n")
	r := w.run("bootstrap", "--profile", bad)
	if r.code != exitUsage || !strings.Contains(r.stderr, "key") || strings.Contains(r.stderr, set1K) {
		t.Fatalf("unknown key: exit %d: %s", r.code, r.stderr)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestUsageErrors(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no-command", nil, "Usage"},
		{"unknown-command", []string{"frobnicate"}, "unknown command"},
		{"bad-flag", []string{"bootstrap", "--nope"}, "nope"},
		{"no-bsf", append([]string{"bootstrap"}, identity...), "no BSF"},
		{"no-k", []string{"bootstrap", "--bsf", "http://bsf.home1.net", "--impi", impi, "--opc", set1OPc}, "no K"},
		{"bad-k", args("bootstrap", "--k", "zz"+set1K[2:]), "K:"},
		{"opc-and-op", args("bootstrap", "--op", set1OP), "not both"},
		{"no-mef", args("enrol"), "no MEF"},
		{"get-no-url", args("get"), "exactly one NAF URL"},
		{"get-bad-url", args("get", "naf.home1.net"), "http or https"},
		{"bad-bsf", append([]string{"bootstrap", "--bsf", "bsf.home1.net"}, identity...), "BSF must be"},
		{"store-no-key", args("bootstrap", "--store", "/tmp/x"), "GBA_STORE_KEY"},
		{"bad-ua-id", args("bootstrap", "--ua-id", "01"), "ua-id"},
	} {
		r := w.run(tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%s: exit %d, stderr %q; want %d containing %q", tc.name, r.code, r.stderr, exitUsage, tc.msg)
		}
		if strings.Contains(r.stderr, "zz"+set1K[2:10]) {
			t.Errorf("%s: key echoed", tc.name)
		}
	}
	r := w.run("help")
	if r.code != exitOK || !strings.Contains(r.stdout, "Exit status") || !strings.Contains(r.stdout, "3  network error") {
		t.Errorf("help: exit %d\n%s", r.code, r.stdout)
	}
}

func TestExitCodes(t *testing.T) {
	t.Run("network", func(t *testing.T) {
		w := newWorld(t)
		r := w.run(append([]string{"bootstrap", "--bsf", "http://nowhere.home1.net"}, identity...)...)
		if r.code != exitNetwork {
			t.Fatalf("exit %d, want %d: %s", r.code, exitNetwork, r.stderr)
		}
	})
	t.Run("auth", func(t *testing.T) {
		w := newWorld(t)
		w.bsf.SetFaults(uetest.Faults{RspAuth: uetest.RspAuthWrong})
		r := w.run(args("bootstrap", "--json")...)
		if r.code != exitAuth || !strings.Contains(r.stdout, `"exit_code": 4`) || !strings.Contains(r.stderr, "rspauth") {
			t.Fatalf("exit %d, want %d:\n%s\n%s", r.code, exitAuth, r.stdout, r.stderr)
		}
	})
	t.Run("protocol", func(t *testing.T) {
		w := newWorld(t)
		w.bsf.SetFaults(uetest.Faults{Body: []byte("<html/>")})
		if r := w.run(args("bootstrap")...); r.code != exitProtocol {
			t.Fatalf("exit %d, want %d: %s", r.code, exitProtocol, r.stderr)
		}
	})
	t.Run("http-5xx", func(t *testing.T) {
		w := newWorld(t)
		w.net.Handle("down.home1.net", http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			http.Error(rw, "down", http.StatusBadGateway)
		}))
		r := w.run(append([]string{"bootstrap", "--bsf", "http://down.home1.net"}, identity...)...)
		if r.code != exitNetwork {
			t.Fatalf("exit %d, want %d: %s", r.code, exitNetwork, r.stderr)
		}
	})
}

func TestEnrol(t *testing.T) {
	w := newWorld(t)
	r := w.run(args("enrol", "--mef", "http://mef.home1.net")...)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"Ua    401  challenge", "Ub    401  challenge", "Ub    200  bootstrapped", "Ua    200  authenticated",
		"MEF   200  enrolled", "Node-ID  urn:oid:2.999.7", "Kmr-ID   " + set1BTID, "Kmr      REDACTED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = w.run(args("enrol", "--mef", "http://mef.home1.net", "--json", "--show-keys")...)
	var out struct {
		NodeID string `json:"node_id"`
		KmrID  string `json:"kmr_id"`
		Kmr    string `json:"kmr"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != exitOK {
		t.Fatalf("exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	want, err := w.bsf.NAFKey(set1BTID, "mef.home1.net", ue.UaIDHTTPDigest)
	if err != nil {
		t.Fatal(err)
	}
	if out.NodeID != "urn:oid:2.999.7" || out.KmrID != set1BTID || out.Kmr != hex.EncodeToString(want.KsNAF.Bytes()) {
		t.Errorf("json %+v", out)
	}
}

func TestGet(t *testing.T) {
	w := newWorld(t)
	r := w.run(args("get", "http://naf.home1.net/hello", "-X", "POST", "-d", "payload")...)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stdout != "hello "+set1BTID+" POST" {
		t.Errorf("stdout %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "Ua    401  challenge") || !strings.Contains(r.stderr, "HTTP  200") {
		t.Errorf("stderr lacks the steps:\n%s", r.stderr)
	}
}

// TestSQNState: the SQN array is saved between runs, so a challenge with an old SQN
// needs a re-synchronisation in the next run.
func TestSQNState(t *testing.T) {
	w := newWorld(t)
	state := filepath.Join(t.TempDir(), "sqn.bin")
	if err := w.bsf.SetSEQ(impi, 100); err != nil {
		t.Fatal(err)
	}
	if r := w.run(args("bootstrap", "--sqn-state", state)...); r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if err := w.bsf.SetSEQ(impi, 0); err != nil {
		t.Fatal(err)
	}
	r := w.run(args("bootstrap", "--sqn-state", state)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "re-synchronised") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := w.bsf.Stats().Resyncs; n != 1 {
		t.Errorf("resyncs %d, want 1", n)
	}
	writeFile(t, state, "garbage")
	if r := w.run(args("bootstrap", "--sqn-state", state)...); r.code != exitInternal {
		t.Errorf("corrupt state: exit %d, want %d", r.code, exitInternal)
	}
}

// TestStore: with --store the bootstrap is reused by the next run until it expires.
func TestStore(t *testing.T) {
	w := newWorld(t)
	w.envs["GBA_STORE_KEY"] = strings.Repeat("ab", 32)
	store := filepath.Join(t.TempDir(), "bootstrap.json")
	for i := 0; i < 2; i++ {
		if r := w.run(args("get", "http://naf.home1.net/", "--store", store)...); r.code != exitOK {
			t.Fatalf("run %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	if n := w.bsf.Stats().Bootstraps; n != 1 {
		t.Errorf("bootstraps %d, want 1 (second run reuses the store)", n)
	}
	w.clock.Advance(2 * time.Hour)
	if r := w.run(args("get", "http://naf.home1.net/", "--store", store)...); r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if n := w.bsf.Stats().Bootstraps; n != 2 {
		t.Errorf("bootstraps %d, want 2 after expiry", n)
	}
}
