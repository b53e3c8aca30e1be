package dispatcher

import (
	"bytes"
	"net/http"
	"net/textproto"
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
	// Sized for the whole envelope (unless names need escaping): growing a buffer that already
	// held the event copied it again and doubled what was allocated per delivery.
	size := len(data) + len(envelopeText) + len(job.GetDeliveryId()) + len(job.GetAppId()) + len(job.GetTopic()) +
		len(job.GetEventName()) + 2*len(job.GetResourceUrl()) + len(time.RFC3339Nano) + 16
	b := make([]byte, 0, size)
	b = append(b, `{"specversion":"1.0","id":`...)
	b = appendJSONString(b, job.GetDeliveryId())
	b = append(b, `,"source":"/herald/publishers/`...)
	b = appendJSONChars(b, job.GetAppId())
	b = append(b, `/topics/`...)
	b = appendJSONChars(b, job.GetTopic())
	b = append(b, `","type":`...)
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

// envelopeText is every constant part of the CloudEvents envelope, for sizing its buffer.
const envelopeText = `{"specversion":"1.0","id":"","source":"/herald/publishers//topics/","type":""` +
	`,"subject":"","resourceurl":"","time":"","datacontenttype":"application/json","data":}`

// appendJSONString appends s as a JSON string: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	return append(appendJSONChars(append(b, '"'), s), '"')
}

// appendJSONChars appends s escaped as the inside of a JSON string, without the quotes.
func appendJSONChars(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
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
	return b
}

// Canonical forms of the header names, computed once: http.Header.Set would canonicalize (and
// allocate) the lower-case Standard Webhooks names on every request.
var (
	keyContentType = textproto.CanonicalMIMEHeaderKey("Content-Type")
	keyID          = textproto.CanonicalMIMEHeaderKey(signature.HeaderID)
	keyTimestamp   = textproto.CanonicalMIMEHeaderKey(signature.HeaderTimestamp)
	keySignature   = textproto.CanonicalMIMEHeaderKey(signature.HeaderSignature)
	keyHub         = textproto.CanonicalMIMEHeaderKey(signature.HeaderHub)
	keyStaticKey   = textproto.CanonicalMIMEHeaderKey(HeaderVerificationKey)
	keyEvent       = textproto.CanonicalMIMEHeaderKey(HeaderEvent)
	keyUserAgent   = textproto.CanonicalMIMEHeaderKey("User-Agent")
)

// signedHeaders returns the request headers: the content type, the Standard Webhooks headers
// (always), X-Hub-Signature-256 and the static verification key (per subscription), the event
// name and the user agent. Every value shares one backing array.
func signedHeaders(sub *subscription, job *deliveryv1.Job, contentType string, body []byte, now time.Time) http.Header {
	signer, release := sub.signer(now)
	defer release()
	h := make(http.Header, 8)
	vals := make([]string, 0, 8)
	set := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set(keyContentType, contentType)
	set(keyID, job.GetDeliveryId())
	set(keyTimestamp, strconv.FormatInt(now.Unix(), 10))
	set(keySignature, signer.StandardWebhooks(job.GetDeliveryId(), now, body))
	if sub.options.GetHubSignature() {
		set(keyHub, signer.Hub(body))
	}
	if k := sub.options.GetVerificationKey(); k != "" {
		set(keyStaticKey, k)
	}
	set(keyEvent, job.GetEventName())
	set(keyUserAgent, userAgent)
	return h
}
