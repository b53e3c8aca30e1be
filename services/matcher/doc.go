// Package matcher is Herald's matcher service: a Kafka consumer group over the publishers'
// topics (participant, entity, container) that turns each event into delivery jobs on
// herald.deliveries, one per subscription that may see it and wants it.
//
// Configuration arrives from the registry's WatchConfig stream (watch.go) and is compiled into
// an immutable Index (index.go), swapped atomically on every change; while the registry is
// unreachable the last index keeps matching. Each input message is decoded once, looked up by
// (topic, eventType), and every candidate event's compiled filterLogic is evaluated on the
// parsed tree (match.go), so the cost of a message does not grow with registered events that
// cannot match it. Input offsets are committed only after Kafka has acknowledged every job the
// batch produced (consumer.go). A message that cannot be matched goes to herald.invalid with
// its reason in the `herald-reason` header, and the partition moves on.
package matcher
