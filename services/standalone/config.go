package standalone

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/heraldhq/herald/pkg/envconfig"
	"github.com/heraldhq/herald/pkg/secretbox"
)

// Config is the standalone run's configuration, from HERALD_* variables and flags.
type Config struct {
	// DataDir holds the broker's log, the store's files and the generated admin token and
	// encryption key, so a restart keeps everything (HERALD_DATA_DIR). Default: ".data".
	DataDir string
	// HTTPAddr is the JSON API's address (HERALD_HTTP_ADDR). Default: "127.0.0.1:8080".
	HTTPAddr string
	// GRPCAddr is the gRPC API's address (HERALD_GRPC_ADDR). Default: "127.0.0.1:9090".
	GRPCAddr string
	// KafkaAddr is the embedded broker's listen address, for outside clients such as kcat
	// (HERALD_KAFKA_ADDR). Default: "127.0.0.1:9092".
	KafkaAddr string
	// MongoURI, when set, uses that MongoDB instead of the embedded store (HERALD_MONGODB_URI).
	// Default: "" (embedded).
	MongoURI string
	// AdminToken authenticates operators (HERALD_ADMIN_TOKEN). Default: generated on first start
	// and kept in DataDir/admin-token.
	AdminToken string
	// SecretKey encrypts webhook secrets (HERALD_SECRET_KEY). Default: generated on first start
	// and kept in DataDir/secret-key.
	SecretKey string
	// AllowLoopback lets deliveries go to loopback addresses, for receivers on this machine
	// (HERALD_ALLOW_LOOPBACK). Used by the dispatcher. Default: true here, and only here.
	AllowLoopback bool
}

// Load reads the configuration from lookup over the defaults.
func Load(lookup func(string) (string, bool)) (Config, error) {
	c := Config{DataDir: ".data", HTTPAddr: "127.0.0.1:8080", GRPCAddr: "127.0.0.1:9090", KafkaAddr: "127.0.0.1:9092", AllowLoopback: true}
	l := envconfig.Loader{Lookup: lookup}
	l.String(&c.DataDir, "HERALD_DATA_DIR")
	l.String(&c.HTTPAddr, "HERALD_HTTP_ADDR")
	l.String(&c.GRPCAddr, "HERALD_GRPC_ADDR")
	l.String(&c.KafkaAddr, "HERALD_KAFKA_ADDR")
	l.String(&c.MongoURI, "HERALD_MONGODB_URI")
	l.String(&c.AdminToken, "HERALD_ADMIN_TOKEN")
	l.String(&c.SecretKey, "HERALD_SECRET_KEY")
	l.Bool(&c.AllowLoopback, "HERALD_ALLOW_LOOPBACK")
	return c, l.Err()
}

// fillSecrets reads the admin token and encryption key from DataDir, generating them on the
// first start, unless they were given.
func (c *Config) fillSecrets() error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("HERALD_DATA_DIR: %w", err)
	}
	var err error
	if c.AdminToken == "" {
		c.AdminToken, err = keptSecret(filepath.Join(c.DataDir, "admin-token"), newAdminToken)
		if err != nil {
			return err
		}
	}
	if c.SecretKey == "" {
		c.SecretKey, err = keptSecret(filepath.Join(c.DataDir, "secret-key"), secretbox.NewKey)
	}
	return err
}

func newAdminToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "adm_" + hex.EncodeToString(b)
}

func keptSecret(path string, gen func() string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	v := gen()
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}
