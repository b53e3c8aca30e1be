// Package kafkabatch feeds a consumer's messages to a handler in batches: each batch is what
// has already arrived, up to a maximum, so a busy topic gets large batches (one produce and
// one commit for many messages) and a quiet one gets its messages at once, without a linger.
//
// The handler runs on a context that outlives a stop by a grace period, so the batch in flight
// can finish producing and committing instead of being done twice by the next owner. Fetching
// runs ahead by at most one batch: when the handler is slow, fetching stops (back-pressure).
package kafkabatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/pkg/worker"
	"github.com/segmentio/kafka-go"
)

// Writer sizes for the services' kafka.Writers. A produce request carries at most MaxBatchBytes
// (Kafka's default message.max.bytes applies to a whole batch) and at most ProduceBatchSize
// messages (a quarter of MaxBatchBytes of ~2 KiB jobs). kafka-go allocates room for BatchSize
// messages (152 bytes each) for every partition batch it starts, however few messages it gets:
// at 2,000 this was a third of the matcher's CPU, and at 512 the largest allocation in a
// `make bench` run (18% of all bytes allocated) because a busy dispatcher starts many small
// batches, one per partition per produce.
const (
	MaxBatchBytes    = 1 << 20
	ProduceBatchSize = 128
)

// Fetcher is the part of a kafka.Reader that batching needs.
type Fetcher interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
}

// Run fetches from r and calls handle with batches of at most max messages until ctx ends
// (returning ctx.Err()), fetching fails, or handle returns an error. The batch slice is reused:
// handle must not keep it.
// Fetch errors while ctx is live are logged to log (nil: slog.Default()) and retried with backoff.
func Run(ctx context.Context, r Fetcher, max int, grace time.Duration, log *slog.Logger, handle func(ctx context.Context, batch []kafka.Message) error) error {
	if max < 1 {
		max = 1
	}
	if log == nil {
		log = slog.Default()
	}
	fetched := make(chan kafka.Message, max)
	fetchErr := make(chan error, 1)
	go func() {
		for {
			m, err := Fetch(ctx, r, log, "kafkabatch")
			if err != nil {
				fetchErr <- err
				return
			}
			select {
			case fetched <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	batch := make([]kafka.Message, 0, max)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-fetchErr:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("kafkabatch: fetching: %w", err)
		case m := <-fetched:
			batch = append(batch, m)
		}
	drain: // take what has already arrived, without waiting for more
		for len(batch) < max {
			select {
			case m := <-fetched:
				batch = append(batch, m)
			default:
				break drain
			}
		}
		hctx, done := worker.Finishing(ctx, grace)
		err := handle(hctx, batch)
		done()
		if err != nil {
			return err
		}
	}
}

// Fetch returns r's next message. kafka-go reports broker and group errors while it heals
// itself (a broker restarting, a rebalance): Fetch logs them to log as who's and fetches again
// after a growing wait (100 ms to 5 s), rather than stop the service. It fails only when ctx
// ends.
func Fetch(ctx context.Context, r Fetcher, log *slog.Logger, who string) (kafka.Message, error) {
	backoff := 100 * time.Millisecond
	for {
		m, err := r.FetchMessage(ctx)
		if err == nil {
			return m, nil
		}
		if ctx.Err() != nil {
			return kafka.Message{}, ctx.Err()
		}
		log.Warn(who+": fetching failed; retrying", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return kafka.Message{}, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Writer is the part of a kafka.Writer that WriteAll needs.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// WriteAll writes msgs until Kafka has acknowledged every one, or ctx ends, or a message is too
// large to ever be written (an error: callers bound message sizes so that it cannot happen). After a failure it
// waits (100ms, doubling to 5s) and writes again only the messages that failed, when the
// writer says which; onRetry, if not nil, hears of each failure. Nothing is ever dropped: a
// caller that commits input offsets after WriteAll returns nil has made its output durable.
func WriteAll(ctx context.Context, w Writer, msgs []kafka.Message, onRetry func(err error, left int, wait time.Duration)) error {
	backoff := 100 * time.Millisecond
	for len(msgs) > 0 {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var tooLarge kafka.MessageTooLargeError
		if errors.As(err, &tooLarge) {
			// No retry can succeed: the message exceeds what the writer (and the broker) take.
			return fmt.Errorf("kafkabatch: a %d-byte message is larger than a batch may be: %w", len(tooLarge.Message.Value), err)
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(msgs) {
			failed := msgs[:0:0]
			for i, e := range werrs {
				if e != nil {
					failed = append(failed, msgs[i])
				}
			}
			msgs = failed
		}
		if onRetry != nil {
			onRetry(err, len(msgs), backoff)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}
