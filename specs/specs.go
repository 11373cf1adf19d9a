// Package specs holds OpenGBA's machine-readable spec data: the Diameter dictionary for
// Zh/Zn (3GPP TS 29.109) and the test vectors of TS 35.208, TS 33.220 and RFC 3310/4169,
// each with its provenance. It is the single source of truth for that data; code and
// tests read it from here instead of repeating it.
package specs

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
)

//go:embed diameter/*.xml vectors/*.json
var files embed.FS

// DiameterBase returns the RFC 6733 base protocol dictionary (go-diameter format).
func DiameterBase() []byte { return mustRead("diameter/base.xml") }

// DiameterGBA returns the Zh (16777221) and Zn (16777220) dictionary of TS 29.109
// (go-diameter format). Load it on top of DiameterBase and nothing else.
func DiameterGBA() []byte { return mustRead("diameter/gba.xml") }

// Vectors decodes specs/vectors/<name>.json into v.
func Vectors(name string, v any) error {
	b, err := fs.ReadFile(files, "vectors/"+name+".json")
	if err != nil {
		return fmt.Errorf("specs: vectors %q: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("specs: vectors %q: %w", name, err)
	}
	return nil
}

// VectorFiles lists the names (without .json) of every vector file.
func VectorFiles() ([]string, error) {
	ents, err := fs.ReadDir(files, "vectors")
	if err != nil {
		return nil, fmt.Errorf("specs: vectors: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		n := e.Name()
		names = append(names, n[:len(n)-len(".json")])
	}
	return names, nil
}

func mustRead(name string) []byte {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		panic("specs: embedded file missing: " + name) // cannot happen: checked at build time by go:embed
	}
	return b
}
