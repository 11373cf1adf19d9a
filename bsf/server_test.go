package bsf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/internal/testcert"
)

func TestOpsHandler(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, nil, time.Time{})
	newTestUE(t, tb, impi1).bootstrap()
	ops := httptest.NewServer(tb.OpsHandler())
	defer ops.Close()
	get := func(path string) (int, string) {
		resp, err := ops.Client().Get(ops.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz %d with the HSS up", code)
	}
	tb.hss.ready.Store(false)
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz %d with no HSS peer up, want 503", code)
	}
	tb.Metrics().ZhLatency.WithLabelValues("success").Observe(0.001)
	tb.Metrics().HSSPeerUp.WithLabelValues("hss.home1.net").Set(1)
	_, body := get("/metrics")
	for _, want := range []string{
		`bsf_ub_results_total{outcome="challenge"} 1`,
		`bsf_ub_results_total{outcome="bootstrapped"} 1`,
		`bsf_sessions_live 1`,
		`bsf_zh_request_duration_seconds_count{result="success"} 1`,
		`bsf_zh_peer_up{peer="hss.home1.net"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// selfSigned writes a self-signed certificate for bsf.home1.net and 127.0.0.1 as PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	c, pool := testcert.SelfSigned(t, "bsf.home1.net")
	certFile, keyFile = testcert.WritePEM(t, t.TempDir(), "cert", c)
	return certFile, keyFile, pool
}

// TestServe runs Serve on real listeners, plain and HTTPS, and shuts it down.
func TestServe(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "http"
		if useTLS {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			var pool *x509.CertPool
			tb := newTestBSF(t, withConfig(func(c *Config) {
				if useTLS {
					c.Ub.TLS.CertFile, c.Ub.TLS.KeyFile, pool = selfSigned(t)
				}
			}))
			tb.hss.add(t, impi1, nil, time.Time{})
			ub, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ops, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tb.Serve(ctx, ub, ops) }()

			ue := newTestUE(t, tb, impi1)
			ue.url = "http://" + ub.Addr().String() + "/"
			ue.client = &http.Client{Timeout: 5 * time.Second}
			if useTLS {
				ue.url = "https://" + ub.Addr().String() + "/"
				ue.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
			}
			ue.bootstrap()
			resp, err := http.Get("http://" + ops.Addr().String() + "/healthz")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("/healthz: %v", err)
			}
			resp.Body.Close()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Serve: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not stop")
			}
		})
	}
}

// TestNoSecretsInLogs runs successful, failing and resynchronising bootstraps with debug
// logging and searches the log for every secret (hex and base64): CK, IK, XRES, Ks and
// Ks_NAF. The IMPI appears only in debug records.
func TestNoSecretsInLogs(t *testing.T) {
	tb := newTestBSF(t)
	tb.hss.add(t, impi1, []byte(gussDoc), testEpoch())
	ue := newTestUE(t, tb, impi1)
	btid, _ := ue.bootstrap()
	ch := ue.challenge()
	auth, _, _ := ue.answer(ch, answerWrongRES)
	ue.do(auth)
	advanceUSIM(t, ue)
	ue.bootstrap()
	ans, err := tb.BootstrappingInfo(context.Background(), ZnRequest{NAFHost: "naf.home1.net", BTID: btid, NAFID: nafID(t, "naf.home1.net", "0100000002")})
	if err != nil {
		t.Fatal(err)
	}
	tb.log.Info("zn answer", "answer", ans, "ks_naf", ans.KsNAF)
	for _, r := range tb.hss.resps {
		tb.log.Debug("av", "av", r)
		ks, _ := gba.Ks(r.CK[:], r.IK[:])
		tb.log.Debug("ks", "ks", ks)
	}

	logs := tb.logs.String()
	var secrets [][]byte
	for _, r := range tb.hss.resps {
		ks, _ := gba.Ks(r.CK[:], r.IK[:])
		secrets = append(secrets, r.CK[:], r.IK[:], r.XRES, ks.Bytes())
	}
	secrets = append(secrets, ans.KsNAF.Bytes())
	for _, s := range secrets {
		for _, enc := range []string{hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)), base64.StdEncoding.EncodeToString(s)} {
			if strings.Contains(logs, enc) {
				t.Fatalf("a secret appears in the logs (%s…)", enc[:6])
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if strings.Contains(line, impi1) && !strings.Contains(line, `"level":"DEBUG"`) {
			t.Errorf("IMPI outside a debug record: %s", line)
		}
	}
	if !strings.Contains(logs, `"result":"bootstrapped"`) || !strings.Contains(logs, `"btid":"`+btid+`"`) {
		t.Error("the Ub log lacks result/btid")
	}
}
