package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var (
	// ErrNotFound means no document matched.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate means a unique index refused the write.
	ErrDuplicate = errors.New("store: duplicate")
	// ErrConflict means the document changed since it was read.
	ErrConflict = errors.New("store: concurrent update")
)

// Store is the registry's MongoDB database.
type Store struct {
	db            *mongo.Database
	apps          *mongo.Collection
	appConfigs    *mongo.Collection
	events        *mongo.Collection
	subscriptions *mongo.Collection
	changes       *mongo.Collection
	counters      *mongo.Collection
	deliveries    *mongo.Collection
	attempts      *mongo.Collection
	payloads      *mongo.Collection
}

// New returns a Store on db. Call EnsureIndexes once at start-up.
func New(db *mongo.Database) *Store {
	return &Store{
		db:            db,
		apps:          db.Collection("apps"),
		appConfigs:    db.Collection("appconfigs"),
		events:        db.Collection("events"),
		subscriptions: db.Collection("subscriptions"),
		changes:       db.Collection("changes"),
		counters:      db.Collection("counters"),
		deliveries:    db.Collection("deliveries"),
		attempts:      db.Collection("attempts"),
		payloads:      db.Collection("payloads"),
	}
}

// EnsureIndexes creates the indexes the registry relies on; it is idempotent.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	specs := []struct {
		coll   *mongo.Collection
		model  mongo.IndexModel
		reason string
	}{
		{s.apps, mongo.IndexModel{Keys: bson.D{{Key: "keyHash", Value: 1}}, Options: options.Index().SetUnique(true).SetName("keyHash_unique")}, "key lookup"},
		{s.events, mongo.IndexModel{Keys: bson.D{{Key: "appId", Value: 1}, {Key: "topic", Value: 1}, {Key: "name", Value: 1}}, Options: options.Index().SetUnique(true).SetName("app_topic_name_unique")}, "event names unique per app and topic"},
		{s.events, mongo.IndexModel{Keys: bson.D{{Key: "topic", Value: 1}, {Key: "eventType", Value: 1}}, Options: options.Index().SetName("topic_eventType")}, "matcher index"},
		{s.subscriptions, mongo.IndexModel{Keys: bson.D{{Key: "subscriberAppId", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("subscriber")}, "subscriber listing"},
		{s.subscriptions, mongo.IndexModel{Keys: bson.D{{Key: "appId", Value: 1}, {Key: "topic", Value: 1}}, Options: options.Index().SetName("publisher_topic")}, "event deletion"},
		{s.changes, mongo.IndexModel{Keys: bson.D{{Key: "at", Value: 1}}, Options: options.Index().SetName("at")}, "retention sweep"},
		{s.deliveries, mongo.IndexModel{Keys: bson.D{{Key: "subscriptionId", Value: 1}, {Key: "listKey", Value: 1}}, Options: options.Index().SetName("subscription_listKey")}, "delivery listing"},
		{s.deliveries, mongo.IndexModel{Keys: bson.D{{Key: "lastAttemptTime", Value: 1}}, Options: options.Index().SetName("lastAttemptTime")}, "retention sweep"},
		{s.attempts, mongo.IndexModel{Keys: bson.D{{Key: "deliveryId", Value: 1}, {Key: "time", Value: 1}}, Options: options.Index().SetName("delivery_time")}, "attempts of a delivery"},
		{s.attempts, mongo.IndexModel{Keys: bson.D{{Key: "time", Value: 1}}, Options: options.Index().SetName("time")}, "retention sweep"},
		{s.payloads, mongo.IndexModel{Keys: bson.D{{Key: "matchTime", Value: 1}}, Options: options.Index().SetName("matchTime")}, "retention sweep"},
	}
	for _, sp := range specs {
		if _, err := sp.coll.Indexes().CreateOne(ctx, sp.model); err != nil {
			return fmt.Errorf("store: index for %s on %s: %w", sp.reason, sp.coll.Name(), err)
		}
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.db.Client().Ping(ctx, nil)
}

// NewID returns an id that sorts by creation time: prefix, 12 hex digits of milliseconds, 6 of
// a sequence that orders ids made by this process in the same millisecond, 10 of randomness.
// Pages are ordered by _id, so lists come out oldest first.
func NewID(prefix string) string {
	idMu.Lock()
	ms := time.Now().UnixMilli()
	if ms <= idLastMS {
		ms, idSeq = idLastMS, idSeq+1 // same millisecond, or the clock stepped back
	} else {
		idSeq = 0
	}
	idLastMS = ms
	seq := idSeq
	idMu.Unlock()
	var b [5]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%012x%06x%s", prefix, ms, seq&0xffffff, hex.EncodeToString(b[:]))
}

var (
	idMu     sync.Mutex
	idLastMS int64
	idSeq    int64
)

// Page asks for up to Limit documents after the id After (exclusive); "" starts at the beginning.
type Page struct {
	After string
	Limit int
}

// pageFind runs filter sorted by _id, one past the limit so the caller knows if more follow.
func pageFind[T any](ctx context.Context, c *mongo.Collection, filter bson.D, p Page) (items []T, more bool, err error) {
	if p.After != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: p.After}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(p.Limit + 1))
	cur, err := c.Find(ctx, filter, opts)
	if err != nil {
		return nil, false, err
	}
	if err := cur.All(ctx, &items); err != nil {
		return nil, false, err
	}
	if len(items) > p.Limit {
		return items[:p.Limit], true, nil
	}
	return items, false, nil
}

func findAll[T any](ctx context.Context, c *mongo.Collection, filter bson.D) ([]T, error) {
	cur, err := c.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var items []T
	if err := cur.All(ctx, &items); err != nil {
		return nil, err
	}
	return items, nil
}

func findOne[T any](ctx context.Context, c *mongo.Collection, filter bson.D) (*T, error) {
	var v T
	err := c.FindOne(ctx, filter).Decode(&v)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// insert writes a new document and records the change.
func (s *Store) insert(ctx context.Context, c *mongo.Collection, kind Kind, id string, doc any) error {
	if _, err := c.InsertOne(ctx, doc); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return ErrDuplicate
		}
		return err
	}
	return s.recordChange(ctx, kind, id)
}

// replace writes doc over the document with id whose version is still version, and records
// the change. The caller has already bumped the version inside doc.
func (s *Store) replace(ctx context.Context, c *mongo.Collection, kind Kind, id string, version int64, doc any) error {
	res, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version}}, doc)
	if err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return ErrDuplicate
		}
		return err
	}
	if res.MatchedCount == 0 {
		if n, err := c.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}); err == nil && n == 0 {
			return ErrNotFound
		}
		return ErrConflict
	}
	return s.recordChange(ctx, kind, id)
}

// remove deletes the document with id and records the change.
func (s *Store) remove(ctx context.Context, c *mongo.Collection, kind Kind, id string) error {
	res, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return err
	}
	if res.DeletedCount == 0 {
		return ErrNotFound
	}
	return s.recordChange(ctx, kind, id)
}
