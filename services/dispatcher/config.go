package dispatcher

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/heraldhq/herald/pkg/envconfig"
	"github.com/heraldhq/herald/pkg/kafkaconn"
	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/ssrf"
)

// Config is the dispatcher's configuration. Load reads it from HERALD_* variables.
type Config struct {
	// HTTPAddr serves /healthz, /readyz and /metrics (HERALD_HTTP_ADDR). Default: ":8082".
	HTTPAddr string
	// KafkaBrokers are the bootstrap addresses (HERALD_KAFKA_BROKERS). Default: none, required.
	KafkaBrokers []string
	// Kafka is TLS and SASL for the brokers and the compression of what this service produces
	// (HERALD_KAFKA_TLS, HERALD_KAFKA_TLS_CA_FILE, HERALD_KAFKA_SASL_MECHANISM,
	// HERALD_KAFKA_SASL_USERNAME, HERALD_KAFKA_SASL_PASSWORD, HERALD_KAFKA_COMPRESSION).
	// Default: plaintext, no SASL, lz4.
	Kafka kafkaconn.Settings
	// TopicPrefix prefixes every topic (HERALD_TOPIC_PREFIX). Default: "".
	TopicPrefix string
	// GroupID is the consumer group of all dispatchers; retry tiers use GroupID.<tier>
	// (HERALD_DISPATCHER_GROUP). Default: "herald-dispatcher".
	GroupID string
	// RegistryAddr is the registry's gRPC address (HERALD_REGISTRY_ADDR). Default: "127.0.0.1:9090".
	RegistryAddr string
	// AdminToken authenticates the WatchConfig stream (HERALD_ADMIN_TOKEN). Default: none, required.
	AdminToken string
	// SecretKeys open the webhook secrets (HERALD_SECRET_KEY, the registry's keys). Default: none, required.
	SecretKeys string
	// RetrySchedule is the default delay before each retry (HERALD_RETRY_SCHEDULE).
	// Default: 1m,5m,15m,1h,1h.
	RetrySchedule []time.Duration
	// RetryTiers are the delays that have a retry topic, herald.retry.<delay>; a retry waits on
	// the largest tier not longer than its delay, then until it is due (HERALD_RETRY_TIERS).
	// Default: 0s,10s,1m,5m,15m,1h.
	RetryTiers []time.Duration
	// Timeout bounds one HTTP attempt (HERALD_DELIVERY_TIMEOUT), give or take the 10ms in which
	// attempts share a deadline (see deadlines). Default: 10s.
	Timeout time.Duration
	// MaxInFlight bounds the deliveries in progress; when it is reached the dispatcher stops
	// fetching (HERALD_MAX_IN_FLIGHT). Default: 256.
	MaxInFlight int
	// MaxPerEndpoint bounds concurrent requests to one host:port (HERALD_MAX_PER_ENDPOINT). Default: 32.
	MaxPerEndpoint int
	// Policy is the SSRF allow-list deliveries dial through (HERALD_ALLOW_LOOPBACK,
	// HERALD_DELIVERY_ALLOW_CIDRS).
	ssrf.Policy
	// GRPCAddr serves the DispatcherAdmin service and gRPC health (HERALD_GRPC_ADDR). Default: ":9092".
	GRPCAddr string
	// CircuitThreshold is how many consecutive failures (no answer or 5xx) open an endpoint's
	// circuit; 0 turns breakers off (HERALD_CIRCUIT_THRESHOLD). Default: 20.
	CircuitThreshold int
	// CircuitCooldown is how long an opened circuit refuses requests before one probe
	// (HERALD_CIRCUIT_COOLDOWN). Default: 30s.
	CircuitCooldown time.Duration
	// AutoDisableAfter disables a subscription whose endpoint has failed without a success for
	// this long; 0 never does (HERALD_AUTO_DISABLE_AFTER). Default: 120h.
	AutoDisableAfter time.Duration
	// Instance names this dispatcher in attempt records (HERALD_INSTANCE). Default: the hostname.
	Instance string
	// ShutdownTimeout bounds a graceful stop (HERALD_SHUTDOWN_TIMEOUT). Default: 15s.
	ShutdownTimeout time.Duration
	// SessionTimeout is the consumer group session timeout (HERALD_KAFKA_SESSION_TIMEOUT). Default: 10s.
	SessionTimeout time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		HTTPAddr:         ":8082",
		GRPCAddr:         ":9092",
		CircuitThreshold: 20,
		CircuitCooldown:  30 * time.Second,
		AutoDisableAfter: 120 * time.Hour,
		GroupID:          "herald-dispatcher",
		RegistryAddr:     "127.0.0.1:9090",
		RetrySchedule:    []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, time.Hour},
		RetryTiers:       []time.Duration{0, 10 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour},
		Timeout:          10 * time.Second,
		MaxInFlight:      256,
		MaxPerEndpoint:   32,
		Instance:         host,
		ShutdownTimeout:  15 * time.Second,
		SessionTimeout:   10 * time.Second,
	}
}

// Load reads the configuration from the environment over the defaults and validates it.
func Load(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	l := envconfig.Loader{Lookup: lookup}
	l.String(&c.HTTPAddr, "HERALD_HTTP_ADDR")
	l.List(&c.KafkaBrokers, "HERALD_KAFKA_BROKERS")
	kafkaconn.Load(&l, &c.Kafka)
	l.String(&c.TopicPrefix, "HERALD_TOPIC_PREFIX")
	l.String(&c.GroupID, "HERALD_DISPATCHER_GROUP")
	l.String(&c.RegistryAddr, "HERALD_REGISTRY_ADDR")
	l.String(&c.AdminToken, "HERALD_ADMIN_TOKEN")
	l.String(&c.SecretKeys, "HERALD_SECRET_KEY")
	var schedule, tiers []string
	l.List(&schedule, "HERALD_RETRY_SCHEDULE")
	l.List(&tiers, "HERALD_RETRY_TIERS")
	l.Duration(&c.Timeout, "HERALD_DELIVERY_TIMEOUT")
	l.Int(&c.MaxInFlight, "HERALD_MAX_IN_FLIGHT")
	l.Int(&c.MaxPerEndpoint, "HERALD_MAX_PER_ENDPOINT")
	ssrf.LoadPolicy(&l, &c.Policy)
	l.String(&c.GRPCAddr, "HERALD_GRPC_ADDR")
	l.Int(&c.CircuitThreshold, "HERALD_CIRCUIT_THRESHOLD")
	l.Duration(&c.CircuitCooldown, "HERALD_CIRCUIT_COOLDOWN")
	l.Duration(&c.AutoDisableAfter, "HERALD_AUTO_DISABLE_AFTER")
	l.String(&c.Instance, "HERALD_INSTANCE")
	l.Duration(&c.ShutdownTimeout, "HERALD_SHUTDOWN_TIMEOUT")
	l.Duration(&c.SessionTimeout, "HERALD_KAFKA_SESSION_TIMEOUT")
	errs := []error{l.Err()}
	var err error
	if schedule != nil {
		if c.RetrySchedule, err = parseDurations(schedule); err != nil {
			errs = append(errs, fmt.Errorf("HERALD_RETRY_SCHEDULE: %w", err))
		}
	}
	if tiers != nil {
		if c.RetryTiers, err = parseDurations(tiers); err != nil {
			errs = append(errs, fmt.Errorf("HERALD_RETRY_TIERS: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func parseDurations(items []string) ([]time.Duration, error) {
	out := make([]time.Duration, len(items))
	for i, s := range items {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("entry %d %q is not a duration such as 30s or 5m", i, s)
		}
		out[i] = d
	}
	return out, nil
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
	if len(c.KafkaBrokers) == 0 {
		bad("HERALD_KAFKA_BROKERS", "is required (host:port, comma-separated)")
	}
	if c.GroupID == "" {
		bad("HERALD_DISPATCHER_GROUP", "is empty")
	}
	if c.RegistryAddr == "" {
		bad("HERALD_REGISTRY_ADDR", "is empty")
	}
	if c.AdminToken == "" {
		bad("HERALD_ADMIN_TOKEN", "is required to follow the registry's WatchConfig stream")
	}
	if _, err := secretbox.ParseKeys(c.SecretKeys); err != nil {
		bad("HERALD_SECRET_KEY", "must hold the registry's key(s) to open webhook secrets: %v", err)
	}
	if len(c.RetryTiers) == 0 {
		bad("HERALD_RETRY_TIERS", "needs at least one tier")
	}
	for i := 1; i < len(c.RetryTiers); i++ {
		if c.RetryTiers[i] <= c.RetryTiers[i-1] {
			bad("HERALD_RETRY_TIERS", "must be strictly increasing")
			break
		}
	}
	if c.Timeout <= 0 || c.Timeout > 5*time.Minute {
		bad("HERALD_DELIVERY_TIMEOUT", "must be between 0 and 5m, got %s", c.Timeout)
	}
	if c.GRPCAddr == "" {
		bad("HERALD_GRPC_ADDR", "is empty")
	}
	if c.CircuitThreshold < 0 {
		bad("HERALD_CIRCUIT_THRESHOLD", "must be 0 (off) or more")
	}
	if c.CircuitThreshold > 0 && c.CircuitCooldown <= 0 {
		bad("HERALD_CIRCUIT_COOLDOWN", "must be positive")
	}
	if c.AutoDisableAfter < 0 {
		bad("HERALD_AUTO_DISABLE_AFTER", "must be 0 (never) or positive")
	}
	if c.MaxInFlight < 1 {
		bad("HERALD_MAX_IN_FLIGHT", "must be at least 1")
	}
	if c.MaxPerEndpoint < 1 {
		bad("HERALD_MAX_PER_ENDPOINT", "must be at least 1")
	}
	if c.ShutdownTimeout <= 0 {
		bad("HERALD_SHUTDOWN_TIMEOUT", "must be positive")
	}
	if c.SessionTimeout < time.Second {
		bad("HERALD_KAFKA_SESSION_TIMEOUT", "must be at least 1s")
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
