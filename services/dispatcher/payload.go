package dispatcher

import (
	"bytes"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/pkg/signature"
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
)

// Headers Herald sends besides the Standard Webhooks ones.
const (
	HeaderEvent           = "X-Herald-Event"
	HeaderVerificationKey = "X-Herald-Webhook-Key"
	userAgent             = "Herald-Webhooks/1"
)

func parseSecret(b []byte) ([]byte, error) { return signature.ParseSecret(string(b)) }

// payload builds the request body and its content type for the subscription's payload option.
// The CloudEvents 1.0 structured-mode envelope is written directly rather than through
// encoding/json: the event body is already a JSON object (the matcher decoded it), so it goes
// in verbatim instead of being validated and compacted again on every delivery.
func payload(job *deliveryv1.Job, format string) (body []byte, contentType string) {
	switch format {
	case "raw":
		return job.GetBody(), "application/json"
	case "thin":
		b := make([]byte, 0, 64+len(job.GetDeliveryId())+len(job.GetResourceUrl()))
		b = append(b, `{"id":`...)
		b = appendJSONString(b, job.GetDeliveryId())
		b = append(b, `,"resource_url":`...)
		b = appendJSONString(b, job.GetResourceUrl())
		return append(b, '}'), "application/json"
	}
	data := job.GetBody()
	if t := bytes.TrimSpace(data); len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		data = appendJSONString(nil, string(data)) // never produced by the matcher; stay valid JSON
	}
	b := make([]byte, 0, 256+len(data))
	b = append(b, `{"specversion":"1.0","id":`...)
	b = appendJSONString(b, job.GetDeliveryId())
	b = append(b, `,"source":`...)
	b = appendJSONString(b, "/herald/publishers/"+job.GetAppId()+"/topics/"+job.GetTopic())
	b = append(b, `,"type":`...)
	b = appendJSONString(b, job.GetEventName())
	if u := job.GetResourceUrl(); u != "" {
		b = append(b, `,"subject":`...)
		b = appendJSONString(b, u)
		b = append(b, `,"resourceurl":`...)
		b = appendJSONString(b, u)
	}
	if t := job.GetEventTime(); t != nil && t.IsValid() && !t.AsTime().IsZero() {
		b = append(b, `,"time":"`...)
		b = t.AsTime().UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"datacontenttype":"application/json","data":`...)
	b = append(b, data...)
	return append(b, '}'), "application/cloudevents+json"
}

// appendJSONString appends s as a JSON string: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// sign sets the Standard Webhooks headers (always), X-Hub-Signature-256 and the static
// verification key (per subscription) and the event-name header.
func sign(h http.Header, sub *subscription, job *deliveryv1.Job, body []byte, now time.Time) {
	signer, release := sub.signer(now)
	defer release()
	h.Set(signature.HeaderID, job.GetDeliveryId())
	h.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(signature.HeaderSignature, signer.StandardWebhooks(job.GetDeliveryId(), now, body))
	if sub.options.GetHubSignature() {
		h.Set(signature.HeaderHub, signer.Hub(body))
	}
	if k := sub.options.GetVerificationKey(); k != "" {
		h.Set(HeaderVerificationKey, k)
	}
	h.Set(HeaderEvent, job.GetEventName())
	h.Set("User-Agent", userAgent)
}
