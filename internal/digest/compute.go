package digest

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // MD5 is what RFC 2617/3310/4169 specify.
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Sentinel errors of response computation and verification. They never carry passwords,
// RES or keys.
var (
	// ErrUnsupportedAlgorithm reports an algorithm other than MD5, AKAv1-MD5 and AKAv2-MD5.
	ErrUnsupportedAlgorithm = errors.New("digest: unsupported algorithm")
	// ErrUnsupportedQOP reports a qop other than auth, auth-int or none, or one the
	// challenge did not offer.
	ErrUnsupportedQOP = errors.New("digest: unsupported qop")
	// ErrResponseMismatch reports credentials whose response does not verify.
	ErrResponseMismatch = errors.New("digest: response mismatch")
	// ErrRspAuthMismatch reports an Authentication-Info that does not authenticate the server.
	ErrRspAuthMismatch = errors.New("digest: rspauth mismatch")
	// ErrAKAInput reports RES, IK, CK or AUTS of the wrong length.
	ErrAKAInput = errors.New("digest: invalid AKA input")
)

// AKA lengths, TS 33.102 §6.3 (RES is 32–128 bits) and RFC 3310 §3.4 (AUTS).
const (
	minRESSize = 4
	maxRESSize = 16
	ckIKSize   = 16
	cnonceSize = 16 // octets of randomness in NewCNonce
)

// akav2Label is the PRF input of RFC 4169 §3.
const akav2Label = "http-digest-akav2-password"

// AKAPassword returns the Digest password for an AKA algorithm:
//   - AKAv1-MD5: RES as raw octets (RFC 3310 §3.3), not its hex or base64 form;
//   - AKAv2-MD5: base64(HMAC-MD5(key = RES || IK || CK, data = "http-digest-akav2-password"))
//     (RFC 4169 §3; the key/data order is the one of every public implementation and
//     reproduces the OpenGBA vector for TS 35.208 set 1).
//
// The server passes XRES in place of RES. The result is a secret.
func AKAPassword(alg Algorithm, res, ik, ck []byte) ([]byte, error) {
	if len(res) < minRESSize || len(res) > maxRESSize {
		return nil, fmt.Errorf("%w: RES must be %d to %d octets, got %d", ErrAKAInput, minRESSize, maxRESSize, len(res))
	}
	switch alg {
	case AKAv1MD5:
		return append([]byte(nil), res...), nil
	case AKAv2MD5:
		if len(ik) != ckIKSize || len(ck) != ckIKSize {
			return nil, fmt.Errorf("%w: IK and CK must be %d octets", ErrAKAInput, ckIKSize)
		}
		key := make([]byte, 0, len(res)+2*ckIKSize)
		key = append(append(append(key, res...), ik...), ck...)
		m := hmac.New(md5.New, key)
		m.Write([]byte(akav2Label))
		clear(key)
		out := make([]byte, base64.StdEncoding.EncodedLen(md5.Size))
		base64.StdEncoding.Encode(out, m.Sum(nil))
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s is not an AKA algorithm", ErrUnsupportedAlgorithm, shortName(string(alg)))
}

// h accumulates ':'-separated parts for H() and KD() of RFC 2617 §3.2.1; hex returns
// MD5 of the parts in lower-case hex and wipes the buffer (it may hold the password).
type h struct {
	buf  []byte
	more bool
}

func newH() *h { return &h{buf: make([]byte, 0, 160)} }

// hBuf is a buffer on the caller's stack for the parts of H() and KD(), so that a digest
// computation allocates nothing but its hex result (h is the same on the heap).
type hBuf [160]byte

// part appends ':' (unless buf is empty and first) and s to buf.
func part[T string | []byte](buf []byte, first bool, s T) []byte {
	if !first {
		buf = append(buf, ':')
	}
	return append(buf, s...)
}

// hexSum is an MD5 digest in lower-case hex, on the caller's stack.
type hexSum [2 * md5.Size]byte

// md5HexWipe returns MD5(buf) in lower-case hex and wipes buf (it may hold the password).
func md5HexWipe(buf []byte) (out hexSum) {
	sum := md5.Sum(buf)
	clear(buf)
	hex.Encode(out[:], sum[:])
	return out
}

func (x *h) str(s string) *h {
	if x.more {
		x.buf = append(x.buf, ':')
	}
	x.more = true
	x.buf = append(x.buf, s...)
	return x
}

func (x *h) bytes(b []byte) *h {
	if x.more {
		x.buf = append(x.buf, ':')
	}
	x.more = true
	x.buf = append(x.buf, b...)
	return x
}

func (x *h) hex() string {
	sum := md5.Sum(x.buf)
	clear(x.buf)
	return hex.EncodeToString(sum[:])
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// HA1 returns H(A1) = MD5(username ":" realm ":" password) in lower-case hex,
// RFC 2617 §3.2.2.2, for algorithm MD5 and for AKAv1-MD5/AKAv2-MD5 with the password of
// AKAPassword (RFC 3310 §3.3, RFC 4169 §3). The -sess variants are not supported.
func HA1(username, realm string, password []byte) string {
	s := ha1Sum(username, realm, password)
	return string(s[:])
}

func ha1Sum(username, realm string, password []byte) hexSum {
	var b hBuf
	return md5HexWipe(part(part(part(b[:0], true, username), false, realm), false, password))
}

// HA2 returns H(A2) in lower-case hex, RFC 2617 §3.2.2.3: MD5(method ":" uri) for qop
// "auth" or no qop, MD5(method ":" uri ":" MD5(body)) for "auth-int". For rspauth
// (RFC 2617 §3.2.3) method is empty and body is the response body.
func HA2(qop QOP, method, uri string, body []byte) (string, error) {
	s, err := ha2Sum(qop, method, uri, body)
	if err != nil {
		return "", err
	}
	return string(s[:]), nil
}

func ha2Sum(qop QOP, method, uri string, body []byte) (hexSum, error) {
	var b hBuf
	switch qop {
	case "", QOPAuth:
		return md5HexWipe(part(part(b[:0], true, method), false, uri)), nil
	case QOPAuthInt:
		var hb hexSum
		bs := md5.Sum(body)
		hex.Encode(hb[:], bs[:])
		return md5HexWipe(part(part(part(b[:0], true, method), false, uri), false, hb[:])), nil
	}
	return hexSum{}, fmt.Errorf("%w: %s", ErrUnsupportedQOP, shortName(string(qop)))
}

// RequestDigest returns the request-digest of RFC 2617 §3.2.2.1 in lower-case hex:
// KD(HA1, nonce ":" nc ":" cnonce ":" qop ":" HA2) with qop, KD(HA1, nonce ":" HA2)
// without it (RFC 2069 compatibility). nc is written as 8 lower-case hex digits.
func RequestDigest(ha1, nonce string, nc uint32, cnonce string, qop QOP, ha2 string) (string, error) {
	s, err := requestDigestSum(ha1, nonce, nc, cnonce, qop, ha2)
	if err != nil {
		return "", err
	}
	return string(s[:]), nil
}

func requestDigestSum[T string | []byte](ha1 T, nonce string, nc uint32, cnonce string, qop QOP, ha2 T) (hexSum, error) {
	var b hBuf
	switch qop {
	case "":
		return md5HexWipe(part(part(part(b[:0], true, ha1), false, nonce), false, ha2)), nil
	case QOPAuth, QOPAuthInt:
		buf := part(part(b[:0], true, ha1), false, nonce)
		buf = append(buf, ':')
		buf = appendNC(buf, nc)
		buf = part(part(part(buf, false, cnonce), false, string(qop)), false, ha2)
		return md5HexWipe(buf), nil
	}
	return hexSum{}, fmt.Errorf("%w: %s", ErrUnsupportedQOP, shortName(string(qop)))
}

// checkAlgorithm accepts the algorithms whose response is computed as RFC 2617 MD5:
// MD5, AKAv1-MD5 (RFC 3310 §3.3) and AKAv2-MD5 (RFC 4169 §3); "" means MD5.
func checkAlgorithm(a Algorithm) error {
	switch a {
	case "", MD5, AKAv1MD5, AKAv2MD5:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedAlgorithm, shortName(string(a)))
}

func (c Credentials) digest(password []byte, method string, body []byte) (string, error) {
	s, err := c.digestSum(password, method, body)
	if err != nil {
		return "", err
	}
	return string(s[:]), nil
}

// digestSum is digest on the stack (Verify compares it without allocating).
func (c Credentials) digestSum(password []byte, method string, body []byte) (hexSum, error) {
	if err := checkAlgorithm(c.Algorithm); err != nil {
		return hexSum{}, err
	}
	ha2, err := ha2Sum(c.QOP, method, c.URI, body)
	if err != nil {
		return hexSum{}, err
	}
	ha1 := ha1Sum(c.Username, c.Realm, password)
	return requestDigestSum(ha1[:], c.Nonce, c.NC, c.CNonce, c.QOP, ha2[:])
}

// ComputeResponse returns the response the credentials should carry for a request with
// the given method and body (RFC 2617 §3.2.2.1); body matters only for qop auth-int.
// password is raw octets: see AKAPassword for AKA; nil is the empty password of
// RFC 3310 §3.4.
func (c Credentials) ComputeResponse(password []byte, method string, body []byte) (string, error) {
	return c.digest(password, method, body)
}

// Verify checks c.Response against the response computed with password (XRES-derived for
// AKA, base64(Ks_NAF) on Ua) in constant time (crypto/subtle). It returns
// ErrResponseMismatch when they differ. A nil password verifies the empty-password
// responses of RFC 3310 §3.4 (synchronisation failure) and TS 24.109 §4.4 (network
// authentication failure at the UE).
func (c Credentials) Verify(password []byte, method string, body []byte) error {
	want, err := c.digestSum(password, method, body)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(want[:], []byte(c.Response)) != 1 {
		return ErrResponseMismatch
	}
	return nil
}

// RspAuth returns response-auth for the Authentication-Info answering c, RFC 2617 §3.2.3:
// the request-digest with an empty method in A2 and, for auth-int, the response body.
func (c Credentials) RspAuth(password []byte, responseBody []byte) (string, error) {
	return c.digest(password, "", responseBody)
}

// AuthInfo builds the Authentication-Info answering c (RFC 2617 §3.2.3): qop, cnonce and
// nc echo the request; nextNonce is optional.
func (c Credentials) AuthInfo(password []byte, responseBody []byte, nextNonce string) (AuthInfo, error) {
	r, err := c.RspAuth(password, responseBody)
	if err != nil {
		return AuthInfo{}, err
	}
	a := AuthInfo{NextNonce: nextNonce, RspAuth: r}
	if c.QOP != "" {
		a.QOP, a.CNonce, a.NC = c.QOP, c.CNonce, c.NC
	}
	return a, nil
}

// VerifyAuthInfo authenticates the server (RFC 2617 §3.2.3, mutual authentication of
// RFC 3310 §3.5): qop, cnonce and nc must echo c, and rspauth must match in constant time.
func (c Credentials) VerifyAuthInfo(password []byte, a AuthInfo, responseBody []byte) error {
	if a.QOP != c.QOP || a.CNonce != c.CNonce || a.NC != c.NC {
		return fmt.Errorf("%w: qop, cnonce or nc differ from the request", ErrRspAuthMismatch)
	}
	want, err := c.digestSum(password, "", responseBody)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(want[:], []byte(a.RspAuth)) != 1 {
		return ErrRspAuthMismatch
	}
	return nil
}

// NewCredentials starts the credentials answering ch (RFC 2617 §3.2.2): realm, nonce,
// opaque and algorithm are copied from ch; qop must be one ch offers (or "" when ch offers
// none); with qop, nc must be at least 1. Call Sign (or SignSyncFailure, SignMACFailure)
// to fill Response.
func NewCredentials(ch Challenge, username, uri string, qop QOP, cnonce string, nc uint32) (Credentials, error) {
	if err := checkAlgorithm(ch.Algorithm); err != nil {
		return Credentials{}, err
	}
	switch {
	case qop == "" && len(ch.QOP) > 0:
		return Credentials{}, fmt.Errorf("%w: the challenge requires one of its qop options", ErrUnsupportedQOP)
	case qop != "" && !ch.Offers(qop):
		return Credentials{}, fmt.Errorf("%w: %s not offered by the challenge", ErrUnsupportedQOP, shortName(string(qop)))
	case qop != "" && qop != QOPAuth && qop != QOPAuthInt:
		return Credentials{}, fmt.Errorf("%w: %s", ErrUnsupportedQOP, shortName(string(qop)))
	case qop != "" && nc == 0:
		return Credentials{}, fmt.Errorf("%w: \"nc\" starts at 00000001", ErrInvalidParam)
	}
	c := Credentials{
		Username:  username,
		Realm:     ch.Realm,
		Nonce:     ch.Nonce,
		URI:       uri,
		Algorithm: ch.Algorithm,
		Opaque:    ch.Opaque,
		QOP:       qop,
	}
	if qop != "" {
		c.CNonce, c.NC = cnonce, nc
	}
	return c, nil
}

// Sign sets c.Response for a request with the given method and body, RFC 2617 §3.2.2.
func (c *Credentials) Sign(password []byte, method string, body []byte) error {
	r, err := c.digest(password, method, body)
	if err != nil {
		return err
	}
	c.Response = r
	return nil
}

// SignSyncFailure reports an AKA synchronisation failure, RFC 3310 §3.4: it sets c.AUTS
// (14 octets) and computes the response over the empty password.
func (c *Credentials) SignSyncFailure(auts []byte, method string, body []byte) error {
	if len(auts) != AUTSSize {
		return fmt.Errorf("%w: AUTS must be %d octets, got %d", ErrAKAInput, AUTSSize, len(auts))
	}
	if err := c.Sign(nil, method, body); err != nil {
		return err
	}
	c.AUTS = append([]byte(nil), auts...)
	return nil
}

// SignMACFailure reports that the UE could not authenticate the network (AUTN MAC check
// failed): no RES exists, so the response is computed over the empty password and no auts
// is sent (TS 24.109 §4.4; the BSF then answers 403).
func (c *Credentials) SignMACFailure(method string, body []byte) error {
	c.AUTS = nil
	return c.Sign(nil, method, body)
}

// NewCNonce returns a client nonce of 16 octets read from r, in lower-case hex. Pass
// crypto/rand.Reader in production and a fixed reader in tests.
func NewCNonce(r io.Reader) (string, error) {
	var b [cnonceSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("digest: cnonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// appendNC appends nc as 8 lower-case hex digits (formatNC without the allocation).
func appendNC(buf []byte, nc uint32) []byte {
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		buf = append(buf, digits[nc>>uint(shift)&0xf])
	}
	return buf
}
