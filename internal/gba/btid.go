package gba

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidBTID reports a malformed B-TID.
var ErrInvalidBTID = errors.New("gba: invalid B-TID")

const (
	btidRANDLen = 24 // base64 of 16 octets, with padding
	// MaxBTIDLen is the longest B-TID ParseBTID accepts: 24 base64 characters, "@" and a
	// 253-character domain name.
	MaxBTIDLen = btidRANDLen + 1 + maxHostnameLen
)

// BTID is a bootstrapping transaction identifier, TS 33.220 §4.5.2: base64(RAND) "@" the
// BSF server domain name, in NAI form. It is comparable and usable as a map key.
type BTID struct {
	RAND   [RANDSize]byte
	Domain string // BSF server domain name
}

// NewBTID builds the B-TID of TS 33.220 §4.5.2 from a 16-octet RAND and the BSF server
// domain name (validated as a host name).
func NewBTID(rand []byte, bsfDomain string) (BTID, error) {
	if len(rand) != RANDSize {
		return BTID{}, fmt.Errorf("%w: %w: got %d", ErrInvalidBTID, ErrRANDLength, len(rand))
	}
	if err := checkHostname(bsfDomain); err != nil {
		return BTID{}, fmt.Errorf("%w: domain: %w", ErrInvalidBTID, err)
	}
	var b BTID
	copy(b.RAND[:], rand)
	b.Domain = bsfDomain
	return b, nil
}

// String returns base64(RAND) "@" domain, TS 33.220 §4.5.2 (standard base64, padded).
func (b BTID) String() string {
	return base64.StdEncoding.EncodeToString(b.RAND[:]) + "@" + b.Domain
}

// Realm returns the realm part of the B-TID (the BSF server domain name), lower-cased
// because DNS names compare case-insensitively. The NAF uses it to select the BSF to query
// over Zn (TS 33.220 §4.5.2: the B-TID is in NAI form so that the NAF can locate the BSF).
func (b BTID) Realm() string { return strings.ToLower(b.Domain) }

// MarshalText implements encoding.TextMarshaler (String).
func (b BTID) MarshalText() ([]byte, error) {
	if err := checkHostname(b.Domain); err != nil {
		return nil, fmt.Errorf("%w: domain: %w", ErrInvalidBTID, err)
	}
	return []byte(b.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseBTID.
func (b *BTID) UnmarshalText(text []byte) error {
	v, err := ParseBTID(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ParseBTID strictly parses a B-TID of TS 33.220 §4.5.2. It requires exactly one "@", a
// local part that is the canonical padded standard base64 of a 16-octet RAND (24
// characters), and a domain that is a valid host name (RFC 1123 §2.1). Control characters,
// whitespace and input longer than MaxBTIDLen are rejected. Errors never echo the input.
func ParseBTID(s string) (BTID, error) {
	if len(s) > MaxBTIDLen {
		return BTID{}, fmt.Errorf("%w: longer than %d characters", ErrInvalidBTID, MaxBTIDLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return BTID{}, fmt.Errorf("%w: control, space or non-ASCII character at offset %d", ErrInvalidBTID, i)
		}
	}
	at := strings.IndexByte(s, '@')
	switch {
	case at < 0:
		return BTID{}, fmt.Errorf("%w: missing '@'", ErrInvalidBTID)
	case strings.IndexByte(s[at+1:], '@') >= 0:
		return BTID{}, fmt.Errorf("%w: more than one '@'", ErrInvalidBTID)
	case at != btidRANDLen:
		return BTID{}, fmt.Errorf("%w: RAND part is %d characters, want %d (base64 of 16 octets)", ErrInvalidBTID, at, btidRANDLen)
	}
	var raw [18]byte // base64.StdEncoding.DecodedLen(24)
	n, err := base64.StdEncoding.Strict().Decode(raw[:], []byte(s[:at]))
	if err != nil || n != RANDSize {
		return BTID{}, fmt.Errorf("%w: RAND part is not padded standard base64 of 16 octets", ErrInvalidBTID)
	}
	var b BTID
	copy(b.RAND[:], raw[:n])
	if err := checkHostname(s[at+1:]); err != nil {
		return BTID{}, fmt.Errorf("%w: domain: %w", ErrInvalidBTID, err)
	}
	b.Domain = s[at+1:]
	return b, nil
}
