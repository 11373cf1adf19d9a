package digest

import (
	"fmt"
	"strings"
)

// Algorithm is the value of the algorithm parameter (RFC 7616 §3.3, RFC 3310 §3.1,
// RFC 4169 §3). The parsers return the canonical spelling of the algorithms listed below
// whatever their case; other tokens are kept verbatim. The empty Algorithm means the
// parameter was absent, which RFC 7616 §3.3 reads as MD5.
type Algorithm string

// Algorithms known to this package. Response computation supports MD5, AKAv1MD5 and
// AKAv2MD5 (and the empty Algorithm); the others are only recognised when parsing.
const (
	MD5           Algorithm = "MD5"              // RFC 7616 §3.3, RFC 2617 §3.2.1
	MD5Sess       Algorithm = "MD5-sess"         // RFC 7616 §3.3
	SHA256        Algorithm = "SHA-256"          // RFC 7616 §3.3
	SHA256Sess    Algorithm = "SHA-256-sess"     // RFC 7616 §3.3
	SHA512256     Algorithm = "SHA-512-256"      // RFC 7616 §3.3
	SHA512256Sess Algorithm = "SHA-512-256-sess" // RFC 7616 §3.3
	AKAv1MD5      Algorithm = "AKAv1-MD5"        // RFC 3310 §3.1
	AKAv2MD5      Algorithm = "AKAv2-MD5"        // RFC 4169 §3
)

const (
	charsetUTF8     = "UTF-8"                    // RFC 7616 §3.3 charset
	realmPrefixME   = "3GPP-bootstrapping@"      // TS 24.109 §5.2.2, GBA_ME
	realmPrefixUICC = "3GPP-bootstrapping-uicc@" // TS 24.109 §5.2.2, GBA_U
)

// canonicalAlgorithm maps a token to the canonical spelling of a known algorithm.
func canonicalAlgorithm(v string) Algorithm {
	for _, a := range [...]Algorithm{MD5, MD5Sess, SHA256, SHA256Sess, SHA512256, SHA512256Sess, AKAv1MD5, AKAv2MD5} {
		if strings.EqualFold(v, string(a)) {
			return a
		}
	}
	return Algorithm(v)
}

// QOP is a quality-of-protection value (RFC 7616 §3.3, RFC 2617 §3.2.1). Values are
// compared case-sensitively because they enter the response hash verbatim.
type QOP string

// Quality-of-protection values of RFC 2617 §3.2.1.
const (
	QOPAuth    QOP = "auth"
	QOPAuthInt QOP = "auth-int"
)

// UaRealm returns the realm a NAF uses on Ua: "3GPP-bootstrapping@" + NAF FQDN for GBA_ME,
// or "3GPP-bootstrapping-uicc@" + NAF FQDN for GBA_U (TS 24.109 §5.2.2, TS 33.220 §4.5.3).
func UaRealm(nafFQDN string, uicc bool) string {
	if uicc {
		return realmPrefixUICC + nafFQDN
	}
	return realmPrefixME + nafFQDN
}

// Challenge is a Digest challenge, the value of WWW-Authenticate (RFC 7616 §3.3,
// RFC 2617 §3.2.1, RFC 3310 §3.2 for AKA nonces).
type Challenge struct {
	Realm     string    // mandatory
	Domain    []string  // space-separated URIs; nil when absent
	Nonce     string    // mandatory; for AKA, see UnpackNonce
	Opaque    string    // "" when absent
	Stale     bool      // stale=true
	Algorithm Algorithm // "" when absent (MD5)
	QOP       []QOP     // qop-options; nil when absent; unknown tokens kept
	Charset   string    // "UTF-8" or "" (RFC 7616 §3.3)
	UserHash  bool      // userhash=true (RFC 7616 §3.3)
	Extension []Param   // unrecognised parameters, in order; nil when none
}

// ParseChallenge parses one Digest challenge, the value of a WWW-Authenticate (or
// Proxy-Authenticate) header field, RFC 7616 §3.3. The auth-scheme is matched
// case-insensitively; parameter names are case-insensitive and must not repeat. realm,
// domain, nonce, opaque and qop must be quoted-strings; stale, algorithm, charset and
// userhash must be tokens (RFC 7616 §3.3 ABNF). realm and nonce are mandatory. Unknown
// parameters are kept in Extension (RFC 7616 §3.3: recipients ignore them). A field value
// carrying several challenges is rejected as ErrSyntax.
func ParseChallenge(h string) (Challenge, error) {
	var buf [paramsBuf]rawParam
	ps, err := parseAuth(h, buf[:0])
	if err != nil {
		return Challenge{}, err
	}
	var c Challenge
	s := newSeen(len(ps))
	for _, p := range ps {
		if err := s.add(p); err != nil {
			return Challenge{}, err
		}
		var v string
		switch p.name {
		case "realm":
			c.Realm, err = wantQuoted(p)
		case "domain":
			if v, err = wantQuoted(p); err == nil {
				c.Domain = splitDomain(v)
			}
		case "nonce":
			c.Nonce, err = wantQuoted(p)
		case "opaque":
			c.Opaque, err = wantQuoted(p)
		case "stale":
			c.Stale, err = parseBool(p)
		case "algorithm":
			if v, err = wantToken(p); err == nil {
				c.Algorithm = canonicalAlgorithm(v)
			}
		case "qop":
			if v, err = wantQuoted(p); err == nil {
				c.QOP, err = parseQOPOptions(v)
			}
		case "charset":
			if v, err = wantToken(p); err == nil {
				if !strings.EqualFold(v, charsetUTF8) {
					err = fmt.Errorf("%w: \"charset\" must be UTF-8", ErrInvalidParam)
				}
				c.Charset = charsetUTF8
			}
		case "userhash":
			c.UserHash, err = parseBool(p)
		default:
			c.Extension = append(c.Extension, Param{Name: p.name, Value: p.value})
		}
		if err != nil {
			return Challenge{}, err
		}
	}
	for _, req := range [...]string{"realm", "nonce"} {
		if !s.has(req) {
			return Challenge{}, fmt.Errorf("%w: %q", ErrMissingParam, req)
		}
	}
	return c, nil
}

func isOWS(r rune) bool { return r == ' ' || r == '\t' }

// splitDomain splits the domain list on SP/HTAB (RFC 7616 §3.3: URI-reference *( 1*SP
// URI-reference )).
func splitDomain(v string) []string {
	d := strings.FieldsFunc(v, isOWS)
	if len(d) == 0 {
		return nil
	}
	return d
}

// parseQOPOptions splits qop-options, RFC 7616 §3.3 / RFC 2617 §3.2.1: one or more
// comma-separated tokens, optional whitespace around the commas.
func parseQOPOptions(v string) ([]QOP, error) {
	var out []QOP
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimFunc(part, isOWS)
		if !isToken(part) {
			return nil, fmt.Errorf("%w: \"qop\" must list one or more tokens", ErrInvalidParam)
		}
		out = append(out, QOP(part))
	}
	return out, nil
}

func isChallengeParam(n string) bool {
	switch n {
	case "realm", "domain", "nonce", "opaque", "stale", "algorithm", "qop", "charset", "userhash":
		return true
	}
	return false
}

// Header formats c as a WWW-Authenticate field value that ParseChallenge accepts and that
// parses back to c (RFC 7616 §3.3: quoted-string syntax only for realm, domain, nonce,
// opaque and qop). It fails with ErrInvalidParam when a value cannot be represented.
func (c Challenge) Header() (string, error) {
	var w writer
	w.b.Grow(128 + len(c.Realm) + len(c.Nonce) + len(c.Opaque))
	w.b.WriteString("Digest ")
	w.quoted("realm", c.Realm)
	if len(c.Domain) > 0 {
		for _, d := range c.Domain {
			if d == "" || strings.ContainsAny(d, " \t") {
				w.fail("domain", "entries must be non-empty and free of whitespace")
			}
		}
		w.quoted("domain", strings.Join(c.Domain, " "))
	}
	w.quoted("nonce", c.Nonce)
	if c.Opaque != "" {
		w.quoted("opaque", c.Opaque)
	}
	if c.Stale {
		w.token("stale", "true")
	}
	if c.Algorithm != "" {
		w.token("algorithm", string(c.Algorithm))
	}
	if len(c.QOP) > 0 {
		opts := make([]string, len(c.QOP))
		for i, q := range c.QOP {
			if !isToken(string(q)) {
				w.fail("qop", "options must be tokens")
			}
			opts[i] = string(q)
		}
		w.quoted("qop", strings.Join(opts, ","))
	}
	switch c.Charset {
	case "":
	case charsetUTF8:
		w.token("charset", charsetUTF8)
	default:
		w.fail("charset", "must be UTF-8")
	}
	if c.UserHash {
		w.token("userhash", "true")
	}
	w.extensions(c.Extension, isChallengeParam)
	return w.result()
}

// Offers reports whether the challenge offers qop q (exact match).
func (c Challenge) Offers(q QOP) bool {
	for _, o := range c.QOP {
		if o == q {
			return true
		}
	}
	return false
}
