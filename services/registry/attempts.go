package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/pkg/kafkabatch"
	"github.com/heraldhq/herald/pkg/topics"
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
)

const (
	attemptsBatch        = 500              // attempts recorded per write-and-commit round
	maxCachedSubscribers = 100_000          // subscription → subscriber app entries kept
	retentionSweepEvery  = time.Hour        // how often old deliveries and attempts are deleted
	maxWriteBackoff      = 5 * time.Second  // the longest wait between tries of a failed write
	attemptsSession      = 10 * time.Second // how long a dead registry keeps its partitions
)

// outcomeStatus maps an attempt's outcome to the status it gives its delivery.
var outcomeStatus = map[deliveryv1.Outcome]string{
	deliveryv1.Outcome_OUTCOME_DELIVERED: store.DeliveryDelivered,
	deliveryv1.Outcome_OUTCOME_RETRYING:  store.DeliveryRetrying,
	deliveryv1.Outcome_OUTCOME_FAILED:    store.DeliveryFailed,
	deliveryv1.Outcome_OUTCOME_GONE:      store.DeliveryGone,
	deliveryv1.Outcome_OUTCOME_SKIPPED:   store.DeliverySkipped,
}

// goneReason is the status reason of a subscription disabled by a GONE attempt.
func goneReason(a *store.Attempt) string {
	switch {
	case a.StatusCode == 410:
		return "the endpoint answered 410 Gone"
	case a.Error != "":
		return a.Error
	}
	return "the dispatcher found the endpoint gone"
}

// decodeAttempt turns a herald.attempts message into what the store records. The time of an
// attempt without one is the message's; an attempt without a delivery id, a subscription id or
// a known outcome cannot be recorded.
func decodeAttempt(msg kafka.Message) (store.Recorded, error) {
	var att deliveryv1.Attempt
	if err := proto.Unmarshal(msg.Value, &att); err != nil {
		return store.Recorded{}, fmt.Errorf("not a herald.delivery.v1.Attempt: %w", err)
	}
	switch {
	case att.GetDeliveryId() == "":
		return store.Recorded{}, errors.New("delivery_id is empty")
	case att.GetSubscriptionId() == "":
		return store.Recorded{}, errors.New("subscription_id is empty")
	case outcomeStatus[att.GetOutcome()] == "":
		return store.Recorded{}, fmt.Errorf("outcome %v is not one the registry knows", att.GetOutcome())
	}
	at := tsOrZero(att.GetTime())
	if at.IsZero() {
		at = msg.Time
	}
	job := att.GetJob()
	return store.Recorded{
		Attempt: store.Attempt{
			ID:         store.AttemptID(att.GetDeliveryId(), att.GetAttempt(), at),
			DeliveryID: att.GetDeliveryId(), SubscriptionID: att.GetSubscriptionId(), Attempt: att.GetAttempt(),
			Time: at, StatusCode: att.GetStatusCode(), ErrorType: att.GetErrorType(), Error: att.GetError(),
			LatencyMS: att.GetLatencyMs(), ResponseSnippet: att.GetResponseSnippet(),
			Outcome: outcomeStatus[att.GetOutcome()], NextAttemptTime: tsOrZero(att.GetNextAttemptTime()),
			Dispatcher: att.GetDispatcher(),
		},
		Delivery: store.Delivery{
			AppID: job.GetAppId(), EventID: job.GetEventId(), EventName: job.GetEventName(),
			EventType: job.GetEventType(), Topic: job.GetTopic(), Partition: job.GetPartition(),
			Offset: job.GetOffset(), EventTime: tsOrZero(job.GetEventTime()), ResourceURL: job.GetResourceUrl(),
			Body: job.GetBody(), PayloadKey: payloadKey(job), Replay: job.GetReplay(), CreateTime: tsOrZero(job.GetMatchTime()),
		},
	}, nil
}

// payloadKey names the input a job was made from in the payloads collection; "" without one.
func payloadKey(job *deliveryv1.Job) string {
	if job.GetTopic() == "" {
		return ""
	}
	return topics.PayloadKey(job.GetTopic(), job.GetPartition(), job.GetOffset())
}

// decodePayload turns a herald.payloads message into what the store keeps.
func decodePayload(msg kafka.Message) (store.Payload, error) {
	var p deliveryv1.Payload
	if err := proto.Unmarshal(msg.Value, &p); err != nil {
		return store.Payload{}, fmt.Errorf("not a herald.delivery.v1.Payload: %w", err)
	}
	if p.GetTopic() == "" {
		return store.Payload{}, errors.New("topic is empty")
	}
	at := tsOrZero(p.GetMatchTime())
	if at.IsZero() {
		at = msg.Time
	}
	return store.Payload{Key: topics.PayloadKey(p.GetTopic(), p.GetPartition(), p.GetOffset()), Topic: p.GetTopic(),
		Partition: p.GetPartition(), Offset: p.GetOffset(), Body: p.GetBody(), MatchTime: at}, nil
}

// attemptReader is the part of kafka.Reader the ingester uses.
type attemptReader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// ingester records the dispatcher's attempts from herald.attempts into the delivery log and
// disables subscriptions whose endpoint is gone. It reads in batches, writes each batch, and
// only then commits its offsets: a batch whose writes fail is retried, never skipped, so the
// partition waits. Writes are idempotent, so a batch read again (after a crash or a rebalance)
// changes nothing. A message that cannot be decoded is logged, counted and committed past.
type ingester struct {
	r     attemptReader
	api   *API
	batch int
	grace time.Duration // how long a batch in flight may finish after a stop is asked for
	log   *slog.Logger
	m     *ingestMetrics

	subscribers map[string]string // subscription id → subscriber app id; only Run's goroutine
}

func (in *ingester) Name() string { return "attempts-consumer" }

// Run records attempts until ctx ends.
func (in *ingester) Run(ctx context.Context) error {
	if err := kafkabatch.Run(ctx, in.r, in.batch, in.grace, in.log, in.handle); err != nil && ctx.Err() == nil {
		return fmt.Errorf("registry: attempts: %w", err)
	}
	return ctx.Err()
}

// handle records one batch, retrying its writes until they succeed, then commits it.
func (in *ingester) handle(ctx context.Context, batch []kafka.Message) error {
	start := time.Now()
	recs := make([]store.Recorded, 0, len(batch))
	var payloads []store.Payload
	payloadTopic := in.api.names.Topic(topics.Payloads)
	for _, msg := range batch {
		var err error
		if msg.Topic == payloadTopic {
			var p store.Payload
			if p, err = decodePayload(msg); err == nil {
				payloads = append(payloads, p)
			}
		} else {
			var r store.Recorded
			if r, err = decodeAttempt(msg); err == nil {
				recs = append(recs, r)
			}
		}
		if err != nil {
			in.m.invalid.Inc()
			in.log.Warn("registry: skipped a message that cannot be recorded", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "err", err)
		}
	}
	backoff := 100 * time.Millisecond
	for {
		err := in.api.store.RecordPayloads(ctx, payloads)
		if err == nil {
			err = in.record(ctx, recs)
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		in.m.writeErrors.Inc()
		in.log.Warn("registry: recording attempts failed; retrying", "err", err, "attempts", len(recs), "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxWriteBackoff)
	}
	if err := in.r.CommitMessages(ctx, batch...); err != nil {
		// Typically a rebalance took the partitions: their new owner records these attempts
		// again, which changes nothing.
		in.log.Warn("registry: committing attempt offsets failed; the batch will be read again", "err", err, "messages", len(batch))
	}
	in.m.recorded.Add(float64(len(recs)))
	in.m.payloads.Add(float64(len(payloads)))
	in.m.batchSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// record writes recs and acts on the GONE ones. It may be called again with the same recs.
func (in *ingester) record(ctx context.Context, recs []store.Recorded) error {
	if len(recs) == 0 {
		return nil
	}
	if err := in.fillSubscribers(ctx, recs); err != nil {
		return err
	}
	if err := in.api.store.RecordAttempts(ctx, recs); err != nil {
		return err
	}
	// The latest GONE attempt of each subscription disables it.
	gone := map[string]*store.Attempt{}
	var order []string
	for i := range recs {
		a := &recs[i].Attempt
		if a.Outcome != store.DeliveryGone {
			continue
		}
		prev, ok := gone[a.SubscriptionID]
		if !ok {
			order = append(order, a.SubscriptionID)
		}
		if !ok || a.Time.After(prev.Time) {
			gone[a.SubscriptionID] = a
		}
	}
	for _, id := range order {
		a := gone[id]
		changed, err := in.api.disableGone(ctx, id, goneReason(a), a.Time)
		if err != nil {
			return fmt.Errorf("registry: disabling subscription %s: %w", id, err)
		}
		if changed {
			in.m.disabled.Inc()
			in.log.Info("registry: disabled a subscription whose endpoint is gone", "subscription", id, "reason", goneReason(a), "delivery", a.DeliveryID)
		}
	}
	return nil
}

// fillSubscribers sets each delivery's subscriber app from its subscription, looked up once per
// subscription (a subscription's subscriber never changes). A deleted subscription has none.
func (in *ingester) fillSubscribers(ctx context.Context, recs []store.Recorded) error {
	var missing []string
	for i := range recs {
		id := recs[i].Attempt.SubscriptionID
		if _, ok := in.subscribers[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		found, err := in.api.store.SubscriberApps(ctx, missing)
		if err != nil {
			return fmt.Errorf("registry: looking up subscribers: %w", err)
		}
		if len(in.subscribers)+len(found) > maxCachedSubscribers {
			in.subscribers = map[string]string{}
		}
		for _, id := range missing {
			in.subscribers[id] = found[id] // "" for a deleted subscription: no need to ask again
		}
	}
	for i := range recs {
		recs[i].Delivery.SubscriberAppID = in.subscribers[recs[i].Attempt.SubscriptionID]
	}
	return nil
}

// sweeper deletes deliveries and attempts older than the retention, at start and then hourly.
// FerretDB has no TTL indexes, so expiry is this explicit sweep; every replica sweeps, which
// is harmless.
type sweeper struct {
	st        *store.Store
	retention time.Duration
	log       *slog.Logger
	m         *ingestMetrics
}

func (s *sweeper) Name() string { return "delivery-retention" }

func (s *sweeper) Run(ctx context.Context) error {
	for {
		nd, na, err := s.st.SweepDeliveries(ctx, time.Now().Add(-s.retention))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("registry: sweeping old deliveries failed; trying again later", "err", err)
		}
		s.m.swept.WithLabelValues("deliveries").Add(float64(nd))
		s.m.swept.WithLabelValues("attempts").Add(float64(na))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retentionSweepEvery):
		}
	}
}

type ingestMetrics struct {
	recorded     prometheus.Counter
	payloads     prometheus.Counter
	invalid      prometheus.Counter
	writeErrors  prometheus.Counter
	disabled     prometheus.Counter
	swept        *prometheus.CounterVec
	batchSeconds prometheus.Histogram
}

func newIngestMetrics(reg prometheus.Registerer) *ingestMetrics {
	m := &ingestMetrics{
		recorded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_registry_attempts_recorded_total", Help: "Delivery attempts read from herald.attempts and recorded.",
		}),
		payloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_registry_payloads_recorded_total", Help: "Event bodies read from herald.payloads and recorded (once for all of an event's deliveries).",
		}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_registry_attempts_invalid_total", Help: "Messages on herald.attempts or herald.payloads that could not be decoded or recorded, and were skipped.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_registry_attempts_write_errors_total", Help: "Failed tries to record a batch of attempts (each is retried).",
		}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_registry_subscriptions_disabled_total", Help: "Subscriptions disabled because their endpoint is gone.",
		}),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_registry_delivery_log_swept_total", Help: "Deliveries and attempts deleted by the retention sweep.",
		}, []string{"collection"}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_registry_attempts_batch_seconds", Help: "Time to record and commit one batch of attempts.",
			Buckets: prometheus.DefBuckets,
		}),
	}
	reg.MustRegister(m.recorded, m.payloads, m.invalid, m.writeErrors, m.disabled, m.swept, m.batchSeconds)
	return m
}
