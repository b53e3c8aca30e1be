package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/serve"
	"github.com/heraldhq/herald/pkg/topics"
	"github.com/heraldhq/herald/pkg/worker"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Service is a running registry: the JSON API, the gRPC API, the config watch hub and, when
// Kafka is configured, the consumer that records delivery attempts from herald.attempts.
type Service struct {
	cfg    Config
	log    *slog.Logger
	client *mongo.Client
	store  *store.Store
	hub    *hub
	health *health.Server

	// The delivery log: the retention sweep always; with Kafka, the attempts consumer and the
	// redelivery producer (nil without).
	sweeper *sweeper
	reader  *kafka.Reader
	writer  *kafka.Writer
	ingest  *ingester

	httpLn, grpcLn net.Listener
	httpSrv        *http.Server
	grpcSrv        *grpc.Server
}

// New connects to MongoDB, creates the indexes and binds both listeners; Run serves.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, _ := secretbox.ParseKeys(cfg.SecretKeys) // checked by Validate
	box, err := secretbox.New(keys...)
	if err != nil {
		return nil, err
	}
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.MongoURI).SetMaxPoolSize(uint64(cfg.MongoMaxPoolSize)))
	if err != nil {
		return nil, fmt.Errorf("registry: mongodb: %w", err)
	}
	s := &Service{cfg: cfg, log: log, client: client, health: health.NewServer()}
	ok := false
	defer func() {
		if !ok {
			s.closeAll()
		}
	}()
	s.store = store.New(client.Database(cfg.MongoDatabase))
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.store.EnsureIndexes(ictx); err != nil {
		return nil, fmt.Errorf("registry: mongodb at %s: %w", redactURI(cfg.MongoURI), err)
	}
	s.hub = newHub(s.store, cfg.WatchPollInterval, log)
	api := NewAPI(s.store, box, cfg.AdminToken, s.hub, newVerifier(cfg.VerifyEndpoints, cfg.Guard(), 5*time.Second), log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newHTTPMetrics(reg)
	im := newIngestMetrics(reg)
	s.sweeper = &sweeper{st: s.store, retention: cfg.Retention, log: log, m: im}
	if len(cfg.KafkaBrokers) > 0 {
		names := topics.Names{Prefix: cfg.TopicPrefix}
		// Settings from STACK.md, as the matcher's: fast rebalances, no waiting on MinBytes,
		// explicit commits only.
		dialer, err := cfg.Kafka.Dialer()
		if err != nil {
			return nil, err
		}
		transport, err := cfg.Kafka.Transport()
		if err != nil {
			return nil, err
		}
		s.reader = kafka.NewReader(kafka.ReaderConfig{
			Dialer:                dialer,
			Brokers:               cfg.KafkaBrokers,
			GroupID:               cfg.AttemptsGroup,
			GroupTopics:           []string{names.Topic(topics.Attempts), names.Topic(topics.Payloads)},
			StartOffset:           kafka.FirstOffset,
			MinBytes:              1,
			MaxBytes:              16 << 20,
			MaxWait:               100 * time.Millisecond,
			HeartbeatInterval:     500 * time.Millisecond,
			JoinGroupBackoff:      500 * time.Millisecond,
			RebalanceTimeout:      5 * time.Second,
			SessionTimeout:        attemptsSession,
			CommitInterval:        0,
			WatchPartitionChanges: true, // herald.attempts may be created after the registry starts
			ErrorLogger:           kafka.LoggerFunc(func(f string, a ...any) { log.Warn("kafka reader: " + fmt.Sprintf(f, a...)) }),
		})
		s.writer = &kafka.Writer{ // each message names its topic: herald.deliveries or herald.replays
			Addr:                   kafka.TCP(cfg.KafkaBrokers...),
			Transport:              transport,
			Balancer:               &kafka.Hash{},
			RequiredAcks:           kafka.RequireAll,
			BatchTimeout:           time.Millisecond,
			Compression:            cfg.Kafka.Codec(),
			AllowAutoTopicCreation: true,
		}
		api.jobs, api.names = s.writer, names
		s.ingest = &ingester{r: s.reader, api: api, batch: attemptsBatch, grace: cfg.ShutdownTimeout / 2, log: log, m: im, subscribers: map[string]string{}}
	}

	mux := http.NewServeMux()
	h := &handler{api: api, log: log}
	h.routes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.httpSrv = &http.Server{Handler: m.wrap(h.unrouted(mux)), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	auth := grpcAuth{api: api, log: log}
	s.grpcSrv = grpc.NewServer(grpc.ChainUnaryInterceptor(auth.unary), grpc.ChainStreamInterceptor(auth.stream))
	registryv1.RegisterRegistryServiceServer(s.grpcSrv, api)
	healthpb.RegisterHealthServer(s.grpcSrv, s.health)

	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("registry: HERALD_HTTP_ADDR: %w", err)
	}
	if s.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("registry: HERALD_GRPC_ADDR: %w", err)
	}
	ok = true
	return s, nil
}

// HTTPAddr is the bound address of the JSON API.
func (s *Service) HTTPAddr() string { return s.httpLn.Addr().String() }

// GRPCAddr is the bound address of the gRPC API.
func (s *Service) GRPCAddr() string { return s.grpcLn.Addr().String() }

// ConfigVersion is the newest configuration version handed out: a matcher or dispatcher whose
// ConfigVersion has reached it has every change made before the call.
func (s *Service) ConfigVersion(ctx context.Context) (int64, error) { return s.store.ChangeSeq(ctx) }

// Run serves until ctx ends, then stops gracefully within the shutdown timeout.
func (s *Service) Run(ctx context.Context) error {
	defer s.closeAll()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(registryv1.RegistryService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	workers := []worker.Worker{
		serve.HTTP("http", s.httpSrv, s.httpLn, s.cfg.ShutdownTimeout),
		serve.GRPC("grpc", s.grpcSrv, s.grpcLn, s.health, s.cfg.ShutdownTimeout), // watch streams end only when cut
		s.hub,
		s.sweeper,
	}
	if s.ingest != nil {
		workers = append(workers, s.ingest)
	}
	return worker.Run(ctx, workers...)
}

func (s *Service) closeAll() {
	if s.reader != nil {
		_ = s.reader.Close() // leaves the group, so partitions move at once
	}
	if s.writer != nil {
		_ = s.writer.Close()
	}
	if s.httpLn != nil {
		_ = s.httpLn.Close()
	}
	if s.grpcLn != nil {
		_ = s.grpcLn.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.client.Disconnect(ctx)
}

// readyz answers 200 once the store answers and the config version is loaded.
func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "mongodb: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	select {
	case <-s.hub.ready:
	default:
		http.Error(w, "config version not loaded yet", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// redactURI drops credentials from a connection string for messages.
func redactURI(uri string) string {
	opts := options.Client().ApplyURI(uri)
	if len(opts.Hosts) == 0 {
		return "(unparsable URI)"
	}
	return fmt.Sprint(opts.Hosts)
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_registry_http_requests_total", Help: "JSON API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_registry_http_request_duration_seconds", Help: "JSON API latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

// wrap counts requests by the route pattern they matched (not the raw path: ids stay out of labels).
func (m *httpMetrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
