package kafkaconn_test

import (
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/heraldhq/herald/pkg/envconfig"
	"github.com/heraldhq/herald/pkg/kafkaconn"
)

func load(env map[string]string) kafkaconn.Settings {
	l := envconfig.Loader{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	var s kafkaconn.Settings
	kafkaconn.Load(&l, &s)
	return s
}

func TestValidateNamesTheBadSetting(t *testing.T) {
	for env, want := range map[string]string{
		"HERALD_KAFKA_SASL_MECHANISM=GSSAPI":    "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
		"HERALD_KAFKA_SASL_MECHANISM=PLAIN":     "HERALD_KAFKA_SASL_USERNAME",
		"HERALD_KAFKA_TLS_CA_FILE=/nonexistent": "HERALD_KAFKA_TLS_CA_FILE",
		"HERALD_KAFKA_COMPRESSION=brotli":       "HERALD_KAFKA_COMPRESSION: must be none, gzip, snappy, lz4 or zstd",
	} {
		k, v, _ := strings.Cut(env, "=")
		err := load(map[string]string{k: v}).Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", env, err, want)
		}
	}
	good := load(map[string]string{"HERALD_KAFKA_TLS": "true", "HERALD_KAFKA_SASL_MECHANISM": "scram-sha-512",
		"HERALD_KAFKA_SASL_USERNAME": "u", "HERALD_KAFKA_SASL_PASSWORD": "p"})
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := good.Dialer()
	if err != nil || d.TLS == nil || d.SASLMechanism == nil || d.SASLMechanism.Name() != "SCRAM-SHA-512" {
		t.Fatalf("dialer %+v, %v", d, err)
	}
	tr, err := good.Transport()
	if err != nil || tr.TLS == nil || tr.SASL == nil {
		t.Fatalf("transport %+v, %v", tr, err)
	}
	if d, _ := (kafkaconn.Settings{}).Dialer(); d.TLS != nil || d.SASLMechanism != nil {
		t.Fatal("the zero value is not plaintext without SASL")
	}
}

func TestCodec(t *testing.T) {
	for setting, want := range map[string]kafka.Compression{
		"": kafka.Lz4, "lz4": kafka.Lz4, "none": 0, " ZSTD ": kafka.Zstd, "snappy": kafka.Snappy, "gzip": kafka.Gzip,
	} {
		s := load(map[string]string{"HERALD_KAFKA_COMPRESSION": setting})
		if err := s.Validate(); err != nil {
			t.Errorf("%q: %v", setting, err)
		}
		if got := s.Codec(); got != want {
			t.Errorf("%q: codec %v, want %v", setting, got, want)
		}
	}
	if got := (kafkaconn.Settings{}).Codec(); got != kafka.Lz4 {
		t.Errorf("the zero value's codec is %v, want lz4", got)
	}
	if got := (kafkaconn.Settings{Compression: "brotli"}).Codec(); got != kafka.Lz4 {
		t.Errorf("a bad setting (which Validate reports) falls back to %v, want lz4", got)
	}
}
