package dispatcher

import (
	"math/rand/v2"
	"testing"

	"github.com/segmentio/kafka-go"
)

func msgAt(partition int, offset int64) kafka.Message {
	return kafka.Message{Topic: "herald.deliveries", Partition: partition, Offset: offset, Value: []byte("job")}
}

// TestOffsetsCommitOnlyFinishedPrefixes finishes messages in a random order, many times over
// a queue that fills, drains and wraps: the commit point is always the end of the longest
// finished prefix, never beyond an unfinished message.
func TestOffsetsCommitOnlyFinishedPrefixes(t *testing.T) {
	o := newOffsets()
	rng := rand.New(rand.NewPCG(1, 2))
	next, committed := int64(0), int64(-1)
	var inFlight []int64
	for round := range 200 {
		for range rng.IntN(50) {
			o.add(msgAt(0, next))
			inFlight = append(inFlight, next)
			next += 1 + int64(rng.IntN(3)) // offsets need not be contiguous (compaction, markers)
		}
		rng.Shuffle(len(inFlight), func(i, j int) { inFlight[i], inFlight[j] = inFlight[j], inFlight[i] })
		k := rng.IntN(len(inFlight) + 1)
		for _, off := range inFlight[:k] {
			m, ok := o.finish(msgAt(0, off))
			if ok {
				if m.Offset <= committed {
					t.Fatalf("round %d: the commit point went back from %d to %d", round, committed, m.Offset)
				}
				committed = m.Offset
			}
		}
		inFlight = inFlight[k:]
		for _, off := range inFlight {
			if off <= committed {
				t.Fatalf("round %d: committed %d past unfinished %d", round, committed, off)
			}
		}
		if got := o.pending(); got < len(inFlight) {
			t.Fatalf("round %d: %d pending, %d unfinished", round, got, len(inFlight))
		}
	}
	// Finish the rest: everything is committed.
	for _, off := range inFlight {
		if m, ok := o.finish(msgAt(0, off)); ok {
			committed = m.Offset
		}
	}
	if o.pending() != 0 || (next > 0 && committed < 0) {
		t.Fatalf("%d pending, committed %d of %d", o.pending(), committed, next)
	}
}

func TestOffsetsRebalanceForgetsQueued(t *testing.T) {
	o := newOffsets()
	for off := range int64(5) {
		o.add(msgAt(1, off))
	}
	o.add(msgAt(1, 2)) // handed back from offset 2: 0..4 can no longer be committed here
	if _, ok := o.finish(msgAt(1, 0)); ok {
		t.Fatal("a message forgotten at the rebalance moved the commit point")
	}
	if o.pending() != 1 {
		t.Fatalf("%d pending, want 1", o.pending())
	}
	if m, ok := o.finish(msgAt(1, 2)); !ok || m.Offset != 2 {
		t.Fatalf("finish after the rebalance: %v %v", m.Offset, ok)
	}
	if _, ok := o.finish(msgAt(7, 0)); ok {
		t.Fatal("a partition never seen moved a commit point")
	}
}

// TestOffsetsDropFinishedValues: a finished message's value is not kept until the queue
// wraps (each holds a job of about a KiB).
func TestOffsetsDropFinishedValues(t *testing.T) {
	o := newOffsets()
	for off := range int64(4) {
		o.add(msgAt(0, off))
	}
	o.finish(msgAt(0, 0))
	o.finish(msgAt(0, 1))
	q := o.parts[partKey{"herald.deliveries", 0}]
	for i, m := range q.msgs[:q.head] {
		if m.Value != nil {
			t.Fatalf("finished message %d still holds its value", i)
		}
	}
}

func BenchmarkOffsets(b *testing.B) {
	o := newOffsets()
	const window = 1024 // maxPending at the default in-flight bound
	for off := range int64(window) {
		o.add(msgAt(0, off))
	}
	next := int64(window)
	b.ReportAllocs()
	for b.Loop() {
		o.finish(msgAt(0, next-window))
		o.add(msgAt(0, next))
		next++
	}
}
