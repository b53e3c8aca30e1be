package heraldctl

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

const secretWarning = "The signing secret is shown only this once: store it now (Herald keeps it encrypted and never shows it again)."

func subscribeCmd() *command {
	var (
		appID, topic, url, filterArg, payload, retry, description, verificationKey string
		events                                                                     stringList
		ordered, hub, skipVerification                                             bool
	)
	return &command{
		name:    "subscribe",
		args:    "--app PUBLISHER_APP_ID --topic TOPIC --event NAME... --url URL [flags]",
		summary: "subscribe to a publisher's events and print the signing secret, shown once (subscriber key)",
		help: `The calling app (--token is its API key) must hold one of the publisher's permissions.
Deliveries are signed with Standard Webhooks headers (webhook-id, webhook-timestamp,
webhook-signature); verify them with the printed secret.`,
		maxArgs: 0,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&appID, "app", "", "the publisher's app `id`")
			fs.StringVar(&topic, "topic", "", "the `topic`: participant, entity or container")
			fs.Var(&events, "event", "an event `name` to receive; repeat or comma-separate for several")
			fs.StringVar(&url, "url", "", "the `URL` Herald POSTs deliveries to")
			fs.StringVar(&filterArg, "filter", "", "your own filter: JSON logic, or @file (`rule`)")
			fs.StringVar(&payload, "payload", "", "payload `form`: cloudevents (default), thin or raw")
			fs.StringVar(&retry, "retry", "", "retry `schedule`, comma-separated Go durations, e.g. 0s,1m,5m (default 1m,5m,15m,1h,1h)")
			fs.BoolVar(&ordered, "ordered", false, "strict per-subscription FIFO (head-of-line retry)")
			fs.BoolVar(&hub, "hub-signature", false, "also send X-Hub-Signature-256")
			fs.StringVar(&verificationKey, "verification-key", "", "a static `value` sent as a header on every delivery")
			fs.StringVar(&description, "description", "", "a `text` for people")
			fs.BoolVar(&skipVerification, "skip-verification", false, "make the subscription active without an endpoint check")
		},
		run: func(ctx context.Context, c *cli, _ []string) error {
			switch {
			case appID == "":
				return usagef("--app PUBLISHER_APP_ID is required")
			case topic == "":
				return usagef("--topic is required")
			case len(events) == 0:
				return usagef("--event is required (one or more event names)")
			case url == "":
				return usagef("--url is required")
			}
			opts := subscriptionOptions{Payload: payload, Ordered: ordered, HubSignature: hub, VerificationKey: verificationKey, SkipVerification: skipVerification}
			if retry != "" {
				for _, d := range strings.Split(retry, ",") {
					d = strings.TrimSpace(d)
					if _, err := time.ParseDuration(d); err != nil {
						return usagef("--retry: %q is not a Go duration such as 0s, 1m or 5m", d)
					}
					opts.RetrySchedule = append(opts.RetrySchedule, d)
				}
			}
			body := map[string]any{"appId": appID, "topic": topic, "events": []string(events), "url": url, "options": opts}
			if description != "" {
				body["description"] = description
			}
			if filterArg != "" {
				rule, err := jsonArg("--filter", filterArg)
				if err != nil {
					return err
				}
				body["filterLogic"] = rule
			}
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodPost, "/v1/subscriptions", body)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stderr, secretWarning)
			if c.output == "json" {
				return c.printJSON(data)
			}
			var r struct {
				ID           string       `json:"id"`
				Secret       string       `json:"secret"`
				Subscription subscription `json:"subscription"`
			}
			if err := decode(data, &r); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Subscribed: %s (%s)\n  id:      %s\n  secret:  %s\n", r.ID, dash(r.Subscription.Status), r.ID, r.Secret)
			if r.Subscription.Status == "unverified" {
				fmt.Fprintf(c.stderr, "The endpoint did not pass verification, so nothing is delivered yet: %s\nhint: fix the endpoint, then run: heraldctl subscriptions verify %s\n", r.Subscription.StatusReason, r.ID)
			}
			return nil
		},
	}
}

// jsonArg reads a flag value that is JSON or @file and checks that it is JSON.
func jsonArg(flagName, v string) (json.RawMessage, error) {
	raw := []byte(v)
	if name, ok := strings.CutPrefix(v, "@"); ok {
		b, err := readFileArg(name)
		if err != nil {
			return nil, usagef("%s: %v", flagName, err)
		}
		raw = b
	}
	if !json.Valid(raw) {
		return nil, usagef("%s: not valid JSON: %s", flagName, snippet(raw))
	}
	return raw, nil
}

func subscriptionsListCmd() *command {
	return &command{
		name:    "subscriptions list",
		args:    "",
		summary: "list the calling app's subscriptions (subscriber key)",
		maxArgs: 0,
		run: func(ctx context.Context, c *cli, _ []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			items, _, err := c.listAll(ctx, "/v1/subscriptions", "subscriptions", nil, 0)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(listJSON("subscriptions", items, false))
			}
			subs, err := decodeItems[subscription](items)
			if err != nil {
				return err
			}
			if len(subs) == 0 {
				fmt.Fprintln(c.stdout, "No subscriptions yet. Create one with: heraldctl subscribe -h")
				return nil
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tPUBLISHER APP\tTOPIC\tEVENTS\tURL")
			for _, s := range subs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Status, s.AppID, s.Topic, listText(s.Events), s.URL)
			}
			return tw.Flush()
		},
	}
}

func subscriptionsGetCmd() *command {
	return &command{
		name:    "subscriptions get",
		args:    "SUBSCRIPTION_ID",
		summary: "show one subscription (subscriber key)",
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodGet, "/v1/subscriptions/"+pathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			return c.printSubscription(data)
		},
	}
}

func (c *cli) printSubscription(data json.RawMessage) error {
	if c.output == "json" {
		return c.printJSON(data)
	}
	var s subscription
	if err := decode(data, &s); err != nil {
		return err
	}
	writeSubscription(c.stdout, &s)
	return nil
}

func writeSubscription(w io.Writer, s *subscription) {
	status := s.Status
	if s.StatusReason != "" {
		status += " (" + s.StatusReason + ")"
	}
	retry := "default (1m, 5m, 15m, 1h, 1h)"
	if len(s.Options.RetrySchedule) > 0 {
		retry = listText(s.Options.RetrySchedule)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range [][2]string{
		{"id", s.ID},
		{"status", status},
		{"publisher app", s.AppID},
		{"subscriber app", s.SubscriberAppID},
		{"topic", s.Topic},
		{"events", listText(s.Events)},
		{"url", s.URL},
		{"filterLogic", compactJSON(s.FilterLogic)},
		{"payload", dash(s.Options.Payload)},
		{"retry schedule", retry},
		{"ordered", fmt.Sprint(s.Options.Ordered)},
		{"hub signature", fmt.Sprint(s.Options.HubSignature)},
		{"description", dash(s.Description)},
		{"created", stamp(s.CreateTime)},
		{"secret issued", stamp(s.SecretRotateTime)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	_ = tw.Flush()
}

// subscriptionsStatusCmd is "subscriptions pause" or "subscriptions resume".
func subscriptionsStatusCmd(verb string) *command {
	status, summary := "paused", "pause a subscription: deliveries wait until it is resumed (subscriber key)"
	if verb == "resume" {
		status, summary = "active", "resume a paused subscription (subscriber key)"
	}
	return &command{
		name:    "subscriptions " + verb,
		args:    "SUBSCRIPTION_ID",
		summary: summary,
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodPatch, "/v1/subscriptions/"+pathEscape(args[0]), map[string]any{"status": status})
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(data)
			}
			var s subscription
			if err := decode(data, &s); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Subscription %s is %s.\n", s.ID, s.Status)
			return nil
		},
	}
}

func subscriptionsVerifyCmd() *command {
	return &command{
		name:    "subscriptions verify",
		args:    "SUBSCRIPTION_ID",
		summary: "check the endpoint again (HEAD, then GET); an unverified subscription becomes active when it passes (subscriber key)",
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodPost, "/v1/subscriptions/"+pathEscape(args[0])+":verify", json.RawMessage(`{}`))
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(data)
			}
			var r struct {
				Verified     bool         `json:"verified"`
				StatusCode   int32        `json:"statusCode"`
				Detail       string       `json:"detail"`
				Subscription subscription `json:"subscription"`
			}
			if err := decode(data, &r); err != nil {
				return err
			}
			verdict := "passed"
			if !r.Verified {
				verdict = "failed"
			}
			fmt.Fprintf(c.stdout, "Endpoint verification %s (answer %s", verdict, code(r.StatusCode))
			if r.Detail != "" {
				fmt.Fprintf(c.stdout, ": %s", r.Detail)
			}
			fmt.Fprintf(c.stdout, "). Subscription %s is %s.\n", r.Subscription.ID, r.Subscription.Status)
			if !r.Verified {
				return exitCode(ExitError)
			}
			return nil
		},
	}
}

func subscriptionsRotateCmd() *command {
	var overlap time.Duration
	return &command{
		name:    "subscriptions rotate-secret",
		args:    "SUBSCRIPTION_ID [--overlap 24h]",
		summary: "issue a new signing secret; the old one keeps signing during the overlap (subscriber key)",
		help:    "During the overlap every delivery carries two signatures, so receivers can switch keys without losing any.",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) {
			fs.DurationVar(&overlap, "overlap", 24*time.Hour, "how long the previous secret keeps signing, at most 168h")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if overlap < time.Second {
				return usagef("--overlap must be at least 1s, got %s", overlap)
			}
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodPost, "/v1/subscriptions/"+pathEscape(args[0])+":rotateSecret", map[string]any{"overlapSeconds": int64(overlap / time.Second)})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stderr, secretWarning)
			if c.output == "json" {
				return c.printJSON(data)
			}
			var r struct {
				Secret                   string    `json:"secret"`
				PreviousSecretExpireTime time.Time `json:"previousSecretExpireTime"`
			}
			if err := decode(data, &r); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "New secret of %s:\n  secret:  %s\nThe previous secret keeps signing until %s.\n", args[0], r.Secret, stamp(r.PreviousSecretExpireTime))
			return nil
		},
	}
}

func subscriptionsDeleteCmd() *command {
	return &command{
		name:    "subscriptions delete",
		args:    "SUBSCRIPTION_ID",
		summary: "delete a subscription (subscriber key)",
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodDelete, "/v1/subscriptions/"+pathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(data)
			}
			fmt.Fprintf(c.stdout, "Deleted subscription %s.\n", args[0])
			return nil
		},
	}
}
