package store

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CreateSubscription inserts sub.
func (s *Store) CreateSubscription(ctx context.Context, sub *Subscription) error {
	return s.insert(ctx, s.subscriptions, KindSubscription, sub.ID, sub)
}

// Subscription returns the subscription with id.
func (s *Store) Subscription(ctx context.Context, id string) (*Subscription, error) {
	return findOne[Subscription](ctx, s.subscriptions, bson.D{{Key: "_id", Value: id}})
}

// UpdateSubscription replaces sub, read at version sub.Version, and bumps its version.
func (s *Store) UpdateSubscription(ctx context.Context, sub *Subscription) error {
	v := sub.Version
	sub.Version++
	return s.replace(ctx, s.subscriptions, KindSubscription, sub.ID, v, sub)
}

// DeleteSubscription removes the subscription with id.
func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	return s.remove(ctx, s.subscriptions, KindSubscription, id)
}

// ListSubscriptions returns a page of the subscriber app's subscriptions.
func (s *Store) ListSubscriptions(ctx context.Context, subscriberAppID string, p Page) ([]Subscription, bool, error) {
	return pageFind[Subscription](ctx, s.subscriptions, bson.D{{Key: "subscriberAppId", Value: subscriberAppID}}, p)
}

// SubscriptionsToEvents returns the subscriptions to the publisher app's topic that name any of events.
func (s *Store) SubscriptionsToEvents(ctx context.Context, appID, topic string, events []string) ([]Subscription, error) {
	return findAll[Subscription](ctx, s.subscriptions, bson.D{
		{Key: "appId", Value: appID}, {Key: "topic", Value: topic},
		{Key: "events", Value: bson.D{{Key: "$in", Value: events}}},
	})
}

// AppSubscriptions returns the subscriptions of the app with id and those to it.
func (s *Store) AppSubscriptions(ctx context.Context, id string) ([]Subscription, error) {
	return findAll[Subscription](ctx, s.subscriptions, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "subscriberAppId", Value: id}}, bson.D{{Key: "appId", Value: id}},
	}}})
}

// AllSubscriptions returns every subscription.
func (s *Store) AllSubscriptions(ctx context.Context) ([]Subscription, error) {
	return findAll[Subscription](ctx, s.subscriptions, bson.D{})
}
