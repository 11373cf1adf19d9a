package gba

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"

	"github.com/opengba/opengba/internal/redact"
)

// KeySize is the length of Ks and of every NAF-specific key (TS 33.220 §4.5.2, §B.2: the KDF
// output is 256 bits).
const KeySize = 32

// Sizes of the AKA inputs to Ks, TS 33.102 §6.3.
const (
	CKSize   = 16
	IKSize   = 16
	RANDSize = 16
)

const redacted = redact.Text

// Key holds a 256-bit GBA key: Ks, Ks_NAF, Ks_ext_NAF or Ks_int_NAF. It never reveals its
// value through fmt (every verb prints REDACTED), slog, encoding/json, yaml or
// encoding.TextMarshaler; read it only through Bytes or Base64.
//
// The octets are reachable only through a closure, so that even a Key nested in an
// unexported struct field (where fmt cannot call methods, and where a pointer to an array
// would be printed element by element under a bad verb) prints as a function address. A
// Key is immutable; copies share the same storage. The zero Key is unset (IsZero).
type Key struct {
	k func() *[KeySize]byte
}

// NewKey copies b (32 octets) into a Key.
func NewKey(b []byte) (Key, error) {
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("%w: want %d octets, got %d", ErrKeyLength, KeySize, len(b))
	}
	return keyFrom(b), nil
}

func keyFrom(b []byte) Key {
	a := new([KeySize]byte)
	copy(a[:], b)
	return Key{k: func() *[KeySize]byte { return a }}
}

// Ks returns Ks = CK || IK (CK first), TS 33.220 §4.5.2.
func Ks(ck, ik []byte) (Key, error) {
	if len(ck) != CKSize {
		return Key{}, fmt.Errorf("%w: CK must be %d octets, got %d", ErrKeyLength, CKSize, len(ck))
	}
	if len(ik) != IKSize {
		return Key{}, fmt.Errorf("%w: IK must be %d octets, got %d", ErrKeyLength, IKSize, len(ik))
	}
	b := make([]byte, 0, KeySize)
	b = append(append(b, ck...), ik...)
	return keyFrom(b), nil
}

// IsZero reports whether k is unset.
func (k Key) IsZero() bool { return k.k == nil }

// Bytes returns a copy of the key octets, or nil for the zero Key.
func (k Key) Bytes() []byte {
	if k.k == nil {
		return nil
	}
	b := make([]byte, KeySize)
	copy(b, k.k()[:])
	return b
}

// Base64 returns the standard base64 encoding (with padding) of the key. For Ks_NAF this is
// the HTTP Digest password on Ua, TS 33.220 §4.5.3 and TS 24.109 §5.2.1. The result is a
// secret: do not log it.
func (k Key) Base64() string {
	if k.k == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(k.k()[:])
}

// Equal reports whether k and o hold the same octets, in constant time. Two zero Keys are
// equal; a zero Key never equals a set one.
func (k Key) Equal(o Key) bool {
	if k.k == nil || o.k == nil {
		return k.k == nil && o.k == nil
	}
	return subtle.ConstantTimeCompare(k.k()[:], o.k()[:]) == 1
}

// String returns "REDACTED".
func (k Key) String() string { return redacted }

// GoString returns "REDACTED" (for %#v).
func (k Key) GoString() string { return redacted }

// Format prints "REDACTED" for every fmt verb and flag.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "REDACTED".
func (k Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText refuses to serialise the key (encoding/json, yaml and friends use it), so a
// Key cannot leak or be silently dropped through a struct dump. Use Bytes or Base64.
func (k Key) MarshalText() ([]byte, error) { return nil, ErrKeyMarshal }
