package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/testenv"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMaxPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	db := client.Database(testenv.UniqueName("store_"))
	t.Cleanup(func() {
		_ = db.Drop(context.Background())
		_ = client.Disconnect(context.Background())
	})
	s := store.New(db)
	if err := s.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOptimisticConcurrency(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	app := &store.App{ID: store.NewID("app_"), Name: "a", KeyHash: "h1", CreatedAt: time.Now()}
	if err := s.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	first, _ := s.App(ctx, app.ID)
	second, _ := s.App(ctx, app.ID)
	first.Name = "first"
	if err := s.UpdateApp(ctx, first); err != nil {
		t.Fatal(err)
	}
	second.Name = "second"
	if err := s.UpdateApp(ctx, second); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a stale update = %v, want ErrConflict", err)
	}
	got, _ := s.App(ctx, app.ID)
	if got.Name != "first" || got.Version != 1 {
		t.Fatalf("after the race: %+v", got)
	}
	gone := &store.App{ID: "app_gone", Version: 3}
	if err := s.UpdateApp(ctx, gone); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("updating a missing app = %v, want ErrNotFound", err)
	}
}

func TestUniqueIndexesAndChangeLog(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	ev := func(name string) *store.Event {
		return &store.Event{ID: store.NewID("evt_"), AppID: "app_1", Topic: "entity", Name: name, EventType: "t"}
	}
	if err := s.CreateEvent(ctx, ev("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEvent(ctx, ev("a")); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("a second event named a = %v, want ErrDuplicate", err)
	}
	if err := s.CreateApp(ctx, &store.App{ID: "app_x", KeyHash: "same"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApp(ctx, &store.App{ID: "app_y", KeyHash: "same"}); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("two apps with one key hash = %v, want ErrDuplicate", err)
	}
	last, err := s.LastChange(ctx)
	if err != nil || last != 2 {
		t.Fatalf("LastChange = %d, %v; want 2 (the refused writes record nothing)", last, err)
	}
	changes, err := s.ChangesAfter(ctx, 0, 10)
	if err != nil || len(changes) != 2 || changes[0].Kind != store.KindEvent || changes[1].Kind != store.KindApp {
		t.Fatalf("changes = %+v, %v", changes, err)
	}
	if n, err := s.SweepChanges(ctx, time.Now().Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("SweepChanges = %d, %v", n, err)
	}
}
