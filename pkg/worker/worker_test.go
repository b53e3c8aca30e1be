package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/worker"
)

func blockUntilDone(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

func TestRunStopsAllWhenOneFails(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := worker.Run(context.Background(),
		worker.Func("waiter", func(ctx context.Context) error {
			defer close(stopped)
			return blockUntilDone(ctx)
		}),
		worker.Func("failer", func(context.Context) error { return boom }),
	)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "failer") {
		t.Fatalf("Run = %v, want boom named after its worker", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the other worker was still running when Run returned")
	}
}

func TestRunCleanStopOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := worker.Run(ctx, worker.Func("a", blockUntilDone), worker.Func("b", blockUntilDone)); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
}

func TestRunCanceledWithoutCancelIsAnError(t *testing.T) {
	err := worker.Run(context.Background(), worker.Func("liar", func(context.Context) error { return context.Canceled }))
	if err == nil {
		t.Fatal("a worker returning Canceled on its own was taken as a clean stop")
	}
}

func TestFinishingOutlivesTheStopByTheGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	fctx, done := worker.Finishing(ctx, 50*time.Millisecond)
	defer done()
	cancel()
	select {
	case <-fctx.Done():
		t.Fatal("ended with the stop, not after the grace")
	case <-time.After(20 * time.Millisecond):
	}
	select {
	case <-fctx.Done():
	case <-time.After(time.Second):
		t.Fatal("did not end after the grace")
	}
}
