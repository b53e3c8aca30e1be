package dispatcher

import (
	"cmp"
	"slices"
	"sync"

	"github.com/segmentio/kafka-go"
)

// offsets tracks messages in flight per partition so that commits stay in order although
// jobs finish out of order: a partition's commit point advances only over a prefix of
// finished messages.
type offsets struct {
	mu    sync.Mutex
	parts map[partKey]*partQueue
}

type partKey struct {
	topic     string
	partition int
}

// partQueue is one partition's messages in fetch (so offset) order. msgs[head:] are in
// flight; the finished prefix before head is cleared and reused, not shifted out one message
// at a time: moving up to a thousand messages along on every finish was a copy of tens of KiB
// per delivery.
type partQueue struct {
	msgs []kafka.Message
	done []bool
	head int
}

func newOffsets() *offsets { return &offsets{parts: map[partKey]*partQueue{}} }

// add records a fetched message. A message at or before the last one queued for its
// partition means a rebalance handed the partition back from an earlier commit point: what was
// queued before can no longer be committed by this member and is forgotten.
func (o *offsets) add(m kafka.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := partKey{m.Topic, m.Partition}
	q := o.parts[k]
	if q == nil {
		q = &partQueue{}
		o.parts[k] = q
	}
	n := len(q.msgs)
	switch {
	case n > q.head && m.Offset <= q.msgs[n-1].Offset:
		clear(q.msgs[q.head:])
		q.msgs, q.done, q.head = q.msgs[:0], q.done[:0], 0
	case q.head == n:
		q.msgs, q.done, q.head = q.msgs[:0], q.done[:0], 0
	case n == cap(q.msgs) && q.head >= n/2:
		// Full, and at least half of it finished: move what is in flight to the front rather
		// than growing (a copy of at most as many messages as have finished since the last).
		live := copy(q.msgs, q.msgs[q.head:])
		copy(q.done, q.done[q.head:])
		clear(q.msgs[live:])
		q.msgs, q.done, q.head = q.msgs[:live], q.done[:live], 0
	}
	q.msgs = append(q.msgs, m)
	q.done = append(q.done, false)
}

// finish marks m done and returns the message to commit (the end of the finished prefix), if
// the commit point moved.
func (o *offsets) finish(m kafka.Message) (kafka.Message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.parts[partKey{m.Topic, m.Partition}]
	if q == nil {
		return kafka.Message{}, false
	}
	inFlight := q.msgs[q.head:]
	i, found := slices.BinarySearchFunc(inFlight, m.Offset, func(x kafka.Message, off int64) int { return cmp.Compare(x.Offset, off) })
	if !found {
		return kafka.Message{}, false // forgotten at a rebalance, or never added
	}
	q.done[q.head+i] = true
	n := q.head
	for n < len(q.done) && q.done[n] {
		n++
	}
	if n == q.head {
		return kafka.Message{}, false
	}
	last := q.msgs[n-1]
	clear(q.msgs[q.head:n]) // drop the finished jobs' values now
	q.head = n
	return last, true
}

// pending counts messages in flight.
func (o *offsets) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, q := range o.parts {
		n += len(q.msgs) - q.head
	}
	return n
}
