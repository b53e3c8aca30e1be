package dispatcher

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/testenv"
	"github.com/segmentio/kafka-go"
)

// The recorder writes what many workers submit in shared produce requests, calls every
// record's done exactly once, and when one record cannot be written (a message larger than a
// batch may be) fails that record alone.
func TestRecorderBatchesAndIsolatesAPermanentFailure(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.UniqueName("recorder")
	testenv.CreateTopics(t, brokers, 3, topic)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchBytes: 1 << 20, BatchTimeout: time.Millisecond}
	defer w.Close()
	r := newRecorder(w, 100, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan struct{})
	go func() { defer close(stopped); r.run(ctx) }()

	const n, huge = 300, 137
	var calls [n]atomic.Int32
	var failed []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		value := []byte(fmt.Sprintf("outcome %d", i))
		if i == huge {
			value = bytes.Repeat([]byte("x"), 2<<20)
		}
		wg.Add(1)
		go func() {
			r.submit([]kafka.Message{{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: value}}, func(err error) {
				calls[i].Add(1)
				if err != nil {
					mu.Lock()
					failed = append(failed, i)
					mu.Unlock()
				}
				wg.Done()
			})
		}()
	}
	wg.Wait()
	close(r.in)
	<-stopped

	for i := range n {
		if c := calls[i].Load(); c != 1 {
			t.Errorf("record %d: done called %d times, want once", i, c)
		}
	}
	if len(failed) != 1 || failed[0] != huge {
		t.Fatalf("failed records: %v, want only [%d]", failed, huge)
	}
	if got := testenv.Count(t, brokers, topic); got != n-1 {
		t.Fatalf("%d messages on the topic, want %d", got, n-1)
	}
}

// A record submitted after the recorder's context ended fails instead of hanging: the job
// stays uncommitted and is delivered again.
func TestRecorderFailsOnceStopping(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	r := newRecorder(w, 10, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped := make(chan struct{})
	go func() { defer close(stopped); r.run(ctx) }()
	if err := r.write([]kafka.Message{{Topic: testenv.UniqueName("recorder"), Value: []byte("x")}}); err == nil {
		t.Fatal("a write after the recorder's context ended succeeded")
	}
	close(r.in)
	<-stopped
}
