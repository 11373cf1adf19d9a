package hsssim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/config"
)

func noEnv(string) (string, bool) { return "", false }

func TestDefaultConfigValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SQN.INDBits != 5 || c.SQN.Delta != 1<<28 || c.Store.Backend != BackendSQLite {
		t.Fatalf("defaults %+v", c)
	}
}

func TestExampleConfig(t *testing.T) {
	env := map[string]string{"HSS_PROVISIONING_TOKEN": "a-long-enough-token"}
	c, err := LoadConfig("hss-sim.example.yaml", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Store.Path != "hss.db" || c.Provisioning.Token != "a-long-enough-token" || c.Store.BusyTimeout != 5*time.Second {
		t.Fatalf("example decoded to %+v", c)
	}
	if c.Diameter.OriginHost != "hss.opengba.test" || len(c.Diameter.Peers) != 1 || c.Diameter.Open || c.Diameter.ListenTCP[0] != "127.0.0.1:3868" {
		t.Fatalf("diameter %+v", c.Diameter)
	}
	// Without the environment the defaults apply.
	c, err = LoadConfig("hss-sim.example.yaml", noEnv)
	if err != nil || c.Provisioning.Token != "" {
		t.Fatalf("no env: %v %q", err, c.Provisioning.Token)
	}
}

func TestParseConfig(t *testing.T) {
	env := func(k string) (string, bool) {
		switch k {
		case "DB":
			return "/tmp/x.db", true
		case "EMPTY":
			return "", true
		}
		return "", false
	}
	for _, tc := range []struct {
		name, yaml string
		check      func(Config) bool
		errField   string // "" = no error; "yaml" = decode error; else the unset variable
	}{
		{"empty", "", func(c Config) bool { return c.Store.Path == "hss.db" }, ""},
		{"override", "store:\n  path: ${DB}\nsqn:\n  block_size: 10\n", func(c Config) bool {
			return c.Store.Path == "/tmp/x.db" && c.SQN.BlockSize == 10 && c.SQN.INDBits == 5
		}, ""},
		{"default-used", "store:\n  path: ${NOPE:-/d/h.db}\n", func(c Config) bool { return c.Store.Path == "/d/h.db" }, ""},
		{"empty-default", "store:\n  path: ${EMPTY:-/d/h.db}\n", func(c Config) bool { return c.Store.Path == "/d/h.db" }, ""},
		{"dollar", "provisioning:\n  token: \"a$$b\"\n", func(c Config) bool { return c.Provisioning.Token == "a$b" }, ""},
		{"unset", "store:\n  path: ${NOPE}\n", nil, "NOPE"},
		{"unset-in-comment", "# ${NOPE}\nstore:\n  path: /d/h.db # was ${NOPE}\n", func(c Config) bool { return c.Store.Path == "/d/h.db" }, ""},
		{"bare-dollar-name", "provisioning:\n  token: \"a$DB\"\n", func(c Config) bool { return c.Provisioning.Token == "a$DB" }, ""},
		{"unknown-key", "store:\n  pathh: x\n", nil, "yaml"},
		{"unknown-top", "stor: {}\n", nil, "yaml"},
		{"bad-duration", "store:\n  busy_timeout: soon\n", nil, "yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yaml), env)
			switch {
			case tc.errField == "":
				if err != nil || !tc.check(c) {
					t.Fatalf("got %+v, %v", c, err)
				}
			case tc.errField == "yaml":
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("got %v, want a config error", err)
				}
			default:
				var ce *config.Error
				if !errors.As(err, &ce) || ce.Var != tc.errField || ce.Line != 2 || !errors.Is(err, ErrConfig) || !errors.Is(err, config.ErrUnset) {
					t.Fatalf("got %v, want variable %s at line 2", err, tc.errField)
				}
			}
		})
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	for _, tc := range []struct {
		field string
		mut   func(*Config)
	}{
		{"store.backend", func(c *Config) { c.Store.Backend = "mongo" }},
		{"store.path", func(c *Config) { c.Store.Path = "" }},
		{"store.path", func(c *Config) { c.Store.Path = "a?b" }},
		{"store.busy_timeout", func(c *Config) { c.Store.BusyTimeout = -1 }},
		{"sqn.ind_bits", func(c *Config) { c.SQN.INDBits = 12 }},
		{"sqn.block_size", func(c *Config) { c.SQN.BlockSize = 0 }},
		{"provisioning.listen", func(c *Config) { c.Provisioning.Listen = "8080" }},
		{"provisioning.token", func(c *Config) { c.Provisioning.Token = "short" }},
		{"provisioning.default_limit", func(c *Config) { c.Provisioning.DefaultLimit = 0 }},
		{"provisioning.max_limit", func(c *Config) { c.Provisioning.MaxLimit = 10 }},
		{"provisioning.max_body_bytes", func(c *Config) { c.Provisioning.MaxBodyBytes = 10 }},
		{"diameter.listen_tcp", func(c *Config) { c.Diameter.ListenTCP = nil }},
		{"diameter.listen_tcp[0]", func(c *Config) { c.Diameter.ListenTCP = []string{"nohost"} }},
		{"diameter.listen_sctp[0]", func(c *Config) { c.Diameter.ListenSCTP = []string{":x:"} }},
		{"diameter.tls.key_file", func(c *Config) { c.Diameter.TLS.CertFile = "c.pem" }},
		{"diameter.tls.ca_file", func(c *Config) { c.Diameter.TLS.CAFile = "ca.pem" }},
		{"diameter.origin_host", func(c *Config) { c.Diameter.OriginHost = "" }},
		{"diameter.origin_realm", func(c *Config) { c.Diameter.OriginRealm = "a b" }},
		{"diameter.peers", func(c *Config) { c.Diameter.Open = false }},
		{"diameter.peers[1]", func(c *Config) { c.Diameter.Peers = []string{"bsf", ""} }},
		{"log.level", func(c *Config) { c.Log.Level = "verbose" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := Default()
			tc.mut(&c)
			err := c.Validate()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("got %v, want field %s", err, tc.field)
			}
		})
	}
	c := Default()
	c.Store.Backend = BackendMemory
	c.Store.Path = ""
	c.Diameter.Open, c.Diameter.Peers = false, []string{"bsf.home1.net"}
	if err := c.Validate(); err != nil {
		t.Fatalf("memory backend without path: %v", err)
	}
}
