package store_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/services/registry/internal/store"
)

func TestNewIDSortsByCreation(t *testing.T) {
	prev := store.NewID("x_")
	for range 10000 { // many fall in one millisecond
		id := store.NewID("x_")
		if id <= prev || len(id) != len(prev) {
			t.Fatalf("%s came after %s", id, prev)
		}
		prev = id
	}
}

func TestListKeyOrdersByCreation(t *testing.T) {
	t1 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{time.Millisecond, time.Hour, 24 * 365 * time.Hour} {
		if a, b := store.ListKey("msg_z", t1), store.ListKey("msg_a", t1.Add(d)); a >= b {
			t.Errorf("%s sorts after %s, made %v later", a, b, d)
		}
	}
	if store.AttemptID("msg_1", 1, t1) == store.AttemptID("msg_1", 1, t1.Add(time.Nanosecond)) {
		t.Error("two tries of an attempt number share an id")
	}
}
