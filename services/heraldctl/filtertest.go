package heraldctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/pkg/filter"
)

func filterTestCmd() *command {
	var ruleArg, eventArg string
	var headers repeatable
	return &command{
		name:    "filter test",
		args:    "--rule JSON|@FILE --event JSON|@FILE [--header NAME=VALUE]...",
		summary: "evaluate a filterLogic rule on an event locally, with the matcher's engine, and explain the result",
		help: `The rule is compiled exactly as the registry and matcher do ("$eventType" means
{"var":"eventType"}), and the event is prepared as the matcher prepares a Kafka message: its
eventType from an eventType header or the body, headers reachable by name. The output shows the
normalized rule, the result and, for each operand of a top-level "and"/"or" (or for the root
operation), its value and the event fields it reads.

Exit codes: 0 matched, 3 not matched, 1 the rule or the event is bad (the error names the
place in the rule, e.g. "at and[1].==="), 2 usage error.`,
		maxArgs: 0,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&ruleArg, "rule", "", "the filterLogic `rule`: JSON, or @file")
			fs.StringVar(&eventArg, "event", "", "the Kafka message value: JSON, or @file (`event`)")
			fs.Var(&headers, "header", "a Kafka header `name=value`; repeat for several")
		},
		run: func(_ context.Context, c *cli, _ []string) error {
			if ruleArg == "" || eventArg == "" {
				return usagef("--rule and --event are both required")
			}
			hdrs := map[string]string{}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, "=")
				if !ok || k == "" {
					return usagef("--header %q: want NAME=VALUE", h)
				}
				hdrs[k] = v
			}
			rawRule, err := flagBytes("--rule", ruleArg)
			if err != nil {
				return err
			}
			rawEvent, err := flagBytes("--event", eventArg)
			if err != nil {
				return err
			}
			rule, err := filter.Compile(rawRule)
			if err != nil {
				var fe *filter.Error
				if errors.As(err, &fe) && fe.Path != "" {
					return fmt.Errorf("--rule: %w\nhint: the path %q points at the part of the rule that is wrong (op[i] is argument i of operator op, counting from 0)", err, fe.Path)
				}
				return fmt.Errorf("--rule: %w", err)
			}
			data, err := EventData(rawEvent, hdrs)
			if err != nil {
				return fmt.Errorf("--event: %w", err)
			}
			ex, err := Explain(rule, data)
			if err != nil {
				return fmt.Errorf("evaluating the rule: %w", err)
			}
			if c.output == "json" {
				b, err := json.Marshal(ex)
				if err != nil {
					return err
				}
				if err := c.printJSON(b); err != nil {
					return err
				}
			} else {
				ex.Render(c.stdout)
			}
			if !ex.Matched {
				return exitCode(ExitNotMatched)
			}
			return nil
		},
	}
}

// flagBytes returns a flag's value, or a file's content for "@file".
func flagBytes(flagName, v string) ([]byte, error) {
	if name, ok := strings.CutPrefix(v, "@"); ok {
		b, err := readFileArg(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
		return b, nil
	}
	return []byte(v), nil
}
