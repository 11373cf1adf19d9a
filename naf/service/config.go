package service

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/opengba/opengba/internal/config"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/maf"
	"github.com/opengba/opengba/naf/mef"
)

// Role selects what one process serves.
type Role string

// Roles.
const (
	RoleMEF  Role = "mef"
	RoleMAF  Role = "maf"
	RoleBoth Role = "both"
)

// HasMEF reports whether r serves the MEF.
func (r Role) HasMEF() bool { return r == RoleMEF || r == RoleBoth }

// HasMAF reports whether r serves the MAF.
func (r Role) HasMAF() bool { return r == RoleMAF || r == RoleBoth }

// Store backends.
const (
	BackendSQLite = "sqlite"
	BackendMemory = "memory"
)

// Config is the whole configuration of cmd/naf. Build it with Default, overlay a file with
// LoadConfig or ParseConfig, overlay flags, then call Validate. See naf/naf.example.yaml.
type Config struct {
	Role Role             `yaml:"role"`
	Log  LogConfig        `yaml:"log"`
	Ops  OpsConfig        `yaml:"ops"`
	NAF  NAFConfig        `yaml:"naf"`
	Zn   naf.ZnConfig     `yaml:"zn"`
	MEF  MEFConfig        `yaml:"mef"`
	MAF  MAFConfig        `yaml:"maf"`
	Now  func() time.Time `yaml:"-"` // clock; nil means time.Now
}

// LogConfig configures the slog JSON logger.
type LogConfig struct {
	Level string `yaml:"level"` // debug, info, warn, error; IMPIs appear only at debug
}

// OpsConfig is the operations listener: /metrics, /healthz, /readyz.
type OpsConfig struct {
	Listen string `yaml:"listen"`
}

// NAFConfig configures the Ua side of the MEF (package naf).
type NAFConfig struct {
	// FQDN is the MEF's NAF FQDN: realm "3GPP-bootstrapping@<fqdn>", NAF_Id = FQDN || Ua id.
	FQDN string `yaml:"fqdn"`
	// UaID is the Ua security protocol id as 10 hex digits (default "0100000002",
	// HTTP Digest, TS 33.220 §H.3).
	UaID string `yaml:"ua_id"`
	// UICC uses the GBA_U realm "3GPP-bootstrapping-uicc@".
	UICC         bool          `yaml:"uicc"`
	NonceTTL     time.Duration `yaml:"nonce_ttl"`
	MaxNonces    int           `yaml:"max_nonces"`
	MaxBodyBytes int64         `yaml:"max_body_bytes"`
	RetryAfter   time.Duration `yaml:"retry_after"`
	Cache        CacheConfig   `yaml:"cache"`
}

// CacheConfig configures the Ks_NAF cache.
type CacheConfig struct {
	Size         int           `yaml:"size"`
	FetchTimeout time.Duration `yaml:"fetch_timeout"`
}

// TLSConfig names PEM files of a listener. ClientCAFile makes the listener verify client
// certificates (required for the MAF's mtls mode).
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// StoreConfig selects a store.
type StoreConfig struct {
	Backend     string        `yaml:"backend"` // sqlite (default) or memory
	Path        string        `yaml:"path"`
	BusyTimeout time.Duration `yaml:"busy_timeout"`
}

// MEFConfig configures the M2M Enrolment Function.
type MEFConfig struct {
	Listen        string      `yaml:"listen"`
	TLS           TLSConfig   `yaml:"tls"`
	SPID          string      `yaml:"sp_id"`
	INCSEID       string      `yaml:"in_cse_id"`
	MAFID         string      `yaml:"maf_id"`
	OpenEnrolment bool        `yaml:"open_enrolment"`
	NodeIDKey     string      `yaml:"node_id_key"` // base64, optional
	AdminToken    string      `yaml:"admin_token"` // empty: admin API off (use the CLI)
	Store         StoreConfig `yaml:"store"`
	MAF           MAFLink     `yaml:"maf"`
}

// MAFLink is how the MEF reaches the MAF.
type MAFLink struct {
	// URL of the MAF API; empty with role both means in-process (no network hop).
	URL string `yaml:"url"`
	// Token is the MEF's bearer token at the MAF (token mode).
	Token string `yaml:"token"`
	// CAFile verifies the MAF's certificate; CertFile/KeyFile are the MEF's client
	// certificate (mtls mode).
	CAFile   string        `yaml:"ca_file"`
	CertFile string        `yaml:"cert_file"`
	KeyFile  string        `yaml:"key_file"`
	Timeout  time.Duration `yaml:"timeout"`
}

// MAFConfig configures the M2M Authentication Function.
type MAFConfig struct {
	Listen         string        `yaml:"listen"`
	TLS            TLSConfig     `yaml:"tls"`
	KEK            string        `yaml:"kek"`      // base64 of 32 octets
	MEFAuth        string        `yaml:"mef_auth"` // token (default) or mtls
	MEFToken       string        `yaml:"mef_token"`
	MEFClientNames []string      `yaml:"mef_client_names"`
	CSEToken       string        `yaml:"cse_token"`
	Store          StoreConfig   `yaml:"store"`
	SweepInterval  time.Duration `yaml:"sweep_interval"`
}

// Default returns a configuration for a local run (role both, SQLite files in the working
// directory, loopback listeners). Secrets (tokens, KEK) have no defaults.
func Default() Config {
	return Config{
		Role: RoleBoth,
		Log:  LogConfig{Level: "info"},
		Ops:  OpsConfig{Listen: "127.0.0.1:9090"},
		NAF: NAFConfig{
			UaID: "0100000002", NonceTTL: naf.DefaultNonceTTL, MaxNonces: naf.DefaultMaxNonces,
			MaxBodyBytes: naf.DefaultMaxBody, RetryAfter: naf.DefaultRetryAfter,
			Cache: CacheConfig{Size: naf.DefaultCacheSize, FetchTimeout: naf.DefaultFetchTimeout},
		},
		Zn: naf.DefaultZnConfig(),
		MEF: MEFConfig{
			Listen: "127.0.0.1:8080",
			Store:  StoreConfig{Backend: BackendSQLite, Path: "mef.db"},
			MAF:    MAFLink{Timeout: 10 * time.Second},
		},
		MAF: MAFConfig{
			Listen:        "127.0.0.1:8443",
			MEFAuth:       string(maf.MEFAuthToken),
			Store:         StoreConfig{Backend: BackendSQLite, Path: "maf.db"},
			SweepInterval: time.Minute,
		},
	}
}

// LoadConfig reads the file at path over Default() with internal/config: ${VAR} and
// ${VAR:-default} are expanded outside comments ("$$" is a literal "$", $VAR without braces
// is not expanded; an unset variable without default is an error naming it), unknown keys
// are errors, and every error names the file and line. lookup resolves variables (nil:
// os.LookupEnv). The result is not yet validated.
func LoadConfig(path string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if err := config.Load(path, &cfg, config.Options{Lookup: lookup, Sentinel: naf.ErrConfig}); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ParseConfig is LoadConfig for data already read (errors give line numbers only).
func ParseConfig(data []byte, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if err := config.Parse("", data, &cfg, config.Options{Lookup: lookup, Sentinel: naf.ErrConfig}); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func bad(field, reason string) error { return &naf.ConfigError{Field: field, Reason: reason} }

// Validate checks the sections the role needs and names the first bad field.
func (c *Config) Validate() error {
	switch c.Role {
	case RoleMEF, RoleMAF, RoleBoth:
	default:
		return bad("role", "must be mef, maf or both")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error")
	}
	if err := hostPort("ops.listen", c.Ops.Listen); err != nil {
		return err
	}
	if c.Role.HasMEF() {
		if err := c.validateMEF(); err != nil {
			return err
		}
	}
	if c.Role.HasMAF() {
		if err := c.validateMAF(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateMEF() error {
	n := c.NAF
	if _, err := gba.NewNAFID(n.FQDN, gba.UaIDHTTPDigest); err != nil {
		return bad("naf.fqdn", "must be the NAF's host name (as the UE spells it)")
	}
	if _, err := c.UaID(); err != nil {
		return bad("naf.ua_id", "must be 10 hex digits (5 octets), e.g. 0100000002")
	}
	if n.NonceTTL <= 0 {
		return bad("naf.nonce_ttl", "must be positive")
	}
	if n.MaxNonces < 1 {
		return bad("naf.max_nonces", "must be at least 1")
	}
	if n.MaxBodyBytes < 1 {
		return bad("naf.max_body_bytes", "must be at least 1")
	}
	if n.RetryAfter <= 0 {
		return bad("naf.retry_after", "must be positive")
	}
	if n.Cache.Size < 1 {
		return bad("naf.cache.size", "must be at least 1")
	}
	if n.Cache.FetchTimeout <= 0 {
		return bad("naf.cache.fetch_timeout", "must be positive")
	}
	if err := c.Zn.Validate("zn"); err != nil {
		return err
	}
	m := c.MEF
	if err := hostPort("mef.listen", m.Listen); err != nil {
		return err
	}
	if err := tlsPair("mef.tls", m.TLS); err != nil {
		return err
	}
	if m.TLS.ClientCAFile != "" {
		return bad("mef.tls.client_ca_file", "not used by the MEF (UEs authenticate with Ua)")
	}
	if _, err := gba.NewNAFID(m.SPID, gba.UaIDHTTPDigest); err != nil {
		return bad("mef.sp_id", "must be the service provider's domain, e.g. sp.example.com")
	}
	if err := mef.ValidateCSEID("mef.in_cse_id", m.INCSEID); err != nil {
		return bad("mef.in_cse_id", "must be SP-relative \"/<id>\"")
	}
	if _, err := gba.NewNAFID(m.MAFID, gba.UaIDHTTPDigest); err != nil {
		return bad("mef.maf_id", "must be the MAF's FQDN")
	}
	if _, err := c.NodeIDKey(); err != nil {
		return bad("mef.node_id_key", "must be standard base64")
	}
	if m.AdminToken != "" && len(m.AdminToken) < 16 {
		return bad("mef.admin_token", "must be at least 16 characters (or empty to disable the admin API)")
	}
	if err := storeCfg("mef.store", m.Store); err != nil {
		return err
	}
	l := m.MAF
	if l.URL == "" {
		if c.Role != RoleBoth {
			return bad("mef.maf.url", "required unless role is both (then the MAF is in-process)")
		}
	} else {
		u, err := url.Parse(l.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("mef.maf.url", "must be http(s)://host[:port]")
		}
		if l.Token == "" && l.CertFile == "" {
			return bad("mef.maf.token", "set a token or a client certificate (cert_file, key_file)")
		}
		if (l.CertFile == "") != (l.KeyFile == "") {
			return bad("mef.maf.key_file", "cert_file and key_file go together")
		}
		if (l.CertFile != "" || l.CAFile != "") && u.Scheme != "https" {
			return bad("mef.maf.url", "must be https with ca_file or a client certificate")
		}
	}
	if l.Timeout <= 0 {
		return bad("mef.maf.timeout", "must be positive")
	}
	return nil
}

func (c *Config) validateMAF() error {
	m := c.MAF
	if err := hostPort("maf.listen", m.Listen); err != nil {
		return err
	}
	if err := tlsPair("maf.tls", m.TLS); err != nil {
		return err
	}
	if _, err := c.KEK(); err != nil {
		return bad("maf.kek", "must be standard base64 of 32 octets (e.g. openssl rand -base64 32)")
	}
	switch maf.MEFAuth(m.MEFAuth) {
	case maf.MEFAuthToken:
		if len(m.MEFToken) < 16 {
			return bad("maf.mef_token", "must be at least 16 characters")
		}
	case maf.MEFAuthMTLS:
		if m.TLS.ClientCAFile == "" {
			return bad("maf.tls.client_ca_file", "required with mef_auth: mtls")
		}
	default:
		return bad("maf.mef_auth", "must be token or mtls")
	}
	if len(m.CSEToken) < 16 {
		return bad("maf.cse_token", "must be at least 16 characters")
	}
	if m.CSEToken == m.MEFToken {
		return bad("maf.cse_token", "must differ from mef_token")
	}
	if err := storeCfg("maf.store", m.Store); err != nil {
		return err
	}
	if m.SweepInterval <= 0 {
		return bad("maf.sweep_interval", "must be positive")
	}
	return nil
}

// UaID parses naf.ua_id.
func (c *Config) UaID() (gba.UaID, error) {
	b, err := hex.DecodeString(c.NAF.UaID)
	if err != nil {
		return 0, err
	}
	return gba.ParseUaID(b)
}

// KEK decodes maf.kek (32 octets).
func (c *Config) KEK() ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(c.MAF.KEK)
	if err != nil || len(b) != maf.KEKSize {
		return nil, errors.New("naf: config: maf.kek: want base64 of 32 octets")
	}
	return b, nil
}

// NodeIDKey decodes mef.node_id_key (nil when unset).
func (c *Config) NodeIDKey() ([]byte, error) {
	if c.MEF.NodeIDKey == "" {
		return nil, nil
	}
	return base64.StdEncoding.Strict().DecodeString(c.MEF.NodeIDKey)
}

func hostPort(field, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return bad(field, "want host:port")
	}
	return nil
}

func tlsPair(field string, t TLSConfig) error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return bad(field+".key_file", "cert_file and key_file go together")
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		return bad(field+".client_ca_file", "needs cert_file and key_file")
	}
	return nil
}

func storeCfg(field string, s StoreConfig) error {
	switch s.Backend {
	case BackendSQLite:
		if s.Path == "" || strings.ContainsAny(s.Path, "?#") {
			return bad(field+".path", "must be a file path without '?' or '#'")
		}
	case BackendMemory:
	default:
		return bad(field+".backend", "must be sqlite or memory")
	}
	if s.BusyTimeout < 0 {
		return bad(field+".busy_timeout", "must not be negative")
	}
	return nil
}
