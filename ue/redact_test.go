package ue_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opengba/opengba/ue"
)

// TestRedaction prints every secret-bearing value under every fmt verb, slog and JSON
// and fails if the hex, base64 or raw form of K, OPc, CK, IK, RES, Ks, Ks_NAF or Kmr
// shows up.
func TestRedaction(t *testing.T) {
	s := set1(t)
	l := newLab(t, withMEF(goodEnrolment))
	ctx := context.Background()
	e, err := l.c.Enrol(ctx, "http://mef.home1.net")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := l.c.Current(ctx)
	ksNAF, _ := b.KsNAF(testNAF, ue.UaIDHTTPDigest)
	k := key128(t, s.K)
	res, err := ue.NewAKAResult(unhex(t, s.F2), key128(t, s.F3), key128(t, s.F4))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := ue.NewFileStore(filepath.Join(t.TempDir(), "s"), storeKey())

	secrets := [][]byte{
		unhex(t, s.K), unhex(t, s.OPc), unhex(t, s.F2), unhex(t, s.F3), unhex(t, s.F4),
		b.Ks().Bytes(), ksNAF.Bytes(), e.Kmr.Bytes(), storeKey(),
	}
	type nested struct {
		kmr  ue.Key
		k    ue.Key128
		res  ue.AKAResult
		usim *ue.USIM
		b    ue.Bootstrap
		st   *ue.FileStore
		c    *ue.Client
		tr   *ue.Transport
		any  any
	}
	values := []any{
		b.Ks(), ksNAF, e.Kmr, k, res, l.usim, st, b, *b, e, *e, l.cfg,
		nested{e.Kmr, k, res, l.usim, *b, st, l.c, l.c.Transport(), l.usim},
		&nested{e.Kmr, k, res, l.usim, *b, st, l.c, l.c.Transport(), st},
		nested{any: res}, nested{any: e}, nested{any: l.c}, nested{any: b},
		[]ue.Key{e.Kmr}, map[string]ue.Key128{"k": k},
	}
	var out bytes.Buffer
	for i, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%t", "%p"} {
			fmt.Fprintf(&out, "value %d %s: "+verb+"\n", i, verb, v)
		}
		j, _ := json.Marshal(v)
		out.Write(j)
	}
	for _, h := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
		slog.New(h).Info("x", "ks", b.Ks(), "kmr", e.Kmr, "k", k, "res", res, "usim", l.usim, "bootstrap", b, "enrolment", e, "store", st)
	}
	text := out.String()
	for i, sec := range secrets {
		for _, enc := range []string{hex.EncodeToString(sec), strings.ToUpper(hex.EncodeToString(sec)), base64.StdEncoding.EncodeToString(sec), string(sec), fmt.Sprint([]byte(sec))[1:20]} {
			if j := strings.Index(text, enc); j >= 0 {
				line := text[strings.LastIndexByte(text[:j], '\n')+1:]
				t.Fatalf("secret %d leaked as %q in %.80s", i, enc, line)
			}
		}
	}
	if !strings.Contains(text, "REDACTED") || !strings.Contains(text, b.BTID) {
		t.Fatal("output lacks REDACTED or the B-TID: the test is not looking at the right text")
	}
}
