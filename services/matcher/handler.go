package matcher

import (
	"net/http"
	"time"

	"github.com/heraldhq/herald/pkg/kafkaready"
	"github.com/segmentio/kafka-go"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handler serves the matcher's operational routes.
type handler struct {
	ready   func() bool
	brokers []string
	dialer  *kafka.Dialer
	reg     *prometheus.Registry
}

func (h *handler) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !h.ready() {
			http.Error(w, "waiting for the first configuration snapshot from the registry", http.StatusServiceUnavailable)
			return
		}
		if err := kafkaready.Check(r.Context(), h.dialer, h.brokers, 2*time.Second); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{}))
}
