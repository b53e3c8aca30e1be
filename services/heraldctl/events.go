package heraldctl

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
)

func eventsListCmd() *command {
	var topic string
	return &command{
		name:    "events list",
		args:    "--topic TOPIC",
		summary: "list the publisher's registered events on a topic, every page (publisher key)",
		maxArgs: 0,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&topic, "topic", "", "the `topic`: participant, entity or container")
		},
		run: func(ctx context.Context, c *cli, _ []string) error {
			if topic == "" {
				return usagef("--topic is required (participant, entity or container)")
			}
			if err := c.needToken(); err != nil {
				return err
			}
			items, _, err := c.listAll(ctx, "/v1/topics/"+pathEscape(topic)+"/events", "events", nil, 0)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(listJSON("events", items, false))
			}
			events, err := decodeItems[event](items)
			if err != nil {
				return err
			}
			if len(events) == 0 {
				fmt.Fprintf(c.stdout, "No events on topic %s. Register some with: heraldctl apply -f publisher.yaml\n", topic)
				return nil
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tEVENT TYPE\tTYPE\tFILTER LOGIC\tGET API PATH\tDESCRIPTION")
			for _, e := range events {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.EventType, dash(e.Type), compactJSON(e.FilterLogic), dash(e.GetAPIPath), dash(e.Description))
			}
			return tw.Flush()
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
