package digest

import (
	"errors"
	"fmt"
	"testing"
)

// TestStackDigestMatchesH: the stack-buffer helpers give what the heap h and formatNC give.
func TestStackDigestMatchesH(t *testing.T) {
	for _, nc := range []uint32{0, 1, 0xa, 0xdeadbeef, 0xffffffff, 0x00010000} {
		if got, want := string(appendNC(nil, nc)), formatNC(nc); got != want {
			t.Errorf("appendNC(%#x) = %q, want %q", nc, got, want)
		}
	}
	if got, want := HA1("u@h", "r", []byte("pw")), newH().str("u@h").str("r").bytes([]byte("pw")).hex(); got != want {
		t.Errorf("HA1 = %s, want %s", got, want)
	}
	ha2, err := HA2(QOPAuthInt, "GET", "/", []byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	if want := newH().str("GET").str("/").str(md5Hex([]byte("body"))).hex(); ha2 != want {
		t.Errorf("HA2 = %s, want %s", ha2, want)
	}
	rd, err := RequestDigest("a", "n", 7, "c", QOPAuthInt, ha2)
	if err != nil {
		t.Fatal(err)
	}
	if want := newH().str("a").str("n").str(formatNC(7)).str("c").str(string(QOPAuthInt)).str(ha2).hex(); rd != want {
		t.Errorf("RequestDigest = %s, want %s", rd, want)
	}
}

// TestSeenPastSmallArray: duplicates are found whether the names fit the small array of
// seen or spill into its map.
func TestSeenPastSmallArray(t *testing.T) {
	for _, n := range []int{1, seenSmall - 1, seenSmall, seenSmall + 1, 3 * seenSmall} {
		for _, dupOf := range []int{0, n - 1} {
			h := `Digest realm="r", nonce="n"`
			for i := range n {
				h += fmt.Sprintf(", x%d=v", i)
			}
			if _, err := ParseChallenge(h); err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			h += fmt.Sprintf(", X%d=w", dupOf)
			if _, err := ParseChallenge(h); !errors.Is(err, ErrDuplicateParam) {
				t.Errorf("n=%d dup of x%d: err = %v, want ErrDuplicateParam", n, dupOf, err)
			}
		}
	}
}
