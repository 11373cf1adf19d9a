package diameter

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// goDiameterDecode decodes f with go-diameter and reports a panic instead of crashing.
func goDiameterDecode(d *dict.Parser, f []byte) (m *diam.Message, err error, panicked any) {
	defer func() {
		if r := recover(); r != nil {
			panicked = r
		}
	}()
	m, err = diam.ReadMessage(bytes.NewReader(f), d)
	return m, err, nil
}

// FuzzValidate proves that Validate never panics, that every frame it accepts decodes
// through go-diameter without panic, without error and to exactly the frame's length (a
// failure here is a gap in validation), and that the error answer to every rejected
// request is built and is itself a frame go-diameter can decode when Validate accepts it.
func FuzzValidate(f *testing.F) {
	d := testDict(f)
	v := testValidator(f, d, AppIDZh, AppIDZn)
	for _, tc := range validateCases() {
		f.Add(tc.frame(f, d))
	}
	for _, g := range validatorGoldenFrames(f) {
		f.Add(g)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		err := v.Validate(frame)
		if err == nil {
			m, derr, p := goDiameterDecode(d, frame)
			if p != nil {
				t.Fatalf("go-diameter panicked on an accepted frame: %v", p)
			}
			if derr != nil {
				t.Fatalf("go-diameter failed on an accepted frame: %v", derr)
			}
			if m.Len() != len(frame) {
				t.Fatalf("go-diameter decoded %d octets of an accepted %d-octet frame", m.Len(), len(frame))
			}
			if _, err := m.Serialize(); err != nil {
				t.Fatalf("re-serialise: %v", err)
			}
			return
		}
		var perr *ProtocolError
		if !errors.As(err, &perr) {
			t.Fatalf("Validate returned %T", err)
		}
		ans, aerr := v.ErrorAnswer(frame, perr, AnswerOptions{OriginHost: "h.example", OriginRealm: "example", ErrorMessage: perr.Reason})
		if aerr != nil {
			if !errors.Is(aerr, ErrUnanswerable) {
				t.Fatalf("ErrorAnswer: %v", aerr)
			}
			return
		}
		if len(ans)%4 != 0 || int(uint24(ans[1:4])) != len(ans) {
			t.Fatalf("answer length field %d for %d octets", uint24(ans[1:4]), len(ans))
		}
		if v.Validate(ans) == nil {
			if _, derr, p := goDiameterDecode(d, ans); p != nil || derr != nil {
				t.Fatalf("go-diameter on our accepted answer: panic %v, error %v", p, derr)
			}
		}
	})
}
