package ue

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/redact"
)

// DefaultMaxUaBodySize bounds the request bodies the Transport buffers (to replay them
// after a challenge) and the response bodies it reads to check an auth-int rspauth.
const DefaultMaxUaBodySize = 1 << 20

// realmPrefixGBAME is the realm prefix of a NAF asking for GBA_ME keys (TS 24.109 §5.2.2,
// TS 33.220 §4.5.3).
const realmPrefixGBAME = "3GPP-bootstrapping@"

// maxUaSends bounds the attempts of one Ua request: without credentials or with a
// remembered nonce, answering a fresh challenge, a stale one, after a new bootstrap.
const maxUaSends = 5

// maxUaNonces bounds the per-origin nonce cache of a Transport.
const maxUaNonces = 64

// Transport is an http.RoundTripper that authenticates requests to NAFs over Ua with HTTP
// Digest and GBA keys (TS 24.109 §5.2, TS 33.222 §5):
//
//   - every request carries the product token "3gpp-gba" in User-Agent (TS 24.109 §5.2.1);
//   - a 401 whose Digest challenge has realm "3GPP-bootstrapping@<fqdn>" is answered with
//     username = B-TID and password = base64(Ks_NAF), NAF_Id = fqdn ‖ Ua security
//     protocol identifier (TS 33.220 §4.5.3, §B.3), algorithm MD5 and qop auth-int when
//     offered (the body is hashed), else auth. The fqdn must name the host the request
//     goes to (TS 33.222 §5.3.0), or the request fails with ErrProtocol;
//   - nonces are remembered per origin and reused with nc+1 (RFC 2617 §3.2.2); stale=true
//     is answered with the new nonce without bootstrapping again (RFC 2617 §3.2.1);
//   - when the bootstrap has expired, or the NAF answers a fresh challenge to credentials
//     with a B-TID that looked valid (TS 24.109 §5.2.4, bootstrapping required), the
//     client bootstraps again, at most once per request; a 401 that remains is returned
//     to the caller;
//   - an Authentication-Info in the final response is checked (rspauth, RFC 2617 §3.2.3)
//     and its nextnonce remembered. A wrong rspauth fails with ErrServerAuthFailed.
//
// Request bodies are buffered (at most MaxBodySize) so that they can be replayed. Other
// 401 challenges are returned untouched. A Transport remembers nonces, so create one
// (Client.Transport or a literal) and reuse it; it is safe for concurrent use.
type Transport struct {
	// Client bootstraps and holds the current bootstrap. Required.
	Client *Client
	// Base carries the requests; nil means the Client's HTTPClient transport.
	Base http.RoundTripper
	// UaID overrides the Client's Config.UaID when non-zero.
	UaID UaID
	// MaxBodySize bounds buffered bodies; zero means DefaultMaxUaBodySize.
	MaxBodySize int64

	mu     sync.Mutex
	nonces map[string]*uaNonce
}

// uaNonce is the last GBA challenge of an origin and the nonce-count used with it.
type uaNonce struct {
	ch   digest.Challenge
	fqdn string
	nc   uint32
}

// uaResult says how the final response of a Ua exchange was obtained.
type uaResult struct {
	b      *Bootstrap // bootstrap of the last credentials sent
	fqdn   string     // NAF FQDN from the realm
	authed bool       // the final response answered GBA credentials
}

// Transport returns a new Transport bound to c.
func (c *Client) Transport() *Transport { return &Transport{Client: c} }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, _, err := t.roundTrip(req)
	return resp, err
}

func (t *Transport) maxBody() int64 {
	if t.MaxBodySize > 0 {
		return t.MaxBodySize
	}
	return DefaultMaxUaBodySize
}

func (t *Transport) uaID() UaID {
	if t.UaID != 0 {
		return t.UaID
	}
	return t.Client.cfg.UaID
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return t.Client.base
}

// uaAttempt is one set of credentials with the password it was computed with.
type uaAttempt struct {
	redact.Fields // password is base64(Ks_NAF)
	creds         digest.Credentials
	password      []byte
	b             *Bootstrap
	fqdn          string
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, uaResult, error) {
	body, err := t.bufferBody(req)
	if err != nil {
		return nil, uaResult{}, err
	}
	c := t.Client
	if c == nil {
		return nil, uaResult{}, fmt.Errorf("%w: Transport.Client is nil", ErrConfig)
	}
	if !t.uaID().Valid() {
		return nil, uaResult{}, fmt.Errorf("%w: UaID exceeds 5 octets", ErrConfig)
	}
	ctx := req.Context()
	host := requestHost(req)
	origin := strings.ToLower(req.URL.Scheme + "://" + req.URL.Host)

	var (
		at         *uaAttempt
		preemptive bool // at reuses a remembered nonce
		staleUsed  bool // a stale=true challenge was answered
		ubUsed     bool // this request already bootstrapped
	)
	// Reuse a remembered nonce with nc+1 when the bootstrap is still valid
	// (RFC 2617 §3.2.2: the client may send the same nonce with an incremented nc).
	if b := c.valid(); b != nil {
		if n, ok := t.nextNC(origin); ok {
			if at, err = t.sign(n, b, req, body); err != nil {
				return nil, uaResult{}, err
			}
			preemptive = true
		}
	}
	for sends := 1; ; sends++ {
		resp, dur, err := t.send(req, body, at)
		if err != nil {
			return nil, uaResult{}, err
		}
		if resp.StatusCode != http.StatusUnauthorized {
			res := uaResult{authed: at != nil}
			if at != nil {
				res.b, res.fqdn = at.b, at.fqdn
				if err := t.checkAuthInfo(origin, resp, at); err != nil {
					_ = resp.Body.Close()
					return nil, uaResult{}, err
				}
				c.trace(Event{Step: StepUaDone, StatusCode: resp.StatusCode, Duration: dur, Detail: req.URL.Redacted()})
			}
			return resp, res, nil
		}
		ch, fqdn, ok, err := gbaChallenge(resp.Header.Values("WWW-Authenticate"), host)
		if err != nil {
			_ = resp.Body.Close()
			return nil, uaResult{}, err
		}
		if !ok { // not a GBA challenge: the caller's business
			return resp, uaResult{}, nil
		}
		c.trace(Event{Step: StepUaChallenge, StatusCode: resp.StatusCode, Duration: dur, Detail: ch.Realm})

		var b *Bootstrap
		switch {
		case sends >= maxUaSends: // unreachable by the rules below; a guard against loops
			drain(resp)
			return nil, uaResult{}, fmt.Errorf("%w: ua: %d challenges in one request", ErrProtocol, sends)
		case at == nil:
			var ran bool
			b, ran, err = c.current(ctx)
			ubUsed = ran
		case preemptive:
			// The remembered nonce was refused: answer the fresh challenge first.
			preemptive = false
			b = at.b
		case ch.Stale && !staleUsed:
			// RFC 2617 §3.2.1: the credentials were right, only the nonce was old.
			staleUsed = true
			b = at.b
		case !ubUsed:
			// TS 24.109 §5.2.4: the NAF does not know or no longer accepts the B-TID.
			ubUsed = true
			b, err = c.rebootstrap(ctx, at.b)
		default:
			return resp, uaResult{b: at.b, fqdn: at.fqdn}, nil
		}
		drain(resp)
		if err != nil {
			return nil, uaResult{}, err
		}
		n := t.remember(origin, ch, fqdn)
		if at, err = t.sign(n, b, req, body); err != nil {
			return nil, uaResult{}, err
		}
	}
}

// bufferBody reads and closes the request body so that it can be sent more than once.
func (t *Transport) bufferBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	b, err := readBounded(req.Body, t.maxBody())
	if err != nil {
		return nil, fmt.Errorf("ue: ua: request body: %w", err)
	}
	return b, nil
}

// requestHost is the host name the request addresses (Host header, else URL).
func requestHost(req *http.Request) string {
	if req.Host != "" {
		return (&url.URL{Host: req.Host}).Hostname()
	}
	return req.URL.Hostname()
}

// send clones req with the buffered body and the credentials of at, if any.
func (t *Transport) send(req *http.Request, body []byte, at *uaAttempt) (*http.Response, time.Duration, error) {
	r := req.Clone(req.Context())
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	} else if req.Body != nil {
		r.Body, r.GetBody, r.ContentLength = http.NoBody, nil, 0
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		r.Header.Set("User-Agent", withProductToken(ua, productTokenUa))
	} else {
		r.Header.Set("User-Agent", t.Client.uaUser)
	}
	if at != nil {
		h, err := at.creds.Header()
		if err != nil {
			return nil, 0, fmt.Errorf("ue: ua: %w", err)
		}
		r.Header.Set("Authorization", h)
	}
	start := time.Now()
	resp, err := t.base().RoundTrip(r)
	if err != nil {
		return nil, 0, err
	}
	return resp, time.Since(start), nil
}

// gbaChallenge picks the GBA_ME Digest challenge of a 401 (TS 24.109 §5.2.2): realm
// "3GPP-bootstrapping@<fqdn>", algorithm MD5 (or absent, RFC 2617 §3.2.1) and qop auth-int
// or auth. ok is false when no such challenge is present. The fqdn must equal the host
// of the request (TS 33.222 §5.3.0), else ErrProtocol.
func gbaChallenge(values []string, host string) (ch digest.Challenge, fqdn string, ok bool, err error) {
	for _, v := range values {
		c, perr := digest.ParseChallenge(v)
		if perr != nil || !strings.HasPrefix(c.Realm, realmPrefixGBAME) {
			continue
		}
		fqdn = c.Realm[len(realmPrefixGBAME):]
		switch {
		case !strings.EqualFold(fqdn, host):
			return digest.Challenge{}, "", false, fmt.Errorf("%w: ua: realm names another host than the one requested", ErrProtocol)
		case c.Algorithm != "" && c.Algorithm != digest.MD5:
			return digest.Challenge{}, "", false, fmt.Errorf("%w: ua: GBA challenge algorithm is not MD5", ErrProtocol)
		case !c.Offers(digest.QOPAuthInt) && !c.Offers(digest.QOPAuth):
			return digest.Challenge{}, "", false, fmt.Errorf("%w: ua: GBA challenge offers neither qop auth-int nor auth", ErrProtocol)
		}
		return c, fqdn, true, nil
	}
	return digest.Challenge{}, "", false, nil
}

// remember stores a fresh challenge for origin, nc reset, and returns it with nc = 1.
func (t *Transport) remember(origin string, ch digest.Challenge, fqdn string) uaNonce {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nonces == nil {
		t.nonces = make(map[string]*uaNonce)
	}
	if _, ok := t.nonces[origin]; !ok && len(t.nonces) >= maxUaNonces {
		for k := range t.nonces { // evict one arbitrary origin
			delete(t.nonces, k)
			break
		}
	}
	n := &uaNonce{ch: ch, fqdn: fqdn, nc: 1}
	t.nonces[origin] = n
	return *n
}

// nextNC returns the remembered challenge of origin with its nc incremented.
func (t *Transport) nextNC(origin string) (uaNonce, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nonces[origin]
	if !ok {
		return uaNonce{}, false
	}
	if n.nc == math.MaxUint32 {
		delete(t.nonces, origin)
		return uaNonce{}, false
	}
	n.nc++
	return *n, true
}

// setNextNonce replaces the nonce of origin after an Authentication-Info nextnonce
// (RFC 2617 §3.2.3).
func (t *Transport) setNextNonce(origin, nonce string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.nonces[origin]; ok {
		n.ch.Nonce, n.nc = nonce, 0
	}
}

// sign computes the Ua credentials (TS 24.109 §5.2.2): username = B-TID, password =
// base64(Ks_NAF) with NAF_Id = fqdn ‖ Ua id (TS 33.220 §4.5.3), qop auth-int when offered.
func (t *Transport) sign(n uaNonce, b *Bootstrap, req *http.Request, body []byte) (*uaAttempt, error) {
	qop := digest.QOPAuth
	if n.ch.Offers(digest.QOPAuthInt) {
		qop = digest.QOPAuthInt
	}
	cnonce, err := digest.NewCNonce(t.Client.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("ue: ua: %w", err)
	}
	creds, err := digest.NewCredentials(n.ch, b.BTID, req.URL.RequestURI(), qop, cnonce, n.nc)
	if err != nil {
		return nil, fmt.Errorf("%w: ua: %w", ErrProtocol, err)
	}
	ksNAF, err := b.KsNAF(n.fqdn, t.uaID())
	if err != nil {
		return nil, err
	}
	password := []byte(ksNAF.Base64())
	if err := creds.Sign(password, req.Method, body); err != nil {
		return nil, fmt.Errorf("ue: ua: %w", err)
	}
	return &uaAttempt{creds: creds, password: password, b: b, fqdn: n.fqdn}, nil
}

// checkAuthInfo verifies an Authentication-Info of the final response, if any
// (RFC 2617 §3.2.3), and remembers its nextnonce. For qop=auth-int the response body is
// read (bounded) and put back.
func (t *Transport) checkAuthInfo(origin string, resp *http.Response, at *uaAttempt) error {
	vals := resp.Header.Values("Authentication-Info")
	switch len(vals) {
	case 0:
		return nil
	case 1:
	default:
		return fmt.Errorf("%w: ua: several Authentication-Info fields", ErrServerAuthFailed)
	}
	a, err := digest.ParseAuthInfo(vals[0])
	if err != nil {
		return fmt.Errorf("%w: ua: %w", ErrServerAuthFailed, err)
	}
	if a.RspAuth != "" {
		var body []byte
		if a.QOP == digest.QOPAuthInt {
			if body, err = readBounded(resp.Body, t.maxBody()); err != nil {
				return fmt.Errorf("ue: ua: response body: %w", err)
			}
			_ = resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
		}
		if err := at.creds.VerifyAuthInfo(at.password, a, body); err != nil {
			return fmt.Errorf("%w: ua: %w", ErrServerAuthFailed, err)
		}
	}
	if a.NextNonce != "" {
		t.setNextNonce(origin, a.NextNonce)
	}
	return nil
}

// drain discards a little of an unwanted body so the connection can be reused, and
// closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
