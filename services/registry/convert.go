package registry

import (
	"encoding/base64"
	"time"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// ruleValue turns a stored rule back into a JSON value; nil for no rule.
func ruleValue(rule string) *structpb.Value {
	if rule == "" {
		return nil
	}
	v := &structpb.Value{}
	if err := v.UnmarshalJSON([]byte(rule)); err != nil {
		return nil // stored rules were compiled from JSON; this cannot happen short of corruption
	}
	return v
}

func appPB(a *store.App) *registryv1.App {
	return &registryv1.App{Id: a.ID, Name: a.Name, Permissions: a.Permissions, CreateTime: ts(a.CreatedAt), UpdateTime: ts(a.UpdatedAt)}
}

func appConfigPB(c *store.AppConfig) *registryv1.AppConfig {
	return &registryv1.AppConfig{Id: c.ID, Name: c.Name, Permissions: c.Permissions, CreateTime: ts(c.CreatedAt), UpdateTime: ts(c.UpdatedAt)}
}

func eventPB(e *store.Event) *registryv1.Event {
	return &registryv1.Event{
		Id: e.ID, Name: e.Name, Description: e.Description, EventType: e.EventType,
		FilterLogic: ruleValue(e.FilterLogic), Type: e.Type, GetApiPath: e.GetAPIPath,
		AppId: e.AppID, Topic: e.Topic, CreateTime: ts(e.CreatedAt), UpdateTime: ts(e.UpdatedAt),
	}
}

func subscriptionPB(s *store.Subscription) *registryv1.Subscription {
	o := s.Options
	return &registryv1.Subscription{
		Id: s.ID, AppId: s.AppID, SubscriberAppId: s.SubscriberAppID, Topic: s.Topic, Events: s.Events,
		Url: s.URL, FilterLogic: ruleValue(s.FilterLogic),
		Options: &registryv1.SubscriptionOptions{
			Payload: o.Payload, HubSignature: o.HubSignature, VerificationKey: o.VerificationKey,
			Ordered: o.Ordered, RetrySchedule: o.RetrySchedule, SkipVerification: o.SkipVerification,
		},
		Status: s.Status, StatusReason: s.StatusReason, Description: s.Description,
		CreateTime: ts(s.CreatedAt), UpdateTime: ts(s.UpdatedAt), SecretRotateTime: ts(s.SecretRotatedAt),
	}
}

func optionsDoc(o *registryv1.SubscriptionOptions) store.SubscriptionOptions {
	return store.SubscriptionOptions{
		Payload: o.GetPayload(), HubSignature: o.GetHubSignature(), VerificationKey: o.GetVerificationKey(),
		Ordered: o.GetOrdered(), RetrySchedule: o.GetRetrySchedule(), SkipVerification: o.GetSkipVerification(),
	}
}

// Page tokens are the last id of a page, base64url-encoded so callers treat them as opaque.

func encodePage(lastID string, more bool) *registryv1.PageMeta {
	if !more {
		return &registryv1.PageMeta{}
	}
	return &registryv1.PageMeta{NextPage: base64.RawURLEncoding.EncodeToString([]byte(lastID)), HasNextPage: true}
}

func decodePage(token string, limit int32) (store.Page, error) {
	n, err := pageSize(limit)
	if err != nil {
		return store.Page{}, err
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return store.Page{}, invalid("page", "is not a page token from a previous response's meta.nextPage")
	}
	return store.Page{After: string(b), Limit: n}, nil
}
