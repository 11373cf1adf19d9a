package redact

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

type keyHolder struct {
	Fields
	name string
	key  [4]byte
}

type bareHolder struct {
	name string
	key  [4]byte
}

func TestFields(t *testing.T) {
	h := keyHolder{name: "n", key: [4]byte{0xc0, 0xc1, 0xc2, 0xc3}}
	for _, v := range []any{h, &h} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
			if got := fmt.Sprintf(verb, v); got != Text {
				t.Errorf("%s of %T = %q, want %q", verb, v, got, Text)
			}
		}
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("m", "h", h, "p", &h)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", "h", h, "p", &h)
	if out := logs.String(); strings.Contains(out, "192") || strings.Contains(out, "c0c1") || strings.Count(out, Text) != 4 {
		t.Errorf("slog output %q", out)
	}
	// Without Fields the octets are printed: what the package exists to prevent.
	if got := fmt.Sprintf("%v", bareHolder{key: h.key}); !strings.Contains(got, "192 193") {
		t.Errorf("bare struct printed %q", got)
	}
}
