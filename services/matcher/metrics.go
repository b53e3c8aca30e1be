package matcher

import "github.com/prometheus/client_golang/prometheus"

// metrics are the matcher's Prometheus series (names are a contract with dashboards).
type metrics struct {
	consumed      *prometheus.CounterVec
	matched       prometheus.Counter
	filtered      prometheus.Counter
	invalid       prometheus.Counter
	jobs          prometheus.Counter
	lag           *prometheus.GaugeVec
	configVersion prometheus.Gauge
	configErrors  prometheus.Counter
	batchSeconds  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_matcher_consumed_total", Help: "Input messages read, by logical topic.",
		}, []string{"topic"}),
		matched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_matcher_matched_total", Help: "Registered events whose filterLogic passed.",
		}),
		filtered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_matcher_filtered_total", Help: "Events and subscriptions whose filter did not pass.",
		}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_matcher_invalid_total", Help: "Input messages quarantined to herald.invalid.",
		}),
		jobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_matcher_jobs_produced_total", Help: "Delivery jobs acknowledged by Kafka.",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_matcher_lag", Help: "Messages behind the partition's high watermark at the last read.",
		}, []string{"topic", "partition"}),
		configVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_matcher_config_version", Help: "WatchConfig version the matcher is using.",
		}),
		configErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_matcher_config_rejected_total", Help: "Events or subscriptions left out because their rule did not compile.",
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_matcher_batch_seconds", Help: "Time to match, produce and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	reg.MustRegister(m.consumed, m.matched, m.filtered, m.invalid, m.jobs, m.lag, m.configVersion, m.configErrors, m.batchSeconds)
	return m
}
