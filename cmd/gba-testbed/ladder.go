package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opengba/opengba/internal/testbed"
)

// fieldValue renders a field: key material as its fingerprint unless showKeys.
func fieldValue(f testbed.Field, showKeys bool) string {
	if f.Key.IsZero() {
		return f.Value
	}
	if showKeys {
		return f.Key.Hex()
	}
	return f.Key.Fingerprint()
}

// fmtDur prints a duration in milliseconds with two decimals.
func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// stepLabel is the label of a step with its interface and, for answers, the round trip.
func stepLabel(s testbed.Step) string {
	l := s.Label
	if s.Err {
		l = "FAILED " + l
	}
	if s.RTT > 0 {
		l += "  (" + fmtDur(s.RTT) + ")"
	}
	return l
}

const (
	ladderColW   = 12 // distance between two lifelines
	ladderMargin = 12 // width of the time column
	detailsWidth = 76 // wrap width of the field lines
)

// writeTextLadder draws the ladder as a sequence diagram in plain text: one lifeline per
// node, an arrow per message, the interface, label and timing to the right, and the
// message's fields below it.
func writeTextLadder(w io.Writer, l *testbed.Ladder, showKeys bool) {
	col := map[testbed.Node]int{}
	for i, n := range l.Nodes {
		col[n] = i
	}
	width := (len(l.Nodes)-1)*ladderColW + 1
	blank := func() []byte {
		b := []byte(strings.Repeat(" ", width))
		for i := range l.Nodes {
			b[i*ladderColW] = '|'
		}
		return b
	}
	var hdr strings.Builder
	hdr.WriteString(fmt.Sprintf("%*s", ladderMargin, "time  "))
	for i, n := range l.Nodes {
		name := string(n)
		if i < len(l.Nodes)-1 {
			name = fmt.Sprintf("%-*s", ladderColW, name)
		}
		hdr.WriteString(name)
	}
	fmt.Fprintln(w, strings.TrimRight(hdr.String(), " "))
	fmt.Fprintf(w, "%*s%s\n", ladderMargin, "", blank())
	for _, s := range l.Steps {
		line := blank()
		from, to := col[s.From]*ladderColW, col[s.To]*ladderColW
		switch {
		case s.Note():
			line[from] = '*'
		case from < to:
			for i := from + 1; i < to; i++ {
				line[i] = '-'
			}
			line[to-1] = '>'
		default:
			for i := to + 1; i < from; i++ {
				line[i] = '-'
			}
			line[to+1] = '<'
		}
		fmt.Fprintf(w, "%*s%s  %-4s %s\n", ladderMargin, "+"+fmtDur(s.At)+"  ", line, s.Interface, stepLabel(s))
		var parts []string
		for _, f := range s.Fields {
			parts = append(parts, f.Name+"="+fieldValue(f, showKeys))
		}
		for _, d := range wrap(parts, detailsWidth) {
			fmt.Fprintf(w, "%*s%s       %s\n", ladderMargin, "", blank(), d)
		}
	}
	fmt.Fprintf(w, "%*s%s\n", ladderMargin, "", blank())
}

// wrap joins parts with two spaces into lines of at most width runes (a longer part gets a
// line of its own).
func wrap(parts []string, width int) []string {
	var out []string
	var cur strings.Builder
	n := 0
	for _, p := range parts {
		pl := len([]rune(p))
		if n > 0 && n+2+pl > width {
			out = append(out, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteString("  ")
			n += 2
		}
		cur.WriteString(p)
		n += pl
	}
	if n > 0 {
		out = append(out, cur.String())
	}
	return out
}
