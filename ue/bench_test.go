package ue_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/ue"
	"github.com/opengba/opengba/ue/uetest"
)

// BenchmarkUSIMAuthenticate measures AUTHENTICATE (TS 33.102 §6.3.3) of the emulated USIM
// on fresh TS 35.208 set 1 challenges: Milenage f1–f5, the SQN array check and update.
func BenchmarkUSIMAuthenticate(b *testing.B) {
	s := set1(b)
	k, opc := aka.Key(unhex(b, s.K)), aka.Key(unhex(b, s.OPc))
	rand := [16]byte(unhex(b, s.RAND))
	autn := make([][16]byte, b.N)
	for i := range autn {
		av, err := aka.GenerateAV(k, opc, rand, aka.SQN(uint64(i+1)<<5|uint64(i%32)), 0)
		if err != nil {
			b.Fatal(err)
		}
		autn[i] = av.AUTN
	}
	u, err := ue.NewUSIM(testIMPI, key128(b, s.K), key128(b, s.OPc), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := u.Authenticate(ctx, rand, autn[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// cannedResponse is a recorded HTTP response.
type cannedResponse struct {
	status int
	header http.Header
	body   []byte
}

func (c cannedResponse) response(r *http.Request) *http.Response {
	return &http.Response{
		StatusCode:    c.status,
		Header:        c.header,
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)),
		Request:       r,
		Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
}

// BenchmarkClientBootstrap measures the client side of one bootstrap: the two Ub
// exchanges of TS 24.109 §A.3 answered from memory with responses recorded from the
// BSF stand-in (fixed RAND and cnonce; the USIM's SQN state is restored each time so the
// recorded AUTN stays fresh). The "baseline" sub-benchmark does the same two HTTP
// exchanges through net/http with no GBA work, for the ratio.
func BenchmarkClientBootstrap(b *testing.B) {
	s := set1(b)
	bsf := uetest.NewBSF(testBSF)
	bsf.Rand = uetest.RepeatReader(unhex(b, s.RAND))
	if err := bsf.AddSubscriber(testIMPI, key128(b, s.K), key128(b, s.OPc)); err != nil {
		b.Fatal(err)
	}
	// Record the stand-in's two answers.
	var canned []cannedResponse
	record := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		bsf.ServeHTTP(rec, r)
		c := cannedResponse{status: rec.Code, header: rec.Header().Clone(), body: rec.Body.Bytes()}
		canned = append(canned, c)
		return c.response(r), nil
	})
	usim, err := ue.NewUSIM(testIMPI, key128(b, s.K), key128(b, s.OPc), nil)
	if err != nil {
		b.Fatal(err)
	}
	fresh, err := usim.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	cfg := ue.Config{
		BSF:  testBSFURL,
		USIM: usim,
		Rand: uetest.RepeatReader([]byte{0x0a, 0x4f, 0x11, 0x3b}),
	}
	cfg.HTTPClient = &http.Client{Transport: record}
	c, err := ue.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Bootstrap(ctx); err != nil || len(canned) != 2 {
		b.Fatalf("recording: %v (%d responses)", err, len(canned))
	}
	replay := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("Authorization") == canned0Auth {
			return canned[0].response(r), nil
		}
		return canned[1].response(r), nil
	})
	cfg.HTTPClient = &http.Client{Transport: replay}
	if c, err = ue.NewClient(cfg); err != nil {
		b.Fatal(err)
	}

	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := usim.UnmarshalBinary(fresh); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Bootstrap(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		hc := &http.Client{Transport: replay}
		b.ReportAllocs()
		for b.Loop() {
			for _, auth := range []string{canned0Auth, "x"} {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, testBSFURL+"/", nil)
				req.Header.Set("Authorization", auth)
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
}

// canned0Auth is the initial Authorization of TS 24.109 §A.3 step 1.
const canned0Auth = `Digest username="user1_private@home1.net", realm="bsf.home1.net", nonce="", uri="/", response=""`
