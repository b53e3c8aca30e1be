// Package testenv gives integration tests the addresses of the Kafka-protocol broker and the
// MongoDB-protocol store they run against.
//
// Tests never start those servers themselves: `make test` starts the stand-ins (see
// services/standalone/cmd/herald-standin) and exports their addresses, and the same suites run
// unchanged against real Kafka and MongoDB by setting the variables by hand:
//
//	HERALD_TEST_MONGODB_URI   mongodb://127.0.0.1:27017/
//	HERALD_TEST_KAFKA_BROKERS 127.0.0.1:9092
//
// A test whose variable is unset is skipped with a message saying how to run it.
package testenv
