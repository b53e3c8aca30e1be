package heraldctl_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/services/standalone"
)

type herald struct {
	base, broker, token, dataDir string
}

// startHerald runs the standalone (embedded Kafka-protocol broker and MongoDB-protocol store,
// registry, matcher, dispatcher) in-process on free ports, as services/standalone's own test
// does, and reads the addresses it prints.
func startHerald(t *testing.T) *herald {
	t.Helper()
	cfg, err := standalone.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	cfg.DataDir, cfg.HTTPAddr, cfg.GRPCAddr, cfg.KafkaAddr = dataDir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- standalone.Run(ctx, cfg, out, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("standalone.Run returned %v", err)
		}
	})
	line := func(name string) string {
		m := regexp.MustCompile(name + `: +(\S+)`).FindStringSubmatch(out.String())
		if m == nil {
			return ""
		}
		return m[1]
	}
	for deadline := time.Now().Add(90 * time.Second); line("Admin token") == ""; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("standalone.Run returned %v before printing its addresses:\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no addresses printed within 90s:\n%s", out.String())
		}
	}
	return &herald{base: line("HTTP API"), broker: line("Kafka broker"), token: line("Admin token"), dataDir: dataDir}
}

// TestCLIAgainstStandalone drives heraldctl's Run against the real one-process Herald: the
// operator creates apps, the publisher applies the OS1 example (twice: the second run changes
// nothing), updates and prunes, lists events; the subscriber subscribes and manages the
// subscription; errors exit with 1 (API) or 2 (usage); and the guided demo runs end to end.
func TestCLIAgainstStandalone(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the standalone Herald")
	}
	t.Setenv("HERALD_TOKEN", "")
	t.Setenv("HERALD_SERVER", "")
	h := startHerald(t)
	server := []string{"--server", h.base}
	as := func(token string, args ...string) []string {
		return append(append(append([]string{}, server...), "--token", token), args...)
	}

	var pubID, pubKey, subKey, subID string
	t.Run("apps create", func(t *testing.T) {
		r := run(t, as(h.token, "--output", "json", "apps", "create", "--name", "user-service")...)
		var pub struct{ ID, APIKey string }
		if err := json.Unmarshal([]byte(r.stdout), &pub); r.code != 0 || err != nil || !strings.HasPrefix(pub.APIKey, "hk_") {
			t.Fatalf("apps create --output json: %v\n%s", err, r)
		}
		if !strings.Contains(r.stderr, "shown only this once") {
			t.Errorf("no warning that the key is shown once: %s", r)
		}
		pubID, pubKey = pub.ID, pub.APIKey
		r = run(t, as(h.token, "apps", "create", "--name", "crm", "--permission", "get users")...)
		m := regexp.MustCompile(`apiKey: +(hk_\S+)`).FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil {
			t.Fatalf("apps create: %s", r)
		}
		subKey = m[1]
		r = run(t, as(h.token, "apps", "grant", strings.TrimSpace(regexp.MustCompile(`id: +(\S+)`).FindStringSubmatch(r.stdout)[1]), "get user details")...)
		if r.code != 0 || !strings.Contains(r.stdout, "get users, get user details") {
			t.Fatalf("apps grant: %s", r)
		}
		r = run(t, as(h.token, "apps", "list")...)
		if r.code != 0 || !strings.Contains(r.stdout, "user-service") || !strings.Contains(r.stdout, "crm") {
			t.Fatalf("apps list: %s", r)
		}
		// A rotated key replaces the old one at once.
		r = run(t, as(h.token, "apps", "rotate-key", pubID)...)
		m = regexp.MustCompile(`apiKey: +(hk_\S+)`).FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil || m[1] == pubKey || !strings.Contains(r.stderr, "no longer works") {
			t.Fatalf("apps rotate-key: %s", r)
		}
		if r := run(t, as(pubKey, "events", "list", "--topic", "participant")...); r.code != 1 {
			t.Fatalf("the old key still works after rotate-key: %s", r)
		}
		pubKey = m[1]
	})
	if pubKey == "" || subKey == "" {
		t.FailNow()
	}

	t.Run("apply twice", func(t *testing.T) {
		apply := as(pubKey, "apply", "-f", "examples/os1-publisher.yaml")
		r := run(t, append(apply, "--dry-run")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Plan: 3 to create, 0 to update, 0 to delete.") || !strings.Contains(r.stdout, "Dry run") {
			t.Fatalf("apply --dry-run: %s", r)
		}
		r = run(t, apply...)
		for _, want := range []string{"+ create appConfig", "+ create event participant/usercreated", "+ create event participant/userupdated", "Applied: 3 created, 0 updated, 0 deleted."} {
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Fatalf("first apply: no %q in %s", want, r)
			}
		}
		r = run(t, apply...)
		if r.code != 0 || r.stdout != "no changes\n" {
			t.Fatalf("second apply must change nothing: %s", r)
		}
	})

	t.Run("apply updates and prunes", func(t *testing.T) {
		src, err := os.ReadFile("examples/os1-publisher.yaml")
		if err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(string(src), "description: When user data is updated", "description: When a user's data changes", 1) + `
  entity:
    events:
      - name: orderpacked
        eventType: orderPackedEvent
        filterLogic: {"==": ["$state", "packed"]}
`
		file := filepath.Join(t.TempDir(), "publisher.yaml")
		if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
		r := run(t, as(pubKey, "apply", "-f", file)...)
		if r.code != 0 || !strings.Contains(r.stdout, "~ update event participant/userupdated") || !strings.Contains(r.stdout, "When user data is updated → When a user's data changes") ||
			!strings.Contains(r.stdout, "+ create event entity/orderpacked") || !strings.Contains(r.stdout, "Applied: 1 created, 1 updated, 0 deleted.") {
			t.Fatalf("apply with a change and a new event: %s", r)
		}
		back := as(pubKey, "apply", "-f", "examples/os1-publisher.yaml")
		r = run(t, back...)
		if r.code != 0 || !strings.Contains(r.stdout, "- event entity/orderpacked  (on the server, not in the file: kept") || !strings.Contains(r.stdout, "Applied: 0 created, 1 updated, 0 deleted.") {
			t.Fatalf("apply without --prune keeps the extra event: %s", r)
		}
		r = run(t, append(back, "--prune")...)
		if r.code != 0 || !strings.Contains(r.stdout, "- delete event entity/orderpacked") || !strings.Contains(r.stdout, "Applied: 0 created, 0 updated, 1 deleted.") {
			t.Fatalf("apply --prune: %s", r)
		}
		r = run(t, append(back, "--prune")...)
		if r.code != 0 || r.stdout != "no changes\n" {
			t.Fatalf("after pruning, apply must change nothing: %s", r)
		}
	})

	t.Run("events list", func(t *testing.T) {
		r := run(t, as(pubKey, "events", "list", "--topic", "participant")...)
		if r.code != 0 || !strings.Contains(r.stdout, "usercreated") || !strings.Contains(r.stdout, `{"===":[{"var":"eventType"},"userUpdatedEvent"]}`) {
			t.Fatalf("events list: %s", r)
		}
		r = run(t, as(pubKey, "--output", "json", "events", "list", "--topic", "participant")...)
		var data struct {
			Events []struct{ Name, EventType string } `json:"events"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &data); err != nil || len(data.Events) != 2 {
			t.Fatalf("events list --output json: %v %+v\n%s", err, data, r)
		}
		r = run(t, as(pubKey, "events", "list", "--topic", "entity")...)
		if r.code != 0 || !strings.Contains(r.stdout, "No events on topic entity") {
			t.Fatalf("events list on an empty topic: %s", r)
		}
	})

	// A loopback endpoint that passes Herald's endpoint verification (HEAD → 200).
	endpoint := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer endpoint.Close()

	t.Run("subscribe and manage", func(t *testing.T) {
		r := run(t, as(subKey, "subscribe", "--app", pubID, "--topic", "participant", "--event", "usercreated", "--event", "userupdated",
			"--url", endpoint.URL+"/hooks", "--filter", `{"==":["$region","eu"]}`, "--retry", "0s,1m,5m", "--hub-signature", "--ordered")...)
		m := regexp.MustCompile(`\(active\)\n +id: +(sub_\S+)\n +secret: +(whsec_\S+)`).FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil || !strings.Contains(r.stderr, "shown only this once") {
			t.Fatalf("subscribe: %s", r)
		}
		subID = m[1]
		r = run(t, as(subKey, "subscriptions", "get", subID)...)
		for _, want := range []string{`{"==":[{"var":"region"},"eu"]}`, "0s, 1m, 5m", "usercreated, userupdated", "hub signature:   true", "ordered:         true"} {
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Fatalf("subscriptions get: no %q in %s", want, r)
			}
		}
		r = run(t, as(subKey, "subscriptions", "pause", subID)...)
		if r.code != 0 || !strings.Contains(r.stdout, "is paused") {
			t.Fatalf("pause: %s", r)
		}
		r = run(t, as(subKey, "subscriptions", "list")...)
		if r.code != 0 || !strings.Contains(r.stdout, subID) || !strings.Contains(r.stdout, "paused") {
			t.Fatalf("subscriptions list: %s", r)
		}
		r = run(t, as(subKey, "subscriptions", "resume", subID)...)
		if r.code != 0 || !strings.Contains(r.stdout, "is active") {
			t.Fatalf("resume: %s", r)
		}
		r = run(t, as(subKey, "subscriptions", "rotate-secret", subID, "--overlap", "1h")...)
		if r.code != 0 || !regexp.MustCompile(`secret: +whsec_`).MatchString(r.stdout) || !strings.Contains(r.stdout, "keeps signing until") {
			t.Fatalf("rotate-secret: %s", r)
		}
		// The delivery log route answers (empty: nothing was produced for this subscription).
		r = run(t, as(subKey, "deliveries", "list", subID)...)
		if r.code != 0 || !strings.Contains(r.stdout, "No deliveries for "+subID) {
			t.Fatalf("deliveries list: %s", r)
		}
		r = run(t, as(subKey, "deliveries", "get", "msg_nope")...)
		if r.code != 1 || !strings.Contains(r.stderr, "404") {
			t.Fatalf("deliveries get of an unknown id: %s", r)
		}
		r = run(t, as(subKey, "subscriptions", "delete", subID)...)
		if r.code != 0 {
			t.Fatalf("delete: %s", r)
		}
		r = run(t, as(subKey, "subscriptions", "get", subID)...)
		if r.code != 1 || !strings.Contains(r.stderr, "not_found") || !strings.Contains(r.stderr, "hint:") {
			t.Fatalf("get after delete: %s", r)
		}
	})

	t.Run("subscribe to an endpoint that fails verification, then verify", func(t *testing.T) {
		var healthy atomic.Bool
		flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer flaky.Close()
		r := run(t, as(subKey, "subscribe", "--app", pubID, "--topic", "participant", "--event", "usercreated", "--url", flaky.URL)...)
		m := regexp.MustCompile(`\(unverified\)\n +id: +(sub_\S+)`).FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil || !strings.Contains(r.stderr, "did not pass verification") || !strings.Contains(r.stderr, "heraldctl subscriptions verify "+m[1]) {
			t.Fatalf("subscribe to a failing endpoint: %s", r)
		}
		r = run(t, as(subKey, "subscriptions", "verify", m[1])...)
		if r.code != 1 || !strings.Contains(r.stdout, "Endpoint verification failed (answer 503") {
			t.Fatalf("verify while the endpoint fails: %s", r)
		}
		healthy.Store(true)
		r = run(t, as(subKey, "subscriptions", "verify", m[1])...)
		if r.code != 0 || !strings.Contains(r.stdout, "Endpoint verification passed (answer 200") || !strings.Contains(r.stdout, "is active") {
			t.Fatalf("verify once the endpoint works: %s", r)
		}
	})

	t.Run("filter test", func(t *testing.T) {
		rule := `{"===":["$eventType","userCreatedEvent"]}`
		if r := run(t, "filter", "test", "--rule", rule, "--event", `{"eventType":"userCreatedEvent"}`); r.code != 0 {
			t.Fatalf("matched: %s", r)
		}
		if r := run(t, "filter", "test", "--rule", rule, "--event", `{"eventType":"userUpdatedEvent"}`); r.code != 3 || !strings.Contains(r.stdout, `eventType = "userUpdatedEvent"`) {
			t.Fatalf("not matched: %s", r)
		}
	})

	t.Run("errors", func(t *testing.T) {
		r := run(t, as("hk_not-a-key", "events", "list", "--topic", "participant")...)
		if r.code != 1 || !strings.Contains(r.stderr, "401 unauthenticated") || !strings.Contains(r.stderr, "hint: check --token / HERALD_TOKEN") {
			t.Fatalf("bad token: %s", r)
		}
		r = run(t, as(pubKey, "apps", "list")...)
		if r.code != 1 || !strings.Contains(r.stderr, "403") || !strings.Contains(r.stderr, "need the admin token") {
			t.Fatalf("app key on an admin command: %s", r)
		}
		r = run(t, as(subKey, "subscribe", "--app", pubID, "--topic", "participant", "--event", "nope", "--url", endpoint.URL)...)
		if r.code != 1 || !strings.Contains(r.stderr, "(field events[0])") {
			t.Fatalf("a bad field: %s", r)
		}
		r = run(t, as(pubKey, "events", "list", "--topc", "participant")...)
		if r.code != 2 || !strings.Contains(r.stderr, "flag provided but not defined: -topc") {
			t.Fatalf("bad flag: %s", r)
		}
	})

	t.Run("apps delete", func(t *testing.T) {
		r := run(t, as(h.token, "--output", "json", "apps", "create", "--name", "short-lived")...)
		var app struct{ ID, APIKey string }
		if err := json.Unmarshal([]byte(r.stdout), &app); r.code != 0 || err != nil {
			t.Fatalf("apps create: %v\n%s", err, r)
		}
		r = run(t, as(h.token, "apps", "delete", app.ID)...)
		if r.code != 0 || !strings.Contains(r.stdout, "Deleted app "+app.ID+" and 0 subscriptions.") {
			t.Fatalf("apps delete: %s", r)
		}
		if r := run(t, as(app.APIKey, "subscriptions", "list")...); r.code != 1 || !strings.Contains(r.stderr, "401") {
			t.Fatalf("a deleted app's key still works: %s", r)
		}
		r = run(t, as(h.token, "apps", "delete", pubID)...)
		if r.code != 1 || !strings.Contains(r.stderr, "409") || !strings.Contains(r.stderr, "registered events") {
			t.Fatalf("deleting a publisher with events: %s", r)
		}
	})

	t.Run("demo", func(t *testing.T) {
		// No --token: the demo reads the admin token from the data folder, as after make run.
		r := run(t, append(server, "demo", "--kafka", h.broker, "--data-dir", h.dataDir)...)
		t.Logf("demo output:\n%s", r.stdout)
		if r.code != 0 {
			t.Fatalf("demo: %s", r)
		}
		for _, want := range []string{
			"Applied: 3 created",
			"answered 500  signature verified (the receiver failed it on purpose)",
			"answered 200  signature verified (the retry: same webhook-id)",
			"ok  #1 delivered, as its rules say",
			"ok  #5 delivered, as its rules say",
			// filtered, and why
			`#2 a user was updated: filtered by the publisher's event definition`,
			`usercreated's filterLogic {"===":[{"var":"eventType"},"userCreatedEvent"]} is false (eventType = "userUpdatedEvent")`,
			"it is the publisher's userupdated event, which this subscription does not ask for",
			`#3 a new user in region us: filtered by the subscription's own filter`,
			`the subscription's filter {"==":[{"var":"region"},"eu"]} is false (region = "us")`,
			"#4 a malformed message: quarantined, not delivered",
			"ok  #2 not delivered", "ok  #3 not delivered", "ok  #4 not delivered",
			"ok  the failed delivery was retried with the same webhook-id msg_",
			"endpoint      verified: Herald sent a HEAD request",
			"Done: every message went where the rules say it should.",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the demo's output has no %q", want)
			}
		}
		if strings.Contains(r.stdout, "SIGNATURE NOT VALID") || strings.Contains(r.stdout, "!!") {
			t.Errorf("the demo reports a problem")
		}
	})
}
