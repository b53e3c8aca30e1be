package dispatcher

import (
	"sort"
	"sync"
	"time"
)

// circuits holds a breaker per endpoint (host:port). After threshold consecutive failures an
// endpoint's circuit opens: attempts fail at once as circuit_open, without a request, and are
// scheduled like any failure. After the cooldown one attempt goes through (half-open): success
// closes the circuit, failure opens it again for twice as long, up to maxCooldown.
type circuits struct {
	threshold   int
	cooldown    time.Duration
	maxCooldown time.Duration

	mu       sync.Mutex
	breakers map[string]*breaker
}

type breaker struct {
	failures  int
	openUntil time.Time
	cooldown  time.Duration
	probing   bool
}

// circuitState is an open circuit, for the admin service and metrics.
type circuitState struct {
	endpoint  string
	failures  int
	openUntil time.Time
}

func newCircuits(threshold int, cooldown time.Duration) *circuits {
	return &circuits{threshold: threshold, cooldown: cooldown, maxCooldown: 32 * cooldown, breakers: map[string]*breaker{}}
}

// allow reports whether a request to endpoint may go out now.
func (c *circuits) allow(endpoint string, now time.Time) bool {
	if c.threshold <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.breakers[endpoint]
	switch {
	case b == nil || b.openUntil.IsZero():
		return true
	case now.Before(b.openUntil) || b.probing:
		return false
	}
	b.probing = true // half-open: this request is the probe
	return true
}

// report records a request's outcome; failure means the endpoint is unhealthy (transport error
// or 5xx), not that it refused the content (4xx).
func (c *circuits) report(endpoint string, failure bool, now time.Time) {
	if c.threshold <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.breakers[endpoint]
	if !failure {
		if b != nil {
			delete(c.breakers, endpoint)
		}
		return
	}
	if b == nil {
		b = &breaker{}
		c.breakers[endpoint] = b
	}
	b.failures++
	switch {
	case b.probing:
		b.cooldown = min(2*b.cooldown, c.maxCooldown)
		b.openUntil, b.probing = now.Add(b.cooldown), false
	case b.failures >= c.threshold && b.openUntil.IsZero():
		b.cooldown = c.cooldown
		b.openUntil = now.Add(b.cooldown)
	}
}

// open lists the endpoints whose circuit is open or half-open.
func (c *circuits) open() []circuitState {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []circuitState
	for ep, b := range c.breakers {
		if !b.openUntil.IsZero() {
			out = append(out, circuitState{endpoint: ep, failures: b.failures, openUntil: b.openUntil})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].endpoint < out[j].endpoint })
	return out
}

// failing tracks, per subscription, since when its endpoint has failed without a success in
// between, to disable subscriptions that failed continuously for too long. It is kept in
// memory: a restart starts the clock again, which errs on the side of keeping subscriptions.
type failing struct {
	after time.Duration // 0: never disable

	mu    sync.Mutex
	since map[string]time.Time
}

// record notes an attempt's result and reports whether the subscription has now failed for
// longer than allowed.
func (f *failing) record(sub string, failure bool, now time.Time) (since time.Time, expired bool) {
	if f.after <= 0 {
		return time.Time{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !failure {
		delete(f.since, sub)
		return time.Time{}, false
	}
	s, ok := f.since[sub]
	if !ok {
		f.since[sub] = now
		return now, false
	}
	return s, now.Sub(s) >= f.after
}
