package heraldctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// APIError is an error answered by Herald's API: `{"error":{"code","message","field"}}` with a
// 4xx or 5xx status, or a response that is not Herald's error shape at all.
type APIError struct {
	Method, Path string
	Status       int
	Code         string // "invalid_argument", "unauthenticated", …; empty when the body was not an API error
	Message      string
	Field        string
}

// Error returns "<message> (field <field>) [<METHOD> <path>: <status> <code>]".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Field != "" {
		fmt.Fprintf(&b, " (field %s)", e.Field)
	}
	fmt.Fprintf(&b, " [%s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	b.WriteString("]")
	return b.String()
}

// hint says what to do about the error.
func (e *APIError) hint() string {
	switch {
	case e.Status == http.StatusUnauthorized:
		return "check --token / HERALD_TOKEN: the apps commands need the admin token (make run prints it; it is in .data/admin-token), the others an app's API key (heraldctl apps create prints it once)."
	case e.Status == http.StatusForbidden:
		return "the key is valid but may not do this: the apps commands need the admin token; apply and events need the publisher app's key; subscribing needs a subscriber key whose app holds one of the publisher's permissions (heraldctl apps grant)."
	case e.Status == http.StatusNotFound && e.Code == "":
		return "this server does not serve " + e.Method + " " + routeOf(e.Path) + "; it may be an older Herald, or --server points at something else."
	case e.Status == http.StatusNotFound:
		return "check the id or name; the list commands (apps list, events list, subscriptions list, deliveries list) show what exists."
	case e.Status == http.StatusConflict:
		return "it exists already or changed meanwhile; read it again and retry (apply does this for publisher configuration)."
	case e.Status == http.StatusBadRequest && e.Field != "":
		return "fix " + e.Field + " as the message says and run the command again."
	case e.Status == http.StatusBadRequest:
		return "fix the request as the message says and run the command again."
	case e.Status == http.StatusServiceUnavailable:
		return "Herald cannot do this right now (a dependency such as Kafka is not reachable or not configured); try again, and see the server's log."
	case e.Status >= 500:
		return "the server failed; its log has the details."
	}
	return ""
}

func routeOf(p string) string {
	p, _, _ = strings.Cut(p, "?")
	return p
}

// connError is a request that got no HTTP answer.
type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// call sends a request to the API and returns the `data` member of the answer. body, when not
// nil, is sent as JSON; a json.RawMessage is sent as it is.
func (c *cli) call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		b, ok := body.(json.RawMessage)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				return nil, err
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, rd)
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", c.server, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "heraldctl")
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &connError{err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, &connError{fmt.Errorf("%s %s: reading the answer: %w", method, path, err)}
	}
	if res.StatusCode >= 300 {
		return nil, apiError(method, path, res.StatusCode, raw)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, &APIError{Method: method, Path: path, Status: res.StatusCode, Message: "the answer is not Herald's JSON: " + snippet(raw)}
	}
	return env.Data, nil
}

func apiError(method, path string, status int, raw []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: status}
	var env struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Error != nil {
		e.Code, e.Message, e.Field = env.Error.Code, env.Error.Message, env.Error.Field
		return e
	}
	e.Message = http.StatusText(status)
	if s := snippet(raw); s != "" {
		e.Message += ": " + s
	}
	return e
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// page is the shape of every paged answer: a list under one key and `meta`.
type pageMeta struct {
	NextPage    string `json:"nextPage"`
	HasNextPage bool   `json:"hasNextPage"`
}

// listAll reads every page of a paged route (path without query, or with one) and returns the
// items under key. max > 0 stops after that many items; more then reports that there were more.
func (c *cli) listAll(ctx context.Context, path, key string, query url.Values, max int) (items []json.RawMessage, more bool, err error) {
	seen := map[string]bool{}
	page := ""
	for {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		limit := 100
		if max > 0 && max-len(items) < limit {
			limit = max - len(items)
		}
		q.Set("limit", strconv.Itoa(limit))
		if page != "" {
			q.Set("page", page)
		}
		data, err := c.call(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
		if err != nil {
			return nil, false, err
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(data, &got); err != nil {
			return nil, false, fmt.Errorf("GET %s: unexpected answer: %w", path, err)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(orNull(got[key]), &list); err != nil {
			return nil, false, fmt.Errorf("GET %s: %q is not a list: %w", path, key, err)
		}
		var meta pageMeta
		_ = json.Unmarshal(orNull(got["meta"]), &meta)
		items = append(items, list...)
		if max > 0 && len(items) > max {
			return items[:max], true, nil
		}
		if !meta.HasNextPage || meta.NextPage == "" || len(list) == 0 {
			return items, false, nil
		}
		if max > 0 && len(items) == max {
			return items, true, nil
		}
		if seen[meta.NextPage] {
			return nil, false, fmt.Errorf("GET %s: the server returned page %q twice", path, meta.NextPage)
		}
		seen[meta.NextPage] = true
		page = meta.NextPage
	}
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// listJSON is the data object of a listing with every page read: the API's shape, with
// `meta` telling whether more remain.
func listJSON(key string, items []json.RawMessage, more bool) json.RawMessage {
	if items == nil {
		items = []json.RawMessage{}
	}
	b, _ := json.Marshal(map[string]any{key: items, "meta": pageMeta{HasNextPage: more}})
	return b
}

// printJSON writes a data object as indented JSON.
func (c *cli) printJSON(data json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, orNull(data), "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := c.stdout.Write(buf.Bytes())
	return err
}

// decode unmarshals a data object into v.
func decode(data json.RawMessage, v any) error {
	if err := json.Unmarshal(orNull(data), v); err != nil {
		return fmt.Errorf("unexpected answer from the server: %w", err)
	}
	return nil
}

func decodeItems[T any](items []json.RawMessage) ([]T, error) {
	out := make([]T, len(items))
	for i, it := range items {
		if err := decode(it, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pathEscape escapes one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }

var errNoToken = errors.New("no token: pass --token or set HERALD_TOKEN")

func (c *cli) needToken() error {
	if c.token == "" {
		return &usageError{errNoToken.Error()}
	}
	return nil
}
