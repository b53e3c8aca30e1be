package registry_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/services/registry"
)

// endpoint is a loopback receiver whose answer to each method can change.
type endpoint struct {
	*httptest.Server
	mu      sync.Mutex
	answers map[string]int
	methods []string
}

func newEndpoint(t *testing.T, answers map[string]int) *endpoint {
	ep := &endpoint{answers: answers}
	ep.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		ep.methods = append(ep.methods, r.Method)
		code, ok := ep.answers[r.Method]
		if !ok {
			code = http.StatusOK
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(ep.Close)
	return ep
}

func (ep *endpoint) set(method string, code int) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.answers[method] = code
}

func (ep *endpoint) seen() string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return strings.Join(ep.methods, ",")
}

func TestEndpointVerification(t *testing.T) {
	e := newEnv(t, func(c *registry.Config) { c.VerifyEndpoints, c.AllowLoopback = true, true })
	pubID, pubKey := e.createApp("pub", "p")
	subID, subKey := e.createApp("sub", "p")
	e.must(201, "POST", "/v1/appconfig", pubKey, map[string]any{"permissions": []string{"p"}})
	e.must(201, "POST", "/v1/topics/entity/events", pubKey, os1Events)
	subscribe := func(url string, opts map[string]any) map[string]any {
		return e.must(201, "POST", "/v1/subscriptions", subKey, map[string]any{
			"appId": pubID, "topic": "entity", "events": []string{"usercreated"}, "url": url, "options": opts,
		}).data()["subscription"].(map[string]any)
	}

	ok := newEndpoint(t, map[string]int{})
	if s := subscribe(ok.URL, nil); s["status"] != "active" || ok.seen() != "HEAD" {
		t.Fatalf("HEAD 200: status %v, requests %s", s["status"], ok.seen())
	}
	noHead := newEndpoint(t, map[string]int{"HEAD": http.StatusMethodNotAllowed})
	if s := subscribe(noHead.URL, nil); s["status"] != "active" || noHead.seen() != "HEAD,GET" {
		t.Fatalf("HEAD 405 then GET 200: status %v, requests %s", s["status"], noHead.seen())
	}
	broken := newEndpoint(t, map[string]int{"HEAD": http.StatusNotFound})
	s := subscribe(broken.URL, nil)
	if s["status"] != "unverified" || !strings.Contains(s["statusReason"].(string), "404") {
		t.Fatalf("HEAD 404: %v", s)
	}
	id := s["id"].(string)
	e.mustFail(409, "status", "verification", "PATCH", "/v1/subscriptions/"+id, subKey, map[string]any{"status": "active"})
	v := e.must(200, "POST", "/v1/subscriptions/"+id+":verify", subKey, nil).data()
	if v["verified"] != false || v["statusCode"] != float64(404) {
		t.Fatalf("verify while still broken: %v", v)
	}
	broken.set("HEAD", http.StatusOK)
	v = e.must(200, "POST", "/v1/subscriptions/"+id+":verify", subKey, nil).data()
	if v["verified"] != true || v["subscription"].(map[string]any)["status"] != "active" {
		t.Fatalf("verify after the fix: %v", v)
	}
	// A new URL is verified again.
	gone := newEndpoint(t, map[string]int{"HEAD": http.StatusGone, "GET": http.StatusGone})
	if p := e.must(200, "PATCH", "/v1/subscriptions/"+id, subKey, map[string]any{"url": gone.URL}).data(); p["status"] != "unverified" {
		t.Fatalf("after a URL change to a failing endpoint: %v", p)
	}
	// skipVerification: active, no request.
	skipped := newEndpoint(t, map[string]int{"HEAD": http.StatusInternalServerError})
	if s := subscribe(skipped.URL, map[string]any{"skipVerification": true}); s["status"] != "active" || skipped.seen() != "" {
		t.Fatalf("skipVerification: status %v, requests %q", s["status"], skipped.seen())
	}
	e.must(404, "POST", "/v1/subscriptions/"+id+":verify", pubKey, nil)
	e.must(404, "POST", "/v1/subscriptions/"+id+":nosuch", subKey, nil)
	_ = subID

	// The admin token may pause and resume any subscription (operators).
	if p := e.must(200, "PATCH", "/v1/subscriptions/"+s["id"].(string), adminToken, map[string]any{"status": "paused"}).data(); p["status"] != "paused" {
		t.Fatalf("admin pause: %v", p)
	}
}

func TestVerificationGoesThroughTheSSRFGuard(t *testing.T) {
	e := newEnv(t, func(c *registry.Config) { c.VerifyEndpoints, c.AllowLoopback = true, false })
	pubID, pubKey := e.createApp("pub", "p")
	_, subKey := e.createApp("sub", "p")
	e.must(201, "POST", "/v1/appconfig", pubKey, map[string]any{"permissions": []string{"p"}})
	e.must(201, "POST", "/v1/topics/entity/events", pubKey, os1Events)
	ep := newEndpoint(t, map[string]int{})
	s := e.must(201, "POST", "/v1/subscriptions", subKey, map[string]any{
		"appId": pubID, "topic": "entity", "events": []string{"usercreated"}, "url": ep.URL,
	}).data()["subscription"].(map[string]any)
	if s["status"] != "unverified" || !strings.Contains(s["statusReason"].(string), "loopback") || ep.seen() != "" {
		t.Fatalf("a loopback endpoint without the allow-list: %v, requests %q", s, ep.seen())
	}
}
