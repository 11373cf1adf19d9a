// Package naftest provides test doubles for the NAF of TS 33.220 §4.4.3: a fake BSF that
// answers Zn lookups from a session table (Ks_NAF derived per TS 33.220 §B.3) and a UE
// that answers Ua Digest challenges (TS 24.109 §5.2.2) computed independently of package naf.
package naftest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/specs"
)

// Set is one TS 33.220 key-derivation vector of specs/vectors/ts33220.json.
type Set struct {
	Name      string `json:"name"`
	CK        string `json:"ck"`
	IK        string `json:"ik"`
	RAND      string `json:"rand"`
	IMPI      string `json:"impi"`
	NAFFQDN   string `json:"naf_fqdn"`
	UaID      string `json:"ua_id"`
	Label     string `json:"label"`
	Key       string `json:"key"`
	KeyBase64 string `json:"key_base64"`
}

// Vector returns the named naf_keys vector of specs/vectors/ts33220.json, e.g.
// "TS35208/set1/gba-me/http-digest".
func Vector(name string) (Set, error) {
	var v struct {
		NAFKeys []Set `json:"naf_keys"`
	}
	if err := specs.Vectors("ts33220", &v); err != nil {
		return Set{}, err
	}
	for _, s := range v.NAFKeys {
		if s.Name == name {
			return s, nil
		}
	}
	return Set{}, fmt.Errorf("naftest: no vector %q", name)
}

// MustHex decodes s or panics (test data only).
func MustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("naftest: bad hex in test data")
	}
	return b
}

// BSFSession is one bootstrapping session in the fake BSF: Ks = CK || IK with its RAND and
// IMPI, TS 33.220 §4.5.2.
type BSFSession struct {
	CK, IK, RAND []byte
	IMPI         string
	BSFDomain    string
	Expires      time.Time
	USS          []byte
	// Denied lists NAF FQDNs the BSF refuses for this subscriber (Zn 5402).
	Denied []string
}

// FakeBSF is a naf.KeySource backed by a session table: it derives Ks_NAF with
// gba.KsNAF exactly as a BSF does (TS 33.220 §4.5.3, §B.3).
type FakeBSF struct {
	// Now is the BSF's clock; sessions expire at BSFSession.Expires.
	Now func() time.Time
	// HideIMPI makes the BSF omit User-Name (IMPI) from its answers.
	HideIMPI bool
	// Gate, if set, blocks every lookup until it can receive (or the context ends).
	Gate chan struct{}

	mu       sync.Mutex
	sessions map[string]BSFSession
	err      error
	calls    atomic.Int64
}

// NewFakeBSF returns an empty fake BSF using now (nil: time.Now).
func NewFakeBSF(now func() time.Time) *FakeBSF {
	if now == nil {
		now = time.Now
	}
	return &FakeBSF{Now: now, sessions: make(map[string]BSFSession)}
}

// Bootstrap adds a session and returns its B-TID = base64(RAND)@BSFDomain (TS 33.220 §4.5.2).
func (f *FakeBSF) Bootstrap(s BSFSession) (gba.BTID, error) {
	b, err := gba.NewBTID(s.RAND, s.BSFDomain)
	if err != nil {
		return gba.BTID{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[b.String()] = s
	return b, nil
}

// SetError makes every lookup fail with err (nil restores normal answers).
func (f *FakeBSF) SetError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Calls returns the number of lookups made.
func (f *FakeBSF) Calls() int { return int(f.calls.Load()) }

// KsNAF implements naf.KeySource.
func (f *FakeBSF) KsNAF(ctx context.Context, btid string, nafID gba.NAFID) (naf.NAFKey, error) {
	f.calls.Add(1)
	if f.Gate != nil {
		select {
		case <-f.Gate:
		case <-ctx.Done():
			return naf.NAFKey{}, fmt.Errorf("%w: %w", naf.ErrBSFUnavailable, ctx.Err())
		}
	}
	f.mu.Lock()
	s, ok := f.sessions[btid]
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return naf.NAFKey{}, err
	}
	if !ok || !f.Now().Before(s.Expires) {
		return naf.NAFKey{}, fmt.Errorf("%w: 5403", naf.ErrBTIDUnknown)
	}
	for _, d := range s.Denied {
		if d == nafID.FQDN {
			return naf.NAFKey{}, fmt.Errorf("%w: 5402", naf.ErrNotAuthorized)
		}
	}
	ks, err := gba.Ks(s.CK, s.IK)
	if err != nil {
		return naf.NAFKey{}, err
	}
	k, err := gba.KsNAF(ks, s.RAND, s.IMPI, nafID)
	if err != nil {
		return naf.NAFKey{}, err
	}
	out := naf.NAFKey{KsNAF: k, Expires: s.Expires, USS: s.USS}
	if !f.HideIMPI {
		out.IMPI = s.IMPI
	}
	return out, nil
}

// UE is the device side of Ua: it holds CK, IK, RAND and IMPI from a bootstrapping run and
// derives Ks_NAF for the NAF it talks to, TS 33.220 §4.5.3. It answers challenges with
// username = B-TID and password = base64(Ks_NAF), TS 24.109 §5.2.2.
type UE struct {
	BTID  string
	KsNAF gba.Key
	QOP   digest.QOP // qop to answer with; "" means auth-int

	mu     sync.Mutex
	nonce  string // last nonce received
	ch     digest.Challenge
	nc     uint32
	cnonce int
}

// NewUE derives Ks_NAF for nafFQDN with Ua id ua from the session s.
func NewUE(s BSFSession, nafFQDN string, ua gba.UaID) (*UE, error) {
	b, err := gba.NewBTID(s.RAND, s.BSFDomain)
	if err != nil {
		return nil, err
	}
	ks, err := gba.Ks(s.CK, s.IK)
	if err != nil {
		return nil, err
	}
	id, err := gba.NewNAFID(nafFQDN, ua)
	if err != nil {
		return nil, err
	}
	k, err := gba.KsNAF(ks, s.RAND, s.IMPI, id)
	if err != nil {
		return nil, err
	}
	return &UE{BTID: b.String(), KsNAF: k}, nil
}

// SetChallenge records a WWW-Authenticate value; the nonce-count restarts at 1.
func (u *UE) SetChallenge(h string) error {
	ch, err := digest.ParseChallenge(h)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ch, u.nonce, u.nc = ch, ch.Nonce, 0
	return nil
}

// Authorize returns an Authorization value for the request with the next nonce-count
// (RFC 2617 §3.2.2), and the credentials it signed.
func (u *UE) Authorize(method, uri string, body []byte) (string, digest.Credentials, error) {
	u.mu.Lock()
	u.nc++
	u.cnonce++
	nc, cn, ch := u.nc, fmt.Sprintf("%016x", u.cnonce), u.ch
	u.mu.Unlock()
	return u.AuthorizeNC(ch, method, uri, body, nc, cn)
}

// AuthorizeNC signs with an explicit nonce-count and cnonce.
func (u *UE) AuthorizeNC(ch digest.Challenge, method, uri string, body []byte, nc uint32, cnonce string) (string, digest.Credentials, error) {
	qop := u.QOP
	if qop == "" {
		qop = digest.QOPAuthInt
	}
	c, err := digest.NewCredentials(ch, u.BTID, uri, qop, cnonce, nc)
	if err != nil {
		return "", digest.Credentials{}, err
	}
	if err := c.Sign([]byte(u.KsNAF.Base64()), method, body); err != nil {
		return "", digest.Credentials{}, err
	}
	h, err := c.Header()
	return h, c, err
}

// Challenge returns the last challenge recorded.
func (u *UE) Challenge() digest.Challenge {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ch
}

// VerifyAuthInfo checks the Authentication-Info of resp for the credentials c (mutual
// authentication, RFC 2617 §3.2.3).
func (u *UE) VerifyAuthInfo(c digest.Credentials, resp *http.Response, body []byte) error {
	h := resp.Header.Get("Authentication-Info")
	if h == "" {
		return errors.New("naftest: no Authentication-Info")
	}
	ai, err := digest.ParseAuthInfo(h)
	if err != nil {
		return err
	}
	return c.VerifyAuthInfo([]byte(u.KsNAF.Base64()), ai, body)
}
