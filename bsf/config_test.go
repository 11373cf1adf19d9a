package bsf

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if cfg.Ub.Listen != "0.0.0.0:8080" || cfg.Zh.Peers[0].Address != "hss-sim:3868" || cfg.Zn.NAFs["naf.opengba.test"].Group != "m2m" {
		t.Errorf("example not applied: %+v", cfg)
	}
	// Without BSF_KEK the expansion names the variable.
	_, err = ParseConfig(b, func(string) (string, bool) { return "", false })
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "${BSF_KEK}" {
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
