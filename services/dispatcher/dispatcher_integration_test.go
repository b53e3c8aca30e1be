package dispatcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/signature"
	"github.com/heraldhq/herald/pkg/testenv"
	"github.com/heraldhq/herald/pkg/topics"
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	dispatcherv1 "github.com/heraldhq/herald/proto/herald/dispatcher/v1"
	"github.com/heraldhq/herald/services/dispatcher"
	"github.com/heraldhq/herald/services/registry"
	"github.com/segmentio/kafka-go"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const adminToken = "dispatcher-test-admin-token"

// world is a registry on its own database, topics under their own prefix, and a publisher with
// one registered event that subscriptions in each test subscribe to.
type world struct {
	t       *testing.T
	brokers []string
	names   topics.Names
	regCfg  registry.Config
	base    string
	pubID   string
	pubKey  string
	subKey  string
	offset  int64
	group   string // the consumer group of every dispatcher in this world
	created bool
}

func newWorld(t *testing.T) *world {
	t.Helper()
	uri := testenv.MongoURI(t)
	w := &world{t: t, brokers: testenv.KafkaBrokers(t), names: topics.Names{Prefix: testenv.UniqueName("d") + "."}, group: testenv.UniqueName("g")}
	cfg := registry.DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.MongoURI, cfg.MongoDatabase, cfg.MongoMaxPoolSize = uri, testenv.UniqueName("dispatcher_"), 1
	cfg.AdminToken, cfg.SecretKeys, cfg.WatchPollInterval = adminToken, secretbox.NewKey(), 50*time.Millisecond
	cfg.VerifyEndpoints = false // receivers here count every request; verification is the registry's test
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := registry.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cfg.GRPCAddr = svc.GRPCAddr()
	w.regCfg, w.base = cfg, "http://"+svc.HTTPAddr()
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if client, err := mongo.Connect(options.Client().ApplyURI(uri)); err == nil {
			_ = client.Database(cfg.MongoDatabase).Drop(context.Background())
			_ = client.Disconnect(context.Background())
		}
	})
	d := w.api("POST", "/v1/apps", adminToken, map[string]any{"name": "pub", "permissions": []string{"p"}})
	w.pubID, w.pubKey = d["id"].(string), d["apiKey"].(string)
	d = w.api("POST", "/v1/apps", adminToken, map[string]any{"name": "sub", "permissions": []string{"p"}})
	w.subKey = d["apiKey"].(string)
	w.api("POST", "/v1/appconfig", w.pubKey, map[string]any{"permissions": []string{"p"}})
	w.api("POST", "/v1/topics/entity/events", w.pubKey, map[string]any{"getApiPath": "/things/{id}", "events": []any{map[string]any{"name": "thingcreated", "eventType": "thingCreated"}}})
	return w
}

func (w *world) api(method, path, key string, body any) map[string]any {
	w.t.Helper()
	return testenv.API(w.t, w.base, method, path, key, body)
}

// subscribe creates a subscription to url and returns its id and secret.
func (w *world) subscribe(url string, opts map[string]any) (id, secret string) {
	w.t.Helper()
	d := w.api("POST", "/v1/subscriptions", w.subKey, map[string]any{"appId": w.pubID, "topic": "entity", "events": []string{"thingcreated"}, "url": url, "options": opts})
	return d["id"].(string), d["secret"].(string)
}

func (w *world) start(tweak func(*dispatcher.Config)) (svc *dispatcher.Service, stop func()) {
	w.t.Helper()
	c := dispatcher.DefaultConfig()
	c.HTTPAddr, c.GRPCAddr, c.KafkaBrokers, c.TopicPrefix, c.GroupID = "127.0.0.1:0", "127.0.0.1:0", w.brokers, w.names.Prefix, w.group
	c.RegistryAddr, c.AdminToken, c.SecretKeys = w.regCfg.GRPCAddr, adminToken, w.regCfg.SecretKeys
	c.AllowLoopback, c.SessionTimeout, c.Timeout = true, 6*time.Second, 2*time.Second
	c.RetryTiers = []time.Duration{0, time.Second}
	if tweak != nil {
		tweak(&c)
	}
	svc, err := dispatcher.New(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		w.t.Fatal(err)
	}
	if got := dispatcher.WriterCompression(svc); c.Kafka.Compression == "" && got != kafka.Lz4 {
		w.t.Fatalf("the dispatcher's writer compresses with %v by default, want lz4", got)
	}
	createTopicsOnce(w, svc.Topics())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				w.t.Errorf("dispatcher stopped with %v", err)
			}
		})
	}
	w.t.Cleanup(stop)
	testenv.Eventually(w.t, 30*time.Second, "the dispatcher loads its configuration", svc.Ready)
	return svc, stop
}

// createTopicsOnce creates the dispatcher's topics the first time a world starts one.
func createTopicsOnce(w *world, names []string) {
	if w.created {
		return
	}
	w.created = true
	testenv.CreateTopics(w.t, w.brokers, 3, names...)
}

// waitConfig waits until the dispatcher knows the subscription.
func waitConfig(t *testing.T, svc *dispatcher.Service, before int64) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "the dispatcher sees the new subscription", func() bool { return svc.ConfigVersion() > before })
}

// job makes the job the matcher would make for one input message.
func (w *world) job(subID, body string) *deliveryv1.Job {
	w.offset++
	return &deliveryv1.Job{
		DeliveryId: fmt.Sprintf("msg_test%06d", w.offset), SubscriptionId: subID, AppId: w.pubID, EventId: "evt_x",
		EventName: "thingcreated", EventType: "thingCreated", Topic: "entity", Offset: w.offset,
		EventTime: timestamppb.New(time.Unix(1700000000, 0)), Body: []byte(body), ResourceUrl: "https://api.example.com/things/1",
		MatchTime: timestamppb.Now(),
	}
}

func (w *world) produce(jobs ...*deliveryv1.Job) {
	w.t.Helper()
	var msgs []kafka.Message
	for _, j := range jobs {
		v, _ := proto.Marshal(j)
		msgs = append(msgs, kafka.Message{Key: []byte(j.GetSubscriptionId()), Value: v})
	}
	testenv.Produce(w.t, w.brokers, w.names.Topic(topics.Deliveries), msgs...)
}

// attempts returns the attempt records of one delivery, in attempt order.
func (w *world) attempts(deliveryID string) []*deliveryv1.Attempt {
	w.t.Helper()
	var out []*deliveryv1.Attempt
	for _, m := range testenv.Drain(w.t, w.brokers, w.names.Topic(topics.Attempts)) {
		a := &deliveryv1.Attempt{}
		if err := proto.Unmarshal(m.Value, a); err != nil {
			w.t.Fatal(err)
		}
		if a.GetDeliveryId() == deliveryID {
			out = append(out, a)
		}
	}
	return out
}

// receiver is a loopback endpoint that answers from a script and records what it got.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []*http.Request
	bodies   [][]byte
	times    []time.Time
	answer   func(n int, r *http.Request, body []byte) int // n counts requests from 0
	verifier *standardwebhooks.Webhook
	bad      []string
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request, body []byte) int) *receiver {
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got, rc.bodies, rc.times = append(rc.got, r), append(rc.bodies, body), append(rc.times, time.Now())
		if rc.verifier != nil {
			if err := rc.verifier.Verify(body, r.Header); err != nil {
				rc.bad = append(rc.bad, err.Error())
			}
		}
		rc.mu.Unlock()
		code := http.StatusOK
		if rc.answer != nil {
			code = rc.answer(n, r, body)
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "answer %d", code)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func TestSignedDeliveryVerifiesWithTheReferenceLibrary(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, nil)
	svc, _ := w.start(nil)
	v := svc.ConfigVersion()
	subID, secret := w.subscribe(rc.URL+"/hook", map[string]any{"hubSignature": true, "verificationKey": "static-key-1"})
	waitConfig(t, svc, v)
	var err error
	if rc.verifier, err = standardwebhooks.NewWebhook(secret); err != nil {
		t.Fatal(err)
	}
	job := w.job(subID, `{"id":"1","eventType":"thingCreated","name":"widget"}`)
	w.produce(job)
	testenv.Eventually(t, 30*time.Second, "the delivery arrives", func() bool { return rc.count() == 1 })

	r, body := rc.got[0], rc.bodies[0]
	if len(rc.bad) > 0 {
		t.Fatalf("the reference library rejected the signature: %v", rc.bad)
	}
	key, _ := signature.ParseSecret(secret)
	if r.Header.Get("webhook-id") != job.GetDeliveryId() || r.Header.Get("X-Hub-Signature-256") != signature.NewSigner(key).Hub(body) ||
		r.Header.Get("X-Herald-Webhook-Key") != "static-key-1" || r.Header.Get("X-Herald-Event") != "thingcreated" ||
		r.Header.Get("Content-Type") != "application/cloudevents+json" {
		t.Fatalf("headers %v", r.Header)
	}
	var ce map[string]any
	if err := json.Unmarshal(body, &ce); err != nil {
		t.Fatal(err)
	}
	if ce["specversion"] != "1.0" || ce["id"] != job.GetDeliveryId() || ce["type"] != "thingcreated" ||
		ce["subject"] != "https://api.example.com/things/1" || ce["data"].(map[string]any)["name"] != "widget" {
		t.Fatalf("CloudEvent %s", body)
	}
	// The attempt record is produced after the receiver answers: wait for it.
	testenv.Eventually(t, 30*time.Second, "the attempt is recorded", func() bool { return len(w.attempts(job.GetDeliveryId())) == 1 })
	atts := w.attempts(job.GetDeliveryId())
	if len(atts) != 1 || atts[0].GetOutcome() != deliveryv1.Outcome_OUTCOME_DELIVERED || atts[0].GetStatusCode() != 200 || atts[0].GetResponseSnippet() != "answer 200" {
		t.Fatalf("attempts %v", atts)
	}
}

func TestPayloadForms(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, nil)
	svc, _ := w.start(nil)
	v := svc.ConfigVersion()
	thin, _ := w.subscribe(rc.URL+"/thin", map[string]any{"payload": "thin"})
	raw, _ := w.subscribe(rc.URL+"/raw", map[string]any{"payload": "raw"})
	waitConfig(t, svc, v)
	testenv.Eventually(t, 30*time.Second, "both subscriptions are known", func() bool { return svc.ConfigVersion() >= v+2 })
	w.produce(w.job(thin, `{"a":1}`), w.job(raw, `{"a":2}`))
	testenv.Eventually(t, 30*time.Second, "both deliveries arrive", func() bool { return rc.count() == 2 })
	for i, r := range rc.got {
		switch r.URL.Path {
		case "/thin":
			var m map[string]any
			_ = json.Unmarshal(rc.bodies[i], &m)
			if m["resource_url"] != "https://api.example.com/things/1" || m["id"] == nil || len(m) != 2 {
				t.Fatalf("thin payload %s", rc.bodies[i])
			}
		case "/raw":
			if string(rc.bodies[i]) != `{"a":2}` {
				t.Fatalf("raw payload %s", rc.bodies[i])
			}
		}
	}
}

func TestFailsThenSucceedsAfterTheRightAttempts(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, func(n int, _ *http.Request, _ []byte) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	svc, _ := w.start(nil)
	v := svc.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, map[string]any{"retrySchedule": []string{"100ms", "200ms", "300ms"}})
	waitConfig(t, svc, v)
	job := w.job(subID, `{"id":"1"}`)
	w.produce(job)
	testenv.Eventually(t, 30*time.Second, "the third attempt arrives", func() bool { return rc.count() == 3 })
	testenv.Eventually(t, 30*time.Second, "three attempts are recorded", func() bool { return len(w.attempts(job.GetDeliveryId())) == 3 })
	atts := w.attempts(job.GetDeliveryId())
	for i, a := range atts {
		wantStatus, wantOutcome := int32(500), deliveryv1.Outcome_OUTCOME_RETRYING
		if i == 2 {
			wantStatus, wantOutcome = 200, deliveryv1.Outcome_OUTCOME_DELIVERED
		}
		if a.GetAttempt() != int32(i) || a.GetStatusCode() != wantStatus || a.GetOutcome() != wantOutcome {
			t.Fatalf("attempt %d = %v", i, a)
		}
		if wantOutcome == deliveryv1.Outcome_OUTCOME_RETRYING && (a.GetErrorType() != "http_status" || a.GetNextAttemptTime() == nil) {
			t.Fatalf("attempt %d lacks its error type or next time: %v", i, a)
		}
	}
	for _, r := range rc.got {
		if r.Header.Get("webhook-id") != job.GetDeliveryId() {
			t.Fatal("a retry carried another webhook-id")
		}
	}
	time.Sleep(500 * time.Millisecond)
	if rc.count() != 3 {
		t.Fatalf("%d requests after success, want 3", rc.count())
	}
}

func TestDeadAfterTheLastTry(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, func(int, *http.Request, []byte) int { return http.StatusBadGateway })
	svc, _ := w.start(nil)
	v := svc.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, map[string]any{"retrySchedule": []string{"50ms", "50ms"}})
	waitConfig(t, svc, v)
	job := w.job(subID, `{"id":"1"}`)
	w.produce(job)
	testenv.Eventually(t, 30*time.Second, "the job reaches herald.dead", func() bool { return len(testenv.Drain(w.t, w.brokers, w.names.Topic(topics.Dead))) == 1 })
	if rc.count() != 3 {
		t.Fatalf("%d attempts, want 3 (first try + 2 retries)", rc.count())
	}
	atts := w.attempts(job.GetDeliveryId())
	if len(atts) != 3 || atts[2].GetOutcome() != deliveryv1.Outcome_OUTCOME_FAILED {
		t.Fatalf("attempts %v", atts)
	}
}

func TestGoneIsNotRetried(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, func(int, *http.Request, []byte) int { return http.StatusGone })
	svc, _ := w.start(nil)
	v := svc.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, map[string]any{"retrySchedule": []string{"50ms", "50ms"}})
	waitConfig(t, svc, v)
	job := w.job(subID, `{"id":"1"}`)
	w.produce(job)
	testenv.Eventually(t, 30*time.Second, "the attempt is recorded", func() bool { return len(w.attempts(job.GetDeliveryId())) == 1 })
	if a := w.attempts(job.GetDeliveryId())[0]; a.GetOutcome() != deliveryv1.Outcome_OUTCOME_GONE || a.GetStatusCode() != 410 {
		t.Fatalf("attempt %v", a)
	}
	time.Sleep(300 * time.Millisecond)
	if rc.count() != 1 {
		t.Fatalf("410 was retried: %d requests", rc.count())
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, func(n int, _ *http.Request, _ []byte) int {
		if n == 0 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	rc.Config.Handler = withRetryAfter(rc.Config.Handler, "1")
	svc, _ := w.start(nil)
	v := svc.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, map[string]any{"retrySchedule": []string{"10ms"}})
	waitConfig(t, svc, v)
	w.produce(w.job(subID, `{"id":"1"}`))
	testenv.Eventually(t, 30*time.Second, "the retry arrives", func() bool { return rc.count() == 2 })
	if gap := rc.times[1].Sub(rc.times[0]); gap < time.Second {
		t.Fatalf("retried after %s, before the Retry-After of 1s", gap)
	}
}

func withRetryAfter(next http.Handler, v string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", v)
		next.ServeHTTP(w, r)
	})
}

func TestTimeoutAndClosedPortAreRecordedAndRetried(t *testing.T) {
	w := newWorld(t)
	slow := newReceiver(t, func(n int, _ *http.Request, _ []byte) int {
		if n == 0 {
			time.Sleep(1500 * time.Millisecond)
		}
		return http.StatusOK
	})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "http://" + l.Addr().String() + "/hook"
	l.Close()
	svc, _ := w.start(func(c *dispatcher.Config) { c.Timeout = 500 * time.Millisecond })
	v := svc.ConfigVersion()
	slowSub, _ := w.subscribe(slow.URL, map[string]any{"retrySchedule": []string{"50ms"}})
	closedSub, _ := w.subscribe(closedURL, map[string]any{"retrySchedule": []string{"50ms"}})
	testenv.Eventually(t, 30*time.Second, "both subscriptions are known", func() bool { return svc.ConfigVersion() >= v+2 })
	j1, j2 := w.job(slowSub, `{}`), w.job(closedSub, `{}`)
	w.produce(j1, j2)
	testenv.Eventually(t, 30*time.Second, "the slow endpoint gets its retry", func() bool { return slow.count() == 2 })
	testenv.Eventually(t, 30*time.Second, "the closed port's two attempts are recorded", func() bool { return len(w.attempts(j2.GetDeliveryId())) == 2 })
	if a := w.attempts(j1.GetDeliveryId()); a[0].GetErrorType() != "timeout" || a[1].GetOutcome() != deliveryv1.Outcome_OUTCOME_DELIVERED {
		t.Fatalf("slow: %v", a)
	}
	a := w.attempts(j2.GetDeliveryId())
	if a[0].GetErrorType() != "connection_refused" || a[1].GetOutcome() != deliveryv1.Outcome_OUTCOME_FAILED {
		t.Fatalf("closed port: %v", a)
	}
}

func TestSSRFGuardRefusesLoopbackUnlessAllowed(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, nil)
	svc, _ := w.start(func(c *dispatcher.Config) { c.AllowLoopback = false })
	v := svc.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, map[string]any{"retrySchedule": []string{}})
	waitConfig(t, svc, v)
	job := w.job(subID, `{}`)
	w.produce(job)
	testenv.Eventually(t, 30*time.Second, "the attempt is recorded", func() bool { return len(w.attempts(job.GetDeliveryId())) == 1 })
	if a := w.attempts(job.GetDeliveryId())[0]; a.GetErrorType() != "blocked" || !strings.Contains(a.GetError(), "loopback") {
		t.Fatalf("attempt %v", a)
	}
	if rc.count() != 0 {
		t.Fatal("the guard let a request through")
	}
}

func TestOrderedSubscriptionHoldsBackBehindAFailingHead(t *testing.T) {
	w := newWorld(t)
	var failed int
	var mu sync.Mutex
	rc := newReceiver(t, func(_ int, _ *http.Request, body []byte) int {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(string(body), `"seq":0`) && failed < 2 {
			failed++
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	svc, _ := w.start(nil)
	v := svc.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, map[string]any{"ordered": true, "payload": "raw", "retrySchedule": []string{"100ms", "100ms", "100ms"}})
	waitConfig(t, svc, v)
	var jobs []*deliveryv1.Job
	for i := range 6 {
		jobs = append(jobs, w.job(subID, fmt.Sprintf(`{"seq":%d}`, i)))
	}
	w.produce(jobs...)
	testenv.Eventually(t, 30*time.Second, "all arrive", func() bool { return rc.count() == 8 })
	var order []string
	for _, b := range rc.bodies {
		order = append(order, string(b))
	}
	want := `{"seq":0} {"seq":0} {"seq":0} {"seq":1} {"seq":2} {"seq":3} {"seq":4} {"seq":5}`
	if strings.Join(order, " ") != want {
		t.Fatalf("received %v, want %s", order, want)
	}
}

func TestRestartDeliversEverything(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, func(int, *http.Request, []byte) int { time.Sleep(2 * time.Millisecond); return http.StatusOK })
	first, stop := w.start(func(c *dispatcher.Config) { c.MaxInFlight = 4 })
	v := first.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, nil)
	waitConfig(t, first, v)
	const total = 300
	var jobs []*deliveryv1.Job
	for range total {
		jobs = append(jobs, w.job(subID, `{}`))
	}
	w.produce(jobs...)
	testenv.Eventually(t, 30*time.Second, "the first dispatcher is under way", func() bool { return first.Delivered() > 10 })
	stop()
	if first.Delivered() >= total {
		t.Fatal("the first dispatcher finished before it was stopped; the test proves nothing")
	}
	w.start(nil) // same group: it resumes from the first one's commits
	ids := map[string]int{}
	testenv.Eventually(t, 30*time.Second, "every delivery arrives", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for k := range ids {
			delete(ids, k)
		}
		for _, r := range rc.got {
			ids[r.Header.Get("webhook-id")]++
		}
		return len(ids) == total
	})
	t.Logf("first delivered %d; %d requests for %d deliveries", first.Delivered(), rc.count(), total)
}

func TestCircuitBreakerAndAdminStatus(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, func(int, *http.Request, []byte) int { return http.StatusInternalServerError })
	svc, _ := w.start(func(c *dispatcher.Config) {
		c.CircuitThreshold, c.CircuitCooldown, c.MaxPerEndpoint = 3, time.Hour, 1
	})
	v := svc.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, map[string]any{"retrySchedule": []string{}})
	waitConfig(t, svc, v)
	var jobs []*deliveryv1.Job
	for range 6 {
		jobs = append(jobs, w.job(subID, `{}`))
	}
	w.produce(jobs...)
	testenv.Eventually(t, 30*time.Second, "six attempts are recorded", func() bool {
		n := 0
		for _, j := range jobs {
			n += len(w.attempts(j.GetDeliveryId()))
		}
		return n == 6
	})
	if rc.count() != 3 {
		t.Fatalf("%d requests reached the endpoint, want 3 before the circuit opened", rc.count())
	}
	open := 0
	for _, j := range jobs {
		if a := w.attempts(j.GetDeliveryId())[0]; a.GetErrorType() == "circuit_open" {
			open++
		}
	}
	if open != 3 {
		t.Fatalf("%d attempts failed fast on the open circuit, want 3", open)
	}

	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := dispatcherv1.NewDispatcherAdminClient(conn)
	if _, err := client.GetStatus(context.Background(), &dispatcherv1.GetStatusRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetStatus without the admin token: %v", err)
	}
	st, err := client.GetStatus(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminToken), &dispatcherv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(rc.URL, "http://")
	if len(st.GetOpenCircuits()) != 1 || st.GetOpenCircuits()[0].GetEndpoint() != host || st.GetMaxInFlight() != 256 {
		t.Fatalf("status %v", st)
	}
	paused, err := client.PauseSubscription(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminToken), &dispatcherv1.SubscriptionRequest{Id: subID})
	if err != nil || paused.GetStatus() != "paused" {
		t.Fatalf("PauseSubscription = %v, %v", paused, err)
	}
	if s := w.api("GET", "/v1/subscriptions/"+subID, w.subKey, nil); s["status"] != "paused" {
		t.Fatalf("the registry says %v after a pause", s["status"])
	}
	if _, err := client.ResumeSubscription(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminToken), &dispatcherv1.SubscriptionRequest{Id: "sub_nosuch"}); status.Code(err) != codes.NotFound {
		t.Fatalf("resuming a missing subscription: %v", err)
	}
	owned := false
	for _, p := range st.GetPartitions() {
		owned = owned || p.GetTopic() == w.names.Topic(topics.Deliveries)
	}
	if !owned || st.GetConfigVersion() == 0 {
		t.Fatalf("status lists no partition of the deliveries topic: %v", st)
	}
}

func TestAutoDisableAfterContinuousFailure(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, func(int, *http.Request, []byte) int { return http.StatusInternalServerError })
	svc, _ := w.start(func(c *dispatcher.Config) { c.AutoDisableAfter = 250 * time.Millisecond })
	v := svc.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, map[string]any{"retrySchedule": []string{"100ms", "100ms", "100ms", "100ms", "100ms", "100ms"}})
	waitConfig(t, svc, v)
	job := w.job(subID, `{}`)
	w.produce(job)
	testenv.Eventually(t, 30*time.Second, "the subscription is given up on", func() bool {
		a := w.attempts(job.GetDeliveryId())
		return len(a) > 0 && a[len(a)-1].GetOutcome() == deliveryv1.Outcome_OUTCOME_GONE
	})
	// Every attempt fails; the one that finds the endpoint failing for 250ms gives up, and
	// none before it does. (How many attempts that takes depends on how soon the retry tier's
	// consumer reads the retries: once 4s, when its group had only just formed.)
	a := w.attempts(job.GetDeliveryId())
	first, last := a[0].GetTime().AsTime(), a[len(a)-1]
	if !strings.Contains(last.GetError(), "failed continuously") || len(a) < 2 || last.GetTime().AsTime().Sub(first) < 250*time.Millisecond {
		t.Fatalf("%d attempts, last %v", len(a), last)
	}
	for _, at := range a[:len(a)-1] {
		if at.GetOutcome() != deliveryv1.Outcome_OUTCOME_RETRYING || at.GetTime().AsTime().Sub(first) >= 250*time.Millisecond {
			t.Fatalf("attempt %d, %v after the first failure: %v", at.GetAttempt(), at.GetTime().AsTime().Sub(first), at.GetOutcome())
		}
	}
}

// TestJobForAnUnknownSubscriptionIsHeldUntilTheConfigCatchesUp: the matcher may know a new
// subscription before this dispatcher does. Such a job waits on a retry tier (no attempt);
// a job for a subscription that is gone at the dispatcher's own version is skipped.
func TestJobForAnUnknownSubscriptionIsHeldUntilTheConfigCatchesUp(t *testing.T) {
	w := newWorld(t)
	svc, _ := w.start(nil)
	ahead := w.job("sub_not_yet_known", `{}`)
	ahead.ConfigVersion = svc.ConfigVersion() + 1000
	gone := w.job("sub_deleted", `{}`)
	gone.ConfigVersion = svc.ConfigVersion()
	w.produce(ahead, gone)
	testenv.Eventually(t, 30*time.Second, "the deleted subscription's job is skipped", func() bool {
		a := w.attempts(gone.GetDeliveryId())
		return len(a) == 1 && a[0].GetOutcome() == deliveryv1.Outcome_OUTCOME_SKIPPED
	})
	testenv.Eventually(t, 30*time.Second, "the other job waits on a retry tier", func() bool {
		for _, m := range testenv.Drain(w.t, w.brokers, w.names.Topic(topics.RetryPrefix+"1s")) {
			j := &deliveryv1.Job{}
			if proto.Unmarshal(m.Value, j) == nil && j.GetDeliveryId() == ahead.GetDeliveryId() && j.GetAttempt() == 0 {
				return true
			}
		}
		return false
	})
	if a := w.attempts(ahead.GetDeliveryId()); len(a) != 0 {
		t.Fatalf("a job for a subscription not yet known was attempted: %v", a)
	}
}

// TestALongRetryDoesNotHoldTheTierBack: a job due in 4s on the last tier (1s here) must not
// keep a job due in 1s waiting behind it; it hops back onto the tier instead.
func TestALongRetryDoesNotHoldTheTierBack(t *testing.T) {
	w := newWorld(t)
	failFirst := func() func(int, *http.Request, []byte) int {
		return func(n int, _ *http.Request, _ []byte) int {
			if n == 0 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		}
	}
	slow, quick := newReceiver(t, failFirst()), newReceiver(t, failFirst())
	// One partition per topic: the slow retry, produced first, is then surely at the tier's head.
	var names []string
	for _, n := range []string{topics.Deliveries, topics.Attempts, topics.Dead, topics.RetryPrefix + "0s", topics.RetryPrefix + "1s"} {
		names = append(names, w.names.Topic(n))
	}
	testenv.CreateTopics(t, w.brokers, 1, names...)
	w.created = true
	svc, _ := w.start(nil)
	v := svc.ConfigVersion()
	slowSub, _ := w.subscribe(slow.URL, map[string]any{"retrySchedule": []string{"4s"}})
	quickSub, _ := w.subscribe(quick.URL, map[string]any{"retrySchedule": []string{"1s"}})
	testenv.Eventually(t, 30*time.Second, "both subscriptions are known", func() bool { return svc.ConfigVersion() >= v+2 })
	w.produce(w.job(slowSub, `{}`))
	testenv.Eventually(t, 30*time.Second, "the slow one's first try", func() bool { return slow.count() == 1 })
	w.produce(w.job(quickSub, `{}`))
	testenv.Eventually(t, 30*time.Second, "both retries arrive", func() bool { return slow.count() == 2 && quick.count() == 2 })
	slow.mu.Lock()
	quick.mu.Lock()
	defer slow.mu.Unlock()
	defer quick.mu.Unlock()
	if !quick.times[1].Before(slow.times[1]) {
		t.Fatalf("the 1s retry came %s after the first try, after the 4s one: it waited behind it", quick.times[1].Sub(quick.times[0]))
	}
	if wait := slow.times[1].Sub(slow.times[0]); wait < 4*time.Second {
		t.Fatalf("the 4s retry came after %s", wait)
	}
}

// TestAStuckOrderedHeadDoesNotStarveOthers: jobs queued behind an ordered subscription's
// failing head must not take the in-flight slots other subscriptions need.
func TestAStuckOrderedHeadDoesNotStarveOthers(t *testing.T) {
	w := newWorld(t)
	stuck := newReceiver(t, func(int, *http.Request, []byte) int { return http.StatusServiceUnavailable })
	fine := newReceiver(t, nil)
	svc, _ := w.start(func(c *dispatcher.Config) { c.MaxInFlight = 2 })
	v := svc.ConfigVersion()
	orderedSub, _ := w.subscribe(stuck.URL, map[string]any{"ordered": true, "retrySchedule": []string{"1m"}})
	otherSub, _ := w.subscribe(fine.URL, nil)
	testenv.Eventually(t, 30*time.Second, "both subscriptions are known", func() bool { return svc.ConfigVersion() >= v+2 })
	var jobs []*deliveryv1.Job
	for range 5 {
		jobs = append(jobs, w.job(orderedSub, `{}`))
	}
	w.produce(jobs...)
	testenv.Eventually(t, 30*time.Second, "the ordered head is tried", func() bool { return stuck.count() == 1 })
	w.produce(w.job(otherSub, `{}`))
	testenv.Eventually(t, 30*time.Second, "the other subscription is delivered while the head waits", func() bool { return fine.count() == 1 })
	if stuck.count() != 1 {
		t.Fatalf("the ordered subscription got %d requests; only its head may be tried", stuck.count())
	}
}

// TestOrderedSubscriptionKeepsOrderAcrossAPause: jobs of a paused ordered subscription wait in
// place, so after a resume they still come before the jobs produced later.
func TestOrderedSubscriptionKeepsOrderAcrossAPause(t *testing.T) {
	w := newWorld(t)
	rc := newReceiver(t, nil)
	svc, _ := w.start(nil)
	v := svc.ConfigVersion()
	subID, _ := w.subscribe(rc.URL, map[string]any{"ordered": true, "payload": "raw"})
	waitConfig(t, svc, v)
	v = svc.ConfigVersion()
	w.api("PATCH", "/v1/subscriptions/"+subID, w.subKey, map[string]any{"status": "paused"})
	waitConfig(t, svc, v)
	var first []*deliveryv1.Job
	for i := range 3 {
		first = append(first, w.job(subID, fmt.Sprintf(`{"seq":%d}`, i)))
	}
	w.produce(first...)
	time.Sleep(1500 * time.Millisecond) // they are fetched and wait while paused
	if rc.count() != 0 {
		t.Fatalf("%d deliveries while paused", rc.count())
	}
	v = svc.ConfigVersion()
	w.api("PATCH", "/v1/subscriptions/"+subID, w.subKey, map[string]any{"status": "active"})
	waitConfig(t, svc, v)
	w.produce(w.job(subID, `{"seq":3}`), w.job(subID, `{"seq":4}`))
	testenv.Eventually(t, 60*time.Second, "all five arrive", func() bool { return rc.count() == 5 })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var got []string
	for _, b := range rc.bodies {
		got = append(got, string(b))
	}
	if want := `{"seq":0} {"seq":1} {"seq":2} {"seq":3} {"seq":4}`; strings.Join(got, " ") != want {
		t.Fatalf("received %v, want %s", got, want)
	}
}
