package registry

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"google.golang.org/protobuf/proto"
)

// requestTypes are the messages the JSON routes decode bodies into.
var requestTypes = []proto.Message{
	&registryv1.CreateAppRequest{}, &registryv1.UpdateAppRequest{}, &registryv1.CreateAppConfigRequest{},
	&registryv1.RegisterEventsRequest{}, &registryv1.UpdatePublisherEventsRequest{}, &registryv1.BulkDeleteEventsRequest{},
	&registryv1.RemoveEventsRequest{}, &registryv1.CreateSubscriptionRequest{}, &registryv1.UpdateSubscriptionRequest{},
	&registryv1.RotateSubscriptionSecretRequest{}, &registryv1.ReplaySubscriptionRequest{},
}

// FuzzDecodeBody feeds arbitrary bodies to every request decoder and the validation that runs
// before any store access: nothing panics, and every rejection is a 400 that the API maps to a
// message (never an internal error).
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","permissions":["x"]}`, `{"events":[{"name":"e","eventType":"t","filterLogic":{"===":["$eventType","t"]}}]}`,
		`{"permissions":{"values":["a"]}}`, `{"url":"https://x.example/h","options":{"retrySchedule":["1m"]}}`,
		`{"from":"2026-01-01T00:00:00Z"}`, `{"name":`, `[]`, `null`, `{"events":[{"filterLogic":{"and":[{"===":[1]}]}}]}`,
		"{\"name\":\"\\ud800\"}", `{"overlapSeconds":-1}`, `{"limit":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, typ := range requestTypes {
			m := typ.ProtoReflect().New().Interface()
			err := decodeBody(httptest.NewRequest("POST", "/", bytes.NewReader(body)), m)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || httpStatus(err) != 400 || e.Message == "" {
					t.Fatalf("%T: %q → %v (status %d), want a 400 with a message", m, body, err, httpStatus(err))
				}
				continue
			}
			// The checks the API makes before touching the store must not panic either.
			switch r := m.(type) {
			case *registryv1.RegisterEventsRequest:
				_ = checkAPIPath("getApiPath", r.GetGetApiPath())
				for _, e := range r.GetEvents() {
					_, _ = compileFilter("filterLogic", e.GetFilterLogic())
					_ = checkName("name", e.GetName())
				}
			case *registryv1.CreateSubscriptionRequest:
				_ = checkWebhookURL("url", r.GetUrl())
				_, _ = compileFilter("filterLogic", r.GetFilterLogic())
				if r.GetOptions() != nil {
					_ = checkOptions("options", r.GetOptions())
				}
			case *registryv1.CreateAppRequest:
				_, _ = cleanPermissions("permissions", r.GetPermissions(), false)
			}
		}
	})
}
