package dispatcher

import (
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

type partQueue struct {
	msgs []kafka.Message
	done []bool
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
	if n := len(q.msgs); n > 0 && m.Offset <= q.msgs[n-1].Offset {
		q.msgs, q.done = q.msgs[:0], q.done[:0]
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
	for i := range q.msgs {
		if q.msgs[i].Offset == m.Offset {
			q.done[i] = true
			break
		}
	}
	n := 0
	for n < len(q.done) && q.done[n] {
		n++
	}
	if n == 0 {
		return kafka.Message{}, false
	}
	last := q.msgs[n-1]
	q.msgs = append(q.msgs[:0], q.msgs[n:]...)
	q.done = append(q.done[:0], q.done[n:]...)
	return last, true
}

// pending counts messages in flight.
func (o *offsets) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, q := range o.parts {
		n += len(q.msgs)
	}
	return n
}
