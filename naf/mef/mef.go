// Package mef implements the oneM2M M2M Enrolment Function on the GBA NAF (GBA-DIGEST §0:
// the MEF acts as NAF, Kmr = Ks_NAF, Kmr-ID = B-TID), provisioning each Kmr to the MAF.
package mef

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/maf"
)

// Enrolment errors, mapped to HTTP by mefStatus.
var (
	// ErrNoIMPI: the BSF did not return the subscriber's IMPI over Zn (User-Name, TS 29.109
	// §6.2.2), so the MEF cannot tell which subscription enrols.
	ErrNoIMPI = errors.New("mef: the BSF did not provide the IMPI; enrolment needs it")
	// ErrNotRegistered: the IMPI is not registered for M2M enrolment (and open enrolment is
	// off).
	ErrNotRegistered = errors.New("mef: IMPI not registered for M2M enrolment")
	// ErrRegistrationExpired: the IMPI's registration has expired.
	ErrRegistrationExpired = errors.New("mef: registration expired")
	// ErrMAFUnavailable: the MAF could not be provisioned (unreachable, timeout, 5xx).
	ErrMAFUnavailable = errors.New("mef: MAF unavailable; Kmr not provisioned")
	// ErrMAFRejected: the MAF refused the provisioning request.
	ErrMAFRejected = errors.New("mef: MAF rejected the Kmr provisioning")
	// ErrNoSession: the handler ran without an authenticated Ua session (wiring error).
	ErrNoSession = errors.New("mef: no authenticated Ua session")
	// ErrStore: the MEF store failed.
	ErrStore = errors.New("mef: store failure")
)

// MAF is where the MEF provisions Kmr: *maf.Client over HTTP, or *maf.MAF in-process.
// Revoke returns maf.ErrNotFound when the Kmr-ID is unknown.
type MAF interface {
	Provision(ctx context.Context, e maf.Entry) error
	Revoke(ctx context.Context, kmrID string) error
}

// Config configures a MEF.
type Config struct {
	// SPID is the M2M Service Provider's domain (M2M-SP-ID without "//"), used in
	// generated Node-IDs.
	SPID string
	// INCSEID is the SP-relative CSE-ID of the IN-CSE ("/<id>"), returned to devices.
	INCSEID string
	// MAFID is the MAF's FQDN (MAF-ID, oneM2M TS-0003 Annex A: NAF FQDN → MAF-ID).
	MAFID string
	// OpenEnrolment lets any IMPI the BSF vouches for enrol (labs): its Node-ID is
	// generated and it gets no CSE-ID. Off by default.
	OpenEnrolment bool
	// NodeIDKey, if set, keys the hash in generated Node-IDs (HMAC-SHA-256), so that a
	// Node-ID does not let anyone confirm a guessed IMPI. Keep it stable: changing it
	// changes every generated Node-ID.
	NodeIDKey []byte
	// Metrics, if set, counts enrolments and MAF provisioning outcomes.
	Metrics *Metrics
	// Logger gets one record per enrolment (B-TID, Node-ID; IMPI at debug only; never
	// keys). nil: no logging.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MEF is the enrolment logic: policy (registrations), Node-ID assignment, MAF
// provisioning and the enrolment record.
type MEF struct {
	cfg   Config
	store Store
	maf   MAF
	log   *slog.Logger
	now   func() time.Time
	seed  maphash.Seed
	locks [64]sync.Mutex
}

// New validates cfg and builds a MEF.
func New(cfg Config, store Store, m MAF) (*MEF, error) {
	if store == nil || m == nil {
		return nil, errors.New("mef: nil store or MAF")
	}
	if err := gbaHostname("spid", cfg.SPID); err != nil {
		return nil, err
	}
	if err := ValidateCSEID("in_cse_id", cfg.INCSEID); err != nil {
		return nil, err
	}
	if err := gbaHostname("maf_id", cfg.MAFID); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	cfg.NodeIDKey = append([]byte(nil), cfg.NodeIDKey...)
	return &MEF{cfg: cfg, store: store, maf: m, log: log, now: now, seed: maphash.MakeSeed()}, nil
}

// gbaHostname validates an FQDN with the host name rules of internal/gba.
func gbaHostname(field, s string) error {
	if _, err := gba.NewNAFID(s, gba.UaIDHTTPDigest); err != nil {
		return fmt.Errorf("mef: config: %s must be a host name", field)
	}
	return nil
}

// NodeIDPrefix starts every generated Node-ID.
const NodeIDPrefix = "urn:oneM2M:node:"

// NodeID returns the Node-ID generated for an IMPI without a static assignment:
//
//	urn:oneM2M:node:<sp-id>:<32 lowercase hex digits>
//
// where the digits are the first 16 octets of SHA-256("opengba-node-id" 0x00 sp-id 0x00
// IMPI), or of HMAC-SHA-256(NodeIDKey, sp-id 0x00 IMPI) when a NodeIDKey is configured.
// It is stable for a given (SP-ID, IMPI, key). Note: "urn:oneM2M:node" is an OpenGBA
// convention, not a registered URN namespace; oneM2M leaves M2M-Node-ID assignment to the
// service provider.
func (m *MEF) NodeID(impi string) string {
	var sum []byte
	if len(m.cfg.NodeIDKey) > 0 {
		h := hmac.New(sha256.New, m.cfg.NodeIDKey)
		h.Write([]byte(m.cfg.SPID + "\x00" + impi))
		sum = h.Sum(nil)
	} else {
		s := sha256.Sum256([]byte("opengba-node-id\x00" + m.cfg.SPID + "\x00" + impi))
		sum = s[:]
	}
	return NodeIDPrefix + m.cfg.SPID + ":" + hex.EncodeToString(sum[:16])
}

// Result is what a successful enrolment gives the device (GBA-DIGEST §0). The Kmr is not
// in it: the device derived the same Ks_NAF itself.
type Result struct {
	NodeID     string
	CSEID      string // "" when the device hosts no CSE
	INCSEID    string
	MAFID      string
	KmrID      string // = B-TID
	KmrExpires time.Time
}

// Enrol enrols the device behind an authenticated Ua session: it checks the IMPI's
// registration, assigns the Node-ID, provisions {Node-ID, Kmr-ID, Kmr, expiry} to the MAF
// and records the enrolment. Kmr = Ks_NAF, Kmr-ID = B-TID, Kmr expiry = Key-ExpiryTime
// (GBA-DIGEST §0).
//
// Order: provision the MAF, then commit the record; if the commit fails the new Kmr is
// revoked at the MAF (best effort) and the enrolment fails. When the MAF cannot be
// provisioned nothing is written. After a commit, a previous Kmr of the IMPI with another
// Kmr-ID is revoked at the MAF (the MAF also drops it when it gets the new Kmr of the same
// Node-ID); a failure there is logged, not returned.
func (m *MEF) Enrol(ctx context.Context, s naf.Session, kmr gba.Key) (Result, error) {
	if kmr.IsZero() || s.Expires.IsZero() {
		return Result{}, ErrNoSession
	}
	if s.IMPI == "" {
		m.cfg.Metrics.enrolment("no_impi")
		return Result{}, ErrNoIMPI
	}
	impi := s.IMPI
	mu := &m.locks[maphash.String(m.seed, impi)%uint64(len(m.locks))]
	mu.Lock()
	defer mu.Unlock()

	now := m.now()
	reg, err := m.store.GetRegistration(ctx, impi)
	switch {
	case errors.Is(err, ErrNotFound) && m.cfg.OpenEnrolment:
		reg = Registration{IMPI: impi}
	case errors.Is(err, ErrNotFound):
		m.cfg.Metrics.enrolment("not_registered")
		return Result{}, ErrNotRegistered
	case err != nil:
		m.cfg.Metrics.enrolment("error")
		return Result{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	if !reg.Expires.IsZero() && !now.Before(reg.Expires) {
		m.cfg.Metrics.enrolment("not_registered")
		return Result{}, ErrRegistrationExpired
	}
	nodeID := reg.NodeID
	if nodeID == "" {
		nodeID = m.NodeID(impi)
	}
	prev, err := m.store.GetEnrolment(ctx, impi)
	hasPrev := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		m.cfg.Metrics.enrolment("error")
		return Result{}, fmt.Errorf("%w: %w", ErrStore, err)
	}

	kmrID := s.BTID.String()
	if err := m.maf.Provision(ctx, maf.Entry{KmrID: kmrID, NodeID: nodeID, Kmr: kmr, Expires: s.Expires}); err != nil {
		err = mafErr(err)
		m.cfg.Metrics.provisioning("provision", err)
		m.cfg.Metrics.enrolment(outcome(err))
		m.log.LogAttrs(ctx, slog.LevelWarn, "mef: MAF provisioning failed", slog.String("if", "mef"),
			slog.String("btid", kmrID), slog.String("node_id", nodeID), slog.String("error", err.Error()))
		return Result{}, err
	}
	m.cfg.Metrics.provisioning("provision", nil)

	rec := Enrolment{
		IMPI: impi, NodeID: nodeID, SubscriptionID: reg.SubscriptionID, CSEID: reg.CSEID,
		KmrID: kmrID, KmrExpires: s.Expires.UTC(), Created: now.UTC(), Updated: now.UTC(),
	}
	if err := m.store.PutEnrolment(ctx, rec); err != nil {
		// Compensate: the MAF must not keep a Kmr the MEF has no record of.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		rerr := m.maf.Revoke(rctx, kmrID)
		cancel()
		m.cfg.Metrics.provisioning("revoke", ignoreNotFound(rerr))
		m.cfg.Metrics.enrolment("error")
		m.log.LogAttrs(ctx, slog.LevelError, "mef: enrolment record not committed; new Kmr revoked", slog.String("if", "mef"),
			slog.String("btid", kmrID), slog.String("error", err.Error()), slog.Any("revoke_error", rerr))
		return Result{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	if hasPrev && prev.KmrID != kmrID {
		err := ignoreNotFound(m.maf.Revoke(ctx, prev.KmrID))
		m.cfg.Metrics.provisioning("revoke", err)
		if err != nil {
			m.log.LogAttrs(ctx, slog.LevelWarn, "mef: old Kmr not revoked (it expires at its Key-ExpiryTime)", slog.String("if", "mef"),
				slog.String("old_kmr_id", prev.KmrID), slog.Time("old_expires", prev.KmrExpires), slog.String("error", err.Error()))
		}
	}
	m.cfg.Metrics.enrolment("success")
	m.log.LogAttrs(ctx, slog.LevelInfo, "mef: enrolled", slog.String("if", "mef"), slog.String("btid", kmrID),
		slog.String("node_id", nodeID), slog.Time("kmr_expires", s.Expires), slog.Bool("re_enrolment", hasPrev))
	m.log.LogAttrs(ctx, slog.LevelDebug, "mef: enrolled IMPI", slog.String("btid", kmrID), slog.String("impi", impi))
	return Result{
		NodeID: nodeID, CSEID: reg.CSEID, INCSEID: m.cfg.INCSEID, MAFID: m.cfg.MAFID,
		KmrID: kmrID, KmrExpires: s.Expires,
	}, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, maf.ErrNotFound) {
		return nil
	}
	return err
}

// mafErr classifies a MAF provisioning error.
func mafErr(err error) error {
	if errors.Is(err, maf.ErrRejected) || errors.Is(err, maf.ErrInvalid) {
		return fmt.Errorf("%w: %w", ErrMAFRejected, err)
	}
	return fmt.Errorf("%w: %w", ErrMAFUnavailable, err)
}

// Store returns the store, for the admin API and CLI.
func (m *MEF) Store() Store { return m.store }

// Ping checks the store.
func (m *MEF) Ping(ctx context.Context) error { return m.store.Ping(ctx) }
