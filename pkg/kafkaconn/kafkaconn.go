// Package kafkaconn is how every Herald service connects to Kafka: the TLS, SASL and compression
// settings read from HERALD_KAFKA_* variables, turned into the kafka-go Dialer (readers,
// partition connections, probes), Transport (writers) and codec (what the writers produce).
package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/pkg/envconfig"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Settings are how to reach the brokers (TLS and SASL) and how to write to them (compression).
// The zero value is plaintext without authentication, producing LZ4-compressed batches.
type Settings struct {
	// TLS encrypts connections (HERALD_KAFKA_TLS). Default: false.
	TLS bool
	// TLSCAFile is a PEM bundle of the CAs that sign the brokers' certificates, instead of the
	// system's (HERALD_KAFKA_TLS_CA_FILE). Default: "" (system roots).
	TLSCAFile string
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty turns SASL off
	// (HERALD_KAFKA_SASL_MECHANISM). Default: "".
	SASLMechanism string
	// SASLUsername and SASLPassword authenticate (HERALD_KAFKA_SASL_USERNAME,
	// HERALD_KAFKA_SASL_PASSWORD). Default: "".
	SASLUsername, SASLPassword string
	// Compression is the codec of every batch the services produce: none, gzip, snappy, lz4 or
	// zstd (HERALD_KAFKA_COMPRESSION). Default: "" (lz4). Consumers read any codec, whatever
	// this says, so it can differ between services and change in a rolling upgrade.
	Compression string
}

// DefaultCompression is the codec when HERALD_KAFKA_COMPRESSION is empty. A delivery job carries
// its event's body and the jobs of one event that share a partition batch repeat it, so batches
// of jobs compress well: the broker stores and serves, and the services send and read, a fraction
// of the bytes, for a little CPU in the services (`make bench`: the stand-in broker's CPU per
// delivery about halved; by CPU against the baseline 0.47 uncompressed, 0.50 with LZ4; README,
// Performance).
const DefaultCompression = "lz4"

var codecs = map[string]kafka.Compression{"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd}

// Load reads the settings.
func Load(l *envconfig.Loader, s *Settings) {
	l.Bool(&s.TLS, "HERALD_KAFKA_TLS")
	l.String(&s.TLSCAFile, "HERALD_KAFKA_TLS_CA_FILE")
	l.String(&s.SASLMechanism, "HERALD_KAFKA_SASL_MECHANISM")
	l.String(&s.SASLUsername, "HERALD_KAFKA_SASL_USERNAME")
	l.String(&s.SASLPassword, "HERALD_KAFKA_SASL_PASSWORD")
	l.String(&s.Compression, "HERALD_KAFKA_COMPRESSION")
}

// Validate reports every bad setting, named by its variable.
func (s Settings) Validate() error {
	var errs []error
	if _, err := s.mechanism(); err != nil {
		errs = append(errs, err)
	}
	if s.SASLMechanism != "" && (s.SASLUsername == "" || s.SASLPassword == "") {
		errs = append(errs, errors.New("HERALD_KAFKA_SASL_USERNAME and HERALD_KAFKA_SASL_PASSWORD: required with HERALD_KAFKA_SASL_MECHANISM"))
	}
	if s.TLSCAFile != "" {
		if _, err := s.tlsConfig(); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := s.codec(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Codec is the compression for the services' kafka.Writers (0 is none). Validate reports a bad
// setting; Codec then falls back to the default.
func (s Settings) Codec() kafka.Compression {
	c, err := s.codec()
	if err != nil {
		return codecs[DefaultCompression]
	}
	return c
}

func (s Settings) codec() (kafka.Compression, error) {
	name := strings.ToLower(strings.TrimSpace(s.Compression))
	if name == "" {
		name = DefaultCompression
	}
	c, ok := codecs[name]
	if !ok {
		return 0, fmt.Errorf("HERALD_KAFKA_COMPRESSION: must be none, gzip, snappy, lz4 or zstd, got %q", s.Compression)
	}
	return c, nil
}

func (s Settings) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(s.SASLMechanism) {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: s.SASLUsername, Password: s.SASLPassword}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, s.SASLUsername, s.SASLPassword)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, s.SASLUsername, s.SASLPassword)
	}
	return nil, fmt.Errorf("HERALD_KAFKA_SASL_MECHANISM: must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", s.SASLMechanism)
}

func (s Settings) tlsConfig() (*tls.Config, error) {
	if !s.TLS && s.TLSCAFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLSCAFile != "" {
		pem, err := os.ReadFile(s.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("HERALD_KAFKA_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("HERALD_KAFKA_TLS_CA_FILE: %s holds no PEM certificate", s.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Dialer returns the dialer for readers, partition connections and probes.
func (s Settings) Dialer() (*kafka.Dialer, error) {
	mech, err := s.mechanism()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: tlsCfg, SASLMechanism: mech}, nil
}

// Transport returns the transport for writers.
func (s Settings) Transport() (*kafka.Transport, error) {
	mech, err := s.mechanism()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{DialTimeout: 10 * time.Second, TLS: tlsCfg, SASL: mech}, nil
}
