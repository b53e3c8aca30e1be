package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Kind names the collection a change touched.
type Kind string

// Kinds of configuration documents.
const (
	KindApp          Kind = "app"
	KindAppConfig    Kind = "appconfig"
	KindEvent        Kind = "event"
	KindSubscription Kind = "subscription"
)

// Change records that the document ID of Kind was written or deleted. Seq is the configuration
// version after the write.
type Change struct {
	Seq  int64     `bson:"_id"`
	Kind Kind      `bson:"kind"`
	ID   string    `bson:"id"`
	At   time.Time `bson:"at"`
}

// recordChange appends to the change log. A process that dies between a write and this record
// leaves the write out of running watch streams until they reconnect and take a new snapshot.
func (s *Store) recordChange(ctx context.Context, kind Kind, id string) error {
	var counter struct {
		Seq int64 `bson:"seq"`
	}
	err := s.counters.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: "changes"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(1)}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
	).Decode(&counter)
	if err != nil {
		return fmt.Errorf("store: change sequence: %w", err)
	}
	_, err = s.changes.InsertOne(ctx, Change{Seq: counter.Seq, Kind: kind, ID: id, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("store: change log: %w", err)
	}
	return nil
}

// LastChange returns the newest configuration version, 0 when nothing was ever written.
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	var c Change
	err := s.changes.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&c)
	if err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return 0, nil
		}
		return 0, err
	}
	return c.Seq, nil
}

// ChangeSeq returns the last configuration version handed out (0 before the first change):
// one read of the sequence counter by _id, so polling it is cheap even where a range query on
// the change log is a scan (FerretDB v1 pushes down only string _id equality).
func (s *Store) ChangeSeq(ctx context.Context) (int64, error) {
	var counter struct {
		Seq int64 `bson:"seq"`
	}
	err := s.counters.FindOne(ctx, bson.D{{Key: "_id", Value: "changes"}}).Decode(&counter)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return counter.Seq, err
}

// ChangesAfter returns up to limit changes with Seq > after, oldest first.
func (s *Store) ChangesAfter(ctx context.Context, after int64, limit int) ([]Change, error) {
	cur, err := s.changes.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var out []Change
	if err := cur.All(ctx, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SweepChanges deletes change records older than before and returns how many went. Watchers never
// resume from an old version (they take a snapshot), so the log only needs to bridge poll gaps.
func (s *Store) SweepChanges(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.changes.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: before}}}})
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}
