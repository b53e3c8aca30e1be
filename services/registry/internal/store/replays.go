package store

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Replay statuses.
const (
	ReplayPending   = "pending"
	ReplayRunning   = "running"
	ReplayDone      = "done"
	ReplayFailed    = "failed"
	ReplayCancelled = "cancelled"
)

// Replay is a bounded re-read of the input topics for one subscription.
type Replay struct {
	ID             string    `bson:"_id"`
	SubscriptionID string    `bson:"subscriptionId"`
	From           time.Time `bson:"from"`
	To             time.Time `bson:"to"`
	Status         string    `bson:"status"`
	MessagesRead   int64     `bson:"messagesRead"`
	JobsProduced   int64     `bson:"jobsProduced"`
	Error          string    `bson:"error"`
	CreatedAt      time.Time `bson:"createdAt"`
	UpdatedAt      time.Time `bson:"updatedAt"`
	Version        int64     `bson:"version"`
}

// Finished reports a status a replay does not leave.
func (r *Replay) Finished() bool {
	return r.Status == ReplayDone || r.Status == ReplayFailed || r.Status == ReplayCancelled
}

// CreateReplay inserts r. Replays are not configuration: no change is recorded.
func (s *Store) CreateReplay(ctx context.Context, r *Replay) error {
	_, err := s.db.Collection("replays").InsertOne(ctx, r)
	return err
}

// Replay returns the replay with id.
func (s *Store) Replay(ctx context.Context, id string) (*Replay, error) {
	return findOne[Replay](ctx, s.db.Collection("replays"), bson.D{{Key: "_id", Value: id}})
}

// UpdateReplay replaces r, read at version r.Version, and bumps its version.
func (s *Store) UpdateReplay(ctx context.Context, r *Replay) error {
	v := r.Version
	r.Version++
	res, err := s.db.Collection("replays").ReplaceOne(ctx, bson.D{{Key: "_id", Value: r.ID}, {Key: "version", Value: v}}, r)
	if err != nil {
		return err
	}
	if res.MatchedCount == 0 {
		return ErrConflict
	}
	return nil
}
