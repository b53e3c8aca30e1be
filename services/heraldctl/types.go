package heraldctl

import (
	"bytes"
	"encoding/json"
	"io"
	"text/tabwriter"
	"time"
)

// The API's objects as the text output needs them. JSON names are the proto fields'
// lowerCamelCase names (proto/herald/registry/v1/registry.proto); int64 fields arrive as strings.

type app struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	CreateTime  time.Time `json:"createTime"`
}

type appConfig struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

type event struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	EventType   string          `json:"eventType"`
	FilterLogic json.RawMessage `json:"filterLogic"`
	Type        string          `json:"type"`
	GetAPIPath  string          `json:"getApiPath"`
	AppID       string          `json:"appId"`
	Topic       string          `json:"topic"`
}

type subscriptionOptions struct {
	Payload          string   `json:"payload,omitempty"`
	HubSignature     bool     `json:"hubSignature,omitempty"`
	VerificationKey  string   `json:"verificationKey,omitempty"`
	Ordered          bool     `json:"ordered,omitempty"`
	RetrySchedule    []string `json:"retrySchedule,omitempty"`
	SkipVerification bool     `json:"skipVerification,omitempty"`
}

type subscription struct {
	ID               string              `json:"id"`
	AppID            string              `json:"appId"`
	SubscriberAppID  string              `json:"subscriberAppId"`
	Topic            string              `json:"topic"`
	Events           []string            `json:"events"`
	URL              string              `json:"url"`
	FilterLogic      json.RawMessage     `json:"filterLogic"`
	Options          subscriptionOptions `json:"options"`
	Status           string              `json:"status"`
	StatusReason     string              `json:"statusReason"`
	Description      string              `json:"description"`
	CreateTime       time.Time           `json:"createTime"`
	UpdateTime       time.Time           `json:"updateTime"`
	SecretRotateTime time.Time           `json:"secretRotateTime"`
}

type delivery struct {
	ID              string      `json:"id"`
	SubscriptionID  string      `json:"subscriptionId"`
	AppID           string      `json:"appId"`
	EventName       string      `json:"eventName"`
	EventType       string      `json:"eventType"`
	Topic           string      `json:"topic"`
	Partition       int32       `json:"partition"`
	Offset          json.Number `json:"offset"`
	EventTime       time.Time   `json:"eventTime"`
	ResourceURL     string      `json:"resourceUrl"`
	Body            string      `json:"body"`
	Status          string      `json:"status"`
	AttemptCount    int32       `json:"attemptCount"`
	LastAttemptTime time.Time   `json:"lastAttemptTime"`
	NextAttemptTime time.Time   `json:"nextAttemptTime"`
	LastStatusCode  int32       `json:"lastStatusCode"`
	LastError       string      `json:"lastError"`
	CreateTime      time.Time   `json:"createTime"`
	Attempts        []attempt   `json:"attempts"`
}

type attempt struct {
	Attempt         int32       `json:"attempt"`
	Time            time.Time   `json:"time"`
	StatusCode      int32       `json:"statusCode"`
	ErrorType       string      `json:"errorType"`
	Error           string      `json:"error"`
	LatencyMs       json.Number `json:"latencyMs"`
	ResponseSnippet string      `json:"responseSnippet"`
	Outcome         string      `json:"outcome"`
	NextAttemptTime time.Time   `json:"nextAttemptTime"`
}

// newTable returns a tabwriter for aligned columns.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// clock formats a time for tables: local time of day, or "-" for none.
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("15:04:05")
}

// stamp formats a time in full, or "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime + " MST")
}

// compactJSON returns raw as compact JSON, "-" for nothing or null.
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "-"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
