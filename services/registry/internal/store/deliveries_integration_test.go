package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/services/registry/internal/store"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// rec is attempt n of delivery id made at t with outcome, as the ingester builds it.
func rec(id string, n int32, t time.Time, outcome string) store.Recorded {
	a := store.Attempt{
		ID: store.AttemptID(id, n, t), DeliveryID: id, SubscriptionID: "sub_1", Attempt: n, Time: t,
		StatusCode: 500, ErrorType: "http_status", Error: "answered 500", Outcome: outcome,
	}
	if outcome == store.DeliveryDelivered {
		a.StatusCode, a.ErrorType, a.Error = 200, "", ""
	}
	if outcome == store.DeliveryRetrying {
		a.NextAttemptTime = t.Add(time.Minute)
	}
	return store.Recorded{Attempt: a, Delivery: store.Delivery{
		SubscriberAppID: "app_sub", AppID: "app_pub", EventName: "usercreated", Topic: "participant",
		Partition: 2, Offset: 7, Body: []byte(`{"userId":"u1"}`), CreateTime: t0,
	}}
}

func TestRecordAttemptsIsIdempotentAndFollowsTheLatest(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	first := rec("d1", 0, t0.Add(time.Second), store.DeliveryRetrying)
	second := rec("d1", 1, t0.Add(time.Minute), store.DeliveryDelivered)

	if err := s.RecordAttempts(ctx, []store.Recorded{first}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Delivery(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != store.DeliveryRetrying || d.Attempts != 1 || d.NextAttemptTime.IsZero() || string(d.Body) != `{"userId":"u1"}` || d.SubscriberAppID != "app_sub" {
		t.Fatalf("after the first attempt: %+v", d)
	}

	// The second attempt, then both again (a batch read twice), then the first alone (out of order).
	for _, batch := range [][]store.Recorded{{second}, {first, second}, {second, first}, {first}} {
		if err := s.RecordAttempts(ctx, batch); err != nil {
			t.Fatal(err)
		}
		d, err = s.Delivery(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != store.DeliveryDelivered || d.Attempts != 2 || d.LastAttempt != 1 || d.LastStatusCode != 200 || !d.NextAttemptTime.IsZero() || !d.LastAttemptTime.Equal(second.Attempt.Time) {
			t.Fatalf("after recording %d attempts again: %+v", len(batch), d)
		}
	}
	atts, err := s.Attempts(ctx, "d1")
	if err != nil || len(atts) != 2 || atts[0].Attempt != 0 || atts[1].Attempt != 1 {
		t.Fatalf("attempts = %+v, %v", atts, err)
	}
	if !d.CreateTime.Equal(t0) {
		t.Fatalf("createTime %v, want the job's %v", d.CreateTime, t0)
	}

	// A redelivery restarts at attempt 0; its attempt is newer, so it decides the status. It
	// comes after an attempt already stored: an unordered bulk goes on past the duplicate.
	again := rec("d1", 0, t0.Add(time.Hour), store.DeliveryFailed)
	if err := s.RecordAttempts(ctx, []store.Recorded{first, again}); err != nil {
		t.Fatal(err)
	}
	if d, _ = s.Delivery(ctx, "d1"); d.Status != store.DeliveryFailed || d.Attempts != 3 {
		t.Fatalf("after a redelivered attempt: %+v", d)
	}
}

func TestMarkPendingYieldsToANewerAttempt(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	if err := s.RecordAttempts(ctx, []store.Recorded{rec("d1", 0, t0, store.DeliveryFailed)}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPending(ctx, "d1", t0); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Delivery(ctx, "d1"); d.Status != store.DeliveryPending {
		t.Fatalf("status %q, want pending", d.Status)
	}
	if err := s.RecordAttempts(ctx, []store.Recorded{rec("d1", 0, t0.Add(time.Second), store.DeliveryDelivered)}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPending(ctx, "d1", t0); err != nil { // a redeliver call that read the delivery before
		t.Fatal(err)
	}
	if d, _ := s.Delivery(ctx, "d1"); d.Status != store.DeliveryDelivered {
		t.Fatalf("status %q: a stale redeliver overwrote a newer attempt", d.Status)
	}
}

func TestListDeliveriesNewestFirstByStatus(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	var batch []store.Recorded
	for i, id := range []string{"dc", "da", "dd", "db"} { // ids out of creation order
		r := rec(id, 0, t0.Add(time.Duration(i)*time.Second), store.DeliveryDelivered)
		r.Delivery.CreateTime = t0.Add(time.Duration(i) * time.Second)
		if i%2 == 1 {
			r.Attempt.Outcome = store.DeliveryFailed
		}
		batch = append(batch, r)
	}
	other := rec("dx", 0, t0, store.DeliveryDelivered)
	other.Attempt.SubscriptionID = "sub_2"
	if err := s.RecordAttempts(ctx, append(batch, other)); err != nil {
		t.Fatal(err)
	}
	page, more, err := s.ListDeliveries(ctx, "sub_1", "", store.Page{Limit: 3})
	if err != nil || !more || len(page) != 3 || page[0].ID != "db" || page[1].ID != "dd" || page[2].ID != "da" || page[0].Body != nil {
		t.Fatalf("page 1 = %+v, %v, %v", page, more, err)
	}
	page, more, err = s.ListDeliveries(ctx, "sub_1", "", store.Page{Limit: 3, After: page[2].ListKey})
	if err != nil || more || len(page) != 1 || page[0].ID != "dc" {
		t.Fatalf("page 2 = %+v, %v, %v", page, more, err)
	}
	failed, _, err := s.ListDeliveries(ctx, "sub_1", store.DeliveryFailed, store.Page{Limit: 10})
	if err != nil || len(failed) != 2 || failed[0].ID != "db" || failed[1].ID != "da" {
		t.Fatalf("failed = %+v, %v", failed, err)
	}
}

func TestSweepDeliveries(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	old := rec("old", 0, t0, store.DeliveryDelivered)
	recent := rec("recent", 0, t0.Add(48*time.Hour), store.DeliveryDelivered)
	if err := s.RecordAttempts(ctx, []store.Recorded{old, recent}); err != nil {
		t.Fatal(err)
	}
	nd, na, err := s.SweepDeliveries(ctx, t0.Add(24*time.Hour))
	if err != nil || nd != 1 || na != 1 {
		t.Fatalf("SweepDeliveries = %d, %d, %v; want 1, 1", nd, na, err)
	}
	if _, err := s.Delivery(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the old delivery: %v, want ErrNotFound", err)
	}
	if atts, _ := s.Attempts(ctx, "old"); len(atts) != 0 {
		t.Fatalf("the old delivery's attempts remain: %+v", atts)
	}
	if _, err := s.Delivery(ctx, "recent"); err != nil {
		t.Fatalf("the recent delivery: %v", err)
	}
}

func TestSubscriberApps(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	if err := s.CreateSubscription(ctx, &store.Subscription{ID: "sub_a", SubscriberAppID: "app_1"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.SubscriberApps(ctx, []string{"sub_a", "sub_missing"})
	if err != nil || len(got) != 1 || got["sub_a"] != "app_1" {
		t.Fatalf("SubscriberApps = %v, %v", got, err)
	}
}
