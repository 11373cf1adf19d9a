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
	"github.com/prometheus/client_golang/prometheus"
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

// ubHeaders are the fixed parts of Ub responses, built once in New and only read after:
// header values set by direct assignment (their keys are canonical) and the plain-text
// bodies of the error statuses, so a response does not rebuild them.
type ubHeaders struct {
	server, noStore, textType, infoType []string
	bodies                              map[int][]byte
}

func newUbHeaders() ubHeaders {
	h := ubHeaders{server: []string{ServerToken}, noStore: []string{"no-store"},
		textType: []string{"text/plain; charset=utf-8"}, infoType: []string{ContentTypeBootstrappingInfo},
		bodies: map[int][]byte{}}
	for _, st := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
		http.StatusRequestEntityTooLarge, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		h.bodies[st] = []byte(http.StatusText(st) + "\n")
	}
	return h
}

// writeUbStatus is writeStatus with the prepared Server value and body.
func (b *BSF) writeUbStatus(c *gin.Context, status int) {
	body, ok := b.ubHdr.bodies[status]
	if !ok {
		writeStatus(c, status)
		return
	}
	h := c.Writer.Header()
	h["Server"] = b.ubHdr.server
	writeBody(c, status, b.ubHdr.textType, body)
}

// writeBody is gin's Context.Data with a prepared Content-Type value.
func writeBody(c *gin.Context, status int, contentType []string, body []byte) {
	c.Writer.Header()["Content-Type"] = contentType
	c.Status(status)
	_, _ = c.Writer.Write(body)
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
	hdr := c.Writer.Header()
	hdr["Server"] = b.ubHdr.server
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
		b.writeUbStatus(c, status)
	case ans.Challenge != "":
		status, outcome = http.StatusUnauthorized, ans.Outcome
		hdr["Www-Authenticate"] = []string{ans.Challenge}
		b.writeUbStatus(c, status)
	default:
		status, outcome = http.StatusOK, ans.Outcome
		hdr["Authentication-Info"] = []string{ans.AuthenticationInfo}
		hdr["Expires"] = []string{ans.Expires.UTC().Format(http.TimeFormat)}
		hdr["Cache-Control"] = b.ubHdr.noStore
		writeBody(c, status, b.ubHdr.infoType, ans.Body)
	}
	b.observeUb(outcome, time.Since(start))
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
		if status == http.StatusInternalServerError {
			level = slog.LevelError
		}
	}
	if !b.log.Enabled(ctx, level) {
		return
	}
	var attrs [5]slog.Attr
	n := copy(attrs[:], []slog.Attr{slog.String("if", "ub"), slog.String("result", outcome), slog.Int("status", status)})
	switch {
	case status == http.StatusOK:
		attrs[n], attrs[n+1] = slog.String("btid", ans.BTID.String()), slog.Time("expires", ans.Expires)
		n += 2
	case err != nil:
		attrs[n] = slog.String("error", err.Error())
		n++
	}
	b.log.LogAttrs(ctx, level, "ub", attrs[:n]...)
}

// ubObservers are the children of UbResults and UbLatency for one outcome.
type ubObservers struct {
	results prometheus.Counter
	latency prometheus.Observer
}

// newUbObservers looks up the children of every known outcome once: WithLabelValues hashes
// the label and takes a lock on every call.
func newUbObservers(m *Metrics) map[string]ubObservers {
	outcomes := []string{
		OutcomeChallenge, OutcomeBootstrapped, OutcomeResync, OutcomeWrongRES, OutcomeStaleNonce,
		OutcomeUnknownNonce, OutcomeRANDCollision,
	}
	obs := make(map[string]ubObservers, len(outcomes))
	for _, o := range outcomes {
		obs[o] = ubObservers{results: m.UbResults.WithLabelValues(o), latency: m.UbLatency.WithLabelValues(o)}
	}
	return obs
}

// observeUb counts one Ub request and its latency under outcome.
func (b *BSF) observeUb(outcome string, d time.Duration) {
	o, ok := b.ubObs[outcome]
	if !ok {
		o = ubObservers{results: b.metrics.UbResults.WithLabelValues(outcome), latency: b.metrics.UbLatency.WithLabelValues(outcome)}
	}
	o.results.Inc()
	o.latency.Observe(d.Seconds())
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
