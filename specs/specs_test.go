package specs

import (
	"encoding/xml"
	"strings"
	"testing"
)

// TestVectorProvenance checks that every vector file decodes and that every set in it says
// where its values come from.
func TestVectorProvenance(t *testing.T) {
	names, err := VectorFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 3 {
		t.Fatalf("vector files = %v, want ts35208, ts33220 and digest at least", names)
	}
	for _, name := range names {
		var doc any
		if err := Vectors(name, &doc); err != nil {
			t.Fatal(err)
		}
		if n := countKey(doc, "provenance"); n == 0 {
			t.Errorf("%s.json: no provenance", name)
		}
	}
}

func countKey(v any, key string) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == key {
				n++
			}
			n += countKey(e, key)
		}
	case []any:
		for _, e := range x {
			n += countKey(e, key)
		}
	}
	return n
}

// TestDictionaryCoversDigest checks gba.xml against GBA-DIGEST §5: both applications, both
// commands, every GBA AVP 400–420 and the reused Cx AVPs, all with vendor 10415.
func TestDictionaryCoversDigest(t *testing.T) {
	var d struct {
		Apps []struct {
			ID       uint32 `xml:"id,attr"`
			Commands []struct {
				Code uint32 `xml:"code,attr"`
			} `xml:"command"`
			AVPs []struct {
				Code   uint32 `xml:"code,attr"`
				Vendor uint32 `xml:"vendor-id,attr"`
				Must   string `xml:"must,attr"`
			} `xml:"avp"`
		} `xml:"application"`
	}
	if err := xml.Unmarshal(DiameterGBA(), &d); err != nil {
		t.Fatal(err)
	}
	cmds := map[[2]uint32]bool{}
	avps := map[uint32]string{}
	for _, a := range d.Apps {
		for _, c := range a.Commands {
			cmds[[2]uint32{a.ID, c.Code}] = true
		}
		for _, v := range a.AVPs {
			if v.Vendor != 10415 {
				t.Errorf("AVP %d: vendor %d, want 10415", v.Code, v.Vendor)
			}
			avps[v.Code] = v.Must
		}
	}
	for _, c := range [][2]uint32{{16777221, 303}, {16777220, 310}} {
		if !cmds[c] {
			t.Errorf("command %d of application %d missing", c[1], c[0])
		}
	}
	want := []uint32{601, 607, 608, 609, 610, 611, 612, 613, 625, 626}
	for c := uint32(400); c <= 420; c++ {
		want = append(want, c)
	}
	for _, c := range want {
		must, ok := avps[c]
		switch {
		case !ok:
			t.Errorf("AVP %d missing", c)
		case c == 409 && must != "V":
			t.Errorf("GUSS-Timestamp flags %q, want V only", must)
		case c != 409 && (!strings.Contains(must, "V") || !strings.Contains(must, "M")):
			t.Errorf("AVP %d flags %q, want V,M", c, must)
		}
	}
}
