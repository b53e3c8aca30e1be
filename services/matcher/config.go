package matcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/pkg/envconfig"
	"github.com/heraldhq/herald/pkg/kafkaconn"
)

// Config is the matcher's configuration. Load reads it from HERALD_* variables.
type Config struct {
	// HTTPAddr serves /healthz, /readyz and /metrics (HERALD_HTTP_ADDR). Default: ":8081".
	HTTPAddr string
	// GRPCAddr serves gRPC health (HERALD_GRPC_ADDR). Default: ":9091".
	GRPCAddr string
	// KafkaBrokers are the bootstrap addresses (HERALD_KAFKA_BROKERS, comma-separated).
	// Default: none, required.
	KafkaBrokers []string
	// Kafka is TLS and SASL for the brokers and the compression of what this service produces
	// (HERALD_KAFKA_TLS, HERALD_KAFKA_TLS_CA_FILE, HERALD_KAFKA_SASL_MECHANISM,
	// HERALD_KAFKA_SASL_USERNAME, HERALD_KAFKA_SASL_PASSWORD, HERALD_KAFKA_COMPRESSION).
	// Default: plaintext, no SASL, lz4.
	Kafka kafkaconn.Settings
	// TopicPrefix prefixes every topic, input and Herald's own (HERALD_TOPIC_PREFIX). Default: "".
	TopicPrefix string
	// GroupID is the consumer group of all matchers (HERALD_MATCHER_GROUP). Default: "herald-matcher".
	GroupID string
	// StartOffset is where a group without committed offsets starts: "earliest" or "latest"
	// (HERALD_MATCHER_START_OFFSET). Default: "earliest", so nothing written before the first
	// start is skipped.
	StartOffset string
	// RegistryAddr is the registry's gRPC address (HERALD_REGISTRY_ADDR). Default: "127.0.0.1:9090".
	RegistryAddr string
	// AdminToken authenticates the WatchConfig stream (HERALD_ADMIN_TOKEN). Default: none, required.
	AdminToken string
	// BatchSize caps the messages matched per produce-and-commit round (HERALD_MATCHER_BATCH_SIZE).
	// Default: 500.
	BatchSize int
	// MaxEventBytes bounds the size of an input message; larger ones are quarantined. At most
	// 960 KiB, so that a job carrying the event, and the dispatcher's attempt record and dead
	// letter carrying the job, each fit in one Kafka batch of 1 MiB (HERALD_MAX_EVENT_BYTES).
	// Default: 921600 (900 KiB).
	MaxEventBytes int
	// ResourceBaseURL prefixes getApiPath values that are paths (HERALD_RESOURCE_BASE_URL).
	// Default: "".
	ResourceBaseURL string
	// SessionTimeout is the consumer group session timeout: how long a dead matcher keeps its
	// partitions (HERALD_KAFKA_SESSION_TIMEOUT). Default: 10s.
	SessionTimeout time.Duration
	// ShutdownTimeout bounds a graceful stop (HERALD_SHUTDOWN_TIMEOUT). Default: 15s.
	ShutdownTimeout time.Duration
}

// MaxEventBytesLimit is the largest HERALD_MAX_EVENT_BYTES: 1 MiB less room for a job's ids, an
// attempt's response snippet and the headers.
const MaxEventBytesLimit = 960 << 10

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:        ":8081",
		GRPCAddr:        ":9091",
		GroupID:         "herald-matcher",
		StartOffset:     "earliest",
		RegistryAddr:    "127.0.0.1:9090",
		BatchSize:       500,
		MaxEventBytes:   MaxEventBytesLimit - 60<<10,
		SessionTimeout:  10 * time.Second,
		ShutdownTimeout: 15 * time.Second,
	}
}

// Load reads the configuration from the environment over the defaults and validates it.
func Load(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	l := envconfig.Loader{Lookup: lookup}
	l.String(&c.HTTPAddr, "HERALD_HTTP_ADDR")
	l.String(&c.GRPCAddr, "HERALD_GRPC_ADDR")
	l.List(&c.KafkaBrokers, "HERALD_KAFKA_BROKERS")
	kafkaconn.Load(&l, &c.Kafka)
	l.String(&c.TopicPrefix, "HERALD_TOPIC_PREFIX")
	l.String(&c.GroupID, "HERALD_MATCHER_GROUP")
	l.String(&c.StartOffset, "HERALD_MATCHER_START_OFFSET")
	l.String(&c.RegistryAddr, "HERALD_REGISTRY_ADDR")
	l.String(&c.AdminToken, "HERALD_ADMIN_TOKEN")
	l.Int(&c.BatchSize, "HERALD_MATCHER_BATCH_SIZE")
	l.Int(&c.MaxEventBytes, "HERALD_MAX_EVENT_BYTES")
	l.String(&c.ResourceBaseURL, "HERALD_RESOURCE_BASE_URL")
	l.Duration(&c.SessionTimeout, "HERALD_KAFKA_SESSION_TIMEOUT")
	l.Duration(&c.ShutdownTimeout, "HERALD_SHUTDOWN_TIMEOUT")
	if err := l.Err(); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate reports every bad field, each named by its variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if c.HTTPAddr == "" {
		bad("HERALD_HTTP_ADDR", "is empty")
	}
	if c.GRPCAddr == "" {
		bad("HERALD_GRPC_ADDR", "is empty")
	}
	if len(c.KafkaBrokers) == 0 {
		bad("HERALD_KAFKA_BROKERS", "is required (host:port, comma-separated)")
	}
	if c.GroupID == "" {
		bad("HERALD_MATCHER_GROUP", "is empty")
	}
	if c.StartOffset != "earliest" && c.StartOffset != "latest" {
		bad("HERALD_MATCHER_START_OFFSET", "must be earliest or latest, got %q", c.StartOffset)
	}
	if c.RegistryAddr == "" {
		bad("HERALD_REGISTRY_ADDR", "is empty")
	}
	if c.AdminToken == "" {
		bad("HERALD_ADMIN_TOKEN", "is required to follow the registry's WatchConfig stream")
	}
	if c.BatchSize < 1 || c.BatchSize > 100000 {
		bad("HERALD_MATCHER_BATCH_SIZE", "must be between 1 and 100000, got %d", c.BatchSize)
	}
	if c.MaxEventBytes < 1024 || c.MaxEventBytes > MaxEventBytesLimit {
		bad("HERALD_MAX_EVENT_BYTES", "must be between 1024 and %d (jobs and attempt records carry the event and must fit in a 1 MiB Kafka batch), got %d", MaxEventBytesLimit, c.MaxEventBytes)
	}
	if c.SessionTimeout < time.Second {
		bad("HERALD_KAFKA_SESSION_TIMEOUT", "must be at least 1s, got %s", c.SessionTimeout)
	}
	if c.ShutdownTimeout <= 0 {
		bad("HERALD_SHUTDOWN_TIMEOUT", "must be positive")
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
