package ue

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/opengba/opengba/internal/gba"
)

// Bootstrap is the outcome of a bootstrapping procedure over Ub (TS 33.220 §4.5.2): the
// B-TID, its expiry, and Ks = CK ‖ IK with the RAND and IMPI it was bound to. Ks never
// prints; LogValue shows only the B-TID and the expiry.
type Bootstrap struct {
	// BTID is the bootstrapping transaction identifier, base64(RAND)@BSF-domain
	// (TS 33.220 §4.5.2). It is the username on Ua and the oneM2M Kmr-ID.
	BTID string
	// IMPI is the private identity the bootstrap was run for.
	IMPI string
	// RAND is the challenge of the bootstrap, an input of every NAF key (TS 33.220 §B.3).
	RAND [16]byte
	// Expires is the key lifetime from the BootstrappingInfo (TS 24.109 §C.1), in UTC.
	Expires time.Time

	ks Key
}

// NewBootstrap rebuilds a Bootstrap, for Store implementations. The B-TID must be valid
// (TS 33.220 §4.5.2) and Ks set.
func NewBootstrap(btid, impi string, rand [16]byte, ks Key, expires time.Time) (*Bootstrap, error) {
	if _, err := gba.ParseBTID(btid); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := checkIMPI(impi); err != nil {
		return nil, err
	}
	if ks.IsZero() {
		return nil, fmt.Errorf("%w: Ks is unset", ErrKeyFormat)
	}
	return &Bootstrap{BTID: btid, IMPI: impi, RAND: rand, Expires: expires.UTC(), ks: ks}, nil
}

// Ks returns Ks = CK ‖ IK (TS 33.220 §4.5.2). Only a Store should need it; derive
// NAF-specific keys with KsNAF.
func (b *Bootstrap) Ks() Key { return b.ks }

// Valid reports whether the bootstrap has not expired at now (TS 33.220 §4.5.2: Ks is
// valid for its key lifetime).
func (b *Bootstrap) Valid(now time.Time) bool {
	return b != nil && !b.ks.IsZero() && now.Before(b.Expires)
}

// KsNAF derives the NAF-specific key Ks_NAF for GBA_ME (TS 33.220 §B.3):
// KDF(Ks, FC = 0x01, P0 = "gba-me", P1 = RAND, P2 = IMPI, P3 = NAF_Id) with
// NAF_Id = FQDN ‖ Ua security protocol identifier (TS 33.220 §H.1). The FQDN is used
// octet for octet as the NAF spells it. Ks_NAF expires with Ks (TS 33.220 §4.5.3).
func (b *Bootstrap) KsNAF(fqdn string, uaID UaID) (Key, error) {
	if !uaID.Valid() {
		return Key{}, fmt.Errorf("%w: Ua security protocol identifier exceeds 5 octets", ErrConfig)
	}
	ks, err := gba.NewKey(b.ks.Bytes())
	if err != nil {
		return Key{}, fmt.Errorf("%w: Ks is unset", ErrKeyFormat)
	}
	nafID, err := gba.NewNAFID(fqdn, gba.UaID(uaID))
	if err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	k, err := gba.KsNAF(ks, b.RAND[:], b.IMPI, nafID)
	if err != nil {
		return Key{}, fmt.Errorf("ue: Ks_NAF: %w", err)
	}
	return NewKey(k.Bytes())
}

// String returns the B-TID and the expiry, never Ks.
func (b *Bootstrap) String() string {
	return fmt.Sprintf("bootstrap %s until %s", b.BTID, b.Expires.Format(time.RFC3339))
}

// LogValue shows the B-TID and the expiry; the IMPI (PII) and Ks are left out.
func (b *Bootstrap) LogValue() slog.Value {
	return slog.GroupValue(slog.String("btid", b.BTID), slog.Time("expires", b.Expires))
}
