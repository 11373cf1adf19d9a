package ue_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/opengba/opengba/specs"
	"github.com/opengba/opengba/ue"
	"github.com/opengba/opengba/ue/uetest"
)

// milenageSet is one set of specs/vectors/ts35208.json.
type milenageSet struct {
	Name                               string
	K, RAND, SQN, AMF, OP, OPc         string
	F1, F1star, F2, F3, F4, F5, F5star string
	AUTN, AUTS                         string
}

func milenageSets(t testing.TB) []milenageSet {
	t.Helper()
	var v struct{ Sets []milenageSet }
	if err := specs.Vectors("ts35208", &v); err != nil {
		t.Fatal(err)
	}
	return v.Sets
}

func set1(t testing.TB) milenageSet {
	t.Helper()
	for _, s := range milenageSets(t) {
		if s.Name == "TS35208/set1" {
			return s
		}
	}
	t.Fatal("TS35208/set1 missing")
	return milenageSet{}
}

// nafKeyVector is one naf_keys entry of specs/vectors/ts33220.json.
type nafKeyVector struct {
	Name, CK, IK, RAND, IMPI string
	NAFFQDN                  string `json:"naf_fqdn"`
	UaID                     string `json:"ua_id"`
	Label, Key               string
	KeyBase64                string `json:"key_base64"`
}

type btidVector struct{ Name, BTID, RAND, Domain string }

func ts33220(t testing.TB) (naf map[string]nafKeyVector, btid map[string]btidVector) {
	t.Helper()
	var v struct {
		NAFKeys []nafKeyVector `json:"naf_keys"`
		BTID    []btidVector
	}
	if err := specs.Vectors("ts33220", &v); err != nil {
		t.Fatal(err)
	}
	naf, btid = map[string]nafKeyVector{}, map[string]btidVector{}
	for _, x := range v.NAFKeys {
		naf[x.Name] = x
	}
	for _, x := range v.BTID {
		btid[x.Name] = x
	}
	return naf, btid
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key128(t testing.TB, s string) ue.Key128 {
	t.Helper()
	k, err := ue.ParseKey128(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const (
	testIMPI   = "user1_private@home1.net"
	testBSF    = "bsf.home1.net"
	testNAF    = "naf.home1.net"
	testMEF    = "mef.home1.net"
	testBSFURL = "http://" + testBSF
)

// testEpoch is the lab clock's start.
func testEpoch() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

// lab is an in-process network with a BSF and NAF stand-in and a client for
// TS 35.208 set 1 (K, OPc), RAND fixed to set 1's.
type lab struct {
	net   *uetest.Network
	clock *uetest.Clock
	bsf   *uetest.BSF
	naf   *uetest.NAF
	usim  *ue.USIM
	cfg   ue.Config
	c     *ue.Client
	steps []ue.Event
}

type labOption func(*lab)

func newLab(t testing.TB, opts ...labOption) *lab {
	t.Helper()
	s := set1(t)
	l := &lab{net: uetest.NewNetwork(), clock: uetest.NewClock(testEpoch())}
	t.Cleanup(l.net.Close)
	l.bsf = uetest.NewBSF(testBSF)
	l.bsf.Now = l.clock.Now
	l.bsf.Rand = uetest.RepeatReader(unhex(t, s.RAND))
	if err := l.bsf.AddSubscriber(testIMPI, key128(t, s.K), key128(t, s.OPc)); err != nil {
		t.Fatal(err)
	}
	l.naf = uetest.NewNAF(testNAF, l.bsf.NAFKey, http.HandlerFunc(echo))
	var err error
	if l.usim, err = ue.NewUSIM(testIMPI, key128(t, s.K), key128(t, s.OPc), nil); err != nil {
		t.Fatal(err)
	}
	l.cfg = ue.Config{
		BSF:        testBSFURL,
		USIM:       l.usim,
		HTTPClient: l.net.Client(),
		Rand:       uetest.RepeatReader([]byte{0x0a, 0x4f, 0x11, 0x3b}),
		Now:        l.clock.Now,
	}
	for _, o := range opts {
		o(l)
	}
	l.net.Handle(testBSF, l.bsf)
	l.net.Handle(testNAF, l.naf)
	if l.c, err = ue.NewClient(l.cfg); err != nil {
		t.Fatal(err)
	}
	return l
}

// echo answers with the request body and the authenticated B-TID.
func echo(w http.ResponseWriter, r *http.Request) {
	id, _ := uetest.IdentityFrom(r.Context())
	w.Header().Set("X-BTID", id.BTID)
	w.Header().Set("Content-Type", "text/plain")
	buf, _ := io.ReadAll(r.Body)
	_, _ = w.Write(buf)
}

func bootstrap(t testing.TB, l *lab) *ue.Bootstrap {
	t.Helper()
	b, err := l.c.Bootstrap(context.Background())
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	return b
}
