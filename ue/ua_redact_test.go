package ue

import (
	"fmt"
	"testing"
)

// TestUaAttemptRedacts: a Ua attempt keeps the digest password, base64(Ks_NAF), in an
// unexported field; the record prints as REDACTED under every verb (redact.Fields).
func TestUaAttemptRedacts(t *testing.T) {
	a := uaAttempt{password: []byte("c2VjcmV0LWtzLW5hZg=="), fqdn: "naf.example"}
	for _, v := range []any{a, &a} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
			if got := fmt.Sprintf(verb, v); got != "REDACTED" {
				t.Errorf("%s of %T = %q", verb, v, got)
			}
		}
	}
}
