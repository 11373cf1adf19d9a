package diameter

import (
	"bytes"
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/specs"
)

// NewDictionary returns a go-diameter dictionary holding the RFC 6733 base protocol and the
// Zh/Zn applications of TS 29.109 from specs/diameter, and nothing else: go-diameter's
// default dictionary also defines SWx MAR on code 303 and would be advertised in a CEA.
// Build it once per process and pass it to every codec, server and client.
func NewDictionary() (*dict.Parser, error) {
	p, err := dict.NewParser()
	if err != nil {
		return nil, fmt.Errorf("diameter: dictionary: %w", err)
	}
	for _, f := range []struct {
		name string
		xml  []byte
	}{{"base.xml", specs.DiameterBase()}, {"gba.xml", specs.DiameterGBA()}} {
		if err := p.Load(bytes.NewReader(f.xml)); err != nil {
			return nil, fmt.Errorf("diameter: dictionary %s: %w", f.name, err)
		}
	}
	return p, nil
}
