// Package maf implements a small oneM2M M2M Authentication Function (MAF, oneM2M TS-0003
// Annex A role mapping): a durable store of M2M root keys Kmr, encrypted at rest, that the
// MEF provisions and an authorised IN-CSE queries by Kmr-ID.
package maf

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/opengba/opengba/internal/gba"
)

// Errors of the MAF. Messages never carry key material.
var (
	// ErrNotFound: no Kmr with this Kmr-ID.
	ErrNotFound = errors.New("maf: Kmr-ID not found")
	// ErrExpired: the Kmr has expired (it is deleted when seen).
	ErrExpired = errors.New("maf: Kmr expired")
	// ErrInvalid: a provisioning request breaks a rule (field named in the message).
	ErrInvalid = errors.New("maf: invalid request")
	// ErrSealed: a stored Kmr cannot be decrypted (wrong KEK or corrupt record).
	ErrSealed = errors.New("maf: stored Kmr cannot be decrypted")
)

// KEKSize is the length of the key-encryption key (AES-256).
const KEKSize = 32

// Limits on identifiers.
const (
	MaxKmrIDLen  = 512
	MaxNodeIDLen = 256
)

// Entry is one M2M root key held by the MAF: Kmr-ID (= B-TID, GBA-DIGEST §0 and oneM2M
// TS-0003 Annex A: KmID = B-TID), the M2M-Node-ID it belongs to, Kmr (= Ks_NAF of the MEF,
// 32 octets) and its expiry (= Key-ExpiryTime).
type Entry struct {
	KmrID   string
	NodeID  string
	Kmr     gba.Key
	Expires time.Time
}

// Config configures a MAF.
type Config struct {
	// KEK encrypts every Kmr at rest with AES-256-GCM (AAD = Kmr-ID). 32 octets, required.
	KEK []byte
	// Rand is the randomness for GCM nonces; nil means crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MAF is the M2M Authentication Function's logic on a Store. Keys are sealed before they
// reach the store and opened only in Lookup. Provision keeps at most one Kmr per Node-ID
// (a new enrolment supersedes the previous Kmr).
//
// A later DTLS-PSK front end (oneM2M TS-0003 §8.3.2.3, GBA-DIGEST §7: psk_identity =
// KmID = B-TID) needs only PSK as its key callback.
type MAF struct {
	store Store
	aead  cipher.AEAD
	rand  io.Reader
	now   func() time.Time
}

// New builds a MAF on store.
func New(store Store, cfg Config) (*MAF, error) {
	if store == nil {
		return nil, errors.New("maf: nil store")
	}
	if len(cfg.KEK) != KEKSize {
		return nil, fmt.Errorf("maf: KEK must be %d octets, got %d", KEKSize, len(cfg.KEK))
	}
	block, err := aes.NewCipher(cfg.KEK)
	if err != nil {
		return nil, fmt.Errorf("maf: KEK: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("maf: KEK: %w", err)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MAF{store: store, aead: aead, rand: cfg.Rand, now: cfg.Now}, nil
}

// sealVersion prefixes every sealed Kmr: 0x01 || GCM nonce (12) || ciphertext || tag.
const sealVersion = 0x01

func (m *MAF) seal(kmrID string, k gba.Key) ([]byte, error) {
	nonce := make([]byte, m.aead.NonceSize())
	if _, err := io.ReadFull(m.rand, nonce); err != nil {
		return nil, fmt.Errorf("maf: seal: %w", err)
	}
	pt := k.Bytes()
	defer clear(pt)
	out := append([]byte{sealVersion}, nonce...)
	return m.aead.Seal(out, nonce, pt, []byte(kmrID)), nil
}

func (m *MAF) open(kmrID string, sealed []byte) (gba.Key, error) {
	ns := m.aead.NonceSize()
	if len(sealed) < 1+ns+m.aead.Overhead() || sealed[0] != sealVersion {
		return gba.Key{}, fmt.Errorf("%w: bad format", ErrSealed)
	}
	pt, err := m.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(kmrID))
	if err != nil {
		return gba.Key{}, fmt.Errorf("%w: authentication failed", ErrSealed)
	}
	defer clear(pt)
	k, err := gba.NewKey(pt)
	if err != nil {
		return gba.Key{}, fmt.Errorf("%w: %w", ErrSealed, err)
	}
	return k, nil
}

// checkID accepts 1..max printable ASCII characters without spaces.
func checkID(field, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%w: %s must be 1 to %d characters", ErrInvalid, field, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, field)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: %s contains a space or control character", ErrInvalid, field)
		}
	}
	return nil
}

// Provision stores e, replacing an entry with the same Kmr-ID and removing every other Kmr
// of the same Node-ID. The Kmr must not have expired.
func (m *MAF) Provision(ctx context.Context, e Entry) error {
	if err := checkID("kmr_id", e.KmrID, MaxKmrIDLen); err != nil {
		return err
	}
	if err := checkID("node_id", e.NodeID, MaxNodeIDLen); err != nil {
		return err
	}
	if e.Kmr.IsZero() {
		return fmt.Errorf("%w: kmr missing", ErrInvalid)
	}
	now := m.now()
	if !now.Before(e.Expires) {
		return fmt.Errorf("%w: expires must be in the future", ErrInvalid)
	}
	sealed, err := m.seal(e.KmrID, e.Kmr)
	if err != nil {
		return err
	}
	return m.store.Put(ctx, Record{KmrID: e.KmrID, NodeID: e.NodeID, Sealed: sealed, Expires: e.Expires.UTC(), Created: now.UTC()})
}

// Revoke deletes the Kmr with this Kmr-ID; ErrNotFound when there is none.
func (m *MAF) Revoke(ctx context.Context, kmrID string) error {
	return m.store.Delete(ctx, kmrID)
}

// Lookup returns the entry for kmrID with its Kmr decrypted. An expired entry gives
// ErrExpired and is deleted.
func (m *MAF) Lookup(ctx context.Context, kmrID string) (Entry, error) {
	r, err := m.store.Get(ctx, kmrID)
	if err != nil {
		return Entry{}, err
	}
	if !m.now().Before(r.Expires) {
		_ = m.store.Delete(ctx, kmrID)
		return Entry{}, ErrExpired
	}
	k, err := m.open(r.KmrID, r.Sealed)
	if err != nil {
		return Entry{}, err
	}
	return Entry{KmrID: r.KmrID, NodeID: r.NodeID, Kmr: k, Expires: r.Expires}, nil
}

// PSK returns the pre-shared key for a (D)TLS-PSK handshake whose psk_identity is a Kmr-ID
// (oneM2M TS-0003 §8.3.2.3, GBA-DIGEST §7: in the GBA case the key is used directly as the
// PSK, no further KDF). The
// caller must clear the returned slice when done.
func (m *MAF) PSK(ctx context.Context, identity []byte) ([]byte, error) {
	e, err := m.Lookup(ctx, string(identity))
	if err != nil {
		return nil, err
	}
	return e.Kmr.Bytes(), nil
}

// Sweep deletes every expired entry and returns how many it removed.
func (m *MAF) Sweep(ctx context.Context) (int, error) {
	return m.store.DeleteExpired(ctx, m.now())
}

// RunSweeper calls Sweep every interval until ctx ends; errors go to onErr (may be nil).
func (m *MAF) RunSweeper(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := m.Sweep(ctx); err != nil && onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}

// Ping checks the store.
func (m *MAF) Ping(ctx context.Context) error { return m.store.Ping(ctx) }
