// Package testlog gives tests a log/slog logger that stops writing when the test ends.
//
// Peer connections, sweepers and other goroutines of the code under test can log after the
// test has finished; writing to a finished test's output makes the testing package panic.
// A testlog writer drops everything written after the test's cleanup has run. Only tests
// import this package.
package testlog

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"testing"
)

// New returns a text logger at debug level writing to the test's output until the test
// ends. For a benchmark or fuzz target (tb not a *testing.T) it discards everything.
func New(tb testing.TB) *slog.Logger {
	t, ok := tb.(*testing.T)
	if !ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(Writer(t, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Writer returns a writer passing writes to w until tb's cleanup runs; later writes are
// dropped and reported as written.
func Writer(tb testing.TB, w io.Writer) io.Writer {
	s := &stopWriter{w: w}
	tb.Cleanup(s.stop)
	return s
}

type stopWriter struct {
	mu      sync.Mutex
	w       io.Writer
	stopped bool
}

func (s *stopWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return len(p), nil
	}
	return s.w.Write(p)
}

func (s *stopWriter) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// Buffer collects what concurrent writers (the loggers of a server's goroutines) write. The
// zero Buffer is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
