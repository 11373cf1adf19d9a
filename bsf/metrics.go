package bsf

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the BSF's Prometheus collectors, registered on a registry the BSF owns
// (never the global default registry) and served on /metrics. The Zh client and the Zn
// server observe ZhLatency, ZnLatency and HSSPeerUp; the Ub handler counts UbResults.
type Metrics struct {
	// UbResults counts Ub requests by outcome (challenge, bootstrapped, wrong_res, …).
	UbResults *prometheus.CounterVec
	// UbLatency is the Ub request latency by outcome.
	UbLatency *prometheus.HistogramVec
	// ZhLatency is the MAR/MAA round-trip time by result ("success", "imsi_unknown",
	// "timeout", "error", or a Diameter result code). Observed by the Zh client.
	ZhLatency *prometheus.HistogramVec
	// ZnLatency is the BIR handling time by result ("success", "5402", "5403", …).
	// Observed by the Zn server.
	ZnLatency *prometheus.HistogramVec
	// HSSPeerUp is 1 while the Diameter connection to an HSS peer (label: its address or
	// Origin-Host) is open and its CER/CEA done, else 0. Set by the Zh client.
	HSSPeerUp *prometheus.GaugeVec
}

// latencyBuckets cover 0.5 ms to ~4 s.
func latencyBuckets() []float64 { return prometheus.ExponentialBuckets(0.0005, 2, 14) }

func newMetrics(reg prometheus.Registerer, store Store) (*Metrics, error) {
	m := &Metrics{
		UbResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bsf", Subsystem: "ub", Name: "results_total",
			Help: "Ub requests by outcome.",
		}, []string{"outcome"}),
		UbLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "bsf", Subsystem: "ub", Name: "request_duration_seconds",
			Help: "Ub request handling time by outcome.", Buckets: latencyBuckets(),
		}, []string{"outcome"}),
		ZhLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "bsf", Subsystem: "zh", Name: "request_duration_seconds",
			Help: "Zh MAR/MAA round-trip time by result.", Buckets: latencyBuckets(),
		}, []string{"result"}),
		ZnLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "bsf", Subsystem: "zn", Name: "request_duration_seconds",
			Help: "Zn BIR handling time by result.", Buckets: latencyBuckets(),
		}, []string{"result"}),
		HSSPeerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "bsf", Subsystem: "zh", Name: "peer_up",
			Help: "1 while the Diameter connection to an HSS peer is up.",
		}, []string{"peer"}),
	}
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "bsf", Name: "sessions_live",
		Help: "Bootstrapping sessions that have not expired (NaN if the store cannot be read).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := store.Live(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	})
	for _, c := range []prometheus.Collector{
		m.UbResults, m.UbLatency, m.ZhLatency, m.ZnLatency, m.HSSPeerUp, live,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
