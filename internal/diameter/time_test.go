package diameter

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// TestTimeKnownValues pins the 1900 epoch and the RFC 4330 §3 era rule that RFC 6733 §4.3.1
// requires, on both sides of the 2036 rollover and at both ends of the window.
func TestTimeKnownValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    time.Time
		v    uint32
	}{
		{"unix epoch", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 2208988800},
		{"window start, era 0 MSB set", time.Date(1968, 1, 20, 3, 14, 8, 0, time.UTC), 0x80000000},
		{"2000-01-01", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 3155673600},
		{"golden creation time", time.Date(2020, 10, 28, 22, 36, 26, 0, time.UTC), 0xe34470ea},
		{"last second of era 0", time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC), 0xffffffff},
		{"first second of era 1", time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), 0x00000000},
		{"2040-01-01, era 1", time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), 123010304},
		{"window end, era 1", time.Date(2104, 2, 26, 9, 42, 23, 0, time.UTC), 0x7fffffff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TimeToDiameter(tc.t)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.v {
				t.Fatalf("TimeToDiameter(%s) = %#08x, want %#08x", tc.t, got, tc.v)
			}
			if back := TimeFromDiameter(tc.v); !back.Equal(tc.t) || back.Location() != time.UTC {
				t.Fatalf("TimeFromDiameter(%#08x) = %s, want %s UTC", tc.v, back, tc.t)
			}
		})
	}
}

func TestTimeOutsideWindow(t *testing.T) {
	for _, tt := range []time.Time{
		{},
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1968, 1, 20, 3, 14, 7, 0, time.UTC),
		time.Date(2104, 2, 26, 9, 42, 24, 0, time.UTC),
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if v, err := TimeToDiameter(tt); !errors.Is(err, ErrTimeRange) {
			t.Errorf("TimeToDiameter(%s) = %#08x, %v; want ErrTimeRange", tt, v, err)
		}
	}
}

// TestTimeTruncates checks that fractions of a second round towards the past, also before
// 1970 where Unix seconds are negative.
func TestTimeTruncates(t *testing.T) {
	for _, tc := range []struct {
		t time.Time
		v uint32
	}{
		{time.Date(1970, 1, 1, 0, 0, 0, 999_999_999, time.UTC), 2208988800},
		{time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC), 2208988799},
		{time.Date(2036, 2, 7, 6, 28, 15, 999_000_000, time.UTC), 0xffffffff},
	} {
		if got, err := TimeToDiameter(tc.t); err != nil || got != tc.v {
			t.Errorf("TimeToDiameter(%s) = %#08x, %v; want %#08x", tc.t, got, err, tc.v)
		}
	}
}

func TestTimeZoneIndependent(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	a, err := TimeToDiameter(time.Date(2020, 10, 29, 7, 36, 26, 0, tokyo))
	if err != nil {
		t.Fatal(err)
	}
	if a != 0xe34470ea {
		t.Fatalf("got %#08x, want 0xe34470ea", a)
	}
}

// TestTimeRoundTripAndGoDiameter checks, over the whole uint32 range (edges plus a sample),
// that the helpers invert each other and agree with go-diameter's datatype.Time codec, which
// the messages use on the wire.
func TestTimeRoundTripAndGoDiameter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []uint32{0, 1, 0x7ffffffe, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff, 2208988800}
	for range 5000 {
		values = append(values, r.Uint32())
	}
	for _, v := range values {
		tt := TimeFromDiameter(v)
		back, err := TimeToDiameter(tt)
		if err != nil || back != v {
			t.Fatalf("TimeToDiameter(TimeFromDiameter(%#08x)) = %#08x, %v", v, back, err)
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], v)
		gd, err := datatype.DecodeTime(b[:])
		if err != nil {
			t.Fatal(err)
		}
		if !time.Time(gd.(datatype.Time)).Equal(tt) {
			t.Fatalf("go-diameter decodes %#08x as %s, we as %s", v, time.Time(gd.(datatype.Time)), tt)
		}
		if s := datatype.Time(tt).Serialize(); binary.BigEndian.Uint32(s) != v {
			t.Fatalf("go-diameter encodes %s as %x, want %#08x", tt, s, v)
		}
	}
}
