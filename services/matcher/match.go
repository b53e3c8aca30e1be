package matcher

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Header names of the input contract (DESIGN.md, "Contracts").
const (
	headerEventType = "eventType"
	headerAppID     = "appId"
)

// Input is one message read from an input topic.
type Input struct {
	// Topic is the logical topic (participant, entity or container), without a prefix.
	Topic     string
	Partition int
	Offset    int64
	Time      time.Time
	Value     []byte
	Headers   map[string]string
}

// Result is what one message turned into.
type Result struct {
	// Jobs share their EventTime and MatchTime messages: change a job's own fields only.
	Jobs []*deliveryv1.Job
	// Invalid, when not empty, is why the message (or part of its matching) failed; the message
	// is quarantined with this reason. Jobs for the parts that did not fail are still made.
	Invalid string
	// Matched counts registered events whose filter passed; Filtered those whose filter did not,
	// plus subscriptions whose own filter did not.
	Matched, Filtered int
}

// Rules for matching that do not depend on the configuration.
type Rules struct {
	// MaxEventBytes bounds the size of a message that is decoded and filtered. Default: 1 MiB.
	MaxEventBytes int
	// ResourceBaseURL prefixes a getApiPath that is a path ("/users/{id}"). Default: "".
	ResourceBaseURL string
}

// Match turns one input message into delivery jobs using idx. It decodes the message once and
// evaluates only the rules of events registered for its (topic, eventType).
func (r Rules) Match(idx *Index, in Input, now time.Time) Result {
	maxBytes := r.MaxEventBytes
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	if len(in.Value) > maxBytes {
		return Result{Invalid: fmt.Sprintf("message is %d bytes, larger than the %d-byte limit", len(in.Value), maxBytes)}
	}
	if t := bytes.TrimLeft(in.Value, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return Result{Invalid: "value is not a JSON object"}
	}
	var body map[string]any
	if err := json.Unmarshal(in.Value, &body); err != nil {
		return Result{Invalid: "value is not valid JSON: " + err.Error()}
	}
	eventType := in.Headers[headerEventType]
	if eventType == "" {
		switch v := body[headerEventType].(type) {
		case string:
			eventType = v
		case nil:
		default:
			return Result{Invalid: fmt.Sprintf("the eventType field is a %T, not a string", v)}
		}
	}
	if eventType == "" {
		return Result{Invalid: "no eventType: neither an eventType header nor a string eventType field"}
	}
	candidates := idx.byType[typeKey{in.Topic, eventType}]
	if len(candidates) == 0 {
		return Result{}
	}
	// The filter data is the body with eventType and the headers reachable by name; fields
	// of the body win over headers of the same name.
	body[headerEventType] = eventType
	for k, v := range in.Headers {
		if _, taken := body[k]; !taken {
			body[k] = v
		}
	}
	publisher := in.Headers[headerAppID]

	var res Result
	var failures []string
	var eventTime, matchTime *timestamppb.Timestamp
	for _, ev := range candidates {
		if publisher != "" && ev.appID != publisher {
			continue
		}
		ok, err := ev.rule.Match(body)
		if err != nil {
			failures = append(failures, fmt.Sprintf("filterLogic of event %s (%s) failed: %v", ev.name, ev.id, err))
			continue
		}
		if !ok {
			res.Filtered++
			continue
		}
		res.Matched++
		resource := r.resourceURL(ev.apiPath, body)
		if eventTime == nil {
			// One of each for all of the event's jobs: a job is marshalled, never changed.
			eventTime, matchTime = timestamppb.New(in.Time), timestamppb.New(now)
		}
		for _, sub := range ev.subs {
			ok, err := sub.rule.Match(body)
			if err != nil {
				failures = append(failures, fmt.Sprintf("filterLogic of subscription %s failed: %v", sub.id, err))
				continue
			}
			if !ok {
				res.Filtered++
				continue
			}
			res.Jobs = append(res.Jobs, &deliveryv1.Job{
				DeliveryId:     DeliveryID(in.Topic, in.Partition, in.Offset, sub.id),
				SubscriptionId: sub.id,
				AppId:          ev.appID,
				EventId:        ev.id,
				EventName:      ev.name,
				EventType:      eventType,
				Topic:          in.Topic,
				Partition:      int32(in.Partition),
				Offset:         in.Offset,
				EventTime:      eventTime,
				Body:           in.Value,
				ResourceUrl:    resource,
				MatchTime:      matchTime,
				ConfigVersion:  idx.Version,
			})
		}
	}
	res.Invalid = strings.Join(failures, "; ")
	return res
}

// DeliveryID derives a delivery's id from where its input sits in Kafka and who it is for, so
// reading the same input again yields the same id: "msg_" and the first 16 bytes, in hex, of
// the SHA-256 of topic, partition, offset and subscription id joined by NUL bytes. The format
// is part of the delivery's identity (webhook-id): it must never change.
func DeliveryID(topic string, partition int, offset int64, subscriptionID string) string {
	var in [128]byte
	b := append(in[:0], topic...)
	b = strconv.AppendInt(append(b, 0), int64(partition), 10)
	b = strconv.AppendInt(append(b, 0), offset, 10)
	b = append(append(b, 0), subscriptionID...)
	sum := sha256.Sum256(b)
	var id [4 + 32]byte
	copy(id[:], "msg_")
	hex.Encode(id[4:], sum[:16])
	return string(id[:])
}

var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_.]*)\}`)

// resourceURL fills getApiPath's {placeholders} with the event's values (dotted paths reach
// into objects). A placeholder with no value stays as it is, visibly unfilled.
func (r Rules) resourceURL(apiPath string, data map[string]any) string {
	if apiPath == "" {
		return ""
	}
	out := placeholder.ReplaceAllStringFunc(apiPath, func(m string) string {
		v, ok := lookup(data, m[1:len(m)-1])
		if !ok {
			return m
		}
		return url.PathEscape(v)
	})
	if strings.HasPrefix(out, "/") {
		return strings.TrimSuffix(r.ResourceBaseURL, "/") + out
	}
	return out
}

// lookup reads a dotted path of scalars from decoded JSON.
func lookup(data map[string]any, path string) (string, bool) {
	var cur any = data
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, v != ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}
