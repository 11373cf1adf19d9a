package bsf

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/opengba/opengba/internal/gba"
)

// GBAType is the GBA-Type of a bootstrapping session, TS 29.109 §6.3.1.11 (values as on the
// wire). This BSF runs 3G GBA only.
type GBAType uint8

// GBA types, TS 29.109 §6.3.1.11.
const (
	GBAType3G GBAType = 0 // 3G_GBA
	GBAType2G GBAType = 1 // 2G_GBA
)

// Session is a bootstrapping session, TS 33.220 §4.5.2: the B-TID (which carries RAND), the
// IMPI, Ks = CK || IK and its lifetime, and the GUSS the HSS sent with the AV. Created and
// Expires are kept at one-second resolution (Diameter Time); the BSF truncates them before
// storing. Ks redacts itself; Session prints Ks as REDACTED under fmt and slog.
type Session struct {
	BTID    gba.BTID
	IMPI    string
	Ks      gba.Key
	Created time.Time
	Expires time.Time
	GUSS    []byte // nil when the HSS holds none
	GBAType GBAType
}

// RAND returns the RAND of the session (it is part of the B-TID, TS 33.220 §4.5.2).
func (s Session) RAND() [RANDSize]byte { return s.BTID.RAND }

// Live reports whether the session is still valid at t (TS 33.220 §4.5.3: Ks is valid
// until its lifetime ends).
func (s Session) Live(t time.Time) bool { return t.Before(s.Expires) }

func (s Session) redactedString() string {
	return fmt.Sprintf("Session{BTID:%s Ks:%s Created:%s Expires:%s GUSS:%d octets GBAType:%d}",
		s.BTID, redacted, s.Created.UTC().Format(time.RFC3339), s.Expires.UTC().Format(time.RFC3339), len(s.GUSS), s.GBAType)
}

// String prints the session without Ks or IMPI.
func (s Session) String() string { return s.redactedString() }

// GoString is String.
func (s Session) GoString() string { return s.redactedString() }

// Format prints String under every verb.
func (s Session) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.redactedString()) }

// LogValue logs the B-TID and times, never Ks (nor the IMPI, which is logged only at debug
// level by the caller).
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("btid", s.BTID.String()),
		slog.Time("expires", s.Expires),
	)
}

// Store keeps bootstrapping sessions keyed by B-TID (TS 33.220 §4.5.2). Implementations:
// MemoryStore (tests, one process), SQLiteStore (embedded and durable, the default) and
// RedisStore (shared by several BSF instances; build tag redis until go-redis is in go.mod).
// Implementations are safe for concurrent use. They may keep the GUSS slice they are given
// (callers never modify it).
type Store interface {
	// CreateSession stores s. It returns ErrSessionExists when a live session already holds
	// the B-TID (an expired one is replaced). When it returns nil the session is durable to
	// the degree the backend promises: the BSF sends the 200 only afterwards.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the live session for btid, or ErrSessionNotFound.
	Session(ctx context.Context, btid gba.BTID) (Session, error)
	// Live counts the sessions that have not expired (for the live-sessions gauge).
	Live(ctx context.Context) (int64, error)
	// Sweep deletes expired sessions and returns how many it removed. Backends whose
	// records expire on their own return 0.
	Sweep(ctx context.Context) (int64, error)
	// Close releases the backend.
	Close() error
}

// fromUnix reads a store timestamp (whole seconds since the epoch) as UTC.
func fromUnix(s int64) time.Time { return time.Unix(s, 0).UTC() }
