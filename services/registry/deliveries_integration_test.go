package registry_test

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/testenv"
	"github.com/heraldhq/herald/pkg/topics"
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// logEnv is a registry that records attempts from its own topics on the Kafka under test, with
// one publisher, one subscriber app holding one subscription, and a second subscriber app.
type logEnv struct {
	*env
	brokers  []string
	names    topics.Names
	pubID    string
	pubKey   string
	subKey   string
	subAppID string
	subID    string
	otherKey string
}

func newLogEnv(t *testing.T, tweaks ...func(*registry.Config)) *logEnv {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	names := topics.Names{Prefix: testenv.UniqueName("t") + "."}
	testenv.CreateTopics(t, brokers, 3, names.Topic(topics.Attempts), names.Topic(topics.Deliveries), names.Topic(topics.Payloads))
	e := newEnv(t, append([]func(*registry.Config){func(c *registry.Config) {
		c.KafkaBrokers, c.TopicPrefix, c.AttemptsGroup = brokers, names.Prefix, testenv.UniqueName("registry-")
	}}, tweaks...)...)
	l := &logEnv{env: e, brokers: brokers, names: names}
	l.pubID, l.pubKey = e.createApp("users", "get users")
	l.subAppID, l.subKey = e.createApp("crm", "get users")
	_, l.otherKey = e.createApp("intruder", "get users")
	e.must(201, "POST", "/v1/appconfig", l.pubKey, map[string]any{"permissions": []string{"get users"}})
	e.must(201, "POST", "/v1/topics/participant/events", l.pubKey, os1Events)
	l.subID = e.must(201, "POST", "/v1/subscriptions", l.subKey, map[string]any{
		"appId": l.pubID, "topic": "participant", "events": []string{"usercreated"}, "url": "https://crm.example.com/hooks",
	}).data()["id"].(string)
	return l
}

const jobBody = `{"eventType":"userCreatedEvent","userId":"u1"}`

// job is a delivery to the env's subscription, made (matched) at made.
func (l *logEnv) job(deliveryID string, made time.Time) *deliveryv1.Job {
	return &deliveryv1.Job{
		DeliveryId: deliveryID, SubscriptionId: l.subID, AppId: l.pubID, EventId: "evt_1",
		EventName: "usercreated", EventType: "userCreatedEvent", Topic: "participant", Partition: 3, Offset: 42,
		EventTime: timestamppb.New(made.Add(-time.Second)), Body: []byte(jobBody),
		ResourceUrl: "https://api.example.com/app/api/v2/users/u1", MatchTime: timestamppb.New(made),
	}
}

// attempt is try n of job at `at`, answered with HTTP status code.
func attempt(job *deliveryv1.Job, n int32, at time.Time, outcome deliveryv1.Outcome, code int32) *deliveryv1.Attempt {
	j := proto.Clone(job).(*deliveryv1.Job)
	j.Attempt = n
	a := &deliveryv1.Attempt{
		DeliveryId: j.GetDeliveryId(), SubscriptionId: j.GetSubscriptionId(), Attempt: n, Time: timestamppb.New(at),
		StatusCode: code, LatencyMs: 12 + int64(n), ResponseSnippet: fmt.Sprintf("answer %d", code), Outcome: outcome,
		Job: j, Dispatcher: "dispatcher-0",
	}
	if outcome != deliveryv1.Outcome_OUTCOME_DELIVERED {
		a.ErrorType, a.Error = "http_status", fmt.Sprintf("the endpoint answered %d", code)
	}
	if outcome == deliveryv1.Outcome_OUTCOME_RETRYING {
		a.NextAttemptTime = timestamppb.New(at.Add(time.Minute))
	}
	return a
}

// sameTime reports whether a JSON timestamp is t.
func sameTime(v any, t time.Time) bool {
	s, _ := v.(string)
	got, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && got.Equal(t)
}

func attemptMsg(a *deliveryv1.Attempt) kafka.Message {
	v, _ := proto.Marshal(a)
	return kafka.Message{Key: []byte(a.GetDeliveryId()), Value: v}
}

// produce writes msgs to herald.attempts, in order per key.
func (l *logEnv) produce(msgs ...kafka.Message) { l.produceTo(topics.Attempts, msgs...) }

// produceTo writes msgs to the logical topic, in order per key.
func (l *logEnv) produceTo(topic string, msgs ...kafka.Message) {
	l.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(l.brokers...), Topic: l.names.Topic(topic), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	// A topic just created can answer UnknownTopicOrPartition for a moment.
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = w.WriteMessages(context.Background(), msgs...); err == nil {
			return
		}
	}
	l.t.Fatal(err)
}

// metric reads a counter from /metrics (0 when absent).
func (e *env) metric(name string) float64 {
	e.t.Helper()
	sc := bufio.NewScanner(strings.NewReader(e.must(200, "GET", "/metrics", "", nil).raw))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// waitRecorded waits until the registry has consumed at least recorded attempts and invalid
// messages; every write of a batch is done before its messages are counted.
func (e *env) waitRecorded(recorded, invalid float64) {
	e.t.Helper()
	testenv.Eventually(e.t, 30*time.Second, fmt.Sprintf("%v attempts and %v invalid messages are consumed", recorded, invalid), func() bool {
		return e.metric("herald_registry_attempts_recorded_total") >= recorded && e.metric("herald_registry_attempts_invalid_total") >= invalid
	})
}

func TestDeliveryLogRecordsAttempts(t *testing.T) {
	l := newLogEnv(t)
	base := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Millisecond)
	j1, j2 := l.job("msg_one", base), l.job("msg_two", base.Add(time.Minute))
	a0 := attempt(j1, 0, base.Add(time.Second), deliveryv1.Outcome_OUTCOME_RETRYING, 500)
	a1 := attempt(j1, 1, base.Add(2*time.Second), deliveryv1.Outcome_OUTCOME_DELIVERED, 200)
	b0 := attempt(j2, 0, base.Add(time.Minute+time.Second), deliveryv1.Outcome_OUTCOME_FAILED, 503)
	// A message that is not an attempt, on msg_one's partition, must not hold up what follows it;
	// a0 comes twice, as it would when a batch is read again.
	l.produce(kafka.Message{Key: []byte("msg_one"), Value: []byte("not a protobuf attempt")},
		attemptMsg(a0), attemptMsg(a1), attemptMsg(a0), attemptMsg(b0))
	l.waitRecorded(4, 1)

	d := l.must(200, "GET", "/v1/deliveries/msg_one", l.subKey, nil).data()
	if d["status"] != "delivered" || d["attemptCount"] != 2.0 || d["subscriptionId"] != l.subID || d["subscriberAppId"] != l.subAppID ||
		d["body"] != jobBody || d["eventName"] != "usercreated" || d["resourceUrl"] != j1.GetResourceUrl() || d["lastStatusCode"] != 200.0 ||
		!sameTime(d["createTime"], base) || d["nextAttemptTime"] != nil {
		t.Fatalf("delivery = %v", d)
	}
	atts := d["attempts"].([]any)
	if len(atts) != 2 {
		t.Fatalf("%d attempts shown, want 2 (the repeated one stored once): %v", len(atts), atts)
	}
	first, second := atts[0].(map[string]any), atts[1].(map[string]any)
	if first["attempt"] != 0.0 || first["outcome"] != "retrying" || first["statusCode"] != 500.0 || first["errorType"] != "http_status" ||
		first["error"] != "the endpoint answered 500" || first["nextAttemptTime"] == nil || first["latencyMs"] != "12" || first["responseSnippet"] != "answer 500" {
		t.Fatalf("first attempt = %v", first)
	}
	if second["attempt"] != 1.0 || second["outcome"] != "delivered" || second["statusCode"] != 200.0 || second["error"] != "" {
		t.Fatalf("second attempt = %v", second)
	}

	// gRPC serves the same records.
	got, err := dialGRPC(t, l.env).GetDelivery(withKey(context.Background(), l.subKey), &registryv1.GetDeliveryRequest{Id: "msg_one"})
	if err != nil || got.GetStatus() != "delivered" || len(got.GetAttempts()) != 2 || got.GetAttempts()[1].GetOutcome() != "delivered" {
		t.Fatalf("gRPC GetDelivery = %v, %v", got, err)
	}

	// The list: newest first, by status, a page at a time, without bodies.
	list := l.must(200, "GET", "/v1/subscriptions/"+l.subID+"/deliveries", l.subKey, nil).data()
	ds := list["deliveries"].([]any)
	if len(ds) != 2 || ds[0].(map[string]any)["id"] != "msg_two" || ds[1].(map[string]any)["id"] != "msg_one" || ds[0].(map[string]any)["body"] != "" {
		t.Fatalf("list = %v", list)
	}
	failed := l.must(200, "GET", "/v1/subscriptions/"+l.subID+"/deliveries?status=failed", l.subKey, nil).data()["deliveries"].([]any)
	if len(failed) != 1 || failed[0].(map[string]any)["id"] != "msg_two" || failed[0].(map[string]any)["lastError"] != "the endpoint answered 503" {
		t.Fatalf("status=failed lists %v", failed)
	}
	p1 := l.must(200, "GET", "/v1/subscriptions/"+l.subID+"/deliveries?limit=1", l.subKey, nil).data()
	m1 := p1["meta"].(map[string]any)
	if len(p1["deliveries"].([]any)) != 1 || m1["hasNextPage"] != true {
		t.Fatalf("page 1 = %v", p1)
	}
	p2 := l.must(200, "GET", "/v1/subscriptions/"+l.subID+"/deliveries?limit=1&page="+m1["nextPage"].(string), l.subKey, nil).data()
	if ds := p2["deliveries"].([]any); len(ds) != 1 || ds[0].(map[string]any)["id"] != "msg_one" || p2["meta"].(map[string]any)["hasNextPage"] != false {
		t.Fatalf("page 2 = %v", p2)
	}

	// Bad arguments name their field.
	path := "/v1/subscriptions/" + l.subID + "/deliveries"
	l.mustFail(400, "status", "delivered", "GET", path+"?status=done", l.subKey, nil)
	l.mustFail(400, "limit", "whole number", "GET", path+"?limit=ten", l.subKey, nil)
	l.mustFail(400, "limit", "between 1 and 100", "GET", path+"?limit=101", l.subKey, nil)
	l.mustFail(400, "page", "page token", "GET", path+"?page=%25%25", l.subKey, nil)

	// No one else sees or redelivers any of it, the publisher included.
	for _, key := range []string{l.otherKey, l.pubKey} {
		l.mustFail(404, "subscriptionId", "no subscription", "GET", path, key, nil)
		l.mustFail(404, "id", "no delivery", "GET", "/v1/deliveries/msg_one", key, nil)
		l.mustFail(404, "id", "no delivery", "POST", "/v1/deliveries/msg_one:redeliver", key, nil)
	}
	l.mustFail(404, "id", "no delivery", "GET", "/v1/deliveries/msg_nosuch", l.subKey, nil)
	l.must(200, "GET", "/v1/deliveries/msg_one", adminToken, nil) // operators see every delivery
}

func TestRedeliverProducesTheJobAgain(t *testing.T) {
	l := newLogEnv(t)
	made := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	job := l.job("msg_redo", made)
	l.produce(attemptMsg(attempt(job, 2, made.Add(time.Minute), deliveryv1.Outcome_OUTCOME_FAILED, 500)))
	l.waitRecorded(1, 0)

	r := l.must(202, "POST", "/v1/deliveries/msg_redo:redeliver", l.subKey, nil)
	if d := r.data(); d["id"] != "msg_redo" || len(d) != 1 {
		t.Fatalf("redeliver answered %s", r.raw)
	}
	msgs := testenv.Drain(t, l.brokers, l.names.Topic(topics.Deliveries))
	if len(msgs) != 1 {
		t.Fatalf("%d messages on herald.deliveries, want 1", len(msgs))
	}
	got := &deliveryv1.Job{}
	if err := proto.Unmarshal(msgs[0].Value, got); err != nil {
		t.Fatal(err)
	}
	if string(msgs[0].Key) != l.subID || got.GetDeliveryId() != "msg_redo" || got.GetSubscriptionId() != l.subID || got.GetAttempt() != 0 ||
		string(got.GetBody()) != jobBody || got.GetNotBefore() != nil || got.GetEventName() != "usercreated" || got.GetTopic() != "participant" ||
		got.GetOffset() != 42 || !got.GetEventTime().AsTime().Equal(job.GetEventTime().AsTime()) || got.GetResourceUrl() != job.GetResourceUrl() {
		t.Fatalf("redelivered job (key %q) = %v", msgs[0].Key, got)
	}
	if d := l.must(200, "GET", "/v1/deliveries/msg_redo", l.subKey, nil).data(); d["status"] != "pending" {
		t.Fatalf("after a redeliver the delivery is %v, want pending", d["status"])
	}
	l.must(404, "POST", "/v1/deliveries/msg_redo:explode", l.subKey, nil)
}

// The dispatcher's attempt records carry their job without the body; the matcher records the
// body once per input on herald.payloads. The delivery log shows it and redelivers with it, and
// until it is recorded a redelivery is refused with a reason rather than sent without a body.
func TestBodyKeptOncePerInput(t *testing.T) {
	l := newLogEnv(t)
	made := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	job := l.job("msg_lean", made)
	lean := attempt(job, 0, made.Add(time.Second), deliveryv1.Outcome_OUTCOME_FAILED, 500)
	lean.Job.Body = nil
	l.produce(attemptMsg(lean))
	l.waitRecorded(1, 0)
	if d := l.must(200, "GET", "/v1/deliveries/msg_lean", l.subKey, nil).data(); d["body"] != nil && d["body"] != "" {
		t.Fatalf("before its payload is recorded the delivery shows body %v", d["body"])
	}
	if r := l.must(409, "POST", "/v1/deliveries/msg_lean:redeliver", l.subKey, nil); !strings.Contains(r.raw, "not recorded") {
		t.Fatalf("redeliver without a recorded body answered %s", r.raw)
	}

	pv, _ := proto.Marshal(&deliveryv1.Payload{Topic: "participant", Partition: 3, Offset: 42, Body: []byte(jobBody), MatchTime: timestamppb.New(made)})
	key := []byte(topics.PayloadKey("participant", 3, 42))
	l.produceTo(topics.Payloads, kafka.Message{Key: key, Value: pv}, kafka.Message{Key: key, Value: pv}) // read twice: kept once
	testenv.Eventually(t, 30*time.Second, "the payload is recorded", func() bool { return l.metric("herald_registry_payloads_recorded_total") >= 2 })
	if d := l.must(200, "GET", "/v1/deliveries/msg_lean", l.subKey, nil).data(); d["body"] != jobBody {
		t.Fatalf("the delivery shows body %v, want the payload's", d["body"])
	}
	l.must(202, "POST", "/v1/deliveries/msg_lean:redeliver", l.subKey, nil)
	msgs := testenv.Drain(t, l.brokers, l.names.Topic(topics.Deliveries))
	got := &deliveryv1.Job{}
	if len(msgs) != 1 || proto.Unmarshal(msgs[0].Value, got) != nil || string(got.GetBody()) != jobBody {
		t.Fatalf("redelivered %d jobs; the first has body %q", len(msgs), got.GetBody())
	}
}

func TestGoneDisablesTheSubscription(t *testing.T) {
	l := newLogEnv(t)
	made := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	job := l.job("msg_gone", made)
	gone := attempt(job, 0, made.Add(time.Second), deliveryv1.Outcome_OUTCOME_GONE, 410)
	l.produce(attemptMsg(gone))
	l.waitRecorded(1, 0)

	sub := l.must(200, "GET", "/v1/subscriptions/"+l.subID, l.subKey, nil).data()
	if sub["status"] != "disabled" || sub["statusReason"] != "the endpoint answered 410 Gone" {
		t.Fatalf("after a 410 the subscription is %v (%v)", sub["status"], sub["statusReason"])
	}
	if d := l.must(200, "GET", "/v1/deliveries/msg_gone", l.subKey, nil).data(); d["status"] != "gone" {
		t.Fatalf("delivery status %v, want gone", d["status"])
	}
	l.mustFail(409, "id", "re-enable", "POST", "/v1/deliveries/msg_gone:redeliver", l.subKey, nil)

	// Re-enabled by its owner, it stays enabled when the old attempt is read again…
	l.must(200, "PATCH", "/v1/subscriptions/"+l.subID, l.subKey, map[string]any{"status": "active"})
	l.produce(attemptMsg(gone))
	l.waitRecorded(2, 0)
	if s := l.must(200, "GET", "/v1/subscriptions/"+l.subID, l.subKey, nil).data()["status"]; s != "active" {
		t.Fatalf("an attempt older than the re-enabling made the subscription %v", s)
	}
	l.must(202, "POST", "/v1/deliveries/msg_gone:redeliver", l.subKey, nil)

	// … and a newer GONE attempt that is not a 410 disables it with the dispatcher's reason.
	later := attempt(job, 0, time.Now().UTC().Add(time.Second), deliveryv1.Outcome_OUTCOME_GONE, 0)
	later.ErrorType, later.Error = "connection_refused", "the endpoint failed every attempt for 72h"
	l.produce(attemptMsg(later))
	l.waitRecorded(3, 0)
	sub = l.must(200, "GET", "/v1/subscriptions/"+l.subID, l.subKey, nil).data()
	if sub["status"] != "disabled" || sub["statusReason"] != later.Error {
		t.Fatalf("after a non-410 GONE the subscription is %v (%v)", sub["status"], sub["statusReason"])
	}
}

func TestRetentionSweepsOldDeliveries(t *testing.T) {
	l := newLogEnv(t, func(c *registry.Config) { c.Retention = time.Hour })
	now := time.Now().UTC().Truncate(time.Millisecond)
	old, recent := l.job("msg_old", now.Add(-3*time.Hour)), l.job("msg_recent", now.Add(-time.Minute))
	l.produce(attemptMsg(attempt(old, 0, now.Add(-3*time.Hour), deliveryv1.Outcome_OUTCOME_DELIVERED, 200)),
		attemptMsg(attempt(recent, 0, now.Add(-time.Minute), deliveryv1.Outcome_OUTCOME_DELIVERED, 200)))
	l.waitRecorded(2, 0)
	l.must(200, "GET", "/v1/deliveries/msg_old", l.subKey, nil) // recorded after the start's sweep

	// A registry sweeps when it starts, then hourly.
	l.stop()
	l.start()
	testenv.Eventually(t, 30*time.Second, "the old delivery is swept", func() bool {
		return l.do("GET", "/v1/deliveries/msg_old", l.subKey, nil).status == 404
	})
	l.must(200, "GET", "/v1/deliveries/msg_recent", l.subKey, nil)
}

func TestRedeliverWithoutKafka(t *testing.T) {
	e := newEnv(t)
	_, key := e.createApp("crm")
	r := e.must(503, "POST", "/v1/deliveries/msg_any:redeliver", key, nil)
	if code, _, msg := r.errField(); code != "unavailable" || !strings.Contains(msg, "Kafka") || !strings.Contains(msg, "HERALD_KAFKA_BROKERS") {
		t.Fatalf("redeliver without Kafka: %s", r.raw)
	}
}
