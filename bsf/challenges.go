package bsf

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/digest"
)

// PendingChallenge is a 401 challenge the BSF issued and has not yet seen answered: the AV
// behind the nonce (RFC 3310 §3.2) and what the BSF needs to finish the bootstrap. XRES, CK
// and IK are secrets; PendingChallenge prints them as REDACTED under fmt and slog.
type PendingChallenge struct {
	Nonce     string // base64(RAND || AUTN), the key of the table
	Opaque    string
	IMPI      string
	Algorithm digest.Algorithm
	RAND      [RANDSize]byte
	AUTN      [AUTNSize]byte
	XRES      []byte
	CK        [CKSize]byte
	IK        [IKSize]byte
	// Issued is when the challenge was sent; the answer must come within the nonce max age.
	Issued time.Time
	// Failures counts wrong responses in a row that led to this challenge (TS 24.109 §4.3).
	Failures int
	// GUSS and GUSSTimestamp are what the HSS sent (or the BSF's current copy).
	GUSS          []byte
	GUSSTimestamp time.Time
}

func (p PendingChallenge) redactedString() string {
	return fmt.Sprintf("PendingChallenge{RAND:%x XRES:%s CK:%s IK:%s Issued:%s Failures:%d}",
		p.RAND, redacted, redacted, redacted, p.Issued.UTC().Format(time.RFC3339), p.Failures)
}

// String hides XRES, CK, IK and the IMPI.
func (p PendingChallenge) String() string { return p.redactedString() }

// GoString is String.
func (p PendingChallenge) GoString() string { return p.redactedString() }

// Format prints String under every verb.
func (p PendingChallenge) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, p.redactedString()) }

// LogValue hides XRES, CK, IK and the IMPI.
func (p PendingChallenge) LogValue() slog.Value {
	return slog.GroupValue(slog.String("rand", fmt.Sprintf("%x", p.RAND)), slog.Int("failures", p.Failures))
}

// ChallengeStore holds pending challenges keyed by nonce. Nonces are single-use: Take
// removes the entry atomically, so of two concurrent answers to one nonce at most one finds
// it (RFC 7616 §5.5 replay protection).
type ChallengeStore interface {
	// PutChallenge stores c for ttl. It returns ErrOverloaded when the table is full and
	// ErrChallengeExists when the nonce is already pending.
	PutChallenge(ctx context.Context, c PendingChallenge, ttl time.Duration) error
	// TakeChallenge removes and returns the challenge for nonce, or ErrChallengeNotFound
	// when it was never issued, was already taken or has expired.
	TakeChallenge(ctx context.Context, nonce string) (PendingChallenge, error)
}

// MemoryChallenges is the in-process ChallengeStore: a map plus a list in insertion order
// (which is expiry order, because the BSF uses one TTL), bounded in size. Expired entries
// are dropped from the front on every Put and never returned by Take.
type MemoryChallenges struct {
	max int
	now func() time.Time

	mu    sync.Mutex
	byKey map[string]*list.Element
	order *list.List // of *memChallenge, oldest first
}

type memChallenge struct {
	c       PendingChallenge
	expires time.Time
}

// NewMemoryChallenges returns a table holding at most max challenges (max ≥ 1). now may
// be nil (time.Now).
func NewMemoryChallenges(max int, now func() time.Time) *MemoryChallenges {
	if max < 1 {
		max = 1
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryChallenges{max: max, now: now, byKey: make(map[string]*list.Element), order: list.New()}
}

var _ ChallengeStore = (*MemoryChallenges)(nil)

// PutChallenge implements ChallengeStore.
func (m *MemoryChallenges) PutChallenge(_ context.Context, c PendingChallenge, ttl time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for e := m.order.Front(); e != nil; e = m.order.Front() {
		mc := e.Value.(*memChallenge)
		if now.Before(mc.expires) {
			break
		}
		m.order.Remove(e)
		delete(m.byKey, mc.c.Nonce)
	}
	if old, ok := m.byKey[c.Nonce]; ok {
		if now.Before(old.Value.(*memChallenge).expires) {
			return ErrChallengeExists
		}
		m.order.Remove(old)
		delete(m.byKey, c.Nonce)
	}
	if len(m.byKey) >= m.max {
		return ErrOverloaded
	}
	m.byKey[c.Nonce] = m.order.PushBack(&memChallenge{c: c, expires: now.Add(ttl)})
	return nil
}

// TakeChallenge implements ChallengeStore.
func (m *MemoryChallenges) TakeChallenge(_ context.Context, nonce string) (PendingChallenge, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byKey[nonce]
	if !ok {
		return PendingChallenge{}, ErrChallengeNotFound
	}
	m.order.Remove(e)
	delete(m.byKey, nonce)
	mc := e.Value.(*memChallenge)
	if !now.Before(mc.expires) {
		return PendingChallenge{}, ErrChallengeNotFound
	}
	return mc.c, nil
}

// Len returns the number of entries held (expired ones included until the next Put).
func (m *MemoryChallenges) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byKey)
}
