package standin

import (
	"context"

	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"strconv"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure the stand-in servers. The zero value starts both on random loopback ports
// with data in memory (Kafka) and in a temporary folder (MongoDB).
type Options struct {
	// DataDir keeps Kafka messages, committed offsets and the MongoDB data across restarts, in
	// DataDir/kafka and DataDir/mongodb. Default: none (Kafka in memory, MongoDB in a temp folder
	// removed by Close).
	DataDir string
	// KafkaAddr is the broker's listen address. Default: 127.0.0.1:0 (a free port).
	KafkaAddr string
	// MongoAddr is the MongoDB-protocol listen address. Default: 127.0.0.1:0.
	MongoAddr string
	// Partitions is the partition count of topics created automatically. Default: 6.
	Partitions int
	// Topics are created at start with Partitions partitions. Default: none.
	Topics []string
	// Logger receives the servers' errors. Default: slog.Default().
	Logger *slog.Logger
}

// Servers are running stand-ins. Close stops both.
type Servers struct {
	// KafkaBrokers are the bootstrap addresses of the broker.
	KafkaBrokers []string
	// MongoURI is the connection string of the MongoDB-protocol store.
	MongoURI string

	kafka   *kfake.Cluster
	cancel  context.CancelFunc
	done    chan struct{}
	tempDir string
}

// segmentBytes is the stand-in broker's log segment size.
const segmentBytes = 8 << 20

// Start starts both servers and returns once they accept connections.
func Start(opts Options) (*Servers, error) {
	if opts.KafkaAddr == "" {
		opts.KafkaAddr = "127.0.0.1:0"
	}
	if opts.MongoAddr == "" {
		opts.MongoAddr = "127.0.0.1:0"
	}
	if opts.Partitions == 0 {
		opts.Partitions = 6
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}

	s := &Servers{done: make(chan struct{})}
	mongoDir := ""
	if opts.DataDir != "" {
		mongoDir = filepath.Join(opts.DataDir, "mongodb")
		if err := os.MkdirAll(mongoDir, 0o700); err != nil {
			return nil, fmt.Errorf("standin: %w", err)
		}
	} else {
		dir, err := os.MkdirTemp("", "herald-mongodb-")
		if err != nil {
			return nil, fmt.Errorf("standin: %w", err)
		}
		mongoDir, s.tempDir = dir, dir
	}

	kafkaOpts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, opts.KafkaAddr) }),
		kfake.DefaultNumPartitions(opts.Partitions),
		kfake.AllowAutoTopicCreation(),
		// kafka-go clients in tests and the standalone run use short sessions for fast rebalances.
		kfake.GroupMinSessionTimeout(time.Second),
		// kfake keeps a segment in one growing buffer (in memory without DataDir) and grows it
		// by copying, while it holds the cluster's lock: at its default of 100 MiB a busy
		// partition stalled every client for tens of milliseconds per grow (p99 latency rose
		// from ~25 ms to ~200 ms as the benchmark's topics filled). Small segments keep each
		// grow short, as appending to a file is on a real broker.
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(segmentBytes)}),
	}
	if len(opts.Topics) > 0 {
		kafkaOpts = append(kafkaOpts, kfake.SeedTopics(int32(opts.Partitions), opts.Topics...))
	}
	if opts.DataDir != "" {
		kafkaOpts = append(kafkaOpts, kfake.DataDir(filepath.Join(opts.DataDir, "kafka")))
	}
	kafka, err := kfake.NewCluster(kafkaOpts...)
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("standin: kafka: %w", err)
	}
	s.kafka = kafka
	s.KafkaBrokers = kafka.ListenAddrs()

	fdb, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: opts.MongoAddr},
		// FerretDB warns about every client session it cannot end; only its errors matter here.
		Logger:    slog.New(levelHandler{logger.Handler(), slog.LevelError}),
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(mongoDir) + "/",
	})
	if err != nil {
		kafka.Close()
		s.removeTemp()
		return nil, fmt.Errorf("standin: mongodb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		_ = fdb.Run(ctx)
	}()
	s.MongoURI = fdb.MongoDBURI() // blocks until the listener is up
	return s, nil
}

// Close stops both servers and waits for them.
func (s *Servers) Close() {
	s.cancel()
	<-s.done
	s.kafka.Close()
	s.removeTemp()
}

func (s *Servers) removeTemp() {
	if s.tempDir != "" {
		_ = os.RemoveAll(s.tempDir)
	}
}

// levelHandler drops records below a minimum level: FerretDB logs every connection at info.
type levelHandler struct {
	slog.Handler
	min slog.Level
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{h.Handler.WithAttrs(a), h.min}
}

func (h levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{h.Handler.WithGroup(n), h.min}
}
