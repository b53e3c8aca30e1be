package topics

// Logical input topics: what publishers write and what the API calls a topic.
var Inputs = []string{"participant", "entity", "container"}

// Herald's own topics, before the prefix.
const (
	Deliveries = "herald.deliveries"
	Invalid    = "herald.invalid"
	Attempts   = "herald.attempts"
	Dead       = "herald.dead"
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
