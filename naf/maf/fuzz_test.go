package maf

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzProvisionRequest drives POST /maf/v1/keys (the MEF's provisioning body, JSON) with
// arbitrary bodies: the answer is 201 or 400, never a panic or a 5xx, and an accepted Kmr
// can be looked up again. Seeds: a valid request and the malformed ones of TestAPI.
func FuzzProvisionRequest(f *testing.F) {
	k := strings.Repeat("A", 43) + "="
	f.Add(`{"node_id":"urn:oneM2M:node:sp:1","kmr_id":"` + btid1 + `","kmr":"` + k + `","expires":"2030-01-01T00:00:00Z"}`)
	f.Add(`{"node_id":"n","kmr_id":"k","kmr":"AAAA","expires":"2030-01-01T00:00:00Z"}`)
	f.Add(`{"kmr_id":"k","kmr":"` + k + `","expires":"2030-01-01T00:00:00Z"}`)
	f.Add(`{"node_id":"n","kmr_id":"k","kmr":"` + k + `","expires":"2000-01-01T00:00:00Z"}`)
	f.Add(`{`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, body string) {
		clk := newClock()
		m, err := New(NewMemoryStore(), Config{KEK: kek, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		api, err := NewAPI(m, APIConfig{MEFToken: mefToken, CSEToken: cseToken, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, KeysPath, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+mefToken)
		rec := httptest.NewRecorder()
		api.Handler().ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusBadRequest:
		case http.StatusCreated:
			var p ProvisionRequest
			if err := decodeStrict(body, &p); err != nil {
				t.Fatalf("201 for a body that does not decode: %v", err)
			}
			if _, err := m.Lookup(t.Context(), p.KmrID); err != nil {
				t.Fatalf("accepted Kmr not found: %v", err)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
