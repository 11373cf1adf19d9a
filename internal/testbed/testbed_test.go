package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/internal/testlog"
	"github.com/opengba/opengba/ue"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // no route table on stdout
	os.Exit(m.Run())
}

// start starts a testbed for t with its logs in w (if not nil) and closes it at the end.
func start(t *testing.T, o Options, w *syncWriter) *Testbed {
	t.Helper()
	if w != nil {
		o.Logger = slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tb
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantLadder is the message sequence of a first bootstrap and enrolment (TS 24.109 Annex A
// for Ub, §5.2 for Ua; TS 29.109 §4.2 Zh, §5.2 Zn), as "from>to interface label-prefix".
var wantLadder = []string{
	"UE>BSF Ub GET /",
	"BSF>HSS Zh MAR",
	"HSS>BSF Zh MAA 2001",
	"BSF>UE Ub 401",
	"UE>BSF Ub GET /",
	"BSF>UE Ub 200",
	"UE>MEF Ua POST /m2m/enrolment",
	"MEF>UE Ua 401",
	"UE>MEF Ua POST /m2m/enrolment",
	"MEF>BSF Zn BIR",
	"BSF>MEF Zn BIA 2001",
	"MEF>MAF MAF POST /maf/v1/keys",
	"MAF>MEF MAF 201",
	"MEF>UE Ua 200",
}

func messages(l *Ladder) []string {
	var out []string
	for _, s := range l.Steps {
		if !s.Note() {
			out = append(out, fmt.Sprintf("%s>%s %s %s", s.From, s.To, s.Interface, s.Label))
		}
	}
	return out
}

func TestRunDeviceLadder(t *testing.T) {
	var logs syncWriter
	tb := start(t, Options{}, &logs)
	demo := tb.Demo()
	if len(demo) != 1 || demo[0].IMPI != IMPI(1) {
		t.Fatalf("Demo() = %v, want one subscriber %s", demo, IMPI(1))
	}
	res, err := tb.RunDevice(ctxT(t), demo[0], RunOptions{Ladder: true})
	if err != nil {
		t.Fatalf("RunDevice: %v", err)
	}
	if !res.SameKmr || res.Kmr.IsZero() || !res.Kmr.Equal(res.MAF.Kmr) {
		t.Fatalf("SameKmr = %v, UE %s, MAF %s", res.SameKmr, res.Kmr.Fingerprint(), res.MAF.Kmr.Fingerprint())
	}
	if res.Enrolment.KmrID != res.Bootstrap.BTID || res.MAF.KmrID != res.Bootstrap.BTID {
		t.Errorf("Kmr-ID %q / MAF %q, want the B-TID %q", res.Enrolment.KmrID, res.MAF.KmrID, res.Bootstrap.BTID)
	}
	if !strings.HasSuffix(res.Bootstrap.BTID, "@"+BSFDomain) {
		t.Errorf("B-TID %q not in realm %s (TS 33.220 §4.5.2)", res.Bootstrap.BTID, BSFDomain)
	}
	if res.Enrolment.NodeID == "" || res.MAF.NodeID != res.Enrolment.NodeID {
		t.Errorf("Node-ID %q at the UE, %q at the MAF", res.Enrolment.NodeID, res.MAF.NodeID)
	}

	got := messages(res.Ladder)
	i := 0
	for _, g := range got {
		if i < len(wantLadder) && strings.HasPrefix(g, wantLadder[i]) {
			i++
		}
	}
	if i != len(wantLadder) || len(got) != len(wantLadder) {
		t.Fatalf("ladder messages:\n  %s\nwant, in order:\n  %s", strings.Join(got, "\n  "), strings.Join(wantLadder, "\n  "))
	}
	for j := 1; j < len(res.Ladder.Steps); j++ {
		if res.Ladder.Steps[j].At < res.Ladder.Steps[j-1].At {
			t.Errorf("step %d at %v before step %d at %v", j, res.Ladder.Steps[j].At, j-1, res.Ladder.Steps[j-1].At)
		}
	}
	// The same Ks_NAF travels in the BIA, to the MAF, and is the UE's Kmr.
	var keys []string
	for _, s := range res.Ladder.Steps {
		for _, f := range s.Fields {
			if strings.Contains(f.Name, "Ks_NAF") || f.Name == "kmr" {
				keys = append(keys, f.Key.Fingerprint())
			}
		}
	}
	if len(keys) != 3 {
		t.Fatalf("Ks_NAF/Kmr fields: %v, want 3 (UE note, BIA, MAF provisioning)", keys)
	}
	for _, k := range keys {
		if k != res.Kmr.Fingerprint() {
			t.Errorf("ladder key %s, UE Kmr %s", k, res.Kmr.Fingerprint())
		}
	}

	// No key in the nodes' logs (debug level), nor in any printing of the result.
	printed := fmt.Sprintf("%v %+v %#v %s", res, *res, res.Ladder, res.Kmr)
	for name, k := range map[string]Secret{"Kmr": res.Kmr, "Ks": res.Ks, "K": NewSecret(demo[0].K.Bytes()), "OPc": NewSecret(demo[0].OPc.Bytes())} {
		for _, enc := range []string{k.Hex(), strings.ToUpper(k.Hex())} {
			if strings.Contains(logs.String(), enc) {
				t.Errorf("%s appears in the logs", name)
			}
			if strings.Contains(printed, enc) {
				t.Errorf("%s appears in the printed result", name)
			}
		}
	}
	if !strings.Contains(logs.String(), `"node":"bsf"`) {
		t.Errorf("logs carry no node attribute; the logger was not handed down")
	}
}

func TestRestartKeepsSessions(t *testing.T) {
	tb := start(t, Options{}, nil)
	ctx := ctxT(t)
	sub := tb.Demo()[0]
	c, err := tb.NewUE(sub, UEOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	// The BSF's SQLite session store outlives the process (TS 33.220 §4.5.2: the B-TID
	// stays valid for the key lifetime).
	if err := tb.Restart(ctx, NodeBSF); err != nil {
		t.Fatalf("Restart BSF: %v", err)
	}
	enr, err := c.Enrol(ctx, tb.EnrolmentURL())
	if err != nil {
		t.Fatalf("Enrol after BSF restart: %v", err)
	}
	if enr.KmrID != b.BTID {
		t.Errorf("Kmr-ID %q, want the pre-restart B-TID %q", enr.KmrID, b.BTID)
	}

	// HSS down: Ub answers an error; HSS back: the HSS's durable SQN keeps the next AV fresh.
	if err := tb.Stop(NodeHSS); err != nil {
		t.Fatalf("Stop HSS: %v", err)
	}
	if tb.Running(NodeHSS) {
		t.Fatal("HSS still running after Stop")
	}
	if _, err := tb.Subscribers(ctx, 1, 1); !errors.Is(err, ErrNodeStopped) {
		t.Errorf("Subscribers with the HSS down: %v, want ErrNodeStopped", err)
	}
	if _, err := c.Bootstrap(ctx); err == nil {
		t.Error("Bootstrap succeeded with the HSS stopped")
	}
	if err := tb.Stop(NodeHSS); !errors.Is(err, ErrNodeStopped) {
		t.Errorf("second Stop: %v, want ErrNodeStopped", err)
	}
	if err := tb.Restart(ctx, NodeHSS); err != nil {
		t.Fatalf("Restart HSS: %v", err)
	}
	if _, err := c.Bootstrap(ctx); err != nil {
		t.Fatalf("Bootstrap after HSS restart: %v", err)
	}
	for _, n := range []Node{NodeMAF, NodeMEF} {
		if err := tb.Restart(ctx, n); err != nil {
			t.Fatalf("Restart %s: %v", n, err)
		}
	}
	res, err := tb.RunDevice(ctx, sub, RunOptions{})
	if err != nil || !res.SameKmr {
		t.Fatalf("RunDevice after restarts: %v", err)
	}
	if err := tb.Stop("nope"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Stop(nope) = %v, want ErrUnknownNode", err)
	}
}

func TestKeptDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx := ctxT(t)
	tb1, err := Start(ctx, Options{DataDir: dir, DemoSubscribers: 2})
	if err != nil {
		t.Fatal(err)
	}
	first := tb1.Demo()
	tok := tb1.Tokens()
	res1, err := tb1.RunDevice(ctx, first[0], RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb1.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"hss.db", "bsf.db", "mef.db", "maf.db", secretsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("data directory lacks %s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, secretsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode: %v %v, want 0600", fi, err)
	}

	tb2 := start(t, Options{DataDir: dir, DemoSubscribers: 2}, nil)
	again := tb2.Demo()
	if len(again) != 2 || !again[0].K.Equal(first[0].K) || !again[1].OPc.Equal(first[1].OPc) {
		t.Fatal("the demo subscribers changed across restarts of a kept data directory")
	}
	if tb2.Tokens() != tok {
		t.Error("the tokens changed across restarts of a kept data directory")
	}
	// The MAF still opens the Kmr sealed by the first run (same KEK).
	got, err := tb2.LookupKmr(ctx, res1.Enrolment.KmrID)
	if err != nil || !got.Kmr.Equal(res1.Kmr) {
		t.Fatalf("LookupKmr of the first run's Kmr: %v (same key %v)", err, got.Kmr.Equal(res1.Kmr))
	}
	res2, err := tb2.RunDevice(ctx, again[0], RunOptions{})
	if err != nil || !res2.SameKmr {
		t.Fatalf("RunDevice on the reopened data directory: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	ctx := ctxT(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(ctx, Options{DataDir: filepath.Join(file, "data")})
	if err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("Start with a data directory under a file: %v, want a data directory error", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	_, err = Start(ctx, Options{DataDir: dir, Listen: Listen{BSFUb: ln.Addr().String()}})
	if err == nil || !strings.Contains(err.Error(), "BSF") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start with the Ub port taken: %v, want an error naming the BSF and the port", err)
	}
	// Everything started before the failure was stopped: the same directory starts again.
	tb, err := Start(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatalf("Start after a failed Start: %v", err)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(dir, secretsFile), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, Options{DataDir: dir}); err == nil || !strings.Contains(err.Error(), secretsFile) {
		t.Errorf("Start with a bad secrets file: %v", err)
	}
}

func TestTemporaryDataDirRemoved(t *testing.T) {
	tb, err := Start(ctxT(t), Options{DemoSubscribers: -1})
	if err != nil {
		t.Fatal(err)
	}
	dir := tb.DataDir()
	if len(tb.Demo()) != 0 {
		t.Errorf("Demo() = %d subscribers, want none", len(tb.Demo()))
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data directory %s still there: %v", dir, err)
	}
	if err := tb.Stop(NodeBSF); !errors.Is(err, ErrClosed) {
		t.Errorf("Stop after Close: %v, want ErrClosed", err)
	}
}

func TestLoad(t *testing.T) {
	tb := start(t, Options{DemoSubscribers: -1}, nil)
	var reports int
	rep, err := tb.Load(ctxT(t), LoadOptions{Devices: 40, Concurrency: 8, VerifyMAF: true, ProgressInterval: time.Millisecond,
		Progress: func(LoadProgress) { reports++ }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Succeeded != 40 || rep.Failed != 0 || len(rep.Errors) != 0 {
		t.Fatalf("report: %d succeeded, %d failed, errors %v %v", rep.Succeeded, rep.Failed, rep.Errors, rep.ErrorSamples)
	}
	if rep.Provisioned != 40 || rep.Throughput <= 0 || reports == 0 {
		t.Errorf("provisioned %d, throughput %v, %d progress reports", rep.Provisioned, rep.Throughput, reports)
	}
	for name, l := range map[string]Latency{"bootstrap": rep.Bootstrap, "enrolment": rep.Enrolment, "total": rep.Total} {
		if l.N != 40 || l.P50 <= 0 || l.P50 > l.P95 || l.P95 > l.P99 || l.P99 > l.Max {
			t.Errorf("%s latency %+v not ordered", name, l)
		}
	}
	// A second run over the same subscribers provisions nothing new.
	rep, err = tb.Load(ctxT(t), LoadOptions{Devices: 10, Concurrency: 4})
	if err != nil || rep.Provisioned != 0 || rep.Failed != 0 {
		t.Fatalf("second load: %v, provisioned %d, failed %d", err, rep.Provisioned, rep.Failed)
	}

	// With the MEF down every enrolment fails and is counted by kind.
	if err := tb.Stop(NodeMEF); err != nil {
		t.Fatal(err)
	}
	rep, err = tb.Load(ctxT(t), LoadOptions{Devices: 5, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 5 || rep.Errors["enrolment: connection error"] != 5 {
		t.Errorf("with the MEF down: failed %d, errors %v", rep.Failed, rep.Errors)
	}
	if _, err := tb.Load(ctxT(t), LoadOptions{}); err == nil {
		t.Error("Load with no devices succeeded")
	}
}

func TestLatency(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := latency(d)
	want := Latency{N: 100, Mean: 50500 * time.Microsecond, P50: 50 * time.Millisecond, P95: 95 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if l != want {
		t.Errorf("latency = %+v, want %+v", l, want)
	}
	if l := latency(nil); l != (Latency{}) {
		t.Errorf("latency(nil) = %+v", l)
	}
	if l := latency([]time.Duration{7}); l.P50 != 7 || l.P99 != 7 {
		t.Errorf("latency of one sample = %+v", l)
	}
}

func TestErrorKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&ue.StatusError{Op: "ub", StatusCode: 503}, "HTTP 503"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "cancelled"},
		{fmt.Errorf("%w: %w", ue.ErrAuthRejected, &ue.StatusError{Op: "ub", StatusCode: 403}), "HTTP 403"},
		{ue.ErrServerAuthFailed, "server authentication failed"},
		{ue.ErrResyncFailed, "re-synchronisation failed"},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, "connection error"},
		{errors.New("something"), "other"},
	} {
		if got := ErrorKind(c.err); got != c.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestSecretRedacts(t *testing.T) {
	s := NewSecret([]byte{0xde, 0xad, 0xbe, 0xef, 0x01})
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "k", s, "f", Field{Name: "k", Key: s})
	j, _ := json.Marshal(map[string]any{"k": s, "f": Field{Key: s}})
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s %x %X %q %d", s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", Field{Key: s}, Exchange{RequestFields: []Field{{Key: s}}}, []Secret{s}),
		logs.String(), string(j),
	} {
		if strings.Contains(strings.ToLower(out), "deadbeef") || strings.Contains(out, "3q2+7w") {
			t.Errorf("secret leaked: %s", out)
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("no %s in %s", redacted, out)
		}
	}
	if s.Hex() != "deadbeef01" || s.Len() != 5 {
		t.Errorf("Hex() = %q", s.Hex())
	}
	if fp := s.Fingerprint(); !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+8 {
		t.Errorf("Fingerprint() = %q", fp)
	}
	if !s.Equal(NewSecret([]byte{0xde, 0xad, 0xbe, 0xef, 0x01})) || s.Equal(NewSecret([]byte{1})) || s.Equal(Secret{}) || !(Secret{}).Equal(NewSecret(nil)) {
		t.Error("Equal is wrong")
	}
	if sec, err := loadSecrets(t.TempDir(), bytes.NewReader(bytes.Repeat([]byte{0xab}, 200))); err != nil {
		t.Fatal(err)
	} else if got := fmt.Sprintf("%v %+v %#v", sec, sec, sec); strings.Contains(got, "abab") || strings.Contains(got, "q6ur") {
		t.Errorf("secrets printed: %s", got)
	}
}

// syncWriter collects the output of concurrent writers.
type syncWriter = testlog.Buffer

func TestRunDeviceFailureLadder(t *testing.T) {
	tb := start(t, Options{}, nil)
	ctx := ctxT(t)
	if err := tb.Stop(NodeMAF); err != nil {
		t.Fatal(err)
	}
	res, err := tb.RunDevice(ctx, tb.Demo()[0], RunOptions{Ladder: true})
	if err == nil {
		t.Fatal("RunDevice succeeded with the MAF stopped")
	}
	if res == nil || res.Ladder == nil || res.Bootstrap == nil {
		t.Fatalf("no partial result: %+v", res)
	}
	got := messages(res.Ladder)
	// The bootstrap and Zn went through; the MEF could not provision the MAF (no MAF
	// exchange) and refused the enrolment.
	if len(got) != len(wantLadder)-2 || !strings.HasPrefix(got[len(got)-1], "MEF>UE Ua 503") {
		t.Fatalf("partial ladder:\n  %s", strings.Join(got, "\n  "))
	}
	if res.SameKmr {
		t.Error("SameKmr set on a failed run")
	}
	if err := tb.Restart(ctx, NodeMAF); err != nil {
		t.Fatal(err)
	}
	if res, err := tb.RunDevice(ctx, tb.Demo()[0], RunOptions{Ladder: true}); err != nil || len(messages(res.Ladder)) != len(wantLadder) {
		t.Fatalf("after the MAF restart: %v", err)
	}
}
