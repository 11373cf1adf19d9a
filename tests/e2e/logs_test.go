package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// suiteState is shared by the tests of one run (see suite).
type suiteState struct {
	logs    logSink
	secrets secretSet
	bins    binaries
}

func newSuiteState() *suiteState { return &suiteState{} }

// close removes the built binaries.
func (s *suiteState) close() {
	if s.bins.dir != "" {
		_ = os.RemoveAll(s.bins.dir)
	}
}

// logSink is the buffer every log line of the suite goes to: the slog JSON output of the
// in-process nodes and the stdout/stderr of the processes.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// Bytes returns a copy of everything written so far.
func (s *logSink) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.buf.Bytes())
}

// nodeLogger returns a JSON logger at debug level (the most verbose, so that the secrets
// check sees the most) writing into the suite's sink and, when given, into also.
func nodeLogger(node string, also ...io.Writer) *slog.Logger {
	var w io.Writer = &suite.logs
	if len(also) > 0 {
		w = io.MultiWriter(append([]io.Writer{w}, also...)...)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("e2e_node", node)
}

// lineLog keeps the lines written to it (a process's output or a node's log) so that a
// test can wait for one, and copies everything into the suite's sink.
type lineLog struct {
	mu      sync.Mutex
	lines   []string
	partial []byte
	changed chan struct{}
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		// Whole lines only, so that lines of concurrent writers never interleave in the
		// sink (a key split by another writer's bytes would escape the secrets check).
		_, _ = suite.logs.Write(l.partial[:i+1])
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// flush moves an unterminated last line into the sink (after the writer is done).
func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		_, _ = suite.logs.Write(append(l.partial, '\n'))
		l.lines = append(l.lines, string(l.partial))
		l.partial = nil
	}
}

// snapshot returns the complete lines so far and a channel closed at the next write.
func (l *lineLog) snapshot() ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines, l.changed
}

// String returns everything written, for failure messages.
func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + "\n" + string(l.partial)
}

// waitLine waits until a line at index ≥ from satisfies match and returns it and its index.
func (l *lineLog) waitLine(ctx context.Context, from int, match func(string) bool) (string, int, error) {
	for {
		lines, changed := l.snapshot()
		for i := from; i < len(lines); i++ {
			if match(lines[i]) {
				return lines[i], i, nil
			}
		}
		from = max(from, len(lines))
		select {
		case <-changed:
		case <-ctx.Done():
			return "", 0, ctx.Err()
		}
	}
}

// eventually polls cond every 20 ms until it holds or timeout passes; then it fails the
// test with the last reason cond gave.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, timeout, why)
		}
		<-tick.C
	}
}

// testCtx returns a context that ends with the test or after d.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
