package heraldctl

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/heraldhq/herald/pkg/filter"
)

// PublisherConfig is a publisher app's configuration: what a file asks for, or what the
// registry holds.
type PublisherConfig struct {
	// AppConfig is nil when there is none (on the server) or the file does not manage it.
	AppConfig *AppConfigSpec
	Events    []EventSpec
}

// AppConfigSpec is the createAppConfig part: the permissions a subscriber needs (one of them)
// and the name subscribers see. An empty Name in a file means "not managed": the registry uses
// the app's name.
type AppConfigSpec struct {
	Name        string
	Permissions []string
}

// EventSpec is one registered event. FilterLogic is JSON ("" or "null": no filter); Diff
// compares rules in the form the registry stores, so "$eventType" equals {"var":"eventType"}.
type EventSpec struct {
	Topic       string
	Name        string
	Description string
	EventType   string
	FilterLogic string
	Type        string
	GetAPIPath  string
}

// Action is what a Change does.
type Action string

// The actions of a plan.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
)

// Change is one step of a Plan.
type Change struct {
	Action Action `json:"action"`
	// Kind is "appConfig" or "event".
	Kind  string `json:"kind"`
	Topic string `json:"topic,omitempty"`
	Name  string `json:"name,omitempty"`
	// Fields are the fields an update changes, or the fields a create sets.
	Fields []FieldChange `json:"fields,omitempty"`
	// Skipped marks a deletion that is only reported: the event is on the server but not in the
	// file, and pruning was not asked for.
	Skipped bool `json:"skipped,omitempty"`

	event     *EventSpec     // the desired event (create, update) or the server's (delete)
	appConfig *AppConfigSpec // the desired app config
}

// FieldChange is one field's value before and after. Values are shown as text: JSON for
// filterLogic, a comma-separated list for permissions.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Plan is the ordered list of changes that turns the current configuration into the desired
// one: the app config first, then event updates, creates and deletions.
type Plan struct {
	Changes []Change `json:"changes"`
}

// Pending returns the changes that applying the plan makes (skipped deletions left out).
func (p Plan) Pending() []Change {
	var out []Change
	for _, c := range p.Changes {
		if !c.Skipped {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many pending changes have the action.
func (p Plan) Count(a Action) int {
	n := 0
	for _, c := range p.Pending() {
		if c.Action == a {
			n++
		}
	}
	return n
}

// topicOrder sorts the API's topics in their documented order, others after them.
func topicOrder(t string) int {
	if i := slices.Index([]string{"participant", "entity", "container"}, t); i >= 0 {
		return i
	}
	return 3
}

// Diff compares the current configuration with the desired one. Events are matched by
// (topic, name). An event on the server that the desired configuration does not list becomes a
// deletion, marked Skipped unless prune is true. A desired AppConfig of nil leaves the server's
// app config alone; permissions compare as sets.
func Diff(current, desired PublisherConfig, prune bool) Plan {
	var plan Plan
	if want := desired.AppConfig; want != nil {
		have := current.AppConfig
		if have == nil {
			ch := Change{Action: ActionCreate, Kind: "appConfig", appConfig: want}
			if want.Name != "" {
				ch.Fields = append(ch.Fields, FieldChange{Field: "name", New: want.Name})
			}
			ch.Fields = append(ch.Fields, FieldChange{Field: "permissions", New: listText(want.Permissions)})
			plan.Changes = append(plan.Changes, ch)
		} else {
			var fields []FieldChange
			if want.Name != "" && want.Name != have.Name {
				fields = append(fields, FieldChange{Field: "name", Old: have.Name, New: want.Name})
			}
			if !sameSet(want.Permissions, have.Permissions) {
				fields = append(fields, FieldChange{Field: "permissions", Old: listText(have.Permissions), New: listText(want.Permissions)})
			}
			if len(fields) > 0 {
				plan.Changes = append(plan.Changes, Change{Action: ActionUpdate, Kind: "appConfig", Fields: fields, appConfig: want})
			}
		}
	}

	type key struct{ topic, name string }
	have := map[key]*EventSpec{}
	for i := range current.Events {
		e := &current.Events[i]
		have[key{e.Topic, e.Name}] = e
	}
	wanted := map[key]bool{}
	var creates, updates, deletes []Change
	for i := range desired.Events {
		w := &desired.Events[i]
		k := key{w.Topic, w.Name}
		wanted[k] = true
		h, ok := have[k]
		if !ok {
			creates = append(creates, Change{Action: ActionCreate, Kind: "event", Topic: w.Topic, Name: w.Name, Fields: eventFields(nil, w), event: w})
			continue
		}
		if fields := eventFields(h, w); len(fields) > 0 {
			updates = append(updates, Change{Action: ActionUpdate, Kind: "event", Topic: w.Topic, Name: w.Name, Fields: fields, event: w})
		}
	}
	for i := range current.Events {
		h := &current.Events[i]
		if !wanted[key{h.Topic, h.Name}] {
			deletes = append(deletes, Change{Action: ActionDelete, Kind: "event", Topic: h.Topic, Name: h.Name, Skipped: !prune, event: h})
		}
	}
	byTopic := func(a, b Change) int { return cmp.Compare(topicOrder(a.Topic), topicOrder(b.Topic)) }
	for _, l := range [][]Change{updates, creates, deletes} {
		slices.SortStableFunc(l, byTopic)
		plan.Changes = append(plan.Changes, l...)
	}
	return plan
}

// eventFields lists the fields of want that differ from have; with have nil, the fields want
// sets (a create).
func eventFields(have, want *EventSpec) []FieldChange {
	if have == nil {
		have = &EventSpec{}
	}
	var out []FieldChange
	add := func(field, old, new string) {
		if old != new {
			out = append(out, FieldChange{Field: field, Old: old, New: new})
		}
	}
	add("description", have.Description, want.Description)
	add("eventType", have.EventType, want.EventType)
	add("filterLogic", normalizeRule(have.FilterLogic), normalizeRule(want.FilterLogic))
	add("type", have.Type, want.Type)
	add("getApiPath", have.GetAPIPath, want.GetAPIPath)
	return out
}

// normalizeRule returns a rule in the form the registry stores ("" for no filter). A rule that
// does not compile is returned as it is, so that it shows up as a difference.
func normalizeRule(raw string) string {
	r, err := filter.Compile([]byte(raw))
	if err != nil {
		return strings.TrimSpace(raw)
	}
	return string(r.JSON())
}

func sameSet(a, b []string) bool {
	norm := func(l []string) []string {
		out := make([]string, 0, len(l))
		for _, s := range l {
			out = append(out, strings.TrimSpace(s))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// Render writes the plan for people: one line per change ("+" create, "~" update, "-" delete)
// with the fields it sets or changes, then a summary line. An empty plan prints "no changes".
func (p Plan) Render(w io.Writer) {
	if len(p.Pending()) == 0 {
		fmt.Fprintln(w, "no changes")
	}
	for _, c := range p.Changes {
		sign := map[Action]string{ActionCreate: "+", ActionUpdate: "~", ActionDelete: "-"}[c.Action]
		what := "appConfig"
		if c.Kind == "event" {
			what = "event " + c.Topic + "/" + c.Name
		}
		switch {
		case c.Skipped:
			fmt.Fprintf(w, "  %s %s  (on the server, not in the file: kept; --prune deletes it)\n", sign, what)
			continue
		default:
			fmt.Fprintf(w, "  %s %s %s\n", sign, c.Action, what)
		}
		width := 0
		for _, f := range c.Fields {
			width = max(width, len(f.Field))
		}
		for _, f := range c.Fields {
			if c.Action == ActionCreate {
				fmt.Fprintf(w, "      %-*s  %s\n", width+1, f.Field+":", shown(f.New))
			} else {
				fmt.Fprintf(w, "      %-*s  %s → %s\n", width+1, f.Field+":", shown(f.Old), shown(f.New))
			}
		}
	}
	if n := len(p.Pending()); n > 0 {
		fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to delete.\n", p.Count(ActionCreate), p.Count(ActionUpdate), p.Count(ActionDelete))
	}
}

func shown(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}
