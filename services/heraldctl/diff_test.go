package heraldctl

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func os1Events() []EventSpec {
	return []EventSpec{
		{Topic: "participant", Name: "usercreated", Description: "When a new user is created", EventType: "userCreatedEvent",
			FilterLogic: `{"===":["$eventType","userCreatedEvent"]}`, Type: "users", GetAPIPath: "/app/api/v2/users/{userId}"},
		{Topic: "participant", Name: "userupdated", Description: "When user data is updated", EventType: "userUpdatedEvent",
			FilterLogic: `{"===":["$eventType","userUpdatedEvent"]}`, Type: "users", GetAPIPath: "/app/api/v2/users/{userId}"},
	}
}

// stored returns events as the registry returns them: rules normalized.
func stored(events []EventSpec) []EventSpec {
	out := make([]EventSpec, len(events))
	for i, e := range events {
		e.FilterLogic = normalizeRule(e.FilterLogic)
		out[i] = e
	}
	return out
}

func TestParsePublisherFileReadsTheOS1Example(t *testing.T) {
	src, err := os.ReadFile("examples/os1-publisher.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePublisherFile(src)
	if err != nil {
		t.Fatal(err)
	}
	want := PublisherConfig{
		AppConfig: &AppConfigSpec{Name: "User Management", Permissions: []string{"get users", "get user details", "update user"}},
		Events:    stored(os1Events()),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", got, want)
	}
}

func TestParsePublisherFileErrorsNameThePlace(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unknown key", "appConfig:\n  nme: x\n", "field nme not found"},
		{"unknown topic", "topics:\n  orders:\n    events: []\n", "topics.orders: unknown topic"},
		{"missing name", "topics:\n  entity:\n    events:\n      - eventType: x\n", "topics.entity.events[0].name is required"},
		{"duplicate", "topics:\n  entity:\n    events:\n      - name: a\n      - name: a\n", `topics.entity.events[1].name: "a" is also events[0]`},
		{"bad rule", "topics:\n  entity:\n    events:\n      - name: a\n        filterLogic: {\"and\": [true, {\"===\": [1]}]}\n",
			"topics.entity.events[0].filterLogic (line 5): filter: at and[1].===: needs 2 arguments, got 1"},
		{"empty", "", "the file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePublisherFile([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	os1 := os1Events()
	changed := os1Events()
	changed[1].Description = "When a user's data changes"
	changed[1].FilterLogic = `{"and":[{"===":["$eventType","userUpdatedEvent"]},{"!!":"$userId"}]}`
	extra := EventSpec{Topic: "entity", Name: "orderpacked", EventType: "orderPackedEvent"}
	cfg := &AppConfigSpec{Name: "User Management", Permissions: []string{"get users", "get user details", "update user"}}

	type step struct {
		action  Action
		name    string
		fields  []string
		skipped bool
	}
	for _, tc := range []struct {
		name          string
		current, want PublisherConfig
		prune         bool
		steps         []step
	}{
		{
			name:    "everything new",
			current: PublisherConfig{},
			want:    PublisherConfig{AppConfig: cfg, Events: os1},
			steps: []step{
				{ActionCreate, "", []string{"name", "permissions"}, false},
				{ActionCreate, "usercreated", []string{"description", "eventType", "filterLogic", "type", "getApiPath"}, false},
				{ActionCreate, "userupdated", []string{"description", "eventType", "filterLogic", "type", "getApiPath"}, false},
			},
		},
		{
			// The server stores normalized rules and may order permissions differently.
			name: "nothing to do",
			current: PublisherConfig{
				AppConfig: &AppConfigSpec{Name: "User Management", Permissions: []string{"update user", "get users", "get user details"}},
				Events:    stored(os1),
			},
			want: PublisherConfig{AppConfig: cfg, Events: os1},
		},
		{
			name:    "a name left out of the file is not managed",
			current: PublisherConfig{AppConfig: &AppConfigSpec{Name: "user-service", Permissions: cfg.Permissions}},
			want:    PublisherConfig{AppConfig: &AppConfigSpec{Permissions: cfg.Permissions}},
		},
		{
			name:    "only the changed fields are updated",
			current: PublisherConfig{AppConfig: cfg, Events: stored(os1)},
			want:    PublisherConfig{AppConfig: &AppConfigSpec{Name: "Users", Permissions: []string{"get users"}}, Events: changed},
			steps: []step{
				{ActionUpdate, "", []string{"name", "permissions"}, false},
				{ActionUpdate, "userupdated", []string{"description", "filterLogic"}, false},
			},
		},
		{
			name:    "events missing from the file are kept without prune",
			current: PublisherConfig{Events: append(stored(os1), extra)},
			want:    PublisherConfig{Events: os1[:1]},
			steps: []step{
				{ActionDelete, "userupdated", nil, true},
				{ActionDelete, "orderpacked", nil, true},
			},
		},
		{
			name:    "and deleted with prune, updates and creates first",
			current: PublisherConfig{Events: []EventSpec{extra, stored(os1)[1]}},
			want:    PublisherConfig{Events: changed},
			prune:   true,
			steps: []step{
				{ActionUpdate, "userupdated", []string{"description", "filterLogic"}, false},
				{ActionCreate, "usercreated", []string{"description", "eventType", "filterLogic", "type", "getApiPath"}, false},
				{ActionDelete, "orderpacked", nil, false},
			},
		},
		{
			name:    "a rule cleared on the server side is an update",
			current: PublisherConfig{Events: stored(os1[:1])},
			want:    PublisherConfig{Events: []EventSpec{{Topic: "participant", Name: "usercreated", Description: os1[0].Description, EventType: os1[0].EventType, Type: "users", GetAPIPath: os1[0].GetAPIPath}}},
			steps:   []step{{ActionUpdate, "usercreated", []string{"filterLogic"}, false}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Diff(tc.current, tc.want, tc.prune)
			var got []step
			for _, c := range plan.Changes {
				s := step{action: c.Action, name: c.Name, skipped: c.Skipped}
				for _, f := range c.Fields {
					s.fields = append(s.fields, f.Field)
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(got, tc.steps) {
				t.Fatalf("plan\n%+v\nwant\n%+v", got, tc.steps)
			}
			var buf bytes.Buffer
			plan.Render(&buf)
			if empty := len(plan.Pending()) == 0; empty != strings.HasPrefix(buf.String(), "no changes\n") {
				t.Fatalf("%d pending changes, rendered as\n%s", len(plan.Pending()), buf.String())
			}
		})
	}
}

func TestDiffShowsOldAndNewValues(t *testing.T) {
	cur := PublisherConfig{Events: stored(os1Events())}
	want := os1Events()
	want[0].FilterLogic = `{"===":["$eventType","userCreated"]}`
	plan := Diff(cur, PublisherConfig{Events: want}, false)
	if len(plan.Changes) != 1 || len(plan.Changes[0].Fields) != 1 {
		t.Fatalf("plan %+v, want one change of one field", plan.Changes)
	}
	f := plan.Changes[0].Fields[0]
	if f.Old != `{"===":[{"var":"eventType"},"userCreatedEvent"]}` || f.New != `{"===":[{"var":"eventType"},"userCreated"]}` {
		t.Fatalf("filterLogic change %q → %q: both should be normalized rules", f.Old, f.New)
	}
}

func TestPlanRenderGolden(t *testing.T) {
	changed := os1Events()
	changed[1].Description = "When a user's data changes"
	cur := PublisherConfig{
		AppConfig: &AppConfigSpec{Name: "User Management", Permissions: []string{"get users"}},
		Events:    append(stored(changed[1:]), EventSpec{Topic: "container", Name: "legacy", EventType: "legacyEvent"}, EventSpec{Topic: "entity", Name: "old", EventType: "oldEvent"}),
	}
	cur.Events[0].Description = "When user data is updated"
	plan := Diff(cur, PublisherConfig{AppConfig: &AppConfigSpec{Name: "User Management", Permissions: []string{"get users", "update user"}}, Events: changed}, false)
	plan.Changes[len(plan.Changes)-1].Skipped = false // one pruned, one kept
	var buf bytes.Buffer
	plan.Render(&buf)
	golden(t, "plan.golden", buf.Bytes())
}

func TestChunksKeepTopicsApartAndBoundSize(t *testing.T) {
	var changes []Change
	for i := 0; i < 30; i++ {
		changes = append(changes, Change{Topic: "participant"})
	}
	changes = append(changes, Change{Topic: "entity"})
	var sizes []int
	for _, c := range chunks(changes, maxDeletePerCall) {
		sizes = append(sizes, len(c))
		for _, x := range c {
			if x.Topic != c[0].Topic {
				t.Fatalf("a chunk mixes topics %s and %s", c[0].Topic, x.Topic)
			}
		}
	}
	if !reflect.DeepEqual(sizes, []int{25, 5, 1}) {
		t.Fatalf("chunk sizes %v, want [25 5 1]", sizes)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
