package maf

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testcert"
)

const (
	mefToken = "mef-token-0123456789abcdef"
	cseToken = "cse-token-0123456789abcdef"
	btid1    = "I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net"
	btid2    = "fve4iTWb1rTb297CzVSrpw==@bsf.home1.net"
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

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func key(t testing.TB, b byte) gba.Key {
	t.Helper()
	k, err := gba.NewKey(bytes.Repeat([]byte{b}, gba.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var kek = bytes.Repeat([]byte{0x42}, KEKSize)

// stores returns a fresh store of each kind.
func stores(t *testing.T) map[string]func() Store {
	return map[string]func() Store{
		"memory": func() Store { return NewMemoryStore() },
		"sqlite": func() Store {
			s, err := OpenSQLiteStore(t.Context(), filepath.Join(t.TempDir(), "maf.db"), 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

func TestMAFLifecycle(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			clk := newClock()
			st := mk()
			m, err := New(st, Config{KEK: kek, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			k1 := key(t, 0xab)
			exp := clk.Now().Add(time.Hour)
			if err := m.Provision(ctx, Entry{KmrID: btid1, NodeID: "urn:node:1", Kmr: k1, Expires: exp}); err != nil {
				t.Fatal(err)
			}
			e, err := m.Lookup(ctx, btid1)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Kmr.Equal(k1) || e.NodeID != "urn:node:1" || !e.Expires.Equal(exp) {
				t.Fatalf("lookup = %+v", e)
			}
			// Encrypted at rest: the store never holds the key octets.
			r, err := st.Get(ctx, btid1)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(r.Sealed, k1.Bytes()) || r.Sealed[0] != sealVersion {
				t.Fatal("store holds the key in clear")
			}
			// AAD = Kmr-ID: a sealed blob moved to another Kmr-ID does not open.
			if err := st.Put(ctx, Record{KmrID: btid2, NodeID: "urn:node:other", Sealed: r.Sealed, Expires: exp}); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Lookup(ctx, btid2); !errors.Is(err, ErrSealed) {
				t.Fatalf("moved blob: %v, want ErrSealed", err)
			}
			// Another KEK cannot open it.
			other, _ := New(st, Config{KEK: bytes.Repeat([]byte{1}, KEKSize), Now: clk.Now})
			if _, err := other.Lookup(ctx, btid1); !errors.Is(err, ErrSealed) {
				t.Fatalf("wrong KEK: %v, want ErrSealed", err)
			}
			// PSK by identity = Kmr-ID.
			psk, err := m.PSK(ctx, []byte(btid1))
			if err != nil || !bytes.Equal(psk, k1.Bytes()) {
				t.Fatalf("PSK: %v", err)
			}
			// A new Kmr for the same Node-ID supersedes the old one.
			k2 := key(t, 0xcd)
			if err := m.Provision(ctx, Entry{KmrID: btid2, NodeID: "urn:node:1", Kmr: k2, Expires: exp}); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Lookup(ctx, btid1); !errors.Is(err, ErrNotFound) {
				t.Fatalf("old Kmr after re-provisioning: %v, want ErrNotFound", err)
			}
			if e, err := m.Lookup(ctx, btid2); err != nil || !e.Kmr.Equal(k2) {
				t.Fatalf("new Kmr: %v", err)
			}
			// Revoke.
			if err := m.Revoke(ctx, btid2); err != nil {
				t.Fatal(err)
			}
			if err := m.Revoke(ctx, btid2); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second revoke: %v", err)
			}
			// Expiry: expired → ErrExpired and gone; Sweep removes expired records.
			if err := m.Provision(ctx, Entry{KmrID: btid1, NodeID: "urn:node:1", Kmr: k1, Expires: clk.Now().Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if err := m.Provision(ctx, Entry{KmrID: btid2, NodeID: "urn:node:2", Kmr: k2, Expires: clk.Now().Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Minute)
			if _, err := m.Lookup(ctx, btid1); !errors.Is(err, ErrExpired) {
				t.Fatalf("expired: %v, want ErrExpired", err)
			}
			if _, err := m.Lookup(ctx, btid1); !errors.Is(err, ErrNotFound) {
				t.Fatalf("expired entry not deleted: %v", err)
			}
			if n, err := m.Sweep(ctx); err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want 1", n, err)
			}
			if _, err := st.Get(ctx, btid2); !errors.Is(err, ErrNotFound) {
				t.Fatal("sweep left an expired record")
			}
		})
	}
}

func TestMAFProvisionValidates(t *testing.T) {
	clk := newClock()
	m, _ := New(NewMemoryStore(), Config{KEK: kek, Now: clk.Now})
	exp := clk.Now().Add(time.Hour)
	for name, e := range map[string]Entry{
		"no kmr_id":   {NodeID: "n", Kmr: key(t, 1), Expires: exp},
		"space in id": {KmrID: "a b", NodeID: "n", Kmr: key(t, 1), Expires: exp},
		"no node_id":  {KmrID: btid1, Kmr: key(t, 1), Expires: exp},
		"no kmr":      {KmrID: btid1, NodeID: "n", Expires: exp},
		"expired":     {KmrID: btid1, NodeID: "n", Kmr: key(t, 1), Expires: clk.Now()},
		"long id":     {KmrID: strings.Repeat("a", MaxKmrIDLen+1), NodeID: "n", Kmr: key(t, 1), Expires: exp},
	} {
		if err := m.Provision(t.Context(), e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := New(NewMemoryStore(), Config{KEK: kek[:16]}); err == nil {
		t.Error("16-octet KEK accepted")
	}
}

func TestSQLiteStoreDurable(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "maf.db")
	clk := newClock()
	s, err := OpenSQLiteStore(ctx, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := New(s, Config{KEK: kek, Now: clk.Now})
	if err := m.Provision(ctx, Entry{KmrID: btid1, NodeID: "n", Kmr: key(t, 7), Expires: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s2, err := OpenSQLiteStore(ctx, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	m2, _ := New(s2, Config{KEK: kek, Now: clk.Now})
	if e, err := m2.Lookup(ctx, btid1); err != nil || !e.Kmr.Equal(key(t, 7)) {
		t.Fatalf("after reopen: %v", err)
	}
}

// apiRig serves the MAF API over httptest.
type apiRig struct {
	clk  *clock
	m    *MAF
	srv  *httptest.Server
	logs *bytes.Buffer
}

func newAPIRig(t *testing.T) *apiRig {
	clk := newClock()
	m, err := New(NewMemoryStore(), Config{KEK: kek, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	api, err := NewAPI(m, APIConfig{MEFToken: mefToken, CSEToken: cseToken,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &apiRig{clk: clk, m: m, srv: srv, logs: logs}
}

func client(t *testing.T, url, token string) *Client {
	c, err := NewClient(ClientConfig{URL: url, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAPI(t *testing.T) {
	r := newAPIRig(t)
	ctx := t.Context()
	mef := client(t, r.srv.URL, mefToken)
	cse := client(t, r.srv.URL, cseToken)
	stranger := client(t, r.srv.URL, "not-the-token-0123456789")
	k := key(t, 0x5c)
	exp := r.clk.Now().Add(time.Hour).Truncate(time.Second)
	e := Entry{KmrID: btid1, NodeID: "urn:oneM2M:node:sp:1", Kmr: k, Expires: exp}

	if err := stranger.Provision(ctx, e); !errors.Is(err, ErrRejected) {
		t.Fatalf("stranger provision: %v", err)
	}
	if err := cse.Provision(ctx, e); !errors.Is(err, ErrRejected) {
		t.Fatalf("IN-CSE token provisions: %v", err)
	}
	if err := mef.Provision(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := mef.Lookup(ctx, btid1); !errors.Is(err, ErrRejected) {
		t.Fatalf("MEF token reads keys back: %v", err)
	}
	got, err := cse.Lookup(ctx, btid1)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Kmr.Equal(k) || got.NodeID != e.NodeID || got.KmrID != btid1 || !got.Expires.Equal(exp) {
		t.Fatalf("lookup = %+v", got)
	}
	if _, err := cse.Lookup(ctx, btid2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if err := mef.Revoke(ctx, btid1); err != nil {
		t.Fatal(err)
	}
	if err := mef.Revoke(ctx, btid1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	// Expired → 410.
	e.Expires = r.clk.Now().Add(time.Minute)
	if err := mef.Provision(ctx, e); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(time.Minute)
	if _, err := cse.Lookup(ctx, btid1); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v, want ErrExpired (410)", err)
	}
	// Bad requests.
	for name, body := range map[string]string{
		"not json":      "{",
		"unknown field": `{"node_id":"n","kmr_id":"k","kmr":"` + k.Base64() + `","expires":"2030-01-01T00:00:00Z","x":1}`,
		"short kmr":     `{"node_id":"n","kmr_id":"k","kmr":"AAAA","expires":"2030-01-01T00:00:00Z"}`,
		"no node":       `{"kmr_id":"k","kmr":"` + k.Base64() + `","expires":"2030-01-01T00:00:00Z"}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, r.srv.URL+KeysPath, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+mefToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
		}
	}
	if out := r.logs.String(); strings.Contains(out, k.Base64()) || strings.Contains(out, hex.EncodeToString(k.Bytes())) {
		t.Error("logs contain the Kmr")
	}
}

func TestNewAPIValidates(t *testing.T) {
	m, _ := New(NewMemoryStore(), Config{KEK: kek})
	for _, cfg := range []APIConfig{
		{MEFToken: "short", CSEToken: cseToken},
		{MEFToken: mefToken, CSEToken: ""},
		{MEFToken: mefToken, CSEToken: mefToken},
		{MEFAuth: "basic", MEFToken: mefToken, CSEToken: cseToken},
	} {
		if _, err := NewAPI(m, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestAPIMutualTLS provisions with a client certificate instead of a token.
func TestAPIMutualTLS(t *testing.T) {
	ca := testcert.NewCA(t)
	clk := newClock()
	m, _ := New(NewMemoryStore(), Config{KEK: kek, Now: clk.Now})
	api, err := NewAPI(m, APIConfig{MEFAuth: MEFAuthMTLS, MEFClientNames: []string{"mef.sp.example"}, CSEToken: cseToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.Handler())
	srv.TLS = &tls.Config{ClientCAs: ca.Pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()
	rootTLS := srv.Client().Transport.(*http.Transport).TLSClientConfig

	mk := func(cn string) *Client {
		cert := ca.Issue(t, cn)
		cfg := rootTLS.Clone()
		cfg.Certificates = []tls.Certificate{cert}
		c, err := NewClient(ClientConfig{URL: srv.URL, TLS: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	e := Entry{KmrID: btid1, NodeID: "n", Kmr: key(t, 3), Expires: clk.Now().Add(time.Hour)}
	if err := mk("mef.sp.example").Provision(t.Context(), e); err != nil {
		t.Fatalf("MEF certificate: %v", err)
	}
	if err := mk("intruder.example").Provision(t.Context(), e); !errors.Is(err, ErrRejected) {
		t.Fatalf("other certificate: %v, want ErrRejected", err)
	}
	noCert, _ := NewClient(ClientConfig{URL: srv.URL, TLS: rootTLS, Token: mefToken})
	if err := noCert.Provision(t.Context(), e); !errors.Is(err, ErrRejected) {
		t.Fatalf("no certificate: %v, want ErrRejected", err)
	}
}

func TestSealNoKeyInErrors(t *testing.T) {
	m, _ := New(NewMemoryStore(), Config{KEK: kek})
	k := key(t, 0x99)
	_, err := m.open(btid1, []byte{sealVersion, 1, 2, 3})
	if err == nil || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k.Bytes())) {
		t.Fatalf("err = %v", err)
	}
}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // quiet route logging
	os.Exit(m.Run())
}
