package mef_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testlog"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/maf"
	"github.com/opengba/opengba/naf/mef"
	"github.com/opengba/opengba/naf/naftest"
)

const (
	mefFQDN   = "mef.sp.example"
	bsfDomain = "bsf.home1.net"
	mafToken  = "maf-mef-token-0123456789"
	cseToken  = "maf-cse-token-0123456789"
	adminTok  = "mef-admin-token-0123456789"
	impi1     = "user1_private@home1.net"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects the output of concurrent writers.
type syncBuffer = testlog.Buffer

// rig: fake BSF → cache → Ua authenticator → MEF handler (httptest), provisioning a real
// MAF API server (httptest) through maf.Client.
type rig struct {
	t        *testing.T
	clk      *clock
	bsf      *naftest.FakeBSF
	store    mef.Store
	mafStore *maf.MemoryStore
	mafSrv   *httptest.Server
	cse      *maf.Client
	mef      *mef.MEF
	srv      *httptest.Server
	logs     *syncBuffer
}

type rigOpts struct {
	sqlite   bool
	open     bool
	mafToken string // token the MEF uses (default: the right one)
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	r := &rig{t: t, clk: &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.bsf = naftest.NewFakeBSF(r.clk.Now)

	// MAF server.
	r.mafStore = maf.NewMemoryStore()
	m, err := maf.New(r.mafStore, maf.Config{KEK: bytes.Repeat([]byte{0x11}, maf.KEKSize), Now: r.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	api, err := maf.NewAPI(m, maf.APIConfig{MEFToken: mafToken, CSEToken: cseToken, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	r.mafSrv = httptest.NewServer(api.Handler())
	t.Cleanup(r.mafSrv.Close)
	tok := o.mafToken
	if tok == "" {
		tok = mafToken
	}
	mafClient, err := maf.NewClient(maf.ClientConfig{URL: r.mafSrv.URL, Token: tok, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.cse, _ = maf.NewClient(maf.ClientConfig{URL: r.mafSrv.URL, Token: cseToken})

	// MEF.
	if o.sqlite {
		s, err := mef.OpenSQLiteStore(t.Context(), filepath.Join(t.TempDir(), "mef.db"), 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		r.store = s
	} else {
		r.store = mef.NewMemoryStore()
	}
	r.mef, err = mef.New(mef.Config{
		SPID: "sp.example", INCSEID: "/in-cse", MAFID: "maf.sp.example", OpenEnrolment: o.open,
		Logger: log, Now: r.clk.Now,
	}, r.store, mafClient)
	if err != nil {
		t.Fatal(err)
	}
	cache := naf.NewCache(r.bsf, naf.CacheConfig{Now: r.clk.Now})
	ua, err := naf.NewAuthenticator(naf.UaConfig{NAFFQDN: mefFQDN, Keys: cache, Now: r.clk.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h, err := mef.NewHandler(r.mef, ua, mef.APIConfig{AdminToken: adminTok, Logger: log, Now: r.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(h)
	t.Cleanup(r.srv.Close)
	return r
}

// session bootstraps a session for impi with RAND byte rb in the fake BSF and returns the
// UE for the MEF's NAF FQDN.
func (r *rig) session(impi string, rb byte, lifetime time.Duration) *naftest.UE {
	r.t.Helper()
	v, err := naftest.Vector("TS35208/set1/gba-me/http-digest")
	if err != nil {
		r.t.Fatal(err)
	}
	s := naftest.BSFSession{
		CK: naftest.MustHex(v.CK), IK: naftest.MustHex(v.IK), RAND: bytes.Repeat([]byte{rb}, 16),
		IMPI: impi, BSFDomain: bsfDomain, Expires: r.clk.Now().Add(lifetime),
	}
	if rb == 0 {
		s.RAND = naftest.MustHex(v.RAND)
	}
	if _, err := r.bsf.Bootstrap(s); err != nil {
		r.t.Fatal(err)
	}
	ue, err := naftest.NewUE(s, mefFQDN, gba.UaIDHTTPDigest)
	if err != nil {
		r.t.Fatal(err)
	}
	return ue
}

func (r *rig) post(authz string, body []byte) (*http.Response, []byte) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+mef.EnrolmentPath, bytes.NewReader(body))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// enrol runs the Ua exchange: challenge, then the authenticated POST.
func (r *rig) enrol(ue *naftest.UE) (*http.Response, []byte) {
	r.t.Helper()
	resp, _ := r.post("", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		r.t.Fatalf("unauthenticated enrolment: %d, want 401", resp.StatusCode)
	}
	if err := ue.SetChallenge(resp.Header.Get("WWW-Authenticate")); err != nil {
		r.t.Fatal(err)
	}
	body := []byte("{}")
	authz, creds, err := ue.Authorize(http.MethodPost, mef.EnrolmentPath, body)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, b := r.post(authz, body)
	if resp.StatusCode == http.StatusOK {
		if err := ue.VerifyAuthInfo(creds, resp, b); err != nil {
			r.t.Fatalf("MEF not authenticated by the UE: %v", err)
		}
	}
	return resp, b
}

func (r *rig) register(impi, sub, node, cse string) {
	r.t.Helper()
	if _, _, err := mef.Register(r.t.Context(), r.store, mef.Registration{IMPI: impi, SubscriptionID: sub, NodeID: node, CSEID: cse}, r.clk.Now()); err != nil {
		r.t.Fatal(err)
	}
}

func decode(t *testing.T, b []byte) (mef.EnrolmentResponse, map[string]any) {
	t.Helper()
	var out mef.EnrolmentResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	return out, raw
}

func (r *rig) noKeyLeaks(ue *naftest.UE, extra string) {
	r.t.Helper()
	out := r.logs.String() + extra
	if strings.Contains(out, ue.KsNAF.Base64()) || strings.Contains(out, hex.EncodeToString(ue.KsNAF.Bytes())) {
		r.t.Error("Kmr (Ks_NAF) found in logs or response")
	}
}

func TestEnrolEndToEnd(t *testing.T) {
	for _, sqlite := range []bool{false, true} {
		name := map[bool]string{false: "memory", true: "sqlite"}[sqlite]
		t.Run(name, func(t *testing.T) {
			r := newRig(t, rigOpts{sqlite: sqlite})
			r.register(impi1, "sub-42", "urn:example:node:0001", "/cse-0001")
			ue := r.session(impi1, 0, 24*time.Hour)
			resp, b := r.enrol(ue)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			got, raw := decode(t, b)
			want := mef.EnrolmentResponse{
				NodeID: "urn:example:node:0001", CSEID: "/cse-0001", INCSEID: "/in-cse", MAFID: "maf.sp.example",
				KmrID: ue.BTID, KmrExpires: r.clk.Now().Add(24 * time.Hour).Format(time.RFC3339),
			}
			if got != want {
				t.Fatalf("response %+v\nwant     %+v", got, want)
			}
			for _, k := range []string{"node_id", "cse_id", "in_cse_id", "maf_id", "kmr_id", "kmr_expires"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("field %q missing", k)
				}
			}
			if len(raw) != 6 {
				t.Errorf("unexpected fields in %s", b)
			}
			// The MAF holds exactly the UE's Ks_NAF as Kmr, looked up by the IN-CSE.
			e, err := r.cse.Lookup(t.Context(), ue.BTID)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Kmr.Equal(ue.KsNAF) || e.NodeID != want.NodeID || !e.Expires.Equal(r.clk.Now().Add(24*time.Hour)) {
				t.Fatalf("MAF entry %+v does not hold the UE's Ks_NAF", e)
			}
			if r.mafStore.Len() != 1 {
				t.Errorf("MAF holds %d keys, want 1", r.mafStore.Len())
			}
			rec, err := r.store.GetEnrolment(t.Context(), impi1)
			if err != nil || rec.KmrID != ue.BTID || rec.NodeID != want.NodeID || rec.SubscriptionID != "sub-42" {
				t.Fatalf("enrolment record %+v, %v", rec, err)
			}
			r.noKeyLeaks(ue, string(b))
		})
	}
}

func TestEnrolGeneratedNodeID(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.register(impi1, "sub-1", "", "")
	ue := r.session(impi1, 0, time.Hour)
	resp, b := r.enrol(ue)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	got, raw := decode(t, b)
	if _, ok := raw["cse_id"]; ok {
		t.Errorf("cse_id present without a CSE: %s", b)
	}
	if got.NodeID != r.mef.NodeID(impi1) || !strings.HasPrefix(got.NodeID, "urn:oneM2M:node:sp.example:") || len(got.NodeID) != len("urn:oneM2M:node:sp.example:")+32 {
		t.Fatalf("node_id %q", got.NodeID)
	}
	if strings.Contains(got.NodeID, "user1") {
		t.Error("Node-ID reveals the IMPI")
	}
	if r.mef.NodeID("other@home1.net") == got.NodeID {
		t.Error("two IMPIs share a Node-ID")
	}
	// Stable: a second MEF with the same SP-ID generates the same Node-ID; a keyed one does not.
	m2, _ := mef.New(mef.Config{SPID: "sp.example", INCSEID: "/in", MAFID: "maf.sp.example"}, mef.NewMemoryStore(), r.cse)
	m3, _ := mef.New(mef.Config{SPID: "sp.example", INCSEID: "/in", MAFID: "maf.sp.example", NodeIDKey: []byte("k")}, mef.NewMemoryStore(), r.cse)
	if m2.NodeID(impi1) != got.NodeID || m3.NodeID(impi1) == got.NodeID {
		t.Error("Node-ID generation is not stable or ignores the key")
	}
}

func TestReEnrolmentRevokesOldKmr(t *testing.T) {
	r := newRig(t, rigOpts{sqlite: true})
	r.register(impi1, "sub-1", "urn:example:node:a", "")
	ue1 := r.session(impi1, 1, time.Hour)
	if resp, b := r.enrol(ue1); resp.StatusCode != 200 {
		t.Fatalf("first enrolment: %d %s", resp.StatusCode, b)
	}
	// The operator moves the subscription to another Node-ID; the device bootstraps again
	// (new B-TID) and enrols. The MAF's per-Node-ID replacement does not apply, so only the
	// MEF's revocation removes the old Kmr.
	r.register(impi1, "sub-1", "urn:example:node:b", "")
	r.clk.Advance(time.Minute)
	ue2 := r.session(impi1, 2, time.Hour)
	resp, b := r.enrol(ue2)
	if resp.StatusCode != 200 {
		t.Fatalf("re-enrolment: %d %s", resp.StatusCode, b)
	}
	if got, _ := decode(t, b); got.KmrID != ue2.BTID || got.NodeID != "urn:example:node:b" {
		t.Fatalf("re-enrolment answer %+v", got)
	}
	if _, err := r.cse.Lookup(t.Context(), ue1.BTID); !errors.Is(err, maf.ErrNotFound) {
		t.Fatalf("old Kmr still at the MAF: %v", err)
	}
	e, err := r.cse.Lookup(t.Context(), ue2.BTID)
	if err != nil || !e.Kmr.Equal(ue2.KsNAF) {
		t.Fatalf("new Kmr: %v", err)
	}
	rec, _ := r.store.GetEnrolment(t.Context(), impi1)
	if rec.KmrID != ue2.BTID || rec.NodeID != "urn:example:node:b" || !rec.Updated.After(rec.Created) {
		t.Fatalf("record not updated: %+v", rec)
	}
	if r.mafStore.Len() != 1 {
		t.Errorf("MAF holds %d keys, want 1", r.mafStore.Len())
	}
	// Same node again with a third B-TID: the MAF replaces the Kmr of the node as well.
	ue3 := r.session(impi1, 3, time.Hour)
	if resp, b := r.enrol(ue3); resp.StatusCode != 200 {
		t.Fatalf("third enrolment: %d %s", resp.StatusCode, b)
	}
	if _, err := r.cse.Lookup(t.Context(), ue2.BTID); !errors.Is(err, maf.ErrNotFound) {
		t.Fatalf("second Kmr still at the MAF: %v", err)
	}
}

func TestEnrolMAFDownNothingWritten(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.register(impi1, "sub-1", "", "")
	ue := r.session(impi1, 0, time.Hour)
	r.mafSrv.Close()
	resp, b := r.enrol(ue)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	var e mef.ErrorResponse
	if err := json.Unmarshal(b, &e); err != nil || !strings.Contains(e.Error, "MAF unavailable") {
		t.Fatalf("reason %q", b)
	}
	if _, err := r.store.GetEnrolment(t.Context(), impi1); !errors.Is(err, mef.ErrNotFound) {
		t.Fatalf("half-written enrolment record: %v", err)
	}
	if r.mafStore.Len() != 0 {
		t.Fatal("MAF holds a key")
	}
	r.noKeyLeaks(ue, string(b))
}

func TestEnrolMAFRejects(t *testing.T) {
	r := newRig(t, rigOpts{mafToken: "wrong-token-0123456789abc"})
	r.register(impi1, "sub-1", "", "")
	ue := r.session(impi1, 0, time.Hour)
	resp, b := r.enrol(ue)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "MAF rejected") {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if _, err := r.store.GetEnrolment(t.Context(), impi1); !errors.Is(err, mef.ErrNotFound) {
		t.Fatal("enrolment recorded although the MAF refused the Kmr")
	}
}

func TestEnrolCommitFailureRevokes(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.register(impi1, "sub-1", "", "")
	r.store.(*mef.MemoryStore).FailEnrolmentWrites = true
	ue := r.session(impi1, 0, time.Hour)
	resp, b := r.enrol(ue)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if _, err := r.cse.Lookup(t.Context(), ue.BTID); !errors.Is(err, maf.ErrNotFound) {
		t.Fatalf("MAF keeps a Kmr the MEF did not record: %v", err)
	}
}

func TestEnrolForbidden(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(r *rig)
		reason string
	}{
		{"unregistered IMPI", func(r *rig) {}, "not registered"},
		{"registration expired", func(r *rig) {
			if _, _, err := mef.Register(r.t.Context(), r.store, mef.Registration{IMPI: impi1, SubscriptionID: "s", Expires: r.clk.Now().Add(time.Minute)}, r.clk.Now()); err != nil {
				r.t.Fatal(err)
			}
			r.clk.Advance(time.Minute)
		}, "expired"},
		{"BSF gives no IMPI", func(r *rig) {
			r.register(impi1, "sub-1", "", "")
			r.bsf.HideIMPI = true
		}, "did not provide the IMPI"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOpts{})
			tc.setup(r)
			ue := r.session(impi1, 0, time.Hour)
			resp, b := r.enrol(ue)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			var e mef.ErrorResponse
			if err := json.Unmarshal(b, &e); err != nil || !strings.Contains(e.Error, tc.reason) {
				t.Fatalf("reason %s, want it to say %q", b, tc.reason)
			}
			if strings.Contains(e.Error, impi1) {
				t.Error("reason echoes the IMPI")
			}
			if r.mafStore.Len() != 0 {
				t.Error("MAF provisioned for a refused enrolment")
			}
		})
	}
}

func TestEnrolOpen(t *testing.T) {
	r := newRig(t, rigOpts{open: true})
	ue := r.session("lab-device@home1.net", 0, time.Hour)
	resp, b := r.enrol(ue)
	if resp.StatusCode != 200 {
		t.Fatalf("open enrolment: %d %s", resp.StatusCode, b)
	}
	if got, _ := decode(t, b); got.NodeID != r.mef.NodeID("lab-device@home1.net") || got.CSEID != "" {
		t.Fatalf("answer %+v", got)
	}
}

func TestEnrolNeedsUa(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.register(impi1, "sub-1", "", "")
	ue := r.session(impi1, 0, time.Hour)
	r.enrol(ue) // sets the challenge
	// Another NAF's key (the device talks to the MEF with a key for another FQDN).
	v, _ := naftest.Vector("TS35208/set1/gba-me/http-digest")
	other, _ := naftest.NewUE(naftest.BSFSession{CK: naftest.MustHex(v.CK), IK: naftest.MustHex(v.IK), RAND: naftest.MustHex(v.RAND), IMPI: impi1, BSFDomain: bsfDomain}, "naf.other.example", gba.UaIDHTTPDigest)
	_ = other.SetChallenge(mustChallenge(r))
	authz, _, _ := other.Authorize(http.MethodPost, mef.EnrolmentPath, nil)
	if resp, _ := r.post(authz, nil); resp.StatusCode != 401 {
		t.Fatalf("another NAF's Ks_NAF: %d, want 401", resp.StatusCode)
	}
}

func mustChallenge(r *rig) string {
	resp, _ := r.post("", nil)
	return resp.Header.Get("WWW-Authenticate")
}

func TestAdminAPI(t *testing.T) {
	r := newRig(t, rigOpts{})
	do := func(method, path, token, body string) (int, []byte) {
		req, _ := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	path := "/admin/v1/registrations/" + impi1
	if st, _ := do(http.MethodGet, "/admin/v1/registrations", "", ""); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	if st, _ := do(http.MethodGet, "/admin/v1/registrations", "wrong-token-xxxxxxxxxxxx", ""); st != 401 {
		t.Fatalf("wrong token: %d", st)
	}
	if st, b := do(http.MethodPut, path, adminTok, `{"subscription_id":"sub-9","cse_id":"/cse-9","expires":"2030-01-01T00:00:00Z"}`); st != 201 {
		t.Fatalf("create: %d %s", st, b)
	}
	if st, b := do(http.MethodPut, path, adminTok, `{"subscription_id":"sub-9","node_id":"urn:x:1"}`); st != 200 {
		t.Fatalf("update: %d %s", st, b)
	}
	st, b := do(http.MethodGet, path, adminTok, "")
	var reg mef.Registration
	if st != 200 || json.Unmarshal(b, &reg) != nil || reg.NodeID != "urn:x:1" || reg.CSEID != "" || reg.IMPI != impi1 {
		t.Fatalf("get: %d %s", st, b)
	}
	for name, tc := range map[string]struct{ body, field string }{
		"bad cse_id":      {`{"subscription_id":"s","cse_id":"cse-9"}`, "cse_id"},
		"no subscription": {`{"node_id":"n"}`, "subscription_id"},
		"unknown field":   {`{"subscription_id":"s","x":1}`, "JSON"},
	} {
		st, b := do(http.MethodPut, "/admin/v1/registrations/other@home1.net", adminTok, tc.body)
		if st != 400 || !strings.Contains(string(b), tc.field) {
			t.Errorf("%s: %d %s", name, st, b)
		}
	}
	if st, b := do(http.MethodPut, "/admin/v1/registrations/other@home1.net", adminTok, `{"subscription_id":"s","node_id":"urn:x:1"}`); st != 409 {
		t.Errorf("duplicate Node-ID: %d %s", st, b)
	}
	if st, b := do(http.MethodGet, "/admin/v1/registrations", adminTok, ""); st != 200 || !strings.Contains(string(b), impi1) {
		t.Errorf("list: %d %s", st, b)
	}
	// Enrol, then the enrolment is listed.
	ue := r.session(impi1, 0, time.Hour)
	if resp, b := r.enrol(ue); resp.StatusCode != 200 {
		t.Fatalf("enrol: %d %s", resp.StatusCode, b)
	}
	if st, b := do(http.MethodGet, "/admin/v1/enrolments/"+impi1, adminTok, ""); st != 200 || !strings.Contains(string(b), ue.BTID) {
		t.Errorf("enrolment: %d %s", st, b)
	}
	if st, b := do(http.MethodGet, "/admin/v1/enrolments", adminTok, ""); st != 200 || !strings.Contains(string(b), "urn:x:1") {
		t.Errorf("enrolments: %d %s", st, b)
	}
	if st, _ := do(http.MethodDelete, path, adminTok, ""); st != 204 {
		t.Errorf("delete: %d", st)
	}
	if st, _ := do(http.MethodDelete, path, adminTok, ""); st != 404 {
		t.Errorf("delete again: %d", st)
	}
	r.noKeyLeaks(ue, "")
}
