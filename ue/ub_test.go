package ue_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/ue"
	"github.com/opengba/opengba/ue/uetest"
)

// TestBootstrap runs Ub against the BSF stand-in with the TS 35.208 set 1 subscriber and
// checks the UE's Ks, B-TID, Ks_NAF and AKA response against the spec vectors.
func TestBootstrap(t *testing.T) {
	s := set1(t)
	nafKeys, btids := ts33220(t)
	wantBTID := btids["TS35208/set1/bsf.home1.net"].BTID
	nafVec := nafKeys["TS35208/set1/gba-me/http-digest"]

	for _, tc := range []struct {
		name  string
		akaV2 bool
	}{
		{"TS35208/set1/AKAv1-MD5", false},
		{"TS35208/set1/AKAv2-MD5", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var events []ue.Event
			l := newLab(t, func(l *lab) {
				l.bsf.AKAv2 = tc.akaV2
				l.cfg.Trace = func(e ue.Event) { events = append(events, e) }
			})
			b := bootstrap(t, l)

			if b.BTID != wantBTID {
				t.Errorf("BTID = %q, want %q", b.BTID, wantBTID)
			}
			if want := testEpoch().Add(time.Hour); !b.Expires.Equal(want) {
				t.Errorf("Expires = %v, want %v", b.Expires, want)
			}
			if !b.Valid(l.clock.Now()) || b.Valid(testEpoch().Add(time.Hour)) {
				t.Error("Valid does not follow Expires")
			}
			// Ks = CK || IK (TS 33.220 §4.5.2) from the set's f3 and f4.
			if got, want := b.Ks().Bytes(), unhex(t, s.F3+s.F4); !bytes.Equal(got, want) {
				t.Error("Ks is not CK || IK of TS 35.208 set 1")
			}
			sess, ok := l.bsf.Session(b.BTID)
			if !ok || !sess.Ks.Equal(b.Ks()) {
				t.Error("the BSF stand-in holds another Ks")
			}
			ksNAF, err := b.KsNAF(nafVec.NAFFQDN, ue.UaIDHTTPDigest)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ksNAF.Bytes(), unhex(t, nafVec.Key)) || ksNAF.Base64() != nafVec.KeyBase64 {
				t.Errorf("Ks_NAF differs from %s", nafVec.Name)
			}

			auths := l.bsf.Authorizations()
			if len(auths) != 2 {
				t.Fatalf("BSF saw %d requests, want 2", len(auths))
			}
			// TS 24.109 §A.3 step 1.
			if want := `Digest username="user1_private@home1.net", realm="bsf.home1.net", nonce="", uri="/", response=""`; auths[0] != want {
				t.Errorf("initial Authorization =\n %s\nwant\n %s", auths[0], want)
			}
			// The response is computed with password RES (raw octets, RFC 3310 §3.3).
			creds, err := digest.ParseCredentials(auths[1])
			if err != nil {
				t.Fatal(err)
			}
			if creds.QOP != digest.QOPAuthInt || creds.NC != 1 || creds.AUTS != nil || creds.Username != testIMPI {
				t.Errorf("response credentials: %+v", creds)
			}
			alg := digest.AKAv1MD5
			if tc.akaV2 {
				alg = digest.AKAv2MD5
			}
			pw, err := digest.AKAPassword(alg, unhex(t, s.F2), unhex(t, s.F4), unhex(t, s.F3))
			if err != nil {
				t.Fatal(err)
			}
			if err := creds.Verify(pw, http.MethodGet, nil); err != nil {
				t.Errorf("UE response does not verify with the set 1 RES: %v", err)
			}
			if st := l.bsf.Stats(); st.Bootstraps != 1 || st.Challenges != 1 {
				t.Errorf("BSF stats %+v", st)
			}
			if len(events) != 2 || events[0].Step != ue.StepUbChallenge || events[0].StatusCode != 401 ||
				events[1].Step != ue.StepUbDone || events[1].StatusCode != 200 || events[0].Detail != string(alg) {
				t.Errorf("trace = %+v", events)
			}
		})
	}
}

// TestBootstrapUserAgent checks the product token of TS 24.109 §4.2 on Ub.
func TestBootstrapUserAgent(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"", "Bootstrapping Client Agent; Release-6; 3gpp-gba-tmpi"},
		{"acme-meter/2.1", "acme-meter/2.1; 3gpp-gba-tmpi"},
		{"acme-meter/2.1 3gpp-gba-tmpi", "acme-meter/2.1 3gpp-gba-tmpi"},
	} {
		var got string
		l := newLab(t, func(l *lab) { l.cfg.UserAgent = tc.cfg })
		bootstrapWith(t, l, func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("User-Agent") })
		if got != tc.want {
			t.Errorf("UserAgent %q: sent %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

// bootstrapWith bootstraps through a BSF wrapped by spy.
func bootstrapWith(t *testing.T, l *lab, spy http.HandlerFunc) {
	t.Helper()
	hc := l.net.Client()
	inner := hc.Transport
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		spy(nil, r)
		return inner.RoundTrip(r)
	})
	cfg := l.cfg
	cfg.HTTPClient = hc
	c, err := ue.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBootstrapResync: the BSF issues an AUTN with an old SQN, the UE answers with AUTS
// over the empty password (RFC 3310 §3.4), the BSF verifies AUTS (internal/aka), and the
// fresh challenge succeeds (TS 24.109 §4.5).
func TestBootstrapResync(t *testing.T) {
	var events []ue.Event
	l := newLab(t, func(l *lab) { l.cfg.Trace = func(e ue.Event) { events = append(events, e) } })
	if err := l.bsf.SetSEQ(testIMPI, 10); err != nil {
		t.Fatal(err)
	}
	first := bootstrap(t, l)
	if err := l.bsf.SetSEQ(testIMPI, 0); err != nil { // the HSS "forgot": SQN goes back
		t.Fatal(err)
	}
	events = nil
	second := bootstrap(t, l)
	if second.BTID != first.BTID { // same fixed RAND
		t.Errorf("BTID %q != %q", second.BTID, first.BTID)
	}
	st := l.bsf.Stats()
	if st.Resyncs != 1 || st.Bootstraps != 2 || st.Challenges != 3 {
		t.Errorf("BSF stats %+v, want 1 resync, 2 bootstraps, 3 challenges", st)
	}
	auths := l.bsf.Authorizations()
	creds, err := digest.ParseCredentials(auths[len(auths)-2])
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.AUTS) != 14 {
		t.Fatalf("no auts in %q", auths[len(auths)-2])
	}
	if err := creds.Verify(nil, http.MethodGet, nil); err != nil {
		t.Errorf("auts response is not over the empty password: %v", err)
	}
	var steps []ue.Step
	for _, e := range events {
		steps = append(steps, e.Step)
	}
	if want := []ue.Step{ue.StepUbChallenge, ue.StepUbResync, ue.StepUbDone}; !equalSteps(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
}

func equalSteps(a, b []ue.Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// syncAlways is an Authenticator that reports a synchronisation failure every time, with
// the TS 35.208 set 1 AUTS (valid for the set 1 RAND).
type syncAlways struct{ auts [14]byte }

func (syncAlways) IMPI() string { return testIMPI }
func (s syncAlways) Authenticate(context.Context, [16]byte, [16]byte) (ue.AKAResult, error) {
	return ue.AKAResult{}, &ue.SyncFailure{AUTS: s.auts}
}

func TestBootstrapResyncOnlyOnce(t *testing.T) {
	s := set1(t)
	l := newLab(t, func(l *lab) { l.cfg.USIM = syncAlways{auts: [14]byte(unhex(t, s.AUTS))} })
	_, err := l.c.Bootstrap(context.Background())
	var sf *ue.SyncFailure
	if !errors.Is(err, ue.ErrResyncFailed) || !errors.As(err, &sf) {
		t.Fatalf("err = %v, want ErrResyncFailed wrapping *SyncFailure", err)
	}
	if st := l.bsf.Stats(); st.Resyncs != 1 || st.Challenges != 2 {
		t.Errorf("BSF stats %+v, want exactly one resync", st)
	}
}

// TestBootstrapNetworkAuthFailure: a bad AUTN (MAC or AMF) makes the UE send the
// empty-password response without auts (TS 24.109 §4.4) and fail.
func TestBootstrapNetworkAuthFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*lab)
		cause error
	}{
		{"MAC", func(l *lab) { l.bsf.SetFaults(uetest.Faults{WrongMAC: true}) }, ue.ErrMACFailure},
		{"AMF-separation-bit", func(l *lab) { l.bsf.AMF = 0x8000 }, ue.ErrAMFSeparation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, tc.setup)
			_, err := l.c.Bootstrap(context.Background())
			if !errors.Is(err, ue.ErrNetworkAuthFailed) || !errors.Is(err, tc.cause) {
				t.Fatalf("err = %v, want ErrNetworkAuthFailed and %v", err, tc.cause)
			}
			if st := l.bsf.Stats(); st.NetworkAuthFailures != 1 || st.Bootstraps != 0 {
				t.Errorf("BSF stats %+v", st)
			}
			auths := l.bsf.Authorizations()
			creds, err := digest.ParseCredentials(auths[len(auths)-1])
			if err != nil {
				t.Fatal(err)
			}
			if creds.AUTS != nil {
				t.Error("auts sent on a network authentication failure")
			}
			if err := creds.Verify(nil, http.MethodGet, nil); err != nil {
				t.Errorf("response not over the empty password: %v", err)
			}
		})
	}
}

// wrongRES returns the USIM's answer with RES altered.
type wrongRES struct{ *ue.USIM }

func (w wrongRES) Authenticate(ctx context.Context, rand, autn [16]byte) (ue.AKAResult, error) {
	r, err := w.USIM.Authenticate(ctx, rand, autn)
	if err != nil {
		return r, err
	}
	res := r.RES()
	res[0] ^= 0xff
	return ue.NewAKAResult(res, r.CK(), r.IK())
}

func TestBootstrapRejected(t *testing.T) {
	t.Run("wrong-RES", func(t *testing.T) {
		l := newLab(t, func(l *lab) { l.cfg.USIM = wrongRES{l.usim} })
		_, err := l.c.Bootstrap(context.Background())
		var se *ue.StatusError
		if !errors.Is(err, ue.ErrAuthRejected) || !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
			t.Fatalf("err = %v, want ErrAuthRejected with 403", err)
		}
		if st := l.bsf.Stats(); st.UserAuthFailures != 1 {
			t.Errorf("BSF stats %+v", st)
		}
	})
	t.Run("unknown-IMPI", func(t *testing.T) {
		l := newLab(t)
		u, err := ue.NewUSIM("nobody@home1.net", key128(t, set1(t).K), key128(t, set1(t).OPc), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg := l.cfg
		cfg.USIM = u
		c, err := ue.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Bootstrap(context.Background()); !errors.Is(err, ue.ErrAuthRejected) {
			t.Fatalf("err = %v, want ErrAuthRejected", err)
		}
	})
}

// TestBootstrapRspAuth: the UE authenticates the BSF through rspauth (RFC 3310 §3.5).
func TestBootstrapRspAuth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    uetest.RspAuthMode
		allow   bool
		wantErr error
	}{
		{"wrong", uetest.RspAuthWrong, false, ue.ErrServerAuthFailed},
		{"wrong/allow-missing", uetest.RspAuthWrong, true, ue.ErrServerAuthFailed},
		{"missing", uetest.RspAuthMissing, false, ue.ErrServerAuthFailed},
		{"missing/allow-missing", uetest.RspAuthMissing, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, func(l *lab) {
				l.bsf.SetFaults(uetest.Faults{RspAuth: tc.mode})
				l.cfg.AllowMissingRspAuth = tc.allow
			})
			b, err := l.c.Bootstrap(context.Background())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (b != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestBootstrapMalformedXML(t *testing.T) {
	for _, tc := range []struct{ name, body, msg string }{
		{"wrong-namespace", `<BootstrappingInfo xmlns="urn:other"><btid>I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net</btid><lifetime>2030-01-01T00:00:00Z</lifetime></BootstrappingInfo>`, "namespace"},
		{"missing-lifetime", `<BootstrappingInfo xmlns="uri:3gpp-gba"><btid>I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net</btid></BootstrappingInfo>`, "missing <lifetime>"},
		{"bad-btid", `<BootstrappingInfo xmlns="uri:3gpp-gba"><btid>not-a-btid</btid><lifetime>2030-01-01T00:00:00Z</lifetime></BootstrappingInfo>`, "<btid>"},
		{"not-xml", `{"btid":"x"}`, "text outside elements"},
		{"truncated", `<BootstrappingInfo xmlns="uri:3gpp-gba"><btid>`, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, func(l *lab) { l.bsf.SetFaults(uetest.Faults{Body: []byte(tc.body)}) })
			_, err := l.c.Bootstrap(context.Background())
			if !errors.Is(err, ue.ErrBootstrappingInfo) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrBootstrappingInfo mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestBootstrapNetworkError(t *testing.T) {
	l := newLab(t)
	cfg := l.cfg
	cfg.BSF = "http://unknown.home1.net"
	c, err := ue.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Bootstrap(context.Background())
	var uerr *url.Error
	if !errors.As(err, &uerr) {
		t.Fatalf("err = %v, want a *url.Error", err)
	}
}

func TestBootstrapContextCanceled(t *testing.T) {
	l := newLab(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.c.Bootstrap(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNewClientConfig(t *testing.T) {
	l := newLab(t)
	for _, tc := range []struct {
		name string
		mod  func(*ue.Config)
	}{
		{"no-usim", func(c *ue.Config) { c.USIM = nil }},
		{"no-bsf", func(c *ue.Config) { c.BSF = "" }},
		{"ftp-bsf", func(c *ue.Config) { c.BSF = "ftp://bsf.home1.net" }},
		{"userinfo", func(c *ue.Config) { c.BSF = "http://u:p@bsf.home1.net" }},
		{"ua-newline", func(c *ue.Config) { c.UserAgent = "x\r\nEvil: 1" }},
		{"uaid-too-big", func(c *ue.Config) { c.UaID = 1 << 40 }},
		{"negative-body", func(c *ue.Config) { c.MaxBodySize = -1 }},
	} {
		cfg := l.cfg
		tc.mod(&cfg)
		if _, err := ue.NewClient(cfg); !errors.Is(err, ue.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tc.name, err)
		}
	}
}
