package uetest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/redact"
	"github.com/opengba/opengba/ue"
)

// RspAuthMode says what the BSF stand-in puts in Authentication-Info.
type RspAuthMode uint8

const (
	// RspAuthValid sends the correct rspauth (RFC 2617 §3.2.3).
	RspAuthValid RspAuthMode = iota
	// RspAuthWrong sends a wrong rspauth.
	RspAuthWrong
	// RspAuthMissing omits Authentication-Info.
	RspAuthMissing
)

// Faults are the misbehaviours a BSF stand-in can be told to show.
type Faults struct {
	// RspAuth selects a valid, wrong or missing rspauth.
	RspAuth RspAuthMode
	// WrongMAC flips a bit of MAC-A in every AUTN, so the USIM reports a MAC failure.
	WrongMAC bool
	// Body, when set, replaces the BootstrappingInfo body of the 200 OK.
	Body []byte
}

// BSFStats counts what a BSF stand-in saw.
type BSFStats struct {
	Challenges          int // 401 challenges sent, initial and after resync
	Resyncs             int // AUTS verified (TS 33.102 §6.3.5)
	NetworkAuthFailures int // empty-password responses without auts (TS 24.109 §4.4)
	UserAuthFailures    int // wrong RES (TS 24.109 §4.3)
	Bootstraps          int // 200 OK sent
}

// Session is a bootstrapping session held by the BSF stand-in.
type Session struct {
	IMPI    string
	RAND    [16]byte
	Ks      ue.Key
	Expires time.Time
}

// NAFKey is what the BSF stand-in answers on Zn (TS 29.109 §6.3, BIA): Ks_NAF, the IMPI
// and the key expiry.
type NAFKey struct {
	KsNAF   ue.Key
	IMPI    string
	Expires time.Time
}

type subscriber struct {
	redact.Fields
	k, opc aka.Key
	gen    aka.SQNGenerator
}

type pendingAV struct {
	redact.Fields // av holds CK, IK and XRES
	impi          string
	av            aka.AV
}

// BSF is a BSF stand-in serving Ub over HTTP (TS 24.109 §4.2 and §A.3) with
// AKAv1-MD5 or AKAv2-MD5, authentication vectors made locally from the subscribers' K
// and OPc (no HSS), and Zn as the NAFKey method. Set the exported fields before serving;
// change behaviour later only through SetFaults.
type BSF struct {
	// Domain is the BSF domain name: realm of the challenges and domain of the B-TIDs.
	Domain string
	// Lifetime is the key lifetime; zero means one hour.
	Lifetime time.Duration
	// AKAv2 selects AKAv2-MD5 (RFC 4169) instead of AKAv1-MD5 (RFC 3310).
	AKAv2 bool
	// AMF is the AMF of the vectors (default 0x0000: separation bit clear).
	AMF uint16
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand supplies RAND; nil means crypto/rand.Reader.
	Rand io.Reader

	mu       sync.Mutex
	faults   Faults
	subs     map[string]*subscriber
	pending  map[string]*pendingAV
	sessions map[string]*Session
	stats    BSFStats
	auths    []string
}

// NewBSF returns a BSF stand-in for the domain with no subscribers.
func NewBSF(domain string) *BSF {
	return &BSF{
		Domain:   domain,
		subs:     make(map[string]*subscriber),
		pending:  make(map[string]*pendingAV),
		sessions: make(map[string]*Session),
	}
}

// AddSubscriber provisions an IMPI with K and OPc and the default SQN scheme of
// package ue (TS 33.102 §C.1), SEQ_HE = 0.
func (b *BSF) AddSubscriber(impi string, k, opc ue.Key128) error {
	if k.IsZero() || opc.IsZero() {
		return fmt.Errorf("uetest: K and OPc must be set")
	}
	s := ue.DefaultSQNScheme()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[impi] = &subscriber{
		k:   aka.Key(k.Bytes()),
		opc: aka.Key(opc.Bytes()),
		gen: aka.SQNGenerator{Scheme: aka.SQNScheme{INDBits: s.INDBits, Delta: s.Delta, L: s.L}},
	}
	return nil
}

// SetSEQ sets SEQ_HE of a subscriber: the next vector carries SEQ+1 (TS 33.102 §C.1.1).
// Setting it below what the USIM accepted makes the next challenge fail the freshness
// check, which forces a re-synchronisation.
func (b *BSF) SetSEQ(impi string, seq uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.subs[impi]
	if !ok {
		return fmt.Errorf("uetest: unknown IMPI")
	}
	s.gen.SEQ, s.gen.IND = seq, 0
	return nil
}

// SetFaults changes the faults the BSF shows from now on.
func (b *BSF) SetFaults(f Faults) {
	b.mu.Lock()
	b.faults = f
	b.mu.Unlock()
}

// Stats returns the counters.
func (b *BSF) Stats() BSFStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Authorizations returns the Authorization header values received, in order.
func (b *BSF) Authorizations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.auths...)
}

// Session returns the bootstrapping session of a B-TID.
func (b *BSF) Session(btid string) (Session, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.sessions[btid]
	if !ok {
		return Session{}, false
	}
	return *s, true
}

// Forget drops a bootstrapping session, as if it had expired at the BSF.
func (b *BSF) Forget(btid string) {
	b.mu.Lock()
	delete(b.sessions, btid)
	b.mu.Unlock()
}

// NAFKey answers a Zn Bootstrapping-Info-Request (TS 29.109 §6.3): Ks_NAF for NAF_Id =
// fqdn ‖ ua (TS 33.220 §B.3), computed with internal/gba, or ErrUnknownBTID.
func (b *BSF) NAFKey(btid, fqdn string, ua ue.UaID) (NAFKey, error) {
	b.mu.Lock()
	s, ok := b.sessions[btid]
	b.mu.Unlock()
	if !ok || !b.now().Before(s.Expires) {
		return NAFKey{}, ErrUnknownBTID
	}
	ks, err := gba.NewKey(s.Ks.Bytes())
	if err != nil {
		return NAFKey{}, err
	}
	k, err := gba.KsNAF(ks, s.RAND[:], s.IMPI, gba.NAFID{FQDN: fqdn, UaID: gba.UaID(ua)})
	if err != nil {
		return NAFKey{}, err
	}
	out, err := ue.NewKey(k.Bytes())
	if err != nil {
		return NAFKey{}, err
	}
	return NAFKey{KsNAF: out, IMPI: s.IMPI, Expires: s.Expires}, nil
}

func (b *BSF) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *BSF) algorithm() digest.Algorithm {
	if b.AKAv2 {
		return digest.AKAv2MD5
	}
	return digest.AKAv1MD5
}

// ServeHTTP implements Ub, TS 24.109 §A.3.
func (b *BSF) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := readBody(r, 64<<10)
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	w.Header().Set("Server", "Bootstrapping Server; Release-6; 3gpp-gba-tmpi")
	auth := r.Header.Get("Authorization")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.auths = append(b.auths, auth)
	creds, err := digest.ParseCredentials(auth)
	if err != nil {
		http.Error(w, "bad Authorization", http.StatusBadRequest)
		return
	}
	if creds.Nonce == "" { // TS 24.109 §A.3 step 1
		b.challenge(w, creds.Username)
		return
	}
	p, ok := b.pending[creds.Nonce]
	if !ok || p.impi != creds.Username || creds.Realm != b.Domain || creds.QOP != digest.QOPAuthInt {
		http.Error(w, "unknown nonce", http.StatusForbidden)
		return
	}
	delete(b.pending, creds.Nonce)
	sub := b.subs[p.impi]
	switch {
	case creds.AUTS != nil: // RFC 3310 §3.4, TS 24.109 §4.5
		if creds.Verify(nil, r.Method, body) != nil {
			http.Error(w, "bad response", http.StatusForbidden)
			return
		}
		sqnMS, err := aka.VerifyAUTS(sub.k, sub.opc, p.av.RAND[:], creds.AUTS)
		if err != nil {
			http.Error(w, "bad AUTS", http.StatusForbidden)
			return
		}
		if sub.gen, err = sub.gen.Resync(sqnMS); err != nil {
			http.Error(w, "resync", http.StatusInternalServerError)
			return
		}
		b.stats.Resyncs++
		b.challenge(w, p.impi)
	case creds.Verify(nil, r.Method, body) == nil: // TS 24.109 §4.4
		b.stats.NetworkAuthFailures++
		http.Error(w, "network authentication failure", http.StatusForbidden)
	default:
		b.answer(w, r, creds, p, body)
	}
}

// answer checks RES and sends the 200 OK of TS 24.109 §A.3.
func (b *BSF) answer(w http.ResponseWriter, r *http.Request, creds digest.Credentials, p *pendingAV, body []byte) {
	password, err := digest.AKAPassword(b.algorithm(), p.av.XRES[:], p.av.IK[:], p.av.CK[:])
	if err != nil || creds.Verify(password, r.Method, body) != nil {
		b.stats.UserAuthFailures++
		http.Error(w, "authentication failed", http.StatusForbidden)
		return
	}
	ks, err := ue.NewKey(append(append([]byte(nil), p.av.CK[:]...), p.av.IK[:]...)) // TS 33.220 §4.5.2
	if err != nil {
		http.Error(w, "ks", http.StatusInternalServerError)
		return
	}
	btid, err := gba.NewBTID(p.av.RAND[:], b.Domain)
	if err != nil {
		http.Error(w, "btid", http.StatusInternalServerError)
		return
	}
	lifetime := b.Lifetime
	if lifetime == 0 {
		lifetime = time.Hour
	}
	exp := b.now().Add(lifetime).UTC().Truncate(time.Second)
	b.sessions[btid.String()] = &Session{IMPI: p.impi, RAND: p.av.RAND, Ks: ks, Expires: exp}
	xmlBody := b.faults.Body
	if xmlBody == nil {
		xmlBody = []byte(fmt.Sprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"+
			"<BootstrappingInfo xmlns=\"uri:3gpp-gba\">\n  <btid>%s</btid>\n  <lifetime>%s</lifetime>\n</BootstrappingInfo>\n",
			btid, exp.Format(time.RFC3339)))
	}
	ai, err := creds.AuthInfo(password, xmlBody, "")
	if err != nil {
		http.Error(w, "authinfo", http.StatusInternalServerError)
		return
	}
	switch b.faults.RspAuth {
	case RspAuthWrong:
		ai.RspAuth = flipHex(ai.RspAuth)
		fallthrough
	case RspAuthValid:
		h, err := ai.Header()
		if err != nil {
			http.Error(w, "authinfo", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Authentication-Info", h)
	}
	w.Header().Set("Content-Type", "application/vnd.3gpp.bsf+xml")
	w.Header().Set("Expires", exp.Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(xmlBody)
	b.stats.Bootstraps++
}

// challenge sends a 401 with a fresh AKA challenge (TS 24.109 §A.3 step 4).
func (b *BSF) challenge(w http.ResponseWriter, impi string) {
	sub, ok := b.subs[impi]
	if !ok {
		http.Error(w, "unknown IMPI", http.StatusForbidden)
		return
	}
	sqn, next, err := sub.gen.Next()
	if err != nil {
		http.Error(w, "sqn", http.StatusInternalServerError)
		return
	}
	sub.gen = next
	src := b.Rand
	if src == nil {
		src = rand.Reader
	}
	rnd, err := aka.NewRAND(src)
	if err != nil {
		http.Error(w, "rand", http.StatusInternalServerError)
		return
	}
	av, err := aka.GenerateAV(sub.k, sub.opc, rnd, sqn, aka.AMF(b.AMF))
	if err != nil {
		http.Error(w, "av", http.StatusInternalServerError)
		return
	}
	if b.faults.WrongMAC {
		av.AUTN[15] ^= 1
	}
	n, err := digest.NewAKANonce(av.RAND[:], av.AUTN[:], nil)
	if err != nil {
		http.Error(w, "nonce", http.StatusInternalServerError)
		return
	}
	nonce := n.Pack()
	b.pending[nonce] = &pendingAV{impi: impi, av: av}
	ch := digest.Challenge{
		Realm:     b.Domain,
		Nonce:     nonce,
		Algorithm: b.algorithm(),
		QOP:       []digest.QOP{digest.QOPAuthInt},
		Opaque:    hex.EncodeToString(av.RAND[:8]),
	}
	h, err := ch.Header()
	if err != nil {
		http.Error(w, "challenge", http.StatusInternalServerError)
		return
	}
	w.Header().Set("WWW-Authenticate", h)
	w.WriteHeader(http.StatusUnauthorized)
	b.stats.Challenges++
}

// flipHex changes the last hex digit of s.
func flipHex(s string) string {
	if s == "" {
		return "0"
	}
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}
