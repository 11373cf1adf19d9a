package hsssim

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/opengba/opengba/internal/config"
)

// Config is the whole configuration of the HSS simulator. Build it with Default, overlay a
// file with LoadConfig or ParseConfig, overlay flags, then call Validate.
type Config struct {
	Store        StoreConfig     `yaml:"store"`
	SQN          SQNConfig       `yaml:"sqn"`
	Provisioning ProvisionConfig `yaml:"provisioning"`
	Diameter     DiameterConfig  `yaml:"diameter"`
	Log          LogConfig       `yaml:"log"`

	// Now is the clock (nil: time.Now). Not read from files.
	Now func() time.Time `yaml:"-"`
}

// ProvisionConfig configures the provisioning REST API (its own listener).
type ProvisionConfig struct {
	// Listen is the TCP address of the API, /healthz and /metrics.
	Listen string `yaml:"listen"`
	// Token, if set, is the bearer token required for writes (and reads, see ProtectReads).
	Token string `yaml:"token"`
	// ProtectReads also requires the token for GET requests under /v1 (default true: the
	// IMPI/IMPU list is personal data). /healthz and /metrics never require it.
	ProtectReads bool `yaml:"protect_reads"`
	// DefaultLimit and MaxLimit bound the page size of GET /v1/subscribers.
	DefaultLimit int `yaml:"default_limit"`
	MaxLimit     int `yaml:"max_limit"`
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// DiameterConfig holds the Zh Diameter settings (TS 29.109). The Zh server reads them.
type DiameterConfig struct {
	// ListenTCP and ListenSCTP are the listen addresses (host:port); at least one.
	ListenTCP  []string `yaml:"listen_tcp"`
	ListenSCTP []string `yaml:"listen_sctp"`
	// TLS enables TLS on the TCP listeners when CertFile and KeyFile are set.
	TLS TLSConfig `yaml:"tls"`
	// OriginHost and OriginRealm identify the HSS (RFC 6733 §6.3, §6.4).
	OriginHost  string `yaml:"origin_host"`
	OriginRealm string `yaml:"origin_realm"`
	// Peers is the allowlist of peer Origin-Host values; Open accepts any peer instead.
	Peers []string `yaml:"peers"`
	Open  bool     `yaml:"open"`
}

// TLSConfig names PEM files. CAFile, if set, makes the server verify client certificates.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"`
}

// LogConfig configures logging in main.
type LogConfig struct {
	// Level is debug, info, warn or error. IMPIs appear only at debug.
	Level string `yaml:"level"`
}

// ConfigError names the configuration field that is wrong. It matches ErrConfig.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "hsssim: config: " + e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Default returns a valid configuration for a local run: SQLite at ./hss.db, the API on
// 127.0.0.1:8080 without a token, Zh on 127.0.0.1:3868 open to any peer (loopback only).
func Default() Config {
	return Config{
		Store: StoreConfig{Backend: BackendSQLite, Path: "hss.db", BusyTimeout: DefaultBusyTimeout, ReadConns: DefaultReadConns},
		SQN:   DefaultSQNConfig(),
		Provisioning: ProvisionConfig{
			Listen:       "127.0.0.1:8080",
			ProtectReads: true,
			DefaultLimit: 100,
			MaxLimit:     1000,
			MaxBodyBytes: 1 << 20,
		},
		Diameter: DiameterConfig{
			ListenTCP:   []string{"127.0.0.1:3868"},
			OriginHost:  "hss.opengba.test",
			OriginRealm: "opengba.test",
			Open:        true,
		},
		Log: LogConfig{Level: "info"},
	}
}

// LoadConfig reads the file at path over Default() with internal/config: ${VAR} and
// ${VAR:-default} are expanded outside comments ("$$" is a literal "$", $VAR without braces
// is not expanded; an unset variable without default is an error naming it), unknown keys
// are errors, and every error names the file and line. lookup resolves variables (nil:
// os.LookupEnv). The result is not yet validated.
func LoadConfig(path string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if err := config.Load(path, &cfg, config.Options{Lookup: lookup, Sentinel: ErrConfig}); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ParseConfig is LoadConfig for data already read (errors give line numbers only).
func ParseConfig(data []byte, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if err := config.Parse("", data, &cfg, config.Options{Lookup: lookup, Sentinel: ErrConfig}); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the configuration and names the first bad field.
func (c *Config) Validate() error {
	switch c.Store.Backend {
	case BackendSQLite:
		if c.Store.Path == "" || strings.ContainsAny(c.Store.Path, "?#") {
			return &ConfigError{Field: "store.path", Reason: "must be a file path without '?' or '#'"}
		}
	case BackendMemory:
	default:
		return &ConfigError{Field: "store.backend", Reason: fmt.Sprintf("must be %q or %q", BackendSQLite, BackendMemory)}
	}
	if c.Store.BusyTimeout < 0 {
		return &ConfigError{Field: "store.busy_timeout", Reason: "must not be negative"}
	}
	if c.Store.ReadConns < 0 {
		return &ConfigError{Field: "store.read_conns", Reason: "must not be negative"}
	}
	if err := c.SQN.Validate(); err != nil {
		return err
	}
	p := c.Provisioning
	if err := validateHostPort("provisioning.listen", p.Listen); err != nil {
		return err
	}
	if p.Token != "" && len(p.Token) < 16 {
		return &ConfigError{Field: "provisioning.token", Reason: "must be at least 16 characters"}
	}
	if p.DefaultLimit < 1 {
		return &ConfigError{Field: "provisioning.default_limit", Reason: "must be at least 1"}
	}
	if p.MaxLimit < p.DefaultLimit {
		return &ConfigError{Field: "provisioning.max_limit", Reason: "must be at least default_limit"}
	}
	if p.MaxBodyBytes < 1024 {
		return &ConfigError{Field: "provisioning.max_body_bytes", Reason: "must be at least 1024"}
	}
	d := c.Diameter
	if len(d.ListenTCP)+len(d.ListenSCTP) == 0 {
		return &ConfigError{Field: "diameter.listen_tcp", Reason: "need at least one TCP or SCTP listen address"}
	}
	for i, a := range d.ListenTCP {
		if err := validateHostPort(fmt.Sprintf("diameter.listen_tcp[%d]", i), a); err != nil {
			return err
		}
	}
	for i, a := range d.ListenSCTP {
		if err := validateHostPort(fmt.Sprintf("diameter.listen_sctp[%d]", i), a); err != nil {
			return err
		}
	}
	if (d.TLS.CertFile == "") != (d.TLS.KeyFile == "") {
		return &ConfigError{Field: "diameter.tls.key_file", Reason: "cert_file and key_file go together"}
	}
	if d.TLS.CAFile != "" && d.TLS.CertFile == "" {
		return &ConfigError{Field: "diameter.tls.ca_file", Reason: "needs cert_file and key_file"}
	}
	if err := validateDiameterIdentity("diameter.origin_host", d.OriginHost); err != nil {
		return err
	}
	if err := validateDiameterIdentity("diameter.origin_realm", d.OriginRealm); err != nil {
		return err
	}
	if !d.Open && len(d.Peers) == 0 {
		return &ConfigError{Field: "diameter.peers", Reason: "empty allowlist: list the BSF Origin-Host values or set diameter.open: true"}
	}
	for i, peer := range d.Peers {
		if err := validateDiameterIdentity(fmt.Sprintf("diameter.peers[%d]", i), peer); err != nil {
			return err
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return &ConfigError{Field: "log.level", Reason: "must be debug, info, warn or error"}
	}
	return nil
}

func validateHostPort(field, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return &ConfigError{Field: field, Reason: "want host:port"}
	}
	return nil
}

// validateDiameterIdentity checks a DiameterIdentity (an FQDN, RFC 6733 §4.3.1) loosely:
// non-empty, no spaces or control characters.
func validateDiameterIdentity(field, v string) error {
	if v == "" {
		return &ConfigError{Field: field, Reason: "required"}
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f {
			return &ConfigError{Field: field, Reason: "must be an FQDN"}
		}
	}
	return nil
}
