package dispatcher

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

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

// cloudEvent is the CloudEvents 1.0 structured-mode envelope.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	// ResourceURL is an extension attribute: where the subscriber reads the resource.
	ResourceURL string `json:"resourceurl,omitempty"`
}

// payload builds the request body and its content type for the subscription's payload option.
func payload(job *deliveryv1.Job, format string) (body []byte, contentType string) {
	switch format {
	case "raw":
		return job.GetBody(), "application/json"
	case "thin":
		b, _ := json.Marshal(struct {
			ID          string `json:"id"`
			ResourceURL string `json:"resource_url"`
		}{job.GetDeliveryId(), job.GetResourceUrl()})
		return b, "application/json"
	}
	ev := cloudEvent{
		SpecVersion: "1.0", ID: job.GetDeliveryId(),
		Source: "/herald/publishers/" + job.GetAppId() + "/topics/" + job.GetTopic(),
		Type:   job.GetEventName(), Subject: job.GetResourceUrl(), ResourceURL: job.GetResourceUrl(),
		DataContentType: "application/json", Data: job.GetBody(),
	}
	if t := job.GetEventTime(); t != nil && t.IsValid() && !t.AsTime().IsZero() {
		ev.Time = t.AsTime().UTC().Format(time.RFC3339Nano)
	}
	if !json.Valid(ev.Data) { // the matcher only passes JSON objects; stay valid regardless
		ev.Data, _ = json.Marshal(string(job.GetBody()))
	}
	b, _ := json.Marshal(ev)
	return b, "application/cloudevents+json"
}

// sign sets the Standard Webhooks headers (always), X-Hub-Signature-256 and the static
// verification key (per subscription) and the event-name header.
func sign(h http.Header, sub *subscription, job *deliveryv1.Job, body []byte, now time.Time) {
	signer := signature.NewSigner(sub.keys(now)...)
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
