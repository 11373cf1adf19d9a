package config

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// seeds are the example and lab configurations of the repository plus the table cases.
func seeds(f *testing.F) {
	for _, p := range []string{
		"../../hss-sim/hss-sim.example.yaml", "../../bsf/bsf.example.yaml", "../../naf/naf.example.yaml",
		"../../deploy/compose/hss-sim.yaml", "../../deploy/compose/bsf.yaml", "../../deploy/compose/naf.yaml",
		"../../deploy/compose/subscribers.yaml",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"a: ${HOST} # ${NOPE}\n", "a: 'it''s # ${HOST}' # x\n", "a: \"q\\\" # ${HOST}\" # ${NOPE}\n",
		"a: | # c\n  # ${HOST}\n\n  x\nb: 1 # c\n", "--- |\n  # x\n", "a: [\"x\", '#y'] # c\n",
		"a: {b: '# c'} # d\n", "a: !!str '# 1' # c\n", "- |\n  #x\n- y # z\n", "a: \"x\n  # y\"\nb: 1 # c\n",
		"a: $$ $x ${A:-b} $\n", "a: ${\n", "k: v\n---\nk: w\n",
		// Regressions found by FuzzExpand: a comment ends a plain scalar; a comment right
		// after a block header, a flow collection or a quote; a plain scalar continued by a
		// line that starts with a quote; root block scalars; UTF-16.
		"0 #\n00", "|#000", "-~-|\n\" #00", "{}#\n", "  |\n 000000 #~00", ">\n#", "\xfe\xff #",
	} {
		f.Add([]byte(s))
	}
}

func fuzzLookup(name string) (string, bool) {
	if strings.HasPrefix(name, "N") {
		return "", false
	}
	return "v", true
}

// FuzzExpand: the expansion never panics, keeps the line structure, is the identity on
// text without "$", and agrees with yaml.v3 on what is a comment: removing what Expand
// calls comments leaves the parsed document unchanged, and every comment yaml.v3 reports
// is one Expand found.
func FuzzExpand(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var comments []string
		out, err := expand(data, fuzzLookup, func(_ int, c string) { comments = append(comments, c) })
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Line < 1 || e.Reason == "" || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		if bytes.Count(out, []byte("\n")) != bytes.Count(data, []byte("\n")) {
			t.Fatalf("line count changed: %q -> %q", data, out)
		}
		if bytes.IndexByte(data, '$') >= 0 {
			return
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("text without $ changed: %q -> %q", data, out)
		}
		var orig yaml.Node
		if yaml.Unmarshal(data, &orig) != nil || bytes.Contains(data, []byte("\r")) || bytes.Contains(data, []byte("\t")) {
			return
		}
		// Every comment yaml.v3 attached to a node is one we found.
		found := map[string]bool{}
		for _, c := range comments {
			found[strings.TrimRight(c, " \t\r")] = true
		}
		for _, c := range yamlComments(&orig) {
			if !found[c] {
				t.Fatalf("yaml.v3 sees comment %q that Expand missed in %q (found %q)", c, data, comments)
			}
		}
		// With other text in the comments Expand found, the document means the same.
		stripped := rewriteComments(data)
		var a, b any
		if err := yaml.Unmarshal(data, &a); err != nil {
			return
		}
		if err := yaml.Unmarshal(stripped, &b); err != nil {
			t.Fatalf("rewriting the comments broke %q: %q: %v", data, stripped, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("rewriting the comments changed %q: %#v -> %#v", data, a, b)
		}
	})
}

func yamlComments(n *yaml.Node) []string {
	var out []string
	for _, c := range []string{n.HeadComment, n.LineComment, n.FootComment} {
		for _, l := range strings.Split(c, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	for _, k := range n.Content {
		out = append(out, yamlComments(k)...)
	}
	return out
}

// rewriteComments replaces the text of the comments Expand finds with "#~", line by line.
func rewriteComments(data []byte) []byte {
	lines := bytes.Split(data, []byte("\n"))
	byLine := map[int]string{}
	_, _ = expand(data, nil, func(line int, c string) { byLine[line] = c })
	for i := range lines {
		if c, ok := byLine[i+1]; ok {
			lines[i] = append(bytes.TrimSuffix(lines[i], []byte(c)), "#~"...)
		}
	}
	return bytes.Join(lines, []byte("\n"))
}

type fuzzConfig struct {
	Name     string            `yaml:"name"`
	Port     int               `yaml:"port"`
	Open     bool              `yaml:"open"`
	Timeout  time.Duration     `yaml:"timeout"`
	List     []string          `yaml:"list"`
	Map      map[string]string `yaml:"map"`
	Children []struct {
		Address  string `yaml:"address"`
		Priority int    `yaml:"priority"`
	} `yaml:"children"`
}

// FuzzParse: operator-supplied files never panic the loader, and every failure is a
// one-line *Error that matches the component's sentinel.
func FuzzParse(f *testing.F) {
	seeds(f)
	sentinel := errors.New("fuzz: config")
	f.Fuzz(func(t *testing.T, data []byte) {
		var c fuzzConfig
		err := Parse("f.yaml", data, &c, Options{Lookup: fuzzLookup, Sentinel: sentinel})
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, sentinel) || e.Err == nil || e.Reason == "" {
			t.Fatalf("bad error %#v", err)
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, "fuzz: config: f.yaml") {
			t.Fatalf("message %q", msg)
		}
	})
}
