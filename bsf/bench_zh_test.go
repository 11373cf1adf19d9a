package bsf

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/internal/gba"
)

// ratioRounds is how many rounds BenchmarkBootstrapZhRatio splits b.N into, so that a
// change of load on the shared machine weighs on every case alike (as hss-sim's
// BenchmarkZhMARvsEcho does).
const ratioRounds = 10

// bootstrapCase is one server under test: do runs one whole bootstrap as worker w (one of
// inFlight) and returns its latency.
type bootstrapCase struct {
	name  string
	do    func(w int) (time.Duration, error)
	spent time.Duration
	cpu   time.Duration // CPU time (user + system) of the process and of extCPU while c ran
	lat   []time.Duration
	// extCPU, when set, gives the CPU time used so far by a server outside this process
	// that serves only c (redis-server for the Redis store).
	extCPU func() time.Duration
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuNow is the CPU time used so far by this process and by c's outside server.
func (c *bootstrapCase) cpuNow() time.Duration {
	t := processCPU()
	if c.extCPU != nil {
		t += c.extCPU()
	}
	return t
}

// runInFlight runs n bootstraps of c from inFlight workers and adds their latencies.
func (c *bootstrapCase) runInFlight(n int) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	start, cpu := time.Now(), c.cpuNow()
	for w := range inFlight {
		wg.Go(func() {
			var mine []time.Duration
			defer func() {
				mu.Lock()
				c.lat = append(c.lat, mine...)
				mu.Unlock()
			}()
			for next.Add(1) <= int64(n) {
				d, err := c.do(w)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, d)
			}
		})
	}
	wg.Wait()
	c.spent += time.Since(start)
	c.cpu += c.cpuNow() - cpu
	return first
}

func (c *bootstrapCase) rate() float64 { return float64(len(c.lat)) / c.spent.Seconds() }

// cpuPerBoot is the CPU time, in µs, the whole process (server, UEs, hss-sim) and, for the
// Redis store, redis-server spent per bootstrap of c.
func (c *bootstrapCase) cpuPerBoot() float64 {
	return float64(c.cpu.Microseconds()) / float64(len(c.lat))
}

func (c *bootstrapCase) quantile(p float64) float64 {
	slices.Sort(c.lat)
	return float64(c.lat[int(p*float64(len(c.lat)-1))].Microseconds()) / 1000
}

// BenchmarkBootstrapZh measures one full bootstrap (Ub 401 + Ub 200, with the MAR/MAA to
// the real hss-sim over Diameter on 127.0.0.1) at 64 in flight, for the memory and SQLite
// session stores (and Redis), next to a bare net/http server answering the same two round trips with
// canned responses, one case after the other. It reports bootstraps/s, the p50/p99
// latency of a bootstrap and the CPU time per bootstrap; the Redis case skips without
// redis-server. For the ratios, which want the
// cases measured side by side, see BenchmarkBootstrapZhRatio.
//
//	go test -run '^$' -bench 'BootstrapZh$' -benchtime 3000x ./bsf/
func BenchmarkBootstrapZh(b *testing.B) {
	run := func(b *testing.B, c *bootstrapCase) {
		if err := c.runInFlight(inFlight); err != nil { // warm-up, as in the ratio benchmark
			b.Fatal(err)
		}
		c.spent, c.cpu, c.lat = 0, 0, nil
		b.ResetTimer()
		if err := c.runInFlight(b.N); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(c.rate(), "bootstraps/s")
		b.ReportMetric(c.quantile(0.50), "p50-ms")
		b.ReportMetric(c.quantile(0.99), "p99-ms")
		b.ReportMetric(c.cpuPerBoot(), "cpu-µs/boot")
	}
	b.Run("baseline-nethttp", func(b *testing.B) { run(b, baselineCase(b)) })
	b.Run("memory", func(b *testing.B) { run(b, bsfZhCase(b, "memory", nil)) })
	b.Run("sqlite", func(b *testing.B) { run(b, bsfZhCase(b, "sqlite", withSQLiteStore(b))) })
	b.Run("redis", func(b *testing.B) { run(b, redisZhCase(b)) })
}

// withSQLiteStore gives the BSF a SQLite session store in a temporary directory.
func withSQLiteStore(b *testing.B) func(*Deps) {
	s, err := OpenSQLiteStore(context.Background(), SQLiteConfig{Path: filepath.Join(b.TempDir(), "bsf.db")}, KEKRing{Current: testKEK()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return func(d *Deps) { d.Store = s }
}

// redisZhCase is the bootstrap case of a BSF with a Redis session and challenge store, as
// several BSF instances share them, on a redis-server of its own (single instance, not a
// cluster). Its CPU time includes redis-server's, from INFO cpu. It skips b when
// redis-server is not installed.
func redisZhCase(b *testing.B) *bootstrapCase {
	addr := startRedis(b, false)
	s := openTestRedis(b, []string{addr}, false, nil)
	c := bsfZhCase(b, "redis", func(d *Deps) { d.Store, d.Challenges = s, s })
	info := redis.NewClient(&redis.Options{Addr: addr})
	b.Cleanup(func() { _ = info.Close() })
	c.extCPU = func() time.Duration {
		t, err := redisCPU(info)
		if err != nil {
			b.Fatalf("redis INFO cpu: %v", err)
		}
		return t
	}
	c.extCPU() // fail early if INFO cpu cannot be read
	return c
}

// redisCPU is the CPU time redis-server has used so far: used_cpu_user + used_cpu_sys of
// INFO cpu (seconds with microsecond precision).
func redisCPU(c *redis.Client) (time.Duration, error) {
	text, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0, err
	}
	var total time.Duration
	found := 0
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (k != "used_cpu_user" && k != "used_cpu_sys") {
			continue
		}
		sec, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", k, err)
		}
		total += time.Duration(sec * float64(time.Second))
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("INFO cpu lacks used_cpu_user/used_cpu_sys")
	}
	return total, nil
}

// BenchmarkBootstrapZhRatio is the acceptance measurement of the BSF's bootstrap rate: the
// cases of BenchmarkBootstrapZh (a bare net/http server answering the same two round
// trips with canned responses; full bootstraps, Ub ×2 with the MAR/MAA to the real hss-sim,
// with the memory, the SQLite and, when redis-server is installed, the Redis session store),
// each b.N bootstraps at 64 in flight, run
// interleaved: b.N is split into ratioRounds rounds and each round runs a slice of every
// case, the order rotating from round to round. It reports each case's bootstraps/s, the
// p50/p99 latency of the BSF cases and their throughput ratios to the baseline
// (ratio-memory: target ≥ 0.5 with p99 ≤ 25 ms; ratio-sqlite: target ≥ 0.25). It also
// reports the CPU time the process (plus redis-server for the Redis case) spent per
// bootstrap in each case and the inverse ratio
// of those (cpu-ratio-*): the throughput ratio the cases would have if the machine were
// theirs alone, a figure that other load on the machine moves much less than wall time.
//
//	go test -run '^$' -bench BootstrapZhRatio -benchtime 20000x -count 5 ./bsf/
func BenchmarkBootstrapZhRatio(b *testing.B) {
	baseline := baselineCase(b)
	memory := bsfZhCase(b, "memory", nil)
	cases := []*bootstrapCase{baseline, memory, bsfZhCase(b, "sqlite", withSQLiteStore(b))}
	if _, err := exec.LookPath("redis-server"); err == nil {
		cases = append(cases, redisZhCase(b))
	} else {
		b.Log("redis-server is not installed: no redis case")
	}
	for _, c := range cases { // warm-up: connections, SQLite pages, the Zh link
		if err := c.runInFlight(2 * inFlight); err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		c.spent, c.cpu, c.lat = 0, 0, nil
	}
	b.ResetTimer()
	for r := range ratioRounds {
		n := b.N / ratioRounds
		if r < b.N%ratioRounds {
			n++
		}
		if n == 0 {
			continue
		}
		for k := range cases {
			c := cases[(r+k)%len(cases)]
			if err := c.runInFlight(n); err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
		}
	}
	b.StopTimer()
	if len(memory.lat) == 0 {
		return
	}
	for _, c := range cases {
		b.ReportMetric(c.rate(), c.name+"-boots/s")
		b.ReportMetric(c.cpuPerBoot(), c.name+"-cpu-µs/boot")
	}
	for _, c := range cases[1:] {
		b.ReportMetric(c.quantile(0.50), c.name+"-p50-ms")
		b.ReportMetric(c.quantile(0.99), c.name+"-p99-ms")
		b.ReportMetric(c.rate()/baseline.rate(), "ratio-"+c.name)
		b.ReportMetric(baseline.cpuPerBoot()/c.cpuPerBoot(), "cpu-ratio-"+c.name)
	}
}

// The two requests of the baseline's client: an initial request and an answer to the
// canned challenge (the RFC 3310 example's values).
const (
	baselineFirst  = `Digest username="x", realm="bsf.home1.net", nonce="", uri="/", response=""`
	baselineSecond = `Digest username="x", realm="bsf.home1.net", nonce="I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=", uri="/", qop=auth-int, nc=00000001, cnonce="0a4f113b", response="d47e4afd3245638428c815924bc5bc69", opaque="5ccc069c403ebaf9f0171e9517f30e41", algorithm=AKAv1-MD5`
)

// baselineServer is the baseline of the bootstrap benchmarks: a bare net/http server that
// does no work and answers a request with an empty nonce with a canned 401 challenge and
// any other with a canned 200 carrying the headers and BootstrappingInfo body of the BSF's
// answer. It returns the server's URL.
func baselineServer(b *testing.B) string {
	const challenge = `Digest realm="bsf.home1.net", nonce="I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=", opaque="5ccc069c403ebaf9f0171e9517f30e41", algorithm=AKAv1-MD5, qop="auth-int"`
	btid, err := gba.NewBTID(unhex(b, loadSet1(b).RAND), "bsf.home1.net")
	if err != nil {
		b.Fatal(err)
	}
	body := BootstrappingInfoXML(btid, testEpoch().Add(24*time.Hour))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", ServerToken)
		if strings.Contains(r.Header.Get("Authorization"), `nonce=""`) {
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Authentication-Info", `qop=auth-int, rspauth="aa4aeb81fc466f00c49418cc934fc30e", cnonce="0a4f113b", nc=00000001`)
		w.Header().Set("Expires", "Wed, 28 Oct 2020 23:36:26 GMT")
		w.Header().Set("Content-Type", ContentTypeBootstrappingInfo)
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv.URL + "/"
}

// baselineCase runs the two round trips against baselineServer.
func baselineCase(b *testing.B) *bootstrapCase {
	url, client := baselineServer(b), benchClient()
	return &bootstrapCase{name: "baseline", do: func(int) (time.Duration, error) {
		t0 := time.Now()
		if resp := benchGet(b, client, url, baselineFirst); resp.StatusCode != 401 {
			return 0, fmt.Errorf("baseline 1: %d", resp.StatusCode)
		}
		if resp := benchGet(b, client, url, baselineSecond); resp.StatusCode != 200 {
			return 0, fmt.Errorf("baseline 2: %d", resp.StatusCode)
		}
		return time.Since(t0), nil
	}}
}

// bsfZhCase is a BSF (its stores set by deps; the memory stores when deps is nil) fetching
// AVs over Zh from its own hss-sim, and one UE per worker, its USIM set up before the
// clock starts.
func bsfZhCase(b *testing.B, name string, deps func(*Deps)) *bootstrapCase {
	impis := make([]string, inFlight)
	for i := range impis {
		impis[i] = fmt.Sprintf("%s%d@home1.net", name, i)
	}
	hssAddr := startHSSSim(b, impis...)
	tb := newZhBSF(b, hssAddr, func(c *Config, d *Deps) {
		c.Ub.MaxPendingChallenges = 1 << 20
		c.Now = time.Now
		d.Logger = slog.New(slog.DiscardHandler)
		if deps != nil {
			deps(d)
		}
	})
	client := benchClient()
	ues := make([]*testUE, inFlight)
	for i, impi := range impis {
		ues[i] = newTestUE(b, tb, impi)
		ues[i].client = client
	}
	return &bootstrapCase{name: name, do: func(w int) (time.Duration, error) {
		ue := ues[w]
		t0 := time.Now()
		resp := benchGet(b, client, ue.url, ue.initialAuth())
		ch, err := digest.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
		if resp.StatusCode != 401 || err != nil {
			return 0, fmt.Errorf("%s step 1: %d %v", name, resp.StatusCode, err)
		}
		auth, _, _ := ue.answer(ch, answerUSIM)
		if resp := benchGet(b, client, ue.url, auth); resp.StatusCode != 200 {
			return 0, fmt.Errorf("%s step 2: %d", name, resp.StatusCode)
		}
		return time.Since(t0), nil
	}}
}
