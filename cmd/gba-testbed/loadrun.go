package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/opengba/opengba/internal/testbed"
)

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar renders LoadProgress: a bar redrawn in place on a terminal, otherwise one
// line per report.
type progressBar struct {
	w   io.Writer
	tty bool
}

func (p progressBar) report(lp testbed.LoadProgress, final bool) {
	rate := 0.0
	if s := lp.Elapsed.Seconds(); s > 0 {
		rate = float64(lp.Done) / s
	}
	if !p.tty {
		fmt.Fprintf(p.w, "progress: %d/%d devices done, %.0f/s, %d errors, %s\n", lp.Done, lp.Total, rate, lp.Failed, lp.Elapsed.Round(time.Second))
		return
	}
	const width = 30
	filled := 0
	if lp.Total > 0 {
		filled = width * lp.Done / lp.Total
	}
	eta := ""
	if rate > 0 && lp.Done < lp.Total {
		eta = fmt.Sprintf("  eta %s", (time.Duration(float64(lp.Total-lp.Done)/rate) * time.Second).Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d  %.0f/s  errors %d%s\033[K", strings.Repeat("#", filled), strings.Repeat(".", width-filled), lp.Done, lp.Total, rate, lp.Failed, eta)
	if final {
		fmt.Fprintln(p.w)
	}
}

// load runs --devices N and prints the summary.
func load(ctx context.Context, tb *testbed.Testbed, o options, stdout, stderr io.Writer) int {
	bar := progressBar{w: stderr, tty: isTerminal(stderr)}
	interval := 2 * time.Second
	if bar.tty {
		interval = 200 * time.Millisecond
	}
	fmt.Fprintf(stderr, "gba-testbed: provisioning %d subscribers, then %d devices with %d in flight…\n", o.devices, o.devices, o.concurrency)
	var last testbed.LoadProgress
	rep, err := tb.Load(ctx, testbed.LoadOptions{
		Devices: o.devices, Concurrency: o.concurrency, VerifyMAF: o.verify, ProgressInterval: interval,
		Progress: func(lp testbed.LoadProgress) {
			if lp.Done < lp.Total {
				bar.report(lp, false)
			}
			last = lp
		},
	})
	if rep != nil {
		bar.report(last, true)
		writeLoadSummary(stdout, rep, o)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gba-testbed: %v\n", err)
		return exitFailure
	}
	if rep.Failed > 0 {
		fmt.Fprintf(stderr, "gba-testbed: %d of %d devices failed\n", rep.Failed, rep.Devices)
		return exitFailure
	}
	return exitOK
}

func writeLoadSummary(w io.Writer, r *testbed.LoadReport, o options) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("Load run: %d devices, concurrency %d, %d CPUs (GOMAXPROCS %d)\n", r.Devices, r.Concurrency, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	p("  subscribers  %d provisioned, %d already present, in %s\n", r.Provisioned, r.Devices-r.Provisioned, r.ProvisionTime.Round(time.Millisecond))
	p("  devices      %d succeeded, %d failed in %s\n", r.Succeeded, r.Failed, r.Elapsed.Round(time.Millisecond))
	p("  throughput   %.1f devices/s (bootstrap + enrolment each)\n", r.Throughput)
	if o.verify {
		p("  verified     every Kmr read back from the MAF\n")
	}
	p("\n  %-12s %10s %10s %10s %10s %10s\n", "step", "p50", "p95", "p99", "max", "mean")
	for _, s := range []struct {
		name string
		l    testbed.Latency
	}{{"bootstrap", r.Bootstrap}, {"enrolment", r.Enrolment}, {"total", r.Total}} {
		p("  %-12s %10s %10s %10s %10s %10s\n", s.name, fmtDur(s.l.P50), fmtDur(s.l.P95), fmtDur(s.l.P99), fmtDur(s.l.Max), fmtDur(s.l.Mean))
	}
	if len(r.Errors) == 0 {
		p("\n  errors       none\n")
		return
	}
	kinds := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int { return r.Errors[b] - r.Errors[a] })
	p("\n  %-8s %-40s %s\n", "errors", "kind", "first message")
	for _, k := range kinds {
		p("  %8d %-40s %s\n", r.Errors[k], k, r.ErrorSamples[k])
	}
}
