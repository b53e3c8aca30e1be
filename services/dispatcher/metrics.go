package dispatcher

import (
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the dispatcher's Prometheus series (names are a contract with dashboards).
type metrics struct {
	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
	retries    *prometheus.CounterVec
	dead       prometheus.Counter
	inFlight   prometheus.GaugeFunc
	circuits   prometheus.GaugeFunc

	delivered prometheus.Counter // deliveries{outcome="delivered",error_type=""}: most attempts, looked up once
}

func newMetrics(reg prometheus.Registerer, inFlight, openCircuits func() float64) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_dispatcher_attempts_total", Help: "Delivery attempts by outcome and error type.",
		}, []string{"outcome", "error_type"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_dispatcher_request_seconds", Help: "Time from request to response of an attempt.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_dispatcher_retries_total", Help: "Retries scheduled, by retry tier.",
		}, []string{"tier"}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_dispatcher_dead_letters_total", Help: "Jobs moved to herald.dead after their last attempt.",
		}),
		inFlight: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_dispatcher_in_flight", Help: "Deliveries in progress.",
		}, inFlight),
		circuits: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_dispatcher_open_circuits", Help: "Endpoints whose circuit breaker is open.",
		}, openCircuits),
	}
	reg.MustRegister(m.deliveries, m.latency, m.retries, m.dead, m.inFlight, m.circuits)
	m.delivered = m.deliveries.WithLabelValues(outcomeLabel[deliveryv1.Outcome_OUTCOME_DELIVERED], "")
	return m
}

var outcomeLabel = map[deliveryv1.Outcome]string{
	deliveryv1.Outcome_OUTCOME_DELIVERED: "delivered",
	deliveryv1.Outcome_OUTCOME_RETRYING:  "retrying",
	deliveryv1.Outcome_OUTCOME_FAILED:    "failed",
	deliveryv1.Outcome_OUTCOME_GONE:      "gone",
	deliveryv1.Outcome_OUTCOME_SKIPPED:   "skipped",
}

func (m *metrics) observe(a *deliveryv1.Attempt, d decision) {
	if d.outcome == deliveryv1.Outcome_OUTCOME_DELIVERED && a.GetErrorType() == "" {
		m.delivered.Inc()
	} else {
		m.deliveries.WithLabelValues(outcomeLabel[d.outcome], a.GetErrorType()).Inc()
	}
	if a.GetErrorType() != "skipped" {
		m.latency.Observe(float64(a.GetLatencyMs()) / 1000)
	}
	switch d.outcome {
	case deliveryv1.Outcome_OUTCOME_RETRYING:
		m.retries.WithLabelValues(tierName(d.tier)).Inc()
	case deliveryv1.Outcome_OUTCOME_FAILED:
		m.dead.Inc()
	}
}
