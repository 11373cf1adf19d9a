package hsssim

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/opengba/opengba/internal/aka"
)

// TestInternalRecordsRedact: the unexported records that carry keys (the MAR outcome with
// CK/IK/XRES, the scanned SQLite row with K/OPc) print as REDACTED under every verb
// (aka.Redact); fmt could not reach the keys' own redaction through their unexported fields.
func TestInternalRecordsRedact(t *testing.T) {
	var k, opc Key
	var av aka.AV
	for i := range k {
		k[i], opc[i], av.CK[i], av.IK[i] = 0xa0|byte(i), 0xb0|byte(i), 0xc0|byte(i), 0xd0|byte(i)
	}
	secrets := []string{hex.EncodeToString(k[:]), hex.EncodeToString(opc[:]), hex.EncodeToString(av.CK[:]),
		hex.EncodeToString(av.IK[:]), "160 161", "176 177", "192 193", "208 209", "0xa0", "0xc0"}
	values := []any{
		zhAuth{impi: "u@h", av: av}, &zhAuth{impi: "u@h", av: av},
		row{sub: Subscriber{IMPI: "u@h", K: k, OPc: opc}}, &row{sub: Subscriber{K: k, OPc: opc}},
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
			got := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(got, s) {
					t.Errorf("%s of %T = %q reveals %q", verb, v, got, s)
				}
			}
		}
	}
}
