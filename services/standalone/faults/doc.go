// Package faults is Herald's fault-injection suite (`make test-faults`). Each scenario runs the
// real services as separate processes (registry, matcher, dispatcher built from their cmd/
// mains) against the Kafka-protocol broker and MongoDB-protocol store by address, with a
// loopback receiver in the test that counts deliveries by webhook-id, and then breaks
// something: SIGKILL, a stopped registry, malformed input. The tests carry the build tag
// `faults` so that `make test` stays quick.
package faults
