package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/testenv"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const adminToken = "test-admin-token-0123456789"

// env is one registry on its own database of the MongoDB-protocol server under test.
type env struct {
	t        *testing.T
	cfg      registry.Config
	base     string
	grpcAddr string
	stop     func()
}

func newEnv(t *testing.T, tweaks ...func(*registry.Config)) *env {
	t.Helper()
	uri := testenv.MongoURI(t)
	cfg := registry.DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.MongoURI, cfg.MongoDatabase, cfg.MongoMaxPoolSize = uri, testenv.UniqueName("registry_"), 1
	cfg.AdminToken, cfg.SecretKeys = adminToken, secretbox.NewKey()
	cfg.WatchPollInterval = 50 * time.Millisecond
	cfg.VerifyEndpoints = false // most tests use hosts that do not exist; TestEndpointVerification turns it on
	for _, f := range tweaks {
		f(&cfg)
	}
	e := &env{t: t, cfg: cfg}
	e.start()
	t.Cleanup(func() {
		e.stop()
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err == nil {
			_ = client.Database(cfg.MongoDatabase).Drop(context.Background())
			_ = client.Disconnect(context.Background())
		}
	})
	return e
}

// testLog sends the registry's warnings and errors to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// start runs a registry on e.cfg; stop ends it and waits.
func (e *env) start() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := registry.New(ctx, e.cfg, slog.New(slog.NewTextHandler(testLog{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	e.base, e.grpcAddr = "http://"+svc.HTTPAddr(), svc.GRPCAddr()
	waitReady(e.t, e.base)
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("registry stopped with %v", err)
		}
	}
}

// waitReady polls /readyz as a readiness probe would, for at most 10s.
func waitReady(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatal("the registry did not become ready within 10s")
}

// resp is a decoded JSON response.
type resp struct {
	status int
	body   map[string]any
	raw    string
}

func (r resp) data() map[string]any { d, _ := r.body["data"].(map[string]any); return d }

func (r resp) errField() (code, field, msg string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	msg, _ = e["message"].(string)
	return
}

func (e *env) do(method, path, key string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, e.base+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: response is not JSON: %s", method, path, raw)
		}
	}
	return r
}

// must asserts the status and returns the response.
func (e *env) must(status int, method, path, key string, body any) resp {
	e.t.Helper()
	r := e.do(method, path, key, body)
	if r.status != status {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.raw, status)
	}
	return r
}

// mustFail asserts an error response naming field and containing part.
func (e *env) mustFail(status int, field, part, method, path, key string, body any) {
	e.t.Helper()
	r := e.must(status, method, path, key, body)
	_, f, msg := r.errField()
	if f != field || !strings.Contains(msg, part) {
		e.t.Fatalf("%s %s: error field %q message %q; want field %q and %q in the message", method, path, f, msg, field, part)
	}
}

func (e *env) createApp(name string, perms ...string) (id, key string) {
	e.t.Helper()
	d := e.must(201, "POST", "/v1/apps", adminToken, map[string]any{"name": name, "permissions": perms}).data()
	return d["id"].(string), d["apiKey"].(string)
}

// os1Events is the OS1 registerEvents example, verbatim but for JSON syntax.
const os1Events = `{
  "getApiPath": "/app/api/v2/users/{userId}",
  "events": [
    {"name": "usercreated", "description": "When a new user is created", "eventType": "userCreatedEvent",
     "filterLogic": {"===": ["$eventType", "userCreatedEvent"]}, "type": "users"},
    {"name": "userupdated", "description": "When user data is updated", "eventType": "userUpdatedEvent",
     "filterLogic": {"===": ["$eventType", "userUpdatedEvent"]}, "type": "users"}
  ]
}`

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	_, key := e.createApp("svc")

	r := e.must(401, "GET", "/v1/publishers", "", nil)
	if code, _, msg := r.errField(); code != "unauthenticated" || !strings.Contains(msg, "Authorization: Bearer") {
		t.Fatalf("missing key: %s", r.raw)
	}
	e.must(401, "GET", "/v1/publishers", "hk_"+strings.Repeat("x", 43), nil)
	e.must(401, "GET", "/v1/publishers", "not-a-key", nil)
	e.must(403, "POST", "/v1/apps", key, map[string]any{"name": "x"})
	e.must(403, "GET", "/v1/apps", key, nil)
	e.must(403, "POST", "/v1/appconfig", adminToken, map[string]any{"permissions": []string{"p"}})
	e.must(200, "GET", "/v1/publishers", key, nil)
}

func TestAppsAdmin(t *testing.T) {
	e := newEnv(t)
	e.mustFail(400, "name", "required", "POST", "/v1/apps", adminToken, map[string]any{"permissions": []string{"a"}})
	e.mustFail(400, "bogus", "not a field", "POST", "/v1/apps", adminToken, `{"name":"x","bogus":true}`)
	e.mustFail(400, "permissions", "wrong type", "POST", "/v1/apps", adminToken, `{"name":"x","permissions":"a"}`)
	e.mustFail(400, "", "not valid JSON", "POST", "/v1/apps", adminToken, `{"name":`)

	id, _ := e.createApp("first", "read")
	e.createApp("second")
	page1 := e.must(200, "GET", "/v1/apps?limit=1", adminToken, nil).data()
	meta := page1["meta"].(map[string]any)
	if len(page1["apps"].([]any)) != 1 || meta["hasNextPage"] != true {
		t.Fatalf("page 1: %v", page1)
	}
	page2 := e.must(200, "GET", "/v1/apps?limit=1&page="+meta["nextPage"].(string), adminToken, nil).data()
	if page2["meta"].(map[string]any)["hasNextPage"] != false || page2["apps"].([]any)[0].(map[string]any)["name"] != "second" {
		t.Fatalf("page 2: %v", page2)
	}

	app := e.must(200, "PATCH", "/v1/apps/"+id, adminToken, map[string]any{"grant": []string{"write"}, "revoke": []string{"read"}}).data()
	if fmt.Sprint(app["permissions"]) != "[write]" {
		t.Fatalf("after grant/revoke: %v", app["permissions"])
	}
	app = e.must(200, "PATCH", "/v1/apps/"+id, adminToken, map[string]any{"permissions": map[string]any{"values": []string{"x", "y"}}}).data()
	if fmt.Sprint(app["permissions"]) != "[x y]" {
		t.Fatalf("after replace: %v", app["permissions"])
	}
	e.mustFail(404, "appId", "no app", "PATCH", "/v1/apps/app_missing", adminToken, map[string]any{"grant": []string{"a"}})

	// Rotating an app's key: the new key works, the old one no longer does.
	_, oldKey := e.createApp("rotating", "p")
	rotID := e.must(200, "GET", "/v1/apps?limit=100", adminToken, nil).data()["apps"].([]any)
	var rid string
	for _, a := range rotID {
		if a.(map[string]any)["name"] == "rotating" {
			rid = a.(map[string]any)["id"].(string)
		}
	}
	e.must(200, "GET", "/v1/publishers", oldKey, nil)
	e.must(403, "POST", "/v1/apps/"+rid+":rotateKey", oldKey, nil)
	newKey := e.must(200, "POST", "/v1/apps/"+rid+":rotateKey", adminToken, nil).data()["apiKey"].(string)
	if newKey == oldKey {
		t.Fatal("rotateKey returned the same key")
	}
	e.must(401, "GET", "/v1/publishers", oldKey, nil)
	e.must(200, "GET", "/v1/publishers", newKey, nil)
	e.mustFail(404, "id", "no app", "POST", "/v1/apps/app_missing:rotateKey", adminToken, nil)
}

func TestSecretsAtRest(t *testing.T) {
	e := newEnv(t)
	pubID, pubKey := e.createApp("pub", "read")
	_, subKey := e.createApp("sub", "read")
	e.must(201, "POST", "/v1/appconfig", pubKey, map[string]any{"permissions": []string{"read"}})
	e.must(201, "POST", "/v1/topics/entity/events", pubKey, os1Events)
	created := e.must(201, "POST", "/v1/subscriptions", subKey, map[string]any{
		"appId": pubID, "topic": "entity", "events": []string{"usercreated"}, "url": "https://hooks.example.com/x",
	}).data()
	secret := created["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q is not a whsec_ secret", secret)
	}

	client, err := mongo.Connect(options.Client().ApplyURI(e.cfg.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	db := client.Database(e.cfg.MongoDatabase)
	for _, coll := range []string{"apps", "subscriptions"} {
		cur, err := db.Collection(coll).Find(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		dump := fmt.Sprint(docs)
		for _, plain := range []string{pubKey, subKey, secret, strings.TrimPrefix(secret, "whsec_")} {
			if strings.Contains(dump, plain) {
				t.Fatalf("%s holds a key or secret in plain text", coll)
			}
		}
	}
}

func TestPublisherAPI(t *testing.T) {
	e := newEnv(t)
	pubID, key := e.createApp("User Management", "get users")

	// createAppConfig, OS1 shape.
	e.mustFail(400, "permissions", "at least one", "POST", "/v1/appconfig", key, map[string]any{"name": "x"})
	d := e.must(201, "POST", "/v1/appconfig", key, map[string]any{"permissions": []string{"get users", "get user details", "update user"}, "name": "User Management"}).data()
	if d["id"] != pubID || len(d) != 1 {
		t.Fatalf("createAppConfig data = %v, want {id: %s}", d, pubID)
	}
	if cfg := e.must(200, "GET", "/v1/appconfig", key, nil).data(); len(cfg["permissions"].([]any)) != 3 {
		t.Fatalf("appconfig = %v", cfg)
	}

	// registerEvents, OS1 example, then every rejection.
	reg := e.must(201, "POST", "/v1/topics/participant/events", key, os1Events).data()
	evs := reg["events"].([]any)
	first := evs[0].(map[string]any)
	if len(evs) != 2 || first["name"] != "usercreated" || first["getApiPath"] != "/app/api/v2/users/{userId}" || first["appId"] != pubID {
		t.Fatalf("registered = %v", reg)
	}
	if fl := fmt.Sprint(first["filterLogic"]); !strings.Contains(fl, "var") {
		t.Fatalf("stored filterLogic %s: the $eventType form was not rewritten", fl)
	}
	e.mustFail(409, "events[0].name", "already registered", "POST", "/v1/topics/participant/events", key, os1Events)
	e.mustFail(400, "topic", "participant, entity, container", "POST", "/v1/topics/orders/events", key, os1Events)
	ev := func(fields map[string]any) map[string]any {
		base := map[string]any{"name": "e1", "eventType": "t1"}
		for k, v := range fields {
			base[k] = v
		}
		return map[string]any{"events": []any{base}}
	}
	e.mustFail(400, "events", "at least one", "POST", "/v1/topics/entity/events", key, map[string]any{"events": []any{}})
	e.mustFail(400, "events[0].name", "required", "POST", "/v1/topics/entity/events", key, ev(map[string]any{"name": ""}))
	e.mustFail(400, "events[0].eventType", "required", "POST", "/v1/topics/entity/events", key, ev(map[string]any{"eventType": ""}))
	e.mustFail(400, "events[0].filterLogic", "and[1]", "POST", "/v1/topics/entity/events", key,
		ev(map[string]any{"filterLogic": map[string]any{"and": []any{true, map[string]any{"===": []any{1}}}}}))
	e.mustFail(400, "events[0].filterLogic", "bogus", "POST", "/v1/topics/entity/events", key,
		ev(map[string]any{"filterLogic": map[string]any{"bogus": []any{1}}}))
	e.mustFail(400, "getApiPath", "unbalanced", "POST", "/v1/topics/entity/events", key,
		map[string]any{"getApiPath": "/users/{id", "events": []any{map[string]any{"name": "a", "eventType": "b"}}})
	e.mustFail(400, "events[1].name", "also events[0]", "POST", "/v1/topics/entity/events", key,
		map[string]any{"events": []any{map[string]any{"name": "a", "eventType": "b"}, map[string]any{"name": "a", "eventType": "c"}}})
	// A rejected request registers nothing.
	if n := len(e.must(200, "GET", "/v1/topics/entity/events", key, nil).data()["events"].([]any)); n != 0 {
		t.Fatalf("rejected requests registered %d events", n)
	}

	// getPublisherEvents pages.
	p1 := e.must(200, "GET", "/v1/topics/participant/events?limit=1", key, nil).data()
	m1 := p1["meta"].(map[string]any)
	if len(p1["events"].([]any)) != 1 || m1["hasNextPage"] != true || m1["nextPage"] == "" {
		t.Fatalf("page 1 = %v", p1)
	}
	p2 := e.must(200, "GET", "/v1/topics/participant/events?limit=1&page="+m1["nextPage"].(string), key, nil).data()
	if p2["events"].([]any)[0].(map[string]any)["name"] != "userupdated" || p2["meta"].(map[string]any)["hasNextPage"] != false {
		t.Fatalf("page 2 = %v", p2)
	}
	e.mustFail(400, "limit", "between 1 and 100", "GET", "/v1/topics/participant/events?limit=101", key, nil)
	e.mustFail(400, "limit", "whole number", "GET", "/v1/topics/participant/events?limit=ten", key, nil)
	e.mustFail(400, "page", "page token", "GET", "/v1/topics/participant/events?page=%25%25", key, nil)

	// updatePublisherEvents.
	up := e.must(200, "PUT", "/v1/topics/participant/events/usercreated", key, map[string]any{"events": []any{map[string]any{"description": "new text"}}}).data()
	u := up["events"].([]any)[0].(map[string]any)
	if u["description"] != "new text" || u["eventType"] != "userCreatedEvent" || u["filterLogic"] == nil {
		t.Fatalf("partial update changed more than the description: %v", u)
	}
	e.mustFail(404, "eventName", "no event", "PUT", "/v1/topics/participant/events/nosuch", key, map[string]any{"events": []any{map[string]any{"description": "x"}}})
	e.mustFail(400, "events", "exactly one", "PUT", "/v1/topics/participant/events/usercreated", key, map[string]any{"events": []any{map[string]any{}, map[string]any{}}})
	e.mustFail(400, "events", "one item", "PUT", "/v1/topics/participant/events/usercreated", key, map[string]any{"events": []any{}})
	e.mustFail(409, "events[0].name", "already registered", "PUT", "/v1/topics/participant/events/usercreated", key, map[string]any{"events": []any{map[string]any{"name": "userupdated"}}})
	e.mustFail(400, "events[0].appId", "another app", "PUT", "/v1/topics/participant/events/usercreated", key, map[string]any{"events": []any{map[string]any{"appId": "app_other"}}})

	// Another publisher sees none of this.
	_, other := e.createApp("Other", "get users")
	if n := len(e.must(200, "GET", "/v1/topics/participant/events", other, nil).data()["events"].([]any)); n != 0 {
		t.Fatalf("another app sees %d of this app's events", n)
	}
	e.must(404, "PUT", "/v1/topics/participant/events/usercreated", other, map[string]any{"events": []any{map[string]any{"description": "hijack"}}})
	if d := e.must(200, "POST", "/v1/topics/participant/events:bulkDelete", other, map[string]any{"events": []string{"usercreated"}}).data(); len(d["deleted"].([]any)) != 0 {
		t.Fatalf("another app deleted %v", d)
	}

	// bulkDeleteEvents and the remove form.
	names := make([]string, 26)
	for i := range names {
		names[i] = fmt.Sprintf("e%d", i)
	}
	e.mustFail(400, "events", "at most 25", "POST", "/v1/topics/participant/events:bulkDelete", key, map[string]any{"events": names})
	e.mustFail(400, "action", `"remove"`, "PATCH", "/v1/topics/participant/events", key, map[string]any{"action": "delete", "events": []string{"usercreated"}})
	del := e.must(200, "POST", "/v1/topics/participant/events:bulkDelete", key, map[string]any{"events": []string{"usercreated", "nosuch"}}).data()
	if fmt.Sprint(del["deleted"]) != "[usercreated]" {
		t.Fatalf("bulk delete = %v", del)
	}
	rem := e.must(200, "PATCH", "/v1/topics/participant/events", key, map[string]any{"action": "remove", "events": []string{"userupdated"}}).data()
	if fmt.Sprint(rem["deleted"]) != "[userupdated]" {
		t.Fatalf("remove = %v", rem)
	}
	if n := len(e.must(200, "GET", "/v1/topics/participant/events", key, nil).data()["events"].([]any)); n != 0 {
		t.Fatalf("%d events left after deleting all", n)
	}
}

func TestSubscriberAPI(t *testing.T) {
	e := newEnv(t)
	pubID, pubKey := e.createApp("Users", "get users")
	subID, subKey := e.createApp("CRM")
	e.must(201, "POST", "/v1/appconfig", pubKey, map[string]any{"permissions": []string{"get users", "get user details"}})
	e.must(201, "POST", "/v1/topics/participant/events", pubKey, os1Events)
	body := map[string]any{"appId": pubID, "topic": "participant", "events": []string{"usercreated"}, "url": "https://crm.example.com/hooks"}

	// Without a permission: nothing listed, subscribing is refused with the permissions named.
	if n := len(e.must(200, "GET", "/v1/publishers", subKey, nil).data()["publishers"].([]any)); n != 0 {
		t.Fatalf("a subscriber without permissions sees %d publishers", n)
	}
	e.mustFail(403, "appId", "get users, get user details", "POST", "/v1/subscriptions", subKey, body)

	e.must(200, "PATCH", "/v1/apps/"+subID, adminToken, map[string]any{"grant": []string{"get user details"}})
	pubs := e.must(200, "GET", "/v1/publishers", subKey, nil).data()["publishers"].([]any)
	if len(pubs) != 1 || len(pubs[0].(map[string]any)["events"].([]any)) != 2 {
		t.Fatalf("publishers = %v", pubs)
	}

	bad := func(k string, v any) map[string]any {
		b := map[string]any{}
		for kk, vv := range body {
			b[kk] = vv
		}
		b[k] = v
		return b
	}
	e.mustFail(400, "url", "http or https", "POST", "/v1/subscriptions", subKey, bad("url", "ftp://crm.example.com/x"))
	e.mustFail(400, "url", "credentials", "POST", "/v1/subscriptions", subKey, bad("url", "https://u:p@crm.example.com/x"))
	e.mustFail(400, "events[0]", "no event", "POST", "/v1/subscriptions", subKey, bad("events", []string{"nosuch"}))
	e.mustFail(400, "events", "at least one", "POST", "/v1/subscriptions", subKey, bad("events", []string{}))
	e.mustFail(404, "appId", "no publisher", "POST", "/v1/subscriptions", subKey, bad("appId", "app_nosuch"))
	e.mustFail(400, "topic", "must be one of", "POST", "/v1/subscriptions", subKey, bad("topic", "orders"))
	e.mustFail(400, "options.payload", "cloudevents", "POST", "/v1/subscriptions", subKey, bad("options", map[string]any{"payload": "xml"}))
	e.mustFail(400, "filterLogic", "unknown operator", "POST", "/v1/subscriptions", subKey, bad("filterLogic", map[string]any{"nope": 1}))

	created := e.must(201, "POST", "/v1/subscriptions", subKey, bad("options", map[string]any{"retrySchedule": []string{"0s", "1m", "5m"}, "hubSignature": true})).data()
	id := created["id"].(string)
	sub := e.must(200, "GET", "/v1/subscriptions/"+id, subKey, nil).data()
	if sub["status"] != "active" || sub["subscriberAppId"] != subID || sub["options"].(map[string]any)["payload"] != "cloudevents" {
		t.Fatalf("subscription = %v", sub)
	}
	if _, leaked := sub["secret"]; leaked {
		t.Fatal("GET returns the secret")
	}
	// Another app cannot see or touch it, nor can the publisher.
	for _, k := range []string{pubKey} {
		e.must(404, "GET", "/v1/subscriptions/"+id, k, nil)
		e.must(404, "DELETE", "/v1/subscriptions/"+id, k, nil)
		e.must(404, "POST", "/v1/subscriptions/"+id+":rotateSecret", k, nil)
	}

	patched := e.must(200, "PATCH", "/v1/subscriptions/"+id, subKey, map[string]any{"status": "paused", "events": map[string]any{"values": []string{"usercreated", "userupdated"}}}).data()
	if patched["status"] != "paused" || len(patched["events"].([]any)) != 2 || patched["url"] != body["url"] {
		t.Fatalf("patched = %v", patched)
	}
	e.mustFail(400, "status", "active", "PATCH", "/v1/subscriptions/"+id, subKey, map[string]any{"status": "disabled"})
	e.mustFail(400, "events.values[0]", "no event", "PATCH", "/v1/subscriptions/"+id, subKey, map[string]any{"events": map[string]any{"values": []string{"nosuch"}}})

	rot := e.must(200, "POST", "/v1/subscriptions/"+id+":rotateSecret", subKey, map[string]any{"overlapSeconds": 3600}).data()
	if rot["secret"] == created["secret"] || !strings.HasPrefix(rot["secret"].(string), "whsec_") || rot["previousSecretExpireTime"] == nil {
		t.Fatalf("rotate = %v", rot)
	}
	e.mustFail(400, "overlapSeconds", "between", "POST", "/v1/subscriptions/"+id+":rotateSecret", subKey, map[string]any{"overlapSeconds": -1})
	e.must(404, "POST", "/v1/subscriptions/"+id+":explode", subKey, nil)

	list := e.must(200, "GET", "/v1/subscriptions", subKey, nil).data()
	if len(list["subscriptions"].([]any)) != 1 {
		t.Fatalf("list = %v", list)
	}
	// Renaming an event carries the subscription along.
	e.must(200, "PUT", "/v1/topics/participant/events/usercreated", pubKey, map[string]any{"events": []any{map[string]any{"name": "userCreatedV2"}}})
	if evs := fmt.Sprint(e.must(200, "GET", "/v1/subscriptions/"+id, subKey, nil).data()["events"]); !strings.Contains(evs, "userCreatedV2") {
		t.Fatalf("after rename the subscription names %s", evs)
	}

	e.must(200, "DELETE", "/v1/subscriptions/"+id, subKey, nil)
	e.must(404, "GET", "/v1/subscriptions/"+id, subKey, nil)
}

func TestRestartKeepsEverything(t *testing.T) {
	e := newEnv(t)
	_, key := e.createApp("pub", "p")
	e.must(201, "POST", "/v1/appconfig", key, map[string]any{"permissions": []string{"p"}})
	e.must(201, "POST", "/v1/topics/container/events", key, os1Events)
	e.stop()
	e.start()
	if n := len(e.must(200, "GET", "/v1/topics/container/events", key, nil).data()["events"].([]any)); n != 2 {
		t.Fatalf("after a restart %d events remain, want 2", n)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t)
	e.must(200, "GET", "/healthz", "", nil)
	e.must(200, "GET", "/readyz", "", nil)
	e.do("GET", "/v1/publishers", "", nil)
	m := e.must(200, "GET", "/metrics", "", nil)
	if !strings.Contains(m.raw, `herald_registry_http_requests_total{code="401",route="GET /v1/publishers"}`) {
		t.Fatalf("metrics lack the request counter:\n%.2000s", m.raw)
	}
}

func dialGRPC(t *testing.T, e *env) registryv1.RegistryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(e.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return registryv1.NewRegistryServiceClient(conn)
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

func TestGRPCSharesTheImplementation(t *testing.T) {
	e := newEnv(t)
	c := dialGRPC(t, e)
	ctx := context.Background()

	if _, err := c.ListApps(ctx, &registryv1.ListAppsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no key: %v", err)
	}
	_, err := c.CreateApp(withKey(ctx, adminToken), &registryv1.CreateAppRequest{})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || len(st.Details()) != 1 || st.Details()[0].(*errdetails.BadRequest).FieldViolations[0].Field != "name" {
		t.Fatalf("empty name: %v %v", st, st.Details())
	}
	app, err := c.CreateApp(withKey(ctx, adminToken), &registryv1.CreateAppRequest{Name: "grpc app", Permissions: []string{"p"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAppConfig(withKey(ctx, app.ApiKey), &registryv1.CreateAppConfigRequest{Permissions: []string{"p"}}); err != nil {
		t.Fatal(err)
	}
	// What gRPC wrote, JSON reads.
	e.must(200, "GET", "/v1/appconfig", app.ApiKey, nil)
	_, err = c.BulkDeleteEvents(withKey(ctx, app.ApiKey), &registryv1.BulkDeleteEventsRequest{Topic: "entity", Events: make([]string, 26)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "25") {
		t.Fatalf("26 names: %v", err)
	}
}

// recvStep reads the next WatchConfig message, failing after a generous deadline.
// openWatch opens a WatchConfig stream with the admin token, closed when the test ends.
func openWatch(t *testing.T, e *env) grpc.ServerStreamingClient[registryv1.WatchConfigResponse] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := dialGRPC(t, e).WatchConfig(withKey(ctx, adminToken), &registryv1.WatchConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func recvStep(t *testing.T, stream grpc.ServerStreamingClient[registryv1.WatchConfigResponse]) *registryv1.WatchConfigResponse {
	t.Helper()
	type result struct {
		m   *registryv1.WatchConfigResponse
		err error
	}
	ch := make(chan result, 1)
	go func() { m, err := stream.Recv(); ch <- result{m, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.m
	case <-time.After(10 * time.Second):
		t.Fatal("no WatchConfig step within 10s")
		return nil
	}
}

func TestWatchConfig(t *testing.T) {
	e := newEnv(t)
	pubID, pubKey := e.createApp("pub", "p")
	e.must(201, "POST", "/v1/appconfig", pubKey, map[string]any{"permissions": []string{"p"}})

	c := dialGRPC(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	denied, err := c.WatchConfig(withKey(ctx, pubKey), &registryv1.WatchConfigRequest{})
	if err == nil {
		_, err = denied.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("an app key opened WatchConfig: %v", err)
	}

	stream, err := c.WatchConfig(withKey(ctx, adminToken), &registryv1.WatchConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	snap := recvStep(t, stream)
	if !snap.Snapshot || len(snap.Apps) != 1 || len(snap.AppConfigs) != 1 || snap.Apps[0].Id != pubID || snap.Version == 0 {
		t.Fatalf("snapshot = %v", snap)
	}

	// Each write reaches the stream as a step with a higher version and the whole document.
	e.must(201, "POST", "/v1/topics/entity/events", pubKey, os1Events)
	var events []*registryv1.Event
	last := snap.Version
	for len(events) < 2 {
		m := recvStep(t, stream)
		if m.Snapshot || m.Version <= last {
			t.Fatalf("step %v after version %d", m, last)
		}
		last = m.Version
		events = append(events, m.Events...)
	}
	if events[0].FilterLogic == nil || events[0].GetApiPath == "" || events[0].Id == "" {
		t.Fatalf("event step lacks fields: %v", events[0])
	}
	e.must(200, "POST", "/v1/topics/entity/events:bulkDelete", pubKey, map[string]any{"events": []string{"usercreated"}})
	for {
		m := recvStep(t, stream)
		if len(m.Deletions) > 0 {
			d := m.Deletions[0]
			if d.Kind != registryv1.ConfigKind_CONFIG_KIND_EVENT || (d.Id != events[0].Id && d.Id != events[1].Id) {
				t.Fatalf("deletion = %v", d)
			}
			break
		}
	}
}

// TestDeleteApp: an app with events is refused; a subscriber goes with its key and its
// subscriptions; a publisher whose events are gone takes the subscriptions to it along; the
// watchers are told of every deletion.
func TestDeleteApp(t *testing.T) {
	e := newEnv(t)
	pubID, pubKey := e.createApp("pub", "p")
	subID, subKey := e.createApp("sub", "p")
	otherID, otherKey := e.createApp("other", "p")
	e.must(201, "POST", "/v1/appconfig", pubKey, map[string]any{"permissions": []string{"p"}})
	e.must(201, "POST", "/v1/topics/participant/events", pubKey, os1Events)
	subscribe := func(key string) string {
		return e.must(201, "POST", "/v1/subscriptions", key, map[string]any{
			"appId": pubID, "topic": "participant", "events": []string{"usercreated"}, "url": "https://hooks.example.com/x",
		}).data()["id"].(string)
	}
	subSub, otherSub := subscribe(subKey), subscribe(otherKey)

	stream := openWatch(t, e)
	recvStep(t, stream) // the snapshot
	// deleted holds the deletions the watcher was told of, as kind/id.
	deleted := map[string]bool{}
	awaitDeletions := func(want ...string) {
		t.Helper()
		for _, k := range want {
			for !deleted[k] {
				for _, d := range recvStep(t, stream).Deletions {
					deleted[d.Kind.String()+"/"+d.Id] = true
				}
			}
		}
	}
	const app, appConfig, subscription = "CONFIG_KIND_APP/", "CONFIG_KIND_APP_CONFIG/", "CONFIG_KIND_SUBSCRIPTION/"

	e.must(403, "DELETE", "/v1/apps/"+subID, subKey, nil)
	e.mustFail(404, "appId", "no app", "DELETE", "/v1/apps/app_nosuch", adminToken, nil)
	e.mustFail(409, "appId", "2 registered events", "DELETE", "/v1/apps/"+pubID, adminToken, nil)

	// The subscriber: its subscription and its key go; the other app's subscription stays.
	d := e.must(200, "DELETE", "/v1/apps/"+subID, adminToken, nil).data()
	if d["appId"] != subID || d["deletedSubscriptions"] != float64(1) {
		t.Fatalf("delete the subscriber: %v", d)
	}
	e.must(401, "GET", "/v1/subscriptions", subKey, nil)
	e.must(404, "GET", "/v1/subscriptions/"+subSub, adminToken, nil)
	e.must(200, "GET", "/v1/subscriptions/"+otherSub, otherKey, nil)
	awaitDeletions(subscription+subSub, app+subID)

	// The publisher, once its events are gone: its app config and the subscriptions to it go too.
	e.must(200, "POST", "/v1/topics/participant/events:bulkDelete", pubKey, map[string]any{"events": []string{"usercreated", "userupdated"}})
	d = e.must(200, "DELETE", "/v1/apps/"+pubID, adminToken, nil).data()
	if d["deletedSubscriptions"] != float64(1) {
		t.Fatalf("delete the publisher: %v", d)
	}
	if subs := e.must(200, "GET", "/v1/subscriptions", otherKey, nil).data()["subscriptions"]; len(subs.([]any)) != 0 {
		t.Fatalf("the other app still has subscriptions to the deleted publisher: %v", subs)
	}
	awaitDeletions(subscription+otherSub, appConfig+pubID, app+pubID)
	e.mustFail(404, "appId", "no app", "DELETE", "/v1/apps/"+pubID, adminToken, nil)
	apps := e.must(200, "GET", "/v1/apps", adminToken, nil).data()["apps"].([]any)
	if len(apps) != 1 || apps[0].(map[string]any)["id"] != otherID {
		t.Fatalf("apps left: %v", apps)
	}

	// A delete that failed half way (the app gone, its subscription left) finishes when sent again.
	leftID, leftKey := e.createApp("left", "p")
	e.must(201, "POST", "/v1/appconfig", otherKey, map[string]any{"permissions": []string{"p"}})
	e.must(201, "POST", "/v1/topics/participant/events", otherKey, os1Events)
	leftSub := e.must(201, "POST", "/v1/subscriptions", leftKey, map[string]any{
		"appId": otherID, "topic": "participant", "events": []string{"usercreated"}, "url": "https://hooks.example.com/x",
	}).data()["id"].(string)
	client, err := mongo.Connect(options.Client().ApplyURI(e.cfg.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	if _, err := client.Database(e.cfg.MongoDatabase).Collection("apps").DeleteOne(context.Background(), bson.D{{Key: "_id", Value: leftID}}); err != nil {
		t.Fatal(err)
	}
	if d := e.must(200, "DELETE", "/v1/apps/"+leftID, adminToken, nil).data(); d["deletedSubscriptions"] != float64(1) {
		t.Fatalf("delete what is left of an app: %v", d)
	}
	e.must(404, "GET", "/v1/subscriptions/"+leftSub, adminToken, nil)
	e.mustFail(404, "appId", "no app", "DELETE", "/v1/apps/"+leftID, adminToken, nil)
}

func TestWatchConfigSeesWritesOfAnotherReplica(t *testing.T) {
	e := newEnv(t)
	// A second registry on the same database, as a second replica would be.
	other := &env{t: t, cfg: e.cfg}
	other.start()
	defer other.stop()

	stream := openWatch(t, e)
	recvStep(t, stream)
	id, _ := other.createApp("made elsewhere")
	for {
		m := recvStep(t, stream)
		if len(m.Apps) == 1 && m.Apps[0].Id == id {
			return
		}
	}
}
