package dispatcher

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
)

// decision is what follows an attempt.
type decision struct {
	outcome deliveryv1.Outcome
	next    time.Time     // RETRYING: when the next attempt is due
	tier    time.Duration // RETRYING: the retry topic it waits on
}

// decide turns an attempt's result into the next step: 2xx is delivered; 410 Gone disables the
// subscription; anything else retries on the subscription's schedule (or the default one) with
// up to 10% jitter, no sooner than a 429/503 Retry-After asks, until the schedule runs out.
func decide(res result, attempt int32, schedule, tiers []time.Duration, now time.Time) decision {
	switch {
	case res.delivered():
		return decision{outcome: deliveryv1.Outcome_OUTCOME_DELIVERED}
	case res.status == http.StatusGone:
		return decision{outcome: deliveryv1.Outcome_OUTCOME_GONE}
	case int(attempt) >= len(schedule):
		return decision{outcome: deliveryv1.Outcome_OUTCOME_FAILED}
	}
	delay := schedule[attempt]
	if delay > 0 {
		delay += rand.N(delay/10 + 1)
	}
	delay = max(delay, res.retryAfter)
	return decision{outcome: deliveryv1.Outcome_OUTCOME_RETRYING, next: now.Add(delay), tier: pickTier(delay, tiers)}
}

// pickTier returns the largest tier not longer than delay (the first tier if none is).
func pickTier(delay time.Duration, tiers []time.Duration) time.Duration {
	best := tiers[0]
	for _, t := range tiers {
		if t <= delay {
			best = t
		}
	}
	return best
}

// tierName is the topic suffix of a tier: herald.retry.0s, herald.retry.10s, herald.retry.1m, ….
func tierName(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}
