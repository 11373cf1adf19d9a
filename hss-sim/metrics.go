package hsssim

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the simulator's Prometheus collectors, registered on a registry the
// caller owns (never the global default registry). The Zh server adds its own later.
type Metrics struct {
	requests *prometheus.CounterVec
}

// NewMetrics registers the provisioning metrics and a subscriber-count gauge (read from
// store at scrape time) on reg.
func NewMetrics(reg prometheus.Registerer, store Store) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hss",
			Subsystem: "provisioning",
			Name:      "requests_total",
			Help:      "Provisioning API requests by route, method and HTTP status.",
		}, []string{"route", "method", "status"}),
	}
	count := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "hss",
		Name:      "subscribers",
		Help:      "Number of provisioned subscribers (NaN if the store cannot be read).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := store.Count(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	})
	for _, c := range []prometheus.Collector{m.requests, count} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observeRequest(route, method, status string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, status).Inc()
}
