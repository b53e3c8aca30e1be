package matcher

import (
	"fmt"
	"slices"

	"github.com/heraldhq/herald/pkg/filter"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// Index is an immutable view of the configuration, built for lookups by (topic, eventType).
type Index struct {
	// Version is the WatchConfig version the index reflects.
	Version int64
	byType  map[typeKey][]*eventEntry
	subs    map[string]bool // subscriptions that may receive something now
}

// hasSubscription reports whether the subscription is active, permitted and known.
func (idx *Index) hasSubscription(id string) bool { return idx.subs[id] }

type typeKey struct{ topic, eventType string }

type eventEntry struct {
	id, appID, name, topic, apiPath string
	rule                            *filter.Rule
	// subs are the subscriptions that may receive this event now: active, naming it, and held
	// by an app that has one of the publisher's permissions. The index is rebuilt on every
	// configuration change, so a withdrawn permission or a paused subscription takes effect
	// at the next message.
	subs []*subEntry
}

type subEntry struct {
	id   string
	rule *filter.Rule
}

// state is the configuration as received, with rules compiled once per version of a document.
type state struct {
	version    int64
	apps       map[string]*registryv1.App
	appConfigs map[string]*registryv1.AppConfig
	events     map[string]*compiledEvent
	subs       map[string]*compiledSub
}

type compiledEvent struct {
	pb   *registryv1.Event
	rule *filter.Rule
}

type compiledSub struct {
	pb   *registryv1.Subscription
	rule *filter.Rule
}

func newState() *state {
	return &state{
		apps:       map[string]*registryv1.App{},
		appConfigs: map[string]*registryv1.AppConfig{},
		events:     map[string]*compiledEvent{},
		subs:       map[string]*compiledSub{},
	}
}

// compileRule compiles a stored rule. The registry validated it, so a failure here means the
// matcher's filter package disagrees with the registry's: the document is kept out of the
// index and reported, rather than matched with a rule it cannot evaluate.
func compileRule(v *structpb.Value) (*filter.Rule, error) {
	if v == nil {
		return nil, nil
	}
	raw, err := v.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return filter.Compile(raw)
}

// apply folds one WatchConfig step into the state. It returns the documents it had to leave
// out (rules that do not compile), for the log.
func (s *state) apply(m *registryv1.WatchConfigResponse) []error {
	if m.GetSnapshot() {
		*s = *newState()
	}
	s.version = m.GetVersion()
	var bad []error
	for _, a := range m.GetApps() {
		s.apps[a.GetId()] = a
	}
	for _, c := range m.GetAppConfigs() {
		s.appConfigs[c.GetId()] = c
	}
	for _, e := range m.GetEvents() {
		rule, err := compileRule(e.GetFilterLogic())
		if err != nil {
			bad = append(bad, fmt.Errorf("event %s (%s): %w", e.GetId(), e.GetName(), err))
			delete(s.events, e.GetId())
			continue
		}
		s.events[e.GetId()] = &compiledEvent{pb: e, rule: rule}
	}
	for _, sc := range m.GetSubscriptions() {
		sub := sc.GetSubscription()
		rule, err := compileRule(sub.GetFilterLogic())
		if err != nil {
			bad = append(bad, fmt.Errorf("subscription %s: %w", sub.GetId(), err))
			delete(s.subs, sub.GetId())
			continue
		}
		s.subs[sub.GetId()] = &compiledSub{pb: sub, rule: rule}
	}
	for _, d := range m.GetDeletions() {
		switch d.GetKind() {
		case registryv1.ConfigKind_CONFIG_KIND_APP:
			delete(s.apps, d.GetId())
		case registryv1.ConfigKind_CONFIG_KIND_APP_CONFIG:
			delete(s.appConfigs, d.GetId())
		case registryv1.ConfigKind_CONFIG_KIND_EVENT:
			delete(s.events, d.GetId())
		case registryv1.ConfigKind_CONFIG_KIND_SUBSCRIPTION:
			delete(s.subs, d.GetId())
		}
	}
	return bad
}

// index builds the lookup structure. Rules are already compiled, so this is a regrouping:
// linear in the size of the configuration, and done once per change, not per message.
func (s *state) index() *Index {
	idx := &Index{Version: s.version, byType: make(map[typeKey][]*eventEntry, len(s.events)), subs: make(map[string]bool, len(s.subs))}
	type evKey struct{ appID, topic, name string }
	byName := make(map[evKey]*eventEntry, len(s.events))
	for _, ce := range s.events {
		e := ce.pb
		entry := &eventEntry{id: e.GetId(), appID: e.GetAppId(), name: e.GetName(), topic: e.GetTopic(), apiPath: e.GetGetApiPath(), rule: ce.rule}
		k := typeKey{e.GetTopic(), e.GetEventType()}
		idx.byType[k] = append(idx.byType[k], entry)
		byName[evKey{e.GetAppId(), e.GetTopic(), e.GetName()}] = entry
	}
	for _, cs := range s.subs {
		sub := cs.pb
		if sub.GetStatus() != "active" || !s.allowed(sub) {
			continue
		}
		idx.subs[sub.GetId()] = true
		for _, name := range sub.GetEvents() {
			if entry := byName[evKey{sub.GetAppId(), sub.GetTopic(), name}]; entry != nil {
				entry.subs = append(entry.subs, &subEntry{id: sub.GetId(), rule: cs.rule})
			}
		}
	}
	// Deterministic order: jobs for one message come out in subscription-id order.
	for _, entries := range idx.byType {
		slices.SortFunc(entries, func(a, b *eventEntry) int { return cmpString(a.id, b.id) })
		for _, e := range entries {
			slices.SortFunc(e.subs, func(a, b *subEntry) int { return cmpString(a.id, b.id) })
		}
	}
	return idx
}

// allowed reports whether the subscriber still holds one of the publisher's permissions.
func (s *state) allowed(sub *registryv1.Subscription) bool {
	app, cfg := s.apps[sub.GetSubscriberAppId()], s.appConfigs[sub.GetAppId()]
	if app == nil || cfg == nil {
		return false
	}
	return slices.ContainsFunc(cfg.GetPermissions(), func(p string) bool { return slices.Contains(app.GetPermissions(), p) })
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
