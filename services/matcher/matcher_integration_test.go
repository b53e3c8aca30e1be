package matcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/testenv"
	"github.com/heraldhq/herald/pkg/topics"
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"github.com/heraldhq/herald/services/matcher"
	"github.com/heraldhq/herald/services/registry"
	"github.com/segmentio/kafka-go"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
)

const adminToken = "matcher-test-admin-token"

// world is one registry (on its own database) and a set of topics (under their own prefix)
// on the servers under test.
type world struct {
	t         *testing.T
	brokers   []string
	names     topics.Names
	regCfg    registry.Config
	base      string
	stopReg   func()
	pubID     string
	pubKey    string
	subID     string
	subKey    string
	subscribe map[string]string // event name -> subscription id
}

func newWorld(t *testing.T) *world {
	t.Helper()
	uri := testenv.MongoURI(t)
	w := &world{t: t, brokers: testenv.KafkaBrokers(t), names: topics.Names{Prefix: testenv.UniqueName("t") + "."}, subscribe: map[string]string{}}
	cfg := registry.DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.MongoURI, cfg.MongoDatabase, cfg.MongoMaxPoolSize = uri, testenv.UniqueName("matcher_"), 1
	cfg.AdminToken, cfg.SecretKeys, cfg.WatchPollInterval = adminToken, secretbox.NewKey(), 50*time.Millisecond
	cfg.VerifyEndpoints = false                                   // the subscriptions' hosts do not exist; nothing is delivered here
	cfg.KafkaBrokers, cfg.TopicPrefix = w.brokers, w.names.Prefix // replays go through herald.replays
	w.regCfg = cfg
	w.startRegistry()
	t.Cleanup(func() {
		w.stopReg()
		if client, err := mongo.Connect(options.Client().ApplyURI(uri)); err == nil {
			_ = client.Database(cfg.MongoDatabase).Drop(context.Background())
			_ = client.Disconnect(context.Background())
		}
	})
	var all []string
	all = append(all, w.names.InputTopics()...)
	all = append(all, w.names.Topic(topics.Deliveries), w.names.Topic(topics.Invalid), w.names.Topic(topics.Replays), w.names.Topic(topics.Attempts), w.names.Topic(topics.Payloads))
	testenv.CreateTopics(t, w.brokers, 6, all...)
	return w
}

// startRegistry starts the registry; after the first start it reuses the same addresses, so a
// matcher can find it again.
func (w *world) startRegistry() {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := registry.New(ctx, w.regCfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		w.t.Fatal(err)
	}
	w.regCfg.HTTPAddr, w.regCfg.GRPCAddr = svc.HTTPAddr(), svc.GRPCAddr()
	w.base = "http://" + svc.HTTPAddr()
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	w.stopReg = func() { cancel(); <-done }
}

func (w *world) api(method, path, key string, body any) map[string]any {
	w.t.Helper()
	return testenv.API(w.t, w.base, method, path, key, body)
}

// apiStatus makes a call that is expected to fail and returns its status and error.
func (w *world) apiStatus(method, path, key string, body any) (int, map[string]any) {
	w.t.Helper()
	code, out := testenv.Call(w.t, w.base, method, path, key, body)
	e, _ := out["error"].(map[string]any)
	return code, e
}

// setupOS1 registers the OS1 example events and subscribes one app to each.
func (w *world) setupOS1() {
	d := w.api("POST", "/v1/apps", adminToken, map[string]any{"name": "users"})
	w.pubID, w.pubKey = d["id"].(string), d["apiKey"].(string)
	d = w.api("POST", "/v1/apps", adminToken, map[string]any{"name": "crm", "permissions": []string{"get user details"}})
	w.subID, w.subKey = d["id"].(string), d["apiKey"].(string)
	w.api("POST", "/v1/appconfig", w.pubKey, map[string]any{"permissions": []string{"get users", "get user details"}})
	w.api("POST", "/v1/topics/participant/events", w.pubKey, json.RawMessage(`{
	  "getApiPath": "/app/api/v2/users/{userId}",
	  "events": [
	    {"name":"usercreated","eventType":"userCreatedEvent","filterLogic":{"===":["$eventType","userCreatedEvent"]},"type":"users"},
	    {"name":"userupdated","eventType":"userUpdatedEvent","filterLogic":{"===":["$eventType","userUpdatedEvent"]},"type":"users"}]}`))
	for _, ev := range []string{"usercreated", "userupdated"} {
		s := w.api("POST", "/v1/subscriptions", w.subKey, map[string]any{
			"appId": w.pubID, "topic": "participant", "events": []string{ev}, "url": "https://crm.example.com/" + ev,
		})
		w.subscribe[ev] = s["id"].(string)
	}
}

func (w *world) matcherConfig(group string) matcher.Config {
	c := matcher.DefaultConfig()
	c.HTTPAddr, c.GRPCAddr, c.KafkaBrokers, c.TopicPrefix = "127.0.0.1:0", "127.0.0.1:0", w.brokers, w.names.Prefix
	c.GroupID, c.RegistryAddr, c.AdminToken = group, w.regCfg.GRPCAddr, adminToken
	c.SessionTimeout = 6 * time.Second
	return c
}

// running is a matcher under test.
type running struct {
	*matcher.Service
	stop func()
}

func (w *world) startMatcher(group string, tweaks ...func(*matcher.Config)) *running {
	w.t.Helper()
	cfg := w.matcherConfig(group)
	for _, f := range tweaks {
		f(&cfg)
	}
	svc, err := matcher.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	r := &running{Service: svc}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("matcher stopped with %v", err)
		}
	}
	w.t.Cleanup(r.stop)
	testenv.Eventually(w.t, 30*time.Second, "the matcher loads its configuration", svc.Ready)
	return r
}

func event(key, eventType string, extra string) kafka.Message {
	return kafka.Message{Key: []byte(key), Value: []byte(fmt.Sprintf(`{"eventType":%q,"userId":%q%s}`, eventType, key, extra))}
}

func (w *world) jobs() []*deliveryv1.Job {
	w.t.Helper()
	var out []*deliveryv1.Job
	for _, m := range testenv.Drain(w.t, w.brokers, w.names.Topic(topics.Deliveries)) {
		j := &deliveryv1.Job{}
		if err := proto.Unmarshal(m.Value, j); err != nil {
			w.t.Fatal(err)
		}
		if string(m.Key) != j.GetSubscriptionId() {
			w.t.Fatalf("job keyed %q for subscription %q", m.Key, j.GetSubscriptionId())
		}
		out = append(out, j)
	}
	return out
}

// byInput groups jobs by input (offset within partition) and checks that every duplicate of a
// delivery carries the same id.
func byInput(t *testing.T, jobs []*deliveryv1.Job) map[string][]*deliveryv1.Job {
	t.Helper()
	out := map[string][]*deliveryv1.Job{}
	ids := map[string]string{}
	for _, j := range jobs {
		k := fmt.Sprintf("%s/%d/%d/%s", j.GetTopic(), j.GetPartition(), j.GetOffset(), j.GetSubscriptionId())
		if prev, ok := ids[k]; ok && prev != j.GetDeliveryId() {
			t.Fatalf("two deliveries of %s have ids %s and %s", k, prev, j.GetDeliveryId())
		}
		ids[k] = j.GetDeliveryId()
		out[k] = append(out[k], j)
	}
	return out
}

func TestOS1FiltersEndToEnd(t *testing.T) {
	w := newWorld(t)
	w.setupOS1()
	m := w.startMatcher(testenv.UniqueName("g"))
	testenv.Produce(t, w.brokers, w.names.Topic("participant"),
		event("u1", "userCreatedEvent", ""),
		event("u2", "userUpdatedEvent", ""),
		event("u3", "userDeletedEvent", ""),
		kafka.Message{Key: []byte("u4"), Value: []byte(`{"userId":"u4"}`), Headers: []kafka.Header{{Key: "eventType", Value: []byte("userCreatedEvent")}}},
	)
	testenv.Eventually(t, 30*time.Second, "4 messages are handled", func() bool { return m.Handled() >= 4 })
	jobs := w.jobs()
	got := map[string]string{}
	for _, j := range jobs {
		got[j.GetResourceUrl()] = j.GetEventName()
		if j.GetSubscriptionId() != w.subscribe[j.GetEventName()] {
			t.Errorf("job for %s went to %s", j.GetEventName(), j.GetSubscriptionId())
		}
	}
	want := map[string]string{"/app/api/v2/users/u1": "usercreated", "/app/api/v2/users/u2": "userupdated", "/app/api/v2/users/u4": "usercreated"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
	if inv := testenv.Drain(w.t, w.brokers, w.names.Topic(topics.Invalid)); len(inv) != 0 {
		t.Fatalf("%d messages quarantined", len(inv))
	}
}

// TestEveryCompressionCodec: with each HERALD_KAFKA_COMPRESSION the matcher's jobs reach
// herald.deliveries and read back whole.
func TestEveryCompressionCodec(t *testing.T) {
	for codec, want := range map[string]kafka.Compression{"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd} {
		t.Run(codec, func(t *testing.T) {
			w := newWorld(t)
			w.setupOS1()
			m := w.startMatcher(testenv.UniqueName("g"), func(c *matcher.Config) { c.Kafka.Compression = codec })
			if got := matcher.WriterCompression(m.Service); got != want {
				t.Fatalf("the matcher's writer compresses with %v, want %v", got, want)
			}
			testenv.Produce(t, w.brokers, w.names.Topic("participant"),
				event("u1", "userCreatedEvent", `,"bio":"`+strings.Repeat("long and repetitive ", 200)+`"`), event("u2", "userUpdatedEvent", ""))
			testenv.Eventually(t, 30*time.Second, "2 messages are handled", func() bool { return m.Handled() >= 2 })
			jobs := w.jobs()
			if len(jobs) != 2 {
				t.Fatalf("%d jobs, want 2", len(jobs))
			}
			for _, j := range jobs {
				var body map[string]any
				if err := json.Unmarshal(j.GetBody(), &body); err != nil || body["userId"] == nil {
					t.Fatalf("job %s: body %q: %v", j.GetDeliveryId(), j.GetBody(), err)
				}
			}
		})
	}
}

func TestKcatProducer(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed (apt-get install kcat); .ci/run installs it")
	}
	w := newWorld(t)
	w.setupOS1()
	m := w.startMatcher(testenv.UniqueName("g"))
	cmd := exec.Command(kcat, "-P", "-b", w.brokers[0], "-t", w.names.Topic("participant"), "-k", "kc1", "-H", "eventType=userUpdatedEvent")
	cmd.Stdin = strings.NewReader(`{"userId":"kc1","name":"from kcat"}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	testenv.Eventually(t, 30*time.Second, "the kcat message is handled", func() bool { return m.Handled() >= 1 })
	jobs := w.jobs()
	if len(jobs) != 1 || jobs[0].GetEventName() != "userupdated" || !strings.Contains(string(jobs[0].GetBody()), "from kcat") {
		t.Fatalf("jobs = %v", jobs)
	}
}

func TestMalformedMessagesAreQuarantined(t *testing.T) {
	w := newWorld(t)
	w.setupOS1()
	m := w.startMatcher(testenv.UniqueName("g"), func(c *matcher.Config) { c.MaxEventBytes = 256 << 10 })
	bad := []string{`not json`, `[1,2,3]`, `{"userId":"x"}`, `{"eventType":7}`, `{"eventType":"userCreatedEvent",`,
		strings.Repeat(`{"a":`, 12000) + "1" + strings.Repeat(`}`, 12000), `{"eventType":"userCreatedEvent","pad":"` + strings.Repeat("x", 900<<10) + `"}`}
	var msgs []kafka.Message
	for i, b := range bad {
		// Same key as the good ones: one partition, so a stalled partition would hold them back.
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(b)}, event("k", "userCreatedEvent", fmt.Sprintf(`,"n":%d`, i)))
	}
	testenv.Produce(t, w.brokers, w.names.Topic("participant"), msgs...)
	testenv.Eventually(t, 30*time.Second, "every message is handled", func() bool { return m.Handled() >= int64(len(msgs)) })
	if jobs := w.jobs(); len(jobs) != len(bad) {
		t.Fatalf("%d jobs for %d good messages", len(jobs), len(bad))
	}
	inv := testenv.Drain(w.t, w.brokers, w.names.Topic(topics.Invalid))
	if len(inv) != len(bad) {
		t.Fatalf("%d quarantined, want %d", len(inv), len(bad))
	}
	for _, q := range inv {
		h := map[string]string{}
		for _, x := range q.Headers {
			h[x.Key] = string(x.Value)
		}
		if h[matcher.HeaderReason] == "" || h[matcher.HeaderSourceTopic] != w.names.Topic("participant") || h[matcher.HeaderSourceOffset] == "" {
			t.Fatalf("quarantined message lacks its reason or source: %v", h)
		}
		if strings.Contains(h[matcher.HeaderReason], "larger than") && h[matcher.HeaderTruncated] == "" {
			t.Fatalf("the 900 KiB message was not marked truncated: %v", h)
		}
	}
}

func TestPermissionWithdrawnMidStream(t *testing.T) {
	w := newWorld(t)
	w.setupOS1()
	m := w.startMatcher(testenv.UniqueName("g"))
	testenv.Produce(t, w.brokers, w.names.Topic("participant"), event("a", "userCreatedEvent", ""))
	testenv.Eventually(t, 30*time.Second, "the first message is handled", func() bool { return m.Handled() >= 1 })

	v := m.ConfigVersion()
	w.api("PATCH", "/v1/apps/"+w.subID, adminToken, map[string]any{"revoke": []string{"get user details"}})
	testenv.Eventually(t, 30*time.Second, "the matcher sees the revocation", func() bool { return m.ConfigVersion() > v })
	testenv.Produce(t, w.brokers, w.names.Topic("participant"), event("a", "userCreatedEvent", ""))
	testenv.Eventually(t, 30*time.Second, "the second message is handled", func() bool { return m.Handled() >= 2 })

	v = m.ConfigVersion()
	w.api("PATCH", "/v1/apps/"+w.subID, adminToken, map[string]any{"grant": []string{"get users"}})
	testenv.Eventually(t, 30*time.Second, "the matcher sees the grant", func() bool { return m.ConfigVersion() > v })
	testenv.Produce(t, w.brokers, w.names.Topic("participant"), event("a", "userCreatedEvent", ""))
	testenv.Eventually(t, 30*time.Second, "the third message is handled", func() bool { return m.Handled() >= 3 })

	var offsets []int64
	for _, j := range w.jobs() {
		offsets = append(offsets, j.GetOffset())
	}
	if fmt.Sprint(offsets) != "[0 2]" {
		t.Fatalf("jobs for input offsets %v, want [0 2] (nothing while the permission was withdrawn)", offsets)
	}
}

func TestRegistryDownThenBack(t *testing.T) {
	w := newWorld(t)
	w.setupOS1()
	m := w.startMatcher(testenv.UniqueName("g"))
	w.stopReg()
	testenv.Produce(t, w.brokers, w.names.Topic("participant"), event("a", "userCreatedEvent", ""), event("b", "userUpdatedEvent", ""))
	testenv.Eventually(t, 30*time.Second, "messages are handled with the registry down", func() bool { return m.Handled() >= 2 })
	if n := len(w.jobs()); n != 2 {
		t.Fatalf("%d jobs with the registry down, want 2 from the cached configuration", n)
	}
	w.startRegistry()
	v := m.ConfigVersion()
	w.api("DELETE", "/v1/subscriptions/"+w.subscribe["usercreated"], w.subKey, nil)
	testenv.Eventually(t, 30*time.Second, "the matcher reconnects and sees the deletion", func() bool { return m.ConfigVersion() > v })
	testenv.Produce(t, w.brokers, w.names.Topic("participant"), event("c", "userCreatedEvent", ""), event("d", "userUpdatedEvent", ""))
	testenv.Eventually(t, 30*time.Second, "later messages are handled", func() bool { return m.Handled() >= 4 })
	if n := len(w.jobs()); n != 3 {
		t.Fatalf("%d jobs, want 3: the deleted subscription gets nothing after the registry is back", n)
	}
}

func TestTwoMatchersSplitPartitions(t *testing.T) {
	w := newWorld(t)
	w.setupOS1()
	group := testenv.UniqueName("g")
	a, b := w.startMatcher(group), w.startMatcher(group)
	sent := 0
	for round := 0; a.Handled() == 0 || b.Handled() == 0; round++ {
		if round == 100 {
			t.Fatalf("after %d messages one matcher has handled none (a=%d b=%d)", sent, a.Handled(), b.Handled())
		}
		var msgs []kafka.Message
		for i := range 30 {
			msgs = append(msgs, event(fmt.Sprintf("r%d-%d", round, i), "userCreatedEvent", ""))
		}
		testenv.Produce(t, w.brokers, w.names.Topic("participant"), msgs...)
		sent += len(msgs)
		time.Sleep(200 * time.Millisecond)
	}
	testenv.Eventually(t, 30*time.Second, "every message is handled", func() bool { return a.Handled()+b.Handled() >= int64(sent) })
	if got := len(byInput(t, w.jobs())); got != sent {
		t.Fatalf("jobs for %d inputs, want %d", got, sent)
	}
	t.Logf("a handled %d, b handled %d of %d", a.Handled(), b.Handled(), sent)
}

func TestRestartResumesWithoutLoss(t *testing.T) {
	w := newWorld(t)
	w.setupOS1()
	group := testenv.UniqueName("g")
	const total = 600
	var msgs []kafka.Message
	for i := range total {
		msgs = append(msgs, event(fmt.Sprintf("u%d", i), "userCreatedEvent", ""))
	}
	testenv.Produce(t, w.brokers, w.names.Topic("participant"), msgs...)
	// Small batches, so the first matcher is stopped part-way through.
	first := w.startMatcher(group, func(c *matcher.Config) { c.BatchSize = 5 })
	testenv.Eventually(t, 30*time.Second, "the first matcher is under way", func() bool { return first.Handled() > 0 })
	first.stop()
	if first.Handled() >= total {
		t.Fatalf("the first matcher finished all %d before it was stopped; the test proves nothing", total)
	}
	second := w.startMatcher(group)
	testenv.Eventually(t, 30*time.Second, "the second matcher catches up", func() bool { return first.Handled()+second.Handled() >= total })
	jobs := w.jobs()
	inputs := byInput(t, jobs)
	if len(inputs) != total {
		t.Fatalf("jobs for %d inputs, want %d", len(inputs), total)
	}
	t.Logf("first handled %d, second %d; %d jobs for %d inputs (%d duplicates, same ids)", first.Handled(), second.Handled(), len(jobs), total, len(jobs)-total)
}

func TestReplayAndBackfill(t *testing.T) {
	w := newWorld(t)
	w.setupOS1()
	m := w.startMatcher(testenv.UniqueName("g"))
	t0 := time.Now().Add(-time.Second).UTC()
	testenv.Produce(t, w.brokers, w.names.Topic("participant"), event("e1", "userCreatedEvent", ""), event("e2", "userUpdatedEvent", ""), event("e3", "userCreatedEvent", ""))
	testenv.Eventually(t, 30*time.Second, "the events are handled live", func() bool { return m.Handled() >= 3 })
	live := w.jobs()
	if len(live) != 3 {
		t.Fatalf("%d live jobs, want 3", len(live))
	}

	// Backfill: a subscription created after the events gets them.
	created := w.api("POST", "/v1/subscriptions", w.subKey, map[string]any{"appId": w.pubID, "topic": "participant",
		"events": []string{"usercreated"}, "url": "https://crm.example.com/late", "backfillFrom": t0.Format(time.RFC3339Nano)})
	late := created["id"].(string)
	backfill := created["backfill"].(map[string]any)
	waitReplay := func(id string) map[string]any {
		var r map[string]any
		testenv.Eventually(t, 30*time.Second, "replay "+id+" finishes", func() bool {
			r = w.api("GET", "/v1/replays/"+id, w.subKey, nil)
			return r["status"] == "done" || r["status"] == "failed"
		})
		return r
	}
	if r := waitReplay(backfill["id"].(string)); r["status"] != "done" || r["jobsProduced"] != "2" {
		t.Fatalf("backfill = %v", r) // int64 fields are strings in proto JSON
	}

	// Replay of an existing subscription: the same delivery ids, marked as replays.
	orig := w.subscribe["usercreated"]
	r := w.api("POST", "/v1/subscriptions/"+orig+":replay", w.subKey, map[string]any{"from": t0.Format(time.RFC3339Nano)})
	if done := waitReplay(r["id"].(string)); done["status"] != "done" || done["messagesRead"] == "0" {
		t.Fatalf("replay = %v", done)
	}
	byID := map[string]int{}
	var replayed, backfilled int
	for _, j := range w.jobs() {
		byID[j.GetDeliveryId()]++
		if j.GetReplay() {
			switch j.GetSubscriptionId() {
			case orig:
				replayed++
			case late:
				backfilled++
			default:
				t.Fatalf("a replay produced a job for another subscription: %v", j)
			}
		}
	}
	if replayed != 2 || backfilled != 2 {
		t.Fatalf("%d replayed and %d backfilled jobs, want 2 and 2", replayed, backfilled)
	}
	for _, j := range live {
		if j.GetSubscriptionId() == orig && byID[j.GetDeliveryId()] != 2 {
			t.Fatalf("the replay of %s did not reuse its delivery id", j.GetDeliveryId())
		}
	}

	// Bad requests name the field; replays belong to their subscriber.
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{}, "from"},
		{map[string]any{"from": time.Now().Add(time.Hour).Format(time.RFC3339)}, "from"},
		{map[string]any{"from": time.Now().Add(-8 * 24 * time.Hour).Format(time.RFC3339)}, "from"},
		{map[string]any{"from": "yesterday"}, "from"},
	} {
		if code, e := w.apiStatus("POST", "/v1/subscriptions/"+orig+":replay", w.subKey, c.body); code != 400 || e["field"] != c.field {
			t.Errorf("%v: %d %v, want 400 naming %s", c.body, code, e, c.field)
		}
	}
	if code, _ := w.apiStatus("GET", "/v1/replays/"+r["id"].(string), w.pubKey, nil); code != 404 {
		t.Errorf("another app read the replay: %d", code)
	}
	if code, _ := w.apiStatus("POST", "/v1/subscriptions/"+orig+":replay", w.pubKey, map[string]any{"from": t0.Format(time.RFC3339)}); code != 404 {
		t.Errorf("another app replayed the subscription: %d", code)
	}
	if c := w.api("POST", "/v1/replays/"+r["id"].(string)+":cancel", w.subKey, nil); c["status"] != "done" {
		t.Errorf("cancelling a finished replay changed it: %v", c)
	}
}
