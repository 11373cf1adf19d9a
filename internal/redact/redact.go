// Package redact keeps key material out of fmt and log/slog output for structs that hold it
// in unexported fields.
//
// The key types (aka.Key, gba.Key, ue.Key, diameter.Secret, …) redact themselves when they
// are printed directly or as exported fields. fmt cannot call their methods through an
// unexported field, though: %v of a struct whose unexported field holds an aka.AV prints CK
// and IK octet by octet. Such a struct embeds Fields.
package redact

import (
	"fmt"
	"log/slog"
)

// Text is what a redacted value prints.
const Text = "REDACTED"

// Fields, embedded in a struct that holds key material (K, OPc, CK, IK, RES, Ks, Ks_NAF or
// a password derived from them) in unexported fields, makes fmt print the whole struct as
// REDACTED for every verb, through a value or a pointer, and slog log it as REDACTED. It
// has no size.
type Fields struct{}

// Format implements fmt.Formatter for every verb of the embedding struct.
func (Fields) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Text)) }

// LogValue implements slog.LogValuer for the embedding struct.
func (Fields) LogValue() slog.Value { return slog.StringValue(Text) }
