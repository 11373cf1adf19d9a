package naf

import (
	"container/list"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/redact"
)

// Nonce defaults.
const (
	// DefaultNonceTTL is how long a server nonce can be used (RFC 7616 §3.3 leaves the
	// lifetime to the server).
	DefaultNonceTTL = 10 * time.Minute
	// DefaultMaxNonces bounds the nonce-count table.
	DefaultMaxNonces = 100000
)

// Nonce errors, mapped by uaStatus.
var (
	// ErrNonceInvalid: the nonce was not issued by this authenticator (bad MAC or format,
	// or issued before a restart). The client gets a fresh challenge.
	ErrNonceInvalid = errors.New("naf: nonce not issued by this NAF")
	// ErrNonceStale: the digest is right but the nonce has expired or its nonce-count
	// state is gone; the client gets a fresh challenge with stale=true (RFC 7616 §3.3).
	ErrNonceStale = errors.New("naf: nonce is stale")
	// ErrNonceReplay: the nonce-count is not higher than the highest one seen with this
	// nonce (RFC 7616 §3.4, RFC 2617 §3.2.2: "nc" lets the server detect replays).
	ErrNonceReplay = errors.New("naf: nonce-count replayed")
)

// Nonce layout (before base64url): issue time (unix ns, 8 octets big-endian) ||
// random (8 octets) || HMAC-SHA-256(secret, time || random)[:16]. RFC 7616 §3.3 suggests a
// time stamp and a server secret in the nonce so that stale nonces are recognised without
// state; the table below only tracks nonce-counts of nonces that have been used.
const (
	nonceTimeLen = 8
	nonceRandLen = 8
	nonceMACLen  = 16
	nonceRawLen  = nonceTimeLen + nonceRandLen + nonceMACLen
)

// nonceState is the stateless verdict on a nonce.
type nonceState int

const (
	nonceBad nonceState = iota
	nonceFresh
	nonceExpired
)

// nonces issues server nonces and tracks, for each nonce used successfully, the highest
// nonce-count seen (RFC 7616 §3.4 replay detection). The table is bounded: entries are
// dropped when their nonce expires, and when the table is full the entry used first is
// evicted and every nonce issued at or before that entry's issue time becomes stale
// (floor), so an eviction can never re-open a replay.
type nonces struct {
	redact.Fields // secret keys every nonce's MAC
	secret        [sha256.Size]byte
	ttl           time.Duration
	max           int
	now           func() time.Time

	randMu sync.Mutex
	rand   io.Reader

	mu    sync.Mutex
	order *list.List // values *nonceEntry, in order of first use
	seen  map[string]*list.Element
	floor int64 // unix ns: unknown nonces issued at or before this are stale
}

type nonceEntry struct {
	nonce  string
	issued int64
	nc     uint32
}

func newNonces(rand io.Reader, now func() time.Time, ttl time.Duration, max int) (*nonces, error) {
	n := &nonces{ttl: ttl, max: max, now: now, rand: rand, order: list.New(), seen: make(map[string]*list.Element)}
	if _, err := io.ReadFull(rand, n.secret[:]); err != nil {
		return nil, fmt.Errorf("naf: nonce secret: %w", err)
	}
	return n, nil
}

func (n *nonces) mac(b []byte) []byte {
	m := hmac.New(sha256.New, n.secret[:])
	m.Write(b)
	return m.Sum(nil)[:nonceMACLen]
}

// issue returns a fresh nonce.
func (n *nonces) issue() (string, error) {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:nonceTimeLen], uint64(n.now().UnixNano()))
	n.randMu.Lock()
	_, err := io.ReadFull(n.rand, raw[nonceTimeLen:nonceTimeLen+nonceRandLen])
	n.randMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("naf: nonce: %w", err)
	}
	copy(raw[nonceTimeLen+nonceRandLen:], n.mac(raw[:nonceTimeLen+nonceRandLen]))
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// check verifies the nonce's MAC and age without touching the table.
func (n *nonces) check(nonce string) (issued int64, st nonceState) {
	if len(nonce) != base64.RawURLEncoding.EncodedLen(nonceRawLen) {
		return 0, nonceBad
	}
	var raw [nonceRawLen]byte
	if k, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(nonce)); err != nil || k != nonceRawLen {
		return 0, nonceBad
	}
	if !hmac.Equal(raw[nonceTimeLen+nonceRandLen:], n.mac(raw[:nonceTimeLen+nonceRandLen])) {
		return 0, nonceBad
	}
	issued = int64(binary.BigEndian.Uint64(raw[:nonceTimeLen]))
	if n.now().UnixNano()-issued >= int64(n.ttl) {
		return issued, nonceExpired
	}
	return issued, nonceFresh
}

// use records nonce-count nc for a fresh nonce whose digest verified. It fails with
// ErrNonceReplay when nc is not above the highest count seen, and with ErrNonceStale when
// the nonce's state was evicted.
func (n *nonces) use(nonce string, issued int64, nc uint32) error {
	now := n.now().UnixNano()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropExpired(now, 2)
	if el, ok := n.seen[nonce]; ok {
		e := el.Value.(*nonceEntry)
		if nc <= e.nc {
			return fmt.Errorf("%w: nc %08x, highest seen %08x", ErrNonceReplay, nc, e.nc)
		}
		e.nc = nc
		return nil
	}
	if issued <= n.floor {
		return fmt.Errorf("%w: nonce-count state evicted", ErrNonceStale)
	}
	n.seen[nonce] = n.order.PushBack(&nonceEntry{nonce: nonce, issued: issued, nc: nc})
	for n.order.Len() > n.max {
		el := n.order.Front()
		e := el.Value.(*nonceEntry)
		n.order.Remove(el)
		delete(n.seen, e.nonce)
		if now-e.issued < int64(n.ttl) && e.issued > n.floor {
			n.floor = e.issued
		}
	}
	return nil
}

// dropExpired removes up to limit expired entries from the front (amortised cleanup;
// entries are in order of first use, so the oldest are there).
func (n *nonces) dropExpired(now int64, limit int) {
	for i := 0; i < limit; i++ {
		el := n.order.Front()
		if el == nil {
			return
		}
		e := el.Value.(*nonceEntry)
		if now-e.issued < int64(n.ttl) {
			return
		}
		n.order.Remove(el)
		delete(n.seen, e.nonce)
	}
}

// len returns the number of tracked nonces.
func (n *nonces) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.order.Len()
}
