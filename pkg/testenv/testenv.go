package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// Variables naming the servers under test.
const (
	MongoURIVar     = "HERALD_TEST_MONGODB_URI"
	KafkaBrokersVar = "HERALD_TEST_KAFKA_BROKERS"
)

// MongoURI returns the MongoDB URI to test against, or skips the test when none is set.
func MongoURI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv(MongoURIVar)
	if uri == "" {
		t.Skipf("%s is not set: run `make test`, or set it to a MongoDB (or FerretDB) URI", MongoURIVar)
	}
	return uri
}

// KafkaBrokers returns the Kafka bootstrap addresses to test against, or skips the test.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	v := os.Getenv(KafkaBrokersVar)
	if v == "" {
		t.Skipf("%s is not set: run `make test`, or set it to Kafka bootstrap addresses", KafkaBrokersVar)
	}
	return strings.Split(v, ",")
}

// UniqueName returns prefix followed by random hex, for a database or topic of one test.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
