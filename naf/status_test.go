package naf

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/specs"
)

func TestUaStatus(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		status  int
		stale   bool
		outcome Outcome
	}{
		{"nil", nil, 200, false, OutcomeSuccess},
		{"no credentials", ErrNoCredentials, 401, false, OutcomeChallenge},
		{"5403 unknown B-TID", fmt.Errorf("zn: %w", ErrBTIDUnknown), 401, false, OutcomeUnknownBTID},
		{"malformed B-TID", fmt.Errorf("%w: x", gba.ErrInvalidBTID), 401, false, OutcomeUnknownBTID},
		{"5402 not authorised", fmt.Errorf("zn: %w", ErrNotAuthorized), 403, false, OutcomeForbidden},
		{"BSF unavailable", fmt.Errorf("zn: %w", ErrBSFUnavailable), 503, false, OutcomeBSFUnavailable},
		{"Zn timeout", fmt.Errorf("zn: %w", context.DeadlineExceeded), 503, false, OutcomeBSFUnavailable},
		{"unusable key", ErrInvalidKey, 502, false, OutcomeError},
		{"malformed", fmt.Errorf("%w: %w", ErrMalformedCredentials, digest.ErrSyntax), 400, false, OutcomeBadRequest},
		{"uri mismatch", ErrURIMismatch, 400, false, OutcomeBadRequest},
		{"body too large", ErrBodyTooLarge, 413, false, OutcomeTooLarge},
		{"realm", ErrRealmMismatch, 401, false, OutcomeRejected},
		{"unsupported", ErrUnsupported, 401, false, OutcomeRejected},
		{"opaque", ErrOpaqueMismatch, 401, false, OutcomeRejected},
		{"nonce invalid", ErrNonceInvalid, 401, false, OutcomeRejected},
		{"nonce stale", ErrNonceStale, 401, true, OutcomeStale},
		{"nc replay", ErrNonceReplay, 401, true, OutcomeStale},
		{"response mismatch", digest.ErrResponseMismatch, 401, false, OutcomeBadResponse},
		{"unknown error", errors.New("boom"), 500, false, OutcomeError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := uaStatus(tc.err); got != tc.status {
				t.Errorf("uaStatus = %d, want %d", got, tc.status)
			}
			if got := uaStale(tc.err); got != tc.stale {
				t.Errorf("uaStale = %v, want %v", got, tc.stale)
			}
			if got := uaOutcome(tc.err); got != tc.outcome {
				t.Errorf("uaOutcome = %q, want %q", got, tc.outcome)
			}
			if tc.err != nil && uaReason(tc.err) == "" {
				t.Error("empty reason")
			}
		})
	}
}

type uaVectors struct {
	Responses []struct {
		Name         string `json:"name"`
		Algorithm    string `json:"algorithm"`
		Password     string `json:"password"`
		Username     string `json:"username"`
		Realm        string `json:"realm"`
		Nonce        string `json:"nonce"`
		Method       string `json:"method"`
		URI          string `json:"uri"`
		Body         string `json:"body"`
		QOP          string `json:"qop"`
		NC           string `json:"nc"`
		CNonce       string `json:"cnonce"`
		Response     string `json:"response"`
		ResponseBody string `json:"response_body"`
		RspAuth      string `json:"rspauth"`
	} `json:"responses"`
}

type keyVectors struct {
	NAFKeys []struct {
		Name    string `json:"name"`
		CK      string `json:"ck"`
		IK      string `json:"ik"`
		RAND    string `json:"rand"`
		IMPI    string `json:"impi"`
		NAFFQDN string `json:"naf_fqdn"`
	} `json:"naf_keys"`
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// set1KsNAF derives Ks_NAF for naf.home1.net from the TS 35.208 set 1 vector.
func set1KsNAF(t testing.TB) (gba.Key, string) {
	t.Helper()
	var kv keyVectors
	if err := specs.Vectors("ts33220", &kv); err != nil {
		t.Fatal(err)
	}
	for _, v := range kv.NAFKeys {
		if v.Name != "TS35208/set1/gba-me/http-digest" {
			continue
		}
		ks, err := gba.Ks(unhex(t, v.CK), unhex(t, v.IK))
		if err != nil {
			t.Fatal(err)
		}
		k, err := gba.KsNAF(ks, unhex(t, v.RAND), v.IMPI, gba.NAFID{FQDN: v.NAFFQDN, UaID: gba.UaIDHTTPDigest})
		if err != nil {
			t.Fatal(err)
		}
		return k, v.IMPI
	}
	t.Fatal("vector TS35208/set1/gba-me/http-digest missing")
	return gba.Key{}, ""
}

// TestUaGolden checks the Ua arithmetic against specs/vectors/digest.json: the password is
// base64 of the Ks_NAF the NAF would get for the set-1 B-TID, the golden response verifies,
// and the Authentication-Info the authenticator builds carries the golden rspauth.
func TestUaGolden(t *testing.T) {
	var uv uaVectors
	if err := specs.Vectors("digest", &uv); err != nil {
		t.Fatal(err)
	}
	k, _ := set1KsNAF(t)
	found := false
	for _, v := range uv.Responses {
		if v.Name != "TS35208/set1/Ua/MD5/auth-int" {
			continue
		}
		found = true
		t.Run(v.Name, func(t *testing.T) {
			if k.Base64() != v.Password {
				t.Fatalf("base64(Ks_NAF) differs from the vector password")
			}
			if _, err := gba.ParseBTID(v.Username); err != nil {
				t.Fatalf("username is not a B-TID: %v", err)
			}
			if v.Realm != digest.UaRealm("naf.home1.net", false) {
				t.Fatalf("realm %q", v.Realm)
			}
			h := fmt.Sprintf(`Digest username=%q, realm=%q, nonce=%q, uri=%q, qop=%s, nc=%s, cnonce=%q, response=%q, algorithm=%s`,
				v.Username, v.Realm, v.Nonce, v.URI, v.QOP, v.NC, v.CNonce, v.Response, v.Algorithm)
			c, err := digest.ParseCredentials(h)
			if err != nil {
				t.Fatal(err)
			}
			password := []byte(k.Base64())
			if err := c.Verify(password, v.Method, []byte(v.Body)); err != nil {
				t.Fatalf("golden response does not verify: %v", err)
			}
			if err := c.Verify(password, v.Method, []byte(v.Body+" ")); err == nil {
				t.Fatal("tampered body verifies")
			}
			a := &Authenticator{}
			info, err := a.authInfo(&uaResult{creds: c, password: password}, []byte(v.ResponseBody))
			if err != nil {
				t.Fatal(err)
			}
			ai, err := digest.ParseAuthInfo(info)
			if err != nil {
				t.Fatal(err)
			}
			if ai.RspAuth != v.RspAuth || ai.QOP != digest.QOPAuthInt || ai.CNonce != v.CNonce || ai.NC != c.NC {
				t.Errorf("Authentication-Info %q, want rspauth %s", info, v.RspAuth)
			}
		})
	}
	if !found {
		t.Fatal("vector TS35208/set1/Ua/MD5/auth-int missing")
	}
}

type fixedReader byte

func (f fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}

func TestNonceTable(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	n, err := newNonces(fixedReader(7), clock, time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	issue := func() (string, int64) {
		t.Helper()
		s, err := n.issue()
		if err != nil {
			t.Fatal(err)
		}
		issued, st := n.check(s)
		if st != nonceFresh {
			t.Fatalf("fresh nonce state %v", st)
		}
		now = now.Add(time.Millisecond)
		return s, issued
	}
	a, ai := issue()
	if err := n.use(a, ai, 1); err != nil {
		t.Fatal(err)
	}
	if err := n.use(a, ai, 1); !errors.Is(err, ErrNonceReplay) {
		t.Errorf("same nc: %v, want ErrNonceReplay", err)
	}
	if err := n.use(a, ai, 2); err != nil {
		t.Errorf("nc 2: %v", err)
	}
	// Fill the table (max 2): b, then c evicts a and raises the floor to a's issue time.
	b, bi := issue()
	if err := n.use(b, bi, 1); err != nil {
		t.Fatal(err)
	}
	c, ci := issue()
	if err := n.use(c, ci, 1); err != nil {
		t.Fatal(err)
	}
	if n.len() != 2 {
		t.Errorf("table holds %d, want 2", n.len())
	}
	if err := n.use(a, ai, 3); !errors.Is(err, ErrNonceStale) {
		t.Errorf("evicted nonce: %v, want ErrNonceStale (never a silent re-accept)", err)
	}
	if err := n.use(b, bi, 1); !errors.Is(err, ErrNonceReplay) {
		t.Errorf("b replay: %v", err)
	}
	// Tampered and foreign nonces.
	raw := []byte(c)
	raw[3] ^= 1
	if _, st := n.check(string(raw)); st != nonceBad {
		t.Error("tampered nonce accepted")
	}
	for _, s := range []string{"", "a3f1c0de5b7e4e6f9d2c8b1a0e9f7d6c", c + "A"} {
		if _, st := n.check(s); st != nonceBad {
			t.Errorf("nonce %q accepted", s)
		}
	}
	// Expiry: stale after TTL, and expired entries leave the table.
	now = now.Add(time.Minute)
	if _, st := n.check(c); st != nonceExpired {
		t.Errorf("old nonce state %v, want expired", st)
	}
	d, di := issue()
	if err := n.use(d, di, 1); err != nil {
		t.Fatal(err)
	}
	if n.len() > 2 {
		t.Errorf("table holds %d after expiry", n.len())
	}
	// Another authenticator (another secret) does not accept these nonces.
	other, _ := newNonces(fixedReader(8), clock, time.Minute, 2)
	if _, st := other.check(d); st != nonceBad {
		t.Error("nonce accepted by an authenticator with another secret")
	}
}

func TestNewAuthenticatorValidates(t *testing.T) {
	keys := KeySourceFunc(func(context.Context, string, gba.NAFID) (NAFKey, error) { return NAFKey{}, nil })
	for _, cfg := range []UaConfig{
		{NAFFQDN: "naf.home1.net"},
		{NAFFQDN: "naf..net", Keys: keys},
		{NAFFQDN: "", Keys: keys},
		{NAFFQDN: "naf.home1.net", Keys: keys, QOP: []digest.QOP{"auth-conf"}},
		{NAFFQDN: "naf.home1.net", Keys: keys, QOP: []digest.QOP{}},
		{NAFFQDN: "naf.home1.net", Keys: keys, UaID: 1 << 41},
	} {
		if _, err := NewAuthenticator(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	a, err := NewAuthenticator(UaConfig{NAFFQDN: "naf.home1.net", Keys: keys, UICC: true, UaID: gba.UaIDTLSPSK(0xAE)})
	if err != nil {
		t.Fatal(err)
	}
	if a.Realm() != "3GPP-bootstrapping-uicc@naf.home1.net" {
		t.Errorf("GBA_U realm %q", a.Realm())
	}
	if got := a.NAFID().Bytes(); !bytes.Equal(got, append([]byte("naf.home1.net"), 1, 0, 1, 0, 0xAE)) {
		t.Errorf("NAF_Id %x", got)
	}
	if d, _ := NewAuthenticator(UaConfig{NAFFQDN: "naf.home1.net", Keys: keys}); !bytes.Equal(d.NAFID().Bytes()[13:], []byte{1, 0, 0, 0, 2}) {
		t.Errorf("default Ua id %x, want 01 00 00 00 02", d.NAFID().Bytes()[13:])
	}
}

func TestNAFKeyRedacted(t *testing.T) {
	k, impi := set1KsNAF(t)
	v := NAFKey{KsNAF: k, Expires: time.Unix(2e9, 0), IMPI: impi, USS: []byte("<ussList/>")}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("zn answer", "key", v)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s %x %q", v, v, v, v, v, v), buf.String()} {
		if strings.Contains(out, k.Base64()) || strings.Contains(out, hex.EncodeToString(k.Bytes())) {
			t.Fatalf("key leaks: %s", out)
		}
	}
	if strings.Contains(buf.String(), impi) || !strings.Contains(buf.String(), "expires") {
		t.Errorf("slog record %s", buf.String())
	}
}
