package naf

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// ZnConfig is the "zn" section of the NAF configuration: what the Diameter Zn client
// (TS 29.109 §5.2, application 16777220) needs to reach the BSFs. The Zn client (zn.go)
// consumes it; cmd/naf decodes and validates it with the rest of the file.
type ZnConfig struct {
	// OriginHost and OriginRealm identify this NAF on Diameter (RFC 6733 §6.3, §6.4).
	OriginHost  string `yaml:"origin_host"`
	OriginRealm string `yaml:"origin_realm"`
	// BSFs are the Diameter peers. The NAF picks the peer whose Realm equals the B-TID's
	// realm (TS 33.220 §4.5.2: the B-TID's domain names the BSF); a peer with Realm "*"
	// takes every other realm.
	BSFs []ZnPeer `yaml:"bsfs"`
	// Timeout bounds one Bootstrapping-Info-Request round trip (default 3 s).
	Timeout time.Duration `yaml:"timeout"`
	// RequestIMPI sends Private-Identity-Request = requested (TS 29.109 §6.2.1) so the BSF
	// returns User-Name; the MEF needs the IMPI (default true).
	RequestIMPI bool `yaml:"request_impi"`
	// GBAUAware sends GBA_U-Awareness-Indicator = YES (TS 29.109 §6.2.1).
	GBAUAware bool `yaml:"gba_u_aware"`
}

// ZnPeer is one BSF Diameter peer.
type ZnPeer struct {
	// Realm is the BSF realm served by this peer (Destination-Realm), or "*".
	Realm string `yaml:"realm"`
	// Address is host:port of the peer (Diameter default port 3868, RFC 6733 §2.1).
	Address string `yaml:"address"`
	// Host, if set, is sent as Destination-Host.
	Host string `yaml:"host"`
	// Network is "tcp" (default) or "sctp".
	Network string `yaml:"network"`
}

// DefaultZnConfig returns the defaults of the zn section (no peers).
func DefaultZnConfig() ZnConfig {
	return ZnConfig{Timeout: DefaultZnTimeout, RequestIMPI: true}
}

// Validate checks the section; field names are given relative to prefix ("zn").
func (z ZnConfig) Validate(prefix string) error {
	if err := diameterIdentity(z.OriginHost); err != nil {
		return fieldErr(prefix+".origin_host", err.Error())
	}
	if err := diameterIdentity(z.OriginRealm); err != nil {
		return fieldErr(prefix+".origin_realm", err.Error())
	}
	if len(z.BSFs) == 0 {
		return fieldErr(prefix+".bsfs", "at least one BSF peer is required")
	}
	for i, p := range z.BSFs {
		f := fmt.Sprintf("%s.bsfs[%d]", prefix, i)
		if p.Realm != "*" {
			if err := diameterIdentity(p.Realm); err != nil {
				return fieldErr(f+".realm", "must be a realm or \"*\"")
			}
		}
		if _, _, err := net.SplitHostPort(p.Address); err != nil {
			return fieldErr(f+".address", "want host:port")
		}
		if p.Host != "" {
			if err := diameterIdentity(p.Host); err != nil {
				return fieldErr(f+".host", err.Error())
			}
		}
		switch p.Network {
		case "", "tcp", "sctp":
		default:
			return fieldErr(f+".network", "must be tcp or sctp")
		}
	}
	if z.Timeout <= 0 {
		return fieldErr(prefix+".timeout", "must be positive")
	}
	return nil
}

// ErrConfig matches every configuration error (ConfigError and YAML errors).
var ErrConfig = errors.New("naf: config")

// ConfigError names the configuration field that is wrong. It matches ErrConfig.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "naf: config: " + e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

func fieldErr(field, reason string) error { return &ConfigError{Field: field, Reason: reason} }

// diameterIdentity checks a DiameterIdentity (an FQDN, RFC 6733 §4.3.1) loosely.
func diameterIdentity(v string) error {
	if v == "" {
		return fmt.Errorf("required")
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("must be an FQDN")
	}
	return nil
}
