package registry

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
)

func TestDecodeBodyNamesTheField(t *testing.T) {
	cases := []struct {
		body, field, part string
		msg               func() any
	}{
		{`{"name":"a","bogus":1}`, "bogus", "not a field", nil},
		{`{"name":123}`, "name", "wrong type", nil},
		{`{"permissions":"get users"}`, "permissions", "wrong type", nil},
		{`{"permissions":["a", 7]}`, "permissions[1]", "wrong type", nil},
		{"{\n  \"name\": \"x\",\n  \"permissions\": {\"a\": 1}\n}", "permissions", "wrong type", nil},
		{`{"name":`, "", "not valid JSON", nil},
		{`[1,2]`, "", "", nil},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/v1/apps", strings.NewReader(c.body))
		err := decodeBody(r, &registryv1.CreateAppRequest{})
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want invalid", c.body, err)
			continue
		}
		if e.Field != c.field || !strings.Contains(e.Message, c.part) {
			t.Errorf("%s: field %q message %q; want field %q containing %q", c.body, e.Field, e.Message, c.field, c.part)
		}
	}
}

func TestDecodeBodyNestedFieldUsesJSONName(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"getApiPath":"/x","events":[{"name":"a","eventType":7}]}`))
	err := decodeBody(r, &registryv1.RegisterEventsRequest{})
	var e *Error
	if !errors.As(err, &e) || e.Field != "events[0].eventType" {
		t.Fatalf("err = %v (field %q), want field events[0].eventType", err, e.Field)
	}
}

func TestDecodeBodyRejectsHugeBodies(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"name":"`+strings.Repeat("a", maxBodyBytes)+`"}`))
	err := decodeBody(r, &registryv1.CreateAppRequest{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("err = %v", err)
	}
}

func TestHTTPStatusAndGRPCCodeCoverEveryKind(t *testing.T) {
	for _, k := range []error{ErrInvalid, ErrUnauthenticated, ErrForbidden, ErrNotFound, ErrConflict, ErrUnavailable} {
		if httpStatus(&Error{Kind: k}) == 500 {
			t.Errorf("%v maps to HTTP 500", k)
		}
		if grpcCode(k).String() == "Internal" {
			t.Errorf("%v maps to gRPC Internal", k)
		}
		if (&Error{Kind: k}).code() == "internal" {
			t.Errorf("%v has no code", k)
		}
	}
}

// TestUnroutedRequestsGetJSONErrors: a path with no route is a JSON 404 and a path served for
// other methods a JSON 405 with Allow, in the API's error shape; routed requests pass through.
func TestUnroutedRequestsGetJSONErrors(t *testing.T) {
	h := &handler{api: &API{adminToken: "adm_unrouted_test_token_0123456789"}, log: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	h.routes(mux)
	srv := httptest.NewServer(h.unrouted(mux))
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/v1/nope", http.StatusNotFound, "not_found", ""},
		{"DELETE", "/v1/apps", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, POST"},
		{"PUT", "/v1/subscriptions/sub_1", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, POST, PATCH, DELETE"}, // POST: its :actions
		{"GET", "/v1/apps", http.StatusUnauthorized, "unauthenticated", ""},                                                     // routed: its own answer
		{"POST", "/v1/subscriptions/sub_1:nope", http.StatusNotFound, "not_found", ""},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		decodeErr := json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != c.status || decodeErr != nil || body.Error.Code != c.code || body.Error.Message == "" ||
			res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %q allow %q (%v), want %d %s allow %q", c.method, c.path, res.StatusCode, body.Error.Code,
				res.Header.Get("Allow"), decodeErr, c.status, c.code, c.allow)
		}
	}
}
