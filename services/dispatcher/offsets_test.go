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
// a queue that fills, drains and wraps, against a model: after every finish the commit point is
// exactly the end of the longest finished prefix of what was added (never beyond an unfinished
// message, never short of it).
func TestOffsetsCommitOnlyFinishedPrefixes(t *testing.T) {
	o := newOffsets()
	rng := rand.New(rand.NewPCG(1, 2))
	next, committed := int64(0), int64(-1)
	var added []int64            // in order
	finished := map[int64]bool{} // of added
	var unfinished []int64
	expected := func() int64 { // the end of the longest finished prefix, or -1
		end := int64(-1)
		for _, off := range added {
			if !finished[off] {
				break
			}
			end = off
		}
		return end
	}
	for round := range 200 {
		for range rng.IntN(50) {
			o.add(msgAt(0, next))
			added = append(added, next)
			unfinished = append(unfinished, next)
			next += 1 + int64(rng.IntN(3)) // offsets need not be contiguous (compaction, markers)
		}
		rng.Shuffle(len(unfinished), func(i, j int) { unfinished[i], unfinished[j] = unfinished[j], unfinished[i] })
		k := rng.IntN(len(unfinished) + 1)
		for _, off := range unfinished[:k] {
			finished[off] = true
			if m, ok := o.finish(msgAt(0, off)); ok {
				if m.Offset <= committed {
					t.Fatalf("round %d: the commit point went back from %d to %d", round, committed, m.Offset)
				}
				committed = m.Offset
			}
			if want := expected(); committed != want {
				t.Fatalf("round %d: commit point %d, want %d", round, committed, want)
			}
		}
		unfinished = unfinished[k:]
		if got := o.pending(); got < len(unfinished) {
			t.Fatalf("round %d: %d pending, %d unfinished", round, got, len(unfinished))
		}
	}
	// Finish the rest: everything is committed.
	for _, off := range unfinished {
		if m, ok := o.finish(msgAt(0, off)); ok {
			committed = m.Offset
		}
	}
	if o.pending() != 0 || len(added) == 0 || committed != added[len(added)-1] {
		t.Fatalf("%d pending, committed %d, last added %v", o.pending(), committed, added[len(added)-1:])
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
