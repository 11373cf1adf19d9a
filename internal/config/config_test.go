package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var testEnv = env(map[string]string{"HOST": "hss.opengba.test", "EMPTY": "", "PORT": "3868", "DOLLAR": "a$b"})

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "host: ${HOST}\n", "host: hss.opengba.test\n"},
		{"quoted", `host: "${HOST}"` + "\n", `host: "hss.opengba.test"` + "\n"},
		{"single-quoted", "host: '${HOST}'\n", "host: 'hss.opengba.test'\n"},
		{"in-word", "addr: ${HOST}:${PORT}\n", "addr: hss.opengba.test:3868\n"},
		{"default-unset", "a: ${NOPE:-x y}\n", "a: x y\n"},
		{"default-empty", "a: ${EMPTY:-d}\n", "a: d\n"},
		{"empty-default", "a: ${NOPE:-}\n", "a: \n"},
		{"set-empty", "a: '${EMPTY}'\n", "a: ''\n"},
		{"value-kept-literally", "a: ${DOLLAR}\n", "a: a$b\n"},
		{"dollar-dollar", "a: p$$w\n", "a: p$w\n"},
		{"dollar-dollar-brace", "a: $${HOST}\n", "a: ${HOST}\n"},
		{"bare-dollar-name-not-expanded", "a: $HOST\n", "a: $HOST\n"},
		{"lone-dollar", "a: x$\n", "a: x$\n"},
		{"dollar-paren", "a: $(x)\n", "a: $(x)\n"},
		// Comments are copied verbatim: an unset variable there is no error.
		{"comment-line", "# set ${NOPE} first\na: 1\n", "# set ${NOPE} first\na: 1\n"},
		{"comment-indented", "a:\n  # ${NOPE}\n  b: 1\n", "a:\n  # ${NOPE}\n  b: 1\n"},
		{"comment-after-value", "a: ${HOST} # was ${NOPE}\n", "a: hss.opengba.test # was ${NOPE}\n"},
		{"comment-after-quoted", "a: \"x\" # ${NOPE} $$\n", "a: \"x\" # ${NOPE} $$\n"},
		{"comment-after-flow", "a: [x, y] # ${NOPE}\n", "a: [x, y] # ${NOPE}\n"},
		{"comment-with-tab", "a: b\t# ${NOPE}\n", "a: b\t# ${NOPE}\n"},
		{"comment-crlf", "a: ${HOST} # ${NOPE}\r\nb: 1\r\n", "a: hss.opengba.test # ${NOPE}\r\nb: 1\r\n"},
		// A '#' that does not follow white space, or inside quotes, is not a comment.
		{"hash-in-word", "a: x#${HOST}\n", "a: x#hss.opengba.test\n"},
		{"hash-in-double", `a: "x # ${HOST}"` + "\n", `a: "x # hss.opengba.test"` + "\n"},
		{"hash-in-single", "a: 'x # ${HOST}'\n", "a: 'x # hss.opengba.test'\n"},
		{"escaped-quote", `a: "q\" # ${HOST}" # ${NOPE}` + "\n", `a: "q\" # hss.opengba.test" # ${NOPE}` + "\n"},
		{"single-quote-escape", "a: 'it''s # ${HOST}' # ${NOPE}\n", "a: 'it''s # hss.opengba.test' # ${NOPE}\n"},
		{"apostrophe-in-plain", "a: it's # ${NOPE}\n", "a: it's # ${NOPE}\n"},
		{"quote-in-plain", "a: say \"x # ${NOPE}\n", "a: say \"x # ${NOPE}\n"},
		{"multi-line-double", "a: \"x\n  # ${HOST}\"\nb: 1 # ${NOPE}\n", "a: \"x\n  # hss.opengba.test\"\nb: 1 # ${NOPE}\n"},
		{"multi-line-single", "a: 'x\n  # ${HOST}'\n# ${NOPE}\n", "a: 'x\n  # hss.opengba.test'\n# ${NOPE}\n"},
		{"sequence-quoted", "- \"${HOST} # x\" # ${NOPE}\n", "- \"hss.opengba.test # x\" # ${NOPE}\n"},
		{"flow-quoted", "a: [\"${PORT}\", '#${HOST}'] # ${NOPE}\n", "a: [\"3868\", '#hss.opengba.test'] # ${NOPE}\n"},
		{"flow-mapping", "a: {b: '# ${HOST}'} # ${NOPE}\n", "a: {b: '# hss.opengba.test'} # ${NOPE}\n"},
		{"tagged-quoted", "a: !!str '# ${PORT}' # ${NOPE}\n", "a: !!str '# 3868' # ${NOPE}\n"},
		{"anchor-quoted", "a: &x '# ${PORT}' # ${NOPE}\n", "a: &x '# 3868' # ${NOPE}\n"},
		{"key", "${HOST}: 1\n", "hss.opengba.test: 1\n"},
		// Block scalars: '#' lines in the content are content, expanded.
		{"block-literal", "a: | # ${NOPE}\n  # ${HOST}\n\n  x\nb: 1 # ${NOPE}\n", "a: | # ${NOPE}\n  # hss.opengba.test\n\n  x\nb: 1 # ${NOPE}\n"},
		{"block-folded-strip", "a: >-\n    ${PORT} # ${HOST}\n# ${NOPE}\n", "a: >-\n    3868 # hss.opengba.test\n# ${NOPE}\n"},
		{"block-in-sequence", "- |\n  #${PORT}\n- x # ${NOPE}\n", "- |\n  #3868\n- x # ${NOPE}\n"},
		{"block-document", "--- |\n  # ${PORT}\n", "--- |\n  # 3868\n"},
		{"block-ends-at-dedent", "a:\n  b: |\n    ${PORT}\n  # ${NOPE}\n  c: 1\n", "a:\n  b: |\n    3868\n  # ${NOPE}\n  c: 1\n"},
		{"no-trailing-newline", "a: ${PORT}", "a: 3868"},
		{"byte-order-mark", "\ufeff# ${NOPE}\na: ${PORT}\n", "\ufeff# ${NOPE}\na: 3868\n"},
		{"plain-continued", "a: b\n  \"c # ${NOPE}\n", "a: b\n  \"c # ${NOPE}\n"},
		{"plain-not-continued", "- a: b\n  \"c # ${HOST}\": d\n", "- a: b\n  \"c # hss.opengba.test\": d\n"},
		{"root-plain-continued", "x\n\"y # ${NOPE}\n", "x\n\"y # ${NOPE}\n"},
		{"comment-after-flow-end", "a: {}# ${NOPE}\n", "a: {}# ${NOPE}\n"},
		{"comment-after-quote", "a: 'x'# ${NOPE}\n", "a: 'x'# ${NOPE}\n"},
		{"block-trailing-comment", "a: |\n    x\n  # ${NOPE}\nb: 1\n", "a: |\n    x\n  # ${NOPE}\nb: 1\n"},
		{"block-header-comment-no-space", "a: |#${NOPE}\n  x\n", "a: |#${NOPE}\n  x\n"},
		{"block-indent-indicator", "a: |2\n   # ${PORT}\n", "a: |2\n   # 3868\n"},
		{"root-block", ">\n # ${PORT}\n# ${NOPE}\n", ">\n # 3868\n# ${NOPE}\n"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand([]byte(tc.in), testEnv)
			if err != nil || string(got) != tc.want {
				t.Fatalf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     int
		v        string
		is       error
		msg      string
	}{
		{"unset", "a: 1\nb: ${NOPE}\n", 2, "NOPE", ErrUnset, "line 2: ${NOPE}: environment variable is not set"},
		{"unset-in-quotes", "a: \"# ${NOPE}\"\n", 1, "NOPE", ErrUnset, ""},
		{"unset-in-block", "a: |\n  # ${NOPE}\n", 2, "NOPE", ErrUnset, ""},
		{"unterminated", "a: ${HOST\n", 1, "", ErrReference, "unterminated"},
		{"unterminated-across-lines", "a: \"${HOST\n}\"\n", 1, "", ErrReference, "unterminated"},
		{"empty-name", "a: ${}\n", 1, "", ErrReference, "bad variable reference"},
		{"bad-name", "a: ${1X}\n", 1, "", ErrReference, "bad variable reference"},
		{"dash-default", "a: ${X-d}\n", 1, "", ErrReference, "bad variable reference"},
		{"space-name", "a: ${A B}\n", 1, "", ErrReference, ""},
		{"line-break-value", "a: ${NL}\n", 1, "NL", ErrValue, "line break"},
		{"cr-value", "a: ${CR}\n", 1, "CR", ErrValue, ""},
		{"not-utf8", "a: 1\nb: \xff\n", 2, "", ErrYAML, "not UTF-8"},
		{"utf16", "\xfe\xff\x00a", 1, "", ErrYAML, "not UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Expand([]byte(tc.in), env(map[string]string{"HOST": "h", "NL": "a\nb: c", "CR": "a\rb"}))
			var e *Error
			if !errors.As(err, &e) || e.Line != tc.line || e.Var != tc.v || !errors.Is(err, tc.is) {
				t.Fatalf("Expand(%q) error = %#v, want line %d var %q is %v", tc.in, err, tc.line, tc.v, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q, want one line containing %q", err, tc.msg)
			}
		})
	}
}

// The expansion must not need lookup for names it does not reference; a nil lookup means
// every variable is unset.
func TestExpandNilLookup(t *testing.T) {
	if got, err := Expand([]byte("a: ${X:-d} # ${Y}\n"), nil); err != nil || string(got) != "a: d # ${Y}\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

type sample struct {
	Name    string        `yaml:"name"`
	Port    int           `yaml:"port"`
	Timeout time.Duration `yaml:"timeout"`
	Peers   []string      `yaml:"peers"`
	Sub     struct {
		On bool `yaml:"on"`
	} `yaml:"sub"`
}

func defaults() sample { return sample{Name: "default", Port: 1, Timeout: time.Second} }

func TestParse(t *testing.T) {
	sentinel := errors.New("comp: config")
	for _, tc := range []struct {
		name, in string
		check    func(sample) bool
		line     int   // expected error line (0: no error expected unless is is set)
		is       error // expected cause; nil: success
		msg      string
	}{
		{"empty", "", func(s sample) bool { return reflect.DeepEqual(s, defaults()) }, 0, nil, ""},
		{"comments-only", "# ${NOPE}\n", func(s sample) bool { return reflect.DeepEqual(s, defaults()) }, 0, nil, ""},
		{"overlay", "port: ${PORT}\npeers: [a, b]\n", func(s sample) bool {
			return s.Port == 3868 && s.Name == "default" && len(s.Peers) == 2 && s.Timeout == time.Second
		}, 0, nil, ""},
		{"number-from-env", "port: ${PORT}  # ${NOPE}\n", func(s sample) bool { return s.Port == 3868 }, 0, nil, ""},
		{"explicit-document", "---\nname: x\n...\n", func(s sample) bool { return s.Name == "x" }, 0, nil, ""},
		{"trailing-empty-document", "name: x\n---\n# end\n", func(s sample) bool { return s.Name == "x" }, 0, nil, ""},
		{"block-scalar", "name: |-\n  # ${PORT}\n# ${NOPE}\n", func(s sample) bool { return s.Name == "# 3868" }, 0, nil, ""},
		{"unknown-key", "name: a\nsub:\n  off: true\n", nil, 3, ErrYAML, `comp: config: f.yaml:3: unknown key "off"`},
		{"unknown-top", "nmae: a\n", nil, 1, ErrYAML, `unknown key "nmae"`},
		{"several-errors", "bogus: 1\nport: x\n", nil, 1, ErrYAML, "(and 1 more)"},
		{"wrong-type", "name: a\nport: many\n", nil, 2, ErrYAML, "f.yaml:2: cannot unmarshal"},
		{"bad-duration", "timeout: soon\n", nil, 1, ErrYAML, "time.Duration"},
		{"duplicate-key", "name: a\nname: b\n", nil, 2, ErrYAML, "already defined"},
		{"syntax", "name: a\n  port: 2\n", nil, 2, ErrYAML, "f.yaml:2:"},
		{"tab-indent", "sub:\n\ton: true\n", nil, 2, ErrYAML, ""},
		{"two-documents", "name: a\n---\nname: b\n", nil, 2, ErrYAML, "more than one YAML document"},
		{"not-a-mapping", "- a\n", nil, 1, ErrYAML, "cannot unmarshal"},
		{"unset", "name: a\nport: ${NOPE}\n", nil, 2, ErrUnset, "comp: config: f.yaml:2: ${NOPE}: environment variable is not set"},
		{"injected-key", "name: ${NL}\n", nil, 1, ErrValue, "line break"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := defaults()
			lookup := env(map[string]string{"PORT": "3868", "NL": "x\nport: 9"})
			err := Parse("f.yaml", []byte(tc.in), &got, Options{Lookup: lookup, Sentinel: sentinel})
			if tc.is == nil {
				if err != nil || !tc.check(got) {
					t.Fatalf("Parse(%q) = %+v, %v", tc.in, got, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Line != tc.line || e.File != "f.yaml" || !errors.Is(err, tc.is) || !errors.Is(err, sentinel) {
				t.Fatalf("Parse(%q) error = %v (%#v), want f.yaml line %d, %v", tc.in, err, e, tc.line, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "comp: config: f.yaml:") {
				t.Errorf("message %q, want one line with %q", err, tc.msg)
			}
		})
	}
}

func TestParseWithoutSentinelOrName(t *testing.T) {
	var s sample
	err := Parse("", []byte("a: 1\n"), &s, Options{})
	if err == nil || err.Error() != `config: line 1: unknown key "a"` {
		t.Fatalf("got %v", err)
	}
	t.Setenv("OPENGBA_CONFIG_TEST", "from-env")
	if err := Parse("", []byte("name: ${OPENGBA_CONFIG_TEST}\n"), &s, Options{}); err != nil || s.Name != "from-env" {
		t.Fatalf("os.LookupEnv by default: %v %q", err, s.Name)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("# needs ${NOTHING}\nname: ${N:-x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := defaults()
	if err := Load(good, &s, Options{Lookup: env(nil)}); err != nil || s.Name != "x" {
		t.Fatalf("Load = %v, %q", err, s.Name)
	}

	missing := filepath.Join(dir, "missing.yaml")
	err := Load(missing, &s, Options{})
	var e *Error
	if !errors.As(err, &e) || e.File != missing || !errors.Is(err, fs.ErrNotExist) ||
		err.Error() != "config: "+missing+": open: no such file or directory" {
		t.Fatalf("missing file: %v", err)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#\n", MaxFileSize/2+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Load(big, &s, Options{}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "big.yaml") {
		t.Fatalf("large file: %v", err)
	}
	if err := Parse("x", make([]byte, MaxFileSize+1), &s, Options{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("large data: %v", err)
	}
}
