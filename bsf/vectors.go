package bsf

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/opengba/opengba/internal/redact"
)

// AKA sizes, TS 33.102 §6.3.2 and RFC 3310 §3.4.
const (
	RANDSize   = 16
	AUTNSize   = 16
	AUTSSize   = 14
	CKSize     = 16
	IKSize     = 16
	minXRES    = 4  // 32 bits, TS 33.102 §6.3.2
	maxXRES    = 16 // 128 bits
	redacted   = redact.Text
	maxIMPILen = 255
)

// VectorSource is the Zh port: it fetches one authentication vector and, when it changed,
// the subscriber's GUSS from the HSS (TS 29.109 §4.2, Multimedia-Auth-Request/Answer). The
// Zh client implements it; tests use a fake. FetchAV must honour ctx (the BSF gives it the
// configured Zh timeout) and map HSS answers onto ErrIMPIUnknown (5401, also Cx 5001),
// ErrResyncFailed (resynchronisation refused) and ErrHSSUnavailable (no peer, timeout,
// DIAMETER_TOO_BUSY, DIAMETER_UNABLE_TO_DELIVER); any other error becomes a 500 on Ub.
type VectorSource interface {
	FetchAV(ctx context.Context, req AVRequest) (AVResponse, error)
	// Ready reports whether at least one HSS peer is up (drives /readyz).
	Ready() bool
}

// AVRequest is what the BSF asks the HSS for (the MAR of TS 29.109 §4.2.2).
type AVRequest struct {
	// IMPI is the User-Name.
	IMPI string
	// Resync, when set, asks for resynchronisation: SIP-Auth-Data-Item/SIP-Authorization =
	// RAND || AUTS (TS 29.109 §4.2.2, TS 33.102 §6.3.5).
	Resync *ResyncInfo
	// GUSSTimestamp is the timestamp of the GUSS the BSF holds for IMPI (zero: none); the HSS
	// then sends the GUSS only when it is newer (TS 29.109 §6.3.1.9).
	GUSSTimestamp time.Time
}

// ResyncInfo carries the RAND of the rejected challenge and the AUTS the UE returned,
// RFC 3310 §3.4 and TS 33.102 §6.3.5.
type ResyncInfo struct {
	RAND [RANDSize]byte
	AUTS [AUTSSize]byte
}

// AVResponse is the HSS answer (the MAA of TS 29.109 §4.2.2): one AV (TS 33.102 §6.3.2)
// and, when the HSS sent it, the GUSS with its timestamp. XRES, CK and IK are secrets:
// AVResponse prints them as REDACTED under fmt and slog.
type AVResponse struct {
	RAND [RANDSize]byte
	AUTN [AUTNSize]byte
	XRES []byte // 4 to 16 octets
	CK   [CKSize]byte
	IK   [IKSize]byte
	// GUSS is the GBA-UserSecSettings document (TS 29.109 Annex A), nil when the HSS sent
	// none because the BSF's copy (AVRequest.GUSSTimestamp) is current.
	GUSS []byte
	// GUSSTimestamp is the time the GUSS last changed (zero when GUSS is nil).
	GUSSTimestamp time.Time
}

func (r AVResponse) validate() error {
	if len(r.XRES) < minXRES || len(r.XRES) > maxXRES {
		return fmt.Errorf("bsf: zh: XRES is %d octets, want %d to %d", len(r.XRES), minXRES, maxXRES)
	}
	return nil
}

func (r AVResponse) redactedString() string {
	return fmt.Sprintf("AVResponse{RAND:%x AUTN:%x XRES:%s CK:%s IK:%s GUSS:%d octets GUSSTimestamp:%s}",
		r.RAND, r.AUTN, redacted, redacted, redacted, len(r.GUSS), r.GUSSTimestamp.Format(time.RFC3339))
}

// String shows RAND and AUTN and hides XRES, CK and IK.
func (r AVResponse) String() string { return r.redactedString() }

// GoString is String (for %#v).
func (r AVResponse) GoString() string { return r.redactedString() }

// Format prints String under every verb.
func (r AVResponse) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.redactedString()) }

// LogValue shows RAND and AUTN and hides XRES, CK and IK.
func (r AVResponse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("rand", fmt.Sprintf("%x", r.RAND)),
		slog.String("autn", fmt.Sprintf("%x", r.AUTN)),
		slog.String("xres", redacted), slog.String("ck", redacted), slog.String("ik", redacted),
		slog.Int("guss_octets", len(r.GUSS)),
	)
}
