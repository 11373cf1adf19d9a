package gba

import (
	"errors"
	"fmt"
)

// ErrInvalidHostname reports a domain name that is not a valid host name.
var ErrInvalidHostname = errors.New("gba: invalid host name")

const (
	maxHostnameLen = 253 // RFC 1035 §2.3.4 (255 octets on the wire, 253 in text without the root dot)
	maxLabelLen    = 63  // RFC 1035 §2.3.4
)

// checkHostname enforces the host name syntax of RFC 1035 §2.3.1 as relaxed by RFC 1123
// §2.1 (a label may start with a digit): dot-separated labels of 1–63 letters, digits and
// hyphens, no leading or trailing hyphen, at most 253 characters, no trailing root dot.
// Single-label names are accepted (lab and container host names). Errors never echo the
// input, only positions.
func checkHostname(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrInvalidHostname)
	}
	if len(s) > maxHostnameLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidHostname, maxHostnameLen)
	}
	label, start := 1, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%w: character at offset %d is not a letter, digit or hyphen", ErrInvalidHostname, i)
			}
			continue
		}
		n := i - start
		switch {
		case n == 0:
			return fmt.Errorf("%w: label %d is empty", ErrInvalidHostname, label)
		case n > maxLabelLen:
			return fmt.Errorf("%w: label %d longer than %d characters", ErrInvalidHostname, label, maxLabelLen)
		case s[start] == '-' || s[i-1] == '-':
			return fmt.Errorf("%w: label %d starts or ends with a hyphen", ErrInvalidHostname, label)
		}
		label++
		start = i + 1
	}
	return nil
}
