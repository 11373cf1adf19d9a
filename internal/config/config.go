// Package config loads the operator-supplied YAML 1.2 configuration files of the OpenGBA
// servers strictly: ${VAR} expansion outside comments, then gopkg.in/yaml.v3 with unknown
// keys rejected, every error naming the file and line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds a configuration file: anything larger is not a configuration.
const MaxFileSize = 1 << 20

// Causes of an *Error (match them with errors.Is).
var (
	// ErrUnset: a ${NAME} without default names an unset environment variable.
	ErrUnset = errors.New("config: environment variable is not set")
	// ErrReference: a malformed reference ("${" unterminated, bad NAME).
	ErrReference = errors.New("config: bad variable reference")
	// ErrValue: a variable's value cannot be inserted (it contains a line break).
	ErrValue = errors.New("config: bad variable value")
	// ErrYAML: the expanded text is not valid YAML, does not fit the configuration type
	// (unknown key, wrong type) or holds more than one document.
	ErrYAML = errors.New("config: invalid yaml")
	// ErrTooLarge: the file exceeds MaxFileSize.
	ErrTooLarge = errors.New("config: file too large")
)

// Options tune Load and Parse; the zero value reads the process environment.
type Options struct {
	// Lookup resolves ${NAME} (nil: os.LookupEnv).
	Lookup func(name string) (string, bool)
	// Sentinel is the calling component's configuration error (bsf.ErrConfig, …): every
	// *Error then matches it with errors.Is and starts with its text, so that messages
	// read "bsf: config: bsf.yaml:12: …". Nil: they start with "config".
	Sentinel error
}

// Error is a failure to load a configuration file. Its message is one line:
// "<sentinel>: <file>:<line>: [${NAME}: ]<reason>".
type Error struct {
	// File is the name given to Load or Parse ("" for anonymous data).
	File string
	// Line is the 1-based line of the problem (0 when the problem has no line).
	Line int
	// Var is the variable of an expansion error.
	Var string
	// Reason says what is wrong, for people.
	Reason string
	// Err is the cause: ErrUnset, ErrReference, ErrValue, ErrYAML, ErrTooLarge or the
	// error of reading the file (errors.Is(err, fs.ErrNotExist) works).
	Err error

	sentinel error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.sentinel != nil {
		b.WriteString(e.sentinel.Error())
	} else {
		b.WriteString("config")
	}
	b.WriteString(": ")
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Var != "" {
		b.WriteString("${" + e.Var + "}: ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the cause and the component's sentinel.
func (e *Error) Unwrap() []error {
	if e.sentinel == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.sentinel}
}

// Load reads the file at path (at most MaxFileSize) and decodes it into dst with Parse.
// dst must be a non-nil pointer, normally to the component's Default(): keys absent from
// the file keep their values.
func Load(path string, dst any, opts Options) error {
	data, err := readFile(path)
	if err != nil {
		reason := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Op + ": " + pe.Err.Error()
		}
		if errors.Is(err, ErrTooLarge) {
			reason = fmt.Sprintf("larger than %d bytes", MaxFileSize)
		}
		return &Error{File: path, Reason: reason, Err: err, sentinel: opts.Sentinel}
	}
	return Parse(path, data, dst, opts)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, ErrTooLarge
	}
	return data, nil
}

// Parse expands the ${NAME} references of data outside comments (see Expand), then decodes
// the single YAML document into dst with unknown keys rejected (yaml.v3 KnownFields). name
// (a file name, or "") prefixes the line numbers of errors; line numbers are those of data,
// since a value never adds a line. Empty data (or only comments) leaves dst unchanged.
func Parse(name string, data []byte, dst any, opts Options) error {
	fail := func(err error) error {
		var e *Error
		if errors.As(err, &e) {
			e.File, e.sentinel = name, opts.Sentinel
			return e
		}
		return &Error{File: name, Reason: err.Error(), Err: err, sentinel: opts.Sentinel}
	}
	if len(data) > MaxFileSize {
		return fail(&Error{Reason: fmt.Sprintf("larger than %d bytes", MaxFileSize), Err: ErrTooLarge})
	}
	lookup := opts.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	expanded, err := expand(data, lookup, nil)
	if err != nil {
		return fail(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := decode(dec, dst); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fail(yamlError(err))
	}
	for {
		var extra yaml.Node
		switch err := decode(dec, &extra); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fail(yamlError(err))
		case !emptyDocument(&extra):
			return fail(&Error{Line: extra.Line, Reason: "more than one YAML document (one file, one document)", Err: ErrYAML})
		}
	}
}

// emptyDocument reports whether n is a document without content (a trailing "---").
func emptyDocument(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" && n.Anchor == "")
}

// decode runs dec.Decode and turns a panic of the YAML library into an error, since the
// file comes from outside the program.
func decode(dec *yaml.Decoder, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: internal error decoding the document")
		}
	}()
	return dec.Decode(v)
}

var (
	yamlLine     = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlNotFound = regexp.MustCompile(`^field (.*) not found in type .*$`)
	yamlAlready  = regexp.MustCompile(`^field (.*) already set in type .*$`)
)

// yamlError turns a yaml.v3 error into an *Error with the line of the (first) problem and a
// reason without Go type names where a plainer one exists.
func yamlError(err error) *Error {
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs = te.Errors
	}
	e := &Error{Err: ErrYAML}
	msg := msgs[0]
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if m := yamlNotFound.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("unknown key %q", m[1])
	} else if m := yamlAlready.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("key %q set twice", m[1])
	}
	if len(msgs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(msgs)-1)
	}
	e.Reason = strings.ReplaceAll(msg, "\n", " ")
	return e
}
