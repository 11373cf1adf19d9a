package naf

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/internal/digest"
)

// Gin returns the Authenticator as gin middleware: it behaves like Middleware (same checks,
// same answers, Authentication-Info with rspauth) and aborts the chain on failure. Handlers
// read the Session and Ks_NAF from c.Request.Context() with SessionFrom and KsNAFFrom.
func (a *Authenticator) Gin() gin.HandlerFunc {
	return func(c *gin.Context) {
		res, err := a.authenticate(c.Request)
		if err != nil {
			a.reject(c.Writer, c.Request, err)
			c.Abort()
			return
		}
		defer clear(res.password)
		a.metrics.observeUa(OutcomeSuccess)
		c.Request = c.Request.WithContext(WithSession(c.Request.Context(), res.session, res.key))
		if res.creds.QOP != digest.QOPAuthInt {
			if h, err := a.authInfo(res, nil); err == nil {
				c.Header("Authentication-Info", h)
			}
			c.Next()
			return
		}
		orig := c.Writer
		gw := &ginBufferedWriter{ResponseWriter: orig, b: bufferedWriter{w: orig, max: a.maxResp}}
		c.Writer = gw
		c.Next()
		c.Writer = orig
		gw.b.finish(func(body []byte) string {
			h, err := a.authInfo(res, body)
			if err != nil {
				return ""
			}
			return h
		})
	}
}

// ginBufferedWriter is bufferedWriter behind gin's ResponseWriter interface.
type ginBufferedWriter struct {
	gin.ResponseWriter
	b bufferedWriter
}

func (g *ginBufferedWriter) WriteHeader(code int)              { g.b.WriteHeader(code) }
func (g *ginBufferedWriter) WriteHeaderNow()                   {}
func (g *ginBufferedWriter) Write(p []byte) (int, error)       { return g.b.Write(p) }
func (g *ginBufferedWriter) WriteString(s string) (int, error) { return g.b.Write([]byte(s)) }
func (g *ginBufferedWriter) Flush()                            { g.b.Flush() }
func (g *ginBufferedWriter) Written() bool                     { return g.b.status != 0 || g.b.overflow }
func (g *ginBufferedWriter) Pusher() http.Pusher               { return nil }
func (g *ginBufferedWriter) Header() http.Header               { return g.ResponseWriter.Header() }
func (g *ginBufferedWriter) Unwrap() http.ResponseWriter       { return g.ResponseWriter }

func (g *ginBufferedWriter) Status() int {
	if g.b.status == 0 {
		return http.StatusOK
	}
	return g.b.status
}

func (g *ginBufferedWriter) Size() int {
	switch {
	case g.b.overflow:
		return g.ResponseWriter.Size()
	case g.b.status == 0:
		return -1
	}
	return g.b.buf.Len()
}
