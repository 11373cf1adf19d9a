package diameter

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// checkDecodeFast is the property of a fast decoder: on any message it either declines or
// fills exactly the struct that the reflection path (unmarshalAVPs) fills.
func checkDecodeFast[T any](t *testing.T, m *diam.Message, decodeFast func(*diam.Message, *T) bool) {
	t.Helper()
	var fast, slow T
	if !decodeFast(m, &fast) {
		return
	}
	if err := unmarshalAVPs(m, &slow); err != nil {
		t.Fatalf("fast path accepted what Unmarshal rejects: %v", err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast path differs:\nfast %#v\nslow %#v", fast, slow)
	}
}

// fuzzDecodeFast checks the property of decodeFast on arbitrary frames that decode, seeded
// with the golden files.
func fuzzDecodeFast[T any](f *testing.F, files []string, decodeFast func(*diam.Message, *T) bool) {
	d := goldenDict(f)
	for _, file := range files {
		f.Add(readGolden(f, file))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseQuiet(d, b)
		if err != nil {
			return
		}
		checkDecodeFast(t, m, decodeFast)
	})
}

// checkMessageFast: fast (from messageFast) is exactly slow (from the general encoder): same
// AVPs, flags, lengths and octets. randomIDs: the header identifiers were left to chance
// and are not compared. It returns fast's octets.
func checkMessageFast(t *testing.T, fast, slow *diam.Message, randomIDs bool) []byte {
	t.Helper()
	if randomIDs {
		slow.Header.HopByHopID, slow.Header.EndToEndID = fast.Header.HopByHopID, fast.Header.EndToEndID
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("messages differ:\nfast %v\nslow %v", fast, slow)
	}
	fb, err := fast.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := slow.Serialize()
	if !bytes.Equal(fb, sb) || int(fast.Header.MessageLength) != len(fb) {
		t.Fatalf("octets differ:\n%x\n%x", fb, sb)
	}
	return fb
}

// checkGoldenDecodeFast parses each golden file, requires decodeFast to accept it and
// checks the property; it returns the parsed messages.
func checkGoldenDecodeFast[T any](t *testing.T, d *dict.Parser, files []string, decodeFast func(*diam.Message, *T) bool) []*diam.Message {
	t.Helper()
	var msgs []*diam.Message
	for _, file := range files {
		m, err := ParseMessage(d, readGolden(t, file))
		if err != nil {
			t.Fatal(err)
		}
		var fast T
		if !decodeFast(m, &fast) {
			t.Fatalf("%s: fast path declined a golden message", file)
		}
		checkDecodeFast(t, m, decodeFast)
		msgs = append(msgs, m)
	}
	return msgs
}

// decodeFastCase is a hand-made message body for a fast decoder and whether it declines.
type decodeFastCase struct {
	name     string
	avps     []*diam.AVP
	declines bool
}

// runDecodeFastCases runs each case on a message from newMessage holding its AVPs.
func runDecodeFastCases[T any](t *testing.T, newMessage func() *diam.Message, cases []decodeFastCase, decodeFast func(*diam.Message, *T) bool) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMessage()
			m.AVP = tc.avps
			var fast T
			if got := !decodeFast(m, &fast); got != tc.declines {
				t.Fatalf("declines = %v, want %v", got, tc.declines)
			}
			checkDecodeFast(t, m, decodeFast)
		})
	}
}
