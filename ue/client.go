package ue

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of Config.
const (
	// DefaultUserAgent is the User-Agent prefix of TS 24.109 §A.3. The client appends
	// the product token "3gpp-gba-tmpi" on Ub (TS 24.109 §4.2) and "3gpp-gba" on Ua
	// (TS 24.109 §5.2.1) when the configured value lacks it.
	DefaultUserAgent = "Bootstrapping Client Agent; Release-6"
	// DefaultMaxBodySize bounds the Ub BootstrappingInfo body and the enrolment response.
	DefaultMaxBodySize = 64 << 10
	// DefaultTimeout is the timeout of the HTTP client built when Config.HTTPClient is nil.
	DefaultTimeout = 30 * time.Second

	productTokenUb = "3gpp-gba-tmpi" // TS 24.109 §4.2, §A.3
	productTokenUa = "3gpp-gba"      // TS 24.109 §5.2.1
)

// Config configures a Client. BSF and USIM are required.
type Config struct {
	// BSF is the URL of the BSF, e.g. "https://bsf.mnc001.mcc001.pub.3gppnetwork.org". An
	// empty path means "/" (TS 24.109 §A.3). Its host name is the realm of the initial
	// request.
	BSF string
	// USIM authenticates the challenges: a *USIM or any Authenticator.
	USIM Authenticator
	// HTTPClient carries Ub and, through its Transport, Ua. Redirects are not followed.
	// Nil means a client with DefaultTimeout and http.DefaultTransport.
	HTTPClient *http.Client
	// UserAgent is the User-Agent prefix; empty means DefaultUserAgent.
	UserAgent string
	// Rand supplies client nonces; nil means crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock used to judge expiry; nil means time.Now.
	Now func() time.Time
	// Store, when set, keeps the bootstrap across restarts so that Ks is reused until it
	// expires. Nil keeps it in memory only.
	Store Store
	// UaID is the Ua security protocol identifier of the NAF keys used by Transport and
	// Enrol (TS 33.220 §H.1). Zero means UaIDHTTPDigest.
	UaID UaID
	// AllowMissingRspAuth accepts a Ub 200 OK without Authentication-Info, leaving the BSF
	// unauthenticated (RFC 3310 §3.5 makes rspauth the BSF's proof). A wrong rspauth is
	// always refused.
	AllowMissingRspAuth bool
	// MaxBodySize bounds response bodies read on Ub and for enrolment; zero means
	// DefaultMaxBodySize.
	MaxBodySize int64
	// Trace, when set, is called after each protocol step, for progress display and
	// metrics. It must not block.
	Trace func(Event)
}

// Step names a protocol step reported to Config.Trace.
type Step uint8

// Protocol steps.
const (
	// StepUbChallenge: the BSF answered the initial request with 401 (TS 24.109 §A.3).
	StepUbChallenge Step = iota + 1
	// StepUbResync: the client sent AUTS and the BSF answered with a new 401
	// (TS 24.109 §4.5).
	StepUbResync
	// StepUbNetworkAuthFailure: the USIM rejected AUTN and the client reported it
	// (TS 24.109 §4.4).
	StepUbNetworkAuthFailure
	// StepUbDone: the BSF answered 200 and the client verified it (TS 24.109 §A.3).
	StepUbDone
	// StepUaChallenge: a NAF answered 401 with a GBA challenge (TS 24.109 §5.2.2).
	StepUaChallenge
	// StepUaDone: a NAF answered an authenticated request.
	StepUaDone
	// StepEnrolment: the MEF returned the enrolment.
	StepEnrolment
	// StepStore: the Store failed; Event.Err says why. The client carries on without it.
	StepStore
)

// String returns a short token such as "ub-challenge".
func (s Step) String() string {
	switch s {
	case StepUbChallenge:
		return "ub-challenge"
	case StepUbResync:
		return "ub-resync"
	case StepUbNetworkAuthFailure:
		return "ub-network-auth-failure"
	case StepUbDone:
		return "ub-done"
	case StepUaChallenge:
		return "ua-challenge"
	case StepUaDone:
		return "ua-done"
	case StepEnrolment:
		return "enrolment"
	case StepStore:
		return "store"
	}
	return fmt.Sprintf("Step(%d)", uint8(s))
}

// Event describes one protocol step. It carries no secrets.
type Event struct {
	Step Step
	// StatusCode is the HTTP status of the response that ended the step, if any.
	StatusCode int
	// Duration is the time the HTTP round trip took.
	Duration time.Duration
	// Detail is a short public note: the algorithm, the B-TID, the URL.
	Detail string
	// Err is set for StepStore.
	Err error
}

// Client runs the bootstrapping procedure on Ub and keeps the current bootstrap for Ua.
// It is safe for concurrent use; Ub runs are serialised.
type Client struct {
	cfg    Config
	bsf    *url.URL
	hc     *http.Client // cfg.HTTPClient without redirects
	base   http.RoundTripper
	uaUser string // User-Agent on Ua
	ubUser string // User-Agent on Ub

	sem chan struct{} // held while a bootstrap is read, loaded or run
	mu  sync.Mutex
	cur *Bootstrap
}

// NewClient validates cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.USIM == nil {
		return nil, fmt.Errorf("%w: USIM is required", ErrConfig)
	}
	if err := checkIMPI(cfg.USIM.IMPI()); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.BSF)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%w: BSF must be an http or https URL with a host", ErrConfig)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	if cfg.UaID == 0 {
		cfg.UaID = UaIDHTTPDigest
	}
	if !cfg.UaID.Valid() {
		return nil, fmt.Errorf("%w: UaID exceeds 5 octets", ErrConfig)
	}
	if cfg.MaxBodySize < 0 {
		return nil, fmt.Errorf("%w: MaxBodySize is negative", ErrConfig)
	}
	if cfg.MaxBodySize == 0 {
		cfg.MaxBodySize = DefaultMaxBodySize
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if strings.ContainsAny(cfg.UserAgent, "\r\n") {
		return nil, fmt.Errorf("%w: UserAgent contains a line break", ErrConfig)
	}
	hc := &http.Client{Timeout: DefaultTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &Client{
		cfg:    cfg,
		bsf:    u,
		hc:     hc,
		base:   base,
		ubUser: withProductToken(cfg.UserAgent, productTokenUb),
		uaUser: withProductToken(cfg.UserAgent, productTokenUa),
		sem:    make(chan struct{}, 1),
	}, nil
}

// withProductToken appends "; token" unless ua already lists the token (TS 24.109 §4.2,
// §5.2.1: the token is one of the User-Agent's products).
func withProductToken(ua, token string) string {
	for _, f := range strings.FieldsFunc(ua, func(r rune) bool { return r == ' ' || r == ';' || r == ',' || r == '\t' }) {
		if f == token || strings.HasPrefix(f, token+"/") {
			return ua
		}
	}
	return ua + "; " + token
}

func (c *Client) trace(e Event) {
	if c.cfg.Trace != nil {
		c.cfg.Trace(e)
	}
}

func (c *Client) lock(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) unlock() { <-c.sem }

// Bootstrap runs the bootstrapping procedure on Ub now (TS 33.220 §4.5.2, TS 24.109
// §A.3), makes the result the current bootstrap and saves it in the Store. A Store
// failure is reported through Trace and does not fail the bootstrap.
func (c *Client) Bootstrap(ctx context.Context) (*Bootstrap, error) {
	if err := c.lock(ctx); err != nil {
		return nil, err
	}
	defer c.unlock()
	return c.bootstrapLocked(ctx)
}

func (c *Client) bootstrapLocked(ctx context.Context) (*Bootstrap, error) {
	b, err := c.runUb(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cur = b
	c.mu.Unlock()
	if c.cfg.Store != nil {
		if err := c.cfg.Store.Save(ctx, b); err != nil {
			c.trace(Event{Step: StepStore, Err: err})
		}
	}
	return b, nil
}

// Current returns a bootstrap valid at Config.Now: the one in memory, else the one in the
// Store, else a new one from Bootstrap. Expired bootstraps are dropped from the Store.
func (c *Client) Current(ctx context.Context) (*Bootstrap, error) {
	b, _, err := c.current(ctx)
	return b, err
}

// current is Current that also reports whether it ran Ub.
func (c *Client) current(ctx context.Context) (*Bootstrap, bool, error) {
	if b := c.valid(); b != nil {
		return b, false, nil
	}
	if err := c.lock(ctx); err != nil {
		return nil, false, err
	}
	defer c.unlock()
	if b := c.valid(); b != nil { // another caller bootstrapped meanwhile
		return b, false, nil
	}
	if b := c.load(ctx); b != nil {
		return b, false, nil
	}
	b, err := c.bootstrapLocked(ctx)
	return b, err == nil, err
}

// valid returns the in-memory bootstrap if it is valid now.
func (c *Client) valid() *Bootstrap {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.Valid(c.cfg.Now()) {
		return c.cur
	}
	return nil
}

// load fetches a valid bootstrap for this IMPI from the Store, if any.
func (c *Client) load(ctx context.Context) *Bootstrap {
	st := c.cfg.Store
	if st == nil {
		return nil
	}
	impi := c.cfg.USIM.IMPI()
	b, err := st.Load(ctx, impi)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		c.trace(Event{Step: StepStore, Err: err})
		return nil
	case b.IMPI != impi || !b.Valid(c.cfg.Now()):
		if err := st.Delete(ctx, impi); err != nil && !errors.Is(err, ErrNotFound) {
			c.trace(Event{Step: StepStore, Err: err})
		}
		return nil
	}
	c.mu.Lock()
	c.cur = b
	c.mu.Unlock()
	return b
}

// rebootstrap replaces failed by a new bootstrap, unless another caller already did.
func (c *Client) rebootstrap(ctx context.Context, failed *Bootstrap) (*Bootstrap, error) {
	if err := c.lock(ctx); err != nil {
		return nil, err
	}
	defer c.unlock()
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur != nil && cur != failed && cur.Valid(c.cfg.Now()) {
		return cur, nil
	}
	return c.bootstrapLocked(ctx)
}
