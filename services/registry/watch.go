package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"google.golang.org/grpc"
)

const (
	watchBuffer     = 64              // steps a watcher may fall behind before it is cut off
	changeBatch     = 500             // changes read per poll
	gapWait         = 2 * time.Second // how long a hole in the sequence may wait for its writer
	changeRetention = time.Hour
	sweepEvery      = time.Minute
)

// hub tails the change log and fans each step out to the WatchConfig streams. Writes made by
// this process nudge it, so they reach watchers at once; writes made by other registry replicas
// arrive within one poll interval. It never blocks on a watcher: one that falls behind by
// watchBuffer steps is cut off and reconnects to a fresh snapshot.
type hub struct {
	store   *store.Store
	log     *slog.Logger
	poll    time.Duration
	kick    chan struct{}
	ready   chan struct{}
	stopped chan struct{} // closed when Run returns: open streams end so shutdown is quick

	mu       sync.Mutex
	version  int64
	gapSince time.Time
	watchers map[*watcher]struct{}
}

type watcher struct {
	steps  chan *registryv1.WatchConfigResponse
	behind chan struct{}
}

func newHub(st *store.Store, poll time.Duration, log *slog.Logger) *hub {
	return &hub{store: st, log: log, poll: poll, kick: make(chan struct{}, 1), ready: make(chan struct{}), stopped: make(chan struct{}), watchers: map[*watcher]struct{}{}}
}

// nudge asks for a poll now (after a local write).
func (h *hub) nudge() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Name implements worker.Worker.
func (h *hub) Name() string { return "config-watch" }

// Run tails the change log until ctx ends.
func (h *hub) Run(ctx context.Context) error {
	defer close(h.stopped)
	for {
		v, err := h.store.LastChange(ctx)
		if err == nil {
			h.mu.Lock()
			h.version = v
			h.mu.Unlock()
			close(h.ready)
			break
		}
		h.log.Warn("registry: reading the config version failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(h.poll):
		}
	}
	tick := time.NewTicker(h.poll)
	defer tick.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-h.kick:
		}
		if err := h.step(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("registry: polling config changes failed", "err", err)
		}
		if time.Since(lastSweep) > sweepEvery {
			lastSweep = time.Now()
			if _, err := h.store.SweepChanges(ctx, time.Now().Add(-changeRetention)); err != nil && ctx.Err() == nil {
				h.log.Warn("registry: sweeping the change log failed", "err", err)
			}
		}
	}
}

// step reads new changes, resolves them to current documents and broadcasts one step.
func (h *hub) step(ctx context.Context) error {
	h.mu.Lock()
	from := h.version
	h.mu.Unlock()
	// Most polls find nothing new: ask the sequence counter first and read the log only when it
	// moved. A sequence number is taken before its change is written, so the counter is never
	// behind the log.
	if seq, err := h.store.ChangeSeq(ctx); err != nil || seq <= from {
		return err
	}
	changes, err := h.store.ChangesAfter(ctx, from, changeBatch)
	if err != nil || len(changes) == 0 {
		return err
	}
	// Sequence numbers are taken before their change record is written, so a hole may be a
	// write still in flight on another replica: wait a little for it before moving past.
	n := 0
	for n < len(changes) && changes[n].Seq == from+int64(n)+1 {
		n++
	}
	if n < len(changes) {
		if h.gapSince.IsZero() {
			h.gapSince = time.Now()
		}
		if time.Since(h.gapSince) > gapWait {
			n, h.gapSince = len(changes), time.Time{}
		}
	} else {
		h.gapSince = time.Time{}
	}
	if n == 0 {
		return nil
	}
	msg, err := h.resolve(ctx, changes[:n])
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.version = msg.Version
	for w := range h.watchers {
		select {
		case w.steps <- msg:
		default:
			close(w.behind)
			delete(h.watchers, w)
		}
	}
	return nil
}

// resolve turns changes into upserts of the documents as they are now, or deletions.
func (h *hub) resolve(ctx context.Context, changes []store.Change) (*registryv1.WatchConfigResponse, error) {
	msg := &registryv1.WatchConfigResponse{Version: changes[len(changes)-1].Seq}
	seen := map[store.Change]bool{}
	for _, c := range changes {
		key := store.Change{Kind: c.Kind, ID: c.ID}
		if seen[key] {
			continue
		}
		seen[key] = true
		var err error
		switch c.Kind {
		case store.KindApp:
			var v *store.App
			if v, err = h.store.App(ctx, c.ID); err == nil {
				msg.Apps = append(msg.Apps, appPB(v))
			}
		case store.KindAppConfig:
			var v *store.AppConfig
			if v, err = h.store.AppConfig(ctx, c.ID); err == nil {
				msg.AppConfigs = append(msg.AppConfigs, appConfigPB(v))
			}
		case store.KindEvent:
			var v *store.Event
			if v, err = h.store.EventByID(ctx, c.ID); err == nil {
				msg.Events = append(msg.Events, eventPB(v))
			}
		case store.KindSubscription:
			var v *store.Subscription
			if v, err = h.store.Subscription(ctx, c.ID); err == nil {
				msg.Subscriptions = append(msg.Subscriptions, subscriptionConfigPB(v))
			}
		default:
			h.log.Warn("registry: unknown kind in the change log", "kind", c.Kind, "seq", c.Seq)
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			msg.Deletions = append(msg.Deletions, &registryv1.ConfigDeletion{Kind: kindPB[c.Kind], Id: c.ID})
		} else if err != nil {
			return nil, err
		}
	}
	return msg, nil
}

var kindPB = map[store.Kind]registryv1.ConfigKind{
	store.KindApp:          registryv1.ConfigKind_CONFIG_KIND_APP,
	store.KindAppConfig:    registryv1.ConfigKind_CONFIG_KIND_APP_CONFIG,
	store.KindEvent:        registryv1.ConfigKind_CONFIG_KIND_EVENT,
	store.KindSubscription: registryv1.ConfigKind_CONFIG_KIND_SUBSCRIPTION,
}

func subscriptionConfigPB(s *store.Subscription) *registryv1.SubscriptionConfig {
	return &registryv1.SubscriptionConfig{
		Subscription: subscriptionPB(s), SecretCiphertext: s.Secret,
		PreviousSecretCiphertext: s.PrevSecret, PreviousSecretExpireTime: ts(s.PrevSecretExpiresAt),
	}
}

func (h *hub) subscribe(ctx context.Context) (*watcher, int64, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	w := &watcher{steps: make(chan *registryv1.WatchConfigResponse, watchBuffer), behind: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers[w] = struct{}{}
	return w, h.version, nil
}

func (h *hub) unsubscribe(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
}

// WatchConfig streams a snapshot, then every change (admin). The snapshot is read after the
// stream joins the hub, so it holds at least everything up to its version; later steps may
// repeat a document it already holds, which is harmless because each step carries whole
// documents.
func (a *API) WatchConfig(_ *registryv1.WatchConfigRequest, stream grpc.ServerStreamingServer[registryv1.WatchConfigResponse]) error {
	ctx := stream.Context()
	if err := requireAdmin(ctx); err != nil {
		return err
	}
	w, version, err := a.hub.subscribe(ctx)
	if err != nil {
		return err
	}
	defer a.hub.unsubscribe(w)
	snap, err := a.snapshot(ctx)
	if err != nil {
		return err
	}
	snap.Version, snap.Snapshot = version, true
	if err := stream.Send(snap); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.behind:
			return newError(ErrUnavailable, "", "this watcher fell %d steps behind; reconnect for a new snapshot", watchBuffer)
		case <-a.hub.stopped:
			return newError(ErrUnavailable, "", "the registry is shutting down; reconnect")
		case m := <-w.steps:
			if m.Version <= version {
				continue
			}
			if err := stream.Send(m); err != nil {
				return err
			}
		}
	}
}

func (a *API) snapshot(ctx context.Context) (*registryv1.WatchConfigResponse, error) {
	apps, err := a.store.AllApps(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: snapshot: %w", err)
	}
	configs, err := a.store.AllAppConfigs(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: snapshot: %w", err)
	}
	events, err := a.store.AllEvents(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: snapshot: %w", err)
	}
	subs, err := a.store.AllSubscriptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: snapshot: %w", err)
	}
	msg := &registryv1.WatchConfigResponse{}
	for i := range apps {
		msg.Apps = append(msg.Apps, appPB(&apps[i]))
	}
	for i := range configs {
		msg.AppConfigs = append(msg.AppConfigs, appConfigPB(&configs[i]))
	}
	for i := range events {
		msg.Events = append(msg.Events, eventPB(&events[i]))
	}
	for i := range subs {
		msg.Subscriptions = append(msg.Subscriptions, subscriptionConfigPB(&subs[i]))
	}
	return msg, nil
}
