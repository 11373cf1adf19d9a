package aka

import (
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/opengba/opengba/internal/redact"
)

// redacted is what every secret type prints instead of its value.
const redacted = redact.Text

// Key is a 128-bit secret of TS 33.102 §6.3: the subscriber key K, the operator variant
// OP/OPc of TS 35.206 §4.1, or the derived CK and IK. It never prints its value: String,
// GoString, Format (every verb), LogValue and MarshalText (hence JSON, YAML and XML
// encoders) all yield "REDACTED". Use k[:] to reach the octets, and encode them explicitly
// where they must be stored.
type Key [16]byte

// ParseKey decodes a Key from 32 hexadecimal digits. The error never repeats the input.
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*len(k) {
		return Key{}, fmt.Errorf("%w: key has %d hex digits, want %d", ErrLength, len(s), 2*len(k))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		// The hex error quotes the offending character; do not wrap it.
		return Key{}, ErrKeyEncoding
	}
	return k, nil
}

// String implements fmt.Stringer.
func (Key) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Key) GoString() string { return redacted }

// Format implements fmt.Formatter for every verb.
func (Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps a Key out of JSON, YAML and XML logs and dumps.
func (Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// RES is the 64-bit response of f2 (TS 35.206 §4.1), used as RES by the USIM and as XRES by
// the network (TS 33.102 §6.3.2). It redacts itself exactly like Key.
type RES [8]byte

// String implements fmt.Stringer.
func (RES) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (RES) GoString() string { return redacted }

// Format implements fmt.Formatter for every verb.
func (RES) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (RES) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps a RES out of JSON, YAML and XML logs and dumps.
func (RES) MarshalText() ([]byte, error) { return []byte(redacted), nil }
