// Package kafkaconn is how every Herald service connects to Kafka: the brokers, TLS and SASL
// settings read from HERALD_KAFKA_* variables, turned into the kafka-go Dialer (readers,
// partition connections, probes) and Transport (writers) that carry them.
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

// Security is how to reach the brokers: TLS and SASL. The zero value is plaintext without
// authentication.
type Security struct {
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
}

// Load reads the security settings.
func Load(l *envconfig.Loader, s *Security) {
	l.Bool(&s.TLS, "HERALD_KAFKA_TLS")
	l.String(&s.TLSCAFile, "HERALD_KAFKA_TLS_CA_FILE")
	l.String(&s.SASLMechanism, "HERALD_KAFKA_SASL_MECHANISM")
	l.String(&s.SASLUsername, "HERALD_KAFKA_SASL_USERNAME")
	l.String(&s.SASLPassword, "HERALD_KAFKA_SASL_PASSWORD")
}

// Validate reports every bad setting, named by its variable.
func (s Security) Validate() error {
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
	return errors.Join(errs...)
}

func (s Security) mechanism() (sasl.Mechanism, error) {
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

func (s Security) tlsConfig() (*tls.Config, error) {
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
func (s Security) Dialer() (*kafka.Dialer, error) {
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
func (s Security) Transport() (*kafka.Transport, error) {
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
