package ue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/opengba/opengba/internal/digest"
)

// mediaTypeBSF is the Content-Type of the BootstrappingInfo body (TS 24.109 §C.1).
const mediaTypeBSF = "application/vnd.3gpp.bsf+xml"

// ubResponse is a Ub response read in full (bounded).
type ubResponse struct {
	status int
	header http.Header
	body   []byte
	dur    time.Duration
}

// runUb is the client side of the bootstrapping procedure, TS 24.109 §4.2 and §A.3.
func (c *Client) runUb(ctx context.Context) (*Bootstrap, error) {
	usim := c.cfg.USIM
	impi := usim.IMPI()
	uri := c.bsf.RequestURI()

	// Step 1: no credentials yet, TS 24.109 §A.3 step 1: username = IMPI, realm = BSF
	// host, empty nonce, uri and response.
	r, err := c.ubSend(ctx, digest.Credentials{Username: impi, Realm: c.bsf.Hostname(), URI: uri})
	if err != nil {
		return nil, err
	}
	ch, err := c.ubChallenge(r, StepUbChallenge)
	if err != nil {
		return nil, err
	}
	for resynced := false; ; {
		nonce, err := digest.UnpackNonce(ch.Nonce)
		if err != nil {
			return nil, fmt.Errorf("%w: ub: %w", ErrProtocol, err)
		}
		cnonce, err := digest.NewCNonce(c.cfg.Rand)
		if err != nil {
			return nil, fmt.Errorf("ue: ub: %w", err)
		}
		// qop=auth-int, nc=1 for every new nonce (TS 24.109 §A.3).
		creds, err := digest.NewCredentials(ch, impi, uri, digest.QOPAuthInt, cnonce, 1)
		if err != nil {
			return nil, fmt.Errorf("%w: ub: %w", ErrProtocol, err)
		}
		res, aerr := usim.Authenticate(ctx, nonce.RAND, nonce.AUTN)
		var sf *SyncFailure
		switch {
		case aerr == nil:
			if res.res == nil || res.ck.IsZero() || res.ik.IsZero() {
				return nil, fmt.Errorf("%w: the Authenticator returned an empty AKAResult", ErrConfig)
			}
		case errors.As(aerr, &sf):
			if resynced {
				return nil, fmt.Errorf("%w: %w", ErrResyncFailed, aerr)
			}
			resynced = true
			// RFC 3310 §3.4, TS 24.109 §4.5: auts with a response over the empty password;
			// the BSF answers with a fresh challenge.
			if err := creds.SignSyncFailure(sf.AUTS[:], http.MethodGet, nil); err != nil {
				return nil, fmt.Errorf("ue: ub: %w", err)
			}
			if r, err = c.ubSend(ctx, creds); err != nil {
				return nil, err
			}
			if ch, err = c.ubChallenge(r, StepUbResync); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrResyncFailed, err)
			}
			continue
		case errors.Is(aerr, ErrMACFailure), errors.Is(aerr, ErrAMFSeparation):
			return nil, c.ubNetworkAuthFailure(ctx, creds, aerr)
		default:
			return nil, aerr
		}

		password, err := akaPassword(ch.Algorithm, res)
		if err != nil {
			return nil, err
		}
		b, err := c.ubRespond(ctx, creds, password, nonce.RAND, res)
		clear(password)
		return b, err
	}
}

// ubRespond sends the AKA response and turns the 200 OK into a Bootstrap.
func (c *Client) ubRespond(ctx context.Context, creds digest.Credentials, password []byte, rand [16]byte, res AKAResult) (*Bootstrap, error) {
	if err := creds.Sign(password, http.MethodGet, nil); err != nil {
		return nil, fmt.Errorf("ue: ub: %w", err)
	}
	r, err := c.ubSend(ctx, creds)
	if err != nil {
		return nil, err
	}
	switch r.status {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		// TS 24.109 §4.3: the BSF did not accept RES.
		return nil, fmt.Errorf("%w: %w", ErrAuthRejected, &StatusError{Op: "ub", StatusCode: r.status})
	default:
		return nil, &StatusError{Op: "ub", StatusCode: r.status}
	}
	info, err := verifyUb200(creds, password, r.header, r.body, c.cfg.AllowMissingRspAuth)
	if err != nil {
		return nil, err
	}
	// Ks = CK ‖ IK, TS 33.220 §4.5.2.
	ks := new([KeySize]byte)
	copy(ks[:Key128Size], res.ck.arr()[:])
	copy(ks[Key128Size:], res.ik.arr()[:])
	b := &Bootstrap{BTID: info.btid, IMPI: creds.Username, RAND: rand, Expires: info.lifetime, ks: keyOf(ks)}
	c.trace(Event{Step: StepUbDone, StatusCode: r.status, Duration: r.dur, Detail: b.BTID})
	return b, nil
}

// verifyUb200 authenticates the BSF and parses the BootstrappingInfo of a 200 OK
// (TS 24.109 §A.3): Authentication-Info must carry the rspauth of
// RFC 2617 §3.2.3 over the response body with the same password (RFC 3310 §3.5), unless
// allowMissing and the field is absent.
func verifyUb200(creds digest.Credentials, password []byte, h http.Header, body []byte, allowMissing bool) (bootstrappingInfo, error) {
	switch ai := h.Values("Authentication-Info"); len(ai) {
	case 0:
		if !allowMissing {
			return bootstrappingInfo{}, fmt.Errorf("%w: ub: 200 OK without Authentication-Info", ErrServerAuthFailed)
		}
	case 1:
		a, err := digest.ParseAuthInfo(ai[0])
		if err != nil {
			return bootstrappingInfo{}, fmt.Errorf("%w: ub: %w", ErrServerAuthFailed, err)
		}
		if a.RspAuth == "" {
			return bootstrappingInfo{}, fmt.Errorf("%w: ub: Authentication-Info without rspauth", ErrServerAuthFailed)
		}
		if err := creds.VerifyAuthInfo(password, a, body); err != nil {
			return bootstrappingInfo{}, fmt.Errorf("%w: ub: %w", ErrServerAuthFailed, err)
		}
	default:
		return bootstrappingInfo{}, fmt.Errorf("%w: ub: several Authentication-Info fields", ErrServerAuthFailed)
	}
	if ct := h.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != mediaTypeBSF && mt != "application/xml" && mt != "text/xml") {
			return bootstrappingInfo{}, fmt.Errorf("%w: Content-Type is not %s", ErrBootstrappingInfo, mediaTypeBSF)
		}
	}
	return parseBootstrappingInfo(body)
}

// ubNetworkAuthFailure reports a rejected AUTN to the BSF with the empty-password response
// and no auts (TS 24.109 §4.4) and returns ErrNetworkAuthFailed.
func (c *Client) ubNetworkAuthFailure(ctx context.Context, creds digest.Credentials, cause error) error {
	if err := creds.SignMACFailure(http.MethodGet, nil); err != nil {
		return fmt.Errorf("%w: %w", ErrNetworkAuthFailed, cause)
	}
	r, err := c.ubSend(ctx, creds)
	if err != nil {
		return fmt.Errorf("%w: %w (reporting it to the BSF failed: %w)", ErrNetworkAuthFailed, cause, err)
	}
	c.trace(Event{Step: StepUbNetworkAuthFailure, StatusCode: r.status, Duration: r.dur})
	return fmt.Errorf("%w: %w", ErrNetworkAuthFailed, cause)
}

// ubChallenge expects a 401 carrying an AKA Digest challenge (TS 24.109 §A.3 step 4).
func (c *Client) ubChallenge(r ubResponse, step Step) (digest.Challenge, error) {
	switch r.status {
	case http.StatusUnauthorized:
	case http.StatusForbidden:
		return digest.Challenge{}, fmt.Errorf("%w: %w", ErrAuthRejected, &StatusError{Op: "ub", StatusCode: r.status})
	case http.StatusOK:
		return digest.Challenge{}, fmt.Errorf("%w: ub: 200 OK before authentication", ErrProtocol)
	default:
		return digest.Challenge{}, &StatusError{Op: "ub", StatusCode: r.status}
	}
	ch, err := parseUbChallenge(r.header.Values("WWW-Authenticate"))
	if err != nil {
		return digest.Challenge{}, err
	}
	c.trace(Event{Step: step, StatusCode: r.status, Duration: r.dur, Detail: string(ch.Algorithm)})
	return ch, nil
}

// parseUbChallenge picks the first Digest challenge with an AKA algorithm (RFC 3310 §3.1,
// RFC 4169 §3) that offers qop=auth-int (TS 24.109 §A.3 step 4) and an AKA nonce
// (RFC 3310 §3.2).
func parseUbChallenge(values []string) (digest.Challenge, error) {
	err := fmt.Errorf("%w: ub: 401 without a Digest challenge", ErrProtocol)
	for _, v := range values {
		ch, perr := digest.ParseChallenge(v)
		switch {
		case errors.Is(perr, digest.ErrNotDigest):
			continue
		case perr != nil:
			err = fmt.Errorf("%w: ub: %w", ErrProtocol, perr)
			continue
		case ch.Algorithm != digest.AKAv1MD5 && ch.Algorithm != digest.AKAv2MD5:
			err = fmt.Errorf("%w: ub: algorithm is not AKAv1-MD5 or AKAv2-MD5", ErrProtocol)
			continue
		case !ch.Offers(digest.QOPAuthInt):
			err = fmt.Errorf("%w: ub: challenge does not offer qop=auth-int", ErrProtocol)
			continue
		}
		if _, perr := digest.UnpackNonce(ch.Nonce); perr != nil {
			err = fmt.Errorf("%w: ub: %w", ErrProtocol, perr)
			continue
		}
		return ch, nil
	}
	return digest.Challenge{}, err
}

// akaPassword is the Digest password of the AKA algorithms: RES as raw octets for
// AKAv1-MD5 (RFC 3310 §3.3), base64(HMAC-MD5(RES ‖ IK ‖ CK, "http-digest-akav2-password"))
// for AKAv2-MD5 (RFC 4169 §3).
func akaPassword(alg digest.Algorithm, res AKAResult) ([]byte, error) {
	p, err := digest.AKAPassword(alg, res.RES(), res.ik.Bytes(), res.ck.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: ub: %w", ErrProtocol, err)
	}
	return p, nil
}

// ubSend sends one Ub GET with the credentials and reads the response (bounded).
func (c *Client) ubSend(ctx context.Context, creds digest.Credentials) (ubResponse, error) {
	auth, err := creds.Header()
	if err != nil {
		return ubResponse{}, fmt.Errorf("ue: ub: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.bsf.String(), nil)
	if err != nil {
		return ubResponse{}, fmt.Errorf("ue: ub: %w", err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("User-Agent", c.ubUser)
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return ubResponse{}, fmt.Errorf("ue: ub: %w", err)
	}
	defer resp.Body.Close()
	body, err := readBounded(resp.Body, c.cfg.MaxBodySize)
	if err != nil {
		return ubResponse{}, fmt.Errorf("ue: ub: %w", err)
	}
	return ubResponse{status: resp.StatusCode, header: resp.Header, body: body, dur: time.Since(start)}, nil
}

// readBounded reads r to EOF, failing with ErrBodyTooLarge beyond max octets.
func readBounded(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d octets", ErrBodyTooLarge, max)
	}
	return b, nil
}
