package config

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Expansion rules (Expand):
//
//   - ${NAME} is replaced by the value of the environment variable NAME; an unset NAME is an
//     error naming it and its line. A set but empty NAME gives "".
//   - ${NAME:-default} gives default when NAME is unset or empty (as in POSIX sh and Compose).
//     The default is literal text up to the first "}" on the line (no nested references).
//   - $$ is a literal "$".
//   - Any other "$" is literal: $NAME without braces is NOT expanded, so values such as
//     "pa$word" survive as written (Compose would expand them; we prefer the narrow rule).
//   - The file must be UTF-8 (a UTF-8 byte order mark is allowed).
//   - NAME is [A-Za-z_][A-Za-z0-9_]*; "${" without a closing "}" on its line, or with a bad
//     NAME, is an error.
//   - References are expanded in every scalar (plain, single- and double-quoted, block
//     scalars), keys included, but never inside YAML comments: comments are copied verbatim.
//   - A value is inserted as text before the YAML is parsed, so quote the reference where the
//     value may contain YAML syntax (": ", " #", a leading "*" or "!"). A value that contains
//     a line break is an error (it would shift every later line number and could add keys):
//     put such data in a file and name the file instead.
//
// A "#" starts a comment (YAML 1.2 §6.6) when it is outside a quoted scalar and a block
// scalar's content and starts a token, as libyaml (and so yaml.v3) reads it: at the start
// of a line, after white space, after a closing quote, a flow indicator or a block scalar
// header. FuzzExpand checks this reading against yaml.v3.

// lookupFunc resolves an environment variable.
type lookupFunc func(name string) (string, bool)

// expander scans a YAML document line by line with just enough of the YAML 1.2 lexical
// structure (§6–§8) to tell comments from scalars: quoted scalars, block scalar headers
// and their indentation, plain scalars that continue on the next line, flow collections.
type expander struct {
	lookup lookupFunc
	// comment, if set, is called with every comment (tests).
	comment func(line int, text string)

	out   bytes.Buffer
	line  int  // 1-based number of the line being scanned
	quote byte // '"' or '\'' inside a quoted scalar that may span lines, else 0
	flow  int  // depth of flow collections ([ ] { })
	// block is set from the line after a block scalar header (| or >) while the lines are
	// its content (§8.1.1.1): blank, or indented at least blockContent, the indentation
	// of the first non-blank content line (or given by an indentation indicator), which
	// must exceed blockParent, the indentation of the node the scalar belongs to.
	block, blockNext bool
	blockParent      int
	blockContent     int // -1 until known
	// root is set once the current document has content: a node that starts a line is
	// then not the root node, so it belongs to a collection indented less than itself.
	root bool
	// plain is set when the previous line ended inside a plain scalar, which the next
	// non-blank line continues (§7.3.3) if it is indented more than plainIndent or inside
	// a flow collection, and is not a comment line.
	plain       bool
	plainIndent int
}

// Expand returns data with the ${NAME} references outside comments replaced (see the rules
// above). lookup resolves a name (nil: every variable is unset). The error is a *Error
// carrying the line (and Var for an unset variable); it has no File.
func Expand(data []byte, lookup func(name string) (string, bool)) ([]byte, error) {
	return expand(data, lookup, nil)
}

func expand(data []byte, lookup lookupFunc, comment func(int, string)) ([]byte, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	if !utf8.Valid(data) {
		// yaml.v3 would also read UTF-16 (after a BOM); this scanner reads UTF-8 only.
		bad := 0
		for bad < len(data) {
			r, n := utf8.DecodeRune(data[bad:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			bad += n
		}
		return nil, &Error{Line: 1 + bytes.Count(data[:bad], []byte("\n")), Reason: "not UTF-8 text", Err: ErrYAML}
	}
	e := &expander{lookup: lookup, comment: comment}
	e.out.Grow(len(data))
	rest := data
	if bom := []byte("\ufeff"); bytes.HasPrefix(rest, bom) {
		e.out.Write(bom)
		rest = rest[len(bom):]
	}
	for len(rest) > 0 {
		e.line++
		line := rest
		nl := bytes.IndexByte(rest, '\n')
		if nl >= 0 {
			line, rest = rest[:nl], rest[nl+1:]
		} else {
			rest = nil
		}
		if err := e.scanLine(line); err != nil {
			return nil, err
		}
		if nl >= 0 {
			e.out.WriteByte('\n')
		}
	}
	return e.out.Bytes(), nil
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// documentMarker reports whether line starts with "---" or "..." followed by white space
// or its end (§9.1.2).
func documentMarker(line []byte) bool {
	return (bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("..."))) &&
		(len(line) == 3 || isBlank(line[3]))
}

// scanLine copies one line (without its '\n') to out, expanding references outside
// comments.
func (e *expander) scanLine(line []byte) error {
	indent := 0
	for indent < len(line) && line[indent] == ' ' {
		indent++
	}
	trimmed := bytes.TrimLeft(line, " \t\r")
	if e.blockNext {
		e.block, e.blockNext = true, false
	}
	if e.block {
		if e.blockContent < 0 && len(trimmed) > 0 && indent > e.blockParent {
			e.blockContent = indent
		}
		if len(trimmed) == 0 || (e.blockContent >= 0 && indent >= e.blockContent) {
			// Block scalar content: no comments in here (§8.1.1.2).
			return e.copyExpanding(line)
		}
		e.block = false
	}
	if documentMarker(line) {
		e.root, e.plain = false, false
	}
	cont := false // this line continues a plain scalar
	if e.plain && e.quote == 0 {
		switch {
		case len(trimmed) == 0:
			e.out.Write(line) // a folded line break; the scalar may go on
			return nil
		case trimmed[0] == '#' || documentMarker(line):
			e.plain = false
		case e.flow > 0 || indent > e.plainIndent:
			cont = true
		default:
			e.plain = false
		}
	}

	var (
		start    = e.quote == 0 && !cont // a node (scalar, quote, collection) may start here
		inPlain  = cont                  // inside a plain scalar
		boundary = true                  // a token may start here: line start, after white space,
		// a closing quote or a flow indicator (libyaml then takes "#" as a comment)
		// thr is the indentation a continuation line of a plain scalar that starts now
		// must exceed: the indentation of the collection the scalar belongs to.
		thr        = indent - 1
		keyCol     = indent // column of the node that may be a mapping key
		wantKeyCol bool     // set keyCol at the next non-blank character
		plainThr   = e.plainIndent
	)
	if !e.root {
		thr = -1 // the root node
	}
	i := 0
	if start && documentMarker(line) {
		e.out.Write(line[:3])
		i, thr = 3, -1
	}
	for i < len(line) {
		c := line[i]
		if e.quote != 0 {
			switch {
			case c == '$':
				n, err := e.dollar(line[i:])
				if err != nil {
					return err
				}
				i += n
			case e.quote == '"' && c == '\\' && i+1 < len(line):
				e.out.Write(line[i : i+2])
				i += 2
			case e.quote == '\'' && c == '\'' && i+1 < len(line) && line[i+1] == '\'':
				e.out.WriteString("''")
				i += 2
			default:
				e.out.WriteByte(c)
				i++
				if c == e.quote {
					e.quote = 0
					start = false
					boundary = true
					continue
				}
			}
			boundary = false
			continue
		}
		if isBlank(c) {
			e.out.WriteByte(c)
			i++
			boundary = true
			continue
		}
		if wantKeyCol {
			keyCol, wantKeyCol = i, false
		}
		if c == '#' && boundary {
			// A comment; it also ends a plain scalar (§7.3.3).
			if e.comment != nil {
				e.comment(e.line, string(line[i:]))
			}
			e.out.Write(line[i:])
			e.plain = false
			if i > len(line)-len(trimmed) {
				e.root = true // there was a node before the comment
			}
			return nil
		}
		next := byte(' ')
		if i+1 < len(line) {
			next = line[i+1]
		}
		switch {
		case c == '$':
			if !inPlain {
				inPlain, plainThr = true, thr
			}
			n, err := e.dollar(line[i:])
			if err != nil {
				return err
			}
			i += n
			start, boundary = false, false
			continue
		case start && (c == '"' || c == '\''):
			e.quote = c
		case start && (c == '|' || c == '>'):
			// A block scalar header (§8.1.1); its content starts on the next line. Like
			// libyaml, a comment may follow the indicators without white space.
			e.blockNext, e.blockParent, e.blockContent = true, max(thr, 0), -1 // libyaml: content is indented at least 1
			j := i + 1
			for j < len(line) && (line[j] == '+' || line[j] == '-' || ('0' <= line[j] && line[j] <= '9') || isBlank(line[j])) {
				if '1' <= line[j] && line[j] <= '9' && e.blockContent < 0 {
					// An indentation indicator, relative to the parent (libyaml: to 0
					// for the root).
					e.blockContent = e.blockParent + int(line[j]-'0')
				}
				j++
			}
			e.root = true
			e.out.Write(line[i:j])
			if j < len(line) && line[j] == '#' {
				if e.comment != nil {
					e.comment(e.line, string(line[j:]))
				}
				e.out.Write(line[j:])
				e.plain = false
				return nil
			}
			i, start, boundary = j, false, j > i+1 && isBlank(line[j-1])
			continue
		case start && (c == '!' || c == '&' || c == '*'):
			// A tag, anchor or alias: the node (if any) starts after it.
			j := i
			for j < len(line) && !isBlank(line[j]) {
				j++
			}
			if err := e.copyExpanding(line[i:j]); err != nil {
				return err
			}
			i, boundary = j, false
			continue
		case !inPlain && (c == '-' || c == '?') && isBlank(next):
			// A sequence entry or a complex key: a node starts after it, and a plain
			// scalar there continues on lines indented more than the indicator.
			start, thr, wantKeyCol = true, i, true
		case c == ':' && (isBlank(next) || e.flow > 0):
			// A mapping value: the key ends; a plain scalar value continues on lines
			// indented more than the key.
			start, inPlain, thr = true, false, keyCol
			if e.flow > 0 {
				e.out.WriteByte(c)
				i++
				continue // boundary stays set
			}
		case start && (c == '[' || c == '{'):
			e.flow++
			boundary = true
			e.out.WriteByte(c)
			i++
			continue
		case e.flow > 0 && (c == ']' || c == '}'):
			e.flow--
			start, inPlain, boundary = false, false, true
			e.out.WriteByte(c)
			i++
			continue
		case e.flow > 0 && c == ',':
			start, inPlain, boundary = true, false, true
			e.out.WriteByte(c)
			i++
			continue
		default:
			if !inPlain {
				inPlain, plainThr = true, thr
			}
			start = false
		}
		e.out.WriteByte(c)
		i++
		boundary = false
	}
	e.plain, e.plainIndent = inPlain && e.quote == 0 && !e.blockNext, plainThr
	if len(trimmed) > 0 {
		e.root = true
	}
	return nil
}

// copyExpanding copies s, expanding references, with no comment detection.
func (e *expander) copyExpanding(s []byte) error {
	for i := 0; i < len(s); {
		if s[i] != '$' {
			j := bytes.IndexByte(s[i:], '$')
			if j < 0 {
				e.out.Write(s[i:])
				return nil
			}
			e.out.Write(s[i : i+j])
			i += j
			continue
		}
		n, err := e.dollar(s[i:])
		if err != nil {
			return err
		}
		i += n
	}
	return nil
}

// dollar handles the "$" at s[0]: it writes the expansion and returns how many bytes of s
// it consumed.
func (e *expander) dollar(s []byte) (int, error) {
	if len(s) < 2 || (s[1] != '$' && s[1] != '{') {
		e.out.WriteByte('$') // a literal "$" ($NAME is not expanded)
		return 1, nil
	}
	if s[1] == '$' {
		e.out.WriteByte('$')
		return 2, nil
	}
	end := bytes.IndexByte(s, '}')
	if end < 0 {
		return 0, &Error{Line: e.line, Reason: "unterminated ${: want ${NAME} or ${NAME:-default} on one line", Err: ErrReference}
	}
	name, def, hasDef := strings.Cut(string(s[2:end]), ":-")
	if !validName(name) {
		return 0, &Error{Line: e.line, Reason: fmt.Sprintf("bad variable reference %q: want ${NAME} or ${NAME:-default}, NAME = [A-Za-z_][A-Za-z0-9_]*", truncate(string(s[:end+1]), 40)), Err: ErrReference}
	}
	val, set := e.lookup(name)
	switch {
	case set && (val != "" || !hasDef):
	case hasDef:
		val = def
	default:
		return 0, &Error{Line: e.line, Var: name, Reason: "environment variable is not set", Err: ErrUnset}
	}
	if strings.ContainsAny(val, "\n\r") {
		return 0, &Error{Line: e.line, Var: name, Reason: "the value contains a line break (name a file instead)", Err: ErrValue}
	}
	e.out.WriteString(val)
	return end + 1, nil
}

// validName reports whether name is a shell variable name.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
