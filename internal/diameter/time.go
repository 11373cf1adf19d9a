package diameter

import (
	"errors"
	"fmt"
	"time"
)

// ntpUnixOffset is the number of seconds from the NTP prime epoch (1900-01-01T00:00:00Z) to the
// Unix epoch (1970-01-01T00:00:00Z), RFC 5905 §6 (and RFC 868).
const ntpUnixOffset = 2208988800

// Bounds of the window a Diameter Time can name, in Unix seconds, RFC 4330 §3:
// 1968-01-20T03:14:08Z (NTP seconds 0x80000000, era 0) to 2104-02-26T09:42:23Z
// (NTP seconds 0x7FFFFFFF, era 1).
const (
	diameterTimeMinUnix = 1<<31 - ntpUnixOffset
	diameterTimeMaxUnix = 1<<31 - 1 + 1<<32 - ntpUnixOffset
)

// ErrTimeRange reports a time that a Diameter Time AVP cannot carry (see TimeToDiameter).
var ErrTimeRange = errors.New("diameter: time outside the Diameter Time window 1968-01-20T03:14:08Z..2104-02-26T09:42:23Z")

// TimeToDiameter returns the four-octet value of a Diameter Time AVP for t: the seconds part of
// an NTP timestamp, counted from 1900-01-01T00:00:00Z, RFC 6733 §4.3.1. The fraction of a second
// is dropped (t is truncated towards the past).
//
// RFC 6733 §4.3.1 requires every Diameter node to support the SNTP procedure that extends the
// 32-bit seconds beyond their overflow on 2036-02-07T06:28:16Z, RFC 4330 §3: a value with the
// most significant bit set counts from 1900 (1968-01-20T03:14:08Z..2036-02-07T06:28:15Z), a value
// with it clear counts from 2036-02-07T06:28:16Z (..2104-02-26T09:42:23Z). TimeToDiameter encodes
// exactly that window and returns an error wrapping ErrTimeRange for any time outside it, so that
// every value it produces decodes back to the same second with TimeFromDiameter. This is also
// the window of go-diameter's datatype.Time decoder.
func TimeToDiameter(t time.Time) (uint32, error) {
	u := t.Unix() // floor: whole seconds since 1970, rounded towards the past
	if u < diameterTimeMinUnix || u > diameterTimeMaxUnix {
		return 0, fmt.Errorf("%w: %s", ErrTimeRange, t.UTC().Format(time.RFC3339))
	}
	return uint32(u + ntpUnixOffset), nil // mod 2^32: era 1 wraps to 0x00000000..
}

// TimeFromDiameter returns the UTC time named by the four-octet value v of a Diameter Time AVP,
// RFC 6733 §4.3.1, with the era rule of RFC 4330 §3: the most significant bit set means era 0
// (1968..2036, seconds since 1900), clear means era 1 (2036..2104, seconds since
// 2036-02-07T06:28:16Z). Every uint32 names exactly one second in that window.
func TimeFromDiameter(v uint32) time.Time {
	u := int64(v) - ntpUnixOffset
	if v&(1<<31) == 0 {
		u += 1 << 32 // era 1
	}
	return time.Unix(u, 0).UTC()
}
