package topics

import "strconv"

// Logical input topics: what publishers write and what the API calls a topic.
var Inputs = []string{"participant", "entity", "container"}

// Herald's own topics, before the prefix.
const (
	Deliveries = "herald.deliveries"
	Invalid    = "herald.invalid"
	Attempts   = "herald.attempts"
	Dead       = "herald.dead"
	// Payloads carries the body of each input message that matched, once, from the matchers to
	// the registry (key = topic/partition/offset).
	Payloads = "herald.payloads"
	// Replays carries replay requests from the registry to the matchers (key = replay id).
	Replays = "herald.replays"
	// RetryPrefix starts the retry tier topics: herald.retry.1m, herald.retry.5m, …
	RetryPrefix = "herald.retry."
)

// Names resolves logical names to Kafka topic names under one prefix.
type Names struct {
	Prefix string
}

// Topic returns the Kafka topic of a logical name.
func (n Names) Topic(logical string) string { return n.Prefix + logical }

// InputTopics returns the Kafka topics of the input topics, in the order of Inputs.
func (n Names) InputTopics() []string {
	out := make([]string, len(Inputs))
	for i, t := range Inputs {
		out[i] = n.Prefix + t
	}
	return out
}

// Logical maps a Kafka topic back to its logical name; ok is false for a topic without the prefix.
func (n Names) Logical(kafkaTopic string) (string, bool) {
	if len(kafkaTopic) < len(n.Prefix) || kafkaTopic[:len(n.Prefix)] != n.Prefix {
		return "", false
	}
	return kafkaTopic[len(n.Prefix):], true
}

// PayloadKey names an input message on herald.payloads and in the registry's delivery log:
// "<logical topic>/<partition>/<offset>".
func PayloadKey(topic string, partition int32, offset int64) string {
	return topic + "/" + strconv.FormatInt(int64(partition), 10) + "/" + strconv.FormatInt(offset, 10)
}
