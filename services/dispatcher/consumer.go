package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/pkg/kafkabatch"
	"github.com/heraldhq/herald/pkg/topics"
	"github.com/heraldhq/herald/pkg/worker"
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Headers on herald.dead messages.
const (
	HeaderDeadReason = "herald-dead-reason"
)

// pausedRecheck is how long a job for a paused subscription waits on a retry tier before it is
// looked at again; an ordered subscription's job waits in place instead (keeping its place in
// line) and looks again every orderedRecheck.
const (
	pausedRecheck  = 30 * time.Second
	orderedRecheck = time.Second
)

// reader is the part of kafka.Reader the dispatcher uses.
type reader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// writer is the part of kafka.Writer the dispatcher uses.
type writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// engine delivers jobs. It is shared by the consumers of herald.deliveries and of each retry
// tier: all of them draw on one bound of work in flight and one sender.
type engine struct {
	view     *view
	send     *sender
	w        writer
	names    topics.Names
	schedule []time.Duration
	tiers    []time.Duration
	instance string
	log      *slog.Logger
	m        *metrics
	grace    time.Duration

	circuits  *circuits
	failing   *failing
	parts     *partitions
	pool      *pool     // one worker per delivery in flight: the back-pressure bound
	rec       *recorder // makes outcomes durable, in batches
	endpoints sync.Map  // host:port -> chan struct{}, the per-endpoint bound
	perHost   int

	orderMu   sync.Mutex
	orderTail map[string]chan struct{} // ordered subscriptions: the previous job's done signal

	delivered atomic.Int64
}

// consumer feeds one topic's messages to the engine and commits them in order.
type consumer struct {
	name string
	r    reader
	e    *engine
	tier bool // a retry tier: wait for each job's not_before before starting it
	// maxPending bounds fetched messages not yet committed past (Default: 4 × in-flight).
	maxPending int
	// span is the longest a job may hold the tier's head (the next tier's delay, or this tier's
	// own for the last): one due later hops back onto the tier, so it blocks no one for long.
	span time.Duration
	offs *offsets

	commitMu sync.Mutex
	toCommit map[partKey]kafka.Message
}

func (c *consumer) Name() string { return c.name }

// Run fetches until ctx ends. Fetching waits while every worker is busy (back-pressure) and
// while this consumer holds maxPending uncommitted messages.
func (c *consumer) Run(ctx context.Context) error {
	c.offs, c.toCommit = newOffsets(), map[partKey]kafka.Message{}
	var wg sync.WaitGroup
	commitDone := make(chan struct{})
	go func() { defer close(commitDone); c.commitLoop(ctx) }()
	// Deliveries in flight when ctx ends may finish within the grace period.
	hctx, finished := worker.Finishing(ctx, c.e.grace)
	defer func() {
		wg.Wait()
		finished()
		c.flush(context.Background())
		<-commitDone
	}()
	for {
		msg, err := kafkabatch.Fetch(ctx, c.r, c.e.log, "dispatcher "+c.name)
		if err != nil {
			return err
		}
		c.e.parts.fetched(msg.Topic, msg.Partition, msg.Offset, msg.HighWaterMark, time.Now())
		job := &deliveryv1.Job{}
		if err := decodeJob(msg.Value, job); err != nil || job.GetDeliveryId() == "" || job.GetSubscriptionId() == "" {
			c.deadLetterMalformed(ctx, msg, err)
			continue
		}
		if c.tier {
			due := job.GetNotBefore().AsTime()
			if limit := msg.Time.Add(c.span); c.span > 0 && due.After(limit) {
				if err := sleepUntil(ctx, limit); err != nil {
					return err
				}
				hop := kafka.Message{Topic: msg.Topic, Key: msg.Key, Value: msg.Value, Headers: msg.Headers}
				if err := c.e.produce(ctx, []kafka.Message{hop}); err != nil {
					return err
				}
				c.offs.add(msg)
				c.finish(msg)
				continue
			}
			if err := sleepUntil(ctx, due); err != nil {
				return err
			}
		}
		// Back-pressure: fetch no further while this consumer holds too much unfinished work
		// (which also bounds what waits behind an ordered subscription's failing head).
		for c.offs.pending() >= c.maxPending {
			if err := sleepUntil(ctx, time.Now().Add(5*time.Millisecond)); err != nil {
				return err
			}
		}
		c.offs.add(msg)
		prev, done := c.e.orderSlot(job)
		wg.Add(1)
		if done == nil {
			// The common case: a worker attempts it, the recorder makes the outcome durable,
			// and then it may be committed.
			if !c.e.pool.run(ctx, func() { c.deliver(hctx, msg, job, wg.Done) }) {
				wg.Done()
				return ctx.Err()
			}
			continue
		}
		go func() {
			defer wg.Done()
			c.deliverOrdered(hctx, msg, job, prev, done)
		}()
	}
}

// deliver runs on a worker: one attempt, whose outcome goes to the recorder. release is called
// once the outcome is durable (and the message finished) or cannot be made so.
func (c *consumer) deliver(ctx context.Context, msg kafka.Message, job *deliveryv1.Job, release func()) {
	st := c.e.attempt(ctx, job, false)
	if st.stop {
		release() // stopping: the job is not committed and will be delivered again
		return
	}
	c.e.rec.submit(st.msgs, func(err error) {
		if err == nil {
			c.e.settled(st)
			c.finish(msg)
		}
		release()
	})
}

// deliverOrdered delivers a job of an ordered subscription after the one before it: it retries
// in place, holding back the jobs behind it, and waits in place while the subscription may not
// send. A worker is taken for each attempt only, never while waiting.
func (c *consumer) deliverOrdered(ctx context.Context, msg kafka.Message, job *deliveryv1.Job, prev, done chan struct{}) {
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return
		}
	}
	for {
		var st step
		if !c.e.pool.call(ctx, func() { st = c.e.attempt(ctx, job, true) }) || st.stop {
			return // stopping: this job and those behind it are delivered again
		}
		if st.wait {
			if sleepUntil(ctx, time.Now().Add(orderedRecheck)) != nil {
				return
			}
			continue
		}
		if c.e.rec.write(st.msgs) != nil {
			if ctx.Err() == nil {
				// It can never be written (too large): it stays uncommitted, as the partition's
				// commit point does, but the jobs behind it are not held back for it.
				c.e.orderDone(job, done)
			}
			return
		}
		c.e.settled(st)
		if st.next == nil {
			c.e.orderDone(job, done)
			c.finish(msg)
			return
		}
		if sleepUntil(ctx, st.d.next) != nil {
			return
		}
		job = st.next
	}
}

// finish marks msg done and queues the partition's new commit point.
func (c *consumer) finish(msg kafka.Message) {
	if m, ok := c.offs.finish(msg); ok {
		c.commitMu.Lock()
		c.toCommit[partKey{m.Topic, m.Partition}] = m
		c.commitMu.Unlock()
	}
}

// commitLoop commits the latest commit point of each partition every 100ms: one request for
// many deliveries.
func (c *consumer) commitLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.flush(ctx)
		}
	}
}

func (c *consumer) flush(ctx context.Context) {
	c.commitMu.Lock()
	msgs := make([]kafka.Message, 0, len(c.toCommit))
	for k, m := range c.toCommit {
		msgs = append(msgs, m)
		delete(c.toCommit, k)
	}
	c.commitMu.Unlock()
	if len(msgs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := c.r.CommitMessages(cctx, msgs...); err != nil {
		// A rebalance took the partition: its new owner redelivers from the last commit, with the
		// same webhook-id, so this is a duplicate, not a loss.
		c.e.log.Warn("dispatcher: commit failed; the new owner will redeliver", "topic", c.name, "err", err)
	}
}

// deadLetterMalformed moves a message that is not a Job to herald.dead, then commits past it.
func (c *consumer) deadLetterMalformed(ctx context.Context, msg kafka.Message, err error) {
	reason := "not a herald.delivery.v1.Job"
	if err != nil {
		reason += ": " + err.Error()
	}
	c.e.log.Error("dispatcher: malformed job", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "reason", reason)
	dead := kafka.Message{Topic: c.e.names.Topic(topics.Dead), Key: msg.Key, Value: msg.Value,
		Headers: append(append([]kafka.Header{}, msg.Headers...), kafka.Header{Key: HeaderDeadReason, Value: []byte(reason)})}
	if c.e.produce(ctx, []kafka.Message{dead}) == nil {
		c.offs.add(msg)
		c.finish(msg)
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// orderSlot chains jobs of an ordered subscription: each waits for the previous one (FIFO by
// fetch order, which is offset order within the subscription's partition).
func (e *engine) orderSlot(job *deliveryv1.Job) (prev, done chan struct{}) {
	sub := e.view.get(job.GetSubscriptionId())
	if sub == nil || !sub.options.GetOrdered() {
		return nil, nil
	}
	e.orderMu.Lock()
	defer e.orderMu.Unlock()
	prev, done = e.orderTail[sub.id], make(chan struct{})
	e.orderTail[sub.id] = done
	return prev, done
}

func (e *engine) orderDone(job *deliveryv1.Job, done chan struct{}) {
	if done == nil {
		return
	}
	close(done)
	e.orderMu.Lock()
	defer e.orderMu.Unlock()
	if e.orderTail[job.GetSubscriptionId()] == done {
		delete(e.orderTail, job.GetSubscriptionId())
	}
}

// step is what one look at a job came to: the messages that make it durable (the attempt
// record and the retry or dead letter it leads to, or the job put back on a retry tier), or
// that it must wait in place, or nothing at all because the dispatcher is stopping.
type step struct {
	msgs []kafka.Message
	att  *deliveryv1.Attempt // nil when nothing was attempted
	d    decision
	wait bool            // an ordered subscription that may not send now: look again in place
	stop bool            // ctx ended before an answer: the job is not committed
	next *deliveryv1.Job // an ordered subscription's retry, in place, due at d.next
}

// attempt looks at job once: it sends it when its subscription may receive it, and decides
// what follows. Nothing is written here; the step's messages are.
func (e *engine) attempt(ctx context.Context, job *deliveryv1.Job, ordered bool) step {
	sub := e.view.get(job.GetSubscriptionId())
	now := time.Now()
	switch {
	case sub == nil && !e.view.current(job.GetConfigVersion()):
		// Matched with a newer configuration than this dispatcher has: a subscription just
		// created. Not a loss, not an attempt: the job waits and is looked at again.
		return step{msgs: []kafka.Message{e.holdMessage(job, now)}}
	case sub == nil || sub.status == "disabled":
		reason := "the subscription was deleted"
		if sub != nil {
			reason = "the subscription is disabled"
		}
		return e.outcome(job, result{errType: "skipped", err: errors.New(reason)}, decision{outcome: deliveryv1.Outcome_OUTCOME_SKIPPED}, now, ordered)
	case sub.status == "paused" || sub.status == "unverified" || sub.key == nil:
		if ordered {
			return step{wait: true} // keep its place in line
		}
		// Not an attempt: the job waits on a retry tier and is looked at again.
		return step{msgs: []kafka.Message{e.holdMessage(job, now)}}
	}
	body, contentType := payload(job, sub.options.GetPayload())
	res := e.sendBounded(ctx, sub, signedHeaders(sub, job, contentType, body, now), body)
	if ctx.Err() != nil && !res.delivered() {
		return step{stop: true}
	}
	schedule := sub.schedule
	if schedule == nil {
		schedule = e.schedule
	}
	d := decide(res, job.GetAttempt(), schedule, e.tiers, time.Now())
	if since, expired := e.failing.record(sub.id, !res.delivered(), now); expired && d.outcome != deliveryv1.Outcome_OUTCOME_DELIVERED {
		d = decision{outcome: deliveryv1.Outcome_OUTCOME_GONE}
		res.err = fmt.Errorf("%w; the endpoint has failed continuously since %s, so the subscription is disabled", res.err, since.UTC().Format(time.RFC3339))
	}
	return e.outcome(job, res, d, now, ordered)
}

// holdMessage puts a job back on a retry tier, due after pausedRecheck, without counting an
// attempt.
func (e *engine) holdMessage(job *deliveryv1.Job, now time.Time) kafka.Message {
	next := proto.Clone(job).(*deliveryv1.Job)
	next.NotBefore = timestamppb.New(now.Add(pausedRecheck))
	return e.retryMessage(next, pickTier(pausedRecheck, e.tiers))
}

// outcome builds the attempt record and what it leads to: a retry (on a tier, or in place for
// an ordered subscription) or a dead letter.
func (e *engine) outcome(job *deliveryv1.Job, res result, d decision, at time.Time, ordered bool) step {
	att := &deliveryv1.Attempt{
		DeliveryId: job.GetDeliveryId(), SubscriptionId: job.GetSubscriptionId(), Attempt: job.GetAttempt(),
		Time: timestamppb.New(at), StatusCode: int32(res.status), ErrorType: res.errType,
		LatencyMs: res.latency.Milliseconds(), ResponseSnippet: res.snippet, Outcome: d.outcome,
		Job: job, Dispatcher: e.instance,
	}
	if res.err != nil {
		att.Error = res.err.Error()
	}
	if d.outcome == deliveryv1.Outcome_OUTCOME_RETRYING {
		att.NextAttemptTime = timestamppb.New(d.next)
	}
	// The body stays out of the attempt record: the matcher recorded it once for all of the
	// input's deliveries on herald.payloads. job belongs to this delivery alone.
	body := job.Body
	job.Body = nil
	value, _ := proto.Marshal(att)
	job.Body = body
	st := step{att: att, d: d, msgs: []kafka.Message{{Topic: e.names.Topic(topics.Attempts), Key: []byte(job.GetDeliveryId()), Value: value}}}
	switch d.outcome {
	case deliveryv1.Outcome_OUTCOME_RETRYING:
		next := proto.Clone(job).(*deliveryv1.Job)
		next.Attempt++
		next.NotBefore = timestamppb.New(d.next)
		next.LastError = att.GetError()
		if ordered {
			st.next = next
		} else {
			st.msgs = append(st.msgs, e.retryMessage(next, d.tier))
		}
	case deliveryv1.Outcome_OUTCOME_FAILED:
		reason := fmt.Sprintf("%d attempts failed; the last: %s", job.GetAttempt()+1, att.GetError())
		jv, _ := proto.Marshal(job)
		st.msgs = append(st.msgs, kafka.Message{Topic: e.names.Topic(topics.Dead), Key: []byte(job.GetSubscriptionId()), Value: jv,
			Headers: []kafka.Header{{Key: HeaderDeadReason, Value: []byte(reason)}}})
	}
	return st
}

// settled counts a step whose messages Kafka has acknowledged.
func (e *engine) settled(st step) {
	if st.att == nil {
		return
	}
	e.m.observe(st.att, st.d)
	if st.d.outcome == deliveryv1.Outcome_OUTCOME_DELIVERED {
		e.delivered.Add(1)
	}
}

// sendBounded sends under the endpoint's concurrency bound and circuit breaker. The circuit is
// asked after the slot is taken, so requests queued behind a failing one see its failure.
func (e *engine) sendBounded(ctx context.Context, sub *subscription, h http.Header, body []byte) result {
	v, ok := e.endpoints.Load(sub.endpoint)
	if !ok {
		v, _ = e.endpoints.LoadOrStore(sub.endpoint, make(chan struct{}, e.perHost))
	}
	sem := v.(chan struct{})
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return result{errType: "timeout", err: ctx.Err()}
	}
	defer func() { <-sem }()
	if !e.circuits.allow(sub.endpoint, time.Now()) {
		return result{errType: "circuit_open", err: errors.New("not sent: the endpoint's circuit is open after repeated failures")}
	}
	res := e.send.send(ctx, sub.target, h, body)
	if ctx.Err() == nil {
		e.circuits.report(sub.endpoint, unhealthy(res), time.Now())
	}
	return res
}

// endpointOf is the circuit and concurrency key of a URL: its host:port.
func endpointOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// unhealthy reports a result that counts against the endpoint's circuit: no answer, or a 5xx.
// A 4xx is an answer about the content, not the endpoint's health.
func unhealthy(r result) bool {
	return (r.err != nil && r.status == 0) || r.status >= 500
}

func (e *engine) retryMessage(job *deliveryv1.Job, tier time.Duration) kafka.Message {
	v, _ := proto.Marshal(job)
	return kafka.Message{Topic: e.names.Topic(topics.RetryPrefix + tierName(tier)), Key: []byte(job.GetSubscriptionId()), Value: v,
		Headers: []kafka.Header{{Key: "herald-not-before", Value: []byte(strconv.FormatInt(job.GetNotBefore().AsTime().UnixMilli(), 10))}}}
}

// produce writes msgs until Kafka acknowledges all of them, or ctx ends.
func (e *engine) produce(ctx context.Context, msgs []kafka.Message) error {
	return kafkabatch.WriteAll(ctx, e.w, msgs, func(err error, left int, wait time.Duration) {
		e.log.Warn("dispatcher: producing failed; retrying", "err", err, "messages", left, "retry_in", wait)
	})
}
