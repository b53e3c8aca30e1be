// Package topics names Herald's Kafka topics. The publishers' input topics and Herald's own
// topics can carry a common prefix (HERALD_TOPIC_PREFIX, e.g. "staging.") so that several
// environments share one cluster.
package topics
