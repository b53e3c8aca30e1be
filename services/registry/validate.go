package registry

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/pkg/filter"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// Topics are the Kafka topics publishers write to; an event belongs to one of them.
var Topics = []string{"participant", "entity", "container"}

// Limits on request contents.
const (
	maxNameLen        = 128
	maxDescriptionLen = 1024
	maxPathLen        = 1024
	maxURLLen         = 2048
	maxPermissions    = 100
	maxEventsPerCall  = 100
	maxBulkDelete     = 25
	maxRetries        = 10
	maxRetryDelay     = 24 * time.Hour
	defaultPageSize   = 20
	maxPageSize       = 100
	defaultOverlap    = 24 * time.Hour
	maxOverlap        = 7 * 24 * time.Hour
)

var (
	namePattern        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)
	placeholderPattern = regexp.MustCompile(`\{([^{}]*)\}`)
	placeholderName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
)

func checkTopic(topic string) error {
	if !slices.Contains(Topics, topic) {
		return invalid("topic", "must be one of %s, got %q", strings.Join(Topics, ", "), topic)
	}
	return nil
}

// checkName checks a required identifier-like name (event names, permissions are looser).
func checkName(field, v string) error {
	switch {
	case v == "":
		return invalid(field, "is required")
	case len(v) > maxNameLen:
		return invalid(field, "is longer than %d characters", maxNameLen)
	case !namePattern.MatchString(v):
		return invalid(field, "may contain letters, digits, '_', '.', ':' and '-' and must start with a letter or digit, got %q", v)
	}
	return nil
}

// checkText checks free text: valid UTF-8, bounded, optionally required.
func checkText(field, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return invalid(field, "is required")
	case len(v) > max:
		return invalid(field, "is longer than %d characters", max)
	case !utf8.ValidString(v):
		return invalid(field, "is not valid UTF-8")
	}
	return nil
}

// cleanPermissions trims, checks and de-duplicates a permission list, keeping its order.
func cleanPermissions(field string, perms []string, required bool) ([]string, error) {
	if required && len(perms) == 0 {
		return nil, invalid(field, "needs at least one permission")
	}
	if len(perms) > maxPermissions {
		return nil, invalid(field, "has %d permissions, at most %d are allowed", len(perms), maxPermissions)
	}
	out := make([]string, 0, len(perms))
	for i, p := range perms {
		p = strings.TrimSpace(p)
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), p, maxNameLen, true); err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// checkAPIPath checks getApiPath: a path or absolute http(s) URL whose {placeholders} name
// fields of the event ("/app/api/v2/users/{userId}").
func checkAPIPath(field, p string) error {
	if p == "" {
		return nil
	}
	if err := checkText(field, p, maxPathLen, false); err != nil {
		return err
	}
	if !strings.HasPrefix(p, "/") {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid(field, "must be a path starting with '/' or an absolute http(s) URL, got %q", p)
		}
	}
	rest := placeholderPattern.ReplaceAllStringFunc(p, func(string) string { return "" })
	if strings.ContainsAny(rest, "{}") {
		return invalid(field, "has an unbalanced '{' or '}' in %q", p)
	}
	for _, m := range placeholderPattern.FindAllStringSubmatch(p, -1) {
		if !placeholderName.MatchString(m[1]) {
			return invalid(field, "placeholder {%s} must be a field name such as {userId} or {user.id}", m[1])
		}
	}
	return nil
}

// checkWebhookURL checks a delivery URL: absolute http(s), a host, no credentials, no fragment.
// Whether the host may be dialled is decided at dial time by the dispatcher (SSRF guard).
func checkWebhookURL(field, raw string) error {
	if raw == "" {
		return invalid(field, "is required")
	}
	if len(raw) > maxURLLen {
		return invalid(field, "is longer than %d characters", maxURLLen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return invalid(field, "is not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid(field, "must be an absolute http or https URL, got %q", raw)
	case u.Host == "" || u.Hostname() == "":
		return invalid(field, "has no host")
	case u.User != nil:
		return invalid(field, "must not contain credentials; use the signing secret to authenticate Herald")
	case u.Fragment != "":
		return invalid(field, "must not contain a #fragment")
	}
	return nil
}

// compileFilter validates a filterLogic value and returns its normalized JSON ("" for none).
func compileFilter(field string, v *structpb.Value) (string, error) {
	if v == nil {
		return "", nil
	}
	raw, err := v.MarshalJSON()
	if err != nil {
		return "", invalid(field, "is not JSON: %v", err)
	}
	rule, err := filter.Compile(raw)
	if err != nil {
		if fe, ok := err.(*filter.Error); ok {
			if fe.Path != "" {
				return "", invalid(field, "at %s: %s", fe.Path, fe.Reason)
			}
			return "", invalid(field, "%s", fe.Reason)
		}
		return "", invalid(field, "%v", err)
	}
	return string(rule.JSON()), nil
}

// checkOptions checks subscription options and fills in defaults.
func checkOptions(field string, o *registryv1.SubscriptionOptions) error {
	switch o.Payload {
	case "":
		o.Payload = "cloudevents"
	case "cloudevents", "thin", "raw":
	default:
		return invalid(field+".payload", "must be cloudevents, thin or raw, got %q", o.Payload)
	}
	if err := checkText(field+".verificationKey", o.VerificationKey, 256, false); err != nil {
		return err
	}
	for _, r := range o.VerificationKey {
		if r < 0x20 || r > 0x7e {
			return invalid(field+".verificationKey", "must be printable ASCII (it is sent as a header value)")
		}
	}
	if len(o.RetrySchedule) > maxRetries {
		return invalid(field+".retrySchedule", "has %d entries, at most %d are allowed", len(o.RetrySchedule), maxRetries)
	}
	for i, s := range o.RetrySchedule {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > maxRetryDelay {
			return invalid(fmt.Sprintf("%s.retrySchedule[%d]", field, i), "must be a duration from 0s to %s such as \"1m\", got %q", maxRetryDelay, s)
		}
	}
	return nil
}

// pageSize checks a requested page size.
func pageSize(limit int32) (int, error) {
	switch {
	case limit == 0:
		return defaultPageSize, nil
	case limit < 0 || limit > maxPageSize:
		return 0, invalid("limit", "must be between 1 and %d, got %d", maxPageSize, limit)
	}
	return int(limit), nil
}
