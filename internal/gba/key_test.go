package gba

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// secretKey returns a key whose octets are easy to spot in output.
func secretKey(t *testing.T) Key {
	t.Helper()
	k, err := NewKey(bytes.Repeat([]byte{0xab}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// leaks reports whether out contains k in any common rendering.
func leaks(k Key, out string) bool {
	b := k.Bytes()
	for _, needle := range []string{
		hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b), fmt.Sprint(b), "171 171 171", "0xab", "\\xab",
	} {
		if strings.Contains(out, needle) {
			return true
		}
	}
	return false
}

func TestKeyRedactedEveryVerb(t *testing.T) {
	k := secretKey(t)
	type wrapper struct {
		Name string
		Ks   Key
	}
	type hidden struct{ ks Key } // unexported field: fmt cannot call Key's methods here
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%08b", "% x", "%10.3v"} {
		for name, v := range map[string]any{
			"value":         k,
			"pointer":       &k,
			"struct":        wrapper{"x", k},
			"slice":         []Key{k},
			"map":           map[string]Key{"ks": k},
			"unexported":    hidden{k},
			"ptrUnexported": &hidden{k},
		} {
			out := fmt.Sprintf(verb, v)
			if leaks(k, out) {
				t.Errorf("%s of %s leaks the key: %q", verb, name, out)
			}
			if name != "unexported" && name != "ptrUnexported" && !strings.Contains(out, "REDACTED") {
				t.Errorf("%s of %s = %q, want REDACTED", verb, name, out)
			}
		}
	}
	if k.String() != "REDACTED" || k.GoString() != "REDACTED" {
		t.Error("String/GoString not REDACTED")
	}
	if err := fmt.Errorf("wrapped: %v", k); leaks(k, err.Error()) {
		t.Error("error text leaks the key")
	}
}

func TestKeyRedactedSlog(t *testing.T) {
	k := secretKey(t)
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("derived", "ks_naf", k, slog.Any("ptr", &k), slog.Group("g", "k", k))
	text := slog.New(slog.NewTextHandler(&buf, nil))
	text.Info("derived", "ks_naf", k)
	if leaks(k, buf.String()) {
		t.Fatalf("slog output leaks the key: %s", buf.String())
	}
	if strings.Count(buf.String(), "REDACTED") != 4 {
		t.Errorf("want 4 REDACTED in %s", buf.String())
	}
}

func TestKeyMarshalRefused(t *testing.T) {
	k := secretKey(t)
	out, err := json.Marshal(struct{ K Key }{k})
	if !errors.Is(err, ErrKeyMarshal) {
		t.Errorf("json.Marshal err = %v, want ErrKeyMarshal", err)
	}
	if leaks(k, string(out)) {
		t.Error("json output leaks the key")
	}
}

func TestKeyAccessors(t *testing.T) {
	k := secretKey(t)
	b := k.Bytes()
	b[0] = 0
	if k.Bytes()[0] != 0xab {
		t.Error("Bytes does not return a copy")
	}
	same, _ := NewKey(bytes.Repeat([]byte{0xab}, KeySize))
	other, _ := NewKey(bytes.Repeat([]byte{0xac}, KeySize))
	if !k.Equal(same) || k.Equal(other) || k.Equal(Key{}) || (Key{}).Equal(k) || !(Key{}).Equal(Key{}) {
		t.Error("Equal is wrong")
	}
	if k.Base64() != base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, KeySize)) {
		t.Error("Base64 is wrong")
	}
	if !(Key{}).IsZero() || k.IsZero() || (Key{}).Bytes() != nil || (Key{}).Base64() != "" {
		t.Error("zero Key accessors are wrong")
	}
	if _, err := NewKey(make([]byte, 31)); !errors.Is(err, ErrKeyLength) {
		t.Errorf("NewKey(31 octets) err = %v", err)
	}
}
