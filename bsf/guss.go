package bsf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxGUSSLen bounds a GUSS document accepted from the HSS.
const MaxGUSSLen = 64 << 10

// UICC types of GUSS bsfInfo/uiccType, TS 29.109 Annex A.
const (
	uiccTypeGBA  = "GBA"
	uiccTypeGBAU = "GBA_U"
)

// guss is the part of a GBA-UserSecSettings document (TS 29.109 Annex A) the BSF uses:
// bsfInfo/lifeTime (TS 33.220 §4.5.2: the key lifetime set per user), bsfInfo/uiccType, and
// the USSs of ussList with their nafGroup attribute (TS 29.109 Annex A).
type guss struct {
	lifetime time.Duration // 0: absent
	uiccType string        // "" when absent
	ussNS    []xml.Attr    // namespace declarations in scope at ussList
	uss      []ussEntry
}

type ussEntry struct {
	nafGroup string
	hasGroup bool
	raw      []byte // the <uss> element exactly as received
}

// parseGUSS reads a GUSS document. It accepts any namespace on the elements (the Annex A
// namespace is not pinned down, see specs/decisions.md), refuses DTDs and requires exactly
// one root element named guss. lifeTime must be whole seconds; 0 counts as absent.
func parseGUSS(doc []byte) (guss, error) {
	var g guss
	if len(doc) > MaxGUSSLen {
		return g, fmt.Errorf("%w: longer than %d octets", ErrInvalidGUSS, MaxGUSSLen)
	}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var path []string
	var text strings.Builder
	roots := 0
	var nsAttrs []xml.Attr
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return guss{}, fmt.Errorf("%w: not well-formed XML", ErrInvalidGUSS)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return guss{}, fmt.Errorf("%w: DTD or directive not allowed", ErrInvalidGUSS)
		case xml.StartElement:
			if len(path) == 0 {
				roots++
				if t.Name.Local != "guss" {
					return guss{}, fmt.Errorf("%w: root element is not guss", ErrInvalidGUSS)
				}
			}
			path = append(path, t.Name.Local)
			text.Reset()
			switch strings.Join(path, "/") {
			case "guss", "guss/ussList":
				for _, a := range t.Attr {
					if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
						// An inner declaration of the same prefix replaces the outer one.
						nsAttrs = slices.DeleteFunc(nsAttrs, func(o xml.Attr) bool { return o.Name == a.Name })
						nsAttrs = append(nsAttrs, a)
					}
				}
				if len(path) == 2 {
					g.ussNS = append([]xml.Attr(nil), nsAttrs...)
				}
			case "guss/ussList/uss":
				u := ussEntry{}
				for _, a := range t.Attr {
					if a.Name.Space == "" && a.Name.Local == "nafGroup" {
						u.nafGroup, u.hasGroup = a.Value, true
					}
				}
				if err := dec.Skip(); err != nil {
					return guss{}, fmt.Errorf("%w: not well-formed XML", ErrInvalidGUSS)
				}
				u.raw = doc[start:dec.InputOffset()]
				g.uss = append(g.uss, u)
				path = path[:len(path)-1]
			}
		case xml.CharData:
			if len(path) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return guss{}, fmt.Errorf("%w: text outside the root element", ErrInvalidGUSS)
				}
				continue
			}
			text.Write(t)
		case xml.EndElement:
			switch strings.Join(path, "/") {
			case "guss/bsfInfo/lifeTime":
				v := strings.TrimSpace(text.String())
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return guss{}, fmt.Errorf("%w: bsfInfo/lifeTime must be whole seconds", ErrInvalidGUSS)
				}
				g.lifetime = time.Duration(n) * time.Second
			case "guss/bsfInfo/uiccType":
				g.uiccType = strings.TrimSpace(text.String())
				if g.uiccType != uiccTypeGBA && g.uiccType != uiccTypeGBAU {
					return guss{}, fmt.Errorf("%w: bsfInfo/uiccType must be GBA or GBA_U", ErrInvalidGUSS)
				}
			}
			path = path[:len(path)-1]
		}
	}
	if roots != 1 {
		return guss{}, fmt.Errorf("%w: want exactly one root element", ErrInvalidGUSS)
	}
	return g, nil
}

// ussFor returns the GBA-UserSecSettings sent to a NAF on Zn: the USSs that apply to the
// NAF's group, rooted at ussList (TS 33.220 §4.5.3, TS 29.109 §5.2.2). A USS applies when
// its nafGroup equals group or when it has no nafGroup attribute. covered is false when the
// GUSS lists USSs and none applies: the NAF is then not authorised (TS 33.220 Annex J).
// Without USSs the result is nil and covered is true.
//
// Note: TS 29.109 Annex A leaves open what a USS without nafGroup means; we read it as
// "applies to every NAF" (specs/decisions.md).
func (g guss) ussFor(group string) (doc []byte, covered bool) {
	if len(g.uss) == 0 {
		return nil, true
	}
	var b bytes.Buffer
	n := 0
	for _, u := range g.uss {
		if u.hasGroup && u.nafGroup != group {
			continue
		}
		if n == 0 {
			b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<ussList")
			for _, a := range g.ussNS {
				name := a.Name.Local
				if a.Name.Space == "xmlns" {
					name = "xmlns:" + a.Name.Local
				}
				b.WriteString(" " + name + `="`)
				_ = xml.EscapeText(&b, []byte(a.Value))
				b.WriteString(`"`)
			}
			b.WriteString(">")
		}
		b.Write(u.raw)
		n++
	}
	if n == 0 {
		return nil, false
	}
	b.WriteString("</ussList>")
	return b.Bytes(), true
}

// gussCache remembers the last GUSS (and its timestamp) seen per IMPI, so that the next
// MAR can carry GUSS-Timestamp and the HSS can omit an unchanged GUSS (TS 29.109
// §6.3.1.9). It is per process and bounded: when full, an arbitrary entry is dropped. A
// miss only costs a full GUSS in the next MAA, so every instance may keep its own.
type gussCache struct {
	max int
	mu  sync.Mutex
	m   map[string]gussEntry
}

type gussEntry struct {
	doc []byte
	ts  time.Time
}

func newGUSSCache(max int) *gussCache {
	return &gussCache{max: max, m: make(map[string]gussEntry)}
}

func (c *gussCache) get(impi string) (gussEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[impi]
	return e, ok
}

func (c *gussCache) put(impi string, e gussEntry) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[impi]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[impi] = e
}
