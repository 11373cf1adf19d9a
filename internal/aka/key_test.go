package aka

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// leaks returns the first representation of a secret found in out: hex (either case),
// base64, and the decimal byte lists of fmt (%v of []byte) and encoding/json (arrays).
func leaks(out string, secrets ...[]byte) string {
	for _, s := range secrets {
		dec := make([]string, len(s))
		for i, b := range s {
			dec[i] = strconv.Itoa(int(b))
		}
		for _, form := range []string{
			hex.EncodeToString(s),
			strings.ToUpper(hex.EncodeToString(s)),
			base64.StdEncoding.EncodeToString(s),
			base64.RawURLEncoding.EncodeToString(s),
			strings.Join(dec, " "),
			strings.Join(dec, ","),
			fmt.Sprintf("%#x", s[0]) + ", " + fmt.Sprintf("%#x", s[1]),
		} {
			if strings.Contains(out, form) {
				return form
			}
		}
	}
	return ""
}

// secretsFixture returns values holding every kind of secret, and the secret octets.
func secretsFixture(t *testing.T) (values map[string]any, secrets [][]byte) {
	k, opc := testKeys(t)
	var rand [RANDLen]byte
	rand[0] = 7
	av, err := GenerateAV(k, opc, rand, 0x21, 0)
	if err != nil {
		t.Fatal(err)
	}
	u := newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme()), AMFSeparationMustBeZero)
	r, err := u.Authenticate(av.RAND[:], av.AUTN[:])
	if err != nil {
		t.Fatal(err)
	}
	type wrapper struct {
		Name string
		K    Key
		Keys []Key
		R    *RES
	}
	values = map[string]any{
		"Key":       k,
		"*Key":      &k,
		"RES":       av.XRES,
		"AV":        av,
		"*AV":       &av,
		"Result":    r,
		"USIM":      u,
		"wrapper":   wrapper{Name: "x", K: k, Keys: []Key{opc, av.CK}, R: &r.RES},
		"[]Key":     []Key{k, opc},
		"map":       map[string]Key{"ik": av.IK},
		"[2]RES":    [2]RES{av.XRES, r.RES},
		"interface": any(av.CK),
	}
	secrets = [][]byte{k[:], opc[:], av.CK[:], av.IK[:], av.XRES[:]}
	return values, secrets
}

func TestRedactionFmt(t *testing.T) {
	values, secrets := secretsFixture(t)
	// Control: the detector finds raw octets in every form the checks rely on.
	raw := [16]byte(secrets[0])
	for _, verb := range []string{"%v", "%x", "%X", "%#v"} {
		if leaks(fmt.Sprintf(verb, raw), secrets...) == "" {
			t.Fatalf("leak detector misses %s of raw octets", verb)
		}
	}
	if b, _ := json.Marshal(raw); leaks(string(b), secrets...) == "" {
		t.Fatalf("leak detector misses JSON arrays")
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%08x", "% x", "%10v"} {
			out := fmt.Sprintf(verb, v)
			if form := leaks(out, secrets...); form != "" {
				t.Errorf("%s under %s leaks %q: %s", name, verb, form, out)
			}
			if !strings.Contains(out, "REDACTED") {
				t.Errorf("%s under %s lacks REDACTED: %s", name, verb, out)
			}
		}
	}
	k, _ := testKeys(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		if got := fmt.Sprintf(verb, k); got != "REDACTED" {
			t.Errorf("Key under %s = %q, want REDACTED", verb, got)
		}
	}
	if k.String() != "REDACTED" || k.GoString() != "REDACTED" || fmt.Sprint(k) != "REDACTED" {
		t.Errorf("Key String/GoString/Sprint not redacted")
	}
}

func TestRedactionSlog(t *testing.T) {
	values, secrets := secretsFixture(t)
	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"JSON", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"Text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	} {
		for name, v := range values {
			var buf bytes.Buffer
			slog.New(h.new(&buf)).Info("aka", "value", v, slog.Any("any", v), slog.Group("g", "v", v))
			out := buf.String()
			if form := leaks(out, secrets...); form != "" {
				t.Errorf("%s handler: %s leaks %q: %s", h.name, name, form, out)
			}
			if !strings.Contains(out, "REDACTED") {
				t.Errorf("%s handler: %s lacks REDACTED: %s", h.name, name, out)
			}
		}
	}
}

// TestErrorsCarryNoSecrets covers every error path that sees key material.
func TestErrorsCarryNoSecrets(t *testing.T) {
	k, opc := testKeys(t)
	var errs []error
	_, err := ParseKey("465b5ce8b199b49faa5f0a2ee238a6bg")
	if !errors.Is(err, ErrKeyEncoding) {
		t.Errorf("ParseKey(non-hex) = %v", err)
	}
	errs = append(errs, err)
	_, err = ParseKey("465b5ce8b199b49faa5f0a2ee238a6")
	if !errors.Is(err, ErrLength) {
		t.Errorf("ParseKey(short) = %v", err)
	}
	errs = append(errs, err)
	if strings.Contains(errs[0].Error(), "'g'") || strings.Contains(errs[0].Error(), "465b5c") {
		t.Errorf("ParseKey error repeats its input: %v", errs[0])
	}

	netw := newNetwork(t, k, opc, DefaultSQNScheme())
	av, _ := netw.next()
	u := newUSIM(t, k, opc, arrayWith(t, DefaultSQNScheme()), AMFSeparationMustBeZero)
	bad := av.AUTN
	bad[15] ^= 1
	_, err = u.Authenticate(av.RAND[:], bad[:])
	errs = append(errs, err)
	if _, err := u.Authenticate(av.RAND[:], av.AUTN[:]); err != nil {
		t.Fatal(err)
	}
	_, err = u.Authenticate(av.RAND[:], av.AUTN[:])
	errs = append(errs, err)
	var sf *SyncFailure
	if errors.As(err, &sf) && leaks(err.Error(), sf.AUTS[:]) != "" {
		t.Errorf("sync failure text carries AUTS: %v", err)
	}
	_, err = VerifyAUTS(k, opc, av.RAND[:], make([]byte, AUTSLen))
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		msg := err.Error()
		if form := leaks(msg, k[:], opc[:], av.CK[:], av.IK[:], av.XRES[:]); form != "" {
			t.Errorf("error %q leaks %q", msg, form)
		}
		if !strings.HasPrefix(msg, "aka: ") {
			t.Errorf("error %q lacks the package prefix", msg)
		}
	}
}

// TestRedactionEncoders covers dumps of structs that embed keys (MarshalText).
func TestRedactionEncoders(t *testing.T) {
	values, secrets := secretsFixture(t)
	for name, v := range values {
		if name == "USIM" {
			continue // no exported fields to encode
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: json: %v", name, err)
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatalf("%s: yaml: %v", name, err)
		}
		for enc, out := range map[string]string{"json": string(j), "yaml": string(y)} {
			if form := leaks(out, secrets...); form != "" {
				t.Errorf("%s %s leaks %q: %s", name, enc, form, out)
			}
			if !strings.Contains(out, "REDACTED") {
				t.Errorf("%s %s lacks REDACTED: %s", name, enc, out)
			}
		}
	}
}

// TestUSIMRedacted: a USIM holds K and OPc in unexported fields, which fmt prints raw unless
// the USIM itself redacts.
func TestUSIMRedacted(t *testing.T) {
	k := Key{0x46, 0x5b, 0x5c, 0xe8, 0xb1, 0x99, 0xb4, 0x9f, 0xaa, 0x5f, 0x0a, 0x2e, 0xe2, 0x38, 0xa6, 0xbc}
	arr, err := NewSQNArray(DefaultSQNScheme())
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUSIM(k, k, arr, AMFSeparationIgnored)
	if err != nil {
		t.Fatal(err)
	}
	type holder struct{ u *USIM }
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		for _, v := range []any{u, holder{u}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "465b5c") || strings.Contains(strings.ToLower(out), "465b5c") || strings.Contains(out, "[70 91 92") {
				t.Errorf("%s of %T leaks K: %s", verb, v, out)
			}
		}
	}
}

// TestRedactEmbedded: f2345Out holds RES, CK and IK in unexported fields; it embeds
// redact.Fields, so it prints and logs as REDACTED.
func TestRedactEmbedded(t *testing.T) {
	o := f2345Out{res: RES{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8}}
	for i := range o.ck {
		o.ck[i], o.ik[i] = 0xc0|byte(i), 0xd0|byte(i)
	}
	secrets := []string{hex.EncodeToString(o.ck[:]), hex.EncodeToString(o.ik[:]), hex.EncodeToString(o.res[:]), "192, 193", "[192 193"}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "out", o, "ptr", &o)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "out", o, "ptr", &o)
	outs := []string{logs.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, o), fmt.Sprintf(verb, &o))
		if got := fmt.Sprintf(verb, o); got != redacted {
			t.Errorf("%s: %q", verb, got)
		}
	}
	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%q reveals %q", out, s)
			}
		}
	}
}
