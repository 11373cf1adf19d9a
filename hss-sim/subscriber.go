// Package hsssim is the HSS simulator of the Zh reference point of 3GPP TS 29.109: a
// subscriber store with the SQN management of TS 33.102 Annex C and a provisioning API.
package hsssim

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wmnsk/milenage"

	"github.com/opengba/opengba/internal/redact"
)

// redacted is what every secret type prints instead of its value.
const redacted = redact.Text

// Limits on provisioned identities and documents.
const (
	// MaxIdentityLen bounds an IMPI or IMPU in octets.
	MaxIdentityLen = 255
	// MaxIMPUs bounds the IMPUs of one subscriber.
	MaxIMPUs = 32
	// MaxGUSSLen bounds a GUSS document in octets.
	MaxGUSSLen = 64 << 10
	// MaxSQN is the largest 48-bit sequence number (TS 33.102 §6.3.2).
	MaxSQN uint64 = 1<<48 - 1
)

// Key is a 128-bit subscriber secret: K, or OPc of TS 35.206 §4.1. It never prints its
// value: String, GoString, Format (every verb), LogValue and MarshalJSON all give
// "REDACTED". Use k[:] to reach the octets.
type Key [16]byte

// String implements fmt.Stringer.
func (Key) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Key) GoString() string { return redacted }

// Format implements fmt.Formatter for every verb.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON keeps a Key out of JSON dumps.
func (Key) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText keeps a Key out of YAML and other text dumps.
func (Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// IsZero reports whether every octet is zero (an unset key).
func (k Key) IsZero() bool { return k == Key{} }

// Subscriber is one HSS subscription record.
type Subscriber struct {
	// IMPI is the private identity (NAI), the primary key.
	IMPI string
	// IMPUs are the optional public identities of the user.
	IMPUs []string
	// K is the subscriber key (TS 33.102 §6.3.2).
	K Key
	// OPc is the operator variant constant of TS 35.206 §4.1. An OP given on import is
	// turned into OPc and discarded.
	OPc Key
	// AMF is the Authentication Management Field put into every AUTN (TS 33.102 §6.3.2).
	AMF [2]byte
	// SQN is SQN_HE: the last sequence number issued (or provisioned) for this subscriber,
	// SEQ ‖ IND of TS 33.102 §C.1.1. The next vector carries SEQ+1.
	SQN uint64
	// GUSS is the GBA-UserSecSettings XML document of TS 29.109 Annex A; empty if unset.
	GUSS string
	// GUSSTimestamp is when GUSS last changed, at one-second resolution (the Diameter Time
	// of the GUSS-Timestamp AVP); the zero time if GUSS is unset.
	GUSSTimestamp time.Time
	// Created and Updated are record times.
	Created, Updated time.Time
}

// Clone returns a deep copy of s.
func (s *Subscriber) Clone() *Subscriber {
	c := *s
	c.IMPUs = append([]string(nil), s.IMPUs...)
	return &c
}

// GUSSNewerThan reports whether the stored GUSS changed after t, compared at the one-second
// resolution of Diameter Time. The Zh server sends GUSS in the MAA only when it is newer
// than the GUSS-Timestamp in the MAR (GUSS-Timestamp AVP, code 409, of TS 29.109); a zero t means the
// BSF holds no GUSS.
func (s *Subscriber) GUSSNewerThan(t time.Time) bool {
	if s.GUSS == "" {
		return false
	}
	if t.IsZero() {
		return true
	}
	return s.GUSSTimestamp.Unix() > t.Unix()
}

// Sentinel errors of the package. They carry no key material.
var (
	// ErrUnknownIMPI reports a subscriber that is not provisioned.
	ErrUnknownIMPI = errors.New("hsssim: unknown IMPI")
	// ErrExists reports a create for an IMPI that is already provisioned.
	ErrExists = errors.New("hsssim: IMPI already provisioned")
	// ErrInvalid reports a malformed subscriber field; the error is a *FieldError.
	ErrInvalid = errors.New("hsssim: invalid subscriber data")
	// ErrSQNExhausted reports that SEQ_HE cannot be incremented any more (TS 33.102 §C.1.1).
	ErrSQNExhausted = errors.New("hsssim: SEQ exhausted")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("hsssim: store closed")
	// ErrConfig reports an invalid configuration; the error is a *ConfigError.
	ErrConfig = errors.New("hsssim: invalid config")
)

// FieldError names the input field that failed validation. It matches ErrInvalid with
// errors.Is and never quotes key material.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return "hsssim: invalid " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// SubscriberSpec is the provisioning form of a subscriber, shared by the REST API and the
// importer: binary fields are hexadecimal text. Exactly one of OP and OPc must be given
// when a key is provisioned.
type SubscriberSpec struct {
	IMPI  string   `json:"impi" yaml:"impi"`
	IMPUs []string `json:"impus,omitempty" yaml:"impus,omitempty"`
	K     string   `json:"k,omitempty" yaml:"k,omitempty"`
	OP    string   `json:"op,omitempty" yaml:"op,omitempty"`
	OPc   string   `json:"opc,omitempty" yaml:"opc,omitempty"`
	AMF   string   `json:"amf,omitempty" yaml:"amf,omitempty"`
	SQN   string   `json:"sqn,omitempty" yaml:"sqn,omitempty"`
	GUSS  string   `json:"guss,omitempty" yaml:"guss,omitempty"`
}

// Build validates spec and returns the record it describes, with Created, Updated and (if
// GUSS is given) GUSSTimestamp set to now. K and one of OP/OPc are required.
func (spec *SubscriberSpec) Build(now time.Time) (*Subscriber, error) {
	if err := ValidateIMPI(spec.IMPI); err != nil {
		return nil, err
	}
	// A subscriber provisioned without AMF gets 0000: the AMF separation bit (bit 0,
	// TS 33.102 §H) stays 0 because GBA vectors are not meant for E-UTRAN.
	s := &Subscriber{IMPI: spec.IMPI, Created: now, Updated: now}
	if spec.K == "" {
		return nil, fieldErr("k", "required")
	}
	if spec.OP == "" && spec.OPc == "" {
		return nil, fieldErr("opc", "one of op and opc is required")
	}
	if err := spec.apply(s, now); err != nil {
		return nil, err
	}
	return s, nil
}

// Apply changes s by the non-empty fields of spec (a partial update; IMPI is ignored).
// IMPUs replace the list when non-nil; an empty non-nil list clears it.
func (spec *SubscriberSpec) Apply(s *Subscriber, now time.Time) error {
	return spec.apply(s, now)
}

func (spec *SubscriberSpec) apply(s *Subscriber, now time.Time) error {
	if spec.IMPUs != nil {
		impus, err := validateIMPUs(spec.IMPUs)
		if err != nil {
			return err
		}
		s.IMPUs = impus
	}
	var k Key
	haveK := spec.K != ""
	if haveK {
		var err error
		if k, err = ParseKey("k", spec.K); err != nil {
			return err
		}
		if k.IsZero() {
			return fieldErr("k", "must not be all zero")
		}
	}
	if spec.OP != "" && spec.OPc != "" {
		return fieldErr("op", "give either op or opc, not both")
	}
	switch {
	case spec.OPc != "":
		opc, err := ParseKey("opc", spec.OPc)
		if err != nil {
			return err
		}
		s.OPc = opc
	case spec.OP != "":
		op, err := ParseKey("op", spec.OP)
		if err != nil {
			return err
		}
		if !haveK {
			// OPc = E_K(OP) ⊕ OP needs K; the stored K is not used so that a later K
			// change cannot silently keep an OPc computed for the old key.
			return fieldErr("op", "op needs k in the same request (OPc is derived from both)")
		}
		opc, err := ComputeOPc(k, op)
		if err != nil {
			return err
		}
		s.OPc = opc
	case haveK && !s.K.IsZero() && subtle.ConstantTimeCompare(s.K[:], k[:]) != 1:
		// A new K invalidates an OPc derived from the old one; demand both together.
		return fieldErr("opc", "changing k requires op or opc in the same request")
	}
	if haveK {
		s.K = k
	}
	if spec.AMF != "" {
		amf, err := ParseAMF(spec.AMF)
		if err != nil {
			return err
		}
		s.AMF = amf
	}
	if spec.SQN != "" {
		sqn, err := ParseSQN(spec.SQN)
		if err != nil {
			return err
		}
		s.SQN = sqn
	}
	if spec.GUSS != "" {
		if err := ValidateGUSS([]byte(spec.GUSS)); err != nil {
			return err
		}
		s.GUSS = spec.GUSS
		s.GUSSTimestamp = now.Truncate(time.Second)
	}
	s.Updated = now
	return nil
}

// ComputeOPc derives OPc = E_K(OP) ⊕ OP (TS 35.206 §4.1).
func ComputeOPc(k, op Key) (Key, error) {
	b, err := milenage.ComputeOPc(k[:], op[:])
	if err != nil || len(b) != len(Key{}) {
		// The library error cannot contain key octets, but keep the message fixed anyway.
		return Key{}, fieldErr("op", "cannot derive OPc")
	}
	return Key(b), nil
}

// ParseKey decodes 32 hexadecimal digits for the named field. The error never repeats the
// input.
func ParseKey(field, s string) (Key, error) {
	var k Key
	if err := decodeHexExact(field, s, k[:]); err != nil {
		return Key{}, err
	}
	return k, nil
}

// ParseAMF decodes the 2-octet AMF from 4 hexadecimal digits (TS 33.102 §6.3.2).
func ParseAMF(s string) ([2]byte, error) {
	var a [2]byte
	err := decodeHexExact("amf", s, a[:])
	return a, err
}

// ParseSQN decodes a 48-bit SQN from 1 to 12 hexadecimal digits (TS 33.102 §6.3.2).
func ParseSQN(s string) (uint64, error) {
	if s == "" || len(s) > 12 {
		return 0, fieldErr("sqn", "want 1 to 12 hex digits (at most 2^48-1)")
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fieldErr("sqn", "not hexadecimal")
	}
	return v, nil // 12 hex digits cannot exceed MaxSQN
}

// FormatSQN writes a SQN as 12 hexadecimal digits.
func FormatSQN(v uint64) string { return fmt.Sprintf("%012x", v&MaxSQN) }

func decodeHexExact(field, s string, dst []byte) error {
	if len(s) != 2*len(dst) {
		return fieldErr(field, "want %d hex digits (%d octets), got %d characters", 2*len(dst), len(dst), len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		// hex errors quote the offending byte; keep the message free of input.
		return fieldErr(field, "not hexadecimal")
	}
	return nil
}

// ValidateIMPI checks an IMPI: 1 to MaxIdentityLen octets of printable UTF-8 without
// white space and without '/', '?' or '#' (they could not be addressed in a URL path).
func ValidateIMPI(impi string) error {
	return validateIdentity("impi", impi, "/?#")
}

func validateIMPUs(impus []string) ([]string, error) {
	if len(impus) > MaxIMPUs {
		return nil, fieldErr("impus", "at most %d entries", MaxIMPUs)
	}
	out := make([]string, 0, len(impus))
	seen := make(map[string]bool, len(impus))
	for i, u := range impus {
		if err := validateIdentity(fmt.Sprintf("impus[%d]", i), u, ""); err != nil {
			return nil, err
		}
		if seen[u] {
			return nil, fieldErr(fmt.Sprintf("impus[%d]", i), "duplicate")
		}
		seen[u] = true
		out = append(out, u)
	}
	return out, nil
}

func validateIdentity(field, v, forbidden string) error {
	switch {
	case v == "":
		return fieldErr(field, "required")
	case len(v) > MaxIdentityLen:
		return fieldErr(field, "longer than %d octets", MaxIdentityLen)
	case !utf8.ValidString(v):
		return fieldErr(field, "not UTF-8")
	}
	for _, r := range v {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || strings.ContainsRune(forbidden, r) {
			return fieldErr(field, "contains a forbidden character %q", r)
		}
	}
	return nil
}

// GUSS is the part of the GBA-UserSecSettings document of TS 29.109 Annex A that the
// simulator checks: the root element guss with bsfInfo (uiccType, lifeTime) and ussList.
type GUSS struct {
	XMLName xml.Name `xml:"guss"`
	ID      string   `xml:"id,attr"`
	BSFInfo *struct {
		UICCType string `xml:"uiccType"`
		LifeTime string `xml:"lifeTime"`
	} `xml:"bsfInfo"`
	USSList *struct {
		USS []struct {
			ID       string `xml:"id,attr"`
			Type     string `xml:"type,attr"`
			NAFGroup string `xml:"nafGroup,attr"`
		} `xml:"uss"`
	} `xml:"ussList"`
}

// ValidateGUSS checks that doc is a well-formed XML document whose single root element is
// guss (TS 29.109 Annex A; any namespace is accepted), with a uiccType of GBA or GBA_U and
// a lifeTime of non-negative whole seconds when bsfInfo gives them. DTDs are refused.
func ValidateGUSS(doc []byte) error {
	_, err := ParseGUSS(doc)
	return err
}

// ParseGUSS validates doc as ValidateGUSS does and decodes it.
func ParseGUSS(doc []byte) (*GUSS, error) {
	if len(doc) == 0 {
		return nil, fieldErr("guss", "empty document")
	}
	if len(doc) > MaxGUSSLen {
		return nil, fieldErr("guss", "longer than %d octets", MaxGUSSLen)
	}
	// Pass 1: well-formedness, one root, no DTD.
	dec := xml.NewDecoder(bytes.NewReader(doc))
	depth, roots := 0, 0
	var root xml.Name
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fieldErr("guss", "not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				root = t.Name
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.Directive:
			return nil, fieldErr("guss", "DTD or directive not allowed")
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) != 0 {
				return nil, fieldErr("guss", "text outside the root element")
			}
		}
	}
	if roots != 1 {
		return nil, fieldErr("guss", "want exactly one root element, got %d", roots)
	}
	if root.Local != "guss" {
		return nil, fieldErr("guss", "root element is %q, want \"guss\"", root.Local)
	}
	// Pass 2: the fields we interpret.
	var g GUSS
	if err := xml.Unmarshal(doc, &g); err != nil {
		return nil, fieldErr("guss", "cannot decode: %v", err)
	}
	if b := g.BSFInfo; b != nil {
		if u := strings.TrimSpace(b.UICCType); u != "" && u != "GBA" && u != "GBA_U" {
			return nil, fieldErr("guss", "bsfInfo/uiccType must be GBA or GBA_U")
		}
		if lt := strings.TrimSpace(b.LifeTime); lt != "" {
			if _, err := strconv.ParseUint(lt, 10, 32); err != nil {
				return nil, fieldErr("guss", "bsfInfo/lifeTime must be whole seconds")
			}
		}
	}
	return &g, nil
}
