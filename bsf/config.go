package bsf

import (
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opengba/opengba/internal/config"
	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
)

// Store backends.
const (
	BackendSQLite = "sqlite"
	BackendMemory = "memory"
	BackendRedis  = "redis"
)

// NAF IMPI policies (NAFPolicy.IMPI).
const (
	IMPINever     = "never"      // never send User-Name on Zn (default)
	IMPIOnRequest = "on_request" // send it when the BIR carries Private-Identity-Request
	IMPIAlways    = "always"     // always send it
)

// Config is the whole BSF configuration. Build it with Default, overlay a file with
// LoadConfig or ParseConfig, overlay flags, then call Validate.
type Config struct {
	Ub    UbConfig    `yaml:"ub"`
	Store StoreConfig `yaml:"store"`
	Zh    ZhConfig    `yaml:"zh"`
	Zn    ZnConfig    `yaml:"zn"`
	Ops   OpsConfig   `yaml:"ops"`
	Log   LogConfig   `yaml:"log"`

	// Rand is the randomness source for opaque values and AES-GCM nonces (nil:
	// crypto/rand). Not read from files.
	Rand io.Reader `yaml:"-"`
	// Now is the clock (nil: time.Now). Not read from files.
	Now func() time.Time `yaml:"-"`
}

// UbConfig configures the Ub reference point (TS 24.109 §4, Annex A).
type UbConfig struct {
	// Listen is the TCP address of the Ub HTTP(S) server.
	Listen string `yaml:"listen"`
	// Domain is the BSF server domain name, the realm part of every B-TID
	// (TS 33.220 §4.5.2).
	Domain string `yaml:"domain"`
	// Realm is the Digest realm (TS 24.109 Annex A: the BSF's domain); "" means Domain.
	Realm string `yaml:"realm"`
	// Algorithm is AKAv1-MD5 (RFC 3310, default) or AKAv2-MD5 (RFC 4169).
	Algorithm string `yaml:"algorithm"`
	// NonceMaxAge is how long a challenge may be answered (default 60 s).
	NonceMaxAge time.Duration `yaml:"nonce_max_age"`
	// MaxPendingChallenges bounds the in-memory pending-challenge table.
	MaxPendingChallenges int `yaml:"max_pending_challenges"`
	// MaxFailures is the number of wrong responses in a row after which the BSF answers 403
	// instead of a fresh 401 (default 3).
	MaxFailures int `yaml:"max_failures"`
	// DefaultLifetime is the key lifetime when the GUSS gives none (default 24 h,
	// TS 33.220 §4.5.2).
	DefaultLifetime time.Duration `yaml:"default_lifetime"`
	// RetryAfter is the Retry-After of a 503 (whole seconds, default 5 s).
	RetryAfter time.Duration `yaml:"retry_after"`
	// MaxHeaderBytes and MaxBodyBytes bound a request.
	MaxHeaderBytes int   `yaml:"max_header_bytes"`
	MaxBodyBytes   int64 `yaml:"max_body_bytes"`
	// HTTP server timeouts. WriteTimeout must exceed zh.timeout.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// TLS enables HTTPS when both files are set (plain HTTP otherwise).
	TLS TLSConfig `yaml:"tls"`
}

// TLSConfig names PEM files.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// StoreConfig selects and configures the session store.
type StoreConfig struct {
	// Backend is sqlite (default, embedded and durable), memory (tests) or redis.
	Backend string `yaml:"backend"`
	// KEK is the key-encryption key for Ks at rest (AES-256-GCM, AAD = B-TID): 32 octets in
	// base64 or hex. Use ${VAR} expansion rather than writing it into the file. Required
	// by the sqlite and redis backends; KEKFile names a file holding it instead.
	KEK     string `yaml:"kek"`
	KEKFile string `yaml:"kek_file"`
	// PreviousKEKs still open records sealed before a key rotation.
	PreviousKEKs []string `yaml:"previous_keks"`
	// SweepInterval is how often expired sessions are deleted (sqlite, memory).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	SQLite        SQLiteConfig  `yaml:"sqlite"`
	Redis         RedisConfig   `yaml:"redis"`
}

// SQLiteConfig configures the embedded durable store.
type SQLiteConfig struct {
	// Path is the database file (created 0600).
	Path string `yaml:"path"`
	// Synchronous is normal (default: a committed session survives a crash of the BSF
	// process, kill -9 included; the last commits may be lost on power failure) or full
	// (survives power failure too, one fsync per bootstrap).
	Synchronous string `yaml:"synchronous"`
	// BusyTimeout is how long a statement waits for a lock.
	BusyTimeout time.Duration `yaml:"busy_timeout"`
}

// RedisConfig configures the Redis backend (single node or Redis Cluster).
type RedisConfig struct {
	// Addrs is one address (single node) or the seed list of a cluster.
	Addrs []string `yaml:"addrs"`
	// Cluster forces the cluster client with a single seed address.
	Cluster  bool   `yaml:"cluster"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// DB selects the database (single node only).
	DB int `yaml:"db"`
	// KeyPrefix prefixes every key (default "bsf:").
	KeyPrefix    string        `yaml:"key_prefix"`
	TLS          bool          `yaml:"tls"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	PoolSize     int           `yaml:"pool_size"`
}

// ZhConfig holds the Zh settings (TS 29.109 §4): the BSF's Diameter identity towards the
// HSS and the HSS peers. The Zh client (zh.go) reads them.
type ZhConfig struct {
	// Timeout bounds one MAR/MAA exchange; on expiry Ub answers 503 (default 2 s).
	Timeout time.Duration `yaml:"timeout"`
	// OriginHost and OriginRealm identify the BSF (RFC 6733 §6.3, §6.4).
	OriginHost  string `yaml:"origin_host"`
	OriginRealm string `yaml:"origin_realm"`
	// DestinationRealm is the HSS realm.
	DestinationRealm string `yaml:"destination_realm"`
	// Peers are the HSSs, tried by ascending Priority.
	Peers []HSSPeer `yaml:"peers"`
	// TLS, when any file is set, runs TLS over every TCP connection to an HSS (RFC 6733
	// §2.1, §13.1; not over SCTP): CAFile verifies the HSS certificate (empty: the system
	// roots, of which FROM scratch images have none) against the peer's host (or the
	// address's host); CertFile and KeyFile are the BSF's client certificate, for an HSS
	// that requires one. Flags -zh-tls-ca, -zh-tls-cert, -zh-tls-key override them.
	TLS DiameterTLSConfig `yaml:"tls"`
	// WatchdogInterval is the DWR interval (RFC 6733 §5.5).
	WatchdogInterval time.Duration `yaml:"watchdog_interval"`
	// GUSSCacheSize bounds the per-IMPI GUSS cache (0 disables it).
	GUSSCacheSize int `yaml:"guss_cache_size"`
}

// HSSPeer is one HSS the BSF connects to.
type HSSPeer struct {
	// Address is host:port.
	Address string `yaml:"address"`
	// Host is the expected Origin-Host of the HSS (Destination-Host when set).
	Host string `yaml:"host"`
	// Transport is tcp (default) or sctp.
	Transport string `yaml:"transport"`
	// Priority orders the peers: lower first. Peers of equal priority are tried in
	// configuration order; they do not share load: the Zh client keeps one connection, to
	// the first reachable peer, and fails over to the next (specs/decisions.md DV.10).
	Priority int `yaml:"priority"`
}

// ZnConfig holds the Zn settings (TS 29.109 §5): listen addresses, the BSF's Diameter
// identity towards NAFs and the NAF authorisation map. The Zn server (zn.go) reads the
// transport fields; BootstrappingInfo applies NAFs.
type ZnConfig struct {
	ListenTCP  []string `yaml:"listen_tcp"`
	ListenSCTP []string `yaml:"listen_sctp"`
	// OriginHost and OriginRealm identify the BSF on Zn.
	OriginHost  string `yaml:"origin_host"`
	OriginRealm string `yaml:"origin_realm"`
	// NAFs maps a NAF's Diameter Origin-Host to what it may ask for.
	NAFs map[string]NAFPolicy `yaml:"nafs"`
	// Open accepts a CER from any Origin-Host; otherwise only the NAFs of NAFs may connect
	// (others get DIAMETER_UNKNOWN_PEER, RFC 6733 §5.3). Either way a BIR is answered only
	// for the NAFs of NAFs. Flag -zn-open overrides it.
	Open bool `yaml:"open"`
	// TLS, when CertFile and KeyFile are set, makes every TCP listener a TLS listener
	// (RFC 6733 §2.1, §13.1: TLS starts before the CER); with CAFile, NAFs must present a
	// client certificate it signed. Flags -zn-tls-cert, -zn-tls-key, -zn-tls-ca override them.
	TLS DiameterTLSConfig `yaml:"tls"`
}

// DiameterTLSConfig names the PEM files of TLS on a Diameter reference point (zh.tls, zn.tls;
// each says what CAFile verifies there).
type DiameterTLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"`
}

// NAFPolicy is the BSF's local policy for one NAF (TS 33.220 §4.5.3, Annex J).
type NAFPolicy struct {
	// FQDNs lists the NAF FQDNs this NAF may use in NAF-Id (compared case-insensitively).
	FQDNs []string `yaml:"fqdns"`
	// Group is the NAF group matched against the nafGroup attribute of the USSs.
	Group string `yaml:"group"`
	// IMPI is never (default), on_request or always.
	IMPI string `yaml:"impi"`
}

// OpsConfig configures the operations listener (/metrics, /healthz, /readyz).
type OpsConfig struct {
	Listen string `yaml:"listen"`
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

func (e *ConfigError) Error() string { return "bsf: config: " + e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Default returns the defaults: Ub on 127.0.0.1:8090 (plain HTTP), SQLite at ./bsf.db,
// AKAv1-MD5, nonce max age 60 s, key lifetime 1 day, Zh timeout 2 s, one HSS peer on
// 127.0.0.1:3868, Zn on 127.0.0.1:3869 with no NAF authorised, /metrics on 127.0.0.1:9091.
// It does not validate until a key-encryption key is set (store.kek or store.kek_file).
func Default() Config {
	return Config{
		Ub: UbConfig{
			Listen:               "127.0.0.1:8090",
			Domain:               "bsf.opengba.test",
			Algorithm:            string(digest.AKAv1MD5),
			NonceMaxAge:          60 * time.Second,
			MaxPendingChallenges: 100_000,
			MaxFailures:          3,
			DefaultLifetime:      24 * time.Hour,
			RetryAfter:           5 * time.Second,
			MaxHeaderBytes:       8 << 10,
			MaxBodyBytes:         16 << 10,
			ReadHeaderTimeout:    5 * time.Second,
			ReadTimeout:          10 * time.Second,
			WriteTimeout:         10 * time.Second,
			IdleTimeout:          60 * time.Second,
		},
		Store: StoreConfig{
			Backend:       BackendSQLite,
			SweepInterval: time.Minute,
			SQLite:        SQLiteConfig{Path: "bsf.db", Synchronous: "normal", BusyTimeout: 5 * time.Second},
			Redis: RedisConfig{
				KeyPrefix:    "bsf:",
				DialTimeout:  2 * time.Second,
				ReadTimeout:  time.Second,
				WriteTimeout: time.Second,
			},
		},
		Zh: ZhConfig{
			Timeout:          2 * time.Second,
			OriginHost:       "bsf.opengba.test",
			OriginRealm:      "opengba.test",
			DestinationRealm: "opengba.test",
			Peers:            []HSSPeer{{Address: "127.0.0.1:3868", Host: "hss.opengba.test", Transport: "tcp", Priority: 1}},
			WatchdogInterval: 30 * time.Second,
			GUSSCacheSize:    100_000,
		},
		Zn: ZnConfig{
			ListenTCP:   []string{"127.0.0.1:3869"},
			OriginHost:  "bsf.opengba.test",
			OriginRealm: "opengba.test",
		},
		Ops: OpsConfig{Listen: "127.0.0.1:9091"},
		Log: LogConfig{Level: "info"},
	}
}

// LoadConfig reads the file at path over Default() with internal/config: ${VAR} and
// ${VAR:-default} are expanded outside comments ("$$" is a literal "$", $VAR without braces
// is not expanded; an unset variable without default is an error naming it), unknown keys
// are errors, and every error names the file and line. A list in the file (zh.peers,
// zn.listen_tcp) replaces the default list. lookup resolves variables (nil: os.LookupEnv).
// The result is not yet validated.
func LoadConfig(path string, lookup func(string) (string, bool)) (Config, error) {
	return loadConfig(func(cfg *Config) error {
		return config.Load(path, cfg, config.Options{Lookup: lookup, Sentinel: ErrConfig})
	})
}

// ParseConfig is LoadConfig for data already read (errors give line numbers only).
func ParseConfig(data []byte, lookup func(string) (string, bool)) (Config, error) {
	return loadConfig(func(cfg *Config) error {
		return config.Parse("", data, cfg, config.Options{Lookup: lookup, Sentinel: ErrConfig})
	})
}

func loadConfig(decode func(*Config) error) (Config, error) {
	cfg := Default()
	// Lists replace the defaults instead of merging into them.
	cfg.Zh.Peers, cfg.Zn.ListenTCP = nil, nil
	if err := decode(&cfg); err != nil {
		return Config{}, err
	}
	def := Default()
	if cfg.Zh.Peers == nil {
		cfg.Zh.Peers = def.Zh.Peers
	}
	if cfg.Zn.ListenTCP == nil && cfg.Zn.ListenSCTP == nil {
		cfg.Zn.ListenTCP = def.Zn.ListenTCP
	}
	return cfg, nil
}

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks the configuration and names the first bad field.
func (c *Config) Validate() error {
	u := c.Ub
	if err := validateHostPort("ub.listen", u.Listen); err != nil {
		return err
	}
	if _, err := gba.NewBTID(make([]byte, gba.RANDSize), u.Domain); err != nil {
		return cfgErr("ub.domain", "must be a host name (the B-TID realm)")
	}
	if strings.ContainsFunc(u.Realm, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return cfgErr("ub.realm", "must not contain control characters")
	}
	switch digest.Algorithm(u.Algorithm) {
	case digest.AKAv1MD5, digest.AKAv2MD5:
	default:
		return cfgErr("ub.algorithm", "must be %s or %s", digest.AKAv1MD5, digest.AKAv2MD5)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"ub.nonce_max_age", u.NonceMaxAge},
		{"ub.default_lifetime", u.DefaultLifetime},
		{"ub.retry_after", u.RetryAfter},
		{"ub.read_header_timeout", u.ReadHeaderTimeout},
		{"ub.read_timeout", u.ReadTimeout},
		{"ub.write_timeout", u.WriteTimeout},
		{"ub.idle_timeout", u.IdleTimeout},
		{"zh.timeout", c.Zh.Timeout},
	} {
		if d.v <= 0 {
			return cfgErr(d.field, "must be positive")
		}
	}
	if u.DefaultLifetime < time.Second {
		return cfgErr("ub.default_lifetime", "must be at least 1s")
	}
	if u.MaxPendingChallenges < 1 {
		return cfgErr("ub.max_pending_challenges", "must be at least 1")
	}
	if u.MaxFailures < 1 {
		return cfgErr("ub.max_failures", "must be at least 1")
	}
	if u.MaxHeaderBytes < 1024 {
		return cfgErr("ub.max_header_bytes", "must be at least 1024")
	}
	if u.MaxBodyBytes < 0 {
		return cfgErr("ub.max_body_bytes", "must not be negative")
	}
	if u.WriteTimeout <= c.Zh.Timeout {
		return cfgErr("ub.write_timeout", "must exceed zh.timeout so that a 503 can still be written")
	}
	if (u.TLS.CertFile == "") != (u.TLS.KeyFile == "") {
		return cfgErr("ub.tls.key_file", "cert_file and key_file go together")
	}

	s := c.Store
	switch s.Backend {
	case BackendMemory:
	case BackendSQLite:
		if s.SQLite.Path == "" || strings.ContainsAny(s.SQLite.Path, "?#") {
			return cfgErr("store.sqlite.path", "must be a file path without '?' or '#'")
		}
		if s.SQLite.Synchronous != "normal" && s.SQLite.Synchronous != "full" {
			return cfgErr("store.sqlite.synchronous", "must be normal or full")
		}
		if s.SQLite.BusyTimeout < 0 {
			return cfgErr("store.sqlite.busy_timeout", "must not be negative")
		}
	case BackendRedis:
		r := s.Redis
		if len(r.Addrs) == 0 {
			return cfgErr("store.redis.addrs", "need at least one host:port")
		}
		for i, a := range r.Addrs {
			if err := validateHostPort(fmt.Sprintf("store.redis.addrs[%d]", i), a); err != nil {
				return err
			}
		}
		if r.DB != 0 && (r.Cluster || len(r.Addrs) > 1) {
			return cfgErr("store.redis.db", "Redis Cluster has only database 0")
		}
		if r.DB < 0 || r.PoolSize < 0 {
			return cfgErr("store.redis.db", "db and pool_size must not be negative")
		}
	default:
		return cfgErr("store.backend", "must be %s, %s or %s", BackendSQLite, BackendMemory, BackendRedis)
	}
	if s.Backend != BackendMemory {
		if _, _, err := s.KEKs(); err != nil {
			return err
		}
	}
	if s.SweepInterval <= 0 {
		return cfgErr("store.sweep_interval", "must be positive")
	}

	z := c.Zh
	if err := validateDiameterIdentity("zh.origin_host", z.OriginHost); err != nil {
		return err
	}
	if err := validateDiameterIdentity("zh.origin_realm", z.OriginRealm); err != nil {
		return err
	}
	if err := validateDiameterIdentity("zh.destination_realm", z.DestinationRealm); err != nil {
		return err
	}
	if len(z.Peers) == 0 {
		return cfgErr("zh.peers", "need at least one HSS peer")
	}
	for i, p := range z.Peers {
		f := fmt.Sprintf("zh.peers[%d]", i)
		if err := validateHostPort(f+".address", p.Address); err != nil {
			return err
		}
		if p.Host != "" {
			if err := validateDiameterIdentity(f+".host", p.Host); err != nil {
				return err
			}
		}
		if p.Transport != "" && p.Transport != "tcp" && p.Transport != "sctp" {
			return cfgErr(f+".transport", "must be tcp or sctp")
		}
		if p.Priority < 0 {
			return cfgErr(f+".priority", "must not be negative")
		}
	}
	if z.WatchdogInterval <= 0 {
		return cfgErr("zh.watchdog_interval", "must be positive")
	}
	if z.GUSSCacheSize < 0 {
		return cfgErr("zh.guss_cache_size", "must not be negative")
	}
	if (z.TLS.CertFile == "") != (z.TLS.KeyFile == "") {
		return cfgErr("zh.tls.key_file", "cert_file and key_file go together")
	}

	n := c.Zn
	if len(n.ListenTCP)+len(n.ListenSCTP) == 0 {
		return cfgErr("zn.listen_tcp", "need at least one TCP or SCTP listen address")
	}
	for i, a := range n.ListenTCP {
		if err := validateHostPort(fmt.Sprintf("zn.listen_tcp[%d]", i), a); err != nil {
			return err
		}
	}
	for i, a := range n.ListenSCTP {
		if err := validateHostPort(fmt.Sprintf("zn.listen_sctp[%d]", i), a); err != nil {
			return err
		}
	}
	if err := validateDiameterIdentity("zn.origin_host", n.OriginHost); err != nil {
		return err
	}
	if err := validateDiameterIdentity("zn.origin_realm", n.OriginRealm); err != nil {
		return err
	}
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		return cfgErr("zn.tls.key_file", "cert_file and key_file go together")
	}
	if n.TLS.CAFile != "" && n.TLS.CertFile == "" {
		return cfgErr("zn.tls.ca_file", "needs cert_file and key_file (the server's certificate)")
	}
	hosts := make([]string, 0, len(n.NAFs))
	for host := range n.NAFs {
		hosts = append(hosts, host)
	}
	slices.Sort(hosts)
	for _, host := range hosts {
		p := n.NAFs[host]
		f := "zn.nafs[" + host + "]"
		if err := validateDiameterIdentity(f, host); err != nil {
			return err
		}
		if len(p.FQDNs) == 0 {
			return cfgErr(f+".fqdns", "need at least one NAF FQDN")
		}
		for i, fq := range p.FQDNs {
			if _, err := gba.NewNAFID(fq, gba.UaIDDefault); err != nil {
				return cfgErr(fmt.Sprintf("%s.fqdns[%d]", f, i), "must be a host name")
			}
		}
		switch p.IMPI {
		case "", IMPINever, IMPIOnRequest, IMPIAlways:
		default:
			return cfgErr(f+".impi", "must be %s, %s or %s", IMPINever, IMPIOnRequest, IMPIAlways)
		}
	}

	if err := validateHostPort("ops.listen", c.Ops.Listen); err != nil {
		return err
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return cfgErr("log.level", "must be debug, info, warn or error")
	}
	return nil
}

// KEKs returns the current key-encryption key and the previous ones (store.kek or the
// content of store.kek_file, and store.previous_keks).
func (s StoreConfig) KEKs() (current []byte, previous [][]byte, err error) {
	raw := s.KEK
	switch {
	case s.KEK != "" && s.KEKFile != "":
		return nil, nil, cfgErr("store.kek_file", "set kek or kek_file, not both")
	case s.KEKFile != "":
		b, err := os.ReadFile(s.KEKFile)
		if err != nil {
			return nil, nil, cfgErr("store.kek_file", "cannot read the file")
		}
		raw = string(b)
	case s.KEK == "":
		return nil, nil, cfgErr("store.kek", "required by the %s backend (32 octets, base64 or hex)", s.Backend)
	}
	current, err = ParseKEK(raw)
	if err != nil {
		return nil, nil, cfgErr("store.kek", "must be 32 octets in base64 or hex")
	}
	for i, p := range s.PreviousKEKs {
		k, err := ParseKEK(p)
		if err != nil {
			return nil, nil, cfgErr(fmt.Sprintf("store.previous_keks[%d]", i), "must be 32 octets in base64 or hex")
		}
		previous = append(previous, k)
	}
	return current, previous, nil
}

func validateHostPort(field, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return cfgErr(field, "want host:port")
	}
	return nil
}

// validateDiameterIdentity checks a DiameterIdentity (an FQDN, RFC 6733 §4.3.1) loosely:
// non-empty, no spaces or control characters.
func validateDiameterIdentity(field, v string) error {
	if v == "" {
		return cfgErr(field, "required")
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f {
			return cfgErr(field, "must be an FQDN")
		}
	}
	return nil
}
