package naf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
	"github.com/opengba/opengba/internal/gba"
)

// DefaultZnTimeout bounds one Bootstrapping-Info-Request round trip when ZnConfig.Timeout
// is zero.
const DefaultZnTimeout = 2 * time.Second

// ZnProductName is the Product-Name this NAF advertises in its CER (RFC 6733 §5.3.7).
const ZnProductName = "OpenGBA-NAF"

// ErrBSFRealmUnknown reports a B-TID whose realm (the BSF server domain name, TS 33.220
// §4.5.2) matches no configured BSF peer and no "*" peer. The error also wraps
// ErrBTIDUnknown: this NAF cannot resolve the B-TID, so Ua challenges again (TS 24.109
// §5.2.5) and the UE may bootstrap with a BSF this NAF knows.
var ErrBSFRealmUnknown = errors.New("naf: zn: no BSF peer for the B-TID realm")

// ZnClientConfig configures a ZnClient.
type ZnClientConfig struct {
	// Zn is the "zn" section of the configuration (origin, BSF peers, timeout, flags).
	Zn ZnConfig
	// Dictionary is diameter.NewDictionary() (shared, read-only); nil loads it.
	Dictionary *dict.Parser
	// Metrics receives ZnLatency observations; nil records nothing.
	Metrics *Metrics
	// Logger receives one record per Bootstrapping-Info-Request (B-TID, result, duration;
	// the IMPI only at debug level) and the peer connection events; nil discards.
	Logger *slog.Logger
	// Dial opens the transport to a BSF peer (network is ZnPeer.Network, "tcp" when
	// empty); nil dials TCP. It is required for "sctp", which the client cannot dial itself.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock used for the Session-Id (RFC 6733 §8.8); nil means time.Now.
	Now func() time.Time

	// Peer tunables; zero values take the peer package defaults (watchdog Tw 30 s, connect
	// 5 s, backoff 100 ms .. 30 s, disconnect 5 s).
	WatchdogInterval  time.Duration
	ConnectTimeout    time.Duration
	BackoffMin        time.Duration
	BackoffMax        time.Duration
	DisconnectTimeout time.Duration
}

// ZnClient is the NAF side of the Zn reference point, TS 29.109 §5.2 and §6.2: it fetches
// Ks_NAF from the subscriber's BSF with a Bootstrapping-Info-Request and implements
// KeySource. It keeps one Diameter connection per configured BSF peer (peer.Client: CER/CEA
// advertising only Zn {10415, 16777220}, DWR watchdog, reconnection with backoff, DPR on
// Close) and selects the peer from the realm of the B-TID, TS 33.220 §4.5.2. It is safe for
// concurrent use and never puts key material in errors or logs.
type ZnClient struct {
	cfg     ZnConfig
	timeout time.Duration
	dict    *dict.Parser
	metrics *Metrics
	log     *slog.Logger

	// realms maps a lower-cased realm to its peers in configuration order; wildcard holds
	// the "*" peers.
	realms   map[string][]*znPeer
	wildcard []*znPeer
	all      []*znPeer

	sessionHigh uint32 // RFC 6733 §8.8: high 32 bits, the start time
	sessionLow  atomic.Uint32

	closeOnce sync.Once
	closeErr  error
}

// znPeer is one configured BSF peer and its connection.
type znPeer struct {
	conf   ZnPeer
	client *peer.Client
}

var _ KeySource = (*ZnClient)(nil)

// NewZnClient checks cfg and starts connecting to every BSF peer in the background; it does
// not wait for the capabilities exchanges (a request waits for its peer up to the Zn
// timeout; Ready reports the connection state). Close it to send DPR and stop.
func NewZnClient(cfg ZnClientConfig) (*ZnClient, error) {
	z := cfg.Zn
	if z.Timeout == 0 {
		z.Timeout = DefaultZnTimeout
	}
	if err := z.Validate("zn"); err != nil {
		return nil, err
	}
	d := cfg.Dictionary
	if d == nil {
		var err error
		if d, err = diameter.NewDictionary(); err != nil {
			return nil, fmt.Errorf("naf: zn: dictionary: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	c := &ZnClient{
		cfg:         z,
		timeout:     z.Timeout,
		dict:        d,
		metrics:     cfg.Metrics,
		log:         log,
		realms:      make(map[string][]*znPeer),
		sessionHigh: uint32(now().Unix()),
	}
	for i, p := range z.BSFs {
		network := p.Network
		if network == "" {
			network = "tcp"
		}
		dial := cfg.Dial
		if dial == nil && network != "tcp" {
			_ = c.Close()
			return nil, &ConfigError{Field: fmt.Sprintf("zn.bsfs[%d].network", i), Reason: network + " needs a dialer; this build dials tcp only"}
		}
		pc, err := peer.NewClient(peer.ClientConfig{
			Identity: peer.Identity{
				OriginHost:  z.OriginHost,
				OriginRealm: z.OriginRealm,
				ProductName: ZnProductName,
			},
			// TS 29.109 §5.1: Zn is the vendor-specific application 16777220 of 3GPP.
			Applications:     []peer.Application{{ID: diameter.AppIDZn, VendorID: diameter.VendorID3GPP}},
			Servers:          []string{p.Address},
			Dial:             peerDial(dial, network),
			Dictionary:       d,
			Logger:           log.With("bsf", p.Address),
			WatchdogInterval: cfg.WatchdogInterval,
			ConnectTimeout:   cfg.ConnectTimeout,
			BackoffMin:       cfg.BackoffMin,
			BackoffMax:       cfg.BackoffMax,
			Tunables:         peer.Tunables{DisconnectTimeout: cfg.DisconnectTimeout},
		})
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("naf: zn: BSF peer %s: %w", p.Address, err)
		}
		zp := &znPeer{conf: p, client: pc}
		c.all = append(c.all, zp)
		if p.Realm == "*" {
			c.wildcard = append(c.wildcard, zp)
			continue
		}
		r := strings.ToLower(p.Realm)
		c.realms[r] = append(c.realms[r], zp)
	}
	return c, nil
}

func peerDial(dial func(context.Context, string, string) (net.Conn, error), network string) func(context.Context, string) (net.Conn, error) {
	if dial == nil {
		return nil // peer dials TCP
	}
	return func(ctx context.Context, addr string) (net.Conn, error) { return dial(ctx, network, addr) }
}

// pick returns the peer for a BSF realm: the first peer of that realm (or, when none is
// configured for it, of "*") with an open connection, else the first one, whose connection
// the request then waits for. TS 33.220 §4.5.2: the B-TID's domain names the BSF.
func (c *ZnClient) pick(realm string) (*znPeer, bool) {
	ps := c.realms[realm]
	if len(ps) == 0 {
		ps = c.wildcard
	}
	if len(ps) == 0 {
		return nil, false
	}
	for _, p := range ps {
		if _, ok := p.client.Peer(); ok {
			return p, true
		}
	}
	return ps[0], true
}

// sessionID returns a new Session-Id, RFC 6733 §8.8:
// <DiameterIdentity>;<high 32 bits>;<low 32 bits>.
func (c *ZnClient) sessionID() string {
	low := c.sessionLow.Add(1)
	return c.cfg.OriginHost + ";" + strconv.FormatUint(uint64(c.sessionHigh), 10) + ";" + strconv.FormatUint(uint64(low), 10)
}

// KsNAF asks the BSF of the B-TID's realm for the NAF key with a Bootstrapping-Info-Request,
// TS 29.109 §6.2.1, and returns the Bootstrapping-Info-Answer, TS 29.109 §6.2.2.
//
// The BIR carries Destination-Realm = the realm of the B-TID (TS 33.220 §4.5.2),
// Transaction-Identifier = the B-TID, NAF-Id = FQDN || Ua security protocol id (TS 33.220
// Annex H), GBA_U-Awareness-Indicator (TS 29.109 §6.3.1.8; NO unless configured) and, when
// configured, Private-Identity-Request = requested (TS 29.109 §6.3.1.17). The round trip is
// bounded by the Zn timeout (and by ctx).
//
// Errors: ErrBTIDUnknown for Experimental-Result 5403 (TS 29.109 §6.3.3.3) and for a realm
// without BSF peer (also ErrBSFRealmUnknown); ErrNotAuthorized for 5402 (TS 29.109
// §6.3.3.2); ErrBSFUnavailable for transport failures, timeouts, no connection and
// protocol (3xxx) or transient (4xxx) Result-Codes (RFC 6733 §7.1.3, §7.1.4); ErrInvalidKey
// for a success without a 32-octet ME-Key-Material or without Key-ExpiryTime; gba's
// ErrInvalidBTID and ErrInvalidNAFID for bad arguments. Other permanent failures (5xxx)
// wrap the *diameter.ResultError only.
func (c *ZnClient) KsNAF(ctx context.Context, btid string, nafID gba.NAFID) (NAFKey, error) {
	b, err := gba.ParseBTID(btid)
	if err != nil {
		return NAFKey{}, fmt.Errorf("naf: zn: %w", err)
	}
	if err := nafID.Validate(); err != nil {
		return NAFKey{}, fmt.Errorf("naf: zn: %w", err)
	}
	realm := b.Realm()
	p, ok := c.pick(realm)
	if !ok {
		c.log.Info("zn: no BSF peer for the B-TID realm", "if", "zn", "btid", b.String(), "realm", realm)
		return NAFKey{}, fmt.Errorf("%w %q: %w", ErrBSFRealmUnknown, realm, ErrBTIDUnknown)
	}

	bir := &diameter.BIR{
		SessionID:        c.sessionID(),
		OriginHost:       c.cfg.OriginHost,
		OriginRealm:      c.cfg.OriginRealm,
		DestinationRealm: realm,
		DestinationHost:  p.conf.Host,
		BTID:             b.String(),
		NAFID:            nafID.Bytes(),
	}
	aware := diameter.GBAUAwarenessNo
	if c.cfg.GBAUAware {
		aware = diameter.GBAUAwarenessYes
	}
	bir.GBAUAwarenessIndicator = &aware
	if c.cfg.RequestIMPI {
		req := diameter.PrivateIdentityRequested
		bir.PrivateIdentityRequest = &req
	}
	m, err := bir.Message(c.dict)
	if err != nil {
		return NAFKey{}, fmt.Errorf("naf: zn: build BIR: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	ans, err := c.do(ctx, realm, p, m)
	var key NAFKey
	if err == nil {
		key, err = c.answer(ans, bir.SessionID)
	} else {
		err = doError(err)
	}
	elapsed := time.Since(start)
	result := znResult(err)
	if c.metrics != nil && c.metrics.ZnLatency != nil {
		c.metrics.ZnLatency.WithLabelValues(result).Observe(elapsed.Seconds())
	}
	attrs := []any{"if", "zn", "btid", b.String(), "bsf", p.conf.Address, "session_id", bir.SessionID,
		"result", result, "duration", elapsed}
	if err != nil {
		c.log.Info("zn: bootstrapping info request failed", append(attrs, "error", err.Error())...)
		return NAFKey{}, err
	}
	c.log.Info("zn: bootstrapping info received", append(attrs, "expires", key.Expires, "gba_type", key.GBAType.String())...)
	if key.IMPI != "" && c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.Debug("zn: IMPI of the B-TID", "if", "zn", "btid", b.String(), "impi", key.IMPI)
	}
	return key, nil
}

// znAttempts bounds the sends of one BIR when its connection is lost before the answer.
const znAttempts = 3

// do sends the BIR and returns the answer. A BIR is a read-only look-up, so when the
// connection is lost before the answer arrives it is sent again (to the realm's peer that
// is then connected) with the T flag set and the same End-to-End Identifier and
// Session-Id, RFC 6733 §3 and §5.5.4, as long as ctx allows.
func (c *ZnClient) do(ctx context.Context, realm string, p *znPeer, m *diam.Message) (*diam.Message, error) {
	for attempt := 1; ; attempt++ {
		ans, err := p.client.Do(ctx, m)
		if err == nil || attempt == znAttempts || ctx.Err() != nil ||
			!errors.Is(err, peer.ErrNoPeer) || errors.Is(err, peer.ErrClosed) {
			return ans, err
		}
		m.Header.CommandFlags |= diam.RetransmittedFlag
		if np, ok := c.pick(realm); ok && np.conf.Host == p.conf.Host {
			p = np // same Destination-Host: another peer of the realm may take it
		}
	}
}

// doError maps a failure of the round trip itself (no answer) to ErrBSFUnavailable.
func doError(err error) error {
	switch {
	case errors.Is(err, peer.ErrInvalidAnswer):
		return fmt.Errorf("%w: invalid answer: %w", ErrBSFUnavailable, err)
	case errors.Is(err, peer.ErrInvalidRequest):
		// Our own BIR failed validation: a bug, not an outage.
		return fmt.Errorf("naf: zn: BIR refused by the peer layer: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrBSFUnavailable, err)
}

// answer reads a BIA, TS 29.109 §6.2.2: the result (Result-Code or Experimental-Result) and,
// on success, ME-Key-Material (Ks_NAF or Ks_ext_NAF, 32 octets, TS 33.220 §4.5.3),
// Key-ExpiryTime (required here), User-Name, GBA-UserSecSettings and GBA-Type.
func (c *ZnClient) answer(m *diam.Message, sessionID string) (NAFKey, error) {
	a, err := diameter.DecodeBIA(m)
	if err != nil {
		return NAFKey{}, fmt.Errorf("%w: BIA: %w", ErrBSFUnavailable, err)
	}
	if a.SessionID != sessionID {
		return NAFKey{}, fmt.Errorf("%w: BIA Session-Id does not match the BIR", ErrBSFUnavailable)
	}
	if err := resultError(a); err != nil {
		return NAFKey{}, err
	}
	if len(a.MEKeyMaterial) == 0 {
		return NAFKey{}, fmt.Errorf("%w: BIA without ME-Key-Material", ErrInvalidKey)
	}
	k, err := gba.NewKey(a.MEKeyMaterial)
	if err != nil {
		return NAFKey{}, fmt.Errorf("%w: ME-Key-Material of %d octets, want %d", ErrInvalidKey, len(a.MEKeyMaterial), gba.KeySize)
	}
	if a.KeyExpiryTime.IsZero() {
		return NAFKey{}, fmt.Errorf("%w: BIA without Key-ExpiryTime", ErrInvalidKey)
	}
	out := NAFKey{KsNAF: k, Expires: a.KeyExpiryTime, IMPI: a.IMPI, GBAType: GBAType3G}
	if len(a.GUSS) > 0 {
		out.USS = a.GUSS
	}
	if a.GBAType != nil {
		switch *a.GBAType {
		case diameter.GBAType3G:
			out.GBAType = GBAType3G
		case diameter.GBAType2G:
			out.GBAType = GBAType2G
		default:
			return NAFKey{}, fmt.Errorf("%w: GBA-Type %d is not 3G_GBA or 2G_GBA", ErrInvalidKey, *a.GBAType)
		}
	}
	return out, nil
}

// resultError maps the result of a BIA to the KeySource errors: success → nil;
// Experimental-Result 5403 → ErrBTIDUnknown (TS 29.109 §6.3.3.3); 5402 → ErrNotAuthorized
// (TS 29.109 §6.3.3.2); protocol errors (3xxx, RFC 6733 §7.1.3) and transient failures
// (4xxx, RFC 6733 §7.1.4) → ErrBSFUnavailable; other permanent failures wrap the
// *diameter.ResultError alone. A BIA with neither or both result AVPs is ErrBSFUnavailable.
func resultError(a *diameter.BIA) error {
	r, err := a.Result()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBSFUnavailable, err)
	}
	rerr := r.Err()
	switch {
	case rerr == nil:
		return nil
	case r.Experimental && r.VendorID == diameter.VendorID3GPP && r.Code == diameter.ExpTransactionIdentifierInvalid:
		return fmt.Errorf("%w: %w", ErrBTIDUnknown, rerr)
	case r.Experimental && r.VendorID == diameter.VendorID3GPP && r.Code == diameter.ExpNotAuthorized:
		return fmt.Errorf("%w: %w", ErrNotAuthorized, rerr)
	case r.Code >= 3000 && r.Code < 5000:
		return fmt.Errorf("%w: %w", ErrBSFUnavailable, rerr)
	}
	return fmt.Errorf("naf: zn: BSF refused the request: %w", rerr)
}

// znResult is the ZnLatency label of a KsNAF outcome.
func znResult(err error) string {
	switch {
	case err == nil:
		return ZnResultSuccess
	case errors.Is(err, ErrBTIDUnknown):
		return ZnResultBTIDUnknown
	case errors.Is(err, ErrNotAuthorized):
		return ZnResultNotAuthorized
	case errors.Is(err, ErrBSFUnavailable):
		return ZnResultUnavailable
	}
	return ZnResultError
}

// Ready reports whether at least one BSF peer has an open Diameter connection (capabilities
// exchanged, RFC 6733 §5.3); it takes part in /readyz.
func (c *ZnClient) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var down []string
	for _, p := range c.all {
		if _, ok := p.client.Peer(); ok {
			return nil
		}
		down = append(down, p.conf.Address)
	}
	return fmt.Errorf("%w: no BSF peer connected (%s)", ErrBSFUnavailable, strings.Join(down, ", "))
}

// Close disconnects from every BSF peer: it waits for the requests in flight, sends a DPR
// (RFC 6733 §5.4) and waits for its DPA, bounded by the disconnect timeout. It returns the
// joined errors of the peers whose DPA did not arrive. Later calls return the same result.
func (c *ZnClient) Close() error {
	c.closeOnce.Do(func() {
		errs := make([]error, len(c.all))
		var wg sync.WaitGroup
		for i, p := range c.all {
			wg.Go(func() {
				if err := p.client.Close(); err != nil {
					errs[i] = fmt.Errorf("naf: zn: close %s: %w", p.conf.Address, err)
				}
			})
		}
		wg.Wait()
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
