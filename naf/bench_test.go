package naf_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/digest"
)

// BenchmarkUaRatio serves the same handler twice over loopback HTTP/1.1 with keep-alive:
// bare, and behind the Ua authenticator with Ks_NAF cached. Each iteration sends one
// request to each, so both see the same conditions; "ratio" is the authenticated
// throughput over the bare throughput (target ≥ 0.6). The UE's Authorization headers are
// computed before the timer starts (the UE's cost is not the NAF's).
//
//	go test -run '^$' -bench BenchmarkUaRatio -benchtime 2000x ./naf/
func BenchmarkUaRatio(b *testing.B) {
	for _, qop := range []digest.QOP{digest.QOPAuth, digest.QOPAuthInt} {
		b.Run(string(qop), func(b *testing.B) {
			r := newRig(b)
			ue, _ := r.bootstrap(24 * time.Hour)
			ue.QOP = qop
			r.challenge(ue)
			handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("ok"))
			})
			bare := httptest.NewServer(handler)
			defer bare.Close()
			auth := httptest.NewServer(r.auth.Middleware(handler))
			defer auth.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			defer client.CloseIdleConnections()

			headers := make([]string, b.N+1)
			for i := range headers {
				h, _, err := ue.Authorize(http.MethodGet, "/", nil)
				if err != nil {
					b.Fatal(err)
				}
				headers[i] = h
			}
			send := func(url, authz string) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if authz != "" {
					req.Header.Set("Authorization", authz)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			// Warm up: connections open, key cached.
			send(bare.URL+"/", "")
			send(auth.URL+"/", headers[0])
			var tBare, tAuth time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				send(bare.URL+"/", "")
				t1 := time.Now()
				send(auth.URL+"/", headers[i+1])
				tAuth += time.Since(t1)
				tBare += t1.Sub(t0)
			}
			b.StopTimer()
			if tAuth > 0 && tBare > 0 {
				b.ReportMetric(float64(b.N)/tBare.Seconds(), "bare-req/s")
				b.ReportMetric(float64(b.N)/tAuth.Seconds(), "ua-req/s")
				b.ReportMetric(tBare.Seconds()/tAuth.Seconds(), "ratio")
			}
			if st := r.cache.Stats(); st.Fetches != 1 {
				b.Errorf("key fetched %d times, want 1 (cached)", st.Fetches)
			}
		})
	}
}
