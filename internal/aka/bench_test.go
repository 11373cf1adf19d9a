package aka

import "testing"

func BenchmarkGenerateAV(b *testing.B) {
	k, opc := testKeys(b)
	var rand [RANDLen]byte
	gen := SQNGenerator{Scheme: DefaultSQNScheme()}
	b.ReportAllocs()
	for b.Loop() {
		sqn, next, err := gen.Next()
		if err != nil {
			b.Fatal(err)
		}
		gen = next
		rand[0]++
		if _, err := GenerateAV(k, opc, rand, sqn, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUSIMAuthenticate(b *testing.B) {
	k, opc := testKeys(b)
	const pool = 1024
	gen := SQNGenerator{Scheme: DefaultSQNScheme()}
	avs := make([]AV, pool)
	for i := range avs {
		sqn, next, err := gen.Next()
		if err != nil {
			b.Fatal(err)
		}
		gen = next
		var rand [RANDLen]byte
		rand[0], rand[1] = byte(i), byte(i>>8)
		if avs[i], err = GenerateAV(k, opc, rand, sqn, 0); err != nil {
			b.Fatal(err)
		}
	}
	fresh := arrayWith(b, DefaultSQNScheme())
	u := newUSIM(b, k, opc, fresh, AMFSeparationMustBeZero)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%pool == 0 && i > 0 {
			b.StopTimer()
			u = newUSIM(b, k, opc, fresh, AMFSeparationMustBeZero)
			b.StartTimer()
		}
		av := &avs[i%pool]
		if _, err := u.Authenticate(av.RAND[:], av.AUTN[:]); err != nil {
			b.Fatal(err)
		}
	}
}
