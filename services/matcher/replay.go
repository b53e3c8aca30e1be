package matcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/pkg/kafkabatch"
	"github.com/heraldhq/herald/pkg/topics"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

const (
	replayReportEvery = time.Second
	replayFlushJobs   = 200
	replayWaitConfig  = 15 * time.Second // for a new subscription (backfill) to reach the index
	replayQuiet       = 3 * time.Second  // a partition read that stays quiet this long has ended
)

// replayer runs replays one at a time. Requests arrive on herald.replays, so each is run by
// one matcher (the group decides which); the request is committed when the replay has
// finished, failed or been cancelled, so a matcher that dies mid-replay leaves it to another,
// which starts it again: replayed jobs keep their delivery ids, so receivers can drop repeats.
type replayer struct {
	r        reader
	c        *consumer // for produce, rules and the index
	brokers  []string
	dialer   *kafka.Dialer
	registry registryv1.RegistryServiceClient
	token    string
	log      *slog.Logger
}

func (p *replayer) Name() string { return "replayer" }

func (p *replayer) Run(ctx context.Context) error {
	for {
		msg, err := kafkabatch.Fetch(ctx, p.r, p.log, "matcher replays")
		if err != nil {
			return err
		}
		rp := &registryv1.Replay{}
		if err := proto.Unmarshal(msg.Value, rp); err != nil || rp.GetId() == "" {
			p.log.Error("matcher: a replay request that does not decode; skipped", "offset", msg.Offset, "err", err)
		} else if err := p.replay(ctx, rp); err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // not committed: another matcher (or this one, restarted) runs it
			}
			p.log.Error("matcher: replay failed", "replay", rp.GetId(), "err", err)
			_, _ = p.report(ctx, rp.GetId(), "failed", 0, 0, err.Error())
		}
		if err := p.r.CommitMessages(context.WithoutCancel(ctx), msg); err != nil {
			p.log.Warn("matcher: committing a replay request failed", "err", err)
		}
	}
}

func (p *replayer) report(ctx context.Context, id, status string, read, jobs int64, errText string) (*registryv1.Replay, error) {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+p.token)
	return p.registry.ReportReplay(ctx, &registryv1.ReportReplayRequest{Id: id, Status: status, MessagesRead: read, JobsProduced: jobs, Error: errText})
}

// errCancelled stops a replay whose owner cancelled it.
var errCancelled = errors.New("matcher: replay cancelled")

// replay reads every input partition between the offsets at from and to and produces the
// subscription's jobs.
func (p *replayer) replay(ctx context.Context, rp *registryv1.Replay) error {
	cur, err := p.report(ctx, rp.GetId(), "running", 0, 0, "")
	if err != nil {
		return fmt.Errorf("registering with the registry: %w", err)
	}
	if cur.GetStatus() != "running" {
		return nil // cancelled or finished before it started
	}
	subID := rp.GetSubscriptionId()
	deadline := time.Now().Add(replayWaitConfig)
	for !p.c.index().hasSubscription(subID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("subscription %s is not in the matcher's configuration (deleted, paused or no longer permitted?)", subID)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	from, to := rp.GetFrom().AsTime(), rp.GetTo().AsTime()
	var read, jobs int64
	lastReport := time.Now()
	var pending []kafka.Message
	flush := func() error {
		if err := p.c.produce(ctx, pending); err != nil {
			return err
		}
		for _, m := range pending {
			if m.Topic == p.c.names.Topic(topics.Deliveries) {
				jobs++
			}
		}
		pending = pending[:0]
		return nil
	}
	for _, topic := range p.c.names.InputTopics() {
		logical, _ := p.c.names.Logical(topic)
		parts, err := p.partitions(ctx, topic)
		if err != nil {
			return err
		}
		for _, part := range parts {
			start, end, err := p.bounds(ctx, topic, part, from)
			if err != nil {
				return err
			}
			if start >= end {
				continue
			}
			err = p.readRange(ctx, topic, part, start, end, func(m kafka.Message) error {
				read++
				if m.Time.Before(from) || !m.Time.Before(to) {
					return nil
				}
				for _, job := range p.c.rules.Match(p.c.index(), inputOf(logical, m), time.Now()).Jobs {
					if job.GetSubscriptionId() != subID {
						continue // other subscriptions were served live
					}
					job.Replay = true
					// Its payload again (the registry keeps the first): it may have expired.
					pending = append(pending, p.c.jobMessage(job), p.c.payloadMessage(job))
				}
				if len(pending) >= replayFlushJobs {
					if err := flush(); err != nil {
						return err
					}
				}
				if time.Since(lastReport) > replayReportEvery {
					lastReport = time.Now()
					cur, err := p.report(ctx, rp.GetId(), "running", read, jobs, "")
					if err == nil && cur.GetStatus() == "cancelled" {
						return errCancelled
					}
				}
				return nil
			})
			if errors.Is(err, errCancelled) {
				p.log.Info("matcher: replay cancelled", "replay", rp.GetId(), "read", read, "jobs", jobs)
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s[%d]: %w", logical, part, err)
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	_, err = p.report(ctx, rp.GetId(), "done", read, jobs, "")
	p.log.Info("matcher: replay done", "replay", rp.GetId(), "read", read, "jobs", jobs)
	return err
}

func (p *replayer) partitions(ctx context.Context, topic string) ([]int, error) {
	conn, err := p.dialer.DialContext(ctx, "tcp", p.brokers[0])
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(parts))
	for i, pt := range parts {
		out[i] = pt.ID
	}
	return out, nil
}

// bounds returns where to read: from the first message at or after from (Kafka's
// offsets-for-times) to the end of the partition as it is now. Not to the offset at `to`:
// producers may set timestamps out of order, so a message inside the range can sit after it;
// readRange filters by timestamp instead.
func (p *replayer) bounds(ctx context.Context, topic string, part int, from time.Time) (start, end int64, err error) {
	conn, err := p.dialer.DialLeader(ctx, "tcp", p.brokers[0], topic, part)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		return 0, 0, err
	}
	at := func(t time.Time) int64 {
		off, err := conn.ReadOffset(t)
		if err != nil || off < 0 || off > last {
			return last
		}
		return off
	}
	return at(from), last, nil
}

// readRange calls f for each message of one partition in [start, end). The last offsets may
// hold no message (a transaction marker, a compacted record), so a read that stays quiet for
// replayQuiet ends the range instead of waiting for new data.
func (p *replayer) readRange(ctx context.Context, topic string, part int, start, end int64, f func(kafka.Message) error) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: p.brokers, Dialer: p.dialer, Topic: topic, Partition: part, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		return err
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, replayQuiet)
		m, err := r.ReadMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return nil // nothing more up to the end
			}
			return err
		}
		if m.Offset >= end {
			return nil // written after the replay began
		}
		if err := f(m); err != nil {
			return err
		}
		if m.Offset >= end-1 {
			return nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
