package mef

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengba/opengba/naf/maf"
)

// Metrics holds the MEF's Prometheus collectors. A nil *Metrics records nothing.
type Metrics struct {
	// Enrolments counts enrolment attempts behind a successful Ua authentication, by
	// result: success, no_impi, not_registered, maf_unavailable, maf_rejected, error.
	Enrolments *prometheus.CounterVec
	// MAFProvisioning counts MAF calls by op (provision, revoke) and result (success,
	// unavailable, rejected, error).
	MAFProvisioning *prometheus.CounterVec
}

// NewMetrics registers the MEF collectors on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Enrolments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mef", Name: "enrolments_total",
			Help: "M2M enrolments by result.",
		}, []string{"result"}),
		MAFProvisioning: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mef", Name: "maf_provisioning_total",
			Help: "Kmr provisioning calls to the MAF by operation and result.",
		}, []string{"op", "result"}),
	}
	for _, c := range []prometheus.Collector{m.Enrolments, m.MAFProvisioning} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) enrolment(result string) {
	if m != nil {
		m.Enrolments.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) provisioning(op string, err error) {
	if m == nil {
		return
	}
	r := "success"
	switch {
	case err == nil:
	case errors.Is(err, maf.ErrRejected), errors.Is(err, maf.ErrInvalid), errors.Is(err, ErrMAFRejected):
		r = "rejected"
	case errors.Is(err, maf.ErrUnavailable), errors.Is(err, ErrMAFUnavailable):
		r = "unavailable"
	default:
		r = "error"
	}
	m.MAFProvisioning.WithLabelValues(op, r).Inc()
}

// outcome is the enrolment result label of an error.
func outcome(err error) string {
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, ErrMAFRejected):
		return "maf_rejected"
	case errors.Is(err, ErrMAFUnavailable):
		return "maf_unavailable"
	}
	return "error"
}
