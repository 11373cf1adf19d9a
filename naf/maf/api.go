package maf

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/internal/gba"
)

// KeysPath is the one resource of the MAF API.
const KeysPath = "/maf/v1/keys"

// ProvisionRequest is the body of POST /maf/v1/keys (the MEF provisions a Kmr).
type ProvisionRequest struct {
	NodeID  string    `json:"node_id"`
	KmrID   string    `json:"kmr_id"`
	Kmr     string    `json:"kmr"` // standard base64 (padded) of the 32-octet Kmr
	Expires time.Time `json:"expires"`
}

// KeyResponse is the body of GET /maf/v1/keys?kmr_id=… (an IN-CSE looks up a Kmr).
type KeyResponse struct {
	NodeID  string    `json:"node_id"`
	KmrID   string    `json:"kmr_id"`
	Kmr     string    `json:"kmr"` // standard base64 of Kmr: a secret
	Expires time.Time `json:"expires"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// MEFAuth selects how the MEF authenticates to the provisioning API.
type MEFAuth string

// MEF authentication modes.
const (
	MEFAuthToken MEFAuth = "token" // Authorization: Bearer <mef token>
	MEFAuthMTLS  MEFAuth = "mtls"  // a client certificate verified by the TLS listener
)

// APIConfig configures the MAF HTTP API.
type APIConfig struct {
	// MEFAuth is token (default) or mtls.
	MEFAuth MEFAuth
	// MEFToken is the bearer token of the MEF (provision, revoke) when MEFAuth is token.
	MEFToken string
	// MEFClientNames, with mtls, lists the accepted client certificate names (subject CN or
	// DNS SAN); empty accepts any certificate the listener verified.
	MEFClientNames []string
	// CSEToken is the bearer token of IN-CSEs allowed to look keys up. Required.
	CSEToken string
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64
	// Logger gets one record per request (Kmr-ID and Node-ID only at debug; never keys).
	Logger *slog.Logger
}

// API serves the MAF over HTTP (JSON, gin):
//
//	POST   /maf/v1/keys             MEF: provision {node_id, kmr_id, kmr, expires} → 201
//	DELETE /maf/v1/keys?kmr_id=…    MEF: revoke → 204, 404 when unknown
//	GET    /maf/v1/keys?kmr_id=…    IN-CSE: {node_id, kmr_id, kmr, expires} → 200,
//	                                404 unknown, 410 expired
//
// Kmr-IDs are B-TIDs, which contain '/', '+' and '=': they travel in the JSON body or the
// kmr_id query parameter, never in a path segment. The GET answer is the only place a key
// leaves the MAF (base64, Cache-Control: no-store); serve it over TLS. Tokens are compared
// in constant time; the MEF and IN-CSE tokens are separate, so an IN-CSE cannot provision
// and the MEF cannot read keys back.
type API struct {
	maf      *MAF
	cfg      APIConfig
	mefHash  [sha256.Size]byte
	cseHash  [sha256.Size]byte
	names    map[string]bool
	log      *slog.Logger
	engine   *gin.Engine
	maxBytes int64
}

// NewAPI builds the API for m.
func NewAPI(m *MAF, cfg APIConfig) (*API, error) {
	if m == nil {
		return nil, errors.New("maf: api: nil MAF")
	}
	switch cfg.MEFAuth {
	case "", MEFAuthToken:
		cfg.MEFAuth = MEFAuthToken
		if len(cfg.MEFToken) < 16 {
			return nil, errors.New("maf: api: MEF token must be at least 16 characters")
		}
	case MEFAuthMTLS:
	default:
		return nil, fmt.Errorf("maf: api: MEF auth %q (want token or mtls)", cfg.MEFAuth)
	}
	if len(cfg.CSEToken) < 16 {
		return nil, errors.New("maf: api: IN-CSE token must be at least 16 characters")
	}
	if cfg.MEFToken != "" && cfg.MEFToken == cfg.CSEToken {
		return nil, errors.New("maf: api: the MEF and IN-CSE tokens must differ")
	}
	a := &API{maf: m, cfg: cfg, log: cfg.Logger, maxBytes: cfg.MaxBodyBytes, names: map[string]bool{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBytes <= 0 {
		a.maxBytes = 64 << 10
	}
	a.mefHash = sha256.Sum256([]byte(cfg.MEFToken))
	a.cseHash = sha256.Sum256([]byte(cfg.CSEToken))
	for _, n := range cfg.MEFClientNames {
		a.names[n] = true
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(gin.CustomRecovery(func(c *gin.Context, _ any) {
		fail(c, http.StatusInternalServerError, "internal error")
	}))
	e.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "no such resource") })
	e.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "method not allowed") })
	e.POST(KeysPath, a.authMEF, a.provision)
	e.DELETE(KeysPath, a.authMEF, a.revoke)
	e.GET(KeysPath, a.authCSE, a.lookup)
	a.engine = e
	return a, nil
}

// Handler returns the HTTP handler.
func (a *API) Handler() http.Handler { return a.engine }

func fail(c *gin.Context, status int, reason string) {
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, ErrorResponse{Error: reason})
}

// bearer compares the request's bearer token with want (a SHA-256) in constant time.
func bearer(r *http.Request, want [sha256.Size]byte) bool {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(h[len(p):])))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func (a *API) authMEF(c *gin.Context) {
	switch a.cfg.MEFAuth {
	case MEFAuthMTLS:
		tls := c.Request.TLS
		if tls == nil || len(tls.VerifiedChains) == 0 {
			c.Header("WWW-Authenticate", `Bearer realm="maf"`)
			fail(c, http.StatusUnauthorized, "a verified client certificate is required")
			return
		}
		if len(a.names) > 0 {
			cert := tls.VerifiedChains[0][0]
			ok := a.names[cert.Subject.CommonName]
			for _, n := range cert.DNSNames {
				ok = ok || a.names[n]
			}
			if !ok {
				fail(c, http.StatusForbidden, "client certificate not allowed to provision")
				return
			}
		}
	default:
		if !bearer(c.Request, a.mefHash) {
			c.Header("WWW-Authenticate", `Bearer realm="maf"`)
			fail(c, http.StatusUnauthorized, "MEF bearer token required")
			return
		}
	}
	c.Next()
}

func (a *API) authCSE(c *gin.Context) {
	if !bearer(c.Request, a.cseHash) {
		c.Header("WWW-Authenticate", `Bearer realm="maf"`)
		fail(c, http.StatusUnauthorized, "IN-CSE bearer token required")
		return
	}
	c.Next()
}

func status(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExpired):
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

func (a *API) failErr(c *gin.Context, err error) {
	st := status(err)
	reason := err.Error()
	if st == http.StatusInternalServerError {
		a.log.LogAttrs(c.Request.Context(), slog.LevelError, "maf request failed", slog.String("error", err.Error()))
		reason = "internal error"
	}
	fail(c, st, reason)
}

func (a *API) provision(c *gin.Context) {
	var req ProvisionRequest
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, a.maxBytes))
	if err != nil || decodeStrict(string(body), &req) != nil {
		fail(c, http.StatusBadRequest, "body must be JSON {node_id, kmr_id, kmr, expires}")
		return
	}
	clear(body)
	raw, err := base64.StdEncoding.Strict().DecodeString(req.Kmr)
	if err != nil || len(raw) != gba.KeySize {
		clear(raw)
		fail(c, http.StatusBadRequest, fmt.Sprintf("maf: invalid request: kmr must be base64 of %d octets", gba.KeySize))
		return
	}
	k, _ := gba.NewKey(raw)
	clear(raw)
	if err := a.maf.Provision(c.Request.Context(), Entry{KmrID: req.KmrID, NodeID: req.NodeID, Kmr: k, Expires: req.Expires}); err != nil {
		a.failErr(c, err)
		return
	}
	a.log.LogAttrs(c.Request.Context(), slog.LevelDebug, "kmr provisioned", slog.String("kmr_id", req.KmrID), slog.String("node_id", req.NodeID))
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, gin.H{"kmr_id": req.KmrID, "node_id": req.NodeID, "expires": req.Expires.UTC()})
}

// decodeStrict decodes exactly one JSON object with no unknown fields and nothing after it.
func decodeStrict(body string, v any) error {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("maf: trailing data after the JSON object")
	}
	return nil
}

func queryKmrID(c *gin.Context) (string, bool) {
	ids := c.Request.URL.Query()["kmr_id"]
	if len(ids) != 1 || ids[0] == "" {
		fail(c, http.StatusBadRequest, "exactly one kmr_id query parameter is required")
		return "", false
	}
	return ids[0], true
}

func (a *API) revoke(c *gin.Context) {
	id, ok := queryKmrID(c)
	if !ok {
		return
	}
	if err := a.maf.Revoke(c.Request.Context(), id); err != nil {
		a.failErr(c, err)
		return
	}
	a.log.LogAttrs(c.Request.Context(), slog.LevelDebug, "kmr revoked", slog.String("kmr_id", id))
	c.Status(http.StatusNoContent)
}

func (a *API) lookup(c *gin.Context) {
	id, ok := queryKmrID(c)
	if !ok {
		return
	}
	e, err := a.maf.Lookup(c.Request.Context(), id)
	if err != nil {
		a.failErr(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, KeyResponse{NodeID: e.NodeID, KmrID: e.KmrID, Kmr: e.Kmr.Base64(), Expires: e.Expires.UTC()})
}
