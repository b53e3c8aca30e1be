package dispatcher

import (
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// jobBodyField is the field number of herald.delivery.v1.Job's body.
const jobBodyField protowire.Number = 11

// decodeJob decodes value into job with job.Body pointing into value instead of a copy of it.
// proto.Unmarshal copies bytes fields, and the body is most of a job: it made a second copy of
// every event on the way in, after the one kafka-go makes. A message is a sequence of fields,
// so the fields before the body and those after it are decoded as two messages merged into
// one, which is what decoding the whole does. value must not change while job is in use (the
// fetched message's value, which nothing writes to).
func decodeJob(value []byte, job *deliveryv1.Job) error {
	start, end, body, ok := bodyFieldOf(value)
	if !ok {
		return proto.Unmarshal(value, job) // no body, several, or malformed: the ordinary way
	}
	proto.Reset(job) // as proto.Unmarshal does: the merges below start from an empty job
	merge := proto.UnmarshalOptions{Merge: true}
	if err := merge.Unmarshal(value[:start], job); err != nil {
		return err
	}
	if err := merge.Unmarshal(value[end:], job); err != nil {
		return err
	}
	job.Body = body
	return nil
}

// bodyFieldOf finds the one body field of an encoded Job: where the field starts and ends in
// value, and its contents. ok is false unless there is exactly one and every field parses.
func bodyFieldOf(value []byte) (start, end int, body []byte, ok bool) {
	found := false
	for i := 0; i < len(value); {
		num, typ, n := protowire.ConsumeTag(value[i:])
		if n < 0 {
			return 0, 0, nil, false
		}
		if num == jobBodyField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(value[i+n:])
			if m < 0 || found {
				return 0, 0, nil, false
			}
			found, start, end, body = true, i, i+n+m, v[:len(v):len(v)] // an append must not write into value
			i = end
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, value[i+n:])
		if m < 0 {
			return 0, 0, nil, false
		}
		i += n + m
	}
	return start, end, body, found
}
