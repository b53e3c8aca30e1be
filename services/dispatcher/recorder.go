package dispatcher

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/pkg/kafkabatch"
	"github.com/segmentio/kafka-go"
)

// pool runs attempts on long-lived goroutines, one per in-flight slot: a worker free is a slot
// free. A fresh goroutine per job grew its stack through the HTTP client on every delivery
// (runtime.newstack was about 3% of the CPU of `make bench`); a worker keeps its grown stack.
type pool struct {
	work chan func()
	size int
	busy atomic.Int64
}

func newPool(size int) *pool { return &pool{work: make(chan func()), size: size} }

// start starts the workers; stop ends them once nothing more will be run.
func (p *pool) start() {
	for range p.size {
		go func() {
			for f := range p.work {
				p.busy.Add(1)
				f()
				p.busy.Add(-1)
			}
		}()
	}
}

func (p *pool) stop() { close(p.work) }

// run hands f to a free worker, waiting for one until ctx ends; false if f was not run.
func (p *pool) run(ctx context.Context, f func()) bool {
	select {
	case p.work <- f:
		return true
	case <-ctx.Done():
		return false
	}
}

// call runs f on a free worker and waits for it; false if f was not run.
func (p *pool) call(ctx context.Context, f func()) bool {
	done := make(chan struct{})
	if !p.run(ctx, func() { defer close(done); f() }) {
		return false
	}
	<-done
	return true
}

// recorder makes the outcomes of attempts durable: the attempt record and the retry or dead
// letter it leads to. Everything submitted while one produce request is in flight goes into the
// next, so a busy dispatcher makes one request for many deliveries, and a worker moves on to its
// next delivery as soon as the endpoint has answered instead of waiting for Kafka.
type recorder struct {
	w   writer
	in  chan record
	max int // messages per produce request, at most
	log *slog.Logger
}

// record is one outcome: its messages, and what to do once Kafka has acknowledged them all
// (err nil) or they cannot be written (the recorder is stopping, or a message is too large).
type record struct {
	msgs []kafka.Message
	done func(err error)
}

func newRecorder(w writer, max int, log *slog.Logger) *recorder {
	return &recorder{w: w, in: make(chan record, max), max: max, log: log}
}

// submit queues msgs; done is called exactly once, from the recorder's goroutine. It blocks
// while the queue is full: back-pressure on the workers when Kafka is slow.
func (r *recorder) submit(msgs []kafka.Message, done func(error)) {
	r.in <- record{msgs: msgs, done: done}
}

// write queues msgs and waits until they are written or cannot be.
func (r *recorder) write(msgs []kafka.Message) error {
	errc := make(chan error, 1)
	r.submit(msgs, func(err error) { errc <- err })
	return <-errc
}

// run writes what is submitted until in is closed; ctx bounds each write (its retries).
// Whoever submits must stop before in is closed.
func (r *recorder) run(ctx context.Context) {
	var batch []record
	var msgs []kafka.Message
	for first := range r.in {
		batch, msgs = append(batch[:0], first), append(msgs[:0], first.msgs...)
	more:
		for len(msgs) < r.max {
			select {
			case rec, ok := <-r.in:
				if !ok {
					break more
				}
				batch, msgs = append(batch, rec), append(msgs, rec.msgs...)
			default:
				break more
			}
		}
		err := r.produce(ctx, msgs)
		for _, rec := range batch {
			if err != nil && ctx.Err() == nil && len(batch) > 1 {
				// A permanent failure (a message too large) belongs to one record: write
				// each alone so that only its own delivery stays uncommitted.
				rec.done(r.produce(ctx, rec.msgs))
				continue
			}
			rec.done(err)
		}
		clear(batch) // drop the references to delivered jobs
		clear(msgs)
	}
}

func (r *recorder) produce(ctx context.Context, msgs []kafka.Message) error {
	return kafkabatch.WriteAll(ctx, r.w, msgs, func(err error, left int, wait time.Duration) {
		r.log.Warn("dispatcher: recording outcomes failed; retrying", "err", err, "messages", left, "retry_in", wait)
	})
}
