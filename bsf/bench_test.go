package bsf

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/digest"
)

// inFlight is the number of concurrent bootstraps in the benchmarks.
const inFlight = 64

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * inFlight, MaxIdleConnsPerHost: 2 * inFlight}}
}

func setParallelism(b *testing.B) {
	p := (inFlight + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	b.SetParallelism(p)
}

// BenchmarkBootstrap measures one full bootstrap (two Ub round trips: 401 challenge, then
// 200 with the session stored) over httptest with the fake HSS, 64 in flight, per store
// backend, next to a bare net/http server answering the same two round trips with canned
// responses. The UE side (Milenage, digest) runs in the client goroutines of the BSF cases.
//
//	go test -run '^$' -bench Bootstrap -benchtime 3000x ./bsf/
func BenchmarkBootstrap(b *testing.B) {
	b.Run("baseline-nethttp", benchBaseline)
	b.Run("memory", func(b *testing.B) { benchBSF(b, nil) })
	b.Run("sqlite", func(b *testing.B) {
		s, err := OpenSQLiteStore(context.Background(), SQLiteConfig{Path: filepath.Join(b.TempDir(), "bsf.db")}, KEKRing{Current: testKEK()}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		benchBSF(b, func(*Config, *Deps) Store { return s })
	})
}

// benchBaseline runs the two round trips against baselineServer (bench_zh_test.go).
func benchBaseline(b *testing.B) {
	url, client := baselineServer(b), benchClient()
	setParallelism(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code := benchGet(b, client, url, baselineFirst).StatusCode; code != 401 {
				b.Errorf("baseline 1: %d", code)
				return
			}
			if code := benchGet(b, client, url, baselineSecond).StatusCode; code != 200 {
				b.Errorf("baseline 2: %d", code)
				return
			}
		}
	})
}

func benchBSF(b *testing.B, store func(*Config, *Deps) Store) {
	tb := newTestBSF(b, func(c *Config, d *Deps) {
		c.Ub.MaxPendingChallenges = 1 << 20
		c.Zh.Timeout = 5 * time.Second
		c.Now = time.Now
		d.Logger = slog.New(slog.DiscardHandler)
		if store != nil {
			d.Store = store(c, d)
		}
	})
	client := benchClient()
	var next atomic.Int64
	setParallelism(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		impi := fmt.Sprintf("bench%d@home1.net", next.Add(1))
		tb.hss.add(b, impi, nil, time.Time{})
		ue := newTestUE(b, tb, impi)
		ue.client = client
		for pb.Next() {
			resp := benchGet(b, client, ue.url, ue.initialAuth())
			ch, err := digest.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
			if resp.StatusCode != 401 || err != nil {
				b.Errorf("step 1: %d %v", resp.StatusCode, err)
				return
			}
			auth, _, _ := ue.answer(ch, answerUSIM)
			if resp := benchGet(b, client, ue.url, auth); resp.StatusCode != 200 {
				b.Errorf("step 2: %d", resp.StatusCode)
				return
			}
		}
	})
}

func benchGet(b *testing.B, c *http.Client, url, auth string) *http.Response {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", auth)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}
