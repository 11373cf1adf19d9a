package e2e

// Hand-built HTTP Digest for Ub and Ua, written from RFC 2617 §3.2.2 and RFC 3310 §3
// independently of internal/digest, so that the status codes the nodes send are seen
// exactly and the nodes' digest arithmetic is checked against a second implementation.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// authParams splits a Digest challenge or credentials value (RFC 7616 §3.3, §3.4) into its
// scheme and parameters (name lower-cased; quoted-string values unquoted).
func authParams(h string) (string, map[string]string, error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := make(map[string]string)
	s := strings.TrimSpace(rest)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return "", nil, fmt.Errorf("e2e: auth-param without '=' in %q", h)
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimSpace(s[eq+1:])
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return "", nil, fmt.Errorf("e2e: unterminated quoted-string in %q", h)
			}
			val, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		if _, dup := params[name]; dup {
			return "", nil, fmt.Errorf("e2e: duplicate auth-param %q", name)
		}
		params[name] = val
		s = strings.TrimSpace(s)
		s = strings.TrimPrefix(s, ",")
		s = strings.TrimSpace(s)
	}
	return scheme, params, nil
}

func md5hex(parts ...[]byte) string {
	h := md5.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// digestResponse is request-digest with qop=auth-int (RFC 2617 §3.2.2.1-3):
// KD(H(A1), nonce:nc:cnonce:qop:H(A2)), A1 = user:realm:password, A2 = method:uri:H(body).
// For AKA the password is RES as raw octets (RFC 3310 §3.3); for Ua base64(Ks_NAF).
func digestResponse(user, realm string, password []byte, method, uri, nonce, nc, cnonce, qop string, body []byte) string {
	ha1 := md5hex([]byte(user), []byte(realm), password)
	ha2 := md5hex([]byte(method), []byte(uri), []byte(md5hex(body)))
	return md5hex([]byte(ha1), []byte(nonce), []byte(nc), []byte(cnonce), []byte(qop), []byte(ha2))
}

// digestChallenge is a parsed WWW-Authenticate Digest challenge.
type digestChallenge struct {
	Realm, Nonce, Opaque, Algorithm, QOP string
	Stale                                bool
}

func parseChallenge(h http.Header) (digestChallenge, error) {
	v := h.Values("WWW-Authenticate")
	if len(v) != 1 {
		return digestChallenge{}, fmt.Errorf("e2e: %d WWW-Authenticate fields, want 1", len(v))
	}
	scheme, p, err := authParams(v[0])
	if err != nil {
		return digestChallenge{}, err
	}
	if !strings.EqualFold(scheme, "Digest") {
		return digestChallenge{}, fmt.Errorf("e2e: scheme %q", scheme)
	}
	return digestChallenge{Realm: p["realm"], Nonce: p["nonce"], Opaque: p["opaque"], Algorithm: p["algorithm"], QOP: p["qop"],
		Stale: strings.EqualFold(p["stale"], "true")}, nil
}

// AKA splits the nonce into RAND and AUTN (RFC 3310 §3.2: base64(RAND ‖ AUTN ‖ server data)).
func (c digestChallenge) AKA() (rnd, autn [16]byte, err error) {
	b, err := base64.StdEncoding.DecodeString(c.Nonce)
	if err != nil || len(b) < 32 {
		return rnd, autn, fmt.Errorf("e2e: nonce %q is not base64(RAND ‖ AUTN)", c.Nonce)
	}
	copy(rnd[:], b[:16])
	copy(autn[:], b[16:32])
	return rnd, autn, nil
}

// credentials builds an Authorization value answering c with qop=auth-int, nc=00000001.
// auts, when set, is sent as RFC 3310 §3.4 asks (the password is then empty).
func (c digestChallenge) credentials(user, uri, method string, password, body, auts []byte) string {
	var cn [8]byte
	_, _ = rand.Read(cn[:])
	cnonce := hex.EncodeToString(cn[:])
	const nc, qop = "00000001", "auth-int"
	resp := digestResponse(user, c.Realm, password, method, uri, c.Nonce, nc, cnonce, qop, body)
	h := fmt.Sprintf(`Digest username=%q, realm=%q, nonce=%q, uri=%q, qop=%s, nc=%s, cnonce=%q, response=%q`,
		user, c.Realm, c.Nonce, uri, qop, nc, cnonce, resp)
	if c.Opaque != "" {
		h += fmt.Sprintf(", opaque=%q", c.Opaque)
	}
	if c.Algorithm != "" {
		h += ", algorithm=" + c.Algorithm
	}
	if auts != nil {
		h += fmt.Sprintf(", auts=%q", base64.StdEncoding.EncodeToString(auts))
	}
	return h
}

// checkRspAuth verifies Authentication-Info (RFC 2617 §3.2.3): rspauth is the digest with
// an empty method and the response body, for the credentials sent in authz.
func checkRspAuth(authz string, password []byte, h http.Header, body []byte) error {
	_, cp, err := authParams(authz)
	if err != nil {
		return err
	}
	ai := h.Get("Authentication-Info")
	if ai == "" {
		return errors.New("e2e: no Authentication-Info")
	}
	_, ap, err := authParams("x " + ai)
	if err != nil {
		return err
	}
	want := digestResponse(cp["username"], cp["realm"], password, "", cp["uri"], cp["nonce"], cp["nc"], cp["cnonce"], cp["qop"], body)
	if ap["rspauth"] != want {
		return fmt.Errorf("e2e: rspauth %q, want %q", ap["rspauth"], want)
	}
	return nil
}

// reply is one HTTP answer, read completely.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) String() string {
	return fmt.Sprintf("%d %s %q", r.Status, r.Header.Get("WWW-Authenticate"), bytes.TrimSpace(r.Body))
}

func do(ctx context.Context, t *testing.T, hc *http.Client, method, u, authz string, body []byte) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, u, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// ubHand drives Ub by hand (TS 24.109 Annex A): GET / with Digest AKA.
type ubHand struct {
	hc  *http.Client
	url string // the BSF's Ub URL, path "/"
}

// initial sends step 1 of TS 24.109 Annex A: username = IMPI, empty nonce and response.
func (u ubHand) initial(ctx context.Context, t *testing.T, impi, realm string) reply {
	t.Helper()
	authz := fmt.Sprintf(`Digest username=%q, realm=%q, nonce="", uri="/", response=""`, impi, realm)
	return do(ctx, t, u.hc, http.MethodGet, u.url, authz, nil)
}

// answer answers a challenge (step 4) with the given password (RES for AKAv1-MD5) or, with
// auts, the sync-failure form of RFC 3310 §3.4. It returns the reply and the Authorization
// sent.
func (u ubHand) answer(ctx context.Context, t *testing.T, impi string, ch digestChallenge, password, auts []byte) (reply, string) {
	t.Helper()
	authz := ch.credentials(impi, "/", http.MethodGet, password, nil, auts)
	return do(ctx, t, u.hc, http.MethodGet, u.url, authz, nil), authz
}

// send replays an Authorization value.
func (u ubHand) send(ctx context.Context, t *testing.T, authz string) reply {
	t.Helper()
	return do(ctx, t, u.hc, http.MethodGet, u.url, authz, nil)
}

// uaHand drives Ua by hand (TS 24.109 §5.2): a POST of "{}" to the MEF's enrolment URL.
type uaHand struct {
	hc  *http.Client
	url string
}

// enrol runs the Ua exchange with username = btid and password = base64(ksNAF)
// (TS 33.220 §4.5.3): the unauthenticated request, which must be challenged with 401, then
// the authenticated one, whose reply is returned with the challenge.
func (u uaHand) enrol(ctx context.Context, t *testing.T, btid string, ksNAF []byte) (reply, digestChallenge) {
	t.Helper()
	body := []byte("{}")
	first := do(ctx, t, u.hc, http.MethodPost, u.url, "", body)
	if first.Status != http.StatusUnauthorized {
		t.Fatalf("Ua without credentials: %v, want 401", first)
	}
	ch, err := parseChallenge(first.Header)
	if err != nil {
		t.Fatalf("Ua challenge: %v", err)
	}
	if !strings.Contains(ch.QOP, "auth-int") {
		t.Fatalf("Ua challenge qop %q lacks auth-int", ch.QOP)
	}
	pu, err := url.Parse(u.url)
	if err != nil {
		t.Fatal(err)
	}
	password := []byte(base64.StdEncoding.EncodeToString(ksNAF))
	authz := ch.credentials(btid, pu.RequestURI(), http.MethodPost, password, body, nil)
	return do(ctx, t, u.hc, http.MethodPost, u.url, authz, body), ch
}

// jsonError returns the "error" member of a JSON error body.
func jsonError(b []byte) string {
	s := string(b)
	i := strings.Index(s, `"error":"`)
	if i < 0 {
		return ""
	}
	s = s[i+len(`"error":"`):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return s
}
