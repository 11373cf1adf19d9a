package uetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/ue"
)

// KeyFunc is the NAF's Zn query: Ks_NAF for a B-TID and NAF_Id = fqdn ‖ ua, or an error
// when the B-TID is unknown or expired. BSF.NAFKey is one.
type KeyFunc func(btid, fqdn string, ua ue.UaID) (NAFKey, error)

// Identity is what the NAF stand-in learnt about an authenticated request.
type Identity struct {
	BTID    string
	IMPI    string
	Expires time.Time
}

type identityKey struct{}

// IdentityFrom returns the Identity the NAF stand-in put in the request context of its
// Handler.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// NAFStats counts what a NAF stand-in saw.
type NAFStats struct {
	Challenges    int // 401 challenges sent
	Stale         int // of which stale=true
	UnknownBTID   int // credentials whose B-TID Keys refused (TS 24.109 §5.2.4)
	BadResponse   int // credentials that did not verify, or reused an nc
	Authenticated int // requests passed to Handler
}

// NAF is a NAF stand-in: it authenticates requests with HTTP Digest and GBA keys over Ua
// (TS 24.109 §5.2: realm "3GPP-bootstrapping@<FQDN>", username B-TID, password
// base64(Ks_NAF), algorithm MD5, qop auth-int or auth), answers unknown B-TIDs with a new
// challenge (TS 24.109 §5.2.4), adds Authentication-Info to its answers (RFC 2617 §3.2.3)
// and passes authenticated requests to Handler with an Identity in the context. Requests
// without the "3gpp-gba" User-Agent token get 403 (TS 24.109 §5.2.1). Set the exported
// fields before serving.
type NAF struct {
	// FQDN is the NAF's name, the realm suffix and the NAF_Id prefix.
	FQDN string
	// UaID defaults to ue.UaIDHTTPDigest.
	UaID ue.UaID
	// Keys fetches Ks_NAF (Zn).
	Keys KeyFunc
	// Handler serves authenticated requests.
	Handler http.Handler
	// QOP lists the offered qop values; nil means auth-int and auth.
	QOP []string
	// Rand supplies nonces; nil means crypto/rand.Reader.
	Rand io.Reader

	mu     sync.Mutex
	nonces map[string]uint32 // nonce → highest nc seen
	stale  int
	stats  NAFStats
}

// NewNAF returns a NAF stand-in for fqdn.
func NewNAF(fqdn string, keys KeyFunc, h http.Handler) *NAF {
	return &NAF{FQDN: fqdn, Keys: keys, Handler: h}
}

// Stats returns the counters.
func (n *NAF) Stats() NAFStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// SetStale makes the NAF answer the next count correctly authenticated requests with a
// stale=true challenge (RFC 2617 §3.2.1).
func (n *NAF) SetStale(count int) {
	n.mu.Lock()
	n.stale = count
	n.mu.Unlock()
}

// ForgetNonces makes every nonce issued so far unknown.
func (n *NAF) ForgetNonces() {
	n.mu.Lock()
	clear(n.nonces)
	n.mu.Unlock()
}

func (n *NAF) realm() string { return "3GPP-bootstrapping@" + n.FQDN }

// ServeHTTP implements Ua with HTTP Digest, TS 24.109 §5.2.
func (n *NAF) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !hasProductToken(r.Header.Get("User-Agent"), "3gpp-gba") {
		http.Error(w, "GBA not indicated in User-Agent", http.StatusForbidden)
		return
	}
	body, err := readBody(r, 1<<20)
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		n.challenge(w, false)
		return
	}
	creds, err := digest.ParseCredentials(auth)
	if err != nil || creds.URI != r.URL.RequestURI() || creds.QOP == "" {
		http.Error(w, "bad Authorization", http.StatusBadRequest)
		return
	}
	known, fresh := n.useNonce(creds.Nonce, creds.NC)
	if creds.Realm != n.realm() || !known {
		n.count(func(s *NAFStats) { s.BadResponse++ })
		n.challenge(w, false)
		return
	}
	ua := n.UaID
	if ua == 0 {
		ua = ue.UaIDHTTPDigest
	}
	key, err := n.Keys(creds.Username, n.FQDN, ua)
	if err != nil { // TS 24.109 §5.2.4: bootstrapping required
		n.count(func(s *NAFStats) { s.UnknownBTID++ })
		n.challenge(w, false)
		return
	}
	password := []byte(key.KsNAF.Base64())
	if creds.Verify(password, r.Method, body) != nil {
		n.count(func(s *NAFStats) { s.BadResponse++ })
		n.challenge(w, false)
		return
	}
	n.mu.Lock()
	// An nc at or below the last one seen, with a digest that verifies, is a replay or an
	// out-of-order request sharing the nonce: stale=true, as the project's NAF answers
	// (specs/decisions.md DN.1), so the UE retries without bootstrapping again.
	stale := !fresh || n.stale > 0
	if fresh && n.stale > 0 {
		n.stale--
	}
	n.mu.Unlock()
	if stale {
		n.challenge(w, true)
		return
	}
	n.count(func(s *NAFStats) { s.Authenticated++ })

	rec := httptest.NewRecorder()
	req := r.WithContext(context.WithValue(r.Context(), identityKey{}, Identity{BTID: creds.Username, IMPI: key.IMPI, Expires: key.Expires}))
	req.Body = io.NopCloser(bytes.NewReader(body))
	n.Handler.ServeHTTP(rec, req)
	respBody := rec.Body.Bytes()
	ai, err := creds.AuthInfo(password, respBody, "")
	if err != nil {
		http.Error(w, "authinfo", http.StatusInternalServerError)
		return
	}
	h, err := ai.Header()
	if err != nil {
		http.Error(w, "authinfo", http.StatusInternalServerError)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Authentication-Info", h)
	w.WriteHeader(rec.Code)
	_, _ = w.Write(respBody)
}

func (n *NAF) count(f func(*NAFStats)) {
	n.mu.Lock()
	f(&n.stats)
	n.mu.Unlock()
}

// useNonce reports whether the nonce is one this NAF issued and whether nc is above the
// last one seen for it (RFC 2617 §3.2.2), recording nc when it is.
func (n *NAF) useNonce(nonce string, nc uint32) (known, fresh bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	last, ok := n.nonces[nonce]
	if !ok {
		return false, false
	}
	if nc <= last {
		return true, false
	}
	n.nonces[nonce] = nc
	return true, true
}

// challenge sends 401 with a GBA_ME Digest challenge (TS 24.109 §5.2.2).
func (n *NAF) challenge(w http.ResponseWriter, stale bool) {
	var raw [16]byte
	src := n.Rand
	if src == nil {
		src = rand.Reader
	}
	if _, err := io.ReadFull(src, raw[:]); err != nil {
		http.Error(w, "rand", http.StatusInternalServerError)
		return
	}
	nonce := base64.StdEncoding.EncodeToString(raw[:])
	qops := n.QOP
	if qops == nil {
		qops = []string{"auth-int", "auth"}
	}
	ch := digest.Challenge{Realm: n.realm(), Nonce: nonce, Algorithm: digest.MD5, Stale: stale}
	for _, q := range qops {
		ch.QOP = append(ch.QOP, digest.QOP(q))
	}
	h, err := ch.Header()
	if err != nil {
		http.Error(w, "challenge", http.StatusInternalServerError)
		return
	}
	n.mu.Lock()
	if n.nonces == nil {
		n.nonces = make(map[string]uint32)
	}
	n.nonces[nonce] = 0
	n.stats.Challenges++
	if stale {
		n.stats.Stale++
	}
	n.mu.Unlock()
	w.Header().Set("WWW-Authenticate", h)
	w.WriteHeader(http.StatusUnauthorized)
}

func hasProductToken(ua, token string) bool {
	for _, f := range strings.FieldsFunc(ua, func(r rune) bool { return r == ' ' || r == ';' || r == ',' || r == '\t' }) {
		if f == token || strings.HasPrefix(f, token+"/") {
			return true
		}
	}
	return false
}

// EnrolmentHandler serves the MEF enrolment endpoint behind a NAF stand-in: a POST
// answered with the JSON of f(identity) (ue.EnrolmentResponse). Other methods get 405.
func EnrolmentHandler(f func(Identity) ue.EnrolmentResponse) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		id, ok := IdentityFrom(r.Context())
		if !ok {
			http.Error(w, "not authenticated", http.StatusForbidden)
			return
		}
		b, err := json.Marshal(f(id))
		if err != nil {
			http.Error(w, "encode", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
}
