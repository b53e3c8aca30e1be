package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/heraldhq/herald/pkg/configwatch"
	"github.com/heraldhq/herald/pkg/kafkabatch"
	"github.com/heraldhq/herald/pkg/kafkaready"
	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/serve"
	"github.com/heraldhq/herald/pkg/topics"
	"github.com/heraldhq/herald/pkg/worker"
	dispatcherv1 "github.com/heraldhq/herald/proto/herald/dispatcher/v1"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// recordBatch is the most outcome messages the recorder writes in one produce request.
const recordBatch = 1000

// Service is a running dispatcher.
type Service struct {
	cfg       Config
	log       *slog.Logger
	conn      *grpc.ClientConn
	view      *view
	watcher   *configwatch.Watcher
	engine    *engine
	readers   []*kafka.Reader
	consumers []*consumer
	writer    *kafka.Writer
	httpLn    net.Listener
	httpSrv   *http.Server
	grpcLn    net.Listener
	grpcSrv   *grpc.Server
	health    *health.Server
}

// New wires a dispatcher; Run starts it.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, _ := secretbox.ParseKeys(cfg.SecretKeys)
	box, err := secretbox.New(keys...)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.RegistryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dispatcher: HERALD_REGISTRY_ADDR: %w", err)
	}
	s := &Service{cfg: cfg, log: log, conn: conn, view: newView(box, log)}
	s.watcher = configwatch.New(registryv1.NewRegistryServiceClient(conn), cfg.AdminToken, s.view, &configwatch.Options{Logger: log})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	names := topics.Names{Prefix: cfg.TopicPrefix}
	dialer, err := cfg.Kafka.Dialer()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	transport, err := cfg.Kafka.Transport()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	s.writer = &kafka.Writer{
		Addr:                   kafka.TCP(cfg.KafkaBrokers...),
		Transport:              transport,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchSize:              kafkabatch.ProduceBatchSize,
		BatchBytes:             kafkabatch.MaxBatchBytes,
		BatchTimeout:           time.Millisecond,
		Compression:            cfg.Kafka.Codec(),
		AllowAutoTopicCreation: true,
	}
	s.engine = &engine{
		view: s.view, send: newSender(cfg.Guard(), cfg.Timeout, cfg.MaxInFlight, cfg.MaxPerEndpoint), w: s.writer,
		names: names, schedule: cfg.RetrySchedule, tiers: cfg.RetryTiers, instance: cfg.Instance, log: log,
		grace: cfg.ShutdownTimeout / 2, pool: newPool(cfg.MaxInFlight), rec: newRecorder(s.writer, recordBatch, log), perHost: cfg.MaxPerEndpoint,
		orderTail: map[string]chan struct{}{},
		circuits:  newCircuits(cfg.CircuitThreshold, cfg.CircuitCooldown),
		failing:   &failing{after: cfg.AutoDisableAfter, since: map[string]time.Time{}},
		parts:     newPartitions(),
	}
	s.engine.m = newMetrics(reg, func() float64 { return float64(s.engine.pool.busy.Load()) }, func() float64 { return float64(len(s.engine.circuits.open())) })

	newReader := func(group, topic string) *kafka.Reader {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: cfg.KafkaBrokers, Dialer: dialer, GroupID: group, GroupTopics: []string{topic},
			StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond,
			HeartbeatInterval: 500 * time.Millisecond, JoinGroupBackoff: 500 * time.Millisecond,
			RebalanceTimeout: 5 * time.Second, SessionTimeout: cfg.SessionTimeout, CommitInterval: 0,
			QueueCapacity: cfg.MaxInFlight,
			ErrorLogger:   kafka.LoggerFunc(func(f string, a ...any) { log.Warn("kafka reader: " + fmt.Sprintf(f, a...)) }),
		})
		s.readers = append(s.readers, r)
		return r
	}
	s.consumers = append(s.consumers, &consumer{name: names.Topic(topics.Deliveries), r: newReader(cfg.GroupID, names.Topic(topics.Deliveries)), e: s.engine, maxPending: 4 * cfg.MaxInFlight})
	for i, t := range cfg.RetryTiers {
		topic := names.Topic(topics.RetryPrefix + tierName(t))
		span := t
		if i+1 < len(cfg.RetryTiers) {
			span = cfg.RetryTiers[i+1]
		}
		s.consumers = append(s.consumers, &consumer{name: topic, r: newReader(cfg.GroupID+".retry."+tierName(t), topic), e: s.engine, tier: true, span: span, maxPending: 4 * cfg.MaxInFlight})
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.view.isReady() {
			http.Error(w, "waiting for the first configuration snapshot from the registry", http.StatusServiceUnavailable)
			return
		}
		if err := kafkaready.Check(r.Context(), dialer, cfg.KafkaBrokers, 2*time.Second); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("dispatcher: HERALD_HTTP_ADDR: %w", err)
	}
	s.health = health.NewServer()
	s.grpcSrv = grpc.NewServer(grpc.ChainUnaryInterceptor(adminAuth(cfg.AdminToken)))
	dispatcherv1.RegisterDispatcherAdminServer(s.grpcSrv, admin{s: s})
	healthpb.RegisterHealthServer(s.grpcSrv, s.health)
	if s.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		_ = conn.Close()
		_ = s.httpLn.Close()
		return nil, fmt.Errorf("dispatcher: HERALD_GRPC_ADDR: %w", err)
	}
	return s, nil
}

// Topics returns every topic the dispatcher reads or writes, for ops to create.
func (s *Service) Topics() []string { return Topics(s.cfg) }

// Topics returns the topics a dispatcher with cfg reads or writes: deliveries, attempts, dead
// letters and one topic per retry tier.
func Topics(cfg Config) []string {
	names := topics.Names{Prefix: cfg.TopicPrefix}
	out := []string{names.Topic(topics.Deliveries), names.Topic(topics.Attempts), names.Topic(topics.Dead)}
	for _, t := range cfg.RetryTiers {
		out = append(out, names.Topic(topics.RetryPrefix+tierName(t)))
	}
	return out
}

// GRPCAddr is the bound address of the DispatcherAdmin service.
func (s *Service) GRPCAddr() string { return s.grpcLn.Addr().String() }

// HTTPAddr is the bound address of /healthz, /readyz and /metrics.
func (s *Service) HTTPAddr() string { return s.httpLn.Addr().String() }

// Ready reports whether the dispatcher has its configuration.
func (s *Service) Ready() bool { return s.view.isReady() }

// ConfigVersion is the WatchConfig version in use.
func (s *Service) ConfigVersion() int64 {
	s.view.mu.RLock()
	defer s.view.mu.RUnlock()
	return s.view.version
}

// Delivered counts deliveries answered with 2xx.
func (s *Service) Delivered() int64 { return s.engine.delivered.Load() }

// Run delivers until ctx ends. Consumers start once the first snapshot has arrived: a job for
// a subscription the dispatcher does not know yet would otherwise be skipped.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	workers := []worker.Worker{s.watcher,
		serve.HTTP("http", s.httpSrv, s.httpLn, s.cfg.ShutdownTimeout),
		serve.GRPC("grpc", s.grpcSrv, s.grpcLn, s.health, s.cfg.ShutdownTimeout)}
	// The workers and the recorder outlive the consumers, which wait for every outcome they
	// submitted; the recorder's writes may take the same grace period as the deliveries, counted
	// from when the consumers are told to stop (ctx ending, or another worker failing).
	recBase, stopRecording := context.WithCancel(ctx)
	defer stopRecording()
	rctx, finished := worker.Finishing(recBase, s.engine.grace)
	defer finished()
	for _, c := range s.consumers {
		workers = append(workers, worker.Func(c.Name(), func(ctx context.Context) error {
			context.AfterFunc(ctx, stopRecording)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.watcher.Ready():
			}
			return c.Run(ctx)
		}))
	}
	s.engine.pool.start()
	defer s.engine.pool.stop()
	recorded := make(chan struct{})
	go func() { defer close(recorded); s.engine.rec.run(rctx) }()
	err := worker.Run(ctx, workers...)
	close(s.engine.rec.in)
	<-recorded
	return err
}

func (s *Service) close() {
	for _, r := range s.readers {
		_ = r.Close()
	}
	_ = s.writer.Close()
	_ = s.conn.Close()
	_ = s.httpLn.Close()
	_ = s.grpcLn.Close()
}
