package registry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// holdsAny reports whether perms share at least one permission with required.
func holdsAny(perms, required []string) bool {
	return slices.ContainsFunc(required, func(p string) bool { return slices.Contains(perms, p) })
}

// ListPublishers lists the publishers whose events the calling app may subscribe to (it holds
// one of their permissions), each with its events.
func (a *API) ListPublishers(ctx context.Context, _ *registryv1.ListPublishersRequest) (*registryv1.ListPublishersResponse, error) {
	app, err := callerApp(ctx)
	if err != nil {
		return nil, err
	}
	configs, err := a.store.AllAppConfigs(ctx)
	if err != nil {
		return nil, err
	}
	resp := &registryv1.ListPublishersResponse{Publishers: []*registryv1.Publisher{}}
	byApp := map[string]*registryv1.Publisher{}
	var ids []string
	for _, c := range configs {
		if !holdsAny(app.Permissions, c.Permissions) {
			continue
		}
		p := &registryv1.Publisher{AppId: c.ID, Name: c.Name, Permissions: c.Permissions, Events: []*registryv1.Event{}}
		resp.Publishers = append(resp.Publishers, p)
		byApp[c.ID] = p
		ids = append(ids, c.ID)
	}
	if len(ids) == 0 {
		return resp, nil
	}
	events, err := a.store.AppEvents(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range events {
		e := eventPB(&events[i])
		e.FilterLogic = nil // the publisher's rule is its own business
		byApp[events[i].AppID].Events = append(byApp[events[i].AppID].Events, e)
	}
	return resp, nil
}

// newSecret returns a Standard Webhooks signing secret: "whsec_" and base64 of 24 random bytes.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// checkSubscribable checks that the publisher exists, the caller holds one of its permissions,
// and every event name is registered on the topic.
func (a *API) checkSubscribable(ctx context.Context, caller *store.App, publisherID, topic string, events []string, eventsField string) error {
	cfg, err := a.store.AppConfig(ctx, publisherID)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("appId", "no publisher %q: the app does not exist or has no app config", publisherID)
	}
	if err != nil {
		return err
	}
	if !holdsAny(caller.Permissions, cfg.Permissions) {
		return forbidden("appId", "subscribing to %s's events needs one of the permissions [%s]; this app holds [%s]",
			cfg.Name, strings.Join(cfg.Permissions, ", "), strings.Join(caller.Permissions, ", "))
	}
	if len(events) == 0 {
		return invalid(eventsField, "needs at least one event name")
	}
	if len(events) > maxEventsPerCall {
		return invalid(eventsField, "has %d names, at most %d are allowed", len(events), maxEventsPerCall)
	}
	found, err := a.store.EventsByName(ctx, publisherID, topic, events)
	if err != nil {
		return err
	}
	for i, name := range events {
		if !slices.ContainsFunc(found, func(e store.Event) bool { return e.Name == name }) {
			return invalid(fmt.Sprintf("%s[%d]", eventsField, i), "publisher %s has no event %q on topic %q (see GET /v1/publishers)", cfg.Name, name, topic)
		}
	}
	return nil
}

// CreateSubscription subscribes the calling app to events of a publisher it may see, and returns
// the signing secret once.
func (a *API) CreateSubscription(ctx context.Context, req *registryv1.CreateSubscriptionRequest) (*registryv1.CreateSubscriptionResponse, error) {
	app, err := callerApp(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetAppId() == "" {
		return nil, invalid("appId", "is required: the id of the publisher app whose events you want")
	}
	if err := checkTopic(req.GetTopic()); err != nil {
		return nil, err
	}
	if err := checkWebhookURL("url", req.GetUrl()); err != nil {
		return nil, err
	}
	if err := checkText("description", req.GetDescription(), maxDescriptionLen, false); err != nil {
		return nil, err
	}
	rule, err := compileFilter("filterLogic", req.GetFilterLogic())
	if err != nil {
		return nil, err
	}
	opts := req.GetOptions()
	if opts == nil {
		opts = &registryv1.SubscriptionOptions{}
	}
	if err := checkOptions("options", opts); err != nil {
		return nil, err
	}
	events := slices.Compact(slices.Sorted(slices.Values(req.GetEvents())))
	if err := a.checkSubscribable(ctx, app, req.GetAppId(), req.GetTopic(), req.GetEvents(), "events"); err != nil {
		return nil, err
	}
	status, reason := store.StatusActive, ""
	if !opts.GetSkipVerification() {
		status, reason = statusAfter(a.verifier.verify(ctx, req.GetUrl()))
	}
	secret := newSecret()
	t := now()
	sub := &store.Subscription{
		ID: store.NewID("sub_"), AppID: req.GetAppId(), SubscriberAppID: app.ID, Topic: req.GetTopic(),
		Events: events, URL: req.GetUrl(), FilterLogic: rule, Options: optionsDoc(opts),
		Status: status, StatusReason: reason, Description: req.GetDescription(),
		Secret: a.box.Seal([]byte(secret)), SecretRotatedAt: t, CreatedAt: t, UpdatedAt: t,
	}
	if err := a.store.CreateSubscription(ctx, sub); err != nil {
		return nil, err
	}
	a.hub.nudge()
	resp := &registryv1.CreateSubscriptionResponse{Id: sub.ID, Secret: secret, Subscription: subscriptionPB(sub)}
	if req.GetBackfillFrom() != nil && sub.Status == store.StatusActive {
		// The subscription exists either way; a backfill that cannot start is reported, not fatal.
		if resp.Backfill, err = a.startReplay(ctx, sub, req.GetBackfillFrom(), nil, "backfillFrom", "backfillFrom"); err != nil {
			a.log.Warn("registry: backfill did not start", "subscription", sub.ID, "err", err)
			resp.Backfill = &registryv1.Replay{SubscriptionId: sub.ID, Status: store.ReplayFailed, Error: err.Error()}
		}
	}
	return resp, nil
}

// ownSubscription loads a subscription of the calling app; another app's is reported as missing.
func (a *API) ownSubscription(ctx context.Context, id string) (*store.App, *store.Subscription, error) {
	return a.ownSubscriptionAs(ctx, "id", id)
}

// ownSubscriptionAs is ownSubscription for a request whose field naming the subscription is field.
//
// The admin token may act on any subscription (operators pause and resume them); the app
// returned is then the subscriber, so permission checks still apply to it.
func (a *API) ownSubscriptionAs(ctx context.Context, field, id string) (*store.App, *store.Subscription, error) {
	if requireAdmin(ctx) == nil {
		sub, err := a.store.Subscription(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, notFound(field, "no subscription %q", id)
		}
		if err != nil {
			return nil, nil, err
		}
		app, err := a.store.App(ctx, sub.SubscriberAppID)
		if err != nil {
			return nil, nil, err
		}
		return app, sub, nil
	}
	app, err := callerApp(ctx)
	if err != nil {
		return nil, nil, err
	}
	sub, err := a.store.Subscription(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sub.SubscriberAppID != app.ID) {
		return nil, nil, notFound(field, "no subscription %q", id)
	}
	if err != nil {
		return nil, nil, err
	}
	return app, sub, nil
}

// ListSubscriptions lists the calling app's subscriptions, oldest first.
func (a *API) ListSubscriptions(ctx context.Context, req *registryv1.ListSubscriptionsRequest) (*registryv1.ListSubscriptionsResponse, error) {
	app, err := callerApp(ctx)
	if err != nil {
		return nil, err
	}
	page, err := decodePage(req.GetPage(), req.GetLimit())
	if err != nil {
		return nil, err
	}
	subs, more, err := a.store.ListSubscriptions(ctx, app.ID, page)
	if err != nil {
		return nil, err
	}
	resp := &registryv1.ListSubscriptionsResponse{Subscriptions: make([]*registryv1.Subscription, len(subs))}
	for i := range subs {
		resp.Subscriptions[i] = subscriptionPB(&subs[i])
	}
	resp.Meta = encodePage(lastID(subs, func(s store.Subscription) string { return s.ID }), more)
	return resp, nil
}

// GetSubscription returns one of the calling app's subscriptions.
func (a *API) GetSubscription(ctx context.Context, req *registryv1.GetSubscriptionRequest) (*registryv1.Subscription, error) {
	_, sub, err := a.ownSubscription(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return subscriptionPB(sub), nil
}

// UpdateSubscription changes a subscription; fields left out keep their value.
func (a *API) UpdateSubscription(ctx context.Context, req *registryv1.UpdateSubscriptionRequest) (*registryv1.Subscription, error) {
	if req.Url != nil {
		if err := checkWebhookURL("url", req.GetUrl()); err != nil {
			return nil, err
		}
	}
	if err := checkText("description", req.GetDescription(), maxDescriptionLen, false); err != nil {
		return nil, err
	}
	if req.Status != nil && req.GetStatus() != store.StatusActive && req.GetStatus() != store.StatusPaused {
		return nil, invalid("status", "may be set to %q or %q, got %q", store.StatusActive, store.StatusPaused, req.GetStatus())
	}
	rule, err := compileFilter("filterLogic", req.GetFilterLogic())
	if err != nil {
		return nil, err
	}
	if req.Options != nil {
		if err := checkOptions("options", req.Options); err != nil {
			return nil, err
		}
	}
	// A new URL is verified before it is stored (unless the options skip verification).
	var checked *verification
	if req.Url != nil && !req.GetOptions().GetSkipVerification() {
		if _, cur, err := a.ownSubscription(ctx, req.GetId()); err != nil {
			return nil, err
		} else if cur.URL != req.GetUrl() && !(req.Options == nil && cur.Options.SkipVerification) {
			v := a.verifier.verify(ctx, req.GetUrl())
			checked = &v
		}
	}
	var sub *store.Subscription
	err = retryOnConflict(func() error {
		var app *store.App
		if app, sub, err = a.ownSubscription(ctx, req.GetId()); err != nil {
			return err
		}
		if req.GetStatus() == store.StatusActive && sub.Status == store.StatusUnverified && (checked == nil || !checked.ok) {
			return conflict("status", "the endpoint has not passed verification (%s): fix it, then POST /v1/subscriptions/%s:verify", sub.StatusReason, sub.ID)
		}
		if req.Events != nil {
			if err := a.checkSubscribable(ctx, app, sub.AppID, sub.Topic, req.Events.GetValues(), "events.values"); err != nil {
				return err
			}
			sub.Events = slices.Compact(slices.Sorted(slices.Values(req.Events.GetValues())))
		}
		if req.Url != nil {
			sub.URL = req.GetUrl()
		}
		if req.FilterLogic != nil {
			sub.FilterLogic = rule
		}
		if req.Options != nil {
			sub.Options = optionsDoc(req.Options)
		}
		if req.Status != nil {
			sub.Status, sub.StatusReason, sub.StatusChangedAt = req.GetStatus(), "", now()
		}
		if checked != nil && sub.Status != store.StatusPaused {
			if status, reason := statusAfter(*checked); status != sub.Status || reason != sub.StatusReason {
				sub.Status, sub.StatusReason, sub.StatusChangedAt = status, reason, now()
			}
		}
		if req.Description != nil {
			sub.Description = req.GetDescription()
		}
		sub.UpdatedAt = now()
		return a.store.UpdateSubscription(ctx, sub)
	})
	if err != nil {
		return nil, err
	}
	a.hub.nudge()
	return subscriptionPB(sub), nil
}

// DeleteSubscription deletes one of the calling app's subscriptions.
func (a *API) DeleteSubscription(ctx context.Context, req *registryv1.DeleteSubscriptionRequest) (*registryv1.DeleteSubscriptionResponse, error) {
	if _, _, err := a.ownSubscription(ctx, req.GetId()); err != nil {
		return nil, err
	}
	if err := a.store.DeleteSubscription(ctx, req.GetId()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	a.hub.nudge()
	return &registryv1.DeleteSubscriptionResponse{Id: req.GetId()}, nil
}

// RotateSubscriptionSecret issues a new signing secret. The previous one keeps signing too
// (deliveries carry both signatures) for the overlap window, 24 hours unless asked otherwise.
func (a *API) RotateSubscriptionSecret(ctx context.Context, req *registryv1.RotateSubscriptionSecretRequest) (*registryv1.RotateSubscriptionSecretResponse, error) {
	overlap := defaultOverlap
	switch s := req.GetOverlapSeconds(); {
	case s < 0 || time.Duration(s)*time.Second > maxOverlap:
		return nil, invalid("overlapSeconds", "must be between 0 and %d, got %d", int(maxOverlap.Seconds()), s)
	case s > 0:
		overlap = time.Duration(s) * time.Second
	}
	secret := newSecret()
	var sub *store.Subscription
	err := retryOnConflict(func() error {
		var err error
		if _, sub, err = a.ownSubscription(ctx, req.GetId()); err != nil {
			return err
		}
		t := now()
		sub.PrevSecret, sub.PrevSecretExpiresAt = sub.Secret, t.Add(overlap)
		sub.Secret, sub.SecretRotatedAt, sub.UpdatedAt = a.box.Seal([]byte(secret)), t, t
		return a.store.UpdateSubscription(ctx, sub)
	})
	if err != nil {
		return nil, err
	}
	a.hub.nudge()
	return &registryv1.RotateSubscriptionSecretResponse{Secret: secret, PreviousSecretExpireTime: timestamppb.New(sub.PrevSecretExpiresAt)}, nil
}
