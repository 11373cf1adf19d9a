package naf

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the NAF's Prometheus collectors, registered on a registry the caller owns
// (never the global default registry). A nil *Metrics is valid and records nothing.
type Metrics struct {
	// UaRequests counts Ua authentications by outcome (see Outcome).
	UaRequests *prometheus.CounterVec
	// ZnLatency is the duration of one Zn Bootstrapping-Info-Request round trip, by result
	// ("success", "5402", "5403", "unavailable", "error"). The Zn client observes it.
	ZnLatency *prometheus.HistogramVec
}

// Zn latency result labels, for the Zn client.
const (
	ZnResultSuccess       = "success"
	ZnResultNotAuthorized = "5402"
	ZnResultBTIDUnknown   = "5403"
	ZnResultUnavailable   = "unavailable"
	ZnResultError         = "error"
)

// NewMetrics registers the Ua and Zn collectors on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		UaRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "naf",
			Subsystem: "ua",
			Name:      "requests_total",
			Help:      "Ua HTTP Digest authentications by outcome.",
		}, []string{"outcome"}),
		ZnLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "naf",
			Subsystem: "zn",
			Name:      "request_duration_seconds",
			Help:      "Zn Bootstrapping-Info-Request round-trip time by result.",
			Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.UaRequests, m.ZnLatency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// RegisterCache exports the counters of c on reg: naf_key_cache_hits_total,
// naf_key_cache_misses_total, naf_key_cache_fetches_total, naf_key_cache_entries and
// naf_key_cache_hit_ratio (hits / (hits + misses), 0 before the first lookup).
func RegisterCache(reg prometheus.Registerer, c *Cache) error {
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: "naf", Subsystem: "key_cache", Name: name, Help: help}
	}
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(opts("hits_total", "Ks_NAF lookups answered from the cache."),
			func() float64 { return float64(c.Stats().Hits) }),
		prometheus.NewCounterFunc(opts("misses_total", "Ks_NAF lookups that needed the key source."),
			func() float64 { return float64(c.Stats().Misses) }),
		prometheus.NewCounterFunc(opts("fetches_total", "Key source (Zn) calls made by the cache."),
			func() float64 { return float64(c.Stats().Fetches) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "naf", Subsystem: "key_cache", Name: "entries", Help: "Ks_NAF entries held."},
			func() float64 { return float64(c.Stats().Len) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "naf", Subsystem: "key_cache", Name: "hit_ratio", Help: "Cache hits / (hits + misses) since start."},
			func() float64 {
				s := c.Stats()
				if s.Hits+s.Misses == 0 {
					return 0
				}
				return float64(s.Hits) / float64(s.Hits+s.Misses)
			}),
	}
	for _, col := range cs {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

func (m *Metrics) observeUa(o Outcome) {
	if m == nil {
		return
	}
	m.UaRequests.WithLabelValues(string(o)).Inc()
}
