package testbed

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	"github.com/opengba/opengba/internal/redact"
)

const redacted = redact.Text

// Secret holds key material observed in the testbed (K, OPc, XRES, CK, IK, Ks, Ks_NAF,
// Kmr). It prints REDACTED under every fmt verb, slog and encoding; a display shows its
// Fingerprint, and only an explicit Hex reveals it.
type Secret struct {
	b func() []byte // behind a func so that no reflection-based printer reaches the octets
}

// NewSecret copies b into a Secret (the zero Secret when b is empty).
func NewSecret(b []byte) Secret {
	if len(b) == 0 {
		return Secret{}
	}
	c := append([]byte(nil), b...)
	return Secret{b: func() []byte { return c }}
}

// IsZero reports whether s holds nothing.
func (s Secret) IsZero() bool { return s.b == nil }

// Len returns the number of octets.
func (s Secret) Len() int {
	if s.b == nil {
		return 0
	}
	return len(s.b())
}

// Fingerprint returns "sha256:" and the first 8 hex digits of SHA-256 of the octets: enough
// to see that two parties hold the same key, useless to recover it. "" for the zero Secret.
func (s Secret) Fingerprint() string {
	if s.b == nil {
		return ""
	}
	sum := sha256.Sum256(s.b())
	return "sha256:" + hex.EncodeToString(sum[:4])
}

// Hex reveals the octets as lowercase hex. Call it only when the user asked for keys.
func (s Secret) Hex() string {
	if s.b == nil {
		return ""
	}
	return hex.EncodeToString(s.b())
}

// Equal compares two secrets in constant time (for equal lengths). Two zero Secrets are
// equal.
func (s Secret) Equal(o Secret) bool {
	if s.b == nil || o.b == nil {
		return s.b == nil && o.b == nil
	}
	return subtle.ConstantTimeCompare(s.b(), o.b()) == 1
}

// String returns REDACTED.
func (Secret) String() string { return redacted }

// GoString returns REDACTED.
func (Secret) GoString() string { return redacted }

// Format prints REDACTED under every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns REDACTED.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns REDACTED, so that encoders never write the octets.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
