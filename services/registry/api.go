package registry

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/pkg/apikey"
	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/topics"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
)

// API implements every registry operation once; the gRPC server calls it directly and the JSON
// routes (handler.go) decode into the same request messages and call the same methods.
// The caller's identity comes from the context (see auth.go).
type API struct {
	registryv1.UnimplementedRegistryServiceServer

	store      *store.Store
	box        *secretbox.Box
	adminToken string
	hub        *hub
	log        *slog.Logger
	jobs       jobWriter // herald.deliveries and herald.replays; nil without Kafka
	names      topics.Names
	verifier   *verifier
}

// NewAPI returns the registry API over st.
func NewAPI(st *store.Store, box *secretbox.Box, adminToken string, h *hub, v *verifier, log *slog.Logger) *API {
	return &API{store: st, box: box, adminToken: adminToken, hub: h, verifier: v, log: log}
}

// retryOnConflict runs a read-modify-write until it does not lose a race (a few tries).
func retryOnConflict(f func() error) error {
	var err error
	for range 5 {
		if err = f(); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return conflict("", "the resource kept changing while it was being updated; try again")
}

func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// ---- apps ----

// CreateApp creates an app and returns its id and API key (admin).
func (a *API) CreateApp(ctx context.Context, req *registryv1.CreateAppRequest) (*registryv1.CreateAppResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := checkText("name", req.GetName(), maxNameLen, true); err != nil {
		return nil, err
	}
	perms, err := cleanPermissions("permissions", req.GetPermissions(), false)
	if err != nil {
		return nil, err
	}
	key, hash := apikey.New()
	t := now()
	app := &store.App{ID: store.NewID("app_"), Name: req.GetName(), Permissions: perms, KeyHash: hash, CreatedAt: t, UpdatedAt: t}
	if err := a.store.CreateApp(ctx, app); err != nil {
		return nil, err
	}
	a.hub.nudge()
	return &registryv1.CreateAppResponse{Id: app.ID, ApiKey: key}, nil
}

// UpdateApp renames an app or changes the permissions it holds (admin). A withdrawn permission
// stops deliveries at the next match: the matcher checks permissions on every event.
func (a *API) UpdateApp(ctx context.Context, req *registryv1.UpdateAppRequest) (*registryv1.App, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.Name != nil {
		if err := checkText("name", req.GetName(), maxNameLen, true); err != nil {
			return nil, err
		}
	}
	var replace []string
	if req.Permissions != nil {
		var err error
		if replace, err = cleanPermissions("permissions", req.Permissions.GetValues(), false); err != nil {
			return nil, err
		}
	}
	grant, err := cleanPermissions("grant", req.GetGrant(), false)
	if err != nil {
		return nil, err
	}
	revoke, err := cleanPermissions("revoke", req.GetRevoke(), false)
	if err != nil {
		return nil, err
	}
	var app *store.App
	err = retryOnConflict(func() error {
		if app, err = a.store.App(ctx, req.GetAppId()); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return notFound("appId", "no app %q", req.GetAppId())
			}
			return err
		}
		if req.Name != nil {
			app.Name = req.GetName()
		}
		if req.Permissions != nil {
			app.Permissions = replace
		}
		app.Permissions = applyGrants(app.Permissions, grant, revoke)
		app.UpdatedAt = now()
		return a.store.UpdateApp(ctx, app)
	})
	if err != nil {
		return nil, err
	}
	a.hub.nudge()
	return appPB(app), nil
}

func applyGrants(perms, grant, revoke []string) []string {
	out := make([]string, 0, len(perms)+len(grant))
	seen := make(map[string]bool, len(perms)+len(grant))
	drop := make(map[string]bool, len(revoke))
	for _, r := range revoke {
		drop[r] = true
	}
	for _, p := range append(append([]string{}, perms...), grant...) {
		if !seen[p] && !drop[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// RotateAppKey issues a new API key for an app (admin): for a key that leaked or left with
// someone. The old key stops working at once; the new one is returned once.
func (a *API) RotateAppKey(ctx context.Context, req *registryv1.RotateAppKeyRequest) (*registryv1.CreateAppResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	key, hash := apikey.New()
	err := retryOnConflict(func() error {
		app, err := a.store.App(ctx, req.GetId())
		if errors.Is(err, store.ErrNotFound) {
			return notFound("id", "no app %q", req.GetId())
		}
		if err != nil {
			return err
		}
		app.KeyHash, app.UpdatedAt = hash, now()
		return a.store.UpdateApp(ctx, app)
	})
	if err != nil {
		return nil, err
	}
	return &registryv1.CreateAppResponse{Id: req.GetId(), ApiKey: key}, nil
}

// DeleteApp deletes an app (admin): its subscriptions and the subscriptions to it first, then its
// app config, then the app and with it its API key. It refuses while the app has registered
// events: deleting a publisher's events stops other apps' deliveries, so that stays a step of
// its own (bulkDelete). Each step is recorded as a configuration change, so matchers and
// dispatchers drop what is gone. Sent again after failing half way, it finishes the job: what
// is left of an app already deleted is deleted too, and only an app with nothing left is
// not found.
func (a *API) DeleteApp(ctx context.Context, req *registryv1.DeleteAppRequest) (*registryv1.DeleteAppResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	id := req.GetAppId()
	_, err := a.store.App(ctx, id)
	gone := errors.Is(err, store.ErrNotFound)
	if err != nil && !gone {
		return nil, err
	}
	events, err := a.store.AppEvents(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if !gone && len(events) > 0 {
		return nil, conflict("appId", "app %q has %d registered events (the first: %q on topic %q); delete them first with POST /v1/topics/{topic}/events:bulkDelete",
			id, len(events), events[0].Name, events[0].Topic)
	}
	subs, err := a.store.AppSubscriptions(ctx, id)
	if err != nil {
		return nil, err
	}
	if gone && len(events) == 0 && len(subs) == 0 {
		return nil, notFound("appId", "no app %q", id)
	}
	defer a.hub.nudge()
	if err := a.deleteSubscriptions(ctx, subs); err != nil {
		return nil, err
	}
	if err := a.store.DeleteAppConfig(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err := a.store.DeleteApp(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// Requests its key authenticated just before the app went may have added a subscription or
	// an event (and an earlier, failed delete may have left events of an app already gone).
	late, err := a.store.AppSubscriptions(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.deleteSubscriptions(ctx, late); err != nil {
		return nil, err
	}
	if events, err = a.store.AppEvents(ctx, []string{id}); err != nil {
		return nil, err
	}
	for _, e := range events {
		if err := a.store.DeleteEvent(ctx, e.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return &registryv1.DeleteAppResponse{AppId: id, DeletedSubscriptions: int32(len(subs) + len(late))}, nil
}

func (a *API) deleteSubscriptions(ctx context.Context, subs []store.Subscription) error {
	for _, sub := range subs {
		if err := a.store.DeleteSubscription(ctx, sub.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// ListApps lists apps, oldest first (admin).
func (a *API) ListApps(ctx context.Context, req *registryv1.ListAppsRequest) (*registryv1.ListAppsResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	page, err := decodePage(req.GetPage(), req.GetLimit())
	if err != nil {
		return nil, err
	}
	apps, more, err := a.store.ListApps(ctx, page)
	if err != nil {
		return nil, err
	}
	resp := &registryv1.ListAppsResponse{Apps: make([]*registryv1.App, len(apps))}
	for i := range apps {
		resp.Apps[i] = appPB(&apps[i])
	}
	resp.Meta = encodePage(lastID(apps, func(x store.App) string { return x.ID }), more)
	return resp, nil
}

func lastID[T any](items []T, id func(T) string) string {
	if len(items) == 0 {
		return ""
	}
	return id(items[len(items)-1])
}
