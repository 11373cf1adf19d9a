package digest

import "testing"

// Baseline for the parse benchmarks: a plain scan of the same bytes.
func BenchmarkBaselineScan(b *testing.B) {
	h := loadVectors(b).Credentials[1].Header
	b.SetBytes(int64(len(h)))
	n := 0
	for b.Loop() {
		for i := 0; i < len(h); i++ {
			if h[i] == ',' {
				n++
			}
		}
	}
	_ = n
}

func BenchmarkParseChallenge(b *testing.B) {
	h := loadVectors(b).Challenges[0].Header
	b.SetBytes(int64(len(h)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseChallenge(h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCredentials(b *testing.B) {
	h := loadVectors(b).Credentials[1].Header
	b.SetBytes(int64(len(h)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCredentials(h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCredentialsHeader(b *testing.B) {
	c, err := ParseCredentials(loadVectors(b).Credentials[1].Header)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Header(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAKAv1(b *testing.B) {
	c, err := ParseCredentials(loadVectors(b).Credentials[1].Header)
	if err != nil {
		b.Fatal(err)
	}
	res := []byte{0xa5, 0x42, 0x11, 0xd5, 0xe3, 0xba, 0x50, 0xbf}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Verify(res, "GET", nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAKAv2Password(b *testing.B) {
	res := make([]byte, 8)
	k := make([]byte, 16)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AKAPassword(AKAv2MD5, res, k, k); err != nil {
			b.Fatal(err)
		}
	}
}
