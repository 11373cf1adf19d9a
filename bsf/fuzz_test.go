package bsf

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/opengba/opengba/specs"
)

// FuzzUbRequest drives the Ub request path (Authorization header parsing, body handling,
// Bootstrap) through the real handler. Seeds are the credentials goldens of
// specs/vectors/digest.json plus answers shaped like TS 24.109 Annex A steps 1 and 4. The
// handler must never panic or fail internally, must always send the Server token, and no
// fuzzed input may bootstrap (nobody can guess a pending nonce and its RES).
func FuzzUbRequest(f *testing.F) {
	var v struct {
		Credentials []struct{ Header string } `json:"credentials"`
	}
	if err := specs.Vectors("digest", &v); err != nil {
		f.Fatal(err)
	}
	for _, c := range v.Credentials {
		f.Add(uint8(0), c.Header, []byte(nil))
		f.Add(uint8(1), c.Header, []byte("<x/>"))
	}
	f.Add(uint8(0), `Digest username="user1_private@home1.net", realm="bsf.home1.net", nonce="", uri="/", response=""`, []byte(nil))
	f.Add(uint8(0), `Digest username="user1_private@home1.net", realm="bsf.home1.net", nonce="I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=", uri="/", qop=auth-int, nc=00000001, cnonce="0a4f113b", response="d47e4afd3245638428c815924bc5bc69", opaque="00", algorithm=AKAv1-MD5`, []byte(nil))
	f.Add(uint8(0), `Digest username="user1_private@home1.net", realm="bsf.home1.net", nonce="I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=", uri="/", qop=auth-int, nc=00000001, cnonce="0a4f113b", response="d47e4afd3245638428c815924bc5bc69", opaque="00", algorithm=AKAv1-MD5, auts="uoU/PBI8z0TpNZbjVcY="`, []byte(nil))
	f.Add(uint8(2), "Basic eDp5", []byte(nil))
	f.Add(uint8(3), "", bytes.Repeat([]byte("x"), 100))

	tb := newTestBSF(f, withConfig(func(c *Config) {
		c.Ub.MaxBodyBytes = 64
		c.Ub.MaxPendingChallenges = 1000
	}))
	tb.hss.add(f, impi1, []byte(gussDoc), time.Unix(1, 0))
	h := tb.Handler()
	f.Fuzz(func(t *testing.T, mode uint8, auth string, body []byte) {
		method := http.MethodGet
		if mode&1 == 1 {
			method = http.MethodPost
		}
		req := httptest.NewRequest(method, "/", bytes.NewReader(body))
		switch mode >> 1 & 3 {
		case 0:
			req.Header.Set("Authorization", auth)
		case 1:
			req.Header.Add("Authorization", auth)
			req.Header.Add("Authorization", auth)
		case 2:
			req.Header["Authorization"] = []string{auth}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 400, 401, 403, 413, 503:
		default:
			t.Fatalf("status %d for Authorization %q", w.Code, auth)
		}
		if w.Header().Get("Server") != ServerToken {
			t.Fatal("no Server token")
		}
	})
}

// FuzzParseGUSS feeds GUSS documents (they arrive from the HSS over Zh) to parseGUSS and
// checks that the per-NAF USS document it builds is well-formed XML rooted at ussList.
func FuzzParseGUSS(f *testing.F) {
	f.Add([]byte(gussDoc), "m2m")
	f.Add([]byte(`<g:guss xmlns:g="uri:3gpp-gba"><g:ussList xmlns:g="uri:other"><g:uss id="9"/></g:ussList></g:guss>`), "x")
	f.Add([]byte(`<guss><bsfInfo><lifeTime>60</lifeTime><uiccType>GBA_U</uiccType></bsfInfo><ussList><uss nafGroup="a"/><uss/></ussList></guss>`), "a")
	f.Fuzz(func(t *testing.T, doc []byte, group string) {
		g, err := parseGUSS(doc)
		if err != nil {
			return
		}
		out, ok := g.ussFor(group)
		if !ok || out == nil {
			return
		}
		dec := xml.NewDecoder(bytes.NewReader(out))
		depth, root := 0, ""
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("USS document not well-formed: %v\n%s", err, out)
			}
			if se, ok := tok.(xml.StartElement); ok {
				if depth == 0 {
					root = se.Name.Local
				}
				depth++
			}
			if _, ok := tok.(xml.EndElement); ok {
				depth--
			}
		}
		if root != "ussList" {
			t.Fatalf("root %q", root)
		}
	})
}
