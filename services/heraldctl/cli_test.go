package heraldctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/filter"
	"github.com/heraldhq/herald/services/heraldctl"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI in-process.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return runCtx(t, context.Background(), args...)
}

func runCtx(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	var out, errOut syncBuffer
	code := heraldctl.Run(ctx, args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func TestUsageErrorsExitWith2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: heraldctl"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"apps", "bogus"}, `unknown command "bogus"`},
		{[]string{"apps", "create", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"apps", "create", "--token", "t"}, "--name is required"},
		{[]string{"--output", "yaml", "apps", "list"}, "--output must be text or json"},
		{[]string{"subscriptions", "get"}, "needs SUBSCRIPTION_ID"},
		{[]string{"subscriptions", "get", "a", "b"}, `unexpected argument "b"`},
		{[]string{"subscriptions", "rotate-secret", "sub_1", "--overlap", "soon"}, `invalid value "soon" for flag -overlap`},
		{[]string{"subscribe", "--app", "a", "--topic", "participant", "--event", "e", "--url", "u", "--retry", "1m,later"}, `"later" is not a Go duration`},
		{[]string{"subscribe", "--app", "a", "--topic", "participant", "--event", "e", "--url", "u", "--filter", "{nope"}, "--filter: not valid JSON"},
		{[]string{"filter", "test", "--rule", "{}"}, "--rule and --event are both required"},
		{[]string{"apply"}, "-f FILE is required"},
		{[]string{"--server", "http://127.0.0.1:1", "apps", "list", "--token", ""}, "no token"},
	} {
		r := run(t, tc.args...)
		if r.code != heraldctl.ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("heraldctl %q: want exit 2 and %q on stderr, got %s", tc.args, tc.want, r)
		}
	}
}

func TestHelpExitsWith0(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"apps", "-h"}, {"apps", "create", "-h"}, {"filter", "test", "--help"}, {"help", "demo"}} {
		r := run(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "heraldctl") || r.stderr != "" {
			t.Errorf("heraldctl %q: want exit 0 and help on stdout, got %s", args, r)
		}
	}
	if r := run(t, "filter", "test", "-h"); !strings.Contains(r.stdout, "3 not matched") {
		t.Errorf("filter test -h does not document exit code 3:\n%s", r.stdout)
	}
}

func TestAPIErrorsExitWith1AndAHint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"code":"invalid_argument","message":"must be a whole number","field":"limit"}}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"code":"unauthenticated","message":"the key is not valid"}}`)
		}
	}))
	defer srv.Close()

	r := run(t, "--server", srv.URL, "--token", "bad", "apps", "list")
	if r.code != heraldctl.ExitError || !strings.Contains(r.stderr, "the key is not valid") || !strings.Contains(r.stderr, "check --token / HERALD_TOKEN") {
		t.Errorf("bad token: want exit 1, the API's message and a hint, got %s", r)
	}
	r = run(t, "--server", srv.URL, "--token", "good", "apps", "list")
	if r.code != heraldctl.ExitError || !strings.Contains(r.stderr, "must be a whole number (field limit)") || !strings.Contains(r.stderr, "hint: fix limit") {
		t.Errorf("bad request: want exit 1 with the message and its field, got %s", r)
	}
	srv.Close()
	r = run(t, "--server", srv.URL, "--token", "good", "apps", "list")
	if r.code != heraldctl.ExitError || !strings.Contains(r.stderr, "is Herald running at "+srv.URL) {
		t.Errorf("no server: want exit 1 and a hint to start it, got %s", r)
	}
}

func TestFilterTestExitCodes(t *testing.T) {
	rule := `{"and":[{"===":["$eventType","userCreatedEvent"]},{"==":["$region","eu"]}]}`
	r := run(t, "filter", "test", "--rule", rule, "--event", `{"eventType":"userCreatedEvent","region":"eu"}`)
	if r.code != 0 || !strings.Contains(r.stdout, "result:  MATCHED") {
		t.Errorf("matching event: want exit 0, got %s", r)
	}
	r = run(t, "filter", "test", "--rule", rule, "--event", `{"eventType":"userCreatedEvent","region":"us"}`)
	if r.code != heraldctl.ExitNotMatched || !strings.Contains(r.stdout, "NOT MATCHED") || !strings.Contains(r.stdout, `region = "us"`) {
		t.Errorf("other region: want exit 3 and the region's value, got %s", r)
	}
	// The header form of eventType, as the matcher reads it.
	r = run(t, "filter", "test", "--rule", rule, "--event", `{"region":"eu"}`, "--header", "eventType=userCreatedEvent")
	if r.code != 0 {
		t.Errorf("eventType from a header: want exit 0, got %s", r)
	}
	r = run(t, "filter", "test", "--rule", `{"and":[true,{"===":[1]}]}`, "--event", `{}`)
	if r.code != heraldctl.ExitError || !strings.Contains(r.stderr, "at and[1].===") {
		t.Errorf("bad rule: want exit 1 with the path, got %s", r)
	}
	r = run(t, "--output", "json", "filter", "test", "--rule", rule, "--event", `{"eventType":"userCreatedEvent","region":"us"}`)
	var ex heraldctl.Explanation
	if err := json.Unmarshal([]byte(r.stdout), &ex); err != nil || ex.Matched || len(ex.Operands) != 2 || ex.Operands[1].Value {
		t.Errorf("json output: %v %+v\n%s", err, ex, r)
	}
}

// fakePublisherAPI is the publisher part of the registry's JSON API, in memory, serving pages
// of at most pageSize items whatever the limit, and refusing bulk deletes of more than 25.
type fakePublisherAPI struct {
	mu        sync.Mutex
	appConfig map[string]any
	events    map[string][]map[string]any // by topic
	deletes   []int                       // sizes of bulkDelete calls
	writes    int
}

const pageSize = 10

func (f *fakePublisherAPI) handler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"data": v})
	}
	fail := func(w http.ResponseWriter, status int, code, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
	}
	mux.HandleFunc("GET /v1/appconfig", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.appConfig == nil {
			fail(w, 404, "not_found", "this app has no app config yet")
			return
		}
		reply(w, 200, f.appConfig)
	})
	mux.HandleFunc("POST /v1/appconfig", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.writes++
		_ = json.NewDecoder(r.Body).Decode(&f.appConfig)
		reply(w, 201, map[string]any{"id": "app_1"})
	})
	mux.HandleFunc("GET /v1/topics/{topic}/events", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		all := f.events[r.PathValue("topic")]
		start, _ := strconv.Atoi(r.URL.Query().Get("page"))
		end := min(start+pageSize, len(all))
		meta := map[string]any{"nextPage": "", "hasNextPage": end < len(all)}
		if end < len(all) {
			meta["nextPage"] = strconv.Itoa(end)
		}
		reply(w, 200, map[string]any{"events": append([]map[string]any{}, all[start:end]...), "meta": meta})
	})
	mux.HandleFunc("POST /v1/topics/{topic}/events", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.writes++
		var req struct {
			Events []map[string]any `json:"events"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		for _, e := range req.Events {
			if fl, ok := e["filterLogic"]; ok {
				raw, _ := json.Marshal(fl)
				rule, err := filter.Compile(raw)
				if err != nil {
					fail(w, 400, "invalid_argument", err.Error())
					return
				}
				_ = json.Unmarshal(rule.JSON(), &fl)
				e["filterLogic"] = fl
			}
			f.events[r.PathValue("topic")] = append(f.events[r.PathValue("topic")], e)
		}
		reply(w, 201, map[string]any{"events": req.Events})
	})
	mux.HandleFunc("POST /v1/topics/{topic}/events:bulkDelete", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.writes++
		var req struct {
			Events []string `json:"events"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if len(req.Events) > 25 {
			fail(w, 400, "invalid_argument", "at most 25")
			return
		}
		f.deletes = append(f.deletes, len(req.Events))
		topic := r.PathValue("topic")
		var keep []map[string]any
		for _, e := range f.events[topic] {
			if !contains(req.Events, e["name"].(string)) {
				keep = append(keep, e)
			}
		}
		f.events[topic] = keep
		reply(w, 200, map[string]any{"deleted": req.Events})
	})
	return mux
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestApplyPrunesInChunksAfterReadingEveryPage: 30 stale events on three pages are all
// deleted with --prune, in calls of at most 25, and a second apply changes nothing.
func TestApplyPrunesInChunksAfterReadingEveryPage(t *testing.T) {
	f := &fakePublisherAPI{events: map[string][]map[string]any{}}
	for i := range 30 {
		f.events["entity"] = append(f.events["entity"], map[string]any{"name": fmt.Sprintf("old%02d", i), "eventType": "oldEvent"})
	}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	args := []string{"--server", srv.URL, "--token", "pub", "apply", "-f", "examples/os1-publisher.yaml"}

	r := run(t, args...)
	if r.code != 0 || strings.Count(r.stdout, "(on the server, not in the file: kept; --prune deletes it)") != 30 {
		t.Fatalf("without --prune all 30 stale events should be listed and kept: %s", r)
	}
	if len(f.events["entity"]) != 30 || len(f.deletes) != 0 {
		t.Fatalf("without --prune nothing may be deleted; %d events left, deletes %v", len(f.events["entity"]), f.deletes)
	}

	r = run(t, append(args, "--prune", "--dry-run")...)
	if r.code != 0 || !strings.Contains(r.stdout, "Plan: 0 to create, 0 to update, 30 to delete.") || len(f.deletes) != 0 {
		t.Fatalf("--dry-run --prune: %s\ndeletes %v", r, f.deletes)
	}

	r = run(t, append(args, "--prune")...)
	if r.code != 0 {
		t.Fatal(r)
	}
	if fmt.Sprint(f.deletes) != "[25 5]" || len(f.events["entity"]) != 0 {
		t.Fatalf("bulkDelete calls %v, want [25 5]; %d events left", f.deletes, len(f.events["entity"]))
	}

	writes := f.writes
	r = run(t, append(args, "--prune")...)
	if r.code != 0 || r.stdout != "no changes\n" || f.writes != writes {
		t.Fatalf("a second apply must print only \"no changes\" and write nothing (%d writes): %s", f.writes-writes, r)
	}
}

// fakeDeliveries serves the delivery routes: GET /v1/subscriptions/{id}/deliveries (pages of
// one), GET /v1/deliveries/{id}, POST /v1/deliveries/{id}:redeliver.
type fakeDeliveries struct {
	mu          sync.Mutex
	deliveries  []map[string]any // newest first
	redelivered []string
	lists       int
}

func (f *fakeDeliveries) handler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"data": v})
	}
	mux.HandleFunc("GET /v1/subscriptions/{id}/deliveries", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.lists++
		if r.PathValue("id") != "sub_1" {
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"no subscription","field":"subscriptionId"}}`)
			return
		}
		var ds []map[string]any
		for _, d := range f.deliveries {
			if s := r.URL.Query().Get("status"); s == "" || d["status"] == s {
				ds = append(ds, d)
			}
		}
		// Pages of two, to make the CLI follow nextPage.
		start, _ := strconv.Atoi(r.URL.Query().Get("page"))
		end := min(start+2, len(ds))
		meta := map[string]any{"nextPage": "", "hasNextPage": end < len(ds)}
		if end < len(ds) {
			meta["nextPage"] = strconv.Itoa(end)
		}
		reply(w, 200, map[string]any{"deliveries": ds[start:end], "meta": meta})
	})
	mux.HandleFunc("GET /v1/deliveries/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, d := range f.deliveries {
			if d["id"] == r.PathValue("id") {
				full := map[string]any{"body": `{"userId":"u1"}`, "attempts": []map[string]any{
					{"attempt": 0, "statusCode": 500, "errorType": "http_status", "error": "500 Internal Server Error", "latencyMs": "3", "outcome": "retrying"},
					{"attempt": 1, "statusCode": 200, "latencyMs": "2", "outcome": "delivered"},
				}}
				for k, v := range d {
					full[k] = v
				}
				reply(w, 200, full)
				return
			}
		}
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"no delivery","field":"id"}}`)
	})
	mux.HandleFunc("POST /v1/deliveries/{idAction}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id, action, _ := strings.Cut(r.PathValue("idAction"), ":")
		if action != "redeliver" {
			w.WriteHeader(404)
			return
		}
		f.redelivered = append(f.redelivered, id)
		reply(w, 202, map[string]any{"id": id})
	})
	return mux
}

func (f *fakeDeliveries) set(id, status string, attempts int, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := map[string]any{"id": id, "subscriptionId": "sub_1", "eventName": "usercreated", "eventType": "userCreatedEvent",
		"topic": "participant", "partition": 0, "offset": "7", "status": status, "attemptCount": attempts, "lastStatusCode": code,
		"createTime": "2026-01-02T03:04:05Z"}
	for i, x := range f.deliveries {
		if x["id"] == id {
			f.deliveries[i] = d
			return
		}
	}
	f.deliveries = append([]map[string]any{d}, f.deliveries...)
}

// TestDeliveriesCommands drives the delivery commands against an httptest server with the
// routes' documented shape (the registry's delivery routes are new; the integration test
// covers what the standalone serves).
func TestDeliveriesCommands(t *testing.T) {
	f := &fakeDeliveries{}
	f.set("msg_a", "delivered", 1, 200)
	f.set("msg_b", "retrying", 1, 500)
	f.set("msg_c", "delivered", 2, 200)
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	base := []string{"--server", srv.URL, "--token", "sub"}

	r := run(t, append(base, "deliveries", "list", "sub_1")...)
	if r.code != 0 || !strings.Contains(r.stdout, "msg_a") || !strings.Contains(r.stdout, "msg_c") || !strings.Contains(r.stdout, "retrying") {
		t.Fatalf("deliveries list must read both pages: %s", r)
	}
	r = run(t, append(base, "--output", "json", "deliveries", "list", "sub_1", "--status", "delivered")...)
	var list struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Deliveries) != 2 {
		t.Fatalf("--status delivered --output json: %v %+v\n%s", err, list, r)
	}
	r = run(t, append(base, "deliveries", "list", "sub_1", "--limit", "1")...)
	if r.code != 0 || strings.Count(r.stdout, "msg_") != 1 || !strings.Contains(r.stdout, "more") {
		t.Fatalf("--limit 1 must show one delivery and say there are more: %s", r)
	}
	r = run(t, append(base, "deliveries", "list", "sub_nope")...)
	if r.code != 1 || !strings.Contains(r.stderr, "(field subscriptionId)") {
		t.Fatalf("unknown subscription: %s", r)
	}

	r = run(t, append(base, "deliveries", "get", "msg_c")...)
	if r.code != 0 || !strings.Contains(r.stdout, "http_status: 500 Internal Server Error") || !strings.Contains(r.stdout, "delivered") || !strings.Contains(r.stdout, "offset 7") {
		t.Fatalf("deliveries get must show the attempts: %s", r)
	}

	r = run(t, append(base, "deliveries", "redeliver", "msg_b")...)
	if r.code != 0 || fmt.Sprint(f.redelivered) != "[msg_b]" {
		t.Fatalf("redeliver: %s (redelivered %v)", r, f.redelivered)
	}

	// tail: the latest at the start, then new deliveries and changes, until the context ends.
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- heraldctl.Run(ctx, append(base, "deliveries", "tail", "sub_1", "--interval", "100ms", "--last", "2"), &out, &errOut)
	}()
	waitFor(t, &out, "msg_c")
	if strings.Contains(out.String(), "msg_a") {
		t.Fatalf("--last 2 showed the third newest delivery:\n%s", out.String())
	}
	f.set("msg_b", "delivered", 2, 200)
	f.set("msg_d", "retrying", 1, 503)
	waitFor(t, &out, "+ msg_d")
	waitFor(t, &out, "~ msg_b")
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("tail ended with %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop when its context ended")
	}
	if n := strings.Count(out.String(), "msg_c"); n != 1 {
		t.Fatalf("tail printed an unchanged delivery %d times:\n%s", n, out.String())
	}
}

func waitFor(t *testing.T, out *syncBuffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%q did not appear within 10s:\n%s", s, out.String())
		}
	}
}
