package registry

import (
	"strings"
	"testing"
	"time"

	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var testJob = &deliveryv1.Job{
	DeliveryId: "msg_1", SubscriptionId: "sub_1", AppId: "app_pub", EventId: "evt_1", EventName: "usercreated",
	EventType: "userCreatedEvent", Topic: "participant", Partition: 4, Offset: 99,
	EventTime: timestamppb.New(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)), Body: []byte(`{"userId":"u1"}`),
	ResourceUrl: "https://api.example.com/users/u1", Attempt: 3, Replay: true,
	MatchTime: timestamppb.New(time.Date(2026, 11, 1, 9, 0, 1, 0, time.UTC)),
	NotBefore: timestamppb.New(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)), LastError: "the endpoint answered 500",
}

func msgOf(t *testing.T, a *deliveryv1.Attempt) kafka.Message {
	t.Helper()
	v, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Value: v, Time: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
}

func TestDecodeAttemptRejectsWhatCannotBeRecorded(t *testing.T) {
	good := &deliveryv1.Attempt{DeliveryId: "msg_1", SubscriptionId: "sub_1", Outcome: deliveryv1.Outcome_OUTCOME_DELIVERED}
	cases := []struct {
		name string
		msg  kafka.Message
		want string
	}{
		{"not protobuf", kafka.Message{Value: []byte("not a protobuf attempt")}, "not a herald.delivery.v1.Attempt"},
		{"empty", kafka.Message{}, "delivery_id"},
		{"no subscription", msgOf(t, &deliveryv1.Attempt{DeliveryId: "msg_1", Outcome: deliveryv1.Outcome_OUTCOME_FAILED}), "subscription_id"},
		{"no outcome", msgOf(t, &deliveryv1.Attempt{DeliveryId: "msg_1", SubscriptionId: "sub_1"}), "outcome"},
		{"unknown outcome", msgOf(t, &deliveryv1.Attempt{DeliveryId: "msg_1", SubscriptionId: "sub_1", Outcome: 42}), "outcome"},
	}
	for _, c := range cases {
		if _, err := decodeAttempt(c.msg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := decodeAttempt(msgOf(t, good)); err != nil {
		t.Errorf("a minimal attempt: %v", err)
	}
}

func TestDecodeAttempt(t *testing.T) {
	at := time.Date(2026, 11, 1, 9, 30, 0, 123456789, time.UTC)
	a := &deliveryv1.Attempt{
		DeliveryId: "msg_1", SubscriptionId: "sub_1", Attempt: 3, Time: timestamppb.New(at), StatusCode: 503,
		ErrorType: "http_status", Error: "the endpoint answered 503", LatencyMs: 40, ResponseSnippet: "busy",
		Outcome: deliveryv1.Outcome_OUTCOME_RETRYING, NextAttemptTime: timestamppb.New(at.Add(time.Hour)), Job: testJob,
		Dispatcher: "d-1",
	}
	r, err := decodeAttempt(msgOf(t, a))
	if err != nil {
		t.Fatal(err)
	}
	got := r.Attempt
	if got.ID != store.AttemptID("msg_1", 3, at) || got.Outcome != store.DeliveryRetrying || !got.Time.Equal(at) || got.StatusCode != 503 ||
		got.Error != a.Error || got.ErrorType != "http_status" || got.LatencyMS != 40 || got.ResponseSnippet != "busy" ||
		!got.NextAttemptTime.Equal(at.Add(time.Hour)) || got.Dispatcher != "d-1" || got.SubscriptionID != "sub_1" {
		t.Fatalf("attempt = %+v", got)
	}
	d := r.Delivery
	if string(d.Body) != `{"userId":"u1"}` || d.EventName != "usercreated" || d.Offset != 99 || d.Partition != 4 ||
		!d.CreateTime.Equal(testJob.GetMatchTime().AsTime()) || !d.EventTime.Equal(testJob.GetEventTime().AsTime()) || !d.Replay {
		t.Fatalf("delivery = %+v", d)
	}

	// Read again, the same attempt has the same id; another try of it does not.
	again, _ := decodeAttempt(msgOf(t, a))
	a.Time = timestamppb.New(at.Add(time.Nanosecond))
	other, _ := decodeAttempt(msgOf(t, a))
	if again.Attempt.ID != got.ID || other.Attempt.ID == got.ID {
		t.Fatalf("ids %s, %s, %s", got.ID, again.Attempt.ID, other.Attempt.ID)
	}

	// Without a time, the message's stands in.
	a.Time = nil
	r, _ = decodeAttempt(msgOf(t, a))
	if want := msgOf(t, a).Time; !r.Attempt.Time.Equal(want) {
		t.Fatalf("time %v, want the message's %v", r.Attempt.Time, want)
	}
}

func TestJobOfRebuildsTheJobAsAFirstAttempt(t *testing.T) {
	r, err := decodeAttempt(msgOf(t, &deliveryv1.Attempt{DeliveryId: "msg_1", SubscriptionId: "sub_1", Outcome: deliveryv1.Outcome_OUTCOME_FAILED, Job: testJob}))
	if err != nil {
		t.Fatal(err)
	}
	d := r.Delivery
	d.ID, d.SubscriptionID = "msg_1", "sub_1" // the store's upsert keys
	want := proto.Clone(testJob).(*deliveryv1.Job)
	want.Attempt, want.NotBefore, want.LastError = 0, nil, ""
	if got := jobOf(&d); !proto.Equal(got, want) {
		t.Fatalf("jobOf =\n%v\nwant\n%v", got, want)
	}
}

func TestGoneReason(t *testing.T) {
	if r := goneReason(&store.Attempt{StatusCode: 410, Error: "the endpoint answered 410"}); r != "the endpoint answered 410 Gone" {
		t.Errorf("410: %q", r)
	}
	if r := goneReason(&store.Attempt{Error: "failed every attempt for 72h"}); r != "failed every attempt for 72h" {
		t.Errorf("not a 410: %q", r)
	}
	if r := goneReason(&store.Attempt{}); r == "" {
		t.Error("no reason at all")
	}
}
