package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const maxBodyBytes = 1 << 20

var (
	jsonIn  = protojson.UnmarshalOptions{}
	jsonOut = protojson.MarshalOptions{EmitDefaultValues: true}
)

// handler serves the JSON routes of DESIGN.md ("Public HTTP API"). Each route decodes its body
// and path into the same request message the gRPC service takes and calls the same API method.
type handler struct {
	api *API
	log *slog.Logger
}

// routes registers every JSON route on mux.
func (h *handler) routes(mux *http.ServeMux) {
	a := h.api
	mux.Handle("POST /v1/apps", route(h, http.StatusCreated, a.CreateApp, nil))
	mux.Handle("GET /v1/apps", route(h, http.StatusOK, a.ListApps, func(r *http.Request, m *registryv1.ListAppsRequest) error {
		return pageQuery(r, &m.Limit, &m.Page)
	}))
	mux.Handle("PATCH /v1/apps/{appId}", route(h, http.StatusOK, a.UpdateApp, func(r *http.Request, m *registryv1.UpdateAppRequest) error {
		m.AppId = r.PathValue("appId")
		return nil
	}))
	mux.Handle("DELETE /v1/apps/{appId}", route(h, http.StatusOK, a.DeleteApp, func(r *http.Request, m *registryv1.DeleteAppRequest) error {
		m.AppId = r.PathValue("appId")
		return nil
	}))
	h.actions(mux, "/v1/apps/{idAction}", map[string]http.Handler{
		"rotateKey": route(h, http.StatusOK, a.RotateAppKey, func(r *http.Request, m *registryv1.RotateAppKeyRequest) error {
			m.Id = actionID(r)
			return nil
		}),
	})

	mux.Handle("POST /v1/appconfig", route(h, http.StatusCreated, a.CreateAppConfig, nil))
	mux.Handle("GET /v1/appconfig", route(h, http.StatusOK, a.GetAppConfig, nil))
	mux.Handle("POST /v1/topics/{topic}/events", route(h, http.StatusCreated, a.RegisterEvents, func(r *http.Request, m *registryv1.RegisterEventsRequest) error {
		m.Topic = r.PathValue("topic")
		return nil
	}))
	mux.Handle("GET /v1/topics/{topic}/events", route(h, http.StatusOK, a.GetPublisherEvents, func(r *http.Request, m *registryv1.GetPublisherEventsRequest) error {
		m.Topic = r.PathValue("topic")
		return pageQuery(r, &m.Limit, &m.Page)
	}))
	mux.Handle("PUT /v1/topics/{topic}/events/{eventName}", route(h, http.StatusOK, a.UpdatePublisherEvents, func(r *http.Request, m *registryv1.UpdatePublisherEventsRequest) error {
		m.Topic, m.EventName = r.PathValue("topic"), r.PathValue("eventName")
		return nil
	}))
	mux.Handle("POST /v1/topics/{topic}/events:bulkDelete", route(h, http.StatusOK, a.BulkDeleteEvents, func(r *http.Request, m *registryv1.BulkDeleteEventsRequest) error {
		m.Topic = r.PathValue("topic")
		return nil
	}))
	mux.Handle("PATCH /v1/topics/{topic}/events", route(h, http.StatusOK, a.RemoveEvents, func(r *http.Request, m *registryv1.RemoveEventsRequest) error {
		m.Topic = r.PathValue("topic")
		return nil
	}))

	mux.Handle("GET /v1/publishers", route(h, http.StatusOK, a.ListPublishers, nil))
	mux.Handle("POST /v1/subscriptions", route(h, http.StatusCreated, a.CreateSubscription, nil))
	mux.Handle("GET /v1/subscriptions", route(h, http.StatusOK, a.ListSubscriptions, func(r *http.Request, m *registryv1.ListSubscriptionsRequest) error {
		return pageQuery(r, &m.Limit, &m.Page)
	}))
	mux.Handle("GET /v1/subscriptions/{id}", route(h, http.StatusOK, a.GetSubscription, func(r *http.Request, m *registryv1.GetSubscriptionRequest) error {
		m.Id = r.PathValue("id")
		return nil
	}))
	mux.Handle("PATCH /v1/subscriptions/{id}", route(h, http.StatusOK, a.UpdateSubscription, func(r *http.Request, m *registryv1.UpdateSubscriptionRequest) error {
		m.Id = r.PathValue("id")
		return nil
	}))
	mux.Handle("DELETE /v1/subscriptions/{id}", route(h, http.StatusOK, a.DeleteSubscription, func(r *http.Request, m *registryv1.DeleteSubscriptionRequest) error {
		m.Id = r.PathValue("id")
		return nil
	}))
	mux.Handle("GET /v1/subscriptions/{subscriptionId}/deliveries", route(h, http.StatusOK, a.ListDeliveries, func(r *http.Request, m *registryv1.ListDeliveriesRequest) error {
		m.SubscriptionId = r.PathValue("subscriptionId")
		m.Status = r.URL.Query().Get("status")
		return pageQuery(r, &m.Limit, &m.Page)
	}))
	mux.Handle("GET /v1/deliveries/{id}", route(h, http.StatusOK, a.GetDelivery, func(r *http.Request, m *registryv1.GetDeliveryRequest) error {
		m.Id = r.PathValue("id")
		return nil
	}))
	// Custom methods ("sub_1:rotateSecret") share a path segment with the id.
	h.actions(mux, "/v1/subscriptions/{idAction}", map[string]http.Handler{
		"rotateSecret": route(h, http.StatusOK, a.RotateSubscriptionSecret, func(r *http.Request, m *registryv1.RotateSubscriptionSecretRequest) error {
			m.Id = actionID(r)
			return nil
		}),
		"verify": route(h, http.StatusOK, a.VerifySubscription, func(r *http.Request, m *registryv1.VerifySubscriptionRequest) error {
			m.Id = actionID(r)
			return nil
		}),
		"replay": route(h, http.StatusAccepted, a.ReplaySubscription, func(r *http.Request, m *registryv1.ReplaySubscriptionRequest) error {
			m.Id = actionID(r)
			return nil
		}),
	})
	mux.Handle("GET /v1/replays/{id}", route(h, http.StatusOK, a.GetReplay, func(r *http.Request, m *registryv1.GetReplayRequest) error {
		m.Id = r.PathValue("id")
		return nil
	}))
	h.actions(mux, "/v1/replays/{idAction}", map[string]http.Handler{
		"cancel": route(h, http.StatusOK, a.CancelReplay, func(r *http.Request, m *registryv1.CancelReplayRequest) error {
			m.Id = actionID(r)
			return nil
		}),
	})
	h.actions(mux, "/v1/deliveries/{idAction}", map[string]http.Handler{
		"redeliver": route(h, http.StatusAccepted, a.Redeliver, func(r *http.Request, m *registryv1.RedeliverRequest) error {
			m.Id = actionID(r)
			return nil
		}),
	})
}

// actions serves POST pattern for custom methods ("sub_1:verify"): ServeMux patterns cannot
// split a path segment, so this takes "{idAction}" apart and picks the action's handler.
func (h *handler) actions(mux *http.ServeMux, pattern string, byName map[string]http.Handler) {
	names := slices.Sorted(maps.Keys(byName))
	mux.HandleFunc("POST "+pattern, func(w http.ResponseWriter, r *http.Request) {
		id, action, _ := strings.Cut(r.PathValue("idAction"), ":")
		if hd := byName[action]; hd != nil && id != "" {
			hd.ServeHTTP(w, r)
			return
		}
		h.writeError(w, r, notFound("", "no route POST %s: the actions here are :%s", r.URL.Path, strings.Join(names, ", :")))
	})
}

// unrouted serves mux, answering what it has no route for in the API's error shape instead of
// ServeMux's plain text: 404 not_found, or 405 method_not_allowed with an Allow header when the
// path has routes for other methods.
func (h *handler) unrouted(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			h.writeError(w, r, newError(ErrMethodNotAllowed, "", "%s is not served for %s; it is for %s", r.URL.Path, r.Method, strings.Join(allowed, ", ")))
			return
		}
		h.writeError(w, r, notFound("", "no route %s %s (the API's routes are in docs/openapi.json)", r.Method, r.URL.Path))
	})
}

// actionID is the id part of an "{idAction}" segment.
func actionID(r *http.Request) string {
	id, _, _ := strings.Cut(r.PathValue("idAction"), ":")
	return id
}

// route builds a handler that authenticates, decodes the body into a fresh Req, lets fill add
// path and query values, calls the API method and writes `{"data": …}`.
func route[Req, Resp proto.Message](h *handler, okStatus int, call func(context.Context, Req) (Resp, error), fill func(*http.Request, Req) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := h.api.authenticate(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		var req Req
		req = req.ProtoReflect().Type().New().Interface().(Req)
		if err := decodeBody(r, req); err != nil {
			h.writeError(w, r, err)
			return
		}
		if fill != nil {
			if err := fill(r, req); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		resp, err := call(withPrincipal(r.Context(), p), req)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		body, err := jsonOut.Marshal(resp)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(okStatus)
		_, _ = io.WriteString(w, `{"data":`)
		_, _ = w.Write(body)
		_, _ = io.WriteString(w, "}\n")
	})
}

// decodeBody reads a JSON object body into m. An empty body is an empty request.
func decodeBody(r *http.Request, m proto.Message) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return invalid("", "the request body is larger than %d bytes", maxBodyBytes)
		}
		return invalid("", "reading the request body: %v", err)
	}
	if b := strings.TrimSpace(string(body)); b == "" || b == "null" {
		return nil
	}
	if err := jsonIn.Unmarshal(body, m); err != nil {
		return decodeError(body, err)
	}
	return nil
}

var (
	unknownFieldRe = regexp.MustCompile(`unknown field "([^"]+)"`)
	positionRe     = regexp.MustCompile(`\(line (\d+):(\d+)\)`)
	protoPrefixRe  = regexp.MustCompile(`^proto:\s*(syntax error\s*)?(\(line \d+:\d+\):\s*)?`)
)

// decodeError turns a protojson error into an API error naming the field. protojson reports a
// position (line:column), so the field is found by walking the JSON up to that position; this
// gives nested paths such as "events[0].eventType" in the request's own JSON names.
func decodeError(body []byte, err error) error {
	if !json.Valid(body) {
		return invalid("", "the request body is not valid JSON")
	}
	text := err.Error()
	msg := protoPrefixRe.ReplaceAllString(text, "")
	field := ""
	if m := positionRe.FindStringSubmatch(text); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		field = pathAt(body, offsetOf(body, line, col))
	}
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		if field == "" {
			field = m[1]
		}
		return invalid(field, "is not a field of this request")
	}
	if field != "" {
		return invalid(field, "has the wrong type or value: %s", msg)
	}
	return invalid("", "the request body does not match the expected shape: %s", msg)
}

// offsetOf converts a 1-based line and column to a byte offset in body.
func offsetOf(body []byte, line, col int) int64 {
	off := 0
	for l := 1; l < line && off < len(body); off++ {
		if body[off] == '\n' {
			l++
		}
	}
	return int64(off + col - 1)
}

// pathAt returns the JSON path ("events[0].name") of the value at or around byte offset.
func pathAt(body []byte, offset int64) string {
	type level struct {
		array bool
		index int
		key   string
	}
	var stack []level
	dec := json.NewDecoder(bytes.NewReader(body))
	path := func() string {
		var b strings.Builder
		for _, l := range stack {
			if l.array {
				fmt.Fprintf(&b, "[%d]", l.index)
			} else if l.key != "" {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(l.key)
			}
		}
		return b.String()
	}
	expectKey := false
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		// A value token ends a key/value pair or an array element once it is complete.
		advance := func() {
			if len(stack) == 0 {
				return
			}
			top := &stack[len(stack)-1]
			if top.array {
				top.index++
			} else {
				expectKey = true
			}
		}
		if dec.InputOffset() > offset && before <= offset {
			if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
				return path()
			}
			if _, isKey := tok.(string); isKey && expectKey {
				stack[len(stack)-1].key = tok.(string)
			}
			return path()
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, level{})
				expectKey = true
			case '[':
				stack = append(stack, level{array: true})
				expectKey = false
			case '}', ']':
				stack = stack[:len(stack)-1]
				expectKey = false
				advance()
			}
		case string:
			if expectKey && len(stack) > 0 && !stack[len(stack)-1].array {
				stack[len(stack)-1].key = t
				expectKey = false
				continue
			}
			advance()
		default:
			advance()
		}
	}
}

// pageQuery reads ?limit=&page=.
func pageQuery(r *http.Request, limit *int32, page *string) error {
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return invalid("limit", "must be a whole number, got %q", v)
		}
		*limit = int32(n)
	}
	if v := q.Get("page"); v != "" {
		*page = v
	}
	return nil
}

// httpStatus maps an error kind to its HTTP status.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError writes `{"error":{"code","message","field"}}`. Errors that are not API errors are
// logged and reported without their details.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		h.log.Error("registry: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = &Error{Message: "internal error; the registry's log has the details"}
	}
	if apiErr.Kind == ErrUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	body := struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field,omitempty"`
		} `json:"error"`
	}{}
	body.Error.Code, body.Error.Message, body.Error.Field = apiErr.code(), apiErr.Message, apiErr.Field
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus(err))
	_ = json.NewEncoder(w).Encode(body)
}
