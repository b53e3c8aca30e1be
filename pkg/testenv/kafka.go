package testenv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// CreateTopics creates topics with partitions partitions each on the broker under test.
func CreateTopics(t testing.TB, brokers []string, partitions int, names ...string) {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfgs := make([]kafka.TopicConfig, len(names))
	for i, n := range names {
		cfgs[i] = kafka.TopicConfig{Topic: n, NumPartitions: partitions, ReplicationFactor: 1}
	}
	if err := conn.CreateTopics(cfgs...); err != nil {
		t.Fatal(err)
	}
}

// Produce writes msgs to topic with acks from all replicas: keyed messages by key hash, others
// round robin. A topic just created can answer UnknownTopicOrPartition for a moment, so
// failures are retried for up to 20 seconds.
func Produce(t testing.TB, brokers []string, topic string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = w.WriteMessages(context.Background(), msgs...); err == nil {
			return
		}
	}
	t.Fatal(err)
}

// Drain reads every partition of topic from its start to its end at the time of the call, so
// a test can assert on everything produced before it asked.
func Drain(t testing.TB, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ends, err := endOffsets(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for part, last := range ends {
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: part, MaxWait: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				cancel()
				r.Close()
				t.Fatalf("reading %s[%d]: %v", topic, part, err)
			}
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		cancel()
		r.Close()
	}
	return out
}

// Count returns how many messages topic holds (the sum of its partitions' end offsets).
func Count(t testing.TB, brokers []string, topic string) int64 {
	t.Helper()
	ends, err := endOffsets(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ends {
		n += e
	}
	return n
}

func endOffsets(brokers []string, topic string) (map[int]int64, error) {
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		return nil, err
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return nil, err
	}
	ends := make(map[int]int64, len(parts))
	for _, p := range parts {
		pc, err := kafka.DialLeader(context.Background(), "tcp", brokers[0], topic, p.ID)
		if err != nil {
			return nil, err
		}
		last, err := pc.ReadLastOffset()
		pc.Close()
		if err != nil {
			return nil, err
		}
		ends[p.ID] = last
	}
	if len(ends) == 0 {
		return nil, errors.New("testenv: topic " + topic + " has no partitions")
	}
	return ends, nil
}

// Eventually polls cond every 20ms until it holds, and fails the test after timeout. It is for
// waiting on asynchronous work, never for asserting how fast it is.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %s waiting until %s", timeout, strings.TrimSpace(what))
}
