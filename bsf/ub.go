package bsf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// Handler returns the Ub HTTP handler (gin): GET and POST on "/" run Bootstrap
// (TS 24.109 §4.2: the Request-URI is "/" by default). Every response carries the Server
// product token of TS 33.220 §4.5.2.
func (b *BSF) Handler() http.Handler {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(b.recovery)
	e.GET("/", b.handleUb)
	e.POST("/", b.handleUb)
	e.NoRoute(func(c *gin.Context) { writeStatus(c, http.StatusNotFound) })
	e.NoMethod(func(c *gin.Context) { writeStatus(c, http.StatusMethodNotAllowed) })
	return e
}

func (b *BSF) recovery(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			// Never log r itself: it could hold request data.
			b.log.LogAttrs(c.Request.Context(), slog.LevelError, "ub panic", slog.String("if", "ub"), slog.String("result", "internal"))
			c.Abort()
			writeStatus(c, http.StatusInternalServerError)
		}
	}()
	c.Next()
}

func writeStatus(c *gin.Context, status int) {
	c.Header("Server", ServerToken)
	c.Data(status, "text/plain; charset=utf-8", []byte(http.StatusText(status)+"\n"))
}

// readUbRequest turns an HTTP request into a UbRequest: at most one Authorization header,
// a body of at most max octets.
func readUbRequest(w http.ResponseWriter, r *http.Request, max int64) (UbRequest, error) {
	auth := r.Header.Values("Authorization")
	if len(auth) > 1 {
		return UbRequest{}, fmt.Errorf("%w: more than one Authorization header", ErrBadRequest)
	}
	req := UbRequest{Method: r.Method, URI: r.RequestURI}
	if len(auth) == 1 {
		req.Authorization = auth[0]
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return UbRequest{}, ErrRequestTooLarge
			}
			return UbRequest{}, fmt.Errorf("%w: reading the body failed", ErrBadRequest)
		}
		req.Body = body
	}
	return req, nil
}

// handleUb is the Ub transport: decode, Bootstrap, encode, map the error.
func (b *BSF) handleUb(c *gin.Context) {
	start := time.Now()
	ctx := c.Request.Context()
	c.Header("Server", ServerToken)
	ans, err := func() (UbAnswer, error) {
		req, err := readUbRequest(c.Writer, c.Request, b.cfg.Ub.MaxBodyBytes)
		if err != nil {
			return UbAnswer{}, err
		}
		return b.Bootstrap(ctx, req)
	}()
	var status int
	var outcome string
	switch {
	case err != nil:
		status, outcome = ubStatus(err), ubOutcome(err)
		if status == http.StatusServiceUnavailable {
			c.Header("Retry-After", strconv.Itoa(retryAfterSeconds(b.cfg.Ub.RetryAfter)))
		}
		writeStatus(c, status)
	case ans.Challenge != "":
		status, outcome = http.StatusUnauthorized, ans.Outcome
		c.Header("WWW-Authenticate", ans.Challenge)
		writeStatus(c, status)
	default:
		status, outcome = http.StatusOK, ans.Outcome
		c.Header("Authentication-Info", ans.AuthenticationInfo)
		c.Header("Expires", ans.Expires.UTC().Format(http.TimeFormat))
		c.Header("Cache-Control", "no-store")
		c.Data(status, ContentTypeBootstrappingInfo, ans.Body)
	}
	b.metrics.UbResults.WithLabelValues(outcome).Inc()
	b.metrics.UbLatency.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	attrs := []slog.Attr{slog.String("if", "ub"), slog.String("result", outcome), slog.Int("status", status)}
	level := slog.LevelInfo
	switch {
	case status == http.StatusOK:
		attrs = append(attrs, slog.String("btid", ans.BTID.String()), slog.Time("expires", ans.Expires))
	case status >= 500:
		level = slog.LevelWarn
		if status == http.StatusInternalServerError {
			level = slog.LevelError
		}
		attrs = append(attrs, slog.String("error", err.Error()))
	case err != nil:
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	b.log.LogAttrs(ctx, level, "ub", attrs...)
}

func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// ubStatus maps a Bootstrap error to the HTTP status of TS 24.109 §4.3–4.5 and Annex A:
// malformed request 400, unknown IMPI/TMPI, UE MAC failure, failed resynchronisation and
// too many wrong responses 403, HSS unreachable or overloaded 503, anything else 500.
func ubStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrRequestTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrIMPIUnknown), errors.Is(err, ErrTMPIUnknown), errors.Is(err, ErrNetworkAuthFailure),
		errors.Is(err, ErrTooManyFailures), errors.Is(err, ErrResyncFailed):
		return http.StatusForbidden
	case errors.Is(err, ErrHSSUnavailable), errors.Is(err, ErrOverloaded),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ubOutcome names a Bootstrap error for metrics and logs.
func ubOutcome(err error) string {
	switch {
	case errors.Is(err, ErrRequestTooLarge):
		return "too_large"
	case errors.Is(err, ErrBadRequest):
		return "bad_request"
	case errors.Is(err, ErrIMPIUnknown):
		return "impi_unknown"
	case errors.Is(err, ErrTMPIUnknown):
		return "tmpi_unknown"
	case errors.Is(err, ErrNetworkAuthFailure):
		return "mac_failure"
	case errors.Is(err, ErrTooManyFailures):
		return "too_many_failures"
	case errors.Is(err, ErrResyncFailed):
		return "resync_failed"
	case errors.Is(err, ErrHSSUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "hss_unavailable"
	case errors.Is(err, ErrOverloaded):
		return "overloaded"
	}
	return "internal"
}
