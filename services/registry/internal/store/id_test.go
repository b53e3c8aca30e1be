package store_test

import (
	"testing"

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
