package heraldctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/heraldhq/herald/pkg/filter"
	"go.yaml.in/yaml/v3"
)

// Limits of the publisher API (README.md, "API").
const (
	maxRegisterPerCall = 100
	maxDeletePerCall   = 25
)

// publisherFile is the YAML file `apply` reads.
type publisherFile struct {
	AppConfig *struct {
		Name        string   `yaml:"name"`
		Permissions []string `yaml:"permissions"`
	} `yaml:"appConfig"`
	Topics map[string]struct {
		GetAPIPath string `yaml:"getApiPath"`
		Events     []struct {
			Name        string    `yaml:"name"`
			Description string    `yaml:"description"`
			EventType   string    `yaml:"eventType"`
			FilterLogic yaml.Node `yaml:"filterLogic"`
			Type        string    `yaml:"type"`
			GetAPIPath  string    `yaml:"getApiPath"`
		} `yaml:"events"`
	} `yaml:"topics"`
}

// ParsePublisherFile reads a publisher YAML file (see examples/os1-publisher.yaml) into the
// configuration it asks for. Unknown keys, unknown topics, duplicate event names and rules that
// do not compile are errors that name the place in the file.
func ParsePublisherFile(src []byte) (PublisherConfig, error) {
	var f publisherFile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return PublisherConfig{}, errors.New("the file is empty")
		}
		return PublisherConfig{}, err
	}
	var cfg PublisherConfig
	if f.AppConfig != nil {
		cfg.AppConfig = &AppConfigSpec{Name: f.AppConfig.Name, Permissions: f.AppConfig.Permissions}
	}
	topics := make([]string, 0, len(f.Topics))
	for t := range f.Topics {
		topics = append(topics, t)
	}
	slices.SortFunc(topics, func(a, b string) int {
		if d := topicOrder(a) - topicOrder(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, topic := range topics {
		if topicOrder(topic) > 2 {
			return PublisherConfig{}, fmt.Errorf("topics.%s: unknown topic; topics are participant, entity and container", topic)
		}
		tf := f.Topics[topic]
		seen := map[string]int{}
		for i, e := range tf.Events {
			where := fmt.Sprintf("topics.%s.events[%d]", topic, i)
			if e.Name == "" {
				return PublisherConfig{}, fmt.Errorf("%s.name is required", where)
			}
			if j, dup := seen[e.Name]; dup {
				return PublisherConfig{}, fmt.Errorf("%s.name: %q is also events[%d]: names are unique per topic", where, e.Name, j)
			}
			seen[e.Name] = i
			rule, err := yamlRule(&e.FilterLogic)
			if err != nil {
				return PublisherConfig{}, fmt.Errorf("%s.filterLogic (line %d): %w", where, e.FilterLogic.Line, err)
			}
			path := e.GetAPIPath
			if path == "" {
				path = tf.GetAPIPath
			}
			cfg.Events = append(cfg.Events, EventSpec{
				Topic: topic, Name: e.Name, Description: e.Description, EventType: e.EventType,
				FilterLogic: rule, Type: e.Type, GetAPIPath: path,
			})
		}
	}
	return cfg, nil
}

// yamlRule turns a filterLogic YAML value into its normalized JSON ("" for none), checking it
// with the matcher's rule compiler.
func yamlRule(n *yaml.Node) (string, error) {
	if n.Kind == 0 {
		return "", nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return "", err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cannot be written as JSON: %w", err)
	}
	r, err := filter.Compile(raw)
	if err != nil {
		return "", err
	}
	return string(r.JSON()), nil
}

func applyCmd() *command {
	var file string
	var dryRun, prune bool
	return &command{
		name:    "apply",
		args:    "-f FILE [--dry-run] [--prune]",
		summary: "make the publisher's app config and events what a YAML file says (publisher key)",
		help: `apply reads the calling publisher's app config and every registered event, prints what
differs from the file (+ create, ~ update with the changed fields, - delete) and then applies it:
createAppConfig, registerEvents for new events, PUT for changed ones and bulkDelete for events
the file does not list, but only with --prune (otherwise they are reported and kept). Running
it again prints "no changes". --dry-run only prints the plan. See examples/os1-publisher.yaml.`,
		maxArgs: 0,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&file, "f", "", "the publisher YAML `file` (- for standard input)")
			fs.BoolVar(&dryRun, "dry-run", false, "print the plan, change nothing")
			fs.BoolVar(&prune, "prune", false, "delete events on the server that the file does not list (on every topic)")
		},
		run: func(ctx context.Context, c *cli, _ []string) error {
			if file == "" {
				return usagef("-f FILE is required")
			}
			if err := c.needToken(); err != nil {
				return err
			}
			src, err := readFileArg(file)
			if err != nil {
				return err
			}
			want, err := ParsePublisherFile(src)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			_, err = c.apply(ctx, want, applyOptions{dryRun: dryRun, prune: prune, out: c.stdout})
			return err
		},
	}
}

type applyOptions struct {
	dryRun, prune bool
	out           io.Writer // where the plan is printed in text mode; nil: nowhere
}

// apply reads the current configuration, prints the plan and applies it.
func (c *cli) apply(ctx context.Context, want PublisherConfig, o applyOptions) (Plan, error) {
	have, err := c.readPublisherConfig(ctx)
	if err != nil {
		return Plan{}, err
	}
	plan := Diff(have, want, o.prune)
	pending := plan.Pending()
	if c.output != "json" && o.out != nil {
		plan.Render(o.out)
	}
	if !o.dryRun && len(pending) > 0 {
		if err := c.applyPlan(ctx, pending); err != nil {
			return plan, err
		}
	}
	if c.output == "json" && o.out != nil {
		applied := len(pending)
		if o.dryRun {
			applied = 0
		}
		b, _ := json.Marshal(struct {
			Changes []Change `json:"changes"`
			DryRun  bool     `json:"dryRun"`
			Applied int      `json:"applied"`
		}{nonNil(plan.Changes), o.dryRun, applied})
		return plan, c.printJSON(b)
	}
	if o.out != nil {
		switch {
		case len(pending) == 0:
		case o.dryRun:
			fmt.Fprintln(o.out, "Dry run: nothing was changed.")
		default:
			fmt.Fprintf(o.out, "Applied: %d created, %d updated, %d deleted.\n", plan.Count(ActionCreate), plan.Count(ActionUpdate), plan.Count(ActionDelete))
		}
	}
	return plan, nil
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// readPublisherConfig reads the calling app's config and its events on every topic.
func (c *cli) readPublisherConfig(ctx context.Context) (PublisherConfig, error) {
	var cfg PublisherConfig
	data, err := c.call(ctx, http.MethodGet, "/v1/appconfig", nil)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Code != "":
		// No app config yet.
	case err != nil:
		return cfg, err
	default:
		var ac appConfig
		if err := decode(data, &ac); err != nil {
			return cfg, err
		}
		cfg.AppConfig = &AppConfigSpec{Name: ac.Name, Permissions: ac.Permissions}
	}
	for _, topic := range []string{"participant", "entity", "container"} {
		items, _, err := c.listAll(ctx, "/v1/topics/"+topic+"/events", "events", nil, 0)
		if err != nil {
			return cfg, err
		}
		events, err := decodeItems[event](items)
		if err != nil {
			return cfg, err
		}
		for _, e := range events {
			rule := ""
			if s := compactJSON(e.FilterLogic); s != "-" {
				rule = s
			}
			cfg.Events = append(cfg.Events, EventSpec{
				Topic: topic, Name: e.Name, Description: e.Description, EventType: e.EventType,
				FilterLogic: rule, Type: e.Type, GetAPIPath: e.GetAPIPath,
			})
		}
	}
	return cfg, nil
}

// applyPlan makes the pending changes, in plan order, batching creates and deletions per topic.
func (c *cli) applyPlan(ctx context.Context, changes []Change) error {
	var creates, deletes []Change
	for _, ch := range changes {
		switch {
		case ch.Kind == "appConfig":
			body := map[string]any{"permissions": nonNil(ch.appConfig.Permissions)}
			if ch.appConfig.Name != "" {
				body["name"] = ch.appConfig.Name
			}
			if _, err := c.call(ctx, http.MethodPost, "/v1/appconfig", body); err != nil {
				return err
			}
		case ch.Action == ActionUpdate:
			patch := map[string]any{}
			for _, f := range ch.Fields {
				switch f.Field {
				case "filterLogic":
					patch["filterLogic"] = json.RawMessage(orNull(json.RawMessage(f.New)))
				default:
					patch[f.Field] = f.New
				}
			}
			path := "/v1/topics/" + ch.Topic + "/events/" + pathEscape(ch.Name)
			if _, err := c.call(ctx, http.MethodPut, path, map[string]any{"events": []any{patch}}); err != nil {
				return fmt.Errorf("updating event %s/%s: %w", ch.Topic, ch.Name, err)
			}
		case ch.Action == ActionCreate:
			creates = append(creates, ch)
		case ch.Action == ActionDelete:
			deletes = append(deletes, ch)
		}
	}
	for _, group := range chunks(creates, maxRegisterPerCall) {
		events := make([]map[string]any, len(group))
		for i, ch := range group {
			e := ch.event
			events[i] = map[string]any{"name": e.Name, "description": e.Description, "eventType": e.EventType, "type": e.Type, "getApiPath": e.GetAPIPath}
			if e.FilterLogic != "" {
				events[i]["filterLogic"] = json.RawMessage(e.FilterLogic)
			}
		}
		if _, err := c.call(ctx, http.MethodPost, "/v1/topics/"+group[0].Topic+"/events", map[string]any{"events": events}); err != nil {
			return err
		}
	}
	for _, group := range chunks(deletes, maxDeletePerCall) {
		names := make([]string, len(group))
		for i, ch := range group {
			names[i] = ch.Name
		}
		if _, err := c.call(ctx, http.MethodPost, "/v1/topics/"+group[0].Topic+"/events:bulkDelete", map[string]any{"events": names}); err != nil {
			return err
		}
	}
	return nil
}

// chunks splits changes into runs of one topic with at most n changes each.
func chunks(changes []Change, n int) [][]Change {
	var out [][]Change
	for _, ch := range changes {
		if k := len(out); k > 0 && out[k-1][0].Topic == ch.Topic && len(out[k-1]) < n {
			out[k-1] = append(out[k-1], ch)
			continue
		}
		out = append(out, []Change{ch})
	}
	return out
}

// readFileArg reads a file, "-" meaning standard input.
func readFileArg(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}
