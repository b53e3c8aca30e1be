package dispatcher

import (
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/signature"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
)

// subscription is what the dispatcher needs of one subscription, secrets opened.
type subscription struct {
	id, url, status string
	target          *url.URL // url, parsed once; nil if it cannot be
	endpoint        string   // host:port: the circuit and concurrency key
	options         *registryv1.SubscriptionOptions
	key             []byte
	prevKey         []byte
	prevUntil       time.Time
	schedule        []time.Duration // nil: the default schedule

	// Signers keep their HMAC state between requests; a Signer is not safe for concurrent use,
	// so each request takes one from a pool: one pool for the current key alone, one for the
	// current and previous keys during a rotation's overlap.
	single, rotating sync.Pool
}

// signer returns a Signer with the keys in force at t, and the function that gives it back
// to the pool it came from.
func (s *subscription) signer(t time.Time) (*signature.Signer, func()) {
	pool := &s.single
	if s.prevKey != nil && t.Before(s.prevUntil) {
		pool = &s.rotating
	}
	sg, _ := pool.Get().(*signature.Signer)
	if sg == nil {
		sg = signature.NewSigner(s.keys(t)...)
	}
	return sg, func() { pool.Put(sg) }
}

// keys returns the signing keys in force at t: the current one, and the previous one during a
// rotation's overlap window.
func (s *subscription) keys(t time.Time) [][]byte {
	if s.prevKey != nil && t.Before(s.prevUntil) {
		return [][]byte{s.key, s.prevKey}
	}
	return [][]byte{s.key}
}

// view holds the subscriptions from WatchConfig. Lookups take a read lock; steps replace
// single entries, so a step never stalls deliveries for long.
type view struct {
	box *secretbox.Box
	log *slog.Logger

	mu      sync.RWMutex
	subs    map[string]*subscription
	version int64
	ready   bool
}

func newView(box *secretbox.Box, log *slog.Logger) *view {
	return &view{box: box, log: log, subs: map[string]*subscription{}}
}

// Apply implements configwatch.Applier.
func (v *view) Apply(step *registryv1.WatchConfigResponse) {
	opened := make(map[string]*subscription, len(step.GetSubscriptions()))
	for _, sc := range step.GetSubscriptions() {
		if s := v.open(sc); s != nil {
			opened[s.id] = s
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if step.GetSnapshot() {
		v.subs = map[string]*subscription{}
	}
	for id, s := range opened {
		v.subs[id] = s
	}
	for _, d := range step.GetDeletions() {
		if d.GetKind() == registryv1.ConfigKind_CONFIG_KIND_SUBSCRIPTION {
			delete(v.subs, d.GetId())
		}
	}
	v.version, v.ready = step.GetVersion(), true
}

// open decrypts a subscription's secrets. One whose secret cannot be opened is kept without a
// key: its jobs are held (not dropped) until the key is fixed.
func (v *view) open(sc *registryv1.SubscriptionConfig) *subscription {
	sub := sc.GetSubscription()
	s := &subscription{id: sub.GetId(), url: sub.GetUrl(), status: sub.GetStatus(), options: sub.GetOptions(), endpoint: sub.GetUrl()}
	if u, err := url.Parse(s.url); err == nil {
		s.target, s.endpoint = u, endpointOf(u)
	}
	key, err := v.box.Open(sc.GetSecretCiphertext())
	if err == nil {
		s.key, err = parseSecret(key)
	}
	if err != nil {
		v.log.Error("dispatcher: cannot open a subscription's secret, so its deliveries wait; is HERALD_SECRET_KEY the registry's?", "subscription", sub.GetId(), "err", err)
		return s
	}
	if prev := sc.GetPreviousSecretCiphertext(); len(prev) > 0 && sc.GetPreviousSecretExpireTime() != nil {
		if p, err := v.box.Open(prev); err == nil {
			if ps, err := parseSecret(p); err == nil {
				s.prevKey, s.prevUntil = ps, sc.GetPreviousSecretExpireTime().AsTime()
			}
		}
	}
	for _, d := range sub.GetOptions().GetRetrySchedule() {
		if dd, err := time.ParseDuration(d); err == nil {
			s.schedule = append(s.schedule, dd)
		}
	}
	return s
}

func (v *view) get(id string) *subscription {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.subs[id]
}

// current reports whether the view has caught up with configuration version ver.
func (v *view) current(ver int64) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.version >= ver
}

func (v *view) isReady() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.ready
}
