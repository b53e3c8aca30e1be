package registry

import (
	"context"
	"errors"
	"github.com/heraldhq/herald/pkg/topics"
	"slices"
	"strings"
	"time"

	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// HeaderDeliveryID carries the delivery id on a job produced to herald.deliveries, as the
// matcher's jobs do.
const HeaderDeliveryID = "herald-delivery-id"

// redeliverTimeout bounds the wait for Kafka to acknowledge a redelivered job.
const redeliverTimeout = 10 * time.Second

// jobWriter is the part of kafka.Writer that redelivery uses; it writes to herald.deliveries.
type jobWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// ownDelivery loads a delivery of one of the calling app's subscriptions, with the subscription;
// any other delivery is reported as missing.
func (a *API) ownDelivery(ctx context.Context, id string) (*store.Subscription, *store.Delivery, error) {
	if _, err := callerApp(ctx); err != nil && requireAdmin(ctx) != nil { // the admin token sees every delivery
		return nil, nil, err
	}
	d, err := a.store.Delivery(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound("id", "no delivery %q", id)
	}
	if err != nil {
		return nil, nil, err
	}
	_, sub, err := a.ownSubscription(ctx, d.SubscriptionID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, notFound("id", "no delivery %q", id)
	}
	if err != nil {
		return nil, nil, err
	}
	return sub, d, nil
}

// ListDeliveries lists a subscription's deliveries, newest first, optionally in one status.
func (a *API) ListDeliveries(ctx context.Context, req *registryv1.ListDeliveriesRequest) (*registryv1.ListDeliveriesResponse, error) {
	if s := req.GetStatus(); s != "" && !slices.Contains(store.DeliveryStatuses, s) {
		return nil, invalid("status", "must be one of %s, got %q", strings.Join(store.DeliveryStatuses, ", "), s)
	}
	page, err := decodePage(req.GetPage(), req.GetLimit())
	if err != nil {
		return nil, err
	}
	if _, _, err := a.ownSubscriptionAs(ctx, "subscriptionId", req.GetSubscriptionId()); err != nil {
		return nil, err
	}
	ds, more, err := a.store.ListDeliveries(ctx, req.GetSubscriptionId(), req.GetStatus(), page)
	if err != nil {
		return nil, err
	}
	resp := &registryv1.ListDeliveriesResponse{Deliveries: make([]*registryv1.Delivery, len(ds))}
	for i := range ds {
		resp.Deliveries[i] = deliveryPB(&ds[i])
	}
	resp.Meta = encodePage(lastID(ds, func(d store.Delivery) string { return d.ListKey }), more)
	return resp, nil
}

// GetDelivery returns a delivery of one of the calling app's subscriptions, with its body and
// its attempts.
func (a *API) GetDelivery(ctx context.Context, req *registryv1.GetDeliveryRequest) (*registryv1.Delivery, error) {
	_, d, err := a.ownDelivery(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	atts, err := a.store.Attempts(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	if err := a.fillBody(ctx, d); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	pb := deliveryPB(d)
	pb.Body = strings.ToValidUTF8(string(d.Body), "\uFFFD")
	pb.Attempts = make([]*registryv1.DeliveryAttempt, len(atts))
	for i := range atts {
		pb.Attempts[i] = attemptPB(&atts[i])
	}
	return pb, nil
}

// Redeliver produces a delivery's job to herald.deliveries again: attempt 0, the same delivery
// id (so a receiver that already has it can drop it), due at once. The delivery shows as
// pending until the dispatcher's attempt is recorded.
func (a *API) Redeliver(ctx context.Context, req *registryv1.RedeliverRequest) (*registryv1.RedeliverResponse, error) {
	if _, err := callerApp(ctx); err != nil && requireAdmin(ctx) != nil { // an app, or the operator
		return nil, err
	}
	if a.jobs == nil {
		return nil, unavailable("", "redelivery needs Kafka, which is not configured for this registry (HERALD_KAFKA_BROKERS)")
	}
	sub, d, err := a.ownDelivery(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if sub.Status == store.StatusDisabled {
		reason := ""
		if sub.StatusReason != "" {
			reason = " (" + sub.StatusReason + ")"
		}
		return nil, conflict("id", "subscription %s is disabled%s: re-enable it first with PATCH /v1/subscriptions/%s {\"status\":\"active\"}", sub.ID, reason, sub.ID)
	}
	if d.Topic == "" {
		return nil, conflict("id", "delivery %s was recorded without its event, so it cannot be sent again", d.ID)
	}
	if err := a.fillBody(ctx, d); errors.Is(err, store.ErrNotFound) {
		return nil, conflict("id", "the body of delivery %s is not recorded (it expired, or the matcher's payload record has not been read yet), so it cannot be sent again", d.ID)
	} else if err != nil {
		return nil, err
	}
	value, err := proto.Marshal(jobOf(d))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, redeliverTimeout)
	defer cancel()
	err = a.jobs.WriteMessages(wctx, kafka.Message{
		Topic: a.names.Topic(topics.Deliveries), Key: []byte(d.SubscriptionID), Value: value,
		Headers: []kafka.Header{{Key: HeaderDeliveryID, Value: []byte(d.ID)}},
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.log.Warn("registry: producing a redelivery failed", "delivery", d.ID, "err", err)
		return nil, unavailable("", "Kafka did not accept the job in time; try again")
	}
	// The job is on its way: a failure to show it as pending is not worth a second one.
	if err := a.store.MarkPending(ctx, d.ID, d.LastAttemptTime); err != nil {
		a.log.Warn("registry: marking a redelivery pending failed", "delivery", d.ID, "err", err)
	}
	return &registryv1.RedeliverResponse{Id: d.ID}, nil
}

// fillBody sets the body of a delivery recorded without one from the payload its input left:
// the body is kept once for all of an input's deliveries. ErrNotFound when there is none.
func (a *API) fillBody(ctx context.Context, d *store.Delivery) error {
	switch {
	case len(d.Body) > 0:
		return nil
	case d.PayloadKey == "":
		return store.ErrNotFound
	}
	body, err := a.store.PayloadBody(ctx, d.PayloadKey)
	if err != nil {
		return err
	}
	d.Body = body
	return nil
}

// jobOf rebuilds the job a delivery was made from, as a first attempt due now.
func jobOf(d *store.Delivery) *deliveryv1.Job {
	return &deliveryv1.Job{
		DeliveryId: d.ID, SubscriptionId: d.SubscriptionID, AppId: d.AppID, EventId: d.EventID,
		EventName: d.EventName, EventType: d.EventType, Topic: d.Topic, Partition: d.Partition,
		Offset: d.Offset, EventTime: ts(d.EventTime), Body: d.Body, ResourceUrl: d.ResourceURL,
		Attempt: 0, Replay: d.Replay, MatchTime: ts(d.CreateTime),
	}
}

// disableGone disables a subscription whose endpoint is gone, as an attempt made at `at` found.
// It does nothing when the subscription is deleted, already disabled, or had its status set
// after the attempt (re-enabled by its owner, say). Watchers learn of it at once.
func (a *API) disableGone(ctx context.Context, subID, reason string, at time.Time) (bool, error) {
	changed := false
	err := retryOnConflict(func() error {
		changed = false
		sub, err := a.store.Subscription(ctx, subID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sub.Status == store.StatusDisabled || sub.StatusChangedAt.After(at) {
			return nil
		}
		t := now()
		sub.Status, sub.StatusReason, sub.StatusChangedAt, sub.UpdatedAt = store.StatusDisabled, reason, t, t
		changed = true
		return a.store.UpdateSubscription(ctx, sub)
	})
	if err != nil {
		return false, err
	}
	if changed {
		a.hub.nudge()
	}
	return changed, nil
}

func deliveryPB(d *store.Delivery) *registryv1.Delivery {
	return &registryv1.Delivery{
		Id: d.ID, SubscriptionId: d.SubscriptionID, SubscriberAppId: d.SubscriberAppID, AppId: d.AppID,
		EventId: d.EventID, EventName: d.EventName, EventType: d.EventType, Topic: d.Topic,
		Partition: d.Partition, Offset: d.Offset, EventTime: ts(d.EventTime), ResourceUrl: d.ResourceURL,
		Status: d.Status, AttemptCount: d.Attempts, LastAttemptTime: ts(d.LastAttemptTime),
		NextAttemptTime: ts(d.NextAttemptTime), LastStatusCode: d.LastStatusCode, LastError: d.LastError,
		CreateTime: ts(d.CreateTime),
	}
}

func attemptPB(a *store.Attempt) *registryv1.DeliveryAttempt {
	return &registryv1.DeliveryAttempt{
		Attempt: a.Attempt, Time: ts(a.Time), StatusCode: a.StatusCode, ErrorType: a.ErrorType,
		Error: a.Error, LatencyMs: a.LatencyMS, ResponseSnippet: a.ResponseSnippet, Outcome: a.Outcome,
		NextAttemptTime: ts(a.NextAttemptTime),
	}
}

// tsOrZero is the time of a protobuf timestamp, zero when it is unset or invalid.
func tsOrZero(t *timestamppb.Timestamp) time.Time {
	if t == nil || t.CheckValid() != nil {
		return time.Time{}
	}
	return t.AsTime()
}
