package bsf

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
)

// Ub wire constants, TS 24.109 §4.2 and Annex C.
const (
	// ServerToken is the Server header of every Ub response; the "3gpp-gba-tmpi" product
	// token is mandatory for a BSF (TS 33.220 §4.5.2).
	ServerToken = "Bootstrapping Server; Release-6; 3gpp-gba-tmpi"
	// ContentTypeBootstrappingInfo is the media type of the 200 body, TS 24.109 Annex C.
	ContentTypeBootstrappingInfo = "application/vnd.3gpp.bsf+xml"
	// namespaceGBA is the namespace of BootstrappingInfo, TS 24.109 Annex C.
	namespaceGBA = "uri:3gpp-gba"
	opaqueOctets = 16
)

// Ub outcomes: the label of bsf_ub_results_total and the "result" attribute of the Ub log
// line. Error outcomes come from ubOutcome.
const (
	OutcomeChallenge     = "challenge"      // first request answered with 401 (TS 24.109 Annex A step 3)
	OutcomeBootstrapped  = "bootstrapped"   // 200 with BootstrappingInfo (step 5)
	OutcomeResync        = "resync"         // auts received, fresh 401 (TS 24.109 §4.5)
	OutcomeWrongRES      = "wrong_res"      // wrong response, fresh 401 (TS 24.109 §4.3)
	OutcomeStaleNonce    = "stale_nonce"    // nonce older than the limit, fresh 401 stale=true
	OutcomeUnknownNonce  = "unknown_nonce"  // nonce unknown, replayed or issued to another IMPI, fresh 401 stale=true
	OutcomeRANDCollision = "rand_collision" // a live session holds the B-TID, fresh 401
)

// BSF is the Bootstrapping Server Function: the Ub logic (Bootstrap), the Zn logic
// (BootstrappingInfo) and their HTTP plumbing (Handler, OpsHandler, Serve). It is safe for
// concurrent use.
type BSF struct {
	cfg        Config
	realm      string
	vs         VectorSource
	store      Store
	challenges ChallengeStore
	guss       *gussCache
	nafs       map[string]nafPolicy // key: lower-case NAF Origin-Host
	log        *slog.Logger
	reg        *prometheus.Registry
	metrics    *Metrics
	ubObs      map[string]ubObservers // read-only after New
	ubHdr      ubHeaders              // read-only after New
	now        func() time.Time
	rand       io.Reader
}

type nafPolicy struct {
	fqdns []string
	group string
	impi  string
}

// Deps are the ports and plumbing New wires in.
type Deps struct {
	// VectorSource fetches AVs over Zh (required).
	VectorSource VectorSource
	// Store keeps sessions (required); see OpenStore.
	Store Store
	// Challenges holds pending challenges; nil means an in-memory table bounded by
	// ub.max_pending_challenges (one instance, or sticky routing; see the package doc).
	Challenges ChallengeStore
	// Logger receives JSON-ready structured logs; nil discards them.
	Logger *slog.Logger
	// Registry receives the metrics; nil means a new registry.
	Registry *prometheus.Registry
}

// New validates cfg and builds a BSF.
func New(cfg Config, d Deps) (*BSF, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.VectorSource == nil {
		return nil, errors.New("bsf: new: no VectorSource (Zh client)")
	}
	if d.Store == nil {
		return nil, errors.New("bsf: new: no Store")
	}
	b := &BSF{
		cfg:        cfg,
		realm:      cfg.Ub.Realm,
		vs:         d.VectorSource,
		store:      d.Store,
		challenges: d.Challenges,
		guss:       newGUSSCache(cfg.Zh.GUSSCacheSize),
		nafs:       make(map[string]nafPolicy, len(cfg.Zn.NAFs)),
		log:        d.Logger,
		reg:        d.Registry,
		now:        cfg.Now,
		rand:       cfg.Rand,
	}
	if b.realm == "" {
		b.realm = cfg.Ub.Domain
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.rand == nil {
		b.rand = rand.Reader
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.reg == nil {
		b.reg = prometheus.NewRegistry()
	}
	if b.challenges == nil {
		b.challenges = NewMemoryChallenges(cfg.Ub.MaxPendingChallenges, b.now)
	}
	for host, p := range cfg.Zn.NAFs {
		np := nafPolicy{group: p.Group, impi: p.IMPI}
		for _, f := range p.FQDNs {
			np.fqdns = append(np.fqdns, strings.ToLower(f))
		}
		b.nafs[strings.ToLower(host)] = np
	}
	m, err := newMetrics(b.reg, b.store)
	if err != nil {
		return nil, fmt.Errorf("bsf: metrics: %w", err)
	}
	b.metrics = m
	b.ubObs = newUbObservers(m)
	b.ubHdr = newUbHeaders()
	return b, nil
}

// Metrics returns the collectors for the Zh client and the Zn server to observe.
func (b *BSF) Metrics() *Metrics { return b.metrics }

// Registry returns the Prometheus registry served on /metrics.
func (b *BSF) Registry() *prometheus.Registry { return b.reg }

// Logger returns the BSF's logger.
func (b *BSF) Logger() *slog.Logger { return b.log }

// UbRequest is one HTTP request on Ub as the transport received it.
type UbRequest struct {
	Method string
	// URI is the request-target; the digest-uri must equal it (RFC 7616 §3.4).
	URI string
	// Authorization is the value of the Authorization header ("" when absent).
	Authorization string
	// Body is the request body (it enters the response hash with qop=auth-int).
	Body []byte
}

// UbAnswer is the BSF's answer to a Ub request that did not fail: a 401 challenge
// (Challenge set) or a 200 carrying the bootstrapping information.
type UbAnswer struct {
	// Outcome is one of the Outcome constants.
	Outcome string
	// Challenge is the WWW-Authenticate value of a 401 (TS 24.109 Annex A step 3).
	Challenge string
	// BTID, Expires, AuthenticationInfo and Body make up the 200 (step 5).
	BTID               gba.BTID
	Expires            time.Time
	AuthenticationInfo string
	Body               []byte
}

// Status returns the HTTP status of the answer: 401 with a challenge, else 200.
func (a UbAnswer) Status() int {
	if a.Challenge != "" {
		return 401
	}
	return 200
}

// Bootstrap runs one Ub step of the bootstrapping procedure, TS 33.220 §4.5.2 as profiled
// by TS 24.109 §4.2–4.5 and Annex A:
//
//   - Authorization with an empty nonce (step 1): fetch an AV over Zh and challenge with
//     nonce = base64(RAND || AUTN) (RFC 3310 §3.2), algorithm AKAv1-MD5 (or AKAv2-MD5,
//     RFC 4169), qop="auth-int" and a random opaque.
//   - Authorization answering a challenge (step 4): the nonce must be pending, issued to
//     this username, unused and not older than ub.nonce_max_age; the response must verify
//     with password = XRES (RFC 3310 §3.3) in constant time. Then the session is stored
//     (committed before the 200) and the BootstrappingInfo returned with an
//     Authentication-Info over it (RFC 2617 §3.2.3, mutual authentication RFC 3310 §3.5).
//   - auts present: the response must verify with the empty password (RFC 3310 §3.4);
//     the BSF asks the HSS to resynchronise and challenges again (TS 24.109 §4.5).
//   - response over the empty password without auts: the UE failed to authenticate the
//     network (TS 24.109 §4.4): ErrNetworkAuthFailure.
//   - wrong response: a fresh challenge, or ErrTooManyFailures after ub.max_failures in a
//     row (TS 24.109 §4.3). A wrong response never yields a session.
func (b *BSF) Bootstrap(ctx context.Context, req UbRequest) (UbAnswer, error) {
	if req.Authorization == "" {
		return UbAnswer{}, fmt.Errorf("%w: no Authorization header (TS 24.109 §4.2: the first request names the IMPI)", ErrBadRequest)
	}
	c, err := digest.ParseCredentials(req.Authorization)
	if err != nil {
		return UbAnswer{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if err := checkIMPI(c.Username); err != nil {
		return UbAnswer{}, err
	}
	if b.log.Enabled(ctx, slog.LevelDebug) {
		b.log.LogAttrs(ctx, slog.LevelDebug, "ub request", slog.String("if", "ub"), slog.String("impi", c.Username),
			slog.Bool("initial", c.Nonce == ""), slog.Bool("auts", c.AUTS != nil))
	}
	if isTMPI(c.Username) {
		return UbAnswer{}, ErrTMPIUnknown
	}
	if c.Nonce == "" {
		return b.challenge(ctx, c.Username, nil, 0, false, OutcomeChallenge)
	}
	return b.answer(ctx, req, c)
}

// checkIMPI accepts a non-empty UTF-8 IMPI (an NAI, TS 23.003 §13.3) of at most 255 octets
// without control characters.
func checkIMPI(impi string) error {
	switch {
	case impi == "":
		return fmt.Errorf("%w: empty username", ErrBadRequest)
	case len(impi) > maxIMPILen:
		return fmt.Errorf("%w: username longer than %d octets", ErrBadRequest, maxIMPILen)
	case !utf8.ValidString(impi):
		return fmt.Errorf("%w: username is not UTF-8", ErrBadRequest)
	case strings.ContainsFunc(impi, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%w: username contains control characters", ErrBadRequest)
	}
	return nil
}

// isTMPI recognises a TMPI by its realm, TS 33.220 §4.5.2 and §B.4.
func isTMPI(username string) bool {
	at := strings.LastIndexByte(username, '@')
	return at >= 0 && strings.EqualFold(username[at+1:], gba.TMPIRealm)
}

// answer handles step 4 of TS 24.109 Annex A and the failure cases of §4.3–4.5.
func (b *BSF) answer(ctx context.Context, req UbRequest, c digest.Credentials) (UbAnswer, error) {
	// Parameters the BSF chose must come back unchanged; the digest-uri must be the
	// request-target (RFC 7616 §3.4); TS 24.109 §4.2 requires qop auth-int.
	switch {
	case c.Realm != b.realm:
		return UbAnswer{}, fmt.Errorf("%w: realm differs from the challenge", ErrBadRequest)
	case c.QOP != digest.QOPAuthInt:
		return UbAnswer{}, fmt.Errorf("%w: qop must be auth-int", ErrBadRequest)
	case c.URI != req.URI:
		return UbAnswer{}, fmt.Errorf("%w: digest-uri differs from the request-target", ErrBadRequest)
	}
	if _, err := digest.UnpackNonce(c.Nonce); err != nil {
		// Not base64(RAND || AUTN || …) of RFC 3310 §3.2: no BSF issued it.
		return UbAnswer{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	p, err := b.challenges.TakeChallenge(ctx, c.Nonce)
	switch {
	case errors.Is(err, ErrChallengeNotFound):
		// Never issued, already used or expired: RFC 7616 §3.3 stale=true.
		return b.challenge(ctx, c.Username, nil, 0, true, OutcomeUnknownNonce)
	case err != nil:
		return UbAnswer{}, fmt.Errorf("bsf: pending challenges: %w", err)
	case p.IMPI != c.Username:
		// The nonce was issued to another IMPI; it is spent now either way.
		return b.challenge(ctx, c.Username, nil, 0, true, OutcomeUnknownNonce)
	case c.Opaque != p.Opaque:
		return UbAnswer{}, fmt.Errorf("%w: opaque differs from the challenge", ErrBadRequest)
	case c.Algorithm != p.Algorithm:
		return UbAnswer{}, fmt.Errorf("%w: algorithm differs from the challenge", ErrBadRequest)
	case b.now().Sub(p.Issued) > b.cfg.Ub.NonceMaxAge:
		return b.challenge(ctx, c.Username, nil, p.Failures, true, OutcomeStaleNonce)
	}

	if c.AUTS != nil {
		// RFC 3310 §3.4: with auts the response is computed over the empty password.
		if err := c.Verify(nil, req.Method, req.Body); err != nil {
			return b.wrongResponse(ctx, p)
		}
		ri := &ResyncInfo{RAND: p.RAND}
		copy(ri.AUTS[:], c.AUTS)
		return b.challenge(ctx, p.IMPI, ri, p.Failures, false, OutcomeResync)
	}
	password, err := digest.AKAPassword(p.Algorithm, p.XRES, p.IK[:], p.CK[:])
	if err != nil {
		return UbAnswer{}, fmt.Errorf("bsf: password: %w", err)
	}
	defer clear(password)
	if err := c.Verify(password, req.Method, req.Body); err == nil {
		return b.bootstrapped(ctx, c, p, password)
	}
	if err := c.Verify(nil, req.Method, req.Body); err == nil {
		// TS 24.109 §4.4: the UE could not authenticate the network (AUTN MAC failure).
		return UbAnswer{}, ErrNetworkAuthFailure
	}
	return b.wrongResponse(ctx, p)
}

// wrongResponse answers a response that does not verify, TS 24.109 §4.3: a fresh challenge,
// or 403 once ub.max_failures wrong responses came in a row.
func (b *BSF) wrongResponse(ctx context.Context, p PendingChallenge) (UbAnswer, error) {
	failures := p.Failures + 1
	if failures >= b.cfg.Ub.MaxFailures {
		return UbAnswer{}, ErrTooManyFailures
	}
	return b.challenge(ctx, p.IMPI, nil, failures, false, OutcomeWrongRES)
}

// challenge fetches an AV (with resync when given) and builds the 401 of TS 24.109 Annex A
// step 3.
func (b *BSF) challenge(ctx context.Context, impi string, resync *ResyncInfo, failures int, stale bool, outcome string) (UbAnswer, error) {
	cached, haveGUSS := b.guss.get(impi)
	areq := AVRequest{IMPI: impi, Resync: resync}
	if haveGUSS {
		areq.GUSSTimestamp = cached.ts
	}
	av, err := b.fetchAV(ctx, areq)
	if err != nil {
		return UbAnswer{}, err
	}
	doc, ts := cached.doc, cached.ts
	if av.GUSS != nil {
		// Fail closed: a GUSS we cannot read could carry access restrictions.
		if _, err := parseGUSS(av.GUSS); err != nil {
			return UbAnswer{}, fmt.Errorf("bsf: zh: %w", err)
		}
		doc, ts = bytes.Clone(av.GUSS), av.GUSSTimestamp
		b.guss.put(impi, gussEntry{doc: doc, ts: ts})
	}
	nonce, err := digest.NewAKANonce(av.RAND[:], av.AUTN[:], nil)
	if err != nil {
		return UbAnswer{}, fmt.Errorf("bsf: nonce: %w", err)
	}
	var op [opaqueOctets]byte
	if _, err := io.ReadFull(b.rand, op[:]); err != nil {
		return UbAnswer{}, fmt.Errorf("bsf: opaque: %w", err)
	}
	p := PendingChallenge{
		Nonce:         nonce.Pack(),
		Opaque:        hex.EncodeToString(op[:]),
		IMPI:          strings.Clone(impi),
		Algorithm:     digest.Algorithm(b.cfg.Ub.Algorithm),
		RAND:          av.RAND,
		AUTN:          av.AUTN,
		XRES:          bytes.Clone(av.XRES),
		CK:            av.CK,
		IK:            av.IK,
		Issued:        b.now(),
		Failures:      failures,
		GUSS:          doc,
		GUSSTimestamp: ts,
	}
	if err := b.challenges.PutChallenge(ctx, p, 2*b.cfg.Ub.NonceMaxAge); err != nil {
		switch {
		case errors.Is(err, ErrOverloaded):
			return UbAnswer{}, err
		case errors.Is(err, ErrChallengeExists):
			return UbAnswer{}, errors.New("bsf: zh: the HSS repeated an authentication vector")
		}
		return UbAnswer{}, fmt.Errorf("bsf: pending challenges: %w", err)
	}
	h, err := digest.Challenge{
		Realm:     b.realm,
		Nonce:     p.Nonce,
		Opaque:    p.Opaque,
		Stale:     stale,
		Algorithm: p.Algorithm,
		QOP:       []digest.QOP{digest.QOPAuthInt},
	}.Header()
	if err != nil {
		return UbAnswer{}, fmt.Errorf("bsf: challenge: %w", err)
	}
	return UbAnswer{Outcome: outcome, Challenge: h}, nil
}

// fetchAV asks the VectorSource within the Zh timeout. The call runs in its own goroutine so
// that a VectorSource that ignores ctx cannot hold the Ub request past the timeout; the
// package's own ZhClient, which gives up when ctx ends and bounds every request with its
// own zh.timeout, is called directly (with no second deadline when its timeout is not
// longer than the BSF's).
func (b *BSF) fetchAV(ctx context.Context, req AVRequest) (AVResponse, error) {
	type result struct {
		av  AVResponse
		err error
	}
	var r result
	if z, ok := b.vs.(*ZhClient); ok {
		if z.cfg.Timeout > b.cfg.Zh.Timeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, b.cfg.Zh.Timeout)
			defer cancel()
		}
		r.av, r.err = z.FetchAV(ctx, req)
		if r.err != nil && ctx.Err() != nil {
			return AVResponse{}, fmt.Errorf("%w: %w", ErrHSSUnavailable, ctx.Err())
		}
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.Zh.Timeout)
		defer cancel()
		ch := make(chan result, 1)
		go func() {
			av, err := b.vs.FetchAV(ctx, req)
			ch <- result{av, err}
		}()
		select {
		case r = <-ch:
		case <-ctx.Done():
			return AVResponse{}, fmt.Errorf("%w: %w", ErrHSSUnavailable, ctx.Err())
		}
	}
	switch {
	case r.err == nil:
	case errors.Is(r.err, ErrIMPIUnknown), errors.Is(r.err, ErrResyncFailed), errors.Is(r.err, ErrHSSUnavailable):
		return AVResponse{}, r.err
	case errors.Is(r.err, context.DeadlineExceeded), errors.Is(r.err, context.Canceled):
		return AVResponse{}, fmt.Errorf("%w: %w", ErrHSSUnavailable, r.err)
	default:
		return AVResponse{}, fmt.Errorf("bsf: zh: %w", r.err)
	}
	if err := r.av.validate(); err != nil {
		return AVResponse{}, err
	}
	return r.av, nil
}

// bootstrapped creates the session and builds the 200 of TS 24.109 Annex A step 5.
func (b *BSF) bootstrapped(ctx context.Context, c digest.Credentials, p PendingChallenge, password []byte) (UbAnswer, error) {
	// TS 33.220 §4.5.2: B-TID = base64(RAND) "@" BSF server domain name; Ks = CK || IK.
	btid, err := gba.NewBTID(p.RAND[:], b.cfg.Ub.Domain)
	if err != nil {
		return UbAnswer{}, fmt.Errorf("bsf: B-TID: %w", err)
	}
	ks, err := gba.Ks(p.CK[:], p.IK[:])
	if err != nil {
		return UbAnswer{}, fmt.Errorf("bsf: Ks: %w", err)
	}
	// TS 33.220 §4.5.2: the key lifetime is BSF policy, per user from GUSS bsfInfo/lifeTime.
	lifetime := b.cfg.Ub.DefaultLifetime
	if p.GUSS != nil {
		g, err := parseGUSS(p.GUSS)
		if err != nil {
			return UbAnswer{}, fmt.Errorf("bsf: %w", err)
		}
		if g.lifetime > 0 {
			lifetime = g.lifetime
		}
		if g.uiccType == uiccTypeGBAU {
			// Note: TS 33.220 §5 (GBA_U) needs the AUTN* transform at the BSF, which this BSF
			// does not implement; it runs GBA_ME for every subscriber (specs/decisions.md).
			b.log.LogAttrs(ctx, slog.LevelWarn, "GUSS asks for GBA_U; running GBA_ME", slog.String("if", "ub"))
		}
	}
	created := b.now().UTC().Truncate(time.Second)
	s := Session{
		BTID:    btid,
		IMPI:    p.IMPI,
		Ks:      ks,
		Created: created,
		Expires: created.Add(lifetime),
		GUSS:    p.GUSS,
		GBAType: GBAType3G,
	}
	if err := b.store.CreateSession(ctx, s); err != nil {
		if errors.Is(err, ErrSessionExists) {
			// TS 33.220 §4.5.2: the B-TID must identify one session; with a RAND that a
			// live session already uses, run AKA again with a fresh AV.
			return b.challenge(ctx, p.IMPI, nil, p.Failures, false, OutcomeRANDCollision)
		}
		return UbAnswer{}, fmt.Errorf("bsf: store: %w", err)
	}
	body := BootstrappingInfoXML(btid, s.Expires)
	ai, err := c.AuthInfo(password, body, "")
	if err != nil {
		return UbAnswer{}, fmt.Errorf("bsf: rspauth: %w", err)
	}
	h, err := ai.Header()
	if err != nil {
		return UbAnswer{}, fmt.Errorf("bsf: rspauth: %w", err)
	}
	return UbAnswer{
		Outcome:            OutcomeBootstrapped,
		BTID:               btid,
		Expires:            s.Expires,
		AuthenticationInfo: h,
		Body:               body,
	}, nil
}

// BootstrappingInfoXML renders the 200 body of TS 24.109 Annex C: BootstrappingInfo in
// namespace uri:3gpp-gba with btid and lifetime (xs:dateTime in UTC).
func BootstrappingInfoXML(btid gba.BTID, expires time.Time) []byte {
	var b bytes.Buffer
	b.Grow(192 + len(btid.Domain))
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<BootstrappingInfo xmlns="` + namespaceGBA + `">` + "\n  <btid>")
	_ = xml.EscapeText(&b, []byte(btid.String()))
	b.WriteString("</btid>\n  <lifetime>")
	b.WriteString(expires.UTC().Format(time.RFC3339))
	b.WriteString("</lifetime>\n</BootstrappingInfo>\n")
	return b.Bytes()
}

// ZnRequest is a Bootstrapping-Info-Request as the Zn server decoded it (TS 29.109 §5.2.2).
type ZnRequest struct {
	// NAFHost is the Origin-Host of the requesting NAF.
	NAFHost string
	// BTID is the Transaction-Identifier.
	BTID string
	// NAFID is the NAF-Id AVP, octets exactly as received (FQDN || Ua security protocol
	// id, TS 33.220 Annex H).
	NAFID []byte
	// RequestedKeyLifetime is the Requested-Key-Lifetime (zero when absent).
	RequestedKeyLifetime time.Time
	// PrivateIdentityRequested is true when Private-Identity-Request asks for the IMPI.
	PrivateIdentityRequested bool
}

// ZnAnswer is what the Zn server puts in a successful Bootstrapping-Info-Answer.
type ZnAnswer struct {
	// KsNAF goes in ME-Key-Material (GBA_ME, TS 33.220 §4.5.3).
	KsNAF gba.Key
	// KeyExpiry is Key-ExpiryTime: the session expiry, or the Requested-Key-Lifetime when
	// that is earlier.
	KeyExpiry time.Time
	// BootstrapInfoCreationTime is when the session was created.
	BootstrapInfoCreationTime time.Time
	// IMPI goes in User-Name; "" when the NAF may not have it.
	IMPI string
	// USS is the GBA-UserSecSettings for this NAF, rooted at ussList; nil when none.
	USS []byte
	// GBAType is GBA-Type.
	GBAType GBAType
}

// BootstrappingInfo answers a Zn request, TS 33.220 §4.5.3 and TS 29.109 §5.2.2:
//
//  1. The NAF (by Origin-Host) must be configured and the FQDN inside NAF-Id one of its
//     FQDNs (compared case-insensitively), else ErrNAFNotAuthorized (5402). This is checked
//     first, so an unauthorised NAF learns nothing about B-TIDs.
//  2. The B-TID must name a live session of this BSF, else ErrBTIDUnknown (5403).
//  3. When the GUSS lists USSs, at least one must apply to the NAF's group, else
//     ErrNAFNotAuthorized (TS 33.220 Annex J); the applicable USSs are returned.
//  4. Ks_NAF = KDF(Ks, "gba-me", RAND, IMPI, NAF_Id) with NAF_Id the NAF-Id octets exactly
//     as received (TS 33.220 §B.3).
//  5. Key-ExpiryTime is the session expiry, never later; an earlier Requested-Key-Lifetime
//     wins (TS 29.109 §6.3.1.16).
//  6. The IMPI is returned when the NAF's policy is "always", or "on_request" and
//     Private-Identity-Request asks for it.
func (b *BSF) BootstrappingInfo(ctx context.Context, req ZnRequest) (ZnAnswer, error) {
	pol, ok := b.nafs[strings.ToLower(req.NAFHost)]
	if !ok {
		return ZnAnswer{}, fmt.Errorf("%w: NAF Origin-Host not configured", ErrNAFNotAuthorized)
	}
	nafID, err := gba.ParseNAFID(req.NAFID)
	if err != nil {
		return ZnAnswer{}, fmt.Errorf("%w: %w", ErrNAFNotAuthorized, err)
	}
	if !pol.allows(nafID.FQDN) {
		return ZnAnswer{}, fmt.Errorf("%w: NAF-Id FQDN not configured for this NAF", ErrNAFNotAuthorized)
	}
	// ParseNAFID keeps the FQDN octets verbatim, so the KDF input below is the AVP as
	// received (TS 33.220 §B.3); check it rather than trust it.
	if !bytes.Equal(nafID.Bytes(), req.NAFID) {
		return ZnAnswer{}, errors.New("bsf: zn: NAF-Id does not round-trip")
	}

	btid, err := gba.ParseBTID(req.BTID)
	if err != nil {
		return ZnAnswer{}, fmt.Errorf("%w: %w", ErrBTIDUnknown, err)
	}
	if !strings.EqualFold(btid.Domain, b.cfg.Ub.Domain) {
		return ZnAnswer{}, fmt.Errorf("%w: B-TID of another BSF", ErrBTIDUnknown)
	}
	btid.Domain = b.cfg.Ub.Domain
	s, err := b.store.Session(ctx, btid)
	switch {
	case errors.Is(err, ErrSessionNotFound):
		return ZnAnswer{}, ErrBTIDUnknown
	case err != nil:
		return ZnAnswer{}, fmt.Errorf("bsf: store: %w", err)
	}
	if !s.Live(b.now()) {
		return ZnAnswer{}, ErrBTIDUnknown
	}

	var uss []byte
	if len(s.GUSS) > 0 {
		g, err := parseGUSS(s.GUSS)
		if err != nil {
			return ZnAnswer{}, fmt.Errorf("bsf: %w", err)
		}
		doc, covered := g.ussFor(pol.group)
		if !covered {
			return ZnAnswer{}, fmt.Errorf("%w: no USS for the NAF group", ErrNAFNotAuthorized)
		}
		uss = doc
	}

	rnd := s.RAND()
	ksNAF, err := gba.KsNAF(s.Ks, rnd[:], s.IMPI, nafID)
	if err != nil {
		return ZnAnswer{}, fmt.Errorf("bsf: Ks_NAF: %w", err)
	}
	ans := ZnAnswer{
		KsNAF:                     ksNAF,
		KeyExpiry:                 s.Expires,
		BootstrapInfoCreationTime: s.Created,
		USS:                       uss,
		GBAType:                   s.GBAType,
	}
	if t := req.RequestedKeyLifetime; !t.IsZero() && t.Before(ans.KeyExpiry) {
		ans.KeyExpiry = t
	}
	if pol.impi == IMPIAlways || pol.impi == IMPIOnRequest && req.PrivateIdentityRequested {
		ans.IMPI = s.IMPI
	}
	return ans, nil
}

func (p nafPolicy) allows(fqdn string) bool {
	for _, f := range p.fqdns {
		if strings.EqualFold(f, fqdn) {
			return true
		}
	}
	return false
}
