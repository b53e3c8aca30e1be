package kafkabatch_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/kafkabatch"
	"github.com/segmentio/kafka-go"
)

// feed hands out n messages, then blocks until the context ends.
type feed struct {
	mu   sync.Mutex
	next int64
	n    int64
}

func (f *feed) FetchMessage(ctx context.Context) (kafka.Message, error) {
	f.mu.Lock()
	if f.next < f.n {
		m := kafka.Message{Offset: f.next}
		f.next++
		f.mu.Unlock()
		return m, nil
	}
	f.mu.Unlock()
	<-ctx.Done()
	return kafka.Message{}, ctx.Err()
}

func TestBatchesAreBoundedInOrderAndComplete(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []int64
	sizes := map[int]bool{}
	err := kafkabatch.Run(ctx, &feed{n: 1000}, 64, time.Second, nil, func(_ context.Context, b []kafka.Message) error {
		if len(b) == 0 || len(b) > 64 {
			t.Errorf("batch of %d", len(b))
		}
		sizes[len(b)] = true
		for _, m := range b {
			got = append(got, m.Offset)
		}
		if len(got) == 1000 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	for i, o := range got {
		if o != int64(i) {
			t.Fatalf("message %d has offset %d: out of order or lost", i, o)
		}
	}
}

func TestHandlerErrorStopsRun(t *testing.T) {
	boom := errors.New("boom")
	err := kafkabatch.Run(context.Background(), &feed{n: 10}, 4, time.Second, nil, func(context.Context, []kafka.Message) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
}

func TestTheBatchInFlightOutlivesTheStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan bool, 1)
	_ = kafkabatch.Run(ctx, &feed{n: 1}, 4, 200*time.Millisecond, nil, func(hctx context.Context, _ []kafka.Message) error {
		cancel() // a stop arrives while the batch is being handled
		select {
		case <-hctx.Done():
			finished <- false
		case <-time.After(50 * time.Millisecond):
			finished <- true
		}
		return nil
	})
	if !<-finished {
		t.Fatal("the handler's context ended with the stop, before the grace period")
	}
}

// flaky fails the first write of each message once, reporting which failed.
type flaky struct {
	mu      sync.Mutex
	seen    map[string]bool
	written []string
	calls   int
}

func (f *flaky) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	werrs := make(kafka.WriteErrors, len(msgs))
	failed := false
	for i, m := range msgs {
		k := string(m.Key)
		if !f.seen[k] && i%2 == 0 { // every other message fails its first time
			f.seen[k] = true
			werrs[i] = errors.New("transient")
			failed = true
			continue
		}
		f.written = append(f.written, k)
	}
	if failed {
		return werrs
	}
	return nil
}

func TestWriteAllRetriesOnlyWhatFailed(t *testing.T) {
	f := &flaky{seen: map[string]bool{}}
	msgs := []kafka.Message{{Key: []byte("a")}, {Key: []byte("b")}, {Key: []byte("c")}, {Key: []byte("d")}}
	retries := 0
	if err := kafkabatch.WriteAll(context.Background(), f, msgs, func(error, int, time.Duration) { retries++ }); err != nil {
		t.Fatal(err)
	}
	if len(f.written) != 4 || retries == 0 {
		t.Fatalf("written %v after %d retries; want each of a, b, c, d once", f.written, retries)
	}
	seen := map[string]int{}
	for _, k := range f.written {
		seen[k]++
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		if seen[k] != 1 {
			t.Fatalf("%s written %d times", k, seen[k])
		}
	}
}

// blip fails its first fetch, then hands out one message.
type blip struct {
	mu    sync.Mutex
	calls int
}

func (b *blip) FetchMessage(ctx context.Context) (kafka.Message, error) {
	b.mu.Lock()
	b.calls++
	n := b.calls
	b.mu.Unlock()
	switch n {
	case 1:
		return kafka.Message{}, errors.New("broker restarting")
	case 2:
		return kafka.Message{Offset: 7}, nil
	}
	<-ctx.Done()
	return kafka.Message{}, ctx.Err()
}

func TestAFetchErrorIsRiddenOut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got int64 = -1
	err := kafkabatch.Run(ctx, &blip{}, 4, time.Second, nil, func(_ context.Context, b []kafka.Message) error {
		got = b[0].Offset
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || got != 7 {
		t.Fatalf("Run = %v, handled offset %d; want the message after the failed fetch", err, got)
	}
}

type tooSmall struct{ calls int }

func (w *tooSmall) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	w.calls++
	return kafka.MessageTooLargeError{Message: msgs[0]}
}

func TestWriteAllDoesNotRetryATooLargeMessage(t *testing.T) {
	w := &tooSmall{}
	err := kafkabatch.WriteAll(context.Background(), w, []kafka.Message{{Value: make([]byte, 10)}}, nil)
	if err == nil || w.calls != 1 {
		t.Fatalf("WriteAll = %v after %d writes; want an error after one", err, w.calls)
	}
}
