package hsssim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	testToken = "0123456789abcdef-token"
	testK     = "465b5ce8b199b49faa5f0a2ee238a6bc"
	testOP    = "cdc202d5123e20f62b6d676ac72cb318"
	testOPc   = "cd63cb71954a9f4e48a5994e37a02baf"
)

type apiHarness struct {
	t     *testing.T
	store Store
	reg   *prometheus.Registry
	srv   *httptest.Server
	logs  *bytes.Buffer
	token string
}

func newAPI(t *testing.T, store Store, mod func(*ProvisionConfig)) *apiHarness {
	t.Helper()
	if store == nil {
		var err error
		if store, err = NewMemoryStore(DefaultSQNConfig(), nil); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Default().Provisioning
	cfg.Token = testToken
	if mod != nil {
		mod(&cfg)
	}
	logs := &bytes.Buffer{}
	reg := prometheus.NewRegistry()
	api, err := NewProvisioningAPI(APIOptions{
		Store: store, Config: cfg, Registry: reg, Now: newClock().Now,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &apiHarness{t: t, store: store, reg: reg, srv: srv, logs: logs, token: testToken}
}

// do sends a request and decodes a JSON answer into out (if non-nil).
func (h *apiHarness) do(method, path, ctype, body string, out any) int {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func (h *apiHarness) json(method, path, body string, out any) int {
	h.t.Helper()
	return h.do(method, path, "application/json", body, out)
}

func TestAPICreateGetUpdateDelete(t *testing.T) {
	h := newAPI(t, nil, nil)
	impi := "user1_private@home1.net"
	var v subscriberView
	body := fmt.Sprintf(`{"impi":%q,"impus":["sip:user1@home1.net"],"k":%q,"op":%q,"amf":"b9b9","sqn":"ff9bb4d0b607"}`, impi, testK, testOP)
	if code := h.json("POST", "/v1/subscribers", body, &v); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if !v.KSet || !v.OPcSet || v.AMF != "b9b9" || v.SQN != "ff9bb4d0b607" || v.IMPI != impi || len(v.IMPUs) != 1 {
		t.Fatalf("create view %+v", v)
	}
	// OP was turned into OPc (TS 35.206 §4.1; TS35208/set1).
	s, err := h.store.Get(context.Background(), impi)
	if err != nil || fmt.Sprintf("%x", s.OPc[:]) != testOPc {
		t.Fatalf("stored OPc wrong: %v", err)
	}
	var e apiError
	if code := h.json("POST", "/v1/subscribers", body, &e); code != http.StatusConflict || e.Field != "impi" {
		t.Fatalf("duplicate: %d %+v", code, e)
	}
	// GET shows no key material, only flags.
	req, _ := http.NewRequest("GET", h.srv.URL+"/v1/subscribers/"+url.PathEscape(impi), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, secret := range []string{testK, testOP, testOPc, `"k"`, `"opc"`, `"op"`} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("GET leaks %s: %s", secret, raw)
		}
	}
	if !strings.Contains(string(raw), `"k_set":true`) || !strings.Contains(string(raw), `"opc_set":true`) {
		t.Fatalf("GET lacks flags: %s", raw)
	}
	// PATCH changes only what is given.
	if code := h.json("PATCH", "/v1/subscribers/"+impi, `{"amf":"8000","impus":[]}`, &v); code != http.StatusOK || v.AMF != "8000" || len(v.IMPUs) != 0 || v.SQN != "ff9bb4d0b607" {
		t.Fatalf("patch: %d %+v", code, v)
	}
	if code := h.json("PATCH", "/v1/subscribers/"+impi, `{"k":"0396eb317b6d1c36f19c1c84cd6ffd16"}`, &e); code != http.StatusBadRequest || e.Field != "opc" {
		t.Fatalf("patch K alone: %d %+v", code, e)
	}
	// PUT replaces the credentials and keeps SQN unless given.
	put := `{"k":"0396eb317b6d1c36f19c1c84cd6ffd16","opc":"53c15671c60a4b731c55b4a441c0bde2","impus":["tel:+1"]}`
	if code := h.json("PUT", "/v1/subscribers/"+impi, put, &v); code != http.StatusOK || v.AMF != "0000" || v.SQN != "ff9bb4d0b607" || v.IMPUs[0] != "tel:+1" {
		t.Fatalf("put: %d %+v", code, v)
	}
	if code := h.json("PUT", "/v1/subscribers/"+impi, `{"impi":"other@h","k":"0396eb317b6d1c36f19c1c84cd6ffd16","opc":"53c15671c60a4b731c55b4a441c0bde2"}`, &e); code != http.StatusBadRequest || e.Field != "impi" {
		t.Fatalf("put other impi: %d %+v", code, e)
	}
	if code := h.json("PUT", "/v1/subscribers/"+impi, `{"k":"0396eb317b6d1c36f19c1c84cd6ffd16"}`, &e); code != http.StatusBadRequest || e.Field != "opc" {
		t.Fatalf("put without opc: %d %+v", code, e)
	}
	if code := h.json("PUT", "/v1/subscribers/nobody@h", put, &e); code != http.StatusNotFound {
		t.Fatalf("put unknown: %d", code)
	}
	if code := h.json("DELETE", "/v1/subscribers/"+impi, "", nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code := h.json("GET", "/v1/subscribers/"+impi, "", &e); code != http.StatusNotFound {
		t.Fatalf("get deleted: %d", code)
	}
	if code := h.json("DELETE", "/v1/subscribers/"+impi, "", &e); code != http.StatusNotFound {
		t.Fatalf("delete twice: %d", code)
	}
	// IMPIs never reach the log above debug level, keys never.
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		if strings.Contains(line, testK) || strings.Contains(line, testOPc) || strings.Contains(line, testOP) {
			t.Fatalf("key in log: %s", line)
		}
		if strings.Contains(line, impi) && !strings.Contains(line, `"level":"DEBUG"`) {
			t.Fatalf("IMPI above debug: %s", line)
		}
	}
}

func TestAPIValidation(t *testing.T) {
	h := newAPI(t, nil, nil)
	for _, tc := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"short-k", `{"impi":"a@h","k":"00","opc":"` + testOPc + `"}`, 400, "k"},
		{"long-opc", `{"impi":"a@h","k":"` + testK + `","opc":"` + testOPc + `00"}`, 400, "opc"},
		{"op-and-opc", `{"impi":"a@h","k":"` + testK + `","opc":"` + testOPc + `","op":"` + testOP + `"}`, 400, "op"},
		{"amf", `{"impi":"a@h","k":"` + testK + `","opc":"` + testOPc + `","amf":"123456"}`, 400, "amf"},
		{"sqn", `{"impi":"a@h","k":"` + testK + `","opc":"` + testOPc + `","sqn":"1000000000000"}`, 400, "sqn"},
		{"unknown-field", `{"impi":"a@h","k":"` + testK + `","opc":"` + testOPc + `","ki":"x"}`, 400, "ki"},
		{"wrong-type", `{"impi":"a@h","k":"` + testK + `","opc":"` + testOPc + `","impus":"sip:x"}`, 400, "impus"},
		{"malformed", `{"impi":`, 400, "body"},
		{"trailing", `{"impi":"a@h","k":"` + testK + `","opc":"` + testOPc + `"} {}`, 400, "body"},
		{"empty", ``, 400, "body"},
		{"no-impi", `{"k":"` + testK + `","opc":"` + testOPc + `"}`, 400, "impi"},
		{"guss", `{"impi":"a@h","k":"` + testK + `","opc":"` + testOPc + `","guss":"<x/>"}`, 400, "guss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			if code := h.json("POST", "/v1/subscribers", tc.body, &e); code != tc.status || e.Field != tc.field || e.Error == "" {
				t.Fatalf("got %d %+v, want %d field %q", code, e, tc.status, tc.field)
			}
			if strings.Contains(e.Error, testK) || strings.Contains(e.Error, testOPc) {
				t.Fatalf("error echoes a key: %s", e.Error)
			}
		})
	}
	var e apiError
	big := `{"impi":"a@h","guss":"` + strings.Repeat("x", 2<<20) + `"}`
	if code := h.json("POST", "/v1/subscribers", big, &e); code != 400 || e.Field != "body" {
		t.Fatalf("oversized body: %d %+v", code, e)
	}
	if code := h.json("GET", "/v1/nothing", "", &e); code != 404 {
		t.Fatalf("no route: %d", code)
	}
	if code := h.json("POST", "/v1/subscribers/a@h", "{}", &e); code != 405 {
		t.Fatalf("wrong method: %d", code)
	}
	if code := h.json("GET", "/v1/subscribers?limit=0", "", &e); code != 400 || e.Field != "limit" {
		t.Fatalf("limit=0: %d %+v", code, e)
	}
	if code := h.json("GET", "/v1/subscribers?cursor=***", "", &e); code != 400 || e.Field != "cursor" {
		t.Fatalf("bad cursor: %d %+v", code, e)
	}
}

func TestAPIAuth(t *testing.T) {
	for _, protect := range []bool{true, false} {
		t.Run(fmt.Sprintf("protect_reads=%v", protect), func(t *testing.T) {
			h := newAPI(t, nil, func(c *ProvisionConfig) { c.ProtectReads = protect })
			body := `{"impi":"a@h","k":"` + testK + `","opc":"` + testOPc + `"}`
			for _, tok := range []string{"", "wrong-token-wrong-token", testToken + "x", testToken[:len(testToken)-1]} {
				h.token = tok
				var e apiError
				if code := h.json("POST", "/v1/subscribers", body, &e); code != http.StatusUnauthorized {
					t.Fatalf("write with token %q: %d", tok, code)
				}
				code := h.json("GET", "/v1/subscribers", "", nil)
				if protect && code != http.StatusUnauthorized || !protect && code != http.StatusOK {
					t.Fatalf("read with token %q: %d", tok, code)
				}
				if code := h.json("GET", "/healthz", "", nil); code != http.StatusOK {
					t.Fatalf("healthz needs no token: %d", code)
				}
			}
			h.token = testToken
			if code := h.json("POST", "/v1/subscribers", body, nil); code != http.StatusCreated {
				t.Fatalf("with token: %d", code)
			}
		})
	}
	// No token configured: open API.
	h := newAPI(t, nil, func(c *ProvisionConfig) { c.Token = "" })
	h.token = ""
	if code := h.json("POST", "/v1/subscribers", `{"impi":"a@h","k":"`+testK+`","opc":"`+testOPc+`"}`, nil); code != http.StatusCreated {
		t.Fatalf("open API: %d", code)
	}
}

func TestAPIGUSS(t *testing.T) {
	h := newAPI(t, nil, nil)
	impi := "a@h"
	if code := h.json("POST", "/v1/subscribers", `{"impi":"a@h","k":"`+testK+`","opc":"`+testOPc+`"}`, nil); code != 201 {
		t.Fatal(code)
	}
	var e apiError
	if code := h.json("GET", "/v1/subscribers/a@h/guss", "", &e); code != 404 || e.Field != "guss" {
		t.Fatalf("no GUSS yet: %d", code)
	}
	doc := `<guss id="a@h"><bsfInfo><uiccType>GBA</uiccType><lifeTime>7200</lifeTime></bsfInfo><ussList/></guss>`
	var v subscriberView
	if code := h.do("PUT", "/v1/subscribers/a@h/guss", "application/xml", doc, &v); code != 200 || v.GUSS != doc || v.GUSSTimestamp == nil {
		t.Fatalf("put XML: %d %+v", code, v)
	}
	first := *v.GUSSTimestamp
	doc2 := strings.Replace(doc, "7200", "60", 1)
	jb, _ := json.Marshal(gussBody{GUSS: doc2})
	if code := h.json("PUT", "/v1/subscribers/a@h/guss", string(jb), &v); code != 200 || v.GUSS != doc2 || !v.GUSSTimestamp.After(first) {
		t.Fatalf("put JSON: %d %+v", code, v)
	}
	for _, tc := range []struct{ ctype, body string }{
		{"application/xml", `<notguss/>`},
		{"text/xml", `<guss>`},
		{"application/json", `{"guss":"<a/>"}`},
		{"application/json", `{"xml":"<guss/>"}`},
	} {
		if code := h.do("PUT", "/v1/subscribers/a@h/guss", tc.ctype, tc.body, &e); code != 400 {
			t.Fatalf("bad GUSS %q: %d", tc.body, code)
		}
	}
	if code := h.do("PUT", "/v1/subscribers/a@h/guss", "text/plain", doc, &e); code != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", code)
	}
	if code := h.do("PUT", "/v1/subscribers/nobody@h/guss", "application/xml", doc, &e); code != 404 {
		t.Fatalf("unknown IMPI: %d", code)
	}
	req, _ := http.NewRequest("GET", h.srv.URL+"/v1/subscribers/a@h/guss", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != doc2 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
		t.Fatalf("get GUSS: %d %q", resp.StatusCode, b)
	}
	s, _ := h.store.Get(context.Background(), impi)
	if s.GUSS != doc2 || s.GUSSTimestamp.Nanosecond() != 0 {
		t.Fatalf("stored GUSS %q at %v", s.GUSS, s.GUSSTimestamp)
	}
	if code := h.json("DELETE", "/v1/subscribers/a@h/guss", "", nil); code != 204 {
		t.Fatalf("delete GUSS: %d", code)
	}
	if code := h.json("GET", "/v1/subscribers/a@h/guss", "", &e); code != 404 {
		t.Fatalf("after delete: %d", code)
	}
}

func TestAPIMetricsAndHealth(t *testing.T) {
	h := newAPI(t, nil, nil)
	for i := 0; i < 3; i++ {
		body := fmt.Sprintf(`{"impi":"u%d@h","k":%q,"opc":%q}`, i, testK, testOPc)
		if code := h.json("POST", "/v1/subscribers", body, nil); code != 201 {
			t.Fatal(code)
		}
	}
	h.json("GET", "/v1/subscribers/nobody@h", "", nil)
	if code := h.json("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	resp, err := h.srv.Client().Get(h.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`hss_provisioning_requests_total{method="POST",route="/v1/subscribers",status="201"} 3`,
		`hss_provisioning_requests_total{method="GET",route="/v1/subscribers/:impi",status="404"} 1`,
		`hss_subscribers 3`,
	} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "nobody@h") {
		t.Fatal("IMPI in metrics")
	}
	// A closed store makes health fail.
	_ = h.store.Close()
	if code := h.json("GET", "/healthz", "", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz on closed store: %d", code)
	}
}

func TestAPIStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		field  string
	}{
		{fieldErr("k", "x"), 400, "k"},
		{fmt.Errorf("wrap: %w", ErrUnknownIMPI), 404, ""},
		{fmt.Errorf("wrap: %w", ErrExists), 409, "impi"},
		{ErrClosed, 503, ""},
		{context.DeadlineExceeded, 503, ""},
		{errors.New("disk I/O error"), 500, ""},
	} {
		status, field := apiStatus(tc.err)
		if status != tc.status || field != tc.field {
			t.Errorf("%v: %d %q, want %d %q", tc.err, status, field, tc.status, tc.field)
		}
	}
	if msg := apiMessage(500, errors.New("sqlite: table subscribers: secret detail")); strings.Contains(msg, "secret") {
		t.Fatal("internal detail shown")
	}
}

// TestAPIPagination10k: 10,000 subscribers created through the store, paged through over
// HTTP; every IMPI appears once, in order, and pages stay fast wherever they start.
func TestAPIPagination10k(t *testing.T) {
	const n = 10_000
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			st, _ := f.open(t, DefaultSQNConfig())
			subs := make([]*Subscriber, n)
			for i := range subs {
				subs[i] = testSub(i)
			}
			errs, err := st.(BatchCreator).CreateBatch(context.Background(), subs)
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			h := newAPI(t, st, nil)
			var page listView
			if code := h.json("GET", "/v1/subscribers", "", &page); code != 200 || len(page.Subscribers) != 100 || page.NextCursor == "" {
				t.Fatalf("default page: %d, %d items", code, len(page.Subscribers))
			}
			if code := h.json("GET", "/v1/subscribers?limit=5000", "", &page); code != 200 || len(page.Subscribers) != 1000 {
				t.Fatalf("limit above max: %d items", len(page.Subscribers))
			}
			seen, cursor, pages, prev, midCursor := 0, "", 0, "", ""
			for {
				q := "/v1/subscribers?limit=1000"
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				if pages == n/1000/2 {
					midCursor = cursor
				}
				page = listView{}
				if code := h.json("GET", q, "", &page); code != 200 {
					t.Fatalf("page %d: %d", pages, code)
				}
				for _, s := range page.Subscribers {
					if s.IMPI <= prev {
						t.Fatalf("out of order: %s after %s", s.IMPI, prev)
					}
					if s.GUSS != "" || !s.KSet {
						t.Fatal("list item shape wrong")
					}
					prev = s.IMPI
					seen++
				}
				pages++
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			if seen != n || pages != n/1000 {
				t.Fatalf("saw %d subscribers in %d pages", seen, pages)
			}
			// Time the first and a middle page (best of three: the machine is shared).
			timePage := func(cursor string) time.Duration {
				best := time.Hour
				for i := 0; i < 3; i++ {
					start := time.Now()
					if code := h.json("GET", "/v1/subscribers?limit=1000&cursor="+url.QueryEscape(cursor), "", nil); code != 200 {
						t.Fatalf("timed page: %d", code)
					}
					best = min(best, time.Since(start))
				}
				return best
			}
			firstPage, midPage := timePage(""), timePage(midCursor)
			t.Logf("%s: first page %v, middle page %v (1000 items)", f.name, firstPage, midPage)
			if limit := 2 * time.Second; firstPage > limit || midPage > limit {
				t.Fatalf("pages too slow: first %v, middle %v", firstPage, midPage)
			}
			// Keyset pagination: a middle page costs about what the first does (an OFFSET
			// scan would read 5,000 rows first).
			if midPage > 3*firstPage+100*time.Millisecond {
				t.Fatalf("middle page %v much slower than first %v", midPage, firstPage)
			}
		})
	}
}
