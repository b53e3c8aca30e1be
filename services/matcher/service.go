package matcher

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/pkg/configwatch"
	"github.com/heraldhq/herald/pkg/kafkabatch"
	"github.com/heraldhq/herald/pkg/serve"
	"github.com/heraldhq/herald/pkg/topics"
	"github.com/heraldhq/herald/pkg/worker"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Service is a running matcher.
type Service struct {
	cfg     Config
	log     *slog.Logger
	conn    *grpc.ClientConn
	view    *configView
	watcher *configwatch.Watcher
	reader  *kafka.Reader
	writer  *kafka.Writer
	cons    *consumer
	replays *kafka.Reader
	replay  *replayer
	httpLn  net.Listener
	httpSrv *http.Server
	grpcLn  net.Listener
	grpcSrv *grpc.Server
	health  *health.Server
}

// configView applies WatchConfig steps and publishes a fresh Index after each.
type configView struct {
	mu    sync.Mutex
	st    *state
	idx   atomic.Pointer[Index]
	log   *slog.Logger
	m     *metrics
	ready atomic.Bool
}

// Apply implements configwatch.Applier.
func (v *configView) Apply(step *registryv1.WatchConfigResponse) {
	v.mu.Lock()
	bad := v.st.apply(step)
	idx := v.st.index()
	v.mu.Unlock()
	for _, err := range bad {
		v.m.configErrors.Inc()
		v.log.Error("matcher: left a document out of the index", "err", err)
	}
	v.idx.Store(idx)
	v.ready.Store(true)
	v.m.configVersion.Set(float64(idx.Version))
}

// New wires a matcher; Run starts it.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newMetrics(reg)

	conn, err := grpc.NewClient(cfg.RegistryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("matcher: HERALD_REGISTRY_ADDR: %w", err)
	}
	s := &Service{cfg: cfg, log: log, conn: conn}
	s.view = &configView{st: newState(), log: log, m: m}
	s.view.idx.Store(&Index{byType: map[typeKey][]*eventEntry{}})
	s.watcher = configwatch.New(registryv1.NewRegistryServiceClient(conn), cfg.AdminToken, s.view, &configwatch.Options{Logger: log})

	names := topics.Names{Prefix: cfg.TopicPrefix}
	start := kafka.FirstOffset
	if cfg.StartOffset == "latest" {
		start = kafka.LastOffset
	}
	// Settings from STACK.md: fast rebalances, no waiting on MinBytes, explicit commits only.
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
	s.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.KafkaBrokers,
		Dialer:            dialer,
		GroupID:           cfg.GroupID,
		GroupTopics:       names.InputTopics(),
		StartOffset:       start,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond,
		JoinGroupBackoff:  500 * time.Millisecond,
		RebalanceTimeout:  5 * time.Second,
		SessionTimeout:    cfg.SessionTimeout,
		CommitInterval:    0,
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { log.Warn("kafka reader: " + fmt.Sprintf(f, a...)) }),
	})
	s.writer = &kafka.Writer{
		Addr:                   kafka.TCP(cfg.KafkaBrokers...),
		Transport:              transport,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchSize:              kafkabatch.ProduceBatchSize,
		BatchBytes:             kafkabatch.MaxBatchBytes,
		BatchTimeout:           2 * time.Millisecond,
		Compression:            cfg.Kafka.Codec(),
		AllowAutoTopicCreation: true,
	}
	s.cons = &consumer{
		r: s.reader, w: s.writer, index: func() *Index { return s.view.idx.Load() },
		rules: Rules{MaxEventBytes: cfg.MaxEventBytes, ResourceBaseURL: cfg.ResourceBaseURL},
		names: names, batch: cfg.BatchSize, grace: cfg.ShutdownTimeout / 2, log: log, m: m,
	}

	s.replays = kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.KafkaBrokers, Dialer: dialer, GroupID: cfg.GroupID + ".replays", GroupTopics: []string{names.Topic(topics.Replays)},
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond, JoinGroupBackoff: 500 * time.Millisecond,
		RebalanceTimeout: 5 * time.Second, SessionTimeout: cfg.SessionTimeout, CommitInterval: 0,
		// A replay can run for minutes between two fetches; the group keeps the member by heartbeat.
		WatchPartitionChanges: true,
	})
	s.replay = &replayer{r: s.replays, c: s.cons, brokers: cfg.KafkaBrokers, dialer: dialer, registry: registryv1.NewRegistryServiceClient(conn), token: cfg.AdminToken, log: log}

	mux := http.NewServeMux()
	(&handler{ready: s.Ready, brokers: cfg.KafkaBrokers, dialer: dialer, reg: reg}).routes(mux)
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("matcher: HERALD_HTTP_ADDR: %w", err)
	}
	s.health, s.grpcSrv = health.NewServer(), grpc.NewServer()
	healthpb.RegisterHealthServer(s.grpcSrv, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING) // until the first snapshot
	if s.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		_ = conn.Close()
		_ = s.httpLn.Close()
		return nil, fmt.Errorf("matcher: HERALD_GRPC_ADDR: %w", err)
	}
	return s, nil
}

// HTTPAddr is the bound address of /healthz, /readyz and /metrics.
func (s *Service) HTTPAddr() string { return s.httpLn.Addr().String() }

// Ready reports whether the matcher has a configuration to match with.
func (s *Service) Ready() bool { return s.view.ready.Load() }

// ConfigVersion is the WatchConfig version in use.
func (s *Service) ConfigVersion() int64 { return s.view.idx.Load().Version }

// Handled counts input messages matched, produced and committed.
func (s *Service) Handled() int64 { return s.cons.handled.Load() }

// Run matches until ctx ends. Consuming starts only once the first configuration snapshot has
// arrived: matching against an empty configuration would commit events as matched by nothing.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	return worker.Run(ctx,
		s.watcher,
		worker.Func("kafka-consumer", func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.watcher.Ready():
			}
			s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
			s.log.Info("matcher: configuration loaded; consuming", "version", s.ConfigVersion(), "topics", topics.Names{Prefix: s.cfg.TopicPrefix}.InputTopics())
			return s.cons.Run(ctx)
		}),
		worker.Func("replayer", func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.watcher.Ready():
			}
			return s.replay.Run(ctx)
		}),
		serve.GRPC("grpc", s.grpcSrv, s.grpcLn, s.health, s.cfg.ShutdownTimeout),
		serve.HTTP("http", s.httpSrv, s.httpLn, s.cfg.ShutdownTimeout),
	)
}

func (s *Service) close() {
	_ = s.reader.Close() // leaves the group, so partitions move at once
	_ = s.replays.Close()
	_ = s.writer.Close()
	_ = s.conn.Close()
	_ = s.httpLn.Close()
	_ = s.grpcLn.Close()
}

// GRPCAddr is the bound address of gRPC health.
func (s *Service) GRPCAddr() string { return s.grpcLn.Addr().String() }
