package hsssim

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
	"time"

	"github.com/opengba/opengba/specs"
	"gopkg.in/yaml.v3"
)

// milenageSets is the part of specs/vectors/ts35208.json this package uses.
type milenageSets struct {
	Sets []struct {
		Name string `json:"name"`
		K    string `json:"K"`
		SQN  string `json:"SQN"`
		AMF  string `json:"AMF"`
		OP   string `json:"OP"`
		OPc  string `json:"OPc"`
	} `json:"sets"`
}

func loadMilenage(t *testing.T) milenageSets {
	t.Helper()
	var v milenageSets
	if err := specs.Vectors("ts35208", &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Sets) == 0 {
		t.Fatal("no vector sets")
	}
	return v
}

// TestOPcFromOP: OPc = E_K(OP) ⊕ OP (TS 35.206 §4.1) against TS 35.208 §4.3.
func TestOPcFromOP(t *testing.T) {
	for _, set := range loadMilenage(t).Sets {
		t.Run(set.Name, func(t *testing.T) {
			spec := SubscriberSpec{IMPI: "user1_private@home1.net", K: set.K, OP: set.OP, AMF: set.AMF, SQN: set.SQN}
			s, err := spec.Build(time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(s.OPc[:]); got != set.OPc {
				t.Fatalf("OPc = %s, want %s", got, set.OPc)
			}
			if got := hex.EncodeToString(s.AMF[:]); got != set.AMF {
				t.Fatalf("AMF = %s", got)
			}
			if got := FormatSQN(s.SQN); got != set.SQN {
				t.Fatalf("SQN = %s", got)
			}
			// Giving OPc directly yields the same record.
			spec2 := SubscriberSpec{IMPI: spec.IMPI, K: set.K, OPc: set.OPc}
			s2, err := spec2.Build(time.Unix(0, 0))
			if err != nil || s2.OPc != s.OPc {
				t.Fatalf("OPc path differs: %v", err)
			}
		})
	}
}

// TestKeyRedaction: key material never prints, under any verb, in slog, JSON or YAML.
func TestKeyRedaction(t *testing.T) {
	set := loadMilenage(t).Sets[0]
	k, err := ParseKey("k", set.K)
	if err != nil {
		t.Fatal(err)
	}
	opc, _ := ParseKey("opc", set.OPc)
	s := &Subscriber{IMPI: "user1_private@home1.net", K: k, OPc: opc}
	ad := AuthData{IMPI: s.IMPI, K: k, OPc: opc}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%08b"} {
		out = append(out, fmt.Sprintf(verb, k), fmt.Sprintf(verb, s), fmt.Sprintf(verb, *s), fmt.Sprintf(verb, ad))
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("x", "k", k, "sub", s, "ad", ad, slog.Any("opc", opc))
	log.Info("y", "sub", *s)
	out = append(out, logBuf.String())
	for _, v := range []any{k, s, ad} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(j), string(y))
	}
	secrets := []string{set.K, strings.ToUpper(set.K), set.OPc, base64.StdEncoding.EncodeToString(k[:]), fmt.Sprint(k[:4])}
	for _, o := range out {
		for _, sec := range secrets {
			if strings.Contains(o, sec) {
				t.Fatalf("secret leaked: %q", o)
			}
		}
	}
	if got := fmt.Sprintf("%x", k); got != redacted {
		t.Fatalf("%%x = %q", got)
	}
	if !strings.Contains(logBuf.String(), redacted) {
		t.Fatal("slog did not use LogValue")
	}
	// Errors about keys never repeat the input.
	_, err = ParseKey("k", "zz"+set.K[2:])
	if err == nil || strings.Contains(err.Error(), set.K[2:]) {
		t.Fatalf("ParseKey error %v", err)
	}
}

func TestSubscriberSpecBuild(t *testing.T) {
	const (
		k   = "465b5ce8b199b49faa5f0a2ee238a6bc"
		opc = "cd63cb71954a9f4e48a5994e37a02baf"
	)
	ok := SubscriberSpec{IMPI: "u@h", K: k, OPc: opc}
	for _, tc := range []struct {
		name  string
		mut   func(*SubscriberSpec)
		field string
	}{
		{"ok", func(*SubscriberSpec) {}, ""},
		{"no-impi", func(s *SubscriberSpec) { s.IMPI = "" }, "impi"},
		{"space-impi", func(s *SubscriberSpec) { s.IMPI = "a b@h" }, "impi"},
		{"slash-impi", func(s *SubscriberSpec) { s.IMPI = "a/b@h" }, "impi"},
		{"long-impi", func(s *SubscriberSpec) { s.IMPI = strings.Repeat("a", 256) }, "impi"},
		{"ctl-impi", func(s *SubscriberSpec) { s.IMPI = "a\x01@h" }, "impi"},
		{"no-k", func(s *SubscriberSpec) { s.K = "" }, "k"},
		{"short-k", func(s *SubscriberSpec) { s.K = k[:30] }, "k"},
		{"long-k", func(s *SubscriberSpec) { s.K = k + "00" }, "k"},
		{"hex-k", func(s *SubscriberSpec) { s.K = "g" + k[1:] }, "k"},
		{"zero-k", func(s *SubscriberSpec) { s.K = strings.Repeat("0", 32) }, "k"},
		{"no-op", func(s *SubscriberSpec) { s.OPc = "" }, "opc"},
		{"both-op", func(s *SubscriberSpec) { s.OP = opc }, "op"},
		{"short-opc", func(s *SubscriberSpec) { s.OPc = opc[:31] }, "opc"},
		{"short-op", func(s *SubscriberSpec) { s.OPc, s.OP = "", opc[:2] }, "op"},
		{"amf-3", func(s *SubscriberSpec) { s.AMF = "800" }, "amf"},
		{"amf-hex", func(s *SubscriberSpec) { s.AMF = "80zz" }, "amf"},
		{"sqn-13", func(s *SubscriberSpec) { s.SQN = "1000000000000" }, "sqn"},
		{"sqn-hex", func(s *SubscriberSpec) { s.SQN = "xyz" }, "sqn"},
		{"sqn-max", func(s *SubscriberSpec) { s.SQN = "ffffffffffff" }, ""},
		{"impu-dup", func(s *SubscriberSpec) { s.IMPUs = []string{"sip:a@h", "sip:a@h"} }, "impus[1]"},
		{"impu-empty", func(s *SubscriberSpec) { s.IMPUs = []string{""} }, "impus[0]"},
		{"impu-many", func(s *SubscriberSpec) { s.IMPUs = make([]string, MaxIMPUs+1) }, "impus"},
		{"guss-bad", func(s *SubscriberSpec) { s.GUSS = "<guss>" }, "guss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.mut(&spec)
			s, err := spec.Build(time.Unix(100, 0))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.IMPI != spec.IMPI || s.Created.Unix() != 100 {
					t.Fatal("record not built")
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want field %q", err, tc.field)
			}
			if strings.Contains(err.Error(), k) || strings.Contains(err.Error(), opc[:20]) {
				t.Fatalf("error repeats key material: %v", err)
			}
		})
	}
}

func TestSubscriberSpecApply(t *testing.T) {
	const k2 = "0396eb317b6d1c36f19c1c84cd6ffd16"
	base, err := (&SubscriberSpec{IMPI: "u@h", K: "465b5ce8b199b49faa5f0a2ee238a6bc", OPc: "cd63cb71954a9f4e48a5994e37a02baf"}).Build(time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	s := base.Clone()
	// A new K alone would leave a stale OPc.
	if err := (&SubscriberSpec{K: k2}).Apply(s, time.Unix(2, 0)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("K without OPc: %v", err)
	}
	// OP alone cannot be turned into OPc without K in the same request.
	if err := (&SubscriberSpec{OP: k2}).Apply(s, time.Unix(2, 0)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("OP without K: %v", err)
	}
	// The same K again is fine.
	if err := (&SubscriberSpec{K: "465b5ce8b199b49faa5f0a2ee238a6bc", AMF: "8000"}).Apply(s, time.Unix(3, 0)); err != nil {
		t.Fatal(err)
	}
	if s.AMF != [2]byte{0x80, 0} || s.OPc != base.OPc || s.Updated.Unix() != 3 {
		t.Fatal("apply did not change only AMF")
	}
	if err := (&SubscriberSpec{IMPUs: []string{}}).Apply(s, time.Unix(4, 0)); err != nil || len(s.IMPUs) != 0 {
		t.Fatalf("clear IMPUs: %v", err)
	}
	g := `<guss><bsfInfo><uiccType>GBA_U</uiccType></bsfInfo></guss>`
	if err := (&SubscriberSpec{GUSS: g}).Apply(s, time.Unix(5, 700)); err != nil {
		t.Fatal(err)
	}
	if s.GUSS != g || !s.GUSSTimestamp.Equal(time.Unix(5, 0)) {
		t.Fatalf("GUSS timestamp %v, want whole seconds", s.GUSSTimestamp)
	}
	if !s.GUSSNewerThan(time.Unix(4, 0)) || s.GUSSNewerThan(time.Unix(5, 0)) || !s.GUSSNewerThan(time.Time{}) {
		t.Fatal("GUSSNewerThan wrong")
	}
}

func TestValidateGUSS(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"digest-example", `<guss id="user1_private@home1.net">
  <bsfInfo><uiccType>GBA</uiccType><lifeTime>3600</lifeTime></bsfInfo>
  <ussList>
    <uss id="1" type="0" nafGroup="m2m"><uids><uid>sip:user1@home1.net</uid></uids><flags><flag>1</flag></flags></uss>
  </ussList>
</guss>`, true},
		{"xml-decl-ns", `<?xml version="1.0" encoding="UTF-8"?><guss xmlns="uri:3gpp-gba"><ussList/></guss>`, true},
		{"prefixed", `<g:guss xmlns:g="urn:x"/>`, true},
		{"comment-after", `<guss/><!-- end -->`, true},
		{"empty", ``, false},
		{"not-xml", `guss`, false},
		{"unclosed", `<guss><bsfInfo></guss>`, false},
		{"wrong-root", `<GUSS/>`, false},
		{"two-roots", `<guss/><guss/>`, false},
		{"text-after", `<guss/>trailing`, false},
		{"doctype", `<!DOCTYPE guss [<!ENTITY x "y">]><guss>&x;</guss>`, false},
		{"bad-uicc", `<guss><bsfInfo><uiccType>SIM</uiccType></bsfInfo></guss>`, false},
		{"bad-lifetime", `<guss><bsfInfo><lifeTime>-1</lifeTime></bsfInfo></guss>`, false},
		{"bad-lifetime-text", `<guss><bsfInfo><lifeTime>1h</lifeTime></bsfInfo></guss>`, false},
		{"too-long", `<guss>` + strings.Repeat(" ", MaxGUSSLen) + `</guss>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateGUSS([]byte(tc.doc))
			if tc.ok != (err == nil) {
				t.Fatalf("ValidateGUSS = %v, want ok=%v", err, tc.ok)
			}
			var fe *FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field != "guss") {
				t.Fatalf("error %v does not name guss", err)
			}
		})
	}
	g, err := ParseGUSS([]byte(`<guss id="a"><bsfInfo><uiccType>GBA_U</uiccType><lifeTime>60</lifeTime></bsfInfo><ussList><uss id="1" type="0" nafGroup="m2m"/></ussList></guss>`))
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != "a" || g.BSFInfo.UICCType != "GBA_U" || g.BSFInfo.LifeTime != "60" || len(g.USSList.USS) != 1 || g.USSList.USS[0].NAFGroup != "m2m" {
		t.Fatalf("decoded %+v", g)
	}
}
