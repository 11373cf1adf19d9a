package hsssim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/redact"
)

// Errors of the Zh logic (AnswerMAR). They are protocol-neutral; zhResult maps them to
// Diameter results. None carries key material.
var (
	// ErrMissingIdentity reports a MAR with neither User-Name (IMPI) nor Public-Identity
	// (IMPU): TS 29.109 §4.2 Table 4.1 makes each conditional on the absence of the other.
	ErrMissingIdentity = errors.New("hsssim: MAR carries neither User-Name nor Public-Identity")
	// ErrAuthScheme reports a SIP-Authentication-Scheme other than Digest-AKAv1-MD5
	// (TS 29.109 §6.1.2: GBA uses only AKA vectors).
	ErrAuthScheme = errors.New("hsssim: SIP-Authentication-Scheme not supported")
	// ErrResyncData reports a SIP-Authorization that is not RAND ‖ AUTS (30 octets,
	// TS 33.220 §4.5.2, TS 33.102 §6.3.3).
	ErrResyncData = errors.New("hsssim: malformed resynchronisation data")
	// ErrResyncMAC reports an AUTS whose MAC-S does not verify (TS 33.102 §6.3.5): SQN_HE
	// is left unchanged.
	ErrResyncMAC = errors.New("hsssim: resynchronisation rejected: MAC-S does not verify")
	// ErrAmbiguousIMPU reports a Public-Identity provisioned for more than one IMPI, so
	// that the HSS cannot tell whose vector to make.
	ErrAmbiguousIMPU = errors.New("hsssim: IMPU belongs to more than one IMPI")
)

// HSSOptions are the dependencies of NewHSS.
type HSSOptions struct {
	// Store holds the subscribers and their SQN state.
	Store Store
	// OriginHost and OriginRealm identify the HSS in its answers (RFC 6733 §6.3, §6.4).
	OriginHost, OriginRealm string
	// Rand is the source of every RAND (TS 33.102 §6.3.2); nil means crypto/rand. A
	// reader other than crypto/rand is read under a lock, so it need not be safe for
	// concurrent use (tests pass a fixed reader).
	Rand io.Reader
}

// HSS is the logic of the Zh reference point (TS 29.109 §4.2, §6.1): it turns a
// Multimedia-Auth-Request into a Multimedia-Auth-Answer from the Store. It has no
// transport; ZhServer puts it on Diameter. It is safe for concurrent use: SQN updates of
// one IMPI are ordered by the Store, requests of different IMPIs run in parallel.
type HSS struct {
	store Store
	// guss reads the GUSS of a Store whose NextSQN does not return it; nil for the
	// backends of this package.
	guss        gussFunc
	host, realm string
	rand        io.Reader
}

// NewHSS checks opts and returns the HSS.
func NewHSS(opts HSSOptions) (*HSS, error) {
	if opts.Store == nil {
		return nil, errors.New("hsssim: zh: nil store")
	}
	if err := validateDiameterIdentity("diameter.origin_host", opts.OriginHost); err != nil {
		return nil, err
	}
	if err := validateDiameterIdentity("diameter.origin_realm", opts.OriginRealm); err != nil {
		return nil, err
	}
	r := opts.Rand
	if r == nil {
		r = rand.Reader
	} else {
		r = &lockedReader{r: r}
	}
	return &HSS{store: opts.Store, guss: newGUSSFunc(opts.Store), host: opts.OriginHost, realm: opts.OriginRealm, rand: r}, nil
}

// lockedReader serialises reads of a reader that is not safe for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// zhAuth is the outcome of a successful MAR.
type zhAuth struct {
	redact.Fields // av holds CK, IK and XRES
	impi          string
	resolved      bool // the IMPI was found from the Public-Identity
	av            aka.AV
	guss          []byte
}

// AnswerMAR answers one Zh Multimedia-Auth-Request (TS 29.109 §4.2, §6.1.1, §6.1.2). It
// does no I/O besides the Store, so tests call it without sockets (the NewMAA pattern of
// magma's test HSS). Outcomes the protocol defines come back as an MAA:
//
//   - success (2001): one AV made with Milenage (TS 33.102 §6.3.2) from the next SQN of
//     Store.NextSQN and a RAND from the injected reader, in SIP-Auth-Data-Item with
//     SIP-Authentication-Scheme Digest-AKAv1-MD5, SIP-Authenticate = RAND ‖ AUTN,
//     SIP-Authorization = XRES, Confidentiality-Key = CK, Integrity-Key = IK
//     (TS 29.109 §6.1.2); GBA-UserSecSettings (TS 29.109 Annex A) unless the MAR's
//     GUSS-Timestamp is not older than the stored GUSS (TS 29.109 §4.2 Table 4.1);
//     User-Name = the IMPI when the request named the user by Public-Identity only
//     (TS 29.109 §4.2 Table 4.2);
//   - resynchronisation: a SIP-Authorization of RAND ‖ AUTS (TS 33.220 §4.5.2) is checked
//     with MAC-S (TS 33.102 §6.3.5); when it verifies SQN_HE is reset from SQN_MS
//     (Store.Resync) and the answer carries a fresh AV from the next SQN;
//   - errors: see zhResult.
//
// The error return is for failures no answer describes (the store or the RAND source
// failed, ctx ended); the transport answers them DIAMETER_UNABLE_TO_COMPLY.
func (h *HSS) AnswerMAR(ctx context.Context, mar *diameter.MAR) (*diameter.MAA, error) {
	if mar == nil {
		return nil, errors.New("hsssim: zh: nil MAR")
	}
	maa := &diameter.MAA{
		HeaderIDs:   mar.HeaderIDs,
		SessionID:   mar.SessionID,
		OriginHost:  h.host,
		OriginRealm: h.realm,
	}
	res, err := h.authenticate(ctx, mar)
	if err != nil {
		r, failed, ok := zhResult(err, mar)
		if !ok {
			return nil, err
		}
		if r.Experimental {
			maa.ExperimentalResult = &diameter.ExperimentalResult{VendorID: r.VendorID, ExperimentalResultCode: r.Code}
		} else {
			maa.ResultCode = r.Code
		}
		maa.FailedAVP = failed
		return maa, nil
	}
	item, err := diameter.NewAKAAuthDataItem(diameter.AKAVector{
		RAND: res.av.RAND[:], AUTN: res.av.AUTN[:], XRES: res.av.XRES[:], CK: res.av.CK[:], IK: res.av.IK[:],
	})
	if err != nil {
		return nil, fmt.Errorf("hsssim: zh: %w", err)
	}
	maa.ResultCode = diameter.ResultSuccess
	maa.SIPAuthDataItem = item
	maa.GUSS = res.guss
	if res.resolved {
		maa.IMPI = res.impi
	}
	return maa, nil
}

// authenticate runs the MAR procedure and returns the AV, or a domain error.
func (h *HSS) authenticate(ctx context.Context, mar *diameter.MAR) (*zhAuth, error) {
	impi, resolved, err := h.resolveIMPI(ctx, mar)
	if err != nil {
		return nil, err
	}
	var resyncRAND, auts []byte
	if it := mar.SIPAuthDataItem; it != nil {
		// TS 29.109 §6.1.2: GBA vectors are Digest-AKAv1-MD5; an absent scheme is accepted
		// (specs/decisions.md DM.3).
		if it.AuthenticationScheme != "" && it.AuthenticationScheme != diameter.SchemeAKAv1MD5 {
			return nil, fmt.Errorf("%w: %q", ErrAuthScheme, it.AuthenticationScheme)
		}
		if len(it.Authorization) > 0 {
			if resyncRAND, auts, err = it.Resync(); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrResyncData, err)
			}
		}
	}
	// With a Store of another package the GUSS is read before NextSQN, so that a failing
	// read consumes no SQN; the backends of this package return it from NextSQN.
	var (
		doc    string
		gussTS time.Time
	)
	if h.guss != nil {
		if doc, gussTS, err = h.guss(ctx, impi); err != nil {
			return nil, err
		}
	}
	if auts != nil {
		sub, err := h.store.Get(ctx, impi)
		if err != nil {
			return nil, err
		}
		// TS 33.102 §6.3.5: recover SQN_MS with AK* and verify MAC-S before touching SQN_HE.
		sqnMS, err := aka.VerifyAUTS(aka.Key(sub.K), aka.Key(sub.OPc), resyncRAND, auts)
		switch {
		case errors.Is(err, aka.ErrResyncMACFailure):
			return nil, fmt.Errorf("%w: %w", ErrResyncMAC, err)
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrResyncData, err)
		}
		if err := h.store.Resync(ctx, impi, uint64(sqnMS)); err != nil {
			return nil, err
		}
	}
	ad, err := h.store.NextSQN(ctx, impi)
	if err != nil {
		return nil, err
	}
	if h.guss == nil {
		doc, gussTS = ad.GUSS, ad.GUSSTimestamp
	}
	challenge, err := aka.NewRAND(h.rand)
	if err != nil {
		return nil, fmt.Errorf("hsssim: zh: %w", err)
	}
	av, err := aka.GenerateAV(aka.Key(ad.K), aka.Key(ad.OPc), challenge, aka.SQN(ad.SQN), aka.AMF(uint16(ad.AMF[0])<<8|uint16(ad.AMF[1])))
	if err != nil {
		return nil, fmt.Errorf("hsssim: zh: %w", err)
	}
	res := &zhAuth{impi: impi, resolved: resolved, av: av}
	if (&Subscriber{GUSS: doc, GUSSTimestamp: gussTS}).GUSSNewerThan(mar.GUSSTimestamp) {
		res.guss = []byte(doc)
	}
	return res, nil
}

// resolveIMPI returns the IMPI the MAR is about: User-Name when present, else the single
// subscriber that has the Public-Identity among its IMPUs (TS 29.109 §4.2 Table 4.1: the
// BSF sends one of the two; with both, the private identity is used).
func (h *HSS) resolveIMPI(ctx context.Context, mar *diameter.MAR) (impi string, resolved bool, err error) {
	if mar.IMPI != "" {
		return mar.IMPI, false, nil
	}
	if mar.IMPU == "" {
		return "", false, ErrMissingIdentity
	}
	impis, err := lookupIMPU(ctx, h.store, mar.IMPU, 2)
	switch {
	case err != nil:
		return "", false, err
	case len(impis) == 0:
		return "", false, fmt.Errorf("%w: no subscriber has the IMPU", ErrUnknownIMPI)
	case len(impis) > 1:
		return "", false, ErrAmbiguousIMPU
	}
	return impis[0], true, nil
}

// zhResult maps a domain error of the Zh logic to its Diameter result and Failed-AVP, the
// one error mapping of the Zh edge. ok is false for errors no answer describes (the caller
// answers DIAMETER_UNABLE_TO_COMPLY through the transport).
//
//	ErrUnknownIMPI      Experimental-Result 5401 (vendor 10415), TS 29.109 §6.2.2.1
//	ErrAuthScheme       Experimental-Result 5006 (vendor 10415), TS 29.229 §6.2.2.6
//	ErrMissingIdentity  Result-Code 5005 with Failed-AVP User-Name, RFC 6733 §7.1.5, §7.5
//	ErrResyncData       Result-Code 5004 with Failed-AVP SIP-Auth-Data-Item, RFC 6733 §7.1.5, §7.5
//	ErrResyncMAC        Result-Code 4001 DIAMETER_AUTHENTICATION_REJECTED, RFC 6733 §7.1.4
//	ErrAmbiguousIMPU    Result-Code 5012 DIAMETER_UNABLE_TO_COMPLY, RFC 6733 §7.1.5
//	ErrSQNExhausted     Result-Code 5012 DIAMETER_UNABLE_TO_COMPLY, RFC 6733 §7.1.5
func zhResult(err error, mar *diameter.MAR) (r diameter.Result, failed []*diam.AVP, ok bool) {
	exp := func(code uint32) (diameter.Result, []*diam.AVP, bool) {
		return diameter.Result{Code: code, VendorID: diameter.VendorID3GPP, Experimental: true}, nil, true
	}
	switch {
	case errors.Is(err, ErrUnknownIMPI):
		return exp(diameter.ExpIMPIUnknown)
	case errors.Is(err, ErrAuthScheme):
		return exp(diameter.ExpAuthSchemeNotSupported)
	case errors.Is(err, ErrMissingIdentity):
		// RFC 6733 §7.5: for a missing AVP, an example AVP of the missing code and the
		// minimum length of its type (UTF8String: empty).
		return diameter.Result{Code: diameter.ResultMissingAVP},
			[]*diam.AVP{diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(""))}, true
	case errors.Is(err, ErrResyncData):
		// RFC 6733 §7.5: a copy of the offending AVP. SIP-Authorization holds RAND ‖ AUTS
		// here, which are public (TS 33.102 §6.3.3), not XRES.
		var auth []byte
		if mar != nil && mar.SIPAuthDataItem != nil {
			auth = mar.SIPAuthDataItem.Authorization
		}
		inner := diam.NewAVP(diameter.AVPSIPAuthorization, avp.Mbit|avp.Vbit, diameter.VendorID3GPP, datatype.OctetString(auth))
		return diameter.Result{Code: diameter.ResultInvalidAVPValue},
			[]*diam.AVP{diam.NewAVP(diameter.AVPSIPAuthDataItem, avp.Mbit|avp.Vbit, diameter.VendorID3GPP,
				&diam.GroupedAVP{AVP: []*diam.AVP{inner}})}, true
	case errors.Is(err, ErrResyncMAC):
		return diameter.Result{Code: diameter.ResultAuthenticationRejected}, nil, true
	case errors.Is(err, ErrAmbiguousIMPU), errors.Is(err, ErrSQNExhausted):
		return diameter.Result{Code: diameter.ResultUnableToComply}, nil, true
	}
	return diameter.Result{}, nil, false
}
