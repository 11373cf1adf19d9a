package bsf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago; with bus set, port
// + 10000 (the Redis Cluster bus) was free too.
func freePort(t testing.TB, bus bool) int {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !bus {
			return port
		}
		if port+10000 > 65535 {
			continue
		}
		if lb, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			_ = lb.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startRedis runs redis-server on 127.0.0.1 and a free port; it returns when the server
// logged that it accepts connections. The test skips when redis-server is not installed.
func startRedis(t testing.TB, cluster bool) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server); skipping the Redis backend tests")
	}
	port := freePort(t, cluster)
	dir := t.TempDir()
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--loglevel", "notice", "--logfile", ""}
	if cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "5000")
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	var log []string
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.Contains(sc.Text(), "Ready to accept connections") {
			go func() {
				for sc.Scan() {
				}
			}()
			return fmt.Sprintf("127.0.0.1:%d", port)
		}
	}
	t.Fatalf("redis-server exited before accepting connections:\n%s", strings.Join(log, "\n"))
	return ""
}

// startRedisCluster runs three masters and joins them with redis-cli --cluster create.
func startRedisCluster(t testing.TB) []string {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed; skipping the Redis Cluster test")
	}
	addrs := []string{startRedis(t, true), startRedis(t, true), startRedis(t, true)}
	out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-yes")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "All 16384 slots covered") {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node must agree the cluster is up before clients use it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("cluster node %s never reported cluster_state:ok", a)
			case <-tick.C:
			}
		}
		_ = c.Close()
	}
	return addrs
}

func openTestRedis(t testing.TB, addrs []string, cluster bool, now func() time.Time) *RedisStore {
	t.Helper()
	s, err := OpenRedisStore(context.Background(), RedisConfig{Addrs: addrs, Cluster: cluster, KeyPrefix: "bsf:"},
		KEKRing{Current: testKEK()}, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRedisStore(t *testing.T) {
	addr := startRedis(t, false)
	n := 0
	testStoreConformance(t, func(t *testing.T, now func() time.Time) Store {
		n++
		s := openTestRedis(t, []string{addr}, false, now)
		s.prefix = fmt.Sprintf("t%d:", n) // a fresh keyspace per subtest
		return s
	}, true)
	testRedisChallenges(t, openTestRedis(t, []string{addr}, false, nil))
	testRedisSealedAndTTL(t, openTestRedis(t, []string{addr}, false, nil))
}

func TestRedisClusterStore(t *testing.T) {
	addrs := startRedisCluster(t)
	n := 0
	testStoreConformance(t, func(t *testing.T, now func() time.Time) Store {
		n++
		s := openTestRedis(t, addrs[:1], true, now) // one seed, cluster mode forced
		s.prefix = fmt.Sprintf("t%d:", n)
		return s
	}, true)
	s := openTestRedis(t, addrs, false, nil) // several seeds select the cluster client
	if _, ok := s.c.(*redis.ClusterClient); !ok {
		t.Fatalf("client %T, want *redis.ClusterClient", s.c)
	}
	testRedisChallenges(t, s)
	testRedisSealedAndTTL(t, s)
}

func testRedisChallenges(t *testing.T, s *RedisStore) {
	t.Run("challenges", func(t *testing.T) {
		ctx := context.Background()
		p := PendingChallenge{Nonce: "n1", Opaque: "o", IMPI: impi1, Algorithm: "AKAv1-MD5", XRES: []byte{1, 2, 3, 4, 5, 6, 7, 8},
			Issued: time.Unix(100, 5), Failures: 2, GUSS: []byte(gussDoc), GUSSTimestamp: time.Unix(50, 0)}
		p.RAND[0], p.AUTN[1], p.CK[2], p.IK[3] = 1, 2, 3, 4
		if err := s.PutChallenge(ctx, p, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.PutChallenge(ctx, p, time.Minute); !errors.Is(err, ErrChallengeExists) {
			t.Fatalf("duplicate: %v", err)
		}
		raw, err := s.c.Get(ctx, s.challengeKey("n1")).Bytes()
		if err != nil || strings.Contains(string(raw), impi1) {
			t.Fatalf("pending challenge not sealed: %v", err)
		}
		if ttl := s.c.PTTL(ctx, s.challengeKey("n1")).Val(); ttl <= 0 || ttl > time.Minute {
			t.Errorf("TTL %s", ttl)
		}
		// Concurrent takes: exactly one wins (GETDEL).
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.TakeChallenge(ctx, "n1")
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
					if got.IMPI != impi1 || got.RAND != p.RAND || got.CK != p.CK || got.IK != p.IK || string(got.XRES) != string(p.XRES) ||
						!got.Issued.Equal(p.Issued) || got.Failures != 2 || string(got.GUSS) != gussDoc || !got.GUSSTimestamp.Equal(p.GUSSTimestamp) {
						t.Errorf("round trip: %+v", got)
					}
				} else if !errors.Is(err, ErrChallengeNotFound) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d takes succeeded, want exactly 1", wins)
		}
	})
}

func testRedisSealedAndTTL(t *testing.T, s *RedisStore) {
	t.Run("sealed and TTL", func(t *testing.T) {
		ctx := context.Background()
		a := testSession(t, 77, time.Now(), 90*time.Second)
		if err := s.CreateSession(ctx, a); err != nil {
			t.Fatal(err)
		}
		key := s.sessionKey(a.BTID)
		raw, err := s.c.Get(ctx, key).Bytes()
		if err != nil || strings.Contains(string(raw), string(a.Ks.Bytes())) {
			t.Fatalf("Ks not sealed: %v", err)
		}
		if ttl := s.c.PTTL(ctx, key).Val(); ttl <= 0 || ttl > 90*time.Second {
			t.Errorf("TTL %s, want ≤ the 90 s lifetime", ttl)
		}
		// A sealed Ks moved to another key does not open (AAD = key name).
		b := testSession(t, 78, time.Now(), time.Minute)
		if err := s.c.Set(ctx, s.sessionKey(b.BTID), raw, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Session(ctx, b.BTID); !errors.Is(err, ErrSealed) {
			t.Fatalf("moved record: %v, want ErrSealed", err)
		}
	})
}

// TestUbRedisTwoInstances: a challenge issued by one BSF instance is answered at another;
// the session is then visible to both (pending challenges and sessions live in Redis).
func TestUbRedisTwoInstances(t *testing.T) {
	addr := startRedis(t, false)
	s1 := openTestRedis(t, []string{addr}, false, nil)
	s2 := openTestRedis(t, []string{addr}, false, nil)
	realClock := func(c *Config, _ *Deps) { c.Now = time.Now }
	a := newTestBSF(t, realClock, func(_ *Config, d *Deps) { d.Store, d.Challenges = s1, s1 })
	b := newTestBSF(t, realClock, func(_ *Config, d *Deps) { d.Store, d.Challenges = s2, s2 })
	a.hss.add(t, impi1, nil, time.Time{})
	ue := newTestUE(t, a, impi1)
	ch := ue.challenge() // at a
	auth, c, pw := ue.answer(ch, answerUSIM)
	ue.url = b.srv.URL + "/"
	btid, _ := wantBootstrapped(t, ue.do(auth), c, pw) // at b
	ue.url = a.srv.URL + "/"
	wantChallenge(t, ue.do(auth), true) // replay at a: spent
	if _, err := a.BootstrappingInfo(context.Background(), ZnRequest{NAFHost: "naf.home1.net", BTID: btid, NAFID: nafID(t, "naf.home1.net", "0100000002")}); err != nil {
		t.Fatalf("Zn at the other instance: %v", err)
	}
}

func BenchmarkBootstrapRedis(b *testing.B) {
	addr := startRedis(b, false)
	s := openTestRedis(b, []string{addr}, false, nil)
	benchBSF(b, func(c *Config, d *Deps) Store { d.Challenges = s; return s })
}
