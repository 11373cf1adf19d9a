package main

import (
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/opengba/opengba/internal/testbed"
)

// Geometry of the SVG sequence diagram, in pixels.
const (
	svgTimeW    = 96  // time column
	svgColW     = 150 // distance between lifelines
	svgHeadH    = 44  // node boxes
	svgLine     = 15  // height of one field line
	svgRowMin   = 40  // minimum height of a step
	svgDetailsW = 640 // field column on the right
	svgPad      = 16
)

// interfaceColor gives each reference point its colour.
func interfaceColor(iface string) string {
	switch iface {
	case "Ub":
		return "#1f6feb"
	case "Zh":
		return "#8250df"
	case "Zn":
		return "#1a7f37"
	case "Ua":
		return "#bc4c00"
	case "MAF":
		return "#0a7a8a"
	}
	return "#57606a"
}

// esc escapes text for XML and HTML alike.
func esc(s string) string { return html.EscapeString(s) }

// htmlResult is the outcome shown under the diagram.
type htmlResult struct {
	Title string
	Rows  [][2]string
}

// writeHTMLLadder writes a self-contained XHTML page with the ladder as an inline SVG
// sequence diagram (no scripts, no external resources), followed by the result table. The
// output is well-formed XML.
func writeHTMLLadder(w io.Writer, l *testbed.Ladder, res htmlResult, showKeys bool) error {
	col := map[testbed.Node]int{}
	for i, n := range l.Nodes {
		col[n] = i
	}
	x := func(n testbed.Node) int { return svgTimeW + svgPad + svgColW/2 + col[n]*svgColW }
	lastX := svgTimeW + svgPad + svgColW/2 + (len(l.Nodes)-1)*svgColW
	detailsX := lastX + svgColW/2 + svgPad
	width := detailsX + svgDetailsW

	type row struct {
		y, h   int
		step   testbed.Step
		fields []string
	}
	var rows []row
	y := svgHeadH + 2*svgPad
	for _, s := range l.Steps {
		var fs []string
		for _, f := range s.Fields {
			fs = append(fs, f.Name+" = "+fieldValue(f, showKeys))
		}
		h := max(svgRowMin, 22+svgLine*len(fs))
		rows = append(rows, row{y: y, h: h, step: s, fields: fs})
		y += h
	}
	height := y + svgPad

	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	p("<title>%s</title>\n", esc(res.Title))
	p("<style>\nbody{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#24292f;background:#fff}\n" +
		"h1{font-size:20px}\ntable{border-collapse:collapse;margin-top:16px}\n" +
		"td{border:1px solid #d0d7de;padding:4px 10px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}\n" +
		"td.k{font-family:inherit;font-weight:600;background:#f6f8fa}\n" +
		".lbl{font-size:12px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}\n.fld{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;fill:#24292f}\n" +
		".time{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;fill:#57606a}\n" +
		".node{font-size:14px;font-weight:700;fill:#fff}\n</style>\n</head>\n<body>\n")
	p("<h1>%s</h1>\n", esc(res.Title))
	p("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"GBA message ladder\">\n", width, height, width, height)
	p("<defs>\n")
	for _, iface := range []string{"Ub", "Zh", "Zn", "Ua", "MAF", "other"} {
		p("<marker id=\"arrow-%s\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"%s\"/></marker>\n", iface, interfaceColor(iface))
	}
	p("</defs>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height)
	// Lifelines and node boxes.
	for _, n := range l.Nodes {
		cx := x(n)
		p("<line class=\"lifeline\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#8c959f\" stroke-width=\"1.5\" stroke-dasharray=\"4 4\"/>\n", cx, svgPad+svgHeadH, cx, height-svgPad)
		p("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"6\" fill=\"#24292f\"/>\n", cx-50, svgPad, 100, svgHeadH)
		p("<text class=\"node\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", cx, svgPad+svgHeadH/2+5, esc(string(n)))
	}
	p("<text class=\"time\" x=\"%d\" y=\"%d\" text-anchor=\"end\">time</text>\n", svgTimeW, svgPad+svgHeadH/2+5)
	for _, r := range rows {
		s := r.step
		ay := r.y + 18
		color := interfaceColor(s.Interface)
		marker := s.Interface
		switch marker {
		case "Ub", "Zh", "Zn", "Ua", "MAF":
		default:
			marker = "other"
		}
		p("<text class=\"time\" x=\"%d\" y=\"%d\" text-anchor=\"end\">+%s</text>\n", svgTimeW, ay+4, esc(fmtDur(s.At)))
		if s.Note() {
			cx := x(s.From)
			p("<rect class=\"note\" x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" rx=\"3\" fill=\"#fff8c5\" stroke=\"#9a6700\"/>\n", cx-6, ay-6)
			p("<text class=\"lbl\" x=\"%d\" y=\"%d\" fill=\"#9a6700\">%s</text>\n", cx+12, ay+4, esc(s.Interface+": "+stepLabel(s)))
		} else {
			x1, x2 := x(s.From), x(s.To)
			dash := ""
			if s.RTT > 0 { // answers are dashed (UML reply messages)
				dash = " stroke-dasharray=\"6 3\""
			}
			stroke := color
			if s.Err {
				stroke = "#cf222e"
			}
			p("<line class=\"msg\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s marker-end=\"url(#arrow-%s)\"/>\n", x1, ay, x2, ay, stroke, dash, marker)
			lx := (x1 + x2) / 2
			p("<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%s</text>\n", lx, ay-6, stroke, esc(s.Interface+" "+stepLabel(s)))
		}
		for i, f := range r.fields {
			p("<text class=\"fld\" x=\"%d\" y=\"%d\">%s</text>\n", detailsX, ay+4+i*svgLine, esc(f))
		}
	}
	p("</svg>\n")
	if len(res.Rows) > 0 {
		p("<table>\n")
		for _, r := range res.Rows {
			p("<tr><td class=\"k\">%s</td><td>%s</td></tr>\n", esc(r[0]), esc(r[1]))
		}
		p("</table>\n")
	}
	p("</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
