package heraldctl

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

func deliveriesListCmd() *command {
	var status string
	var limit int
	return &command{
		name:    "deliveries list",
		args:    "SUBSCRIPTION_ID [--status S] [--limit N]",
		summary: "list a subscription's deliveries, newest first (subscriber key)",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&status, "status", "", "only deliveries in this `status`: pending, delivered, retrying, failed, gone or skipped")
			fs.IntVar(&limit, "limit", 50, "show at most `n` deliveries; 0 reads every page")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if limit < 0 {
				return usagef("--limit must be 0 or more")
			}
			if err := c.needToken(); err != nil {
				return err
			}
			ds, items, more, err := c.listDeliveries(ctx, args[0], status, limit)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(listJSON("deliveries", items, more))
			}
			if len(ds) == 0 {
				fmt.Fprintf(c.stdout, "No deliveries for %s yet.\n", args[0])
				return nil
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEVENT\tSTATUS\tATTEMPTS\tLAST CODE\tLAST ATTEMPT\tNEXT ATTEMPT\tCREATED")
			for _, d := range ds {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.EventName, d.Status, d.AttemptCount, code(d.LastStatusCode), clock(d.LastAttemptTime), clock(d.NextAttemptTime), clock(d.CreateTime))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if more {
				fmt.Fprintf(c.stdout, "(more: raise --limit, or --limit 0 for all)\n")
			}
			return nil
		},
	}
}

func (c *cli) listDeliveries(ctx context.Context, subID, status string, limit int) ([]delivery, []json.RawMessage, bool, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	items, more, err := c.listAll(ctx, "/v1/subscriptions/"+pathEscape(subID)+"/deliveries", "deliveries", q, limit)
	if err != nil {
		return nil, nil, false, err
	}
	ds, err := decodeItems[delivery](items)
	return ds, items, more, err
}

func code(c int32) string {
	if c == 0 {
		return "-"
	}
	return fmt.Sprint(c)
}

func deliveriesGetCmd() *command {
	return &command{
		name:    "deliveries get",
		args:    "DELIVERY_ID",
		summary: "show one delivery with its body and every attempt (subscriber key)",
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodGet, "/v1/deliveries/"+pathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(data)
			}
			var d delivery
			if err := decode(data, &d); err != nil {
				return err
			}
			writeDelivery(c.stdout, &d)
			return nil
		},
	}
}

func writeDelivery(w io.Writer, d *delivery) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range [][2]string{
		{"id", d.ID},
		{"subscription", d.SubscriptionID},
		{"event", fmt.Sprintf("%s (eventType %s)", d.EventName, d.EventType)},
		{"status", d.Status},
		{"attempts", fmt.Sprint(d.AttemptCount)},
		{"input", fmt.Sprintf("%s partition %d offset %s at %s", d.Topic, d.Partition, d.Offset, stamp(d.EventTime))},
		{"resource", dash(d.ResourceURL)},
		{"created", stamp(d.CreateTime)},
		{"next attempt", stamp(d.NextAttemptTime)},
		{"body", dash(d.Body)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	_ = tw.Flush()
	if len(d.Attempts) == 0 {
		return
	}
	fmt.Fprintln(w, "\nattempts:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tTIME\tCODE\tLATENCY\tOUTCOME\tERROR")
	for _, a := range d.Attempts {
		msg := a.Error
		if a.ErrorType != "" {
			msg = a.ErrorType + ": " + msg
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%sms\t%s\t%s\n", a.Attempt, clock(a.Time), code(a.StatusCode), a.LatencyMs, a.Outcome, dash(strings.TrimSpace(msg)))
	}
	_ = tw.Flush()
}

func deliveriesRedeliverCmd() *command {
	return &command{
		name:    "deliveries redeliver",
		args:    "DELIVERY_ID",
		summary: "send a delivery again, with the same webhook-id (subscriber key)",
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodPost, "/v1/deliveries/"+pathEscape(args[0])+":redeliver", json.RawMessage(`{}`))
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(data)
			}
			fmt.Fprintf(c.stdout, "Redelivery of %s queued; follow it with: heraldctl deliveries get %s\n", args[0], args[0])
			return nil
		},
	}
}

func deliveriesTailCmd() *command {
	var interval time.Duration
	var last int
	return &command{
		name:    "deliveries tail",
		args:    "SUBSCRIPTION_ID [--interval 1s]",
		summary: "follow a subscription's deliveries: new ones and status changes, until Ctrl-C (subscriber key)",
		help:    "tail first shows the latest deliveries (--last), then polls the newest page every --interval.",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) {
			fs.DurationVar(&interval, "interval", time.Second, "how often to poll")
			fs.IntVar(&last, "last", 10, "how many recent deliveries to show at the start (`n`)")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if interval < 100*time.Millisecond {
				return usagef("--interval must be at least 100ms")
			}
			if err := c.needToken(); err != nil {
				return err
			}
			return c.tail(ctx, args[0], interval, last)
		},
	}
}

// tail polls the newest page of deliveries and prints what is new ("+") or changed ("~"),
// one line each (one JSON object per line with --output json). It returns nil when ctx ends.
func (c *cli) tail(ctx context.Context, subID string, interval time.Duration, last int) error {
	type state struct {
		status   string
		attempts int32
	}
	seen := map[string]state{}
	first := true
	fmt.Fprintf(c.stderr, "Following the deliveries of %s every %s; Ctrl-C stops.\n", subID, interval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ds, items, _, err := c.listDeliveries(ctx, subID, "", 100)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for i := len(ds) - 1; i >= 0; i-- { // oldest first, like a log
			d := &ds[i]
			now := state{d.Status, d.AttemptCount}
			before, known := seen[d.ID]
			seen[d.ID] = now
			if (known && before == now) || (first && i >= last) {
				continue
			}
			if c.output == "json" {
				var buf bytes.Buffer
				if err := json.Compact(&buf, items[i]); err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, buf.String())
				continue
			}
			mark := "+"
			if known {
				mark = "~"
			}
			fmt.Fprintf(c.stdout, "%s %s %s  %-12s %-9s attempts %d  last code %s%s\n", clock(time.Now()), mark, d.ID, d.EventName, d.Status, d.AttemptCount, code(d.LastStatusCode), nextText(d))
		}
		first = false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func nextText(d *delivery) string {
	if d.Status != "retrying" || d.NextAttemptTime.IsZero() {
		return ""
	}
	return "  next " + clock(d.NextAttemptTime)
}
