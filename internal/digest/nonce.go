package digest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidNonce reports an AKA nonce that is not base64(RAND || AUTN || server data).
var ErrInvalidNonce = errors.New("digest: invalid AKA nonce")

// Sizes of the AKA nonce fields, RFC 3310 §3.2 (TS 33.102 §6.3: RAND and AUTN are 128 bits).
const (
	RANDSize = 16
	AUTNSize = 16
)

// AKANonce is the content of a Digest AKA nonce, RFC 3310 §3.2 and TS 24.109 Annex A:
// nonce = base64(RAND || AUTN || server data).
type AKANonce struct {
	RAND       [RANDSize]byte
	AUTN       [AUTNSize]byte
	ServerData []byte // optional; nil when absent
}

// NewAKANonce builds an AKANonce from a 16-octet RAND, a 16-octet AUTN and optional server
// data (copied).
func NewAKANonce(rand, autn, serverData []byte) (AKANonce, error) {
	if len(rand) != RANDSize || len(autn) != AUTNSize {
		return AKANonce{}, fmt.Errorf("%w: RAND and AUTN must be %d octets each", ErrAKAInput, RANDSize)
	}
	var n AKANonce
	copy(n.RAND[:], rand)
	copy(n.AUTN[:], autn)
	if len(serverData) > 0 {
		n.ServerData = append([]byte(nil), serverData...)
	}
	return n, nil
}

// Pack returns the nonce parameter value, base64(RAND || AUTN || server data) with the
// standard padded alphabet, RFC 3310 §3.2.
func (n AKANonce) Pack() string {
	b := make([]byte, 0, RANDSize+AUTNSize+len(n.ServerData))
	b = append(append(append(b, n.RAND[:]...), n.AUTN[:]...), n.ServerData...)
	return base64.StdEncoding.EncodeToString(b)
}

// UnpackNonce decodes an AKA nonce, RFC 3310 §3.2: canonical padded standard base64 of at
// least 32 octets; RAND is the first 16, AUTN the next 16, the rest is server data (opaque
// to the client, TS 24.109 Annex A). Nonces longer than MaxHeaderLen are rejected.
func UnpackNonce(nonce string) (AKANonce, error) {
	if len(nonce) > MaxHeaderLen {
		return AKANonce{}, fmt.Errorf("%w: longer than %d characters", ErrInvalidNonce, MaxHeaderLen)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(nonce)
	// The decoder skips CR and LF; insist on the canonical encoding. With CR and LF
	// excluded, Strict accepts only the canonical padded form (zero trailing bits), so
	// no re-encoding is needed to compare.
	if err != nil || strings.ContainsAny(nonce, "\r\n") {
		return AKANonce{}, fmt.Errorf("%w: not canonical padded standard base64", ErrInvalidNonce)
	}
	if len(b) < RANDSize+AUTNSize {
		return AKANonce{}, fmt.Errorf("%w: %d octets, need at least %d (RAND || AUTN)", ErrInvalidNonce, len(b), RANDSize+AUTNSize)
	}
	var n AKANonce
	copy(n.RAND[:], b[:RANDSize])
	copy(n.AUTN[:], b[RANDSize:RANDSize+AUTNSize])
	if len(b) > RANDSize+AUTNSize {
		n.ServerData = b[RANDSize+AUTNSize:]
	}
	return n, nil
}
