package ue

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opengba/opengba/internal/gba"
)

// BootstrappingInfo XML of TS 24.109 §C.1.
const (
	gbaNamespace      = "uri:3gpp-gba"
	elemRoot          = "BootstrappingInfo"
	elemBTID          = "btid"
	elemLifetime      = "lifetime"
	elemExtension     = "Extension"
	maxBootInfoTokens = 4096 // bounds the work on a hostile document besides its size
)

// bootstrappingInfo is the content of a BootstrappingInfo document.
type bootstrappingInfo struct {
	btid     string
	lifetime time.Time
}

func bootInfoErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBootstrappingInfo, fmt.Sprintf(format, a...))
}

// parseBootstrappingInfo parses the 200 OK body of Ub strictly against the schema of
// TS 24.109 §C.1: root BootstrappingInfo in namespace "uri:3gpp-gba" holding, in this
// order, exactly one btid (a B-TID of TS 33.220 §4.5.2), exactly one lifetime
// (xs:dateTime in UTC with the "Z" designator) and at most one Extension whose content is
// skipped. Attributes are ignored (TS 24.109 §C.1).
//
// Note: TS 24.109 §C.1 also says the receiver ignores unknown elements; the schema has
// no wildcard outside Extension, so we reject them (specs/decisions.md).
func parseBootstrappingInfo(body []byte) (bootstrappingInfo, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	// No CharsetReader: a declared encoding other than UTF-8 is an error.
	var (
		info  bootstrappingInfo
		state int // 0 before root, 1 in root, 2 after root
		next  = 0 // index of the next expected child: 0 btid, 1 lifetime, 2 Extension, 3 none
	)
	for n := 0; ; n++ {
		if n > maxBootInfoTokens {
			return bootstrappingInfo{}, bootInfoErr("too many XML tokens")
		}
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bootstrappingInfo{}, bootInfoErr("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if state != 0 || t.Target != "xml" || n != 0 {
				return bootstrappingInfo{}, bootInfoErr("unexpected processing instruction")
			}
		case xml.Directive:
			return bootstrappingInfo{}, bootInfoErr("DTDs and directives are not allowed")
		case xml.Comment:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return bootstrappingInfo{}, bootInfoErr("unexpected text outside elements")
			}
		case xml.EndElement:
			// Only the root's end tag reaches here: children are consumed whole.
			if next < 2 {
				return bootstrappingInfo{}, bootInfoErr("missing <%s>", [...]string{elemBTID, elemLifetime}[next])
			}
			state = 2
		case xml.StartElement:
			switch state {
			case 0:
				if t.Name.Local != elemRoot {
					return bootstrappingInfo{}, bootInfoErr("root element is not <%s>", elemRoot)
				}
				if t.Name.Space != gbaNamespace {
					return bootstrappingInfo{}, bootInfoErr("root element is not in namespace %q", gbaNamespace)
				}
				state = 1
			case 2:
				return bootstrappingInfo{}, bootInfoErr("content after the root element")
			default:
				if t.Name.Space != gbaNamespace {
					return bootstrappingInfo{}, bootInfoErr("child element not in namespace %q", gbaNamespace)
				}
				if err := info.child(d, t.Name.Local, &next); err != nil {
					return bootstrappingInfo{}, err
				}
			}
		}
	}
	if state != 2 {
		return bootstrappingInfo{}, bootInfoErr("no complete <%s> element", elemRoot)
	}
	return info, nil
}

// child consumes one child element of the root, in schema order.
func (info *bootstrappingInfo) child(d *xml.Decoder, name string, next *int) error {
	var want int
	switch name {
	case elemBTID:
		want = 0
	case elemLifetime:
		want = 1
	case elemExtension:
		want = 2
	default:
		return bootInfoErr("unknown element <%s>", truncate(name))
	}
	if want != *next {
		if want < *next {
			return bootInfoErr("duplicate or misplaced <%s>", name)
		}
		return bootInfoErr("missing <%s> before <%s>", [...]string{elemBTID, elemLifetime}[*next], name)
	}
	*next = want + 1
	if want == 2 {
		// xs:any processContents="lax": content is not ours to judge (TS 24.109 §C.1).
		if err := d.Skip(); err != nil {
			return bootInfoErr("malformed <%s>: %v", name, err)
		}
		return nil
	}
	text, err := simpleContent(d, name)
	if err != nil {
		return err
	}
	if want == 0 {
		// xs:string keeps whitespace; a B-TID has none (TS 33.220 §4.5.2).
		if _, err := gba.ParseBTID(text); err != nil {
			return bootInfoErr("<btid>: %v", err)
		}
		info.btid = text
		return nil
	}
	// xs:dateTime collapses whitespace; TS 24.109 §C.1 requires UTC with "Z".
	text = strings.TrimSpace(text)
	if !strings.HasSuffix(text, "Z") {
		return bootInfoErr("<lifetime> is not UTC with the \"Z\" designator")
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return bootInfoErr("<lifetime> is not an xs:dateTime")
	}
	info.lifetime = t.UTC()
	return nil
}

// simpleContent reads the text of an element that must not contain elements.
func simpleContent(d *xml.Decoder, name string) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", bootInfoErr("malformed <%s>: %v", name, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if b.Len()+len(t) > gba.MaxBTIDLen+64 {
				return "", bootInfoErr("<%s> is too long", name)
			}
			b.Write(t)
		case xml.Comment:
		case xml.EndElement:
			return b.String(), nil
		default:
			return "", bootInfoErr("<%s> must hold text only", name)
		}
	}
}

// truncate shortens a name taken from the network for an error message.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
