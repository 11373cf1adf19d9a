package digest

import (
	"encoding/base64"
	"fmt"
	"strconv"
)

// AUTSSize is the length of AUTS, 112 bits (RFC 3310 §3.4, TS 33.102 §6.3.3).
const AUTSSize = 14

// Credentials are Digest credentials, the value of Authorization (RFC 7616 §3.4,
// RFC 2617 §3.2.2) with the auts parameter of RFC 3310 §3.4.
type Credentials struct {
	Username  string    // mandatory; for Ub the IMPI, for Ua the B-TID
	Realm     string    // mandatory
	Nonce     string    // mandatory (may be empty, TS 24.109 Annex A step 1)
	URI       string    // mandatory (digest-uri)
	Response  string    // mandatory; lower-case hex, may be empty (TS 24.109 Annex A step 1)
	Algorithm Algorithm // "" when absent (MD5)
	CNonce    string    // present iff QOP is set
	Opaque    string    // "" when absent
	QOP       QOP       // message-qop; "" when absent
	NC        uint32    // nonce-count; present iff QOP is set
	AUTS      []byte    // RFC 3310 §3.4, 14 octets; nil when absent
	UserHash  bool      // userhash=true (RFC 7616 §3.4)
	Extension []Param   // unrecognised parameters, in order; nil when none
}

// ParseCredentials parses Digest credentials, the value of an Authorization (or
// Proxy-Authorization) header field, RFC 7616 §3.4 and RFC 3310 §3.4. username, realm,
// nonce, uri, response, cnonce, opaque and auts must be quoted-strings; algorithm, qop, nc
// and userhash must be tokens; nc is exactly 8 lower-case hex digits; response is
// lower-case hex; auts is padded standard base64 of 14 octets. username, realm, nonce, uri
// and response are mandatory; cnonce and nc are required with qop and forbidden without it
// (RFC 2617 §3.2.2). Unknown parameters (including username*) are kept in Extension.
func ParseCredentials(h string) (Credentials, error) {
	var buf [paramsBuf]rawParam
	ps, err := parseAuth(h, buf[:0])
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	s := newSeen(len(ps))
	for _, p := range ps {
		if err := s.add(p); err != nil {
			return Credentials{}, err
		}
		var v string
		switch p.name {
		case "username":
			c.Username, err = wantQuoted(p)
		case "realm":
			c.Realm, err = wantQuoted(p)
		case "nonce":
			c.Nonce, err = wantQuoted(p)
		case "uri":
			c.URI, err = wantQuoted(p)
		case "response":
			c.Response, err = parseLHEX(p)
		case "algorithm":
			if v, err = wantToken(p); err == nil {
				c.Algorithm = canonicalAlgorithm(v)
			}
		case "cnonce":
			c.CNonce, err = wantQuoted(p)
		case "opaque":
			c.Opaque, err = wantQuoted(p)
		case "qop":
			if v, err = wantToken(p); err == nil {
				c.QOP = QOP(v)
			}
		case "nc":
			c.NC, err = parseNC(p)
		case "auts":
			c.AUTS, err = parseAUTS(p)
		case "userhash":
			c.UserHash, err = parseBool(p)
		default:
			c.Extension = append(c.Extension, Param{Name: p.name, Value: p.value})
		}
		if err != nil {
			return Credentials{}, err
		}
	}
	for _, req := range [...]string{"username", "realm", "nonce", "uri", "response"} {
		if !s.has(req) {
			return Credentials{}, fmt.Errorf("%w: %q", ErrMissingParam, req)
		}
	}
	if err := checkQOPGroup(s, "", "cnonce", "nc"); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// checkQOPGroup enforces RFC 2617 §3.2.2/§3.2.3: with qop, the listed parameters are
// mandatory; without it, all but the first (optional) one are forbidden.
func checkQOPGroup(s *seen, optional string, names ...string) error {
	if s.has("qop") {
		for _, n := range names {
			if !s.has(n) {
				return fmt.Errorf("%w: %q is required with \"qop\"", ErrMissingParam, n)
			}
		}
		return nil
	}
	for _, n := range names {
		if n != optional && s.has(n) {
			return fmt.Errorf("%w: %q without \"qop\"", ErrInvalidParam, n)
		}
	}
	return nil
}

// parseAUTS decodes auts = quoted base64(AUTS), RFC 3310 §3.4.
func parseAUTS(p rawParam) ([]byte, error) {
	v, err := wantQuoted(p)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil || len(b) != AUTSSize || base64.StdEncoding.EncodeToString(b) != v {
		return nil, fmt.Errorf("%w: \"auts\" must be padded standard base64 of %d octets", ErrInvalidParam, AUTSSize)
	}
	return b, nil
}

func isCredentialsParam(n string) bool {
	switch n {
	case "username", "realm", "nonce", "uri", "response", "algorithm", "cnonce", "opaque", "qop", "nc", "auts", "userhash":
		return true
	}
	return false
}

// formatNC renders a nonce-count as 8LHEX, RFC 2617 §3.2.2.
func formatNC(nc uint32) string {
	s := strconv.FormatUint(uint64(nc), 16)
	return "00000000"[len(s):] + s
}

// Header formats c as an Authorization field value that ParseCredentials accepts and that
// parses back to c (RFC 7616 §3.4: quoted-string syntax for username, realm, nonce, uri,
// response, cnonce and opaque; token syntax for algorithm, qop and nc). It fails with
// ErrInvalidParam when a value cannot be represented or when CNonce/NC are set without QOP.
// Parameters are emitted in the order of the TS 24.109 Annex A examples.
func (c Credentials) Header() (string, error) {
	var w writer
	w.b.Grow(192 + len(c.Username) + len(c.Realm) + len(c.Nonce) + len(c.URI) + len(c.Opaque) + len(c.Response) + len(c.CNonce) + 2*len(c.AUTS))
	w.b.WriteString("Digest ")
	w.quoted("username", c.Username)
	w.quoted("realm", c.Realm)
	w.quoted("nonce", c.Nonce)
	w.quoted("uri", c.URI)
	if c.QOP != "" {
		w.token("qop", string(c.QOP))
		w.token("nc", formatNC(c.NC))
		w.quoted("cnonce", c.CNonce)
	} else if c.CNonce != "" || c.NC != 0 {
		w.fail("qop", "is required when cnonce or nc is set")
	}
	if !isLHEX(c.Response) {
		w.fail("response", "must be lower-case hex")
	}
	w.quoted("response", c.Response)
	if c.Opaque != "" {
		w.quoted("opaque", c.Opaque)
	}
	if c.Algorithm != "" {
		w.token("algorithm", string(c.Algorithm))
	}
	if c.AUTS != nil {
		if len(c.AUTS) != AUTSSize {
			w.fail("auts", fmt.Sprintf("must be %d octets", AUTSSize))
		}
		w.quoted("auts", base64.StdEncoding.EncodeToString(c.AUTS))
	}
	if c.UserHash {
		w.token("userhash", "true")
	}
	w.extensions(c.Extension, isCredentialsParam)
	return w.result()
}
