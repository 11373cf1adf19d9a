package hsssim

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the simulator's provisioning collectors, registered on a registry the
// caller owns (never the global default registry). The Zh server has its own (ZhMetrics).
type Metrics struct {
	requests *prometheus.CounterVec
}

// NewMetrics registers the provisioning metrics and a subscriber-count gauge (read from
// store at scrape time) on reg. The gauge may already be there (NewZhMetrics registers the
// same one); that is not an error.
func NewMetrics(reg prometheus.Registerer, store Store) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hss",
			Subsystem: "provisioning",
			Name:      "requests_total",
			Help:      "Provisioning API requests by route, method and HTTP status.",
		}, []string{"route", "method", "status"}),
	}
	if err := reg.Register(m.requests); err != nil {
		return nil, err
	}
	if err := registerSubscriberGauge(reg, store); err != nil {
		return nil, err
	}
	return m, nil
}

// registerSubscriberGauge registers hss_subscribers, the number of provisioned subscribers
// read from store at scrape time, unless reg has it already.
func registerSubscriberGauge(reg prometheus.Registerer, store Store) error {
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
	err := reg.Register(count)
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		return nil
	}
	return err
}

func (m *Metrics) observeRequest(route, method, status string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, status).Inc()
}

// ZhMetrics holds the collectors of the Zh Diameter server (TS 29.109):
//
//	hss_zh_answers_total{command, result, experimental}  every answer the server sent, by
//	    request command (MAR, CER, DWR, DPR or the code) and Result-Code or
//	    Experimental-Result-Code; validation rejects of the peer layer included
//	hss_zh_request_duration_seconds{command}             time from decoding a MAR to its MAA
//	hss_zh_peers                                         peers in the open state
//	hss_subscribers                                      provisioned subscribers
type ZhMetrics struct {
	answers *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// NewZhMetrics registers the Zh collectors on reg. peers is read at scrape time for
// hss_zh_peers; store for hss_subscribers (shared with NewMetrics).
func NewZhMetrics(reg prometheus.Registerer, store Store, peers func() int) (*ZhMetrics, error) {
	m := &ZhMetrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hss",
			Subsystem: "zh",
			Name:      "answers_total",
			Help:      "Diameter answers sent on Zh by request command and result code.",
		}, []string{"command", "result", "experimental"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hss",
			Subsystem: "zh",
			Name:      "request_duration_seconds",
			Help:      "Time to answer a Zh request once decoded (store, Milenage, encoding).",
			Buckets:   []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"command"}),
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "hss",
		Subsystem: "zh",
		Name:      "peers",
		Help:      "Diameter peers connected on Zh (capabilities exchanged).",
	}, func() float64 { return float64(peers()) })
	for _, c := range []prometheus.Collector{m.answers, m.latency, gauge} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	if err := registerSubscriberGauge(reg, store); err != nil {
		return nil, err
	}
	return m, nil
}

// observeAnswer counts one answer sent.
func (m *ZhMetrics) observeAnswer(command string, code uint32, experimental bool) {
	if m == nil {
		return
	}
	m.answers.WithLabelValues(command, strconv.FormatUint(uint64(code), 10), strconv.FormatBool(experimental)).Inc()
}

// observeLatency records the handling time of one request.
func (m *ZhMetrics) observeLatency(command string, d time.Duration) {
	if m == nil {
		return
	}
	m.latency.WithLabelValues(command).Observe(d.Seconds())
}
