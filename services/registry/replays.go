package registry

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/pkg/topics"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// maxReplayWindow bounds how much of the log one replay re-reads.
const maxReplayWindow = 7 * 24 * time.Hour

func replayPB(r *store.Replay) *registryv1.Replay {
	return &registryv1.Replay{
		Id: r.ID, SubscriptionId: r.SubscriptionID, From: ts(r.From), To: ts(r.To), Status: r.Status,
		MessagesRead: r.MessagesRead, JobsProduced: r.JobsProduced, Error: r.Error,
		CreateTime: ts(r.CreatedAt), UpdateTime: ts(r.UpdatedAt),
	}
}

// ReplaySubscription starts a replay of one of the calling app's subscriptions: a matcher
// re-reads the input topics from the offsets at `from` (Kafka's offsets-for-times) up to `to`
// and produces the subscription's jobs again, with the same delivery ids, marked as replays.
func (a *API) ReplaySubscription(ctx context.Context, req *registryv1.ReplaySubscriptionRequest) (*registryv1.Replay, error) {
	_, sub, err := a.ownSubscription(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return a.startReplay(ctx, sub, req.GetFrom(), req.GetTo(), "from", "to")
}

func (a *API) startReplay(ctx context.Context, sub *store.Subscription, fromPB, toPB *timestamppb.Timestamp, fromField, toField string) (*registryv1.Replay, error) {
	t := now()
	if fromPB == nil {
		return nil, invalid(fromField, "is required: the time to replay from (RFC 3339, e.g. 2026-11-22T10:00:00Z)")
	}
	from, to := fromPB.AsTime(), t
	if toPB != nil {
		to = toPB.AsTime()
	}
	switch {
	case !from.Before(to):
		return nil, invalid(fromField, "must be before %s (%s)", toField, to.Format(time.RFC3339))
	case to.After(t.Add(time.Minute)):
		return nil, invalid(toField, "is in the future")
	case to.Sub(from) > maxReplayWindow:
		return nil, invalid(fromField, "replays at most %s at a time; split the range", maxReplayWindow)
	case sub.Status != store.StatusActive:
		return nil, conflict("id", "the subscription is %s; only an active subscription can be replayed", sub.Status)
	case a.jobs == nil:
		return nil, newError(ErrUnavailable, "", "replay needs Kafka, and this registry has no HERALD_KAFKA_BROKERS")
	}
	r := &store.Replay{ID: store.NewID("rpl_"), SubscriptionID: sub.ID, From: from, To: to, Status: store.ReplayPending, CreatedAt: t, UpdatedAt: t}
	if err := a.store.CreateReplay(ctx, r); err != nil {
		return nil, err
	}
	pb := replayPB(r)
	value, _ := proto.Marshal(pb)
	wctx, cancel := context.WithTimeout(ctx, redeliverTimeout)
	defer cancel()
	if err := a.jobs.WriteMessages(wctx, kafka.Message{Topic: a.names.Topic(topics.Replays), Key: []byte(r.ID), Value: value}); err != nil {
		return nil, newError(ErrUnavailable, "", "could not hand the replay to the matchers: %v", err)
	}
	return pb, nil
}

// ownReplay loads a replay of one of the caller's subscriptions (any replay for the admin).
func (a *API) ownReplay(ctx context.Context, id string) (*store.Replay, error) {
	r, err := a.store.Replay(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("id", "no replay %q", id)
	}
	if err != nil {
		return nil, err
	}
	if _, _, err := a.ownSubscription(ctx, r.SubscriptionID); err != nil {
		return nil, notFound("id", "no replay %q", id)
	}
	return r, nil
}

// GetReplay returns a replay with its progress.
func (a *API) GetReplay(ctx context.Context, req *registryv1.GetReplayRequest) (*registryv1.Replay, error) {
	r, err := a.ownReplay(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return replayPB(r), nil
}

// CancelReplay stops a replay; the matcher running it stops at its next progress report.
func (a *API) CancelReplay(ctx context.Context, req *registryv1.CancelReplayRequest) (*registryv1.Replay, error) {
	var r *store.Replay
	err := retryOnConflict(func() error {
		var err error
		if r, err = a.ownReplay(ctx, req.GetId()); err != nil || r.Finished() {
			return err
		}
		r.Status, r.UpdatedAt = store.ReplayCancelled, now()
		return a.store.UpdateReplay(ctx, r)
	})
	if err != nil {
		return nil, err
	}
	return replayPB(r), nil
}

// ReportReplay records a matcher's progress (admin). A finished replay stays as it is, so a
// cancelled one answers "cancelled" and the matcher stops.
func (a *API) ReportReplay(ctx context.Context, req *registryv1.ReportReplayRequest) (*registryv1.Replay, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	switch req.GetStatus() {
	case store.ReplayRunning, store.ReplayDone, store.ReplayFailed:
	default:
		return nil, invalid("status", "must be running, done or failed, got %q", req.GetStatus())
	}
	var r *store.Replay
	err := retryOnConflict(func() error {
		var err error
		if r, err = a.ownReplay(ctx, req.GetId()); err != nil || r.Finished() {
			return err
		}
		r.Status, r.MessagesRead, r.JobsProduced, r.Error, r.UpdatedAt = req.GetStatus(), req.GetMessagesRead(), req.GetJobsProduced(), req.GetError(), now()
		return a.store.UpdateReplay(ctx, r)
	})
	if err != nil {
		return nil, err
	}
	return replayPB(r), nil
}
