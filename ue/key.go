package ue

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	"github.com/opengba/opengba/internal/redact"
)

// redacted is what every secret prints instead of its value.
const redacted = redact.Text

// KeySize is the length of Ks, Ks_NAF and Kmr: 256 bits (TS 33.220 §4.5.2, §B.2).
const KeySize = 32

// Key is a 256-bit GBA key: Ks, a NAF-specific key Ks_NAF (TS 33.220 §B.3) or the oneM2M
// M2M root key Kmr. The zero Key is unset (IsZero).
//
// A Key never reveals its value through fmt (every verb prints REDACTED), slog or
// encoding.TextMarshaler (JSON, YAML and XML encoders print REDACTED). The octets are
// reachable only through a closure, so even a Key in an unexported struct field, where
// fmt cannot call its methods, prints as a function address under every verb. Read them
// only through Bytes or Base64. A Key is immutable; copies share storage.
type Key struct {
	k func() *[KeySize]byte
}

func keyOf(a *[KeySize]byte) Key { return Key{k: func() *[KeySize]byte { return a }} }

// arr returns the octets, or nil for the zero Key.
func (k Key) arr() *[KeySize]byte {
	if k.k == nil {
		return nil
	}
	return k.k()
}

// NewKey copies b, which must be 32 octets, into a Key.
func NewKey(b []byte) (Key, error) {
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("%w: key is %d octets, want %d", ErrKeyFormat, len(b), KeySize)
	}
	p := new([KeySize]byte)
	copy(p[:], b)
	return keyOf(p), nil
}

// IsZero reports whether k is unset.
func (k Key) IsZero() bool { return k.k == nil }

// Bytes returns a copy of the key octets, or nil for the zero Key.
func (k Key) Bytes() []byte {
	if k.k == nil {
		return nil
	}
	return append([]byte(nil), k.arr()[:]...)
}

// Base64 returns the padded standard base64 encoding of the key, or "" for the zero Key.
// For Ks_NAF this is the HTTP Digest password on Ua (TS 33.220 §4.5.3, TS 24.109 §5.2).
// The result is a secret.
func (k Key) Base64() string {
	if k.k == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(k.arr()[:])
}

// Equal reports in constant time whether k and o hold the same octets. Two zero Keys are
// equal.
func (k Key) Equal(o Key) bool {
	if k.k == nil || o.k == nil {
		return k.k == nil && o.k == nil
	}
	return subtle.ConstantTimeCompare(k.arr()[:], o.arr()[:]) == 1
}

// String returns "REDACTED".
func (Key) String() string { return redacted }

// GoString returns "REDACTED".
func (Key) GoString() string { return redacted }

// Format prints "REDACTED" for every verb and flag.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "REDACTED".
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "REDACTED", so that a Key never reaches a JSON, YAML or XML dump.
func (Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Key128Size is the length of K, OP, OPc, CK and IK: 128 bits (TS 33.102 §6.3.2,
// TS 35.206 §4.1).
const Key128Size = 16

// Key128 is a 128-bit secret: the subscriber key K, the operator variant OP or OPc
// (TS 35.206 §4.1), or the cipher and integrity keys CK and IK (TS 33.102 §6.3.2). It
// redacts itself exactly like Key. The zero Key128 is unset (IsZero).
type Key128 struct {
	k func() *[Key128Size]byte
}

func key128Of(a *[Key128Size]byte) Key128 { return Key128{k: func() *[Key128Size]byte { return a }} }

// arr returns the octets, or nil for the zero Key128.
func (k Key128) arr() *[Key128Size]byte {
	if k.k == nil {
		return nil
	}
	return k.k()
}

// NewKey128 copies b, which must be 16 octets, into a Key128.
func NewKey128(b []byte) (Key128, error) {
	if len(b) != Key128Size {
		return Key128{}, fmt.Errorf("%w: key is %d octets, want %d", ErrKeyFormat, len(b), Key128Size)
	}
	p := new([Key128Size]byte)
	copy(p[:], b)
	return key128Of(p), nil
}

// ParseKey128 decodes 32 hexadecimal digits. The error never repeats the input.
func ParseKey128(s string) (Key128, error) {
	if len(s) != 2*Key128Size {
		return Key128{}, fmt.Errorf("%w: key has %d hex digits, want %d", ErrKeyFormat, len(s), 2*Key128Size)
	}
	p := new([Key128Size]byte)
	if _, err := hex.Decode(p[:], []byte(s)); err != nil {
		// hex errors quote the offending character: do not wrap them.
		return Key128{}, fmt.Errorf("%w: key is not hexadecimal", ErrKeyFormat)
	}
	return key128Of(p), nil
}

// IsZero reports whether k is unset.
func (k Key128) IsZero() bool { return k.k == nil }

// Bytes returns a copy of the key octets, or nil for the zero Key128.
func (k Key128) Bytes() []byte {
	if k.k == nil {
		return nil
	}
	return append([]byte(nil), k.arr()[:]...)
}

// Equal reports in constant time whether k and o hold the same octets. Two zero keys are
// equal.
func (k Key128) Equal(o Key128) bool {
	if k.k == nil || o.k == nil {
		return k.k == nil && o.k == nil
	}
	return subtle.ConstantTimeCompare(k.arr()[:], o.arr()[:]) == 1
}

// String returns "REDACTED".
func (Key128) String() string { return redacted }

// GoString returns "REDACTED".
func (Key128) GoString() string { return redacted }

// Format prints "REDACTED" for every verb and flag.
func (Key128) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "REDACTED".
func (Key128) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "REDACTED".
func (Key128) MarshalText() ([]byte, error) { return []byte(redacted), nil }
