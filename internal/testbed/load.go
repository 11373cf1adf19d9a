package testbed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opengba/opengba/ue"
)

// LoadOptions configure Load.
type LoadOptions struct {
	// Devices is the number of distinct subscribers that each bootstrap and enrol once.
	Devices int
	// Concurrency is the number of devices in flight at once (default 16).
	Concurrency int
	// First is the number of the first subscriber (default 1, see IMPI).
	First int
	// VerifyMAF also reads every Kmr back from the MAF and compares it with the UE's.
	VerifyMAF bool
	// Progress, if set, is called every ProgressInterval (default 250 ms) and once at the
	// end, from one goroutine.
	Progress         func(LoadProgress)
	ProgressInterval time.Duration
}

// LoadProgress is a snapshot of a running Load.
type LoadProgress struct {
	Total, Done, Failed int
	Elapsed             time.Duration
}

// Latency summarises the durations of one step over the successful devices.
type Latency struct {
	N                        int
	Mean, P50, P95, P99, Max time.Duration
}

// LoadReport is the outcome of Load.
type LoadReport struct {
	Devices, Concurrency int
	// Provisioned is the number of subscribers Load had to provision; ProvisionTime the
	// time provisioning (or reading back) all of them took.
	Provisioned   int
	ProvisionTime time.Duration
	// Succeeded and Failed count devices; Elapsed is the wall time of the device runs.
	Succeeded, Failed int
	Elapsed           time.Duration
	// Throughput is successful devices per second.
	Throughput float64
	// Bootstrap (Ub), Enrolment (Ua with Zn and MAF provisioning) and Total per device.
	Bootstrap, Enrolment, Total Latency
	// Errors counts failures by kind ("bootstrap: HTTP 503", "enrolment: timeout", …);
	// ErrorSamples holds the first message of each kind.
	Errors       map[string]int
	ErrorSamples map[string]string
}

// Load provisions opts.Devices subscribers in bulk (or reads them back), then runs each
// once through bootstrap and enrolment with opts.Concurrency devices in flight. Device
// failures are counted in the report, not returned; the error is for a load that could
// not run (provisioning failed, ctx ended).
func (tb *Testbed) Load(ctx context.Context, o LoadOptions) (*LoadReport, error) {
	if o.Devices < 1 {
		return nil, errors.New("testbed: load: need at least one device")
	}
	if o.Concurrency < 1 {
		o.Concurrency = 16
	}
	if o.First < 1 {
		o.First = 1
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 250 * time.Millisecond
	}
	rep := &LoadReport{Devices: o.Devices, Concurrency: o.Concurrency, Errors: map[string]int{}, ErrorSamples: map[string]string{}}
	t0 := time.Now()
	before, err := tb.hssCount(ctx)
	if err != nil {
		return nil, err
	}
	subs, err := tb.Subscribers(ctx, o.First, o.Devices)
	if err != nil {
		return nil, err
	}
	after, err := tb.hssCount(ctx)
	if err != nil {
		return nil, err
	}
	rep.Provisioned, rep.ProvisionTime = after-before, time.Since(t0)
	mefURL := tb.EnrolmentURL()

	type sample struct{ boot, enrol, total time.Duration }
	samples := make([]sample, len(subs))
	ok := make([]bool, len(subs))
	var (
		next, done, failed atomic.Int64
		errMu              sync.Mutex
	)
	fail := func(kind string, err error) {
		failed.Add(1)
		errMu.Lock()
		rep.Errors[kind]++
		if _, seen := rep.ErrorSamples[kind]; !seen {
			rep.ErrorSamples[kind] = err.Error()
		}
		errMu.Unlock()
	}
	start := time.Now()
	progress := func() {
		if o.Progress != nil {
			o.Progress(LoadProgress{Total: len(subs), Done: int(done.Load()), Failed: int(failed.Load()), Elapsed: time.Since(start)})
		}
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(o.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				progress()
			}
		}
	}()
	var wg sync.WaitGroup
	for range min(o.Concurrency, len(subs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(subs) || ctx.Err() != nil {
					return
				}
				s, kind, err := tb.runLoadDevice(ctx, subs[i], mefURL, o.VerifyMAF)
				if err != nil {
					fail(kind, err)
				} else {
					samples[i], ok[i] = sample{s[0], s[1], s[2]}, true
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	close(stopProgress)
	<-progressDone
	progress()

	var boot, enrol, total []time.Duration
	for i, s := range samples {
		if ok[i] {
			boot, enrol, total = append(boot, s.boot), append(enrol, s.enrol), append(total, s.total)
		}
	}
	rep.Succeeded, rep.Failed = len(total), int(failed.Load())
	if rep.Elapsed > 0 {
		rep.Throughput = float64(rep.Succeeded) / rep.Elapsed.Seconds()
	}
	rep.Bootstrap, rep.Enrolment, rep.Total = latency(boot), latency(enrol), latency(total)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("testbed: load interrupted after %d of %d devices: %w", done.Load(), len(subs), err)
	}
	return rep, nil
}

func (tb *Testbed) hssCount(ctx context.Context) (int, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.hss == nil {
		return 0, fmt.Errorf("%w: %s", ErrNodeStopped, NodeHSS)
	}
	n, err := tb.hss.store.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("testbed: count subscribers: %w", err)
	}
	return n, nil
}

// runLoadDevice bootstraps and enrols one device; on failure it returns the error kind.
func (tb *Testbed) runLoadDevice(ctx context.Context, sub Subscriber, mefURL string, verify bool) ([3]time.Duration, string, error) {
	var d [3]time.Duration
	c, err := tb.NewUE(sub, UEOptions{})
	if err != nil {
		return d, "setup", err
	}
	t0 := time.Now()
	if _, err := c.Bootstrap(ctx); err != nil {
		return d, "bootstrap: " + ErrorKind(err), err
	}
	t1 := time.Now()
	enr, err := c.Enrol(ctx, mefURL)
	if err != nil {
		return d, "enrolment: " + ErrorKind(err), err
	}
	t2 := time.Now()
	d = [3]time.Duration{t1.Sub(t0), t2.Sub(t1), t2.Sub(t0)}
	if verify {
		got, err := tb.LookupKmr(ctx, enr.KmrID)
		if err != nil {
			return d, "maf lookup: " + ErrorKind(err), err
		}
		if !got.Kmr.Equal(NewSecret(enr.Kmr.Bytes())) {
			return d, "kmr mismatch", errors.New("testbed: the MAF holds another Kmr than the UE")
		}
	}
	return d, "", nil
}

// ErrorKind classifies a device failure for the error table: the HTTP status, the UE's
// error class, or a transport failure.
func ErrorKind(err error) string {
	var se *ue.StatusError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &se):
		return fmt.Sprintf("HTTP %d", se.StatusCode)
	case errors.Is(err, ue.ErrNetworkAuthFailed):
		return "network authentication failed"
	case errors.Is(err, ue.ErrResyncFailed):
		return "re-synchronisation failed"
	case errors.Is(err, ue.ErrServerAuthFailed):
		return "server authentication failed"
	case errors.Is(err, ue.ErrAuthRejected):
		return "authentication rejected"
	case errors.Is(err, ue.ErrBootstrappingInfo), errors.Is(err, ue.ErrEnrolment), errors.Is(err, ue.ErrProtocol):
		return "protocol error"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ne):
		return "connection error"
	}
	return "other"
}

// latency computes nearest-rank percentiles.
func latency(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	pct := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	return Latency{N: len(d), Mean: sum / time.Duration(len(d)), P50: pct(0.50), P95: pct(0.95), P99: pct(0.99), Max: d[len(d)-1]}
}
