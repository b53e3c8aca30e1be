package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
)

// CreateAppConfig makes the calling app a publisher, or changes its config when it is one
// already. Its id is the app's id.
func (a *API) CreateAppConfig(ctx context.Context, req *registryv1.CreateAppConfigRequest) (*registryv1.CreateAppConfigResponse, error) {
	app, err := callerApp(ctx)
	if err != nil {
		return nil, err
	}
	perms, err := cleanPermissions("permissions", req.GetPermissions(), true)
	if err != nil {
		return nil, err
	}
	if err := checkText("name", req.GetName(), maxNameLen, false); err != nil {
		return nil, err
	}
	name := req.GetName()
	if name == "" {
		name = app.Name
	}
	err = retryOnConflict(func() error {
		cfg, err := a.store.AppConfig(ctx, app.ID)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		t := now()
		if !exists {
			cfg = &store.AppConfig{ID: app.ID, CreatedAt: t}
		}
		cfg.Name, cfg.Permissions, cfg.UpdatedAt = name, perms, t
		err = a.store.PutAppConfig(ctx, cfg, exists)
		if errors.Is(err, store.ErrDuplicate) {
			return store.ErrConflict // created concurrently: read again and update
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	a.hub.nudge()
	return &registryv1.CreateAppConfigResponse{Id: app.ID}, nil
}

// GetAppConfig returns the calling app's publisher config.
func (a *API) GetAppConfig(ctx context.Context, _ *registryv1.GetAppConfigRequest) (*registryv1.AppConfig, error) {
	app, err := callerApp(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := a.store.AppConfig(ctx, app.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("", "this app has no app config yet: create one with POST /v1/appconfig")
	}
	if err != nil {
		return nil, err
	}
	return appConfigPB(cfg), nil
}

// RegisterEvents registers the calling app's events on a topic. Either all are registered or,
// on a bad or duplicate event, none.
func (a *API) RegisterEvents(ctx context.Context, req *registryv1.RegisterEventsRequest) (*registryv1.RegisterEventsResponse, error) {
	app, err := callerApp(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTopic(req.GetTopic()); err != nil {
		return nil, err
	}
	if err := checkAPIPath("getApiPath", req.GetGetApiPath()); err != nil {
		return nil, err
	}
	in := req.GetEvents()
	switch {
	case len(in) == 0:
		return nil, invalid("events", "needs at least one event")
	case len(in) > maxEventsPerCall:
		return nil, invalid("events", "has %d events, at most %d are allowed per request", len(in), maxEventsPerCall)
	}
	t := now()
	events := make([]*store.Event, len(in))
	names := make([]string, len(in))
	for i, e := range in {
		f := func(name string) string { return fmt.Sprintf("events[%d].%s", i, name) }
		if err := checkName(f("name"), e.GetName()); err != nil {
			return nil, err
		}
		if j := slices.Index(names[:i], e.GetName()); j >= 0 {
			return nil, invalid(f("name"), "%q is also events[%d].name: names are unique per app and topic", e.GetName(), j)
		}
		if err := checkText(f("eventType"), e.GetEventType(), maxNameLen*2, true); err != nil {
			return nil, err
		}
		if err := checkText(f("description"), e.GetDescription(), maxDescriptionLen, false); err != nil {
			return nil, err
		}
		if err := checkText(f("type"), e.GetType(), maxNameLen, false); err != nil {
			return nil, err
		}
		if e.GetAppId() != "" && e.GetAppId() != app.ID {
			return nil, invalid(f("appId"), "must be the calling app's id %q or left out", app.ID)
		}
		path := e.GetGetApiPath()
		if path == "" {
			path = req.GetGetApiPath()
		} else if err := checkAPIPath(f("getApiPath"), path); err != nil {
			return nil, err
		}
		rule, err := compileFilter(f("filterLogic"), e.GetFilterLogic())
		if err != nil {
			return nil, err
		}
		names[i] = e.GetName()
		events[i] = &store.Event{
			ID: store.NewID("evt_"), AppID: app.ID, Topic: req.GetTopic(), Name: e.GetName(),
			Description: e.GetDescription(), EventType: e.GetEventType(), FilterLogic: rule,
			Type: e.GetType(), GetAPIPath: path, CreatedAt: t, UpdatedAt: t,
		}
	}
	existing, err := a.store.EventsByName(ctx, app.ID, req.GetTopic(), names)
	if err != nil {
		return nil, err
	}
	for i, name := range names {
		if slices.ContainsFunc(existing, func(e store.Event) bool { return e.Name == name }) {
			return nil, conflict(fmt.Sprintf("events[%d].name", i), "event %q is already registered on topic %q: change it with PUT /v1/topics/%s/events/%s",
				name, req.GetTopic(), req.GetTopic(), name)
		}
	}
	resp := &registryv1.RegisterEventsResponse{}
	for i, e := range events {
		if err := a.store.CreateEvent(ctx, e); err != nil {
			a.rollbackEvents(ctx, events[:i])
			if errors.Is(err, store.ErrDuplicate) {
				return nil, conflict(fmt.Sprintf("events[%d].name", i), "event %q was registered by a concurrent request", e.Name)
			}
			return nil, err
		}
		resp.Events = append(resp.Events, eventPB(e))
	}
	a.hub.nudge()
	return resp, nil
}

// rollbackEvents removes events inserted by a request that failed part-way (no transactions).
func (a *API) rollbackEvents(ctx context.Context, events []*store.Event) {
	for _, e := range events {
		if err := a.store.DeleteEvent(context.WithoutCancel(ctx), e.ID); err != nil {
			a.log.Error("registry: rolling back a registered event failed", "event", e.ID, "err", err)
		}
	}
}

// GetPublisherEvents lists the calling app's events on a topic, a page at a time.
func (a *API) GetPublisherEvents(ctx context.Context, req *registryv1.GetPublisherEventsRequest) (*registryv1.GetPublisherEventsResponse, error) {
	app, err := callerApp(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTopic(req.GetTopic()); err != nil {
		return nil, err
	}
	page, err := decodePage(req.GetPage(), req.GetLimit())
	if err != nil {
		return nil, err
	}
	events, more, err := a.store.ListEvents(ctx, app.ID, req.GetTopic(), page)
	if err != nil {
		return nil, err
	}
	resp := &registryv1.GetPublisherEventsResponse{Events: make([]*registryv1.Event, len(events))}
	for i := range events {
		resp.Events[i] = eventPB(&events[i])
	}
	resp.Meta = encodePage(lastID(events, func(e store.Event) string { return e.ID }), more)
	return resp, nil
}

// UpdatePublisherEvents changes one event. A rename carries its subscriptions along.
func (a *API) UpdatePublisherEvents(ctx context.Context, req *registryv1.UpdatePublisherEventsRequest) (*registryv1.UpdatePublisherEventsResponse, error) {
	app, err := callerApp(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTopic(req.GetTopic()); err != nil {
		return nil, err
	}
	switch n := len(req.GetEvents()); {
	case n == 0:
		return nil, invalid("events", "needs one item with the event's new details")
	case n > 1:
		return nil, invalid("events", "updates the one event named in the path: send exactly one item, got %d", n)
	}
	p := req.GetEvents()[0]
	if p.Name != nil {
		if err := checkName("events[0].name", p.GetName()); err != nil {
			return nil, err
		}
	}
	if p.EventType != nil {
		if err := checkText("events[0].eventType", p.GetEventType(), maxNameLen*2, true); err != nil {
			return nil, err
		}
	}
	if err := checkText("events[0].description", p.GetDescription(), maxDescriptionLen, false); err != nil {
		return nil, err
	}
	if err := checkText("events[0].type", p.GetType(), maxNameLen, false); err != nil {
		return nil, err
	}
	if err := checkAPIPath("events[0].getApiPath", p.GetGetApiPath()); err != nil {
		return nil, err
	}
	if p.AppId != nil && p.GetAppId() != app.ID {
		return nil, invalid("events[0].appId", "must be the calling app's id %q: an event cannot move to another app", app.ID)
	}
	rule, err := compileFilter("events[0].filterLogic", p.GetFilterLogic())
	if err != nil {
		return nil, err
	}
	if p.Name != nil && p.GetName() != req.GetEventName() {
		// Checked first for a clear answer; the unique index still decides a race.
		switch _, err := a.store.Event(ctx, app.ID, req.GetTopic(), p.GetName()); {
		case err == nil:
			return nil, conflict("events[0].name", "event %q is already registered on topic %q", p.GetName(), req.GetTopic())
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	var ev *store.Event
	err = retryOnConflict(func() error {
		if ev, err = a.store.Event(ctx, app.ID, req.GetTopic(), req.GetEventName()); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return notFound("eventName", "no event %q on topic %q", req.GetEventName(), req.GetTopic())
			}
			return err
		}
		if p.Name != nil {
			ev.Name = p.GetName()
		}
		if p.Description != nil {
			ev.Description = p.GetDescription()
		}
		if p.EventType != nil {
			ev.EventType = p.GetEventType()
		}
		if p.FilterLogic != nil {
			ev.FilterLogic = rule
		}
		if p.Type != nil {
			ev.Type = p.GetType()
		}
		if p.GetApiPath != nil {
			ev.GetAPIPath = p.GetGetApiPath()
		}
		ev.UpdatedAt = now()
		return a.store.UpdateEvent(ctx, ev)
	})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, conflict("events[0].name", "event %q is already registered on topic %q", p.GetName(), req.GetTopic())
	}
	if err != nil {
		return nil, err
	}
	if ev.Name != req.GetEventName() {
		if err := a.renameInSubscriptions(ctx, app.ID, req.GetTopic(), req.GetEventName(), ev.Name); err != nil {
			return nil, err
		}
	}
	a.hub.nudge()
	return &registryv1.UpdatePublisherEventsResponse{Events: []*registryv1.Event{eventPB(ev)}}, nil
}

func (a *API) renameInSubscriptions(ctx context.Context, appID, topic, from, to string) error {
	subs, err := a.store.SubscriptionsToEvents(ctx, appID, topic, []string{from})
	if err != nil {
		return err
	}
	for i := range subs {
		id := subs[i].ID
		err := retryOnConflict(func() error {
			sub, err := a.store.Subscription(ctx, id)
			if err != nil {
				return err
			}
			for j, name := range sub.Events {
				if name == from {
					sub.Events[j] = to
				}
			}
			sub.Events = slices.Compact(sub.Events)
			return a.store.UpdateSubscription(ctx, sub)
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// BulkDeleteEvents deletes up to 25 of the calling app's events by name. Names that do not exist
// are skipped; the response lists what was deleted. Subscriptions naming a deleted event keep the
// name and receive nothing for it.
func (a *API) BulkDeleteEvents(ctx context.Context, req *registryv1.BulkDeleteEventsRequest) (*registryv1.BulkDeleteEventsResponse, error) {
	app, err := callerApp(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTopic(req.GetTopic()); err != nil {
		return nil, err
	}
	names := req.GetEvents()
	switch {
	case len(names) == 0:
		return nil, invalid("events", "needs at least one event name")
	case len(names) > maxBulkDelete:
		return nil, invalid("events", "has %d names, at most %d events can be deleted per request", len(names), maxBulkDelete)
	}
	for i, n := range names {
		if n == "" {
			return nil, invalid(fmt.Sprintf("events[%d]", i), "is empty")
		}
	}
	found, err := a.store.EventsByName(ctx, app.ID, req.GetTopic(), names)
	if err != nil {
		return nil, err
	}
	resp := &registryv1.BulkDeleteEventsResponse{Deleted: []string{}}
	for _, e := range found {
		if err := a.store.DeleteEvent(ctx, e.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		resp.Deleted = append(resp.Deleted, e.Name)
	}
	a.hub.nudge()
	return resp, nil
}

// RemoveEvents is the OS1 `{"action":"remove","events":[…]}` form of BulkDeleteEvents.
func (a *API) RemoveEvents(ctx context.Context, req *registryv1.RemoveEventsRequest) (*registryv1.BulkDeleteEventsResponse, error) {
	if req.GetAction() != "remove" {
		return nil, invalid("action", "must be \"remove\", got %q", req.GetAction())
	}
	return a.BulkDeleteEvents(ctx, &registryv1.BulkDeleteEventsRequest{Topic: req.GetTopic(), Events: req.GetEvents()})
}
