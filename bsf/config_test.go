package bsf

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/config"
)

func kekB64() string { return base64.StdEncoding.EncodeToString(testKEK()) }

func TestDefaultConfig(t *testing.T) {
	cfg := Default()
	err := cfg.Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "store.kek" || !errors.Is(err, ErrConfig) {
		t.Fatalf("Default without a KEK: %v, want a ConfigError naming store.kek", err)
	}
	cfg.Store.KEK = kekB64()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Default with a KEK: %v", err)
	}
	mem := Default()
	mem.Store.Backend = BackendMemory
	if err := mem.Validate(); err != nil {
		t.Fatalf("memory backend needs no KEK: %v", err)
	}
	if d := Default(); d.Ub.NonceMaxAge != 60*time.Second || d.Ub.DefaultLifetime != 24*time.Hour ||
		d.Zh.Timeout != 2*time.Second || d.Ub.Algorithm != "AKAv1-MD5" || d.Store.Backend != BackendSQLite {
		t.Errorf("defaults changed: %+v", d.Ub)
	}
}

func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("bsf.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BSF_KEK": kekB64()}
	cfg, err := ParseConfig(b, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Ub.Listen != "127.0.0.1:8090" || cfg.Zh.Peers[0].Address != "127.0.0.1:3868" || cfg.Zn.NAFs["mef.sp.example"].Group != "m2m" {
		t.Errorf("example not applied: %+v", cfg)
	}
	// Without BSF_KEK the expansion names the variable, the file and the line; the
	// ${BSF_KEK} of the header comment is not expanded.
	_, err = LoadConfig("bsf.example.yaml", func(string) (string, bool) { return "", false })
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "BSF_KEK" || ce.File != "bsf.example.yaml" || ce.Line < 20 || !errors.Is(err, ErrConfig) ||
		!strings.HasPrefix(err.Error(), "bsf: config: bsf.example.yaml:") {
		t.Fatalf("missing variable: %v", err)
	}
}

func TestParseConfig(t *testing.T) {
	if _, err := ParseConfig([]byte("ub:\n  bogus: 1\n"), nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown key: %v", err)
	}
	cfg, err := ParseConfig([]byte("ub:\n  domain: ${D:-bsf.x.net}\n  nonce_max_age: 30s\nzh:\n  peers:\n    - address: a:1\n      priority: 2\n    - address: b:1\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ub.Domain != "bsf.x.net" || cfg.Ub.NonceMaxAge != 30*time.Second || len(cfg.Zh.Peers) != 2 || cfg.Zh.Peers[0].Priority != 2 {
		t.Errorf("parsed %+v / %+v", cfg.Ub, cfg.Zh.Peers)
	}
	if len(cfg.Zn.ListenTCP) != 1 {
		t.Errorf("unset lists keep their defaults: %v", cfg.Zn.ListenTCP)
	}
	cfg, err = ParseConfig([]byte("store:\n  kek: \"$$x\"\n"), nil)
	if err != nil || cfg.Store.KEK != "$x" {
		t.Errorf("$$ escape: %q %v", cfg.Store.KEK, err)
	}
}

func TestValidateNamesField(t *testing.T) {
	kekFile := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(kekFile, []byte(kekB64()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		mod   func(*Config)
	}{
		{"ub.listen", func(c *Config) { c.Ub.Listen = "nope" }},
		{"ub.domain", func(c *Config) { c.Ub.Domain = "bad domain" }},
		{"ub.algorithm", func(c *Config) { c.Ub.Algorithm = "MD5" }},
		{"ub.nonce_max_age", func(c *Config) { c.Ub.NonceMaxAge = 0 }},
		{"ub.max_failures", func(c *Config) { c.Ub.MaxFailures = 0 }},
		{"ub.write_timeout", func(c *Config) { c.Ub.WriteTimeout = time.Second }},
		{"ub.tls.key_file", func(c *Config) { c.Ub.TLS.CertFile = "c.pem" }},
		{"store.backend", func(c *Config) { c.Store.Backend = "mysql" }},
		{"store.kek", func(c *Config) { c.Store.KEK = "c2hvcnQ=" }},
		{"store.kek_file", func(c *Config) { c.Store.KEKFile = kekFile }},
		{"store.previous_keks[0]", func(c *Config) { c.Store.PreviousKEKs = []string{"x"} }},
		{"store.sqlite.synchronous", func(c *Config) { c.Store.SQLite.Synchronous = "off" }},
		{"store.redis.addrs", func(c *Config) { c.Store.Backend = BackendRedis }},
		{"store.redis.db", func(c *Config) {
			c.Store.Backend, c.Store.Redis.Addrs, c.Store.Redis.Cluster, c.Store.Redis.DB = BackendRedis, []string{"r:6379"}, true, 1
		}},
		{"zh.peers", func(c *Config) { c.Zh.Peers = nil }},
		{"zh.peers[0].transport", func(c *Config) { c.Zh.Peers[0].Transport = "udp" }},
		{"zh.origin_host", func(c *Config) { c.Zh.OriginHost = "" }},
		{"zn.listen_tcp", func(c *Config) { c.Zn.ListenTCP = nil }},
		{"zn.tls.key_file", func(c *Config) { c.Zn.TLS.CertFile = "c.pem" }},
		{"zn.tls.key_file", func(c *Config) { c.Zn.TLS.KeyFile = "k.pem" }},
		{"zn.tls.ca_file", func(c *Config) { c.Zn.TLS.CAFile = "ca.pem" }},
		{"zh.tls.key_file", func(c *Config) { c.Zh.TLS.CertFile = "c.pem" }},
		{"zh.tls.key_file", func(c *Config) { c.Zh.TLS.CAFile, c.Zh.TLS.KeyFile = "ca.pem", "k.pem" }},
		{"zn.nafs[naf.x].fqdns", func(c *Config) { c.Zn.NAFs = map[string]NAFPolicy{"naf.x": {}} }},
		{"zn.nafs[naf.x].fqdns[0]", func(c *Config) { c.Zn.NAFs = map[string]NAFPolicy{"naf.x": {FQDNs: []string{"a b"}}} }},
		{"zn.nafs[naf.x].impi", func(c *Config) {
			c.Zn.NAFs = map[string]NAFPolicy{"naf.x": {FQDNs: []string{"naf.x"}, IMPI: "sometimes"}}
		}},
		{"ops.listen", func(c *Config) { c.Ops.Listen = "" }},
		{"log.level", func(c *Config) { c.Log.Level = "loud" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			cfg := Default()
			cfg.Store.KEK = kekB64()
			tt.mod(&cfg)
			err := cfg.Validate()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("got %v, want a ConfigError naming %s", err, tt.field)
			}
			if strings.Contains(err.Error(), kekB64()) {
				t.Error("error echoes the KEK")
			}
		})
	}
	cfg := Default()
	cfg.Store.KEKFile = kekFile
	if err := cfg.Validate(); err != nil {
		t.Errorf("kek_file: %v", err)
	}
	cfg.Zh.TLS.CAFile = "ca.pem" // a CA alone turns Zh TLS on (server authentication only)
	if err := cfg.Validate(); err != nil {
		t.Errorf("zh.tls.ca_file alone: %v", err)
	}
}

// TestParseConfigZnZhSettings: zn.open, zn.tls and zh.tls are read from the file; absent,
// they default to off.
func TestParseConfigZnZhSettings(t *testing.T) {
	cfg, err := ParseConfig([]byte(`zn:
  open: true
  tls: {cert_file: zn.pem, key_file: zn.key, ca_file: nafs.pem}
zh:
  tls:
    ca_file: hss-ca.pem
    cert_file: bsf.pem
    key_file: bsf.key
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{}
	want.Zn.Open = true
	want.Zn.TLS = DiameterTLSConfig{CertFile: "zn.pem", KeyFile: "zn.key", CAFile: "nafs.pem"}
	want.Zh.TLS = DiameterTLSConfig{CertFile: "bsf.pem", KeyFile: "bsf.key", CAFile: "hss-ca.pem"}
	if cfg.Zn.Open != want.Zn.Open || cfg.Zn.TLS != want.Zn.TLS || cfg.Zh.TLS != want.Zh.TLS {
		t.Errorf("parsed zn %+v %+v, zh %+v", cfg.Zn.Open, cfg.Zn.TLS, cfg.Zh.TLS)
	}
	if d := Default(); d.Zn.Open || d.Zn.TLS != (DiameterTLSConfig{}) || d.Zh.TLS != (DiameterTLSConfig{}) {
		t.Errorf("defaults: zn.open %v, zn.tls %+v, zh.tls %+v", d.Zn.Open, d.Zn.TLS, d.Zh.TLS)
	}
	_, err = ParseConfig([]byte("zh:\n  tls:\n    ca: x.pem\n"), nil)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Line != 3 || !strings.Contains(err.Error(), `unknown key "ca"`) {
		t.Errorf("unknown zh.tls key: %v", err)
	}
}

// TestTLSFromConfig: ZhTLSConfig and ZnTLSConfig load the PEM files and name the field of
// a bad one.
func TestTLSFromConfig(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	if c, err := ZhTLSConfig("", "", ""); c != nil || err != nil {
		t.Errorf("ZhTLSConfig without files = %v, %v", c, err)
	}
	c, err := ZhTLSConfig("", "", certFile)
	if err != nil || c == nil || c.RootCAs == nil || len(c.Certificates) != 0 || c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("ZhTLSConfig(ca) = %+v, %v", c, err)
	}
	if c, err := ZhTLSConfig(certFile, keyFile, ""); err != nil || len(c.Certificates) != 1 || c.RootCAs != nil {
		t.Fatalf("ZhTLSConfig(cert, key) = %+v, %v", c, err)
	}
	if c, err := ZnTLSConfig(certFile, keyFile, certFile); err != nil || c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil {
		t.Fatalf("ZnTLSConfig(cert, key, ca) = %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name  string
		build func() (*tls.Config, error)
		field string
	}{
		{"zh ca missing", func() (*tls.Config, error) { return ZhTLSConfig("", "", missing) }, "zh.tls.ca_file"},
		{"zh ca not pem", func() (*tls.Config, error) { return ZhTLSConfig("", "", keyFile) }, "zh.tls.ca_file"},
		{"zh cert missing", func() (*tls.Config, error) { return ZhTLSConfig(missing, keyFile, "") }, "zh.tls.cert_file"},
		{"zh key alone", func() (*tls.Config, error) { return ZhTLSConfig("", keyFile, "") }, "zh.tls.key_file"},
		{"zn ca missing", func() (*tls.Config, error) { return ZnTLSConfig(certFile, keyFile, missing) }, "zn.tls.ca_file"},
		{"zn ca alone", func() (*tls.Config, error) { return ZnTLSConfig("", "", certFile) }, "zn.tls.ca_file"},
		{"zn cert missing", func() (*tls.Config, error) { return ZnTLSConfig(missing, keyFile, "") }, "zn.tls.cert_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want a ConfigError naming %s", err, tc.field)
			}
		})
	}
}

// TestZhClientTLSFromConfig: zh.tls alone (no ZhOptions.TLS) runs TLS towards the HSS,
// verifies its certificate with zh.tls.ca_file and presents zh.tls.cert_file to an HSS
// that requires a client certificate (RFC 6733 §13.1).
func TestZhClientTLSFromConfig(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hss := newFakeZhOn(t, "hss.home1.net", tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}))

	// The CA alone: the HSS wants a client certificate, so no connection.
	noCert := zhConfig(hss.addr)
	noCert.Timeout = 300 * time.Millisecond
	noCert.TLS.CAFile = certFile
	if _, err := newZhClient(t, noCert, ZhOptions{}).FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); !errors.Is(err, ErrHSSUnavailable) {
		t.Errorf("without a client certificate: %v, want ErrHSSUnavailable", err)
	}
	// CA and client certificate: a MAR goes through.
	cfg := zhConfig(hss.addr)
	cfg.TLS = DiameterTLSConfig{CAFile: certFile, CertFile: certFile, KeyFile: keyFile}
	if _, err := newZhClient(t, cfg, ZhOptions{}).FetchAV(context.Background(), AVRequest{IMPI: testIMPI}); err != nil {
		t.Fatalf("over TLS from zh.tls: %v", err)
	}
	if len(hss.received()) != 1 {
		t.Errorf("HSS got %d MARs, want 1", len(hss.received()))
	}
	// An unreadable file fails NewZhClient, naming the field.
	bad := zhConfig(hss.addr)
	bad.TLS.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	var ce *ConfigError
	if _, err := NewZhClient(bad, ZhOptions{}); !errors.As(err, &ce) || ce.Field != "zh.tls.ca_file" {
		t.Errorf("missing CA file: %v", err)
	}
}

// TestZnServerFromConfig: zn.tls alone (no ZnOptions.TLS) makes the listener TLS, and
// zn.open alone lets a NAF outside zn.nafs complete the CER/CEA.
func TestZnServerFromConfig(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	tb := newTestBSF(t, withConfig(func(c *Config) {
		c.Zn.TLS = DiameterTLSConfig{CertFile: certFile, KeyFile: keyFile}
		c.Zn.Open = true
	}))
	z, addr := startZn(t, tb, ZnOptions{})
	if ls := z.Listeners(); ls[0].Transport != TransportTLS {
		t.Fatalf("transport %q, want tls", ls[0].Transport)
	}
	nc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "bsf.home1.net", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	stranger := &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc)}
	if code, _ := stranger.capabilities("stranger.home1.net", "home1.net", rawAppZn).result(); code != 2001 {
		t.Fatalf("zn.open: CEA result %d for a NAF outside zn.nafs, want 2001", code)
	}

	// Without zn.open the same NAF gets DIAMETER_UNKNOWN_PEER.
	closed := newTestBSF(t)
	_, addr = startZn(t, closed, ZnOptions{})
	if code, _ := dialRaw(t, addr).capabilities("stranger.home1.net", "home1.net", rawAppZn).result(); code != 3010 {
		t.Fatalf("CEA result %d for a NAF outside zn.nafs, want 3010", code)
	}
	// zn.open without NAFs: NewZnServer accepts it (BIRs are refused per NAF anyway).
	none := newTestBSF(t, withConfig(func(c *Config) { c.Zn.NAFs, c.Zn.Open = nil, true }))
	if _, err := NewZnServer(none.BSF, ZnOptions{}); err != nil {
		t.Errorf("zn.open without NAFs: %v", err)
	}
	bad := newTestBSF(t, withConfig(func(c *Config) { c.Zn.TLS = DiameterTLSConfig{CertFile: keyFile, KeyFile: keyFile} }))
	var ce *ConfigError
	if _, err := NewZnServer(bad.BSF, ZnOptions{}); !errors.As(err, &ce) || ce.Field != "zn.tls.cert_file" {
		t.Errorf("bad zn.tls certificate: %v", err)
	}
}

func TestKeySealer(t *testing.T) {
	for _, s := range []string{kekB64(), strings.Repeat("42", 32)} {
		if k, err := ParseKEK(s); err != nil || string(k) != string(testKEK()) {
			t.Errorf("ParseKEK(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "c2hvcnQ=", strings.Repeat("4", 64) + "zz"} {
		if _, err := ParseKEK(s); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseKEK(%q) = %v, want ErrConfig", s, err)
		}
	}
	seal, err := newKeySealer(testKEK(), nil, newSeededRand(3))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	blob, err := seal.seal(secret, "btid-a")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(blob), string(secret)) || len(blob) != 1+12+32+16 {
		t.Fatalf("blob %x", blob)
	}
	if pt, err := seal.open(blob, "btid-a"); err != nil || string(pt) != string(secret) {
		t.Fatalf("open: %v", err)
	}
	if _, err := seal.open(blob, "btid-b"); !errors.Is(err, ErrSealed) {
		t.Errorf("other AAD: %v", err)
	}
	blob[20] ^= 1
	if _, err := seal.open(blob, "btid-a"); !errors.Is(err, ErrSealed) {
		t.Errorf("tampered: %v", err)
	}
	if _, err := seal.open([]byte{1, 2}, "btid-a"); !errors.Is(err, ErrSealed) {
		t.Errorf("short: %v", err)
	}
	if _, err := newKeySealer([]byte("short"), nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("short KEK: %v", err)
	}
}
