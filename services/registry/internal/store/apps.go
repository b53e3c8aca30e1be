package store

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CreateApp inserts a new app.
func (s *Store) CreateApp(ctx context.Context, a *App) error {
	return s.insert(ctx, s.apps, KindApp, a.ID, a)
}

// App returns the app with id.
func (s *Store) App(ctx context.Context, id string) (*App, error) {
	return findOne[App](ctx, s.apps, bson.D{{Key: "_id", Value: id}})
}

// AppByKeyHash returns the app whose key hashes to hash.
func (s *Store) AppByKeyHash(ctx context.Context, hash string) (*App, error) {
	return findOne[App](ctx, s.apps, bson.D{{Key: "keyHash", Value: hash}})
}

// UpdateApp replaces a, read at version a.Version, and bumps its version.
func (s *Store) UpdateApp(ctx context.Context, a *App) error {
	v := a.Version
	a.Version++
	return s.replace(ctx, s.apps, KindApp, a.ID, v, a)
}

// DeleteApp removes the app with id (and with it its key: AppByKeyHash no longer finds it).
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return s.remove(ctx, s.apps, KindApp, id)
}

// DeleteAppConfig removes the app config of the app with id.
func (s *Store) DeleteAppConfig(ctx context.Context, id string) error {
	return s.remove(ctx, s.appConfigs, KindAppConfig, id)
}

// ListApps returns a page of apps.
func (s *Store) ListApps(ctx context.Context, p Page) ([]App, bool, error) {
	return pageFind[App](ctx, s.apps, bson.D{}, p)
}

// AllApps returns every app (for the configuration snapshot).
func (s *Store) AllApps(ctx context.Context) ([]App, error) {
	return findAll[App](ctx, s.apps, bson.D{})
}

// PutAppConfig inserts c or, when one exists at version c.Version, replaces it.
func (s *Store) PutAppConfig(ctx context.Context, c *AppConfig, exists bool) error {
	if !exists {
		return s.insert(ctx, s.appConfigs, KindAppConfig, c.ID, c)
	}
	v := c.Version
	c.Version++
	return s.replace(ctx, s.appConfigs, KindAppConfig, c.ID, v, c)
}

// AppConfig returns the app config of the app with id.
func (s *Store) AppConfig(ctx context.Context, id string) (*AppConfig, error) {
	return findOne[AppConfig](ctx, s.appConfigs, bson.D{{Key: "_id", Value: id}})
}

// AllAppConfigs returns every app config.
func (s *Store) AllAppConfigs(ctx context.Context) ([]AppConfig, error) {
	return findAll[AppConfig](ctx, s.appConfigs, bson.D{})
}
