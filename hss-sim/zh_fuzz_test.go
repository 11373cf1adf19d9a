package hsssim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/diameter"
)

// FuzzAnswerMAR drives the Zh edge with network bytes: whatever frame the validator lets
// through must decode, get an answer from AnswerMAR without panicking, and that answer
// must encode to an MAA that passes the answer grammar (TS 29.109 §6.1.2).
func FuzzAnswerMAR(f *testing.F) {
	d := zhDict(f)
	s := set1(f)
	seeds := []*diameter.MAR{
		testMARFor(zhIMPI, ""),
		testMARFor("", zhIMPU),
		testMARFor("", ""),
		testMARFor("nobody@home1.net", ""),
	}
	withItem := func(it *diameter.SIPAuthDataItem) *diameter.MAR {
		m := testMARFor(zhIMPI, "")
		m.SIPAuthDataItem = it
		return m
	}
	resync, err := diameter.NewResyncAuthDataItem(s.rand, s.auts)
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds,
		withItem(resync),
		withItem(&diameter.SIPAuthDataItem{AuthenticationScheme: "Digest-MD5"}),
		withItem(&diameter.SIPAuthDataItem{Authorization: s.auts}),
	)
	g := testMARFor(zhIMPI, "")
	g.GUSSTimestamp = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	seeds = append(seeds, g)
	for _, m := range seeds {
		b, err := diameter.Encode(d, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	v, err := diameter.NewValidator(d, diameter.AppIDZh)
	if err != nil {
		f.Fatal(err)
	}
	st, err := NewMemoryStore(DefaultSQNConfig(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	provision(f, st, s, zhIMPI, []string{zhIMPU}, 0)
	if _, err := st.Update(context.Background(), zhIMPI, func(sub *Subscriber) error {
		sub.GUSS, sub.GUSSTimestamp = `<guss/>`, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		return nil
	}); err != nil {
		f.Fatal(err)
	}
	h := newTestHSS(f, st, nil)

	codec, err := diameter.NewZhFrameCodec(d)
	if err != nil {
		f.Fatal(err)
	}
	// The path of ZhServer.handleMAR: validate, decode from the octets, answer, append the
	// MAA; the answer must pass the answer grammar.
	f.Fuzz(func(t *testing.T, frame []byte) {
		if err := v.Validate(frame); err != nil {
			return
		}
		mar, err := codec.DecodeMAR(frame)
		if err != nil {
			return // another command of the application (none today) or not a request
		}
		maa, err := h.AnswerMAR(context.Background(), mar)
		if err != nil {
			if errors.Is(err, ErrSQNExhausted) {
				return
			}
			t.Fatalf("AnswerMAR: %v", err)
		}
		b, err := codec.AppendMAA(nil, maa)
		if err != nil {
			t.Fatalf("encode MAA: %v", err)
		}
		if err := v.Validate(b); err != nil {
			t.Fatalf("MAA fails the answer grammar: %v", err)
		}
	})
}
