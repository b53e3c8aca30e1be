package standalone_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/signature"
	"github.com/heraldhq/herald/pkg/testenv"
	"github.com/heraldhq/herald/services/standalone"
	"github.com/segmentio/kafka-go"
)

// syncBuffer collects Run's output while the test reads it.
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

type herald struct {
	base, broker, token string
	matcherMetrics      string
	dispatcherMetrics   string
	stop                func()
}

// start runs the standalone on dataDir with free ports and reads the addresses it prints.
func start(t *testing.T, dataDir string) *herald {
	t.Helper()
	cfg, err := standalone.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.HTTPAddr, cfg.GRPCAddr, cfg.KafkaAddr = dataDir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- standalone.Run(ctx, cfg, out, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	h := &herald{stop: func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}}
	line := func(name string) string {
		m := regexp.MustCompile(name + `: +(\S+)`).FindStringSubmatch(out.String())
		if m == nil {
			return ""
		}
		return m[1]
	}
	for deadline := time.Now().Add(60 * time.Second); line("Admin token") == ""; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("Run returned %v before printing its addresses:\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no addresses printed within 60s:\n%s", out.String())
		}
	}
	h.base, h.broker, h.token = line("HTTP API"), line("Kafka broker"), line("Admin token")
	h.matcherMetrics, h.dispatcherMetrics = line("Matcher"), line("Dispatcher")
	return h
}

func (h *herald) api(t *testing.T, method, path, key string, body string) map[string]any {
	t.Helper()
	var b any
	if body != "" {
		b = json.RawMessage(body)
	}
	return testenv.API(t, h.base, method, path, key, b)
}

// TestStandaloneDeliversSignedFilteredEvents is the README's promise: one process, an event
// produced to the printed broker, a signed delivery to a loopback receiver that passed the
// publisher's filter, a retry with the same webhook-id, and configuration kept across a restart.
func TestStandaloneDeliversSignedFilteredEvents(t *testing.T) {
	dataDir := t.TempDir()
	h := start(t, dataDir)

	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	var key []byte
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead { // endpoint verification when subscribing
			return
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		ts, _ := strconv.ParseInt(r.Header.Get(signature.HeaderTimestamp), 10, 64)
		if err := signature.Verify(key, r.Header.Get(signature.HeaderID), time.Unix(ts, 0), body, r.Header.Get(signature.HeaderSignature), time.Now(), 0); err != nil {
			t.Errorf("bad signature: %v", err)
		}
		got, bodies = append(got, r), append(bodies, body)
		if len(got) == 1 {
			w.WriteHeader(http.StatusInternalServerError) // the first try fails: it is retried
		}
	}))
	defer rc.Close()

	pub := h.api(t, "POST", "/v1/apps", h.token, `{"name":"user-service"}`)
	sub := h.api(t, "POST", "/v1/apps", h.token, `{"name":"crm","permissions":["get user details"]}`)
	pubKey, subKey := pub["apiKey"].(string), sub["apiKey"].(string)
	h.api(t, "POST", "/v1/appconfig", pubKey, `{"permissions":["get users","get user details"],"name":"User Management"}`)
	h.api(t, "POST", "/v1/topics/participant/events", pubKey, `{"getApiPath":"/app/api/v2/users/{userId}","events":[
	  {"name":"usercreated","eventType":"userCreatedEvent","filterLogic":{"===":["$eventType","userCreatedEvent"]},"type":"users"},
	  {"name":"userupdated","eventType":"userUpdatedEvent","filterLogic":{"===":["$eventType","userUpdatedEvent"]},"type":"users"}]}`)
	s := h.api(t, "POST", "/v1/subscriptions", subKey, fmt.Sprintf(`{"appId":%q,"topic":"participant","events":["usercreated"],"url":%q,
	  "filterLogic":{"==":[{"var":"region"},"eu"]},"options":{"retrySchedule":["200ms"]}}`, pub["id"], rc.URL+"/hooks"))
	mu.Lock()
	key, _ = signature.ParseSecret(s["secret"].(string))
	mu.Unlock()

	w := &kafka.Writer{Addr: kafka.TCP(h.broker), Topic: "participant", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	begin := time.Now()
	// Until the first delivery arrives (the matcher picks the subscription up within a second),
	// produce one event that passes both filters and three that must not arrive.
	retried := func() bool { // a request after the first carries its webhook-id
		for _, r := range got[1:] {
			if r.Header.Get("webhook-id") == got[0].Header.Get("webhook-id") {
				return true
			}
		}
		return false
	}
	for n := 0; ; n++ {
		err := w.WriteMessages(context.Background(),
			kafka.Message{Value: []byte(fmt.Sprintf(`{"eventType":"userCreatedEvent","userId":"u%d","region":"eu"}`, n))},
			kafka.Message{Value: []byte(`{"eventType":"userCreatedEvent","userId":"x","region":"us"}`)},
			kafka.Message{Value: []byte(`{"eventType":"userUpdatedEvent","userId":"y","region":"eu"}`)},
			kafka.Message{Value: []byte(`not json at all`)},
		)
		if err != nil && time.Since(begin) > 30*time.Second {
			t.Fatal(err)
		}
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 1 {
			break
		}
		if time.Since(begin) > 60*time.Second {
			t.Fatalf("no delivery within a minute (%d requests)", n)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("first signed delivery after %s", time.Since(begin).Round(time.Millisecond))
	// The first answer was a 500: it is retried with the same webhook-id. (An event produced just
	// before the first delivery arrived may be delivered in between, with an id of its own.)
	testenv.Eventually(t, 30*time.Second, "the failed delivery is retried with its webhook-id", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return retried()
	})
	mu.Lock()
	for i, b := range bodies {
		if !strings.Contains(string(b), `"region":"eu"`) || !strings.Contains(string(b), `"type":"usercreated"`) {
			t.Errorf("delivery %d should have been filtered out: %s", i, b)
		}
	}
	id := got[0].Header.Get("webhook-id")
	mu.Unlock()

	// The delivery log shows the delivery with the event's body, which went to the registry once
	// on herald.payloads rather than with every attempt record.
	testenv.Eventually(t, 30*time.Second, "the delivery log shows the body of "+id, func() bool {
		code, d := testenv.Call(t, h.base, "GET", "/v1/deliveries/"+id, subKey, nil)
		data, _ := d["data"].(map[string]any)
		body, _ := data["body"].(string)
		return code == 200 && strings.Contains(body, `"eventType":"userCreatedEvent"`) && strings.Contains(body, `"region":"eu"`)
	})

	// The metrics endpoints expose the series the runbook and dashboards name, with values.
	scrape := func(url string) string {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	series := map[string][]string{
		h.base + "/metrics": {"herald_registry_http_requests_total", "herald_registry_http_request_duration_seconds"},
		h.matcherMetrics: {"herald_matcher_consumed_total", "herald_matcher_matched_total", "herald_matcher_filtered_total",
			"herald_matcher_invalid_total", "herald_matcher_jobs_produced_total", "herald_matcher_lag", "herald_matcher_config_version"},
		h.dispatcherMetrics: {`herald_dispatcher_attempts_total{error_type="",outcome="delivered"}`, "herald_dispatcher_request_seconds_bucket",
			`herald_dispatcher_retries_total{tier="0s"}`, "herald_dispatcher_dead_letters_total", "herald_dispatcher_in_flight", "herald_dispatcher_open_circuits"},
	}
	for url, names := range series {
		body := scrape(url)
		for _, name := range names {
			if !strings.Contains(body, "\n"+name) {
				t.Errorf("%s lacks %s", url, name)
			}
		}
	}
	if m := regexp.MustCompile(`(?m)^herald_matcher_invalid_total (\d+)`).FindStringSubmatch(scrape(h.matcherMetrics)); m == nil || m[1] == "0" {
		t.Errorf("the matcher did not count the malformed events as invalid: %v", m)
	}
	for _, probe := range []string{h.base + "/readyz", strings.Replace(h.matcherMetrics, "/metrics", "/readyz", 1), strings.Replace(h.dispatcherMetrics, "/metrics", "/readyz", 1)} {
		if res, err := http.Get(probe); err != nil || res.StatusCode != 200 {
			t.Errorf("%s: %v %v", probe, res, err)
		}
	}
	h.stop()

	h = start(t, dataDir)
	defer h.stop()
	list := h.api(t, "GET", "/v1/subscriptions", subKey, "")
	if n := len(list["subscriptions"].([]any)); n != 1 {
		t.Fatalf("after a restart the subscriber has %d subscriptions, want 1", n)
	}
}
