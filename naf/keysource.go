// Package naf implements the Network Application Function of 3GPP TS 33.220 §4.4.3 with the
// HTTP Digest Ua interface of TS 24.109 §5.2 (a reusable net/http and gin authenticator and a
// Ks_NAF cache in front of Zn).
package naf

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/opengba/opengba/internal/gba"
)

// Errors a KeySource returns (wrapped with %w). Messages never carry key material.
var (
	// ErrBTIDUnknown: the BSF does not know the B-TID or its bootstrapping session has
	// expired (Zn Experimental-Result 5403 DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID,
	// TS 29.109 §6.3.3.3). On Ua the NAF challenges again so the UE bootstraps again
	// (TS 24.109 §5.2.5).
	ErrBTIDUnknown = errors.New("naf: B-TID unknown or expired")
	// ErrNotAuthorized: the BSF refuses this NAF for the subscriber (Zn Experimental-Result
	// 5402 DIAMETER_ERROR_NOT_AUTHORIZED, TS 29.109 §6.3.3.2).
	ErrNotAuthorized = errors.New("naf: BSF does not authorise this NAF for the subscriber")
	// ErrBSFUnavailable: the BSF could not be asked (transport failure, timeout, no peer,
	// DIAMETER_UNABLE_TO_DELIVER/TOO_BUSY). The request may be retried later.
	ErrBSFUnavailable = errors.New("naf: BSF unavailable")
	// ErrInvalidKey: the KeySource answered success with an unusable key (unset Ks_NAF or no
	// Key-ExpiryTime).
	ErrInvalidKey = errors.New("naf: key source returned an unusable key")
)

// GBAType is the bootstrapping run the key comes from, the GBA-Type AVP of TS 29.109
// §6.3.1.11 (0 3G GBA, 1 2G GBA).
type GBAType uint8

// GBA-Type values, TS 29.109 §6.3.1.11.
const (
	GBAType3G GBAType = 0
	GBAType2G GBAType = 1
)

// String returns "3G" or "2G".
func (t GBAType) String() string {
	switch t {
	case GBAType3G:
		return "3G"
	case GBAType2G:
		return "2G"
	}
	return "unknown"
}

// NAFKey is what the BSF hands the NAF over Zn for one (B-TID, NAF_Id): the Bootstrapping-
// Info-Answer of TS 29.109 §6.2.2 (ME-Key-Material, Key-ExpiryTime, User-Name, GBA-
// UserSecSettings, GBA-Type).
type NAFKey struct {
	// KsNAF is Ks_NAF (GBA_ME) or Ks_ext_NAF (GBA_U) from ME-Key-Material, TS 33.220 §4.5.3.
	// gba.Key prints REDACTED under every fmt verb and slog.
	KsNAF gba.Key
	// Expires is Key-ExpiryTime (TS 29.109 §6.2.2): the key is unusable from this instant
	// on. It must be set.
	Expires time.Time
	// IMPI is User-Name when the BSF returns it (TS 29.109 §6.2.2: only when requested with
	// Private-Identity-Request and allowed by BSF policy); "" otherwise. It is personal data.
	IMPI string
	// USS is the GBA-UserSecSettings the BSF returned for this NAF (TS 29.109 §6.3.1.1, XML
	// rooted at ussList), nil when none.
	USS []byte
	// GBAType is the GBA-Type AVP (TS 29.109 §6.3.1.11); 3G when absent.
	GBAType GBAType
}

// LogValue logs the expiry and GBA type only: never the key, the IMPI (personal data) or
// the USS.
func (k NAFKey) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("expires", k.Expires), slog.String("gba_type", k.GBAType.String()))
}

// validAt reports whether k can be used at now: Ks_NAF set, Expires set and later than now
// (TS 33.220 §4.5.3: Ks_NAF expires with Ks).
func (k NAFKey) validAt(now time.Time) bool {
	return !k.KsNAF.IsZero() && !k.Expires.IsZero() && now.Before(k.Expires)
}

// KeySource fetches Ks_NAF for a B-TID and this NAF's NAF_Id: the NAF side of Zn
// (TS 33.220 §4.5.3, TS 29.109 §5.2). The Diameter Zn client implements it; Cache puts a
// cache in front of any KeySource.
//
// btid is the canonical text of a B-TID that gba.ParseBTID accepted (TS 33.220 §4.5.2); its
// realm names the BSF to ask. nafID is the NAF_Id = FQDN || Ua security protocol id
// (TS 33.220 Annex H) sent in the NAF-Id AVP. Errors wrap ErrBTIDUnknown (5403),
// ErrNotAuthorized (5402) or ErrBSFUnavailable; any other error is treated as
// ErrBSFUnavailable-like by callers that cannot tell. Implementations must be safe for
// concurrent use and must never put key material in errors or logs.
type KeySource interface {
	KsNAF(ctx context.Context, btid string, nafID gba.NAFID) (NAFKey, error)
}

// KeySourceFunc adapts a function to KeySource.
type KeySourceFunc func(ctx context.Context, btid string, nafID gba.NAFID) (NAFKey, error)

// KsNAF calls f.
func (f KeySourceFunc) KsNAF(ctx context.Context, btid string, nafID gba.NAFID) (NAFKey, error) {
	return f(ctx, btid, nafID)
}
