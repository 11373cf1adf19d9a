package naf

import (
	"fmt"
	"testing"
)

// TestUaResultRedacts: a verified Ua request carries the digest password, base64(Ks_NAF), in
// an unexported field, and the nonce table its MAC secret; both print as REDACTED under every
// verb (redact.Fields).
func TestUaResultRedacts(t *testing.T) {
	r := uaResult{password: []byte("c2VjcmV0LWtzLW5hZg==")}
	n := &nonces{secret: [32]byte{0xc0, 0xc1}}
	for _, v := range []any{r, &r, n} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
			if got := fmt.Sprintf(verb, v); got != "REDACTED" {
				t.Errorf("%s of %T = %q", verb, v, got)
			}
		}
	}
}
