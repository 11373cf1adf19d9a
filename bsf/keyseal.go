package bsf

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

const (
	sealVersion  byte = 1
	sealNonceLen      = 12 // AES-GCM standard nonce
)

// ParseKEK decodes a key-encryption key given as padded standard base64 or as hex; either
// must hold exactly 32 octets. Errors never echo the input.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.Strict().DecodeString(s); err == nil && len(b) == KEKSize {
		return b, nil
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == KEKSize {
		return b, nil
	}
	return nil, fmt.Errorf("%w: key-encryption key must be %d octets in base64 or hex", ErrConfig, KEKSize)
}

// keySealer encrypts secrets at rest with AES-256-GCM under the key-encryption key; the
// additional data binds a sealed blob to its record (the B-TID for Ks), so a blob copied to
// another record does not open. Blob layout: version (1) || nonce (12) || ciphertext || tag
// (16). Older keys are tried in turn when opening, which allows rotating the KEK without
// losing live sessions.
type keySealer struct {
	aeads []cipher.AEAD // [0] seals; all open
	rand  io.Reader
}

func newKeySealer(current []byte, previous [][]byte, rand io.Reader) (*keySealer, error) {
	s := &keySealer{rand: rand}
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) != KEKSize {
			return nil, fmt.Errorf("%w: key-encryption key %d is %d octets, want %d", ErrConfig, i, len(k), KEKSize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("bsf: kek: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("bsf: kek: %w", err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

func (s *keySealer) seal(plaintext []byte, aad string) ([]byte, error) {
	a := s.aeads[0]
	out := make([]byte, 1+sealNonceLen, 1+sealNonceLen+len(plaintext)+a.Overhead())
	out[0] = sealVersion
	if _, err := io.ReadFull(s.rand, out[1:]); err != nil {
		return nil, fmt.Errorf("bsf: seal: nonce: %w", err)
	}
	return a.Seal(out, out[1:1+sealNonceLen], plaintext, []byte(aad)), nil
}

func (s *keySealer) open(blob []byte, aad string) ([]byte, error) {
	if len(blob) < 1+sealNonceLen+16 || blob[0] != sealVersion {
		return nil, fmt.Errorf("%w: unknown format", ErrSealed)
	}
	nonce, ct := blob[1:1+sealNonceLen], blob[1+sealNonceLen:]
	for _, a := range s.aeads {
		if pt, err := a.Open(nil, nonce, ct, []byte(aad)); err == nil {
			return pt, nil
		}
	}
	return nil, ErrSealed
}
