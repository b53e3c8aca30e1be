package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/heraldhq/herald/pkg/ssrf"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
)

// verifier checks that a subscription's endpoint answers before deliveries start (One Horizon):
// a HEAD request, then a GET when the endpoint answers 405 Method Not Allowed; any 2xx passes.
// It dials through the same SSRF guard as the dispatcher and follows no redirects.
type verifier struct {
	client *http.Client // nil: verification is turned off (HERALD_VERIFY_ENDPOINTS=false)
}

func newVerifier(enabled bool, guard ssrf.Guard, timeout time.Duration) *verifier {
	if !enabled {
		return &verifier{}
	}
	return &verifier{client: &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{DialContext: guard.DialContext(timeout), DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// verification is the result of one check.
type verification struct {
	ok         bool
	statusCode int
	detail     string
}

func (v *verifier) verify(ctx context.Context, url string) verification {
	if v.client == nil {
		return verification{ok: true, detail: "endpoint verification is turned off (HERALD_VERIFY_ENDPOINTS)"}
	}
	res := v.request(ctx, http.MethodHead, url)
	if res.statusCode == http.StatusMethodNotAllowed {
		res = v.request(ctx, http.MethodGet, url)
	}
	return res
}

func (v *verifier) request(ctx context.Context, method, url string) verification {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return verification{detail: err.Error()}
	}
	req.Header.Set("User-Agent", "Herald-Webhooks/1 (endpoint verification)")
	resp, err := v.client.Do(req)
	if err != nil {
		var blocked *ssrf.BlockedError
		if errors.As(err, &blocked) {
			return verification{detail: fmt.Sprintf("%s refused: %s is a %s address, which deliveries may not reach", method, blocked.Addr, blocked.Reason)}
		}
		return verification{detail: fmt.Sprintf("%s failed: %v", method, err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	detail := fmt.Sprintf("%s answered %s", method, resp.Status)
	return verification{ok: ok, statusCode: resp.StatusCode, detail: detail}
}

// statusAfter returns the status a subscription gets from a verification.
func statusAfter(v verification) (status, reason string) {
	if v.ok {
		return store.StatusActive, ""
	}
	return store.StatusUnverified, "endpoint verification failed: " + v.detail + "; fix the endpoint, then POST /v1/subscriptions/{id}:verify"
}

// VerifySubscription checks the endpoint again; a subscription that was unverified or disabled
// becomes active when it passes. A paused one stays paused.
func (a *API) VerifySubscription(ctx context.Context, req *registryv1.VerifySubscriptionRequest) (*registryv1.VerifySubscriptionResponse, error) {
	_, sub, err := a.ownSubscription(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	v := a.verifier.verify(ctx, sub.URL)
	err = retryOnConflict(func() error {
		if _, sub, err = a.ownSubscription(ctx, req.GetId()); err != nil {
			return err
		}
		if sub.Status == store.StatusPaused {
			return nil
		}
		status, reason := statusAfter(v)
		if status == sub.Status && reason == sub.StatusReason {
			return nil
		}
		t := now()
		sub.Status, sub.StatusReason, sub.StatusChangedAt, sub.UpdatedAt = status, reason, t, t
		return a.store.UpdateSubscription(ctx, sub)
	})
	if err != nil {
		return nil, err
	}
	a.hub.nudge()
	return &registryv1.VerifySubscriptionResponse{Verified: v.ok, StatusCode: int32(v.statusCode), Detail: v.detail, Subscription: subscriptionPB(sub)}, nil
}
