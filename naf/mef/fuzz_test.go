package mef

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/maf"
)

type nopMAF struct{}

func (nopMAF) Provision(context.Context, maf.Entry) error { return nil }
func (nopMAF) Revoke(context.Context, string) error       { return nil }

// FuzzAdminRegistration drives PUT /admin/v1/registrations/{impi} with arbitrary IMPIs
// and bodies: the answer is 200, 201, 400 or 404 (a path gin does not route), never a
// panic or a 5xx, and an accepted registration passes Validate and reads back equal.
func FuzzAdminRegistration(f *testing.F) {
	f.Add("user1_private@home1.net", `{"subscription_id":"sub-9","cse_id":"/cse-9","expires":"2030-01-01T00:00:00Z"}`)
	f.Add("user1_private@home1.net", `{"subscription_id":"sub-9","node_id":"urn:x:1"}`)
	f.Add("other@home1.net", `{"subscription_id":"s","cse_id":"cse-9"}`)
	f.Add("u@h", `{"node_id":"n"}`)
	f.Add("u@h", `{"subscription_id":"s","x":1}`)
	f.Add("", `{}`)
	f.Fuzz(func(t *testing.T, impi, body string) {
		store := NewMemoryStore()
		m, err := New(Config{SPID: "sp.example", INCSEID: "/in", MAFID: "maf.sp.example"}, store, nopMAF{})
		if err != nil {
			t.Fatal(err)
		}
		ua, err := naf.NewAuthenticator(naf.UaConfig{NAFFQDN: "mef.sp.example",
			Keys: naf.KeySourceFunc(func(context.Context, string, gba.NAFID) (naf.NAFKey, error) { return naf.NAFKey{}, naf.ErrBTIDUnknown })})
		if err != nil {
			t.Fatal(err)
		}
		h, err := NewHandler(m, ua, APIConfig{AdminToken: "admin-token-0123456789", Now: func() time.Time { return time.Unix(1e9, 0) }})
		if err != nil {
			t.Fatal(err)
		}
		u := &url.URL{Path: "/admin/v1/registrations/" + impi}
		req, err := http.NewRequest(http.MethodPut, "http://mef"+u.EscapedPath(), strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer admin-token-0123456789")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusBadRequest, http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
		case http.StatusOK, http.StatusCreated:
			var got Registration
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("answer %s: %v", rec.Body, err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("stored an invalid registration: %v", err)
			}
			back, err := store.GetRegistration(t.Context(), got.IMPI)
			if err != nil || back.SubscriptionID != got.SubscriptionID || back.CSEID != got.CSEID || back.NodeID != got.NodeID {
				t.Fatalf("read back %+v, %v", back, err)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
