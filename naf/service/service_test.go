package service_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testlog"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/maf"
	"github.com/opengba/opengba/naf/mef"
	"github.com/opengba/opengba/naf/naftest"
	"github.com/opengba/opengba/naf/service"
)

var testEnv = map[string]string{
	"MAF_KEK":       base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	"MAF_MEF_TOKEN": "mef-token-0123456789abcdef",
	"MAF_CSE_TOKEN": "cse-token-0123456789abcdef",
}

func lookup(extra map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if v, ok := extra[k]; ok {
			return v, true
		}
		v, ok := testEnv[k]
		return v, ok
	}
}

func TestExampleConfig(t *testing.T) {
	cfg, err := service.LoadConfig("../naf.example.yaml", lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Role != service.RoleBoth || cfg.NAF.FQDN != "mef.sp.example" || cfg.MEF.INCSEID != "/in-cse" ||
		len(cfg.Zn.BSFs) != 1 || cfg.Zn.BSFs[0].Address != "127.0.0.1:3869" || cfg.Zn.BSFs[0].Realm != "bsf.opengba.test" || !cfg.Zn.RequestIMPI {
		t.Errorf("unexpected values: %+v", cfg)
	}
	if ua, err := cfg.UaID(); err != nil || ua != gba.UaIDHTTPDigest {
		t.Errorf("ua_id %v %v", ua, err)
	}
	// Every role validates with the example (role mef needs the MAF URL).
	for _, role := range []service.Role{service.RoleMAF, service.RoleMEF} {
		c, _ := service.LoadConfig("../naf.example.yaml", lookup(map[string]string{"NAF_ROLE": string(role), "MEF_MAF_URL": "https://maf.sp.example:8443"}))
		if err := c.Validate(); err != nil {
			t.Errorf("role %s: %v", role, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := service.ParseConfig([]byte("role: both\nbogus: 1\n"), lookup(nil)); !errors.Is(err, naf.ErrConfig) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := service.ParseConfig([]byte("maf:\n  kek: ${NOPE}\n"), lookup(nil)); err == nil || !strings.Contains(err.Error(), "NOPE") {
		t.Errorf("unset variable: %v", err)
	}
	if c, err := service.ParseConfig([]byte("log:\n  level: ${LVL:-debug}\n"), lookup(nil)); err != nil || c.Log.Level != "debug" {
		t.Errorf("default expansion: %v %q", err, c.Log.Level)
	}
	base, err := service.LoadConfig("../naf.example.yaml", lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field string
		edit  func(*service.Config)
	}{
		{"role", func(c *service.Config) { c.Role = "naf" }},
		{"log.level", func(c *service.Config) { c.Log.Level = "loud" }},
		{"ops.listen", func(c *service.Config) { c.Ops.Listen = "9090" }},
		{"naf.fqdn", func(c *service.Config) { c.NAF.FQDN = "mef..example" }},
		{"naf.ua_id", func(c *service.Config) { c.NAF.UaID = "01000002" }},
		{"naf.cache.size", func(c *service.Config) { c.NAF.Cache.Size = 0 }},
		{"zn.origin_host", func(c *service.Config) { c.Zn.OriginHost = "" }},
		{"zn.bsfs", func(c *service.Config) { c.Zn.BSFs = nil }},
		{"zn.bsfs[0].address", func(c *service.Config) { c.Zn.BSFs[0].Address = "bsf" }},
		{"zn.bsfs[0].network", func(c *service.Config) { c.Zn.BSFs[0].Network = "udp" }},
		{"mef.sp_id", func(c *service.Config) { c.MEF.SPID = "" }},
		{"mef.in_cse_id", func(c *service.Config) { c.MEF.INCSEID = "in-cse" }},
		{"mef.maf_id", func(c *service.Config) { c.MEF.MAFID = "maf_1" }},
		{"mef.admin_token", func(c *service.Config) { c.MEF.AdminToken = "short" }},
		{"mef.node_id_key", func(c *service.Config) { c.MEF.NodeIDKey = "%%%" }},
		{"mef.store.backend", func(c *service.Config) { c.MEF.Store.Backend = "postgres" }},
		{"mef.maf.url", func(c *service.Config) { c.Role = service.RoleMEF }},
		{"mef.maf.token", func(c *service.Config) { c.MEF.MAF.URL, c.MEF.MAF.Token = "https://maf:8443", "" }},
		{"maf.kek", func(c *service.Config) { c.MAF.KEK = base64.StdEncoding.EncodeToString(make([]byte, 16)) }},
		{"maf.mef_token", func(c *service.Config) { c.MAF.MEFToken = "short" }},
		{"maf.cse_token", func(c *service.Config) { c.MAF.CSEToken = c.MAF.MEFToken }},
		{"maf.mef_auth", func(c *service.Config) { c.MAF.MEFAuth = "basic" }},
		{"maf.tls.client_ca_file", func(c *service.Config) { c.MAF.MEFAuth = "mtls" }},
		{"maf.tls.key_file", func(c *service.Config) { c.MAF.TLS.CertFile = "x.pem" }},
		{"maf.sweep_interval", func(c *service.Config) { c.MAF.SweepInterval = 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			c := base
			c.Zn.BSFs = append([]naf.ZnPeer(nil), base.Zn.BSFs...)
			tc.edit(&c)
			err := c.Validate()
			var ce *naf.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("err = %v, want a ConfigError for %s", err, tc.field)
			}
			if !errors.Is(err, naf.ErrConfig) {
				t.Error("does not match ErrConfig")
			}
		})
	}
}

// syncBuffer collects the output of concurrent writers.
type syncBuffer = testlog.Buffer

func testConfig(t *testing.T, role service.Role) service.Config {
	cfg, err := service.LoadConfig("../naf.example.yaml", lookup(map[string]string{
		"NAF_ROLE": string(role), "NAF_OPS_LISTEN": "127.0.0.1:0", "MEF_LISTEN": "127.0.0.1:0", "MAF_LISTEN": "127.0.0.1:0",
		"MEF_ADMIN_TOKEN": "admin-token-0123456789",
	}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MEF.Store = service.StoreConfig{Backend: service.BackendSQLite, Path: t.TempDir() + "/mef.db"}
	cfg.MAF.Store = service.StoreConfig{Backend: service.BackendSQLite, Path: t.TempDir() + "/maf.db"}
	cfg.MEF.OpenEnrolment = true
	return cfg
}

type running struct {
	svc  *service.Service
	done chan error
	stop context.CancelFunc
}

func start(t *testing.T, cfg service.Config, keys naf.KeySource, logs io.Writer) *running {
	t.Helper()
	svc, err := service.New(t.Context(), service.Options{
		Config: cfg, Keys: keys, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &running{svc: svc, done: make(chan error, 1), stop: stop}
	go func() { r.done <- svc.Serve(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-r.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = svc.Close()
	})
	return r
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// enrol runs the UE side of Ua against the MEF at base.
func enrol(t *testing.T, base string, ue *naftest.UE) (*http.Response, []byte) {
	t.Helper()
	post := func(authz string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, base+mef.EnrolmentPath, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, _ := post("")
	if err := ue.SetChallenge(resp.Header.Get("WWW-Authenticate")); err != nil {
		t.Fatal(err)
	}
	authz, _, err := ue.Authorize(http.MethodPost, mef.EnrolmentPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	return post(authz)
}

func bootstrap(t *testing.T, bsf *naftest.FakeBSF, fqdn string) *naftest.UE {
	t.Helper()
	v, err := naftest.Vector("TS35208/set1/gba-me/http-digest")
	if err != nil {
		t.Fatal(err)
	}
	s := naftest.BSFSession{CK: naftest.MustHex(v.CK), IK: naftest.MustHex(v.IK), RAND: naftest.MustHex(v.RAND),
		IMPI: v.IMPI, BSFDomain: "bsf.home1.net", Expires: time.Now().Add(time.Hour)}
	if _, err := bsf.Bootstrap(s); err != nil {
		t.Fatal(err)
	}
	ue, err := naftest.NewUE(s, fqdn, gba.UaIDHTTPDigest)
	if err != nil {
		t.Fatal(err)
	}
	return ue
}

func TestServiceBoth(t *testing.T) {
	cfg := testConfig(t, service.RoleBoth)
	bsf := naftest.NewFakeBSF(nil)
	logs := &syncBuffer{}
	r := start(t, cfg, bsf, logs)
	mefURL, mafURL, opsURL := "http://"+r.svc.Addr("mef"), "http://"+r.svc.Addr("maf"), "http://"+r.svc.Addr("ops")

	if st, _ := get(t, opsURL+"/healthz"); st != 200 {
		t.Fatalf("healthz %d", st)
	}
	if st, b := get(t, opsURL+"/readyz"); st != 200 || !strings.Contains(b, "mef_store") || !strings.Contains(b, "maf_store") {
		t.Fatalf("readyz %d %s", st, b)
	}
	ue := bootstrap(t, bsf, cfg.NAF.FQDN)
	resp, b := enrol(t, mefURL, ue)
	if resp.StatusCode != 200 {
		t.Fatalf("enrol: %d %s", resp.StatusCode, b)
	}
	cse, _ := maf.NewClient(maf.ClientConfig{URL: mafURL, Token: testEnv["MAF_CSE_TOKEN"]})
	e, err := cse.Lookup(t.Context(), ue.BTID)
	if err != nil || !e.Kmr.Equal(ue.KsNAF) {
		t.Fatalf("MAF lookup: %v", err)
	}
	_, metrics := get(t, opsURL+"/metrics")
	for _, want := range []string{
		`naf_ua_requests_total{outcome="success"} 1`,
		`naf_ua_requests_total{outcome="challenge"} 1`,
		`mef_enrolments_total{result="success"} 1`,
		`mef_maf_provisioning_total{op="provision",result="success"} 1`,
		`naf_key_cache_misses_total 1`,
		"naf_key_cache_hit_ratio",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Admin API is on (token configured).
	req, _ := http.NewRequest(http.MethodGet, mefURL+"/admin/v1/enrolments", nil)
	req.Header.Set("Authorization", "Bearer admin-token-0123456789")
	ar, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := io.ReadAll(ar.Body)
	ar.Body.Close()
	if ar.StatusCode != 200 || !strings.Contains(string(ab), ue.BTID) {
		t.Errorf("admin enrolments %d %s", ar.StatusCode, ab)
	}
	out := logs.String()
	if strings.Contains(out, ue.KsNAF.Base64()) || strings.Contains(out, hex.EncodeToString(ue.KsNAF.Bytes())) {
		t.Error("logs contain Ks_NAF")
	}
	if !strings.Contains(out, `"msg":"mef: enrolled"`) {
		t.Errorf("no enrolment log record in %s", out)
	}
}

// TestServiceSplitRoles runs the MAF and the MEF in two services linked over HTTP with the
// MEF's bearer token.
func TestServiceSplitRoles(t *testing.T) {
	mafCfg := testConfig(t, service.RoleMAF)
	rm := start(t, mafCfg, nil, io.Discard)
	mefCfg := testConfig(t, service.RoleMEF)
	mefCfg.MEF.MAF.URL = "http://" + rm.svc.Addr("maf")
	mefCfg.MEF.MAF.Token = testEnv["MAF_MEF_TOKEN"]
	bsf := naftest.NewFakeBSF(nil)
	re := start(t, mefCfg, bsf, io.Discard)
	if re.svc.MAFHandler() != nil || rm.svc.MEFHandler() != nil {
		t.Fatal("a role serves the other component")
	}
	ue := bootstrap(t, bsf, mefCfg.NAF.FQDN)
	resp, b := enrol(t, "http://"+re.svc.Addr("mef"), ue)
	if resp.StatusCode != 200 {
		t.Fatalf("enrol: %d %s", resp.StatusCode, b)
	}
	cse, _ := maf.NewClient(maf.ClientConfig{URL: "http://" + rm.svc.Addr("maf"), Token: testEnv["MAF_CSE_TOKEN"]})
	if e, err := cse.Lookup(t.Context(), ue.BTID); err != nil || !e.Kmr.Equal(ue.KsNAF) {
		t.Fatalf("lookup: %v", err)
	}
}

func TestServiceMEFNeedsKeySource(t *testing.T) {
	cfg := testConfig(t, service.RoleMEF)
	cfg.MEF.MAF.URL, cfg.MEF.MAF.Token = "http://127.0.0.1:1", "x-token-0123456789abcd"
	_, err := service.New(t.Context(), service.Options{Config: cfg, Registry: prometheus.NewRegistry()})
	if err == nil || !strings.Contains(err.Error(), "key source") {
		t.Fatalf("err = %v", err)
	}
}

func TestReadyzFailing(t *testing.T) {
	cfg := testConfig(t, service.RoleBoth)
	keys := notReady{naftest.NewFakeBSF(nil)}
	r := start(t, cfg, keys, io.Discard)
	st, b := get(t, "http://"+r.svc.Addr("ops")+"/readyz")
	if st != 503 || !strings.Contains(b, `"zn":"failing"`) {
		t.Fatalf("readyz %d %s", st, b)
	}
}

type notReady struct{ *naftest.FakeBSF }

func (notReady) Ready(context.Context) error { return errors.New("no Diameter peer") }

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // quiet route logging
	os.Exit(m.Run())
}
