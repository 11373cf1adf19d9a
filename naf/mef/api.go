package mef

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/naf"
)

// EnrolmentPath is the enrolment resource, protected by Ua.
const EnrolmentPath = "/m2m/enrolment"

// EnrolmentResponse is the JSON answer to a successful enrolment. The field names are
// agreed with the UE library (ue.Enrol); do not change them. kmr_expires is RFC 3339 in
// UTC, truncated to the second (never later than Key-ExpiryTime).
type EnrolmentResponse struct {
	NodeID     string `json:"node_id"`
	CSEID      string `json:"cse_id,omitempty"`
	INCSEID    string `json:"in_cse_id"`
	MAFID      string `json:"maf_id"`
	KmrID      string `json:"kmr_id"`
	KmrExpires string `json:"kmr_expires"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// Response renders r for the wire.
func (r Result) Response() EnrolmentResponse {
	return EnrolmentResponse{
		NodeID: r.NodeID, CSEID: r.CSEID, INCSEID: r.INCSEID, MAFID: r.MAFID, KmrID: r.KmrID,
		KmrExpires: r.KmrExpires.UTC().Truncate(time.Second).Format(time.RFC3339),
	}
}

// mefStatus maps an enrolment error to the HTTP status of the answer.
func mefStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNoIMPI), errors.Is(err, ErrNotRegistered), errors.Is(err, ErrRegistrationExpired):
		return http.StatusForbidden
	case errors.Is(err, ErrMAFUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrMAFRejected):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// mefReason is the client-facing reason: the sentinel's text, never wrapped details.
func mefReason(err error) string {
	for _, s := range []error{ErrNoIMPI, ErrNotRegistered, ErrRegistrationExpired, ErrMAFUnavailable, ErrMAFRejected} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "mef: internal error"
}

// adminStatus maps a registration error to HTTP.
func adminStatus(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// Register validates r, stamps it and stores it; created reports a new registration. The
// admin API and the CLI both use it.
func Register(ctx context.Context, store Store, r Registration, now time.Time) (Registration, bool, error) {
	if err := r.Validate(); err != nil {
		return Registration{}, false, err
	}
	now = now.UTC()
	r.Created, r.Updated = now, now
	if !r.Expires.IsZero() {
		r.Expires = r.Expires.UTC()
	}
	created, err := store.PutRegistration(ctx, r)
	if err != nil {
		return Registration{}, false, err
	}
	got, err := store.GetRegistration(ctx, r.IMPI)
	if err != nil {
		return Registration{}, false, err
	}
	return got, created, nil
}

// APIConfig configures the MEF HTTP handler.
type APIConfig struct {
	// AdminToken is the bearer token of the admin API (/admin/v1); empty disables it (use
	// the CLI). At least 16 characters.
	AdminToken string
	// RetryAfter is sent with 503 when the MAF is unavailable (default 5 s).
	RetryAfter time.Duration
	// MaxBodyBytes bounds admin request bodies (default 64 KiB).
	MaxBodyBytes int64
	// Logger gets errors of the admin API.
	Logger *slog.Logger
	// Now is the clock for registration time stamps; nil means time.Now.
	Now func() time.Time
}

// NewHandler serves the MEF over HTTP (gin):
//
//	POST   /m2m/enrolment                      Ua (HTTP Digest, TS 24.109 §5.2) → 200
//	                                           {node_id, cse_id?, in_cse_id, maf_id, kmr_id, kmr_expires}
//	PUT    /admin/v1/registrations/{impi}      {subscription_id, node_id?, cse_id?, expires?} → 201/200
//	GET    /admin/v1/registrations[/{impi}]
//	DELETE /admin/v1/registrations/{impi}      → 204
//	GET    /admin/v1/enrolments[/{impi}]
//
// The admin routes need "Authorization: Bearer <admin token>" (constant-time compare).
// Errors are {"error": "…", "field": "…"}: 403 when the IMPI may not enrol (reason given),
// 503 with Retry-After when the MAF is unavailable, 502 when it refused the Kmr.
func NewHandler(m *MEF, ua *naf.Authenticator, cfg APIConfig) (http.Handler, error) {
	if m == nil || ua == nil {
		return nil, errors.New("mef: api: nil MEF or authenticator")
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < 16 {
		return nil, errors.New("mef: api: admin token must be at least 16 characters")
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handler{m: m, cfg: cfg, tokenHash: sha256.Sum256([]byte(cfg.AdminToken))}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(gin.CustomRecovery(func(c *gin.Context, _ any) {
		fail(c, http.StatusInternalServerError, "mef: internal error", "")
	}))
	e.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "no such resource", "") })
	e.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "method not allowed", "") })
	e.POST(EnrolmentPath, ua.Gin(), h.enrol)
	if cfg.AdminToken != "" {
		g := e.Group("/admin/v1", h.auth)
		g.PUT("/registrations/:impi", h.putRegistration)
		g.GET("/registrations", h.listRegistrations)
		g.GET("/registrations/:impi", h.getRegistration)
		g.DELETE("/registrations/:impi", h.deleteRegistration)
		g.GET("/enrolments", h.listEnrolments)
		g.GET("/enrolments/:impi", h.getEnrolment)
	}
	return e, nil
}

type handler struct {
	m         *MEF
	cfg       APIConfig
	tokenHash [sha256.Size]byte
}

func fail(c *gin.Context, status int, reason, field string) {
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, ErrorResponse{Error: reason, Field: field})
}

func (h *handler) enrol(c *gin.Context) {
	ctx := c.Request.Context()
	s, ok := naf.SessionFrom(ctx)
	k, kok := naf.KsNAFFrom(ctx)
	if !ok || !kok {
		fail(c, http.StatusInternalServerError, "mef: internal error", "")
		return
	}
	res, err := h.m.Enrol(ctx, s, k)
	if err != nil {
		st := mefStatus(err)
		if st == http.StatusServiceUnavailable {
			c.Header("Retry-After", retryAfter(h.cfg.RetryAfter))
		}
		fail(c, st, mefReason(err), "")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, res.Response())
}

func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

func (h *handler) auth(c *gin.Context) {
	a := c.GetHeader("Authorization")
	const p = "Bearer "
	ok := len(a) > len(p) && strings.EqualFold(a[:len(p)], p)
	if ok {
		got := sha256.Sum256([]byte(strings.TrimSpace(a[len(p):])))
		ok = subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) == 1
	}
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="mef-admin"`)
		fail(c, http.StatusUnauthorized, "admin bearer token required", "")
		return
	}
	c.Next()
}

func (h *handler) failErr(c *gin.Context, err error) {
	st := adminStatus(err)
	if st == http.StatusInternalServerError {
		h.cfg.Logger.LogAttrs(c.Request.Context(), slog.LevelError, "mef admin request failed", slog.String("error", err.Error()))
		fail(c, st, "mef: internal error", "")
		return
	}
	fail(c, st, err.Error(), "")
}

// RegistrationRequest is the body of PUT /admin/v1/registrations/{impi}.
type RegistrationRequest struct {
	SubscriptionID string    `json:"subscription_id"`
	NodeID         string    `json:"node_id,omitempty"`
	CSEID          string    `json:"cse_id,omitempty"`
	Expires        time.Time `json:"expires,omitzero"`
}

func (h *handler) putRegistration(c *gin.Context) {
	var req RegistrationRequest
	dec := json.NewDecoder(io.LimitReader(c.Request.Body, h.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(c, http.StatusBadRequest, "body must be JSON {subscription_id, node_id?, cse_id?, expires?}", "")
		return
	}
	r, created, err := Register(c.Request.Context(), h.m.store, Registration{
		IMPI: c.Param("impi"), SubscriptionID: req.SubscriptionID, NodeID: req.NodeID, CSEID: req.CSEID, Expires: req.Expires,
	}, h.cfg.Now())
	if err != nil {
		h.failErr(c, err)
		return
	}
	st := http.StatusOK
	if created {
		st = http.StatusCreated
	}
	c.JSON(st, r)
}

func (h *handler) getRegistration(c *gin.Context) {
	r, err := h.m.store.GetRegistration(c.Request.Context(), c.Param("impi"))
	if err != nil {
		h.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (h *handler) listRegistrations(c *gin.Context) {
	rs, err := h.m.store.ListRegistrations(c.Request.Context())
	if err != nil {
		h.failErr(c, err)
		return
	}
	if rs == nil {
		rs = []Registration{}
	}
	c.JSON(http.StatusOK, gin.H{"registrations": rs})
}

func (h *handler) deleteRegistration(c *gin.Context) {
	if err := h.m.store.DeleteRegistration(c.Request.Context(), c.Param("impi")); err != nil {
		h.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *handler) getEnrolment(c *gin.Context) {
	e, err := h.m.store.GetEnrolment(c.Request.Context(), c.Param("impi"))
	if err != nil {
		h.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, e)
}

func (h *handler) listEnrolments(c *gin.Context) {
	es, err := h.m.store.ListEnrolments(c.Request.Context())
	if err != nil {
		h.failErr(c, err)
		return
	}
	if es == nil {
		es = []Enrolment{}
	}
	c.JSON(http.StatusOK, gin.H{"enrolments": es})
}
