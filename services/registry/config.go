package registry

import (
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/pkg/envconfig"
	"github.com/heraldhq/herald/pkg/kafkaconn"
	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/ssrf"
)

// Config is the registry's configuration. Load reads it from HERALD_* variables.
type Config struct {
	// HTTPAddr is where the JSON API, /healthz, /readyz and /metrics listen (HERALD_HTTP_ADDR).
	// Default: ":8080".
	HTTPAddr string
	// GRPCAddr is where the gRPC API listens (HERALD_GRPC_ADDR). Default: ":9090".
	GRPCAddr string
	// MongoURI is the MongoDB connection string (HERALD_MONGODB_URI).
	// Default: "mongodb://127.0.0.1:27017".
	MongoURI string
	// MongoDatabase is the database holding the registry's collections (HERALD_MONGODB_DATABASE).
	// Default: "herald".
	MongoDatabase string
	// MongoMaxPoolSize caps connections to MongoDB (HERALD_MONGODB_MAX_POOL_SIZE). FerretDB on
	// SQLite loses concurrent updates, so the standalone run and tests use 1. Default: 100.
	MongoMaxPoolSize int
	// AdminToken authenticates operators (HERALD_ADMIN_TOKEN); at least 16 characters.
	// Default: none, required.
	AdminToken string
	// SecretKeys encrypt webhook secrets at rest (HERALD_SECRET_KEY): base64 32-byte keys,
	// comma-separated, the first one sealing new secrets. Default: none, required.
	SecretKeys string
	// WatchPollInterval is how often the change log is read for writes made by other replicas
	// (HERALD_WATCH_POLL_INTERVAL). Default: 200ms.
	WatchPollInterval time.Duration
	// ShutdownTimeout bounds a graceful stop (HERALD_SHUTDOWN_TIMEOUT). Default: 15s.
	ShutdownTimeout time.Duration
	// KafkaBrokers are the Kafka bootstrap addresses (HERALD_KAFKA_BROKERS, comma-separated).
	// With none, the registry records no delivery attempts and refuses redeliveries.
	// Default: none.
	KafkaBrokers []string
	// Kafka is TLS and SASL for the brokers and the compression of what this service produces
	// (HERALD_KAFKA_TLS, HERALD_KAFKA_TLS_CA_FILE, HERALD_KAFKA_SASL_MECHANISM,
	// HERALD_KAFKA_SASL_USERNAME, HERALD_KAFKA_SASL_PASSWORD, HERALD_KAFKA_COMPRESSION).
	// Default: plaintext, no SASL, lz4.
	Kafka kafkaconn.Settings
	// TopicPrefix prefixes Herald's topics, as it does for the matcher and dispatcher
	// (HERALD_TOPIC_PREFIX). Default: "".
	TopicPrefix string
	// AttemptsGroup is the consumer group of all registries reading herald.attempts
	// (HERALD_REGISTRY_ATTEMPTS_GROUP). Default: "herald-registry".
	AttemptsGroup string
	// Retention is how long deliveries and attempts are kept after their latest attempt
	// (HERALD_DELIVERY_RETENTION). Default: 720h (30 days).
	Retention time.Duration
	// VerifyEndpoints checks a subscription's endpoint (HEAD, then GET on 405) when it is created
	// or its URL changes; it is active only once verified (HERALD_VERIFY_ENDPOINTS). Default: true.
	VerifyEndpoints bool
	// Policy is the SSRF allow-list verification dials through, read as the dispatcher reads it
	// (HERALD_ALLOW_LOOPBACK, HERALD_DELIVERY_ALLOW_CIDRS).
	ssrf.Policy
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:          ":8080",
		GRPCAddr:          ":9090",
		MongoURI:          "mongodb://127.0.0.1:27017",
		MongoDatabase:     "herald",
		MongoMaxPoolSize:  100,
		WatchPollInterval: 200 * time.Millisecond,
		ShutdownTimeout:   15 * time.Second,
		AttemptsGroup:     "herald-registry",
		Retention:         720 * time.Hour,
		VerifyEndpoints:   true,
	}
}

// Load reads the configuration from the environment over the defaults and validates it.
func Load(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	l := envconfig.Loader{Lookup: lookup}
	l.String(&c.HTTPAddr, "HERALD_HTTP_ADDR")
	l.String(&c.GRPCAddr, "HERALD_GRPC_ADDR")
	l.String(&c.MongoURI, "HERALD_MONGODB_URI")
	l.String(&c.MongoDatabase, "HERALD_MONGODB_DATABASE")
	l.Int(&c.MongoMaxPoolSize, "HERALD_MONGODB_MAX_POOL_SIZE")
	l.String(&c.AdminToken, "HERALD_ADMIN_TOKEN")
	l.String(&c.SecretKeys, "HERALD_SECRET_KEY")
	l.Duration(&c.WatchPollInterval, "HERALD_WATCH_POLL_INTERVAL")
	l.Duration(&c.ShutdownTimeout, "HERALD_SHUTDOWN_TIMEOUT")
	l.List(&c.KafkaBrokers, "HERALD_KAFKA_BROKERS")
	kafkaconn.Load(&l, &c.Kafka)
	l.String(&c.TopicPrefix, "HERALD_TOPIC_PREFIX")
	l.String(&c.AttemptsGroup, "HERALD_REGISTRY_ATTEMPTS_GROUP")
	l.Duration(&c.Retention, "HERALD_DELIVERY_RETENTION")
	l.Bool(&c.VerifyEndpoints, "HERALD_VERIFY_ENDPOINTS")
	ssrf.LoadPolicy(&l, &c.Policy)
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
	if c.MongoURI == "" {
		bad("HERALD_MONGODB_URI", "is empty")
	}
	if c.MongoDatabase == "" {
		bad("HERALD_MONGODB_DATABASE", "is empty")
	}
	if c.MongoMaxPoolSize < 1 {
		bad("HERALD_MONGODB_MAX_POOL_SIZE", "must be at least 1, got %d", c.MongoMaxPoolSize)
	}
	if len(c.AdminToken) < 16 {
		bad("HERALD_ADMIN_TOKEN", "must be set to at least 16 characters (try: openssl rand -hex 24)")
	}
	if _, err := secretbox.ParseKeys(c.SecretKeys); err != nil {
		bad("HERALD_SECRET_KEY", "must be base64 of 32 random bytes (try: openssl rand -base64 32): %v", err)
	}
	if c.WatchPollInterval <= 0 {
		bad("HERALD_WATCH_POLL_INTERVAL", "must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		bad("HERALD_SHUTDOWN_TIMEOUT", "must be positive")
	}
	if c.AttemptsGroup == "" {
		bad("HERALD_REGISTRY_ATTEMPTS_GROUP", "is empty")
	}
	if c.Retention < time.Hour {
		bad("HERALD_DELIVERY_RETENTION", "must be at least 1h, got %s", c.Retention)
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
