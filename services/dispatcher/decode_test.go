package dispatcher

import (
	"bytes"
	"testing"
	"time"

	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func fullJob() *deliveryv1.Job {
	return &deliveryv1.Job{
		DeliveryId: "msg_1", SubscriptionId: "sub_1", AppId: "app", EventId: "ev", EventName: "thing",
		EventType: "thingChanged", Topic: "entity", Partition: 3, Offset: 99,
		EventTime: timestamppb.New(time.Unix(1700000000, 5)), Body: []byte(`{"a":1}`),
		ResourceUrl: "https://h/things/1", Attempt: 2, Replay: true, MatchTime: timestamppb.New(time.Unix(1700000001, 0)),
		NotBefore: timestamppb.New(time.Unix(1700000002, 0)), LastError: "500", ConfigVersion: 7,
	}
}

// TestDecodeJobAsUnmarshal decodes every kind of encoded job as proto.Unmarshal does, and
// points the body into the value rather than copying it.
func TestDecodeJobAsUnmarshal(t *testing.T) {
	whole, _ := proto.Marshal(fullJob())
	noBody := fullJob()
	noBody.Body = nil
	withoutBody, _ := proto.Marshal(noBody)
	emptyBody := protowire.AppendBytes(protowire.AppendTag(bytes.Clone(withoutBody), jobBodyField, protowire.BytesType), nil)
	twice := append(bytes.Clone(whole), whole...) // two bodies: the last one wins
	unknown := protowire.AppendVarint(protowire.AppendTag(bytes.Clone(whole), 99, protowire.VarintType), 5)
	bodyFirst := append(protowire.AppendBytes(protowire.AppendTag(nil, jobBodyField, protowire.BytesType), []byte(`{"first":true}`)), withoutBody...)
	for name, value := range map[string][]byte{
		"whole": whole, "no body": withoutBody, "empty body": emptyBody, "two bodies": twice,
		"unknown field": unknown, "body first": bodyFirst, "empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			want, got := &deliveryv1.Job{}, &deliveryv1.Job{}
			if err := proto.Unmarshal(value, want); err != nil {
				t.Fatal(err)
			}
			if err := decodeJob(value, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("decoded\n%v\nwant\n%v", got, want)
			}
		})
	}
	job := &deliveryv1.Job{}
	if err := decodeJob(whole, job); err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(whole, []byte(`{"a":1}`))
	if &job.Body[0] != &whole[i] || cap(job.Body) != len(job.Body) {
		t.Fatal("the body was copied, or may be appended to over the rest of the value")
	}
}

// TestDecodeJobRejectsWhatUnmarshalRejects: a malformed value is an error either way, so a
// broken job still goes to herald.dead.
func TestDecodeJobRejectsWhatUnmarshalRejects(t *testing.T) {
	whole, _ := proto.Marshal(fullJob())
	for name, value := range map[string][]byte{
		"truncated in the body": whole[:bytes.Index(whole, []byte(`{"a":1}`))+3],
		"truncated after":       whole[:len(whole)-1],
		"a bad tag":             append(bytes.Clone(whole), 0xff),
		"not protobuf":          []byte(`{"deliveryId":"x"}`),
		"a string not UTF-8":    protowire.AppendBytes(protowire.AppendTag(bytes.Clone(whole), 1, protowire.BytesType), []byte{0xff, 0xfe}),
	} {
		t.Run(name, func(t *testing.T) {
			wantErr := proto.Unmarshal(value, &deliveryv1.Job{}) != nil
			gotErr := decodeJob(value, &deliveryv1.Job{}) != nil
			if !wantErr || !gotErr {
				t.Fatalf("proto.Unmarshal failed: %v, decodeJob failed: %v; want both", wantErr, gotErr)
			}
		})
	}
}

func FuzzDecodeJob(f *testing.F) {
	whole, _ := proto.Marshal(fullJob())
	f.Add(whole)
	f.Add(append(bytes.Clone(whole), whole...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, value []byte) {
		want, got := &deliveryv1.Job{}, &deliveryv1.Job{}
		wantErr, gotErr := proto.Unmarshal(value, want), decodeJob(value, got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("proto.Unmarshal: %v, decodeJob: %v", wantErr, gotErr)
		}
		if wantErr == nil && !proto.Equal(got, want) {
			t.Fatalf("decoded\n%v\nwant\n%v", got, want)
		}
	})
}

func BenchmarkDecodeJob(b *testing.B) {
	job := fullJob()
	job.Body = bytes.Repeat([]byte("x"), 1024)
	value, _ := proto.Marshal(job)
	b.Run("proto.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := proto.Unmarshal(value, &deliveryv1.Job{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeJob", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := decodeJob(value, &deliveryv1.Job{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
