package naf

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/redact"
)

// Ua defaults.
const (
	// DefaultMaxBody bounds a request body read for qop=auth-int.
	DefaultMaxBody = 1 << 20
	// DefaultMaxResponseBody bounds the response body buffered to compute rspauth for
	// qop=auth-int (RFC 2617 §3.2.3).
	DefaultMaxResponseBody = 1 << 20
	// DefaultRetryAfter is the Retry-After of a 503 when the BSF is unavailable.
	DefaultRetryAfter = 5 * time.Second
)

// Errors of the Ua edge (besides those of KeySource and the nonce table), mapped to HTTP
// statuses by uaStatus. None carries a password, key or response value.
var (
	// ErrNoCredentials: no Authorization header with the Digest scheme (TS 24.109 §5.2.2:
	// the NAF answers with a challenge).
	ErrNoCredentials = errors.New("naf: no Digest credentials")
	// ErrMalformedCredentials: the Authorization header does not parse (RFC 7616 §3.4).
	ErrMalformedCredentials = errors.New("naf: malformed Digest credentials")
	// ErrURIMismatch: digest-uri differs from the request-target (RFC 2617 §3.2.2.5: the
	// server SHOULD answer 400).
	ErrURIMismatch = errors.New("naf: digest-uri does not match the request URI")
	// ErrRealmMismatch: the realm is not this NAF's "3GPP-bootstrapping@<fqdn>".
	ErrRealmMismatch = errors.New("naf: realm is not this NAF's")
	// ErrUnsupported: algorithm, qop or userhash other than the ones offered.
	ErrUnsupported = errors.New("naf: unsupported Digest parameters")
	// ErrOpaqueMismatch: opaque not returned unchanged (RFC 7616 §3.4).
	ErrOpaqueMismatch = errors.New("naf: opaque does not match")
	// ErrBodyTooLarge: the request body of a qop=auth-int request exceeds the bound.
	ErrBodyTooLarge = errors.New("naf: request body too large for auth-int")
)

// Outcome labels one Ua authentication result (metrics and logs).
type Outcome string

// Ua outcomes.
const (
	OutcomeSuccess        Outcome = "success"
	OutcomeChallenge      Outcome = "challenge"       // no credentials: 401 challenge
	OutcomeBadRequest     Outcome = "bad_request"     // malformed credentials, URI mismatch
	OutcomeTooLarge       Outcome = "too_large"       // auth-int body over the bound
	OutcomeRejected       Outcome = "rejected"        // realm, algorithm, qop, opaque, nonce
	OutcomeBadResponse    Outcome = "bad_response"    // digest mismatch (wrong Ks_NAF)
	OutcomeStale          Outcome = "stale"           // expired nonce or replayed nc
	OutcomeUnknownBTID    Outcome = "unknown_btid"    // malformed, unknown or expired B-TID
	OutcomeForbidden      Outcome = "forbidden"       // Zn 5402
	OutcomeBSFUnavailable Outcome = "bsf_unavailable" // Zn transport failure
	OutcomeError          Outcome = "error"
)

// UaConfig configures an Authenticator.
type UaConfig struct {
	// NAFFQDN is this NAF's FQDN: the realm is "3GPP-bootstrapping@" + NAFFQDN and
	// NAF_Id = NAFFQDN || UaID (TS 33.220 §4.5.2, Annex H). Required. It must be spelt
	// exactly as the UE spells it (the KDF hashes its octets).
	NAFFQDN string
	// UaID is the Ua security protocol identifier; 0 means gba.UaIDHTTPDigest
	// (01 00 00 00 02, TS 33.220 §H.3, the default of GBA-DIGEST §0). The unspecified id
	// 00 00 00 00 00 therefore cannot be configured.
	UaID gba.UaID
	// UICC selects the GBA_U realm "3GPP-bootstrapping-uicc@" (TS 24.109 §5.2.2); the
	// KeySource then returns Ks_ext_NAF.
	UICC bool
	// Keys supplies Ks_NAF (usually a *Cache in front of the Zn client). Required.
	Keys KeySource
	// QOP lists the qop options offered, in order; nil means auth-int, auth (TS 24.109
	// §5.2.6: auth-int gives integrity protection).
	QOP []digest.QOP
	// NonceTTL and MaxNonces: nonce lifetime and size of the nonce-count table.
	NonceTTL  time.Duration
	MaxNonces int
	// MaxBody bounds a qop=auth-int request body (413 above it).
	MaxBody int64
	// MaxResponseBody bounds the response buffered to compute an auth-int rspauth.
	MaxResponseBody int
	// RetryAfter is sent with 503 when the BSF is unavailable.
	RetryAfter time.Duration
	// Metrics, if set, counts outcomes.
	Metrics *Metrics
	// Logger gets one debug record per rejected request (B-TID, outcome; never keys,
	// passwords or IMPIs). nil: no logging.
	Logger *slog.Logger
	// Rand is the randomness for nonces and opaque; nil means crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Authenticator is the NAF side of Ua with HTTP Digest, TS 24.109 §5.2 and TS 33.222 §5.3:
// it challenges with realm "3GPP-bootstrapping@<naf-fqdn>", takes the B-TID as username and
// base64(Ks_NAF) as password (TS 33.220 §4.5.3), fetches Ks_NAF from its KeySource and
// verifies the response in constant time. It does not assume what the protected service is
// (MEF, MAF, CSE or any other NAF).
type Authenticator struct {
	realm      string
	nafID      gba.NAFID
	keys       KeySource
	qop        []digest.QOP
	opaque     string
	nonces     *nonces
	maxBody    int64
	maxResp    int
	retryAfter string
	metrics    *Metrics
	log        *slog.Logger
	now        func() time.Time
}

// NewAuthenticator validates cfg and builds the authenticator.
func NewAuthenticator(cfg UaConfig) (*Authenticator, error) {
	if cfg.Keys == nil {
		return nil, errors.New("naf: ua: nil KeySource")
	}
	ua := cfg.UaID
	if ua == 0 {
		ua = gba.UaIDHTTPDigest
	}
	nafID, err := gba.NewNAFID(cfg.NAFFQDN, ua)
	if err != nil {
		return nil, fmt.Errorf("naf: ua: %w", err)
	}
	qop := cfg.QOP
	if qop == nil {
		qop = []digest.QOP{digest.QOPAuthInt, digest.QOPAuth}
	}
	if len(qop) == 0 {
		return nil, errors.New("naf: ua: no qop offered")
	}
	for _, q := range qop {
		if q != digest.QOPAuth && q != digest.QOPAuthInt {
			return nil, fmt.Errorf("naf: ua: qop %q not supported (auth, auth-int)", q)
		}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NonceTTL <= 0 {
		cfg.NonceTTL = DefaultNonceTTL
	}
	if cfg.MaxNonces <= 0 {
		cfg.MaxNonces = DefaultMaxNonces
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxResponseBody <= 0 {
		cfg.MaxResponseBody = DefaultMaxResponseBody
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	n, err := newNonces(cfg.Rand, cfg.Now, cfg.NonceTTL, cfg.MaxNonces)
	if err != nil {
		return nil, err
	}
	var op [8]byte
	if _, err := io.ReadFull(cfg.Rand, op[:]); err != nil {
		return nil, fmt.Errorf("naf: ua: opaque: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	secs := int((cfg.RetryAfter + time.Second - 1) / time.Second)
	return &Authenticator{
		realm:      digest.UaRealm(cfg.NAFFQDN, cfg.UICC),
		nafID:      nafID,
		keys:       cfg.Keys,
		qop:        append([]digest.QOP(nil), qop...),
		opaque:     hex.EncodeToString(op[:]),
		nonces:     n,
		maxBody:    cfg.MaxBody,
		maxResp:    cfg.MaxResponseBody,
		retryAfter: strconv.Itoa(secs),
		metrics:    cfg.Metrics,
		log:        log,
		now:        cfg.Now,
	}, nil
}

// Realm returns the Digest realm, TS 24.109 §5.2.2.
func (a *Authenticator) Realm() string { return a.realm }

// NAFID returns the NAF_Id used on Zn and in the key derivation, TS 33.220 Annex H.
func (a *Authenticator) NAFID() gba.NAFID { return a.nafID }

// Session is what a successful Ua authentication tells the next handler. It holds no key;
// see KsNAFFrom.
type Session struct {
	BTID    gba.BTID  // the B-TID the UE authenticated with (username)
	IMPI    string    // from Zn when the BSF provided it, else ""; personal data
	USS     []byte    // GBA-UserSecSettings for this NAF, nil when none
	Expires time.Time // Key-ExpiryTime of Ks_NAF
	GBAType GBAType
	NAFID   gba.NAFID
	QOP     digest.QOP
}

// LogValue logs the B-TID and the key expiry only (no IMPI, no USS).
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("btid", s.BTID.String()), slog.Time("expires", s.Expires))
}

type ctxKey int

const (
	sessionKey ctxKey = iota
	ksNAFKey
)

// SessionFrom returns the Session the Authenticator put in ctx.
func SessionFrom(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(sessionKey).(Session)
	return s, ok
}

// KsNAFFrom returns Ks_NAF of the authenticated request, for trusted handlers that need the
// key itself (the MEF provisions it to the MAF as Kmr, GBA-DIGEST §0). Handle it as a
// secret: gba.Key redacts itself under fmt and slog, but Bytes and Base64 do not.
func KsNAFFrom(ctx context.Context) (gba.Key, bool) {
	k, ok := ctx.Value(ksNAFKey).(gba.Key)
	return k, ok
}

// WithSession returns ctx carrying s and k as an Authenticator does (for tests of handlers
// that sit behind it).
func WithSession(ctx context.Context, s Session, k gba.Key) context.Context {
	return context.WithValue(context.WithValue(ctx, sessionKey, s), ksNAFKey, k)
}

// uaResult is one verified request.
type uaResult struct {
	redact.Fields // password is base64(Ks_NAF)
	creds         digest.Credentials
	password      []byte
	session       Session
	key           gba.Key
}

// Middleware protects next with Ua HTTP Digest (TS 24.109 §5.2). On success the request
// context carries the Session and Ks_NAF, and the response carries Authentication-Info
// with rspauth (RFC 2617 §3.2.3). For qop=auth-int the response body is part of rspauth,
// so it is buffered up to MaxResponseBody; a larger response is streamed without
// Authentication-Info, and Flush is a no-op while buffering.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := a.authenticate(r)
		if err != nil {
			a.reject(w, r, err)
			return
		}
		defer clear(res.password)
		a.metrics.observeUa(OutcomeSuccess)
		r = r.WithContext(WithSession(r.Context(), res.session, res.key))
		if res.creds.QOP != digest.QOPAuthInt {
			if h, err := a.authInfo(res, nil); err == nil {
				w.Header().Set("Authentication-Info", h)
			}
			next.ServeHTTP(w, r)
			return
		}
		bw := &bufferedWriter{w: w, max: a.maxResp}
		next.ServeHTTP(bw, r)
		bw.finish(func(body []byte) string {
			h, err := a.authInfo(res, body)
			if err != nil {
				return ""
			}
			return h
		})
	})
}

func (a *Authenticator) authInfo(res *uaResult, body []byte) (string, error) {
	ai, err := res.creds.AuthInfo(res.password, body, "")
	if err != nil {
		return "", err
	}
	return ai.Header()
}

// Authenticate verifies r without serving it, for callers that integrate Ua elsewhere:
// on success it returns the Session and Ks_NAF (and a request body of a qop=auth-int
// request has been read and restored); on failure, write the rejection with Reject.
func (a *Authenticator) Authenticate(r *http.Request) (Session, gba.Key, error) {
	res, err := a.authenticate(r)
	if err != nil {
		return Session{}, gba.Key{}, err
	}
	a.metrics.observeUa(OutcomeSuccess)
	clear(res.password)
	return res.session, res.key, nil
}

// authenticate runs the checks of TS 24.109 §5.2.2 and RFC 7616 §3.4 in an order that
// calls the KeySource (Zn) only for well-formed credentials carrying a nonce this NAF
// issued, and that updates nonce-counts only after the digest verified.
func (a *Authenticator) authenticate(r *http.Request) (*uaResult, error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return nil, ErrNoCredentials
	case len(hs) > 1:
		return nil, fmt.Errorf("%w: more than one Authorization field", ErrMalformedCredentials)
	}
	c, err := digest.ParseCredentials(hs[0])
	if errors.Is(err, digest.ErrNotDigest) {
		return nil, ErrNoCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedCredentials, err)
	}
	if c.Realm != a.realm {
		return nil, ErrRealmMismatch
	}
	if c.Algorithm != "" && c.Algorithm != digest.MD5 {
		return nil, fmt.Errorf("%w: algorithm must be MD5", ErrUnsupported)
	}
	if c.UserHash {
		return nil, fmt.Errorf("%w: userhash", ErrUnsupported)
	}
	if !a.offers(c.QOP) {
		return nil, fmt.Errorf("%w: qop must be one of the offered options", ErrUnsupported)
	}
	// RFC 7616 §3.4.6, RFC 2617 §3.2.2.5: digest-uri must match the request-target.
	if c.URI != r.RequestURI && c.URI != r.URL.RequestURI() {
		return nil, ErrURIMismatch
	}
	// TS 24.109 §5.2.2: username is the B-TID (TS 33.220 §4.5.2), parsed strictly.
	btid, err := gba.ParseBTID(c.Username)
	if err != nil {
		return nil, err
	}
	issued, nst := a.nonces.check(c.Nonce)
	if nst == nonceBad {
		return nil, ErrNonceInvalid
	}
	if c.Opaque != a.opaque {
		return nil, ErrOpaqueMismatch
	}
	var body []byte
	if c.QOP == digest.QOPAuthInt {
		if body, err = a.readBody(r); err != nil {
			return nil, err
		}
	}
	k, err := a.keys.KsNAF(r.Context(), btid.String(), a.nafID)
	if err != nil {
		return nil, err
	}
	if !k.validAt(a.now()) {
		return nil, fmt.Errorf("%w: Key-ExpiryTime has passed", ErrBTIDUnknown)
	}
	// TS 33.220 §4.5.3, TS 24.109 §5.2.2: password = base64(Ks_NAF).
	password := []byte(k.KsNAF.Base64())
	if err := c.Verify(password, r.Method, body); err != nil {
		clear(password)
		return nil, err
	}
	if nst == nonceExpired {
		clear(password)
		return nil, fmt.Errorf("%w: nonce expired", ErrNonceStale)
	}
	if err := a.nonces.use(c.Nonce, issued, c.NC); err != nil {
		clear(password)
		return nil, err
	}
	return &uaResult{
		creds:    c,
		password: password,
		key:      k.KsNAF,
		session: Session{
			BTID:    btid,
			IMPI:    k.IMPI,
			USS:     k.USS,
			Expires: k.Expires,
			GBAType: k.GBAType,
			NAFID:   a.nafID,
			QOP:     c.QOP,
		},
	}, nil
}

func (a *Authenticator) offers(q digest.QOP) bool {
	for _, o := range a.qop {
		if o == q {
			return true
		}
	}
	return false
}

// readBody reads at most maxBody octets for auth-int (RFC 2617 §3.2.2.3: H(entity-body))
// and puts an equivalent body back for the handler.
func (a *Authenticator) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > a.maxBody {
		return nil, fmt.Errorf("%w: %d octets, limit %d", ErrBodyTooLarge, r.ContentLength, a.maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, a.maxBody+1))
	_ = r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %w", ErrMalformedCredentials, err)
	}
	if int64(len(body)) > a.maxBody {
		return nil, fmt.Errorf("%w: limit %d", ErrBodyTooLarge, a.maxBody)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// uaStatus maps an authentication error to the HTTP status of the Ua answer:
// 401 with a fresh challenge when the UE must (re)authenticate or bootstrap again
// (TS 24.109 §5.2.4, §5.2.5: unknown or expired B-TID, Zn 5403), 403 when the BSF refuses
// this NAF (Zn 5402), 503 when the BSF cannot be reached, 400 for malformed credentials
// (RFC 2617 §3.2.2.5), 413 for an over-long auth-int body, 502 for an unusable answer
// from the key source.
func uaStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotAuthorized):
		return http.StatusForbidden
	case errors.Is(err, ErrBSFUnavailable),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrInvalidKey):
		return http.StatusBadGateway
	case errors.Is(err, ErrMalformedCredentials), errors.Is(err, ErrURIMismatch):
		return http.StatusBadRequest
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNoCredentials),
		errors.Is(err, ErrBTIDUnknown),
		errors.Is(err, gba.ErrInvalidBTID),
		errors.Is(err, ErrRealmMismatch),
		errors.Is(err, ErrUnsupported),
		errors.Is(err, ErrOpaqueMismatch),
		errors.Is(err, ErrNonceInvalid),
		errors.Is(err, ErrNonceStale),
		errors.Is(err, ErrNonceReplay),
		errors.Is(err, digest.ErrResponseMismatch):
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// uaStale reports whether the 401 for err carries stale=true (RFC 7616 §3.3): only when the
// digest itself verified, so the UE retries with the new nonce and its current Ks_NAF
// instead of bootstrapping again.
//
// Note: a replayed nonce-count is answered stale=true too (the digest was right; a UE that
// sent concurrent requests with one nonce can retry without a new bootstrapping run).
func uaStale(err error) bool {
	return errors.Is(err, ErrNonceStale) || errors.Is(err, ErrNonceReplay)
}

func uaOutcome(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, ErrNoCredentials):
		return OutcomeChallenge
	case uaStale(err):
		return OutcomeStale
	case errors.Is(err, digest.ErrResponseMismatch):
		return OutcomeBadResponse
	case errors.Is(err, ErrBTIDUnknown), errors.Is(err, gba.ErrInvalidBTID):
		return OutcomeUnknownBTID
	}
	switch uaStatus(err) {
	case http.StatusForbidden:
		return OutcomeForbidden
	case http.StatusServiceUnavailable:
		return OutcomeBSFUnavailable
	case http.StatusBadRequest:
		return OutcomeBadRequest
	case http.StatusRequestEntityTooLarge:
		return OutcomeTooLarge
	case http.StatusUnauthorized:
		return OutcomeRejected
	}
	return OutcomeError
}

// uaReason is the client-facing reason of a rejection (no values from the request).
func uaReason(err error) string {
	switch uaStatus(err) {
	case http.StatusForbidden:
		return "the BSF does not authorise this NAF for the subscriber (Zn 5402)"
	case http.StatusServiceUnavailable:
		return "the BSF is unavailable; retry later"
	case http.StatusBadGateway:
		return "the BSF answered with unusable key material"
	case http.StatusBadRequest:
		if errors.Is(err, ErrURIMismatch) {
			return "digest-uri does not match the request URI"
		}
		return "malformed Digest credentials"
	case http.StatusRequestEntityTooLarge:
		return "request body too large"
	case http.StatusUnauthorized:
		switch {
		case errors.Is(err, ErrNoCredentials):
			return "authentication required: HTTP Digest with a GBA B-TID"
		case errors.Is(err, ErrBTIDUnknown), errors.Is(err, gba.ErrInvalidBTID):
			return "B-TID unknown or expired: bootstrap again"
		case uaStale(err):
			return "nonce stale: retry with the new nonce"
		}
		return "authentication failed"
	}
	return "internal error"
}

// Reject writes the Ua answer for an authentication error: a 401 with a fresh challenge
// (stale=true where it applies), 403 with the reason, 503 with Retry-After, or 400/413/
// 502/500. Bodies are JSON {"error": "<reason>"}.
func (a *Authenticator) Reject(w http.ResponseWriter, r *http.Request, err error) {
	a.reject(w, r, err)
}

func (a *Authenticator) reject(w http.ResponseWriter, r *http.Request, err error) {
	status := uaStatus(err)
	outcome := uaOutcome(err)
	a.metrics.observeUa(outcome)
	if outcome != OutcomeChallenge {
		a.log.LogAttrs(r.Context(), slog.LevelDebug, "ua rejected",
			slog.String("if", "ua"), slog.String("result", string(outcome)), slog.Int("status", status),
			slog.String("error", err.Error()))
	}
	switch status {
	case http.StatusUnauthorized:
		ch, cerr := a.Challenge(uaStale(err))
		if cerr != nil {
			writeJSONError(w, http.StatusInternalServerError, "internal error")
			return
		}
		w.Header().Set("WWW-Authenticate", ch)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", a.retryAfter)
	}
	writeJSONError(w, status, uaReason(err))
}

// Challenge returns a WWW-Authenticate value with a fresh nonce, TS 24.109 §5.2.2:
// Digest realm="3GPP-bootstrapping@<naf-fqdn>", nonce, opaque, stale (when set),
// algorithm=MD5, qop="auth-int,auth".
func (a *Authenticator) Challenge(stale bool) (string, error) {
	nonce, err := a.nonces.issue()
	if err != nil {
		return "", err
	}
	return digest.Challenge{
		Realm:     a.realm,
		Nonce:     nonce,
		Opaque:    a.opaque,
		Stale:     stale,
		Algorithm: digest.MD5,
		QOP:       a.qop,
	}.Header()
}

func writeJSONError(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{reason})
}

// bufferedWriter holds a response so that rspauth can cover its body (auth-int). Headers
// are shared with the underlying writer.
type bufferedWriter struct {
	w        http.ResponseWriter
	max      int
	status   int
	buf      bytes.Buffer
	overflow bool
}

func (b *bufferedWriter) Header() http.Header { return b.w.Header() }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 && !b.overflow {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.overflow {
		return b.w.Write(p)
	}
	if b.buf.Len()+len(p) <= b.max {
		return b.buf.Write(p)
	}
	// Too large for rspauth: send what we have and stream the rest without
	// Authentication-Info.
	b.overflow = true
	b.w.WriteHeader(b.status)
	if _, err := b.w.Write(b.buf.Bytes()); err != nil {
		return 0, err
	}
	b.buf = bytes.Buffer{}
	return b.w.Write(p)
}

// Flush is a no-op while buffering (the rspauth needs the whole body).
func (b *bufferedWriter) Flush() {
	if f, ok := b.w.(http.Flusher); ok && b.overflow {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (b *bufferedWriter) Unwrap() http.ResponseWriter { return b.w }

// finish writes the buffered response with Authentication-Info computed by info.
func (b *bufferedWriter) finish(info func(body []byte) string) {
	if b.overflow {
		return
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if h := info(b.buf.Bytes()); h != "" {
		b.w.Header().Set("Authentication-Info", h)
	}
	b.w.WriteHeader(b.status)
	_, _ = b.w.Write(b.buf.Bytes())
}
