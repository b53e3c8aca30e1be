package store

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CreateEvent inserts e; ErrDuplicate when the app already has an event of that name on the topic.
func (s *Store) CreateEvent(ctx context.Context, e *Event) error {
	return s.insert(ctx, s.events, KindEvent, e.ID, e)
}

// Event returns the app's event named name on topic.
func (s *Store) Event(ctx context.Context, appID, topic, name string) (*Event, error) {
	return findOne[Event](ctx, s.events, eventKey(appID, topic, name))
}

// EventsByName returns the app's events on topic whose names are in names.
func (s *Store) EventsByName(ctx context.Context, appID, topic string, names []string) ([]Event, error) {
	return findAll[Event](ctx, s.events, bson.D{
		{Key: "appId", Value: appID}, {Key: "topic", Value: topic},
		{Key: "name", Value: bson.D{{Key: "$in", Value: names}}},
	})
}

// UpdateEvent replaces e, read at version e.Version, and bumps its version.
func (s *Store) UpdateEvent(ctx context.Context, e *Event) error {
	v := e.Version
	e.Version++
	return s.replace(ctx, s.events, KindEvent, e.ID, v, e)
}

// DeleteEvent removes the event with id.
func (s *Store) DeleteEvent(ctx context.Context, id string) error {
	return s.remove(ctx, s.events, KindEvent, id)
}

// ListEvents returns a page of the app's events on topic.
func (s *Store) ListEvents(ctx context.Context, appID, topic string, p Page) ([]Event, bool, error) {
	return pageFind[Event](ctx, s.events, bson.D{{Key: "appId", Value: appID}, {Key: "topic", Value: topic}}, p)
}

// AppEvents returns every event of the apps in appIDs.
func (s *Store) AppEvents(ctx context.Context, appIDs []string) ([]Event, error) {
	return findAll[Event](ctx, s.events, bson.D{{Key: "appId", Value: bson.D{{Key: "$in", Value: appIDs}}}})
}

// AllEvents returns every event.
func (s *Store) AllEvents(ctx context.Context) ([]Event, error) {
	return findAll[Event](ctx, s.events, bson.D{})
}

func eventKey(appID, topic, name string) bson.D {
	return bson.D{{Key: "appId", Value: appID}, {Key: "topic", Value: topic}, {Key: "name", Value: name}}
}

// EventByID returns the event with id.
func (s *Store) EventByID(ctx context.Context, id string) (*Event, error) {
	return findOne[Event](ctx, s.events, bson.D{{Key: "_id", Value: id}})
}
