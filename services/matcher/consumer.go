package matcher

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/pkg/kafkabatch"
	"github.com/heraldhq/herald/pkg/topics"
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
)

// Headers Herald adds to a quarantined message on herald.invalid.
const (
	HeaderReason          = "herald-reason"
	HeaderSourceTopic     = "herald-source-topic"
	HeaderSourcePartition = "herald-source-partition"
	HeaderSourceOffset    = "herald-source-offset"
	HeaderDeliveryID      = "herald-delivery-id"
	// HeaderTruncated carries the original size of a quarantined value that was cut to
	// maxQuarantineBytes; the source headers still point at the whole message.
	HeaderTruncated = "herald-truncated"
)

// maxQuarantineBytes bounds the copy of a message on herald.invalid, so that a large bad
// message plus Herald's headers still fits in one Kafka batch.
const maxQuarantineBytes = 512 << 10

// reader is the part of kafka.Reader the consumer uses.
type reader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// writer is the part of kafka.Writer the consumer uses.
type writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// consumer reads input messages in batches, matches them, produces the jobs and quarantined
// messages, and only then commits the batch's offsets.
type consumer struct {
	r       reader
	w       writer
	rules   Rules
	index   func() *Index
	names   topics.Names
	batch   int
	grace   time.Duration // how long a batch in flight may finish after a stop is asked for
	log     *slog.Logger
	m       *metrics
	handled atomic.Int64
}

func (c *consumer) Name() string { return "kafka-consumer" }

// Run consumes until ctx ends. A batch whose jobs cannot be produced is retried, never skipped:
// the partition waits, and back-pressure reaches Kafka because nothing more is fetched.
func (c *consumer) Run(ctx context.Context) error {
	if err := kafkabatch.Run(ctx, c.r, c.batch, c.grace, c.log, c.handle); err != nil && ctx.Err() == nil {
		return fmt.Errorf("matcher: %w", err)
	}
	return ctx.Err()
}

// handle matches one batch, produces its output and commits it.
func (c *consumer) handle(ctx context.Context, batch []kafka.Message) error {
	start := time.Now()
	idx := c.index()
	// Matched first, then written out into one slice of the exact size: appending message by
	// message copied the batch's growing output (~25,000 messages for 500 events of 50 jobs)
	// over and over.
	results := make([]Result, len(batch))
	n := 0
	for i, msg := range batch {
		results[i] = c.match(idx, msg, start)
		n += outputs(results[i])
	}
	out := make([]kafka.Message, 0, n)
	for i, msg := range batch {
		out = c.appendOutput(out, msg, results[i])
	}
	if err := c.produce(ctx, out); err != nil {
		return err
	}
	if err := c.r.CommitMessages(ctx, batch...); err != nil {
		// Typically a rebalance took the partitions: their new owner reads these messages
		// again and makes the same delivery ids, so this is a duplicate, not a loss.
		c.log.Warn("matcher: committing offsets failed; the batch will be read again", "err", err, "messages", len(batch))
	}
	c.handled.Add(int64(len(batch)))
	c.m.batchSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// match matches one input message and counts the outcome.
func (c *consumer) match(idx *Index, msg kafka.Message, now time.Time) Result {
	logical, _ := c.names.Logical(msg.Topic)
	c.m.consumed.WithLabelValues(logical).Inc()
	c.m.lag.WithLabelValues(logical, strconv.Itoa(msg.Partition)).Set(float64(max(msg.HighWaterMark-msg.Offset-1, 0)))
	res := c.rules.Match(idx, inputOf(logical, msg), now)
	c.m.matched.Add(float64(res.Matched))
	c.m.filtered.Add(float64(res.Filtered))
	return res
}

// outputs is how many Kafka messages appendOutput makes of res.
func outputs(res Result) int {
	n := len(res.Jobs)
	if n > 0 {
		n++ // the payload record
	}
	if res.Invalid != "" {
		n++ // the quarantined input
	}
	return n
}

// appendOutput appends the Kafka messages that msg's matching result res makes: its jobs, the
// payload record, and the quarantined input when some of its matching failed.
func (c *consumer) appendOutput(out []kafka.Message, msg kafka.Message, res Result) []kafka.Message {
	for _, job := range res.Jobs {
		out = append(out, c.jobMessage(job))
	}
	if len(res.Jobs) > 0 {
		out = append(out, c.payloadMessage(res.Jobs[0]))
	}
	if res.Invalid != "" {
		c.m.invalid.Inc()
		c.log.Warn("matcher: quarantined a message", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "reason", res.Invalid)
		q := kafka.Message{
			Topic: c.names.Topic(topics.Invalid),
			Key:   msg.Key,
			Value: msg.Value,
			Headers: append(append([]kafka.Header{}, msg.Headers...),
				kafka.Header{Key: HeaderReason, Value: []byte(res.Invalid)},
				kafka.Header{Key: HeaderSourceTopic, Value: []byte(msg.Topic)},
				kafka.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(msg.Partition))},
				kafka.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(msg.Offset, 10))},
			),
		}
		if len(q.Value) > maxQuarantineBytes {
			q.Headers = append(q.Headers, kafka.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(q.Value)))})
			q.Value = q.Value[:maxQuarantineBytes]
		}
		out = append(out, q)
	}
	return out
}

// inputOf is a fetched message as the matching rules see it.
func inputOf(logical string, msg kafka.Message) Input {
	headers := make(map[string]string, len(msg.Headers))
	for _, h := range msg.Headers {
		headers[h.Key] = string(h.Value)
	}
	return Input{Topic: logical, Partition: msg.Partition, Offset: msg.Offset, Time: msg.Time, Value: msg.Value, Headers: headers}
}

// jobMessage is a job as produced to herald.deliveries, keyed by its subscription.
func (c *consumer) jobMessage(job *deliveryv1.Job) kafka.Message {
	value, _ := proto.Marshal(job) // a Job always marshals
	return kafka.Message{
		Topic:   c.names.Topic(topics.Deliveries),
		Key:     []byte(job.GetSubscriptionId()),
		Value:   value,
		Headers: []kafka.Header{{Key: HeaderDeliveryID, Value: []byte(job.GetDeliveryId())}},
	}
}

// payloadMessage records the body of the input that job was made from, once for all of its
// jobs, on herald.payloads: attempt records then go without it.
func (c *consumer) payloadMessage(job *deliveryv1.Job) kafka.Message {
	value, _ := proto.Marshal(&deliveryv1.Payload{
		Topic: job.GetTopic(), Partition: job.GetPartition(), Offset: job.GetOffset(),
		Body: job.GetBody(), MatchTime: job.GetMatchTime(),
	})
	return kafka.Message{
		Topic: c.names.Topic(topics.Payloads),
		Key:   []byte(topics.PayloadKey(job.GetTopic(), job.GetPartition(), job.GetOffset())),
		Value: value,
	}
}

// produce writes msgs until Kafka has acknowledged all of them, retrying what failed.
func (c *consumer) produce(ctx context.Context, msgs []kafka.Message) error {
	jobs := 0
	for _, m := range msgs {
		if m.Topic == c.names.Topic(topics.Deliveries) {
			jobs++
		}
	}
	err := kafkabatch.WriteAll(ctx, c.w, msgs, func(err error, left int, wait time.Duration) {
		c.log.Warn("matcher: producing jobs failed; retrying", "err", err, "messages", left, "retry_in", wait)
	})
	if err != nil {
		return err
	}
	c.m.jobs.Add(float64(jobs))
	return nil
}
