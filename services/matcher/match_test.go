package matcher

import (
	"fmt"
	"strings"
	"testing"
	"time"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

func rule(t testing.TB, js string) *structpb.Value {
	t.Helper()
	v := &structpb.Value{}
	if err := v.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatal(err)
	}
	return v
}

// os1Config is the OS1 example: a publisher with two events and one subscriber of each.
func os1Config(t testing.TB) *registryv1.WatchConfigResponse {
	return &registryv1.WatchConfigResponse{
		Version: 7, Snapshot: true,
		Apps: []*registryv1.App{
			{Id: "app_pub", Permissions: nil},
			{Id: "app_crm", Permissions: []string{"get user details"}},
			{Id: "app_nosy", Permissions: []string{"something else"}},
		},
		AppConfigs: []*registryv1.AppConfig{{Id: "app_pub", Permissions: []string{"get users", "get user details"}}},
		Events: []*registryv1.Event{
			{Id: "evt_1", AppId: "app_pub", Topic: "participant", Name: "usercreated", EventType: "userCreatedEvent",
				FilterLogic: rule(t, `{"===":[{"var":"eventType"},"userCreatedEvent"]}`), GetApiPath: "/app/api/v2/users/{userId}"},
			{Id: "evt_2", AppId: "app_pub", Topic: "participant", Name: "userupdated", EventType: "userUpdatedEvent",
				FilterLogic: rule(t, `{"===":[{"var":"eventType"},"userUpdatedEvent"]}`)},
			{Id: "evt_3", AppId: "app_pub", Topic: "participant", Name: "activeonly", EventType: "userCreatedEvent",
				FilterLogic: rule(t, `{"===":[{"var":"event.state"},"active:available"]}`)},
		},
		Subscriptions: []*registryv1.SubscriptionConfig{
			{Subscription: &registryv1.Subscription{Id: "sub_a", AppId: "app_pub", SubscriberAppId: "app_crm", Topic: "participant", Events: []string{"usercreated", "activeonly"}, Status: "active"}},
			{Subscription: &registryv1.Subscription{Id: "sub_b", AppId: "app_pub", SubscriberAppId: "app_crm", Topic: "participant", Events: []string{"userupdated"}, Status: "active",
				FilterLogic: rule(t, `{"==":[{"var":"region"},"eu"]}`)}},
			{Subscription: &registryv1.Subscription{Id: "sub_paused", AppId: "app_pub", SubscriberAppId: "app_crm", Topic: "participant", Events: []string{"usercreated"}, Status: "paused"}},
			{Subscription: &registryv1.Subscription{Id: "sub_nosy", AppId: "app_pub", SubscriberAppId: "app_nosy", Topic: "participant", Events: []string{"usercreated"}, Status: "active"}},
		},
	}
}

func buildIndex(t testing.TB, steps ...*registryv1.WatchConfigResponse) *Index {
	t.Helper()
	st := newState()
	for _, s := range steps {
		if bad := st.apply(s); len(bad) > 0 {
			t.Fatal(bad)
		}
	}
	return st.index()
}

func subsOf(r Result) string {
	var ids []string
	for _, j := range r.Jobs {
		ids = append(ids, j.GetSubscriptionId()+"/"+j.GetEventName())
	}
	return strings.Join(ids, ",")
}

func in(value string, headers map[string]string) Input {
	return Input{Topic: "participant", Partition: 2, Offset: 41, Time: time.Unix(1700000000, 0), Value: []byte(value), Headers: headers}
}

func TestMatchOS1(t *testing.T) {
	idx := buildIndex(t, os1Config(t))
	r := Rules{ResourceBaseURL: "https://api.example.com"}
	now := time.Now()

	res := r.Match(idx, in(`{"eventType":"userCreatedEvent","userId":"u 1","event":{"state":"active:available"}}`, nil), now)
	if got := subsOf(res); got != "sub_a/usercreated,sub_a/activeonly" {
		t.Fatalf("jobs = %s (paused and unpermitted subscriptions must get nothing)", got)
	}
	job := res.Jobs[0]
	if job.GetResourceUrl() != "https://api.example.com/app/api/v2/users/u%201" || job.GetEventType() != "userCreatedEvent" ||
		job.GetPartition() != 2 || job.GetOffset() != 41 || string(job.GetBody()) == "" || job.GetAttempt() != 0 {
		t.Fatalf("job = %v", job)
	}
	if res.Matched != 2 || res.Invalid != "" {
		t.Fatalf("matched %d invalid %q", res.Matched, res.Invalid)
	}

	// eventType from the header; the body has none. The activeonly filter does not pass.
	res = r.Match(idx, in(`{"userId":"9"}`, map[string]string{"eventType": "userCreatedEvent"}), now)
	if got := subsOf(res); got != "sub_a/usercreated" || res.Filtered != 1 {
		t.Fatalf("header eventType: jobs %s filtered %d", got, res.Filtered)
	}
	// The subscription's own filter, with a header reachable by name.
	if got := subsOf(r.Match(idx, in(`{"eventType":"userUpdatedEvent"}`, map[string]string{"region": "eu"}), now)); got != "sub_b/userupdated" {
		t.Fatalf("subscription filter on a header: %s", got)
	}
	if got := subsOf(r.Match(idx, in(`{"eventType":"userUpdatedEvent","region":"us"}`, nil), now)); got != "" {
		t.Fatalf("subscription filter did not filter: %s", got)
	}
	// appId header: events of other publishers are not candidates.
	if got := subsOf(r.Match(idx, in(`{"eventType":"userUpdatedEvent","region":"eu"}`, map[string]string{"appId": "app_other"}), now)); got != "" {
		t.Fatalf("appId header ignored: %s", got)
	}
	// Unknown eventType: nothing, and not invalid.
	if res := r.Match(idx, in(`{"eventType":"somethingElse"}`, nil), now); len(res.Jobs) != 0 || res.Invalid != "" {
		t.Fatalf("unknown eventType: %+v", res)
	}
}

func TestMatchQuarantinesBadInput(t *testing.T) {
	idx := buildIndex(t, os1Config(t))
	r := Rules{MaxEventBytes: 2048}
	for value, reason := range map[string]string{
		`not json`:           "not a JSON object",
		`[1,2]`:              "not a JSON object",
		`"str"`:              "not a JSON object",
		``:                   "not a JSON object",
		`{"eventType": "x",`: "not valid JSON",
		`{"a":1}`:            "no eventType",
		`{"eventType":""}`:   "no eventType",
		`{"eventType":42}`:   "not a string",
		`{"eventType":"x","pad":"` + strings.Repeat("a", 3000) + `"}`:     "larger than",
		strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000): "larger than",
	} {
		res := r.Match(idx, in(value, nil), time.Now())
		if !strings.Contains(res.Invalid, reason) || len(res.Jobs) != 0 {
			t.Errorf("%.40q: invalid %q, jobs %d; want %q", value, res.Invalid, len(res.Jobs), reason)
		}
	}
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	if res := (Rules{}).Match(idx, in(deep, nil), time.Now()); !strings.Contains(res.Invalid, "not valid JSON") {
		t.Errorf("deeply nested: %q", res.Invalid)
	}
}

func TestMatchRuleFailureQuarantinesButDeliversTheRest(t *testing.T) {
	cfg := os1Config(t)
	cfg.Events = append(cfg.Events, &registryv1.Event{Id: "evt_4", AppId: "app_pub", Topic: "participant", Name: "math", EventType: "userCreatedEvent",
		FilterLogic: rule(t, `{">":[{"+":[{"var":"n"},1]},0]}`)})
	cfg.Subscriptions[0].Subscription.Events = append(cfg.Subscriptions[0].Subscription.Events, "math")
	idx := buildIndex(t, cfg)
	res := Rules{}.Match(idx, in(`{"eventType":"userCreatedEvent","n":{"an":"object"}}`, nil), time.Now())
	if !strings.Contains(res.Invalid, "math") || subsOf(res) != "sub_a/usercreated" {
		t.Fatalf("invalid %q jobs %s", res.Invalid, subsOf(res))
	}
}

func TestIndexFollowsChanges(t *testing.T) {
	st := newState()
	st.apply(os1Config(t))
	match := func() string {
		return subsOf(Rules{}.Match(st.index(), in(`{"eventType":"userCreatedEvent"}`, nil), time.Now()))
	}
	if got := match(); got != "sub_a/usercreated" {
		t.Fatalf("before: %s", got)
	}
	// The permission is withdrawn: no more deliveries.
	st.apply(&registryv1.WatchConfigResponse{Version: 8, Apps: []*registryv1.App{{Id: "app_crm", Permissions: []string{"get users x"}}}})
	if got := match(); got != "" {
		t.Fatalf("after revoking: %s", got)
	}
	// Granted again, then the subscription deleted.
	st.apply(&registryv1.WatchConfigResponse{Version: 9, Apps: []*registryv1.App{{Id: "app_crm", Permissions: []string{"get users"}}}})
	if got := match(); got != "sub_a/usercreated" {
		t.Fatalf("after granting: %s", got)
	}
	st.apply(&registryv1.WatchConfigResponse{Version: 10, Deletions: []*registryv1.ConfigDeletion{{Kind: registryv1.ConfigKind_CONFIG_KIND_SUBSCRIPTION, Id: "sub_a"}}})
	if got := match(); got != "" {
		t.Fatalf("after deleting: %s", got)
	}
	// A snapshot replaces everything.
	st.apply(&registryv1.WatchConfigResponse{Version: 11, Snapshot: true})
	if idx := st.index(); idx.Version != 11 || len(idx.byType) != 0 {
		t.Fatalf("snapshot did not replace: %+v", idx)
	}
}

func TestDeliveryIDIsStable(t *testing.T) {
	a := DeliveryID("entity", 1, 99, "sub_1")
	if a != DeliveryID("entity", 1, 99, "sub_1") || !strings.HasPrefix(a, "msg_") || len(a) != 36 {
		t.Fatalf("id %s", a)
	}
	for _, other := range []string{DeliveryID("entity", 1, 99, "sub_2"), DeliveryID("entity", 1, 98, "sub_1"), DeliveryID("entity", 2, 99, "sub_1"), DeliveryID("container", 1, 99, "sub_1")} {
		if other == a {
			t.Fatal("different inputs share an id")
		}
	}
}

func TestResourceURL(t *testing.T) {
	data := map[string]any{"userId": "a/b", "n": 12.0, "user": map[string]any{"id": "x"}}
	for path, want := range map[string]string{
		"/users/{userId}":         "https://h/users/a%2Fb",
		"/n/{n}/u/{user.id}":      "https://h/n/12/u/x",
		"/missing/{nope}":         "https://h/missing/{nope}",
		"https://other/{user.id}": "https://other/x",
		"":                        "",
	} {
		if got := (Rules{ResourceBaseURL: "https://h/"}).resourceURL(path, data); got != want {
			t.Errorf("%q: %q, want %q", path, got, want)
		}
	}
}

// benchConfig registers n events with distinct eventTypes, 10 of which share the benchmark
// event's type, each with one subscription.
func benchConfig(b *testing.B, n int) *Index {
	cfg := &registryv1.WatchConfigResponse{
		Snapshot:   true,
		Apps:       []*registryv1.App{{Id: "app_pub"}, {Id: "app_sub", Permissions: []string{"p"}}},
		AppConfigs: []*registryv1.AppConfig{{Id: "app_pub", Permissions: []string{"p"}}},
	}
	for i := range n {
		et := fmt.Sprintf("type%d", i)
		if i < 10 {
			et = "userCreatedEvent"
		}
		name := fmt.Sprintf("ev%d", i)
		cfg.Events = append(cfg.Events, &registryv1.Event{Id: "evt_" + name, AppId: "app_pub", Topic: "entity", Name: name, EventType: et,
			FilterLogic: rule(b, `{"and":[{"===":[{"var":"eventType"},"userCreatedEvent"]},{"==":[{"var":"user.state"},"active"]}]}`)})
		cfg.Subscriptions = append(cfg.Subscriptions, &registryv1.SubscriptionConfig{Subscription: &registryv1.Subscription{
			Id: "sub_" + name, AppId: "app_pub", SubscriberAppId: "app_sub", Topic: "entity", Events: []string{name}, Status: "active"}})
	}
	return buildIndex(b, cfg)
}

// benchEvent is a ~1 KiB event.
var benchEvent = []byte(`{"eventType":"userCreatedEvent","user":{"id":"9f1c","state":"active","name":"Ada Lovelace","email":"ada@example.com",` +
	`"roles":["admin","editor","viewer"],"address":{"street":"12 Analytical Row","city":"London","zip":"N1 9GU","country":"GB"}},` +
	`"tenant":"t-42","source":"participant-service","traceId":"` + strings.Repeat("ab", 200) + `","at":"2026-11-22T10:00:00Z"}`)

// BenchmarkMatch measures one message through Rules.Match with 10, 1,000 and 10,000 registered
// events; 10 of them match in every case, so a flat ns/op means the cost does not grow with
// events that cannot match.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("registered=%d", n), func(b *testing.B) {
			idx := benchConfig(b, n)
			r, now := Rules{}, time.Now()
			b.SetBytes(int64(len(benchEvent)))
			b.ReportAllocs()
			for b.Loop() {
				if res := r.Match(idx, Input{Topic: "entity", Value: benchEvent}, now); len(res.Jobs) != 10 {
					b.Fatalf("%d jobs", len(res.Jobs))
				}
			}
		})
	}
}

// TestDeliveryIDFormat pins the derivation: an id is a delivery's webhook-id, so a new version
// of the matcher must give an input re-read after an upgrade the ids it had before.
func TestDeliveryIDFormat(t *testing.T) {
	for _, c := range []struct {
		topic     string
		partition int
		offset    int64
		sub, want string
	}{
		{"entity", 1, 99, "sub_1", "msg_c6830262335576ddab88902082ca0050"},
		{"container", 11, 1234567890123, "sub_αβ\x00x", "msg_34c6431db8949ab1d3b77519e15a68ea"},
	} {
		if got := DeliveryID(c.topic, c.partition, c.offset, c.sub); got != c.want {
			t.Errorf("DeliveryID(%q, %d, %d, %q) = %s, want %s", c.topic, c.partition, c.offset, c.sub, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = DeliveryID("entity", 1, 99, "sub_1") }); n != 1 {
		t.Errorf("DeliveryID allocates %v times, want 1 (the id)", n)
	}
}
