// Package digest implements HTTP Digest access authentication (RFC 7616, RFC 2617) with the
// AKAv1-MD5 (RFC 3310) and AKAv2-MD5 (RFC 4169) algorithms as profiled by 3GPP TS 24.109.
package digest

import (
	"errors"
	"fmt"
	"strings"
)

// MaxHeaderLen caps the length of a header field value given to the parsers. Longer input is
// rejected with ErrHeaderTooLong before it is scanned.
const MaxHeaderLen = 8192

// Sentinel errors. Parse errors name the offending parameter and offset, never its value.
var (
	// ErrHeaderTooLong reports a header value longer than MaxHeaderLen.
	ErrHeaderTooLong = errors.New("digest: header longer than 8192 octets")
	// ErrNotDigest reports an auth-scheme other than "Digest".
	ErrNotDigest = errors.New("digest: auth-scheme is not Digest")
	// ErrSyntax reports input that does not match the auth-param list grammar
	// (RFC 7235 §2.1, RFC 7230 §3.2.6 and §7).
	ErrSyntax = errors.New("digest: malformed header")
	// ErrDuplicateParam reports a parameter that occurs twice (RFC 7235 §2.1).
	ErrDuplicateParam = errors.New("digest: duplicate parameter")
	// ErrMissingParam reports a missing mandatory parameter.
	ErrMissingParam = errors.New("digest: missing parameter")
	// ErrInvalidParam reports a parameter whose value or form (token vs quoted-string)
	// breaks its rule in RFC 7616 §3.3–3.5, RFC 2617 §3.2 or RFC 3310 §3.
	ErrInvalidParam = errors.New("digest: invalid parameter")
)

// Param is an auth-param this package does not interpret (RFC 7616 §3.3: unrecognised
// directives are ignored). Name is lower-case; Value is unescaped.
type Param struct {
	Name  string
	Value string
}

// rawParam is one auth-param as scanned.
type rawParam struct {
	name   string // lower-case
	value  string // unescaped
	quoted bool
	off    int // offset of the name in the header value
}

// isTchar reports whether c is a tchar, RFC 7230 §3.2.6.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isToken reports whether s is a non-empty token, RFC 7230 §3.2.6.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isQuotable reports whether s can be carried in a quoted-string (RFC 7230 §3.2.6): every
// octet is HTAB, SP, VCHAR or obs-text.
func isQuotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// isLHEX reports whether s is *LHEX (lower-case hex digits), RFC 7616 §3.4.
func isLHEX(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func scanToken(s string, i int) int {
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	return i
}

// shortName quotes a parameter name for an error message, truncated: names are tokens, so
// this cannot inject control characters.
func shortName(n string) string {
	if len(n) > 32 {
		n = n[:32] + "..."
	}
	return fmt.Sprintf("%q", n)
}

// checkField rejects over-long input and control characters other than HTAB anywhere in
// the field value (RFC 7230 §3.2: field-content is VCHAR, SP, HTAB and obs-text).
func checkField(h string) error {
	if len(h) > MaxHeaderLen {
		return fmt.Errorf("%w: %d octets", ErrHeaderTooLong, len(h))
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("%w: control character at offset %d", ErrSyntax, i)
		}
	}
	return nil
}

// parseAuth parses a credentials or challenge field value holding one Digest challenge or
// credentials: auth-scheme 1*SP #auth-param (RFC 7235 §2.1, §4.1, §4.2). Only one
// challenge per field value is supported.
func parseAuth(h string, buf []rawParam) ([]rawParam, error) {
	if err := checkField(h); err != nil {
		return nil, err
	}
	i := skipOWS(h, 0)
	j := scanToken(h, i)
	if j == i {
		return nil, fmt.Errorf("%w: missing auth-scheme", ErrSyntax)
	}
	if !strings.EqualFold(h[i:j], "Digest") {
		return nil, ErrNotDigest
	}
	if j < len(h) && h[j] != ' ' && h[j] != '\t' {
		return nil, fmt.Errorf("%w: expected whitespace after auth-scheme at offset %d", ErrSyntax, j)
	}
	return parseParams(h, j, buf)
}

// paramsBuf is the size of the callers' arrays for parseParams: more than the parameters
// of a usual header.
const paramsBuf = 12

// parseParams scans #auth-param from offset i of s (RFC 7235 §2.1):
//
//	auth-param = token BWS "=" BWS ( token / quoted-string )
//
// with list elements separated by OWS "," OWS; empty elements are allowed (RFC 7230 §7).
// The parameters are appended to buf (the caller's stack array, usually).
func parseParams(s string, i int, buf []rawParam) ([]rawParam, error) {
	ps := buf[:0]
	for {
		i = skipOWS(s, i)
		if i == len(s) {
			return ps, nil
		}
		if s[i] == ',' {
			i++
			continue
		}
		start := i
		j := scanToken(s, i)
		if j == i {
			return nil, fmt.Errorf("%w: expected a parameter name at offset %d", ErrSyntax, i)
		}
		name := strings.ToLower(s[i:j])
		i = skipOWS(s, j)
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("%w: expected '=' after parameter %s at offset %d", ErrSyntax, shortName(name), i)
		}
		i = skipOWS(s, i+1)
		p := rawParam{name: name, off: start}
		if i < len(s) && s[i] == '"' {
			v, next, err := scanQuoted(s, i)
			if err != nil {
				return nil, fmt.Errorf("%w (parameter %s)", err, shortName(name))
			}
			p.value, p.quoted, i = v, true, next
		} else {
			j = scanToken(s, i)
			if j == i {
				return nil, fmt.Errorf("%w: parameter %s: expected a token or quoted-string at offset %d", ErrSyntax, shortName(name), i)
			}
			p.value, i = s[i:j], j
		}
		ps = append(ps, p)
		i = skipOWS(s, i)
		if i < len(s) && s[i] != ',' {
			return nil, fmt.Errorf("%w: expected ',' at offset %d", ErrSyntax, i)
		}
	}
}

// scanQuoted reads the quoted-string starting at s[i] == '"' (RFC 7230 §3.2.6) and returns
// its unescaped content and the offset after the closing quote.
//
//	quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
//	qdtext        = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
//	quoted-pair   = "\" ( HTAB / SP / VCHAR / obs-text )
func scanQuoted(s string, i int) (string, int, error) {
	start := i
	i++
	// Fast path: no escapes.
	for j := i; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i:j], j + 1, nil
		case c == '\\':
			goto slow
		case c < ' ' && c != '\t' || c == 0x7f:
			return "", 0, fmt.Errorf("%w: control character in quoted-string at offset %d", ErrSyntax, j)
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated quoted-string at offset %d", ErrSyntax, start)
slow:
	var b strings.Builder
	for j := i; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '"':
			return b.String(), j + 1, nil
		case c == '\\':
			if j+1 == len(s) {
				return "", 0, fmt.Errorf("%w: unterminated quoted-string at offset %d", ErrSyntax, start)
			}
			j++
			c = s[j]
			if c < ' ' && c != '\t' || c == 0x7f {
				return "", 0, fmt.Errorf("%w: invalid quoted-pair at offset %d", ErrSyntax, j-1)
			}
		case c < ' ' && c != '\t' || c == 0x7f:
			return "", 0, fmt.Errorf("%w: control character in quoted-string at offset %d", ErrSyntax, j)
		}
		b.WriteByte(c)
	}
	return "", 0, fmt.Errorf("%w: unterminated quoted-string at offset %d", ErrSyntax, start)
}

// seen detects duplicate parameter names (RFC 7235 §2.1: "each parameter name MUST only
// occur once per challenge"). The few names of a usual header are kept in a small array
// (no allocation); past seenSmall names a map takes over.
type seen struct {
	small [seenSmall]string
	n     int
	m     map[string]struct{}
}

const seenSmall = 16

func newSeen(n int) *seen {
	s := &seen{}
	if n > seenSmall {
		s.m = make(map[string]struct{}, n)
	}
	return s
}

func (s *seen) add(p rawParam) error {
	if s.has(p.name) {
		return fmt.Errorf("%w: %s at offset %d", ErrDuplicateParam, shortName(p.name), p.off)
	}
	if s.m == nil && s.n < seenSmall {
		s.small[s.n] = p.name
		s.n++
		return nil
	}
	if s.m == nil {
		s.m = make(map[string]struct{}, 2*seenSmall)
		for _, n := range s.small[:s.n] {
			s.m[n] = struct{}{}
		}
	}
	s.m[p.name] = struct{}{}
	return nil
}

func (s *seen) has(name string) bool {
	if s.m != nil {
		_, ok := s.m[name]
		return ok
	}
	for _, n := range s.small[:s.n] {
		if n == name {
			return true
		}
	}
	return false
}

func wantQuoted(p rawParam) (string, error) {
	if !p.quoted {
		return "", fmt.Errorf("%w: %s must be a quoted-string", ErrInvalidParam, shortName(p.name))
	}
	return p.value, nil
}

func wantToken(p rawParam) (string, error) {
	if p.quoted {
		return "", fmt.Errorf("%w: %s must be a token, not a quoted-string", ErrInvalidParam, shortName(p.name))
	}
	return p.value, nil
}

// parseBool reads the "true"/"false" tokens of stale and userhash (RFC 7616 §3.3,
// case-insensitive).
func parseBool(p rawParam) (bool, error) {
	v, err := wantToken(p)
	if err != nil {
		return false, err
	}
	switch {
	case strings.EqualFold(v, "true"):
		return true, nil
	case strings.EqualFold(v, "false"):
		return false, nil
	}
	return false, fmt.Errorf("%w: %s must be true or false", ErrInvalidParam, shortName(p.name))
}

// parseNC reads nc-value = 8LHEX, RFC 7616 §3.4 and RFC 2617 §3.2.2.
func parseNC(p rawParam) (uint32, error) {
	v, err := wantToken(p)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 || !isLHEX(v) {
		return 0, fmt.Errorf("%w: \"nc\" must be 8 lower-case hex digits", ErrInvalidParam)
	}
	var n uint32
	for i := 0; i < 8; i++ {
		c := v[i]
		if c <= '9' {
			c -= '0'
		} else {
			c = c - 'a' + 10
		}
		n = n<<4 | uint32(c)
	}
	return n, nil
}

// parseLHEX reads a quoted *LHEX digest (response, rspauth), RFC 7616 §3.4–3.5.
func parseLHEX(p rawParam) (string, error) {
	v, err := wantQuoted(p)
	if err != nil {
		return "", err
	}
	if !isLHEX(v) {
		return "", fmt.Errorf("%w: %s must be lower-case hex", ErrInvalidParam, shortName(p.name))
	}
	return v, nil
}

// writer formats an auth-param list, stopping at the first unrepresentable value.
type writer struct {
	b   strings.Builder
	n   int
	err error
}

func (w *writer) sep(name string) {
	if w.n > 0 {
		w.b.WriteString(", ")
	}
	w.n++
	w.b.WriteString(name)
	w.b.WriteByte('=')
}

func (w *writer) fail(name, why string) {
	if w.err == nil {
		w.err = fmt.Errorf("%w: %s %s", ErrInvalidParam, shortName(name), why)
	}
}

// quoted writes name="value", escaping '"' and '\' as quoted-pairs (RFC 7230 §3.2.6).
func (w *writer) quoted(name, v string) {
	if !isQuotable(v) {
		w.fail(name, "contains a control character")
		return
	}
	w.sep(name)
	w.b.WriteByte('"')
	for {
		i := strings.IndexAny(v, `"\`)
		if i < 0 {
			break
		}
		w.b.WriteString(v[:i])
		w.b.WriteByte('\\')
		w.b.WriteByte(v[i])
		v = v[i+1:]
	}
	w.b.WriteString(v)
	w.b.WriteByte('"')
}

// token writes name=value where value must be a token.
func (w *writer) token(name, v string) {
	if !isToken(v) {
		w.fail(name, "must be a token")
		return
	}
	w.sep(name)
	w.b.WriteString(v)
}

// extensions writes unknown parameters: a token value bare, anything else quoted.
func (w *writer) extensions(ext []Param, known func(string) bool) {
	names := make(map[string]struct{}, len(ext))
	for _, p := range ext {
		name := strings.ToLower(p.Name)
		if !isToken(name) {
			w.fail(p.Name, "is not a valid parameter name")
			return
		}
		if _, dup := names[name]; dup || known(name) {
			w.fail(p.Name, "is duplicated or shadows a known parameter")
			return
		}
		names[name] = struct{}{}
		if isToken(p.Value) {
			w.token(name, p.Value)
		} else {
			w.quoted(name, p.Value)
		}
	}
}

func (w *writer) result() (string, error) {
	if w.err != nil {
		return "", w.err
	}
	return w.b.String(), nil
}
