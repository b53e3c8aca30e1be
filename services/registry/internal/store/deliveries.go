package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Delivery status values. A delivery takes the outcome of its latest attempt as its status;
// StatusPending means a redelivery was asked for and no attempt of it is recorded yet.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryRetrying  = "retrying"
	DeliveryFailed    = "failed"
	DeliveryGone      = "gone"
	DeliverySkipped   = "skipped"
)

// DeliveryStatuses lists every delivery status, for validating filters.
var DeliveryStatuses = []string{DeliveryPending, DeliveryDelivered, DeliveryRetrying, DeliveryFailed, DeliveryGone, DeliverySkipped}

// Delivery is one event sent to one subscription: the job as the matcher made it (written once,
// when the delivery is first seen) and the state of its latest attempt. ListKey orders a
// subscription's deliveries by creation ("%012x/<id>" of CreateTime's milliseconds): delivery
// ids are hashes, so they cannot.
type Delivery struct {
	ID              string    `bson:"_id"`
	SubscriptionID  string    `bson:"subscriptionId"`
	SubscriberAppID string    `bson:"subscriberAppId"`
	AppID           string    `bson:"appId"`
	EventID         string    `bson:"eventId"`
	EventName       string    `bson:"eventName"`
	EventType       string    `bson:"eventType"`
	Topic           string    `bson:"topic"`
	Partition       int32     `bson:"partition"`
	Offset          int64     `bson:"offset"`
	EventTime       time.Time `bson:"eventTime"`
	ResourceURL     string    `bson:"resourceUrl"`
	Body            []byte    `bson:"body"`       // empty when the body is kept once, in payloads
	PayloadKey      string    `bson:"payloadKey"` // the input message in payloads (topics.PayloadKey)
	Replay          bool      `bson:"replay"`
	CreateTime      time.Time `bson:"createTime"`
	ListKey         string    `bson:"listKey"`

	Status          string    `bson:"status"`
	Attempts        int32     `bson:"attempts"`
	LastAttempt     int32     `bson:"lastAttempt"`
	LastAttemptTime time.Time `bson:"lastAttemptTime"`
	NextAttemptTime time.Time `bson:"nextAttemptTime"`
	LastStatusCode  int32     `bson:"lastStatusCode"`
	LastError       string    `bson:"lastError"`
}

// Attempt is one try of a delivery. Its ID is derived from the delivery id, the attempt number
// and the attempt's time, so recording an attempt read twice from Kafka writes nothing new.
type Attempt struct {
	ID              string    `bson:"_id"`
	DeliveryID      string    `bson:"deliveryId"`
	SubscriptionID  string    `bson:"subscriptionId"`
	Attempt         int32     `bson:"attempt"`
	Time            time.Time `bson:"time"`
	StatusCode      int32     `bson:"statusCode"`
	ErrorType       string    `bson:"errorType"`
	Error           string    `bson:"error"`
	LatencyMS       int64     `bson:"latencyMs"`
	ResponseSnippet string    `bson:"responseSnippet"`
	Outcome         string    `bson:"outcome"`
	NextAttemptTime time.Time `bson:"nextAttemptTime"`
	Dispatcher      string    `bson:"dispatcher"`
}

// AttemptID returns the id of the attempt number n of delivery made at t.
func AttemptID(deliveryID string, n int32, t time.Time) string {
	return deliveryID + "/" + strconv.Itoa(int(n)) + "/" + strconv.FormatInt(t.UnixNano(), 10)
}

// ListKey returns the key that orders a delivery created at t among its subscription's.
func ListKey(deliveryID string, t time.Time) string {
	return fmt.Sprintf("%012x/%s", max(t.UnixMilli(), 0), deliveryID)
}

// Recorded is an attempt to record with the delivery it belongs to. Delivery holds the job's
// fields; its status fields are derived from the attempts.
type Recorded struct {
	Attempt  Attempt
	Delivery Delivery
}

// maxAttemptsShown bounds the attempts returned with one delivery.
const maxAttemptsShown = 100

// RecordAttempts stores attempts and folds them into their deliveries: the first attempt seen
// creates the delivery, the latest one (by time) sets its status, and its attempt count is the
// number of attempts stored. Recording the same attempts again changes nothing, and an attempt
// older than the delivery's latest does not roll its status back, so it is safe to call with
// attempts read again from Kafka, in any order.
//
// Every write is one document (a bulk of them per call), without transactions: a call that
// fails part-way is completed by calling it again with the same attempts.
func (s *Store) RecordAttempts(ctx context.Context, recs []Recorded) error {
	if len(recs) == 0 {
		return nil
	}
	inserts := make([]mongo.WriteModel, len(recs))
	for i := range recs {
		inserts[i] = mongo.NewInsertOneModel().SetDocument(&recs[i].Attempt)
	}
	if err := ignoreDuplicates(s.attempts.BulkWrite(ctx, inserts, options.BulkWrite().SetOrdered(false))); err != nil {
		return fmt.Errorf("store: recording attempts: %w", err)
	}

	// The latest attempt of each delivery decides its status.
	latest := map[string]*Recorded{}
	var ids []string
	for i := range recs {
		r := &recs[i]
		cur, ok := latest[r.Attempt.DeliveryID]
		if !ok {
			ids = append(ids, r.Attempt.DeliveryID)
		}
		if !ok || later(r.Attempt, cur.Attempt) {
			latest[r.Attempt.DeliveryID] = r
		}
	}
	counts, err := s.countAttempts(ctx, ids)
	if err != nil {
		return err
	}
	updates := make([]mongo.WriteModel, len(ids))
	for i, id := range ids {
		r := latest[id]
		a, d := &r.Attempt, &r.Delivery
		created := d.CreateTime
		if created.IsZero() {
			created = a.Time
		}
		var next any // null clears the time of a delivery that no longer waits for a retry
		if !a.NextAttemptTime.IsZero() {
			next = a.NextAttemptTime
		}
		// The filter matches only when this attempt is at least as recent as the one recorded;
		// when it is older, the upsert tries to insert a second document with this _id and
		// fails with a duplicate key, and only the count is updated below.
		updates[i] = mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: id}, {Key: "lastAttemptTime", Value: bson.D{{Key: "$lte", Value: a.Time}}}}).
			SetUpdate(bson.D{
				{Key: "$setOnInsert", Value: bson.D{
					{Key: "subscriptionId", Value: a.SubscriptionID}, {Key: "subscriberAppId", Value: d.SubscriberAppID},
					{Key: "appId", Value: d.AppID}, {Key: "eventId", Value: d.EventID}, {Key: "eventName", Value: d.EventName},
					{Key: "eventType", Value: d.EventType}, {Key: "topic", Value: d.Topic}, {Key: "partition", Value: d.Partition},
					{Key: "offset", Value: d.Offset}, {Key: "eventTime", Value: d.EventTime}, {Key: "resourceUrl", Value: d.ResourceURL},
					{Key: "body", Value: d.Body}, {Key: "payloadKey", Value: d.PayloadKey}, {Key: "replay", Value: d.Replay},
					{Key: "createTime", Value: created}, {Key: "listKey", Value: ListKey(id, created)},
				}},
				{Key: "$set", Value: bson.D{
					{Key: "status", Value: a.Outcome}, {Key: "lastAttempt", Value: a.Attempt},
					{Key: "lastAttemptTime", Value: a.Time}, {Key: "nextAttemptTime", Value: next},
					{Key: "lastStatusCode", Value: a.StatusCode}, {Key: "lastError", Value: a.Error},
				}},
				{Key: "$max", Value: bson.D{{Key: "attempts", Value: counts[id]}}},
			}).
			SetUpsert(true)
	}
	_, err = s.deliveries.BulkWrite(ctx, updates, options.BulkWrite().SetOrdered(false))
	var stale []mongo.WriteModel
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
		for _, we := range bwe.WriteErrors {
			if !isDuplicateKey(we.Code) {
				return fmt.Errorf("store: recording deliveries: %w", err)
			}
			stale = append(stale, mongo.NewUpdateOneModel().
				SetFilter(bson.D{{Key: "_id", Value: ids[we.Index]}}).
				SetUpdate(bson.D{{Key: "$max", Value: bson.D{{Key: "attempts", Value: counts[ids[we.Index]]}}}}))
		}
	} else if err != nil {
		return fmt.Errorf("store: recording deliveries: %w", err)
	}
	if len(stale) > 0 {
		if _, err := s.deliveries.BulkWrite(ctx, stale, options.BulkWrite().SetOrdered(false)); err != nil {
			return fmt.Errorf("store: recording delivery attempt counts: %w", err)
		}
	}
	return nil
}

// later reports whether a was made after b (attempt numbers break ties within a millisecond).
func later(a, b Attempt) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	return a.Attempt > b.Attempt
}

// countAttempts returns how many attempts are stored for each delivery id.
func (s *Store) countAttempts(ctx context.Context, ids []string) (map[string]int32, error) {
	cur, err := s.attempts.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "deliveryId", Value: bson.D{{Key: "$in", Value: ids}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$deliveryId"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		return nil, fmt.Errorf("store: counting attempts: %w", err)
	}
	var rows []struct {
		ID string `bson:"_id"`
		N  int32  `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("store: counting attempts: %w", err)
	}
	out := make(map[string]int32, len(rows))
	for _, r := range rows {
		out[r.ID] = r.N
	}
	return out, nil
}

// ignoreDuplicates drops duplicate-key failures from a bulk write's error: the documents exist.
func ignoreDuplicates(_ *mongo.BulkWriteResult, err error) error {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return err
	}
	for _, we := range bwe.WriteErrors {
		if !isDuplicateKey(we.Code) {
			return err
		}
	}
	return nil
}

func isDuplicateKey(code int) bool { return code == 11000 || code == 11001 || code == 12582 }

// Delivery returns the delivery with id.
func (s *Store) Delivery(ctx context.Context, id string) (*Delivery, error) {
	return findOne[Delivery](ctx, s.deliveries, bson.D{{Key: "_id", Value: id}})
}

// ListDeliveries returns a page of a subscription's deliveries, newest first, without their
// bodies; status "" means any. p.After is the ListKey of the last delivery of the previous page.
func (s *Store) ListDeliveries(ctx context.Context, subscriptionID, status string, p Page) ([]Delivery, bool, error) {
	filter := bson.D{{Key: "subscriptionId", Value: subscriptionID}}
	if status != "" {
		filter = append(filter, bson.E{Key: "status", Value: status})
	}
	if p.After != "" {
		filter = append(filter, bson.E{Key: "listKey", Value: bson.D{{Key: "$lt", Value: p.After}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "listKey", Value: -1}}).SetLimit(int64(p.Limit + 1)).
		SetProjection(bson.D{{Key: "body", Value: 0}})
	cur, err := s.deliveries.Find(ctx, filter, opts)
	if err != nil {
		return nil, false, err
	}
	var items []Delivery
	if err := cur.All(ctx, &items); err != nil {
		return nil, false, err
	}
	if len(items) > p.Limit {
		return items[:p.Limit], true, nil
	}
	return items, false, nil
}

// Attempts returns a delivery's attempts, oldest first: the latest 100 when there are more.
func (s *Store) Attempts(ctx context.Context, deliveryID string) ([]Attempt, error) {
	cur, err := s.attempts.Find(ctx, bson.D{{Key: "deliveryId", Value: deliveryID}},
		options.Find().SetSort(bson.D{{Key: "time", Value: -1}, {Key: "attempt", Value: -1}}).SetLimit(maxAttemptsShown))
	if err != nil {
		return nil, err
	}
	var items []Attempt
	if err := cur.All(ctx, &items); err != nil {
		return nil, err
	}
	slices.Reverse(items)
	return items, nil
}

// MarkPending sets a delivery's status to pending after a redelivery was asked for, unless an
// attempt newer than lastAttemptTime (the redelivery's own, say) has been recorded meanwhile.
func (s *Store) MarkPending(ctx context.Context, id string, lastAttemptTime time.Time) error {
	_, err := s.deliveries.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "lastAttemptTime", Value: lastAttemptTime}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: DeliveryPending}, {Key: "nextAttemptTime", Value: nil}}}})
	return err
}

// SubscriberApps returns the subscriber app id of each subscription in ids that exists.
func (s *Store) SubscriberApps(ctx context.Context, ids []string) (map[string]string, error) {
	cur, err := s.subscriptions.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: "subscriberAppId", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID              string `bson:"_id"`
		SubscriberAppID string `bson:"subscriberAppId"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.SubscriberAppID
	}
	return out, nil
}

// SweepDeliveries deletes the deliveries whose latest attempt, and the attempts that were made,
// before before. FerretDB has no TTL indexes, so the registry calls this on a timer.
// Payload is the body of an input message that matched, kept once for all of its deliveries.
type Payload struct {
	Key       string    `bson:"_id"` // topics.PayloadKey
	Topic     string    `bson:"topic"`
	Partition int32     `bson:"partition"`
	Offset    int64     `bson:"offset"`
	Body      []byte    `bson:"body"`
	MatchTime time.Time `bson:"matchTime"`
}

// PayloadGrace is how much longer than the deliveries' retention payloads are kept: a delivery
// is swept by its last attempt, which may come days after its input matched.
const PayloadGrace = 7 * 24 * time.Hour

// RecordPayloads stores payloads; one already stored (read again, or replayed) stays as it is.
func (s *Store) RecordPayloads(ctx context.Context, ps []Payload) error {
	if len(ps) == 0 {
		return nil
	}
	inserts := make([]mongo.WriteModel, len(ps))
	for i := range ps {
		inserts[i] = mongo.NewInsertOneModel().SetDocument(&ps[i])
	}
	if err := ignoreDuplicates(s.payloads.BulkWrite(ctx, inserts, options.BulkWrite().SetOrdered(false))); err != nil {
		return fmt.Errorf("store: recording payloads: %w", err)
	}
	return nil
}

// PayloadBody returns the body kept under key; ErrNotFound when there is none (expired, or not
// recorded yet).
func (s *Store) PayloadBody(ctx context.Context, key string) ([]byte, error) {
	var p Payload
	err := s.payloads.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ErrNotFound
	}
	return p.Body, err
}

func (s *Store) SweepDeliveries(ctx context.Context, before time.Time) (deliveries, attempts int64, err error) {
	res, err := s.deliveries.DeleteMany(ctx, bson.D{{Key: "lastAttemptTime", Value: bson.D{{Key: "$lt", Value: before}}}})
	if err != nil {
		return 0, 0, fmt.Errorf("store: sweeping deliveries: %w", err)
	}
	deliveries = res.DeletedCount
	res, err = s.attempts.DeleteMany(ctx, bson.D{{Key: "time", Value: bson.D{{Key: "$lt", Value: before}}}})
	if err != nil {
		return deliveries, 0, fmt.Errorf("store: sweeping attempts: %w", err)
	}
	attempts = res.DeletedCount
	if _, err := s.payloads.DeleteMany(ctx, bson.D{{Key: "matchTime", Value: bson.D{{Key: "$lt", Value: before.Add(-PayloadGrace)}}}}); err != nil {
		return deliveries, attempts, fmt.Errorf("store: sweeping payloads: %w", err)
	}
	return deliveries, attempts, nil
}
