package dispatcher

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestPayloadForms(t *testing.T) {
	job := &deliveryv1.Job{DeliveryId: "msg_1", AppId: "app_\"x", Topic: "entity", EventName: "thing\ncreated",
		ResourceUrl: "https://api.example.com/things/1?a=<b>&c", Body: []byte(` {"id":1,"nested":{"k":[1,2]}} `),
		EventTime: timestamppb.New(time.Date(2026, 11, 22, 10, 0, 0, 5, time.UTC))}
	body, ct := payload(job, "")
	var ce map[string]any
	if err := json.Unmarshal(body, &ce); err != nil || ct != "application/cloudevents+json" {
		t.Fatalf("cloudevents: %v %s\n%s", err, ct, body)
	}
	want := map[string]any{"specversion": "1.0", "id": "msg_1", "source": "/herald/publishers/app_\"x/topics/entity",
		"type": "thing\ncreated", "subject": job.ResourceUrl, "resourceurl": job.ResourceUrl, "time": "2026-11-22T10:00:00.000000005Z",
		"datacontenttype": "application/json", "data": map[string]any{"id": 1.0, "nested": map[string]any{"k": []any{1.0, 2.0}}}}
	if !reflect.DeepEqual(ce, want) {
		t.Fatalf("cloudevents\n got %v\nwant %v", ce, want)
	}
	body, _ = payload(job, "thin")
	var thin map[string]any
	if err := json.Unmarshal(body, &thin); err != nil || len(thin) != 2 || thin["resource_url"] != job.ResourceUrl {
		t.Fatalf("thin: %v %s", err, body)
	}
	if body, _ = payload(job, "raw"); string(body) != string(job.Body) {
		t.Fatalf("raw: %s", body)
	}
	job.Body = []byte("not json")
	if body, _ = payload(job, ""); !json.Valid(body) {
		t.Fatalf("a non-JSON body made invalid JSON: %s", body)
	}
}

// FuzzAppendJSONString checks the hand-written escaping against encoding/json: the result is
// valid JSON that decodes to what encoding/json's own encoding decodes to.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\x00\x1f\x7f", "é ✓ 😀", "\xff\xfe bad utf8", "<>&\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		var a, b string
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%q → %s: %v", s, got, err)
		}
		ref, _ := json.Marshal(s)
		_ = json.Unmarshal(ref, &b)
		if a != b {
			t.Fatalf("%q: decodes to %q, encoding/json's to %q", s, a, b)
		}
	})
}

func BenchmarkPayloadCloudEvents(b *testing.B) {
	job := &deliveryv1.Job{DeliveryId: "msg_0123456789abcdef", AppId: "app_1", Topic: "entity", EventName: "thing",
		ResourceUrl: "https://api.example.com/things/1", Body: []byte(`{"pad":"` + string(make([]byte, 0, 1)) + `x"}`),
		EventTime: timestamppb.Now()}
	b.ReportAllocs()
	for b.Loop() {
		payload(job, "")
	}
}

// The envelope is written into one buffer of the right size: the event is copied once.
func TestPayloadAllocatesOnce(t *testing.T) {
	job := &deliveryv1.Job{DeliveryId: "msg_0123456789abcdef0123456789ab", AppId: "app_0123456789abcdef", Topic: "entity",
		EventName: "thingChanged", ResourceUrl: "https://api.example.com/things/1", EventTime: timestamppb.Now(),
		Body: []byte(`{"pad":"` + strings.Repeat("x", 1014) + `"}`)}
	var body []byte
	if n := testing.AllocsPerRun(100, func() { body, _ = payload(job, "") }); n != 1 {
		t.Fatalf("%v allocations per payload, want 1", n)
	}
	if !json.Valid(body) || cap(body)-len(body) > 64 {
		t.Fatalf("valid %v, %d bytes in a buffer of %d", json.Valid(body), len(body), cap(body))
	}
}
