// Package dispatcher is Herald's dispatcher service: a Kafka consumer group on
// herald.deliveries and the retry tiers that signs each job and POSTs it to the subscriber.
//
// Every attempt is recorded on herald.attempts. A failed attempt schedules the next one on the
// retry tier whose delay fits (herald.retry.<delay>), so nothing waiting for a retry lives only
// in memory; after the last try the job goes to herald.dead. An input offset is committed only
// once the attempt, and the retry or dead letter it led to, are acknowledged by Kafka, and
// offsets are committed in order per partition although jobs run concurrently. Subscriptions,
// their URLs and their (encrypted) secrets come from the registry's WatchConfig stream.
// Connections go through the SSRF guard (pkg/ssrf), which refuses private, loopback and
// link-local addresses after DNS resolution unless an allow-list admits them.
package dispatcher
