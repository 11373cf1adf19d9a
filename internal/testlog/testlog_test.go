package testlog

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

func TestWriterStopsAtCleanup(t *testing.T) {
	var buf bytes.Buffer
	var w interface{ Write([]byte) (int, error) }
	t.Run("inner", func(t *testing.T) {
		w = Writer(t, &buf)
		if n, err := w.Write([]byte("during")); n != 6 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	})
	// The inner test's cleanup has run: the write is dropped but reported as done.
	if n, err := w.Write([]byte("after")); n != 5 || err != nil {
		t.Fatalf("Write after cleanup = %d, %v", n, err)
	}
	if got := buf.String(); got != "during" {
		t.Errorf("buffer %q, want %q", got, "during")
	}
}

func TestNewLevels(t *testing.T) {
	ctx := t.Context()
	if !New(t).Enabled(ctx, slog.LevelDebug) {
		t.Error("a test's logger must log at debug level")
	}
	var enabled bool
	testing.Benchmark(func(b *testing.B) { enabled = New(b).Enabled(ctx, slog.LevelError) })
	if enabled {
		t.Error("a benchmark's logger must discard everything")
	}
}

func TestBufferConcurrentWriters(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Errorf("%d octets, want 800", n)
	}
}
