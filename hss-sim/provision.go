package hsssim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ProvisioningAPI is the provisioning REST API of the simulator (JSON over HTTP, gin):
//
//	POST   /v1/subscribers                 create (409 if the IMPI exists)
//	GET    /v1/subscribers?limit=&cursor=  list, keyset pagination by IMPI
//	GET    /v1/subscribers/{impi}          read
//	PUT    /v1/subscribers/{impi}          replace impus, k, op/opc, amf (sqn and guss only if given)
//	PATCH  /v1/subscribers/{impi}          change the fields given
//	DELETE /v1/subscribers/{impi}          delete
//	GET    /v1/subscribers/{impi}/guss     the GUSS document (application/xml)
//	PUT    /v1/subscribers/{impi}/guss     set GUSS: raw XML (application/xml, text/xml) or
//	                                       JSON {"guss": "<guss>…</guss>"} (application/json)
//	DELETE /v1/subscribers/{impi}/guss     remove GUSS
//	GET    /healthz                        200 when the store answers
//	GET    /metrics                        Prometheus text format
//
// K, OP and OPc are write-only: responses carry "k_set" and "opc_set" only (OP is turned
// into OPc on input and not stored). Binary fields are hex; sqn is SQN_HE (the last SQN
// used) as 12 hex digits. Errors are {"error": "…", "field": "…"}. With a token configured,
// writes need "Authorization: Bearer <token>", and so do reads under /v1 if ProtectReads.
type ProvisioningAPI struct {
	store     Store
	cfg       ProvisionConfig
	log       *slog.Logger
	metrics   *Metrics
	gatherer  prometheus.Gatherer
	now       func() time.Time
	tokenHash [sha256.Size]byte
	engine    *gin.Engine
}

// APIOptions are the dependencies of NewProvisioningAPI.
type APIOptions struct {
	Store  Store
	Config ProvisionConfig
	// Logger receives one record per request (IMPI only at debug level). nil: discard.
	Logger *slog.Logger
	// Registry, if set, gets the provisioning metrics and is served on /metrics.
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewProvisioningAPI builds the API. It does not listen; serve Handler().
func NewProvisioningAPI(opts APIOptions) (*ProvisioningAPI, error) {
	if opts.Store == nil {
		return nil, errors.New("hsssim: provisioning: nil store")
	}
	cfg := opts.Config
	if cfg.DefaultLimit < 1 || cfg.MaxLimit < cfg.DefaultLimit {
		return nil, &ConfigError{Field: "provisioning.max_limit", Reason: "need 1 <= default_limit <= max_limit"}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	a := &ProvisioningAPI{
		store: opts.Store,
		cfg:   cfg,
		log:   opts.Logger,
		now:   nowFunc(opts.Now),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Token != "" {
		a.tokenHash = sha256.Sum256([]byte(cfg.Token))
	}
	if opts.Registry != nil {
		m, err := NewMetrics(opts.Registry, opts.Store)
		if err != nil {
			return nil, fmt.Errorf("hsssim: provisioning: metrics: %w", err)
		}
		a.metrics, a.gatherer = m, opts.Registry
	}
	a.engine = a.routes()
	return a, nil
}

// Handler returns the HTTP handler.
func (a *ProvisioningAPI) Handler() http.Handler { return a.engine }

func (a *ProvisioningAPI) routes() *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(a.observe, a.recover)
	e.NoRoute(func(c *gin.Context) { a.fail(c, http.StatusNotFound, "no such resource", "") })
	e.NoMethod(func(c *gin.Context) { a.fail(c, http.StatusMethodNotAllowed, "method not allowed", "") })

	e.GET("/healthz", a.healthz)
	if a.gatherer != nil {
		h := promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{})
		e.GET("/metrics", gin.WrapH(h))
	}
	v1 := e.Group("/v1", a.auth, a.limitBody)
	v1.POST("/subscribers", a.create)
	v1.GET("/subscribers", a.list)
	v1.GET("/subscribers/:impi", a.get)
	v1.PUT("/subscribers/:impi", a.replace)
	v1.PATCH("/subscribers/:impi", a.patch)
	v1.DELETE("/subscribers/:impi", a.remove)
	v1.GET("/subscribers/:impi/guss", a.getGUSS)
	v1.PUT("/subscribers/:impi/guss", a.putGUSS)
	v1.DELETE("/subscribers/:impi/guss", a.deleteGUSS)
	return e
}

// apiError is the JSON error body.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// apiStatus maps a store or validation error to an HTTP status and the field to name.
func apiStatus(err error) (status int, field string) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest, fe.Field
	case errors.Is(err, ErrUnknownIMPI):
		return http.StatusNotFound, ""
	case errors.Is(err, ErrExists):
		return http.StatusConflict, "impi"
	case errors.Is(err, ErrClosed), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

// apiMessage is the text shown for err: validation and lookup errors are safe to show;
// anything else is replaced (it may quote database internals).
func apiMessage(status int, err error) string {
	switch status {
	case http.StatusInternalServerError:
		return "internal error"
	case http.StatusServiceUnavailable:
		return "store unavailable"
	}
	return err.Error()
}

func (a *ProvisioningAPI) fail(c *gin.Context, status int, msg, field string) {
	c.AbortWithStatusJSON(status, apiError{Error: msg, Field: field})
}

func (a *ProvisioningAPI) failErr(c *gin.Context, err error) {
	status, field := apiStatus(err)
	if status >= http.StatusInternalServerError {
		// No IMPI and no request data at this level; the store errors carry no key material.
		a.log.LogAttrs(c.Request.Context(), slog.LevelError, "provisioning store error",
			slog.String("component", "hss-sim"), slog.String("route", c.FullPath()), slog.String("error", err.Error()))
	}
	a.fail(c, status, apiMessage(status, err), field)
}

// observe counts and logs every request.
func (a *ProvisioningAPI) observe(c *gin.Context) {
	start := a.now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	a.metrics.observeRequest(route, c.Request.Method, strconv.Itoa(status))
	ctx := c.Request.Context()
	attrs := []slog.Attr{
		slog.String("component", "hss-sim"), slog.String("if", "provisioning"),
		slog.String("method", c.Request.Method), slog.String("route", route),
		slog.Int("status", status), slog.Duration("latency", a.now().Sub(start)),
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "provisioning request", attrs...)
	if impi := c.Param("impi"); impi != "" && a.log.Enabled(ctx, slog.LevelDebug) {
		a.log.LogAttrs(ctx, slog.LevelDebug, "provisioning request subject", append(attrs, slog.String("impi", impi))...)
	}
}

// recover turns a panic into a 500 without logging its value (it could hold request data).
func (a *ProvisioningAPI) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			a.log.LogAttrs(c.Request.Context(), slog.LevelError, "provisioning handler panic",
				slog.String("component", "hss-sim"), slog.String("route", c.FullPath()), slog.String("type", fmt.Sprintf("%T", r)))
			a.fail(c, http.StatusInternalServerError, "internal error", "")
		}
	}()
	c.Next()
}

// auth enforces the bearer token (constant-time compare of SHA-256 digests, so neither
// content nor length leaks through timing).
func (a *ProvisioningAPI) auth(c *gin.Context) {
	if a.cfg.Token == "" {
		return
	}
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		if !a.cfg.ProtectReads {
			return
		}
	}
	h := c.GetHeader("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "bearer ")
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if !ok || subtle.ConstantTimeCompare(got[:], a.tokenHash[:]) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="hss-sim"`)
		a.fail(c, http.StatusUnauthorized, "missing or wrong bearer token", "")
	}
}

func (a *ProvisioningAPI) limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, a.cfg.MaxBodyBytes)
	}
}

func (a *ProvisioningAPI) healthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if _, err := a.store.List(ctx, "", 1); err != nil {
		c.PureJSON(http.StatusServiceUnavailable, gin.H{"status": "store unavailable"})
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"status": "ok"})
}

// subscriberView is the JSON form of a subscriber; key material is reduced to flags.
type subscriberView struct {
	IMPI          string     `json:"impi"`
	IMPUs         []string   `json:"impus"`
	KSet          bool       `json:"k_set"`
	OPcSet        bool       `json:"opc_set"`
	AMF           string     `json:"amf"`
	SQN           string     `json:"sqn"`
	GUSSSet       bool       `json:"guss_set"`
	GUSS          string     `json:"guss,omitempty"`
	GUSSTimestamp *time.Time `json:"guss_timestamp,omitempty"`
	Created       time.Time  `json:"created"`
	Updated       time.Time  `json:"updated"`
}

// listView is one page of GET /v1/subscribers.
type listView struct {
	Subscribers []subscriberView `json:"subscribers"`
	// NextCursor is set when more subscribers follow; pass it as ?cursor=.
	NextCursor string `json:"next_cursor,omitempty"`
}

func view(s *Subscriber, withGUSS bool) subscriberView {
	v := subscriberView{
		IMPI:    s.IMPI,
		IMPUs:   s.IMPUs,
		KSet:    !s.K.IsZero(),
		OPcSet:  !s.OPc.IsZero(),
		AMF:     fmt.Sprintf("%02x%02x", s.AMF[0], s.AMF[1]),
		SQN:     FormatSQN(s.SQN),
		GUSSSet: s.GUSS != "",
		Created: s.Created.UTC(),
		Updated: s.Updated.UTC(),
	}
	if v.IMPUs == nil {
		v.IMPUs = []string{}
	}
	if withGUSS {
		v.GUSS = s.GUSS
	}
	if s.GUSS != "" && !s.GUSSTimestamp.IsZero() {
		t := s.GUSSTimestamp.UTC()
		v.GUSSTimestamp = &t
	}
	return v
}

// decodeJSON reads exactly one JSON object into v, refusing unknown fields.
func decodeJSON(c *gin.Context, v any) error {
	if c.Request.Body == nil {
		return fieldErr("body", "empty")
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var mb *http.MaxBytesError
		switch {
		case errors.As(err, &mb):
			return fieldErr("body", "larger than %d bytes", mb.Limit)
		case errors.As(err, &te):
			return fieldErr(te.Field, "wrong JSON type")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			return fieldErr(f, "unknown field")
		case errors.Is(err, io.EOF):
			return fieldErr("body", "empty")
		}
		return fieldErr("body", "malformed JSON")
	}
	if dec.More() {
		return fieldErr("body", "trailing data after the JSON object")
	}
	return nil
}

func (a *ProvisioningAPI) pathIMPI(c *gin.Context) (string, bool) {
	impi := c.Param("impi")
	if err := ValidateIMPI(impi); err != nil {
		a.failErr(c, err)
		return "", false
	}
	return impi, true
}

func (a *ProvisioningAPI) create(c *gin.Context) {
	var spec SubscriberSpec
	if err := decodeJSON(c, &spec); err != nil {
		a.failErr(c, err)
		return
	}
	s, err := spec.Build(a.now())
	if err != nil {
		a.failErr(c, err)
		return
	}
	if err := a.store.Create(c.Request.Context(), s); err != nil {
		a.failErr(c, err)
		return
	}
	got, err := a.store.Get(c.Request.Context(), s.IMPI)
	if err != nil {
		a.failErr(c, err)
		return
	}
	c.Header("Location", "/v1/subscribers/"+s.IMPI)
	c.PureJSON(http.StatusCreated, view(got, true))
}

func (a *ProvisioningAPI) get(c *gin.Context) {
	impi, ok := a.pathIMPI(c)
	if !ok {
		return
	}
	s, err := a.store.Get(c.Request.Context(), impi)
	if err != nil {
		a.failErr(c, err)
		return
	}
	c.PureJSON(http.StatusOK, view(s, true))
}

// encodeCursor and decodeCursor make the opaque keyset cursor: base64url(last IMPI).
func encodeCursor(impi string) string { return base64.RawURLEncoding.EncodeToString([]byte(impi)) }

func decodeCursor(cur string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil || len(b) > MaxIdentityLen {
		return "", fieldErr("cursor", "malformed cursor")
	}
	return string(b), nil
}

func (a *ProvisioningAPI) list(c *gin.Context) {
	limit := a.cfg.DefaultLimit
	if q := c.Query("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			a.failErr(c, fieldErr("limit", "must be a positive integer"))
			return
		}
		limit = clampLimit(n, a.cfg.MaxLimit)
	}
	after := ""
	if q := c.Query("cursor"); q != "" {
		var err error
		if after, err = decodeCursor(q); err != nil {
			a.failErr(c, err)
			return
		}
	}
	subs, err := a.store.List(c.Request.Context(), after, limit+1)
	if err != nil {
		a.failErr(c, err)
		return
	}
	out := listView{Subscribers: make([]subscriberView, 0, min(len(subs), limit))}
	for i, s := range subs {
		if i == limit {
			out.NextCursor = encodeCursor(subs[limit-1].IMPI)
			break
		}
		out.Subscribers = append(out.Subscribers, view(s, false))
	}
	c.PureJSON(http.StatusOK, out)
}

func (a *ProvisioningAPI) specFromBody(c *gin.Context, impi string) (*SubscriberSpec, bool) {
	var spec SubscriberSpec
	if err := decodeJSON(c, &spec); err != nil {
		a.failErr(c, err)
		return nil, false
	}
	if spec.IMPI != "" && spec.IMPI != impi {
		a.failErr(c, fieldErr("impi", "does not match the path"))
		return nil, false
	}
	spec.IMPI = impi
	return &spec, true
}

func (a *ProvisioningAPI) replace(c *gin.Context) {
	impi, ok := a.pathIMPI(c)
	if !ok {
		return
	}
	spec, ok := a.specFromBody(c, impi)
	if !ok {
		return
	}
	n, err := spec.Build(a.now())
	if err != nil {
		a.failErr(c, err)
		return
	}
	a.updateAndShow(c, impi, func(s *Subscriber) error {
		s.IMPUs, s.K, s.OPc, s.AMF = n.IMPUs, n.K, n.OPc, n.AMF
		if spec.SQN != "" {
			s.SQN = n.SQN
		}
		if spec.GUSS != "" {
			s.GUSS, s.GUSSTimestamp = n.GUSS, n.GUSSTimestamp
		}
		return nil
	})
}

// updateAndShow applies fn to the subscriber's record and answers 200 with the updated
// view, or the mapped store error.
func (a *ProvisioningAPI) updateAndShow(c *gin.Context, impi string, fn func(*Subscriber) error) {
	s, err := a.store.Update(c.Request.Context(), impi, fn)
	if err != nil {
		a.failErr(c, err)
		return
	}
	c.PureJSON(http.StatusOK, view(s, true))
}

func (a *ProvisioningAPI) patch(c *gin.Context) {
	impi, ok := a.pathIMPI(c)
	if !ok {
		return
	}
	spec, ok := a.specFromBody(c, impi)
	if !ok {
		return
	}
	now := a.now()
	a.updateAndShow(c, impi, func(s *Subscriber) error {
		return spec.Apply(s, now)
	})
}

func (a *ProvisioningAPI) remove(c *gin.Context) {
	impi, ok := a.pathIMPI(c)
	if !ok {
		return
	}
	if err := a.store.Delete(c.Request.Context(), impi); err != nil {
		a.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *ProvisioningAPI) getGUSS(c *gin.Context) {
	impi, ok := a.pathIMPI(c)
	if !ok {
		return
	}
	s, err := a.store.Get(c.Request.Context(), impi)
	if err != nil {
		a.failErr(c, err)
		return
	}
	if s.GUSS == "" {
		a.fail(c, http.StatusNotFound, "no GUSS provisioned", "guss")
		return
	}
	c.Header("Last-Modified", s.GUSSTimestamp.UTC().Format(http.TimeFormat))
	c.Data(http.StatusOK, "application/xml; charset=utf-8", []byte(s.GUSS))
}

// gussBody is the JSON-wrapped form of PUT …/guss.
type gussBody struct {
	GUSS string `json:"guss"`
}

func (a *ProvisioningAPI) putGUSS(c *gin.Context) {
	impi, ok := a.pathIMPI(c)
	if !ok {
		return
	}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var doc []byte
	switch {
	case mt == "application/json":
		var b gussBody
		if err := decodeJSON(c, &b); err != nil {
			a.failErr(c, err)
			return
		}
		doc = []byte(b.GUSS)
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		var err error
		if doc, err = io.ReadAll(c.Request.Body); err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				a.failErr(c, fieldErr("body", "larger than %d bytes", mb.Limit))
				return
			}
			a.failErr(c, fieldErr("body", "unreadable"))
			return
		}
	default:
		a.fail(c, http.StatusUnsupportedMediaType, "Content-Type must be application/xml, text/xml or application/json", "")
		return
	}
	doc = bytes.TrimSpace(doc)
	if err := ValidateGUSS(doc); err != nil {
		a.failErr(c, err)
		return
	}
	ts := a.now().Truncate(time.Second)
	a.updateAndShow(c, impi, func(s *Subscriber) error {
		s.GUSS, s.GUSSTimestamp = string(doc), ts
		return nil
	})
}

func (a *ProvisioningAPI) deleteGUSS(c *gin.Context) {
	impi, ok := a.pathIMPI(c)
	if !ok {
		return
	}
	if _, err := a.store.Update(c.Request.Context(), impi, func(s *Subscriber) error {
		s.GUSS, s.GUSSTimestamp = "", time.Time{}
		return nil
	}); err != nil {
		a.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
