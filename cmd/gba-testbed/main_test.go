package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/internal/testbed"
	"github.com/opengba/opengba/internal/testlog"
	"github.com/opengba/opengba/ue"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // as main does: no route table on stdout
	os.Exit(m.Run())
}

// syncBuffer collects the output of concurrent writers.
type syncBuffer = testlog.Buffer

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var out, errb syncBuffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// ladderOrder is the sequence of message lines the one-device run must print (TS 24.109
// Annex A on Ub, §5.2 on Ua; TS 29.109 §4.2 on Zh, §5.2 on Zn; then the MAF provisioning).
var ladderOrder = []*regexp.Regexp{
	regexp.MustCompile(`\|-+>\|.*Ub +GET /$`),
	regexp.MustCompile(`\|-+>\|.*Zh +MAR \(303\)$`),
	regexp.MustCompile(`\|<-+\|.*Zh +MAA 2001 DIAMETER_SUCCESS`),
	regexp.MustCompile(`\|<-+\|.*Ub +401 Unauthorized`),
	regexp.MustCompile(`\*.*USIM +AUTHENTICATE`),
	regexp.MustCompile(`\|-+>\|.*Ub +GET /$`),
	regexp.MustCompile(`\|<-+\|.*Ub +200 OK`),
	regexp.MustCompile(`\|-+>\|.*Ua +POST /m2m/enrolment$`),
	regexp.MustCompile(`\|<-+\|.*Ua +401 Unauthorized`),
	regexp.MustCompile(`\|-+>\|.*Ua +POST /m2m/enrolment$`),
	regexp.MustCompile(`\|<-+\|.*Zn +BIR \(310\)$`),
	regexp.MustCompile(`\|-+>\|.*Zn +BIA 2001 DIAMETER_SUCCESS`),
	regexp.MustCompile(`\|-+>\|.*MAF +POST /maf/v1/keys$`),
	regexp.MustCompile(`\|<-+\|.*MAF +201 Created`),
	regexp.MustCompile(`\|<-+\|.*Ua +200 OK \(enrolment\)`),
}

func TestOneDevice(t *testing.T) {
	html := filepath.Join(t.TempDir(), "ladder.html")
	code, out, errs := runCmd(t, "--html", html, "--log-level", "debug")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !strings.Contains(out, "UE and MAF hold the same Kmr: yes") {
		t.Fatalf("no same-Kmr verdict:\n%s", out)
	}
	lines := strings.Split(out, "\n")
	i := 0
	for _, l := range lines {
		if i < len(ladderOrder) && ladderOrder[i].MatchString(l) {
			i++
		}
	}
	if i != len(ladderOrder) {
		t.Fatalf("ladder step %d (%s) missing or out of order:\n%s", i, ladderOrder[i], out)
	}
	for _, want := range []string{"Node-ID", "Kmr-ID", "Kmr expiry", "urn:oneM2M:node:", "@" + testbed.BSFDomain, "sha256:", "Ladder written to"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Without --show-keys no key is printed in hex: every 64-hex-digit run would be a key.
	if m := regexp.MustCompile(`\b[0-9a-f]{64}\b`).FindString(out); m != "" {
		t.Errorf("a 256-bit value in hex is printed without --show-keys: %s", m)
	}
	// The Kmr fingerprints of the UE and the MAF are the same.
	ue := regexp.MustCompile(`Kmr at the UE +(sha256:[0-9a-f]{8})`).FindStringSubmatch(out)
	mf := regexp.MustCompile(`Kmr at the MAF +(sha256:[0-9a-f]{8})`).FindStringSubmatch(out)
	if ue == nil || mf == nil || ue[1] != mf[1] {
		t.Errorf("Kmr fingerprints: UE %v, MAF %v", ue, mf)
	}
	b, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	checkHTML(t, b, len(ladderOrder)-1) // the USIM step is a note, not a message
}

func TestShowKeysNotInLogs(t *testing.T) {
	code, out, logs := runCmd(t, "--show-keys", "--log-level", "debug")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, logs)
	}
	keys := map[string]string{}
	for name, re := range map[string]string{
		"K": `USIM K ([0-9a-f]{32})`, "OPc": `OPc ([0-9a-f]{32})`,
		"Ks": `Ks=([0-9a-f]{64})`, "Kmr": `Kmr at the UE +([0-9a-f]{64})`,
		"CK": `CK=([0-9a-f]{32})`, "IK": `IK=([0-9a-f]{32})`, "XRES": `XRES=([0-9a-f]{8,32})`,
	} {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("--show-keys does not print %s:\n%s", name, out)
		}
		keys[name] = m[1]
	}
	if !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Fatalf("no debug logs captured:\n%s", logs)
	}
	for name, k := range keys {
		raw, _ := hex.DecodeString(k)
		for _, enc := range []string{k, strings.ToUpper(k), base64.StdEncoding.EncodeToString(raw)} {
			if strings.Contains(logs, enc) {
				t.Errorf("%s appears in the logs", name)
			}
		}
	}
}

func TestServeJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	var errb syncBuffer
	codec := make(chan int, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() {
		codec <- run(runCtx, []string{"--serve", "--json", "--show-keys"}, pw, &errb)
		_ = pw.Close()
	}()
	var doc serveDoc
	dec := json.NewDecoder(pr)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		stop()
		t.Fatalf("decode the --serve --json document: %v\nstderr:\n%s", err, errb.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	defer func() {
		stop()
		if code := <-codec; code != exitOK {
			t.Errorf("--serve exit %d\n%s", code, errb.String())
		}
		if _, err := os.Stat(doc.DataDir); !os.IsNotExist(err) {
			t.Errorf("temporary data directory %s survives: %v", doc.DataDir, err)
		}
	}()

	for name, v := range map[string]string{
		"hss.zh.address": doc.HSS.Zh.Address, "hss.zh.origin_host": doc.HSS.Zh.OriginHost, "hss.zh.origin_realm": doc.HSS.Zh.OriginRealm,
		"hss.provisioning_url": doc.HSS.ProvisioningURL, "hss.provisioning_token": doc.HSS.ProvisioningToken,
		"bsf.ub_url": doc.BSF.UbURL, "bsf.zn.address": doc.BSF.Zn.Address, "bsf.zn.origin_host": doc.BSF.Zn.OriginHost,
		"mef.url": doc.MEF.URL, "mef.naf_fqdn": doc.MEF.NAFFQDN, "mef.ua_id": doc.MEF.UaID,
		"maf.lookup_url": doc.MAF.LookupURL, "maf.lookup_token": doc.MAF.LookupToken, "gba_ue_command": doc.GBAUE,
	} {
		if v == "" {
			t.Errorf("%s is empty", name)
		}
	}
	if len(doc.Subscribers) != 1 || doc.Subscribers[0].K == "" || doc.Subscribers[0].OPc == "" {
		t.Fatalf("--show-keys: subscribers %+v", doc.Subscribers)
	}
	if fi, err := os.Stat(doc.UEProfile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("gba-ue profile %s: %v, %v", doc.UEProfile, fi, err)
	}
	for _, addr := range []string{doc.HSS.Zh.Address, doc.BSF.Zn.Address} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Errorf("Diameter listener %s: %v", addr, err)
			continue
		}
		_ = c.Close()
	}

	// The demo subscriber from the document, with a UE that knows only the printed URLs.
	enrol(ctx, t, doc, doc.Subscribers[0])

	// A fresh subscriber provisioned through the printed HSS API and token.
	k, opc := "465b5ce8b199b49faa5f0a2ee238a6bc", "cd63cb71954a9f4e48a5994e37a02baf" // TS 35.208 set 1
	body := fmt.Sprintf(`{"impi":"json-test@%s","k":%q,"opc":%q}`, testbed.IMSDomain, k, opc)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, doc.HSS.ProvisioningURL+"/v1/subscribers", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+doc.HSS.ProvisioningToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("provisioning answered %d", resp.StatusCode)
	}
	enrol(ctx, t, doc, serveSub{IMPI: "json-test@" + testbed.IMSDomain, K: k, OPc: opc})
}

// enrol bootstraps and enrols sub against the addresses of doc with the ue library and
// checks the Kmr against the MAF lookup API.
func enrol(ctx context.Context, t *testing.T, doc serveDoc, sub serveSub) {
	t.Helper()
	k, err := ue.ParseKey128(sub.K)
	if err != nil {
		t.Fatal(err)
	}
	opc, err := ue.ParseKey128(sub.OPc)
	if err != nil {
		t.Fatal(err)
	}
	usim, err := ue.NewUSIM(sub.IMPI, k, opc, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ue.NewClient(ue.Config{BSF: doc.BSF.UbURL, USIM: usim})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("%s: Bootstrap against %s: %v", sub.IMPI, doc.BSF.UbURL, err)
	}
	if !strings.HasSuffix(b.BTID, "@"+doc.BSF.BTIDRealm) {
		t.Errorf("B-TID %q, want realm %s", b.BTID, doc.BSF.BTIDRealm)
	}
	enr, err := c.Enrol(ctx, doc.MEF.EnrolmentURL)
	if err != nil {
		t.Fatalf("%s: Enrol at %s: %v", sub.IMPI, doc.MEF.EnrolmentURL, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, doc.MAF.LookupURL+"?kmr_id="+url.QueryEscape(enr.KmrID), nil)
	req.Header.Set("Authorization", "Bearer "+doc.MAF.LookupToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var kr struct {
		Kmr    string `json:"kmr"`
		NodeID string `json:"node_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&kr); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("MAF lookup: %d %v", resp.StatusCode, err)
	}
	if kr.Kmr != enr.Kmr.Base64() || kr.NodeID != enr.NodeID {
		t.Errorf("%s: the MAF holds another Kmr or Node-ID than the UE", sub.IMPI)
	}
}

func TestServeText(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kept")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	// Cancel as soon as the banner is complete.
	w := writerFunc(func(p []byte) (int, error) {
		n, err := out.Write(p)
		if strings.Contains(out.String(), "Stop with Ctrl-C.") {
			cancel()
		}
		return n, err
	})
	go func() { done <- run(ctx, []string{"--serve", "--data", dir}, w, &errb) }()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, errb.String())
		}
	case <-time.After(50 * time.Second):
		cancel()
		t.Fatal("--serve did not print its banner")
	}
	s := out.String()
	for _, want := range []string{"Zh (Diameter)", "Origin-Host hss.opengba.test", "Ub (HTTP)", "Zn (Diameter)", "NAF FQDN localhost",
		"Ua id 0100000002", "key lookup", "go run ./cmd/gba-ue enrol --profile " + filepath.Join(dir, "ue-user000001.yaml"), "(kept)"} {
		if !strings.Contains(s, want) {
			t.Errorf("--serve output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, " --k ") {
		t.Errorf("--serve without --show-keys prints K:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "hss.db")); err != nil {
		t.Errorf("kept data directory: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestLoadRun(t *testing.T) {
	code, out, errs := runCmd(t, "--devices", "200", "--concurrency", "16")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"200 succeeded, 0 failed", "200 provisioned, 0 already present", "errors       none", "throughput", "bootstrap", "enrolment", "total", "p99"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "progress: 200/200 devices done") {
		t.Errorf("no final progress line on a non-terminal stderr:\n%s", errs)
	}
	if strings.Contains(errs, "\r") {
		t.Errorf("terminal control characters on a non-terminal stderr")
	}
}

func TestFailures(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd(t, "--data", filepath.Join(file, "data"))
	if code != exitFailure || !strings.Contains(errs, "data directory") {
		t.Errorf("unwritable --data: exit %d, stderr %q", code, errs)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errs = runCmd(t, "--hss-zh", ln.Addr().String())
	if code != exitFailure || !strings.Contains(errs, "address already in use") || !strings.Contains(errs, "HSS") {
		t.Errorf("--hss-zh on a taken port: exit %d, stderr %q", code, errs)
	}

	code, _, errs = runCmd(t, "--html", filepath.Join(file, "x.html"))
	if code != exitFailure || !strings.Contains(errs, "--html") {
		t.Errorf("unwritable --html: exit %d, stderr %q", code, errs)
	}

	for _, args := range [][]string{
		{"--json"}, {"--concurrency", "0"}, {"--devices", "-1"}, {"extra"}, {"--serve", "--devices", "3"},
		{"--devices", "3", "--html", "x.html"}, {"--log-level", "loud"}, {"--verify"}, {"--no-such-flag"},
	} {
		if code, _, errs := runCmd(t, args...); code != exitUsage || errs == "" {
			t.Errorf("%v: exit %d, stderr %q; want usage error", args, code, errs)
		}
	}
	if code, _, _ := runCmd(t, "-h"); code != exitOK {
		t.Errorf("-h: exit %d", code)
	}
}
