package registry

import (
	"errors"
	"strings"
	"testing"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// wantField asserts err is an ErrInvalid about field whose message contains each of parts.
func wantField(t *testing.T, err error, field string, parts ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want an invalid-argument error about %q", err, field)
	}
	if e.Field != field {
		t.Fatalf("field = %q, want %q (message %q)", e.Field, field, e.Message)
	}
	for _, p := range parts {
		if !strings.Contains(e.Message, p) {
			t.Fatalf("message %q does not contain %q", e.Message, p)
		}
	}
}

func TestCheckWebhookURL(t *testing.T) {
	for _, ok := range []string{"https://example.com/hook", "http://127.0.0.1:8080/x?y=1"} {
		if err := checkWebhookURL("url", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for raw, part := range map[string]string{
		"":                              "required",
		"ftp://example.com/x":           "http or https",
		"/relative/path":                "http or https",
		"https://user:pw@example.com/x": "credentials",
		"https://example.com/x#frag":    "fragment",
		"https://":                      "no host",
		"https://example.com/" + strings.Repeat("a", maxURLLen): "longer",
	} {
		wantField(t, checkWebhookURL("url", raw), "url", part)
	}
}

func TestCheckAPIPath(t *testing.T) {
	for _, ok := range []string{"", "/app/api/v2/users/{userId}", "/a/{user.id}/b", "https://api.example.com/users/{id}"} {
		if err := checkAPIPath("getApiPath", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for raw, part := range map[string]string{
		"users/{id}":        "starting with '/'",
		"/users/{id":        "unbalanced",
		"/users/id}":        "unbalanced",
		"/users/{}":         "placeholder",
		"/users/{user id}":  "placeholder",
		"ftp://x.example/a": "starting with '/'",
	} {
		wantField(t, checkAPIPath("getApiPath", raw), "getApiPath", part)
	}
}

func TestCleanPermissions(t *testing.T) {
	got, err := cleanPermissions("permissions", []string{" get users ", "get users", "update user"}, true)
	if err != nil || strings.Join(got, "|") != "get users|update user" {
		t.Fatalf("got %q, %v", got, err)
	}
	wantField(t, func() error { _, err := cleanPermissions("permissions", nil, true); return err }(), "permissions", "at least one")
	wantField(t, func() error { _, err := cleanPermissions("permissions", []string{"a", " "}, false); return err }(), "permissions[1]", "required")
	many := make([]string, maxPermissions+1)
	for i := range many {
		many[i] = strings.Repeat("p", i+1)
	}
	wantField(t, func() error { _, err := cleanPermissions("permissions", many, false); return err }(), "permissions", "at most")
}

func TestCheckName(t *testing.T) {
	if err := checkName("name", "usercreated"); err != nil {
		t.Fatal(err)
	}
	wantField(t, checkName("name", ""), "name", "required")
	wantField(t, checkName("name", "has space"), "name", "letters")
	wantField(t, checkName("name", "-leading"), "name", "start with")
	wantField(t, checkName("name", strings.Repeat("a", maxNameLen+1)), "name", "longer")
}

func TestCheckOptions(t *testing.T) {
	o := &registryv1.SubscriptionOptions{}
	if err := checkOptions("options", o); err != nil || o.Payload != "cloudevents" {
		t.Fatalf("defaults: %v, payload %q", err, o.Payload)
	}
	wantField(t, checkOptions("options", &registryv1.SubscriptionOptions{Payload: "xml"}), "options.payload", "cloudevents")
	wantField(t, checkOptions("options", &registryv1.SubscriptionOptions{RetrySchedule: []string{"1m", "soon"}}), "options.retrySchedule[1]", "duration")
	wantField(t, checkOptions("options", &registryv1.SubscriptionOptions{RetrySchedule: []string{"-1s"}}), "options.retrySchedule[0]", "duration")
	wantField(t, checkOptions("options", &registryv1.SubscriptionOptions{RetrySchedule: []string{"48h"}}), "options.retrySchedule[0]", "duration")
	wantField(t, checkOptions("options", &registryv1.SubscriptionOptions{RetrySchedule: make([]string, maxRetries+1)}), "options.retrySchedule", "at most")
	wantField(t, checkOptions("options", &registryv1.SubscriptionOptions{VerificationKey: "a\nb"}), "options.verificationKey", "printable")
}

func TestCompileFilterPointsAtTheBadPart(t *testing.T) {
	v, err := structpb.NewValue(map[string]any{"and": []any{map[string]any{"==": []any{1, 1}}, map[string]any{"===": []any{1}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = compileFilter("events[0].filterLogic", v)
	wantField(t, err, "events[0].filterLogic", "and[1]")

	os1, _ := structpb.NewValue(map[string]any{"===": []any{"$eventType", "usercreatedevent"}})
	rule, err := compileFilter("filterLogic", os1)
	if err != nil || !strings.Contains(rule, `"var"`) || strings.Contains(rule, "$eventType") {
		t.Fatalf("OS1 rule stored as %s, %v; want the $eventType rewritten to a var", rule, err)
	}
	if rule, err := compileFilter("filterLogic", nil); rule != "" || err != nil {
		t.Fatalf("no rule: %q, %v", rule, err)
	}
}

func TestPageSize(t *testing.T) {
	if n, err := pageSize(0); n != defaultPageSize || err != nil {
		t.Fatalf("pageSize(0) = %d, %v", n, err)
	}
	for _, bad := range []int32{-1, maxPageSize + 1} {
		if _, err := pageSize(bad); err == nil {
			t.Errorf("pageSize(%d) accepted", bad)
		}
	}
	if _, err := decodePage("!!not-base64!!", 0); err == nil {
		t.Error("a bad page token was accepted")
	}
}

func TestApplyGrants(t *testing.T) {
	got := applyGrants([]string{"a", "b"}, []string{"c", "a"}, []string{"b"})
	if strings.Join(got, ",") != "a,c" {
		t.Fatalf("got %v", got)
	}
}
