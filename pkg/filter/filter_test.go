package filter_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/pkg/filter"
)

// compileCase is one case of testdata/compile.json.
type compileCase struct {
	Name   string          `json:"name"`
	Rule   json.RawMessage `json:"rule"`
	Raw    *string         `json:"raw"`
	JSON   json.RawMessage `json:"json"`
	Path   string          `json:"path"`
	Reason string          `json:"reason"`
}

func (c compileCase) input() []byte {
	if c.Raw != nil {
		return []byte(*c.Raw)
	}
	return c.Rule
}

type compileCases struct {
	Valid   []compileCase `json:"valid"`
	Invalid []compileCase `json:"invalid"`
}

// matchCase is one case of testdata/match.json.
type matchCase struct {
	Name string          `json:"name"`
	Rule json.RawMessage `json:"rule"`
	Data json.RawMessage `json:"data"`
	Want *bool           `json:"want"`
	Err  string          `json:"err"`
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func decode(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func mustCompile(t testing.TB, rule string) *filter.Rule {
	t.Helper()
	r, err := filter.Compile([]byte(rule))
	if err != nil {
		t.Fatalf("Compile(%s): %v", rule, err)
	}
	return r
}

func TestCompileValid(t *testing.T) {
	var cases compileCases
	readJSON(t, "compile.json", &cases)
	for _, c := range cases.Valid {
		t.Run(c.Name, func(t *testing.T) {
			r, err := filter.Compile(c.input())
			if err != nil {
				t.Fatalf("Compile(%s): %v", c.input(), err)
			}
			got := r.JSON()
			if string(c.JSON) == "null" {
				if got != nil || !r.MatchAll() {
					t.Fatalf("JSON() = %s, MatchAll() = %v; want nil, true", got, r.MatchAll())
				}
				return
			}
			if r.MatchAll() {
				t.Fatal("MatchAll() = true")
			}
			if !reflect.DeepEqual(decode(t, got), decode(t, c.JSON)) {
				t.Fatalf("JSON() = %s\nwant     %s", got, c.JSON)
			}
			again, err := filter.Compile(got)
			if err != nil {
				t.Fatalf("Compile(JSON()): %v", err)
			}
			if string(again.JSON()) != string(got) {
				t.Fatalf("Compile(JSON()).JSON() = %s, want %s", again.JSON(), got)
			}
		})
	}
}

func TestCompileInvalid(t *testing.T) {
	var cases compileCases
	readJSON(t, "compile.json", &cases)
	for _, c := range cases.Invalid {
		t.Run(c.Name, func(t *testing.T) {
			r, err := filter.Compile(c.input())
			checkError(t, r, err, c.Path, c.Reason)
		})
	}
}

// checkError checks that Compile failed with an *Error (the registry type-asserts it) at path
// whose reason contains reason.
func checkError(t *testing.T, r *filter.Rule, err error, path, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Compile succeeded with JSON() = %s", r.JSON())
	}
	fe, ok := err.(*filter.Error)
	if !ok {
		t.Fatalf("error %v is a %T, want *filter.Error", err, err)
	}
	if r != nil {
		t.Fatal("Compile returned a rule and an error")
	}
	if fe.Path != path || !strings.Contains(fe.Reason, reason) {
		t.Fatalf("error at %q: %q; want at %q: ...%q...", fe.Path, fe.Reason, path, reason)
	}
}

func TestCompileLimits(t *testing.T) {
	nest := func(n int, inner string) string {
		return strings.Repeat(`{"!":`, n) + inner + strings.Repeat("}", n)
	}
	list := func(n int, item string) string {
		return `{"+":[` + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + `]}`
	}
	pad := func(rule string, size int) string { return rule + strings.Repeat(" ", size-len(rule)) }
	for _, c := range []struct {
		name, rule   string
		path, reason string // reason "" means valid
	}{
		{"16 KiB", pad(`{"==":[1,1]}`, 16384), "", ""},
		{"over 16 KiB", pad(`{"==":[1,1]}`, 16385), "", "rule is 16385 bytes, the limit is 16384"},
		{"over 16 KiB after the rewrite", list(400, `"$`+strings.Repeat("a", 36)+`"`), "", "after rewriting $names, the limit is 16384"},
		{"depth 32", nest(32, "true"), "", ""},
		{"depth 33", nest(33, "true"), strings.TrimSuffix(strings.Repeat("!.", 32), "."), "nesting is deeper than 32 levels"},
		{"depth 31 with a $name", nest(31, `"$x"`), "", ""},
		{"depth 32 with a $name", nest(32, `"$x"`), strings.TrimSuffix(strings.Repeat("!.", 32), "."), "nesting is deeper than 32 levels"},
		{"1000 values", list(998, "1"), "", ""},
		{"1001 values", list(999, "1"), "", "more than 1000 values"},
		{"1000 values with $names", list(499, `"$a"`), "", ""},
		{"1002 values with $names", list(500, `"$a"`), "", "more than 1000 values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := filter.Compile([]byte(c.rule))
			if c.reason != "" {
				checkError(t, r, err, c.path, c.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := filter.Compile(r.JSON()); err != nil {
				t.Fatalf("Compile(JSON()): %v", err)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	for _, c := range []struct {
		err  filter.Error
		want string
	}{
		{filter.Error{Path: "and[1].===", Reason: "needs 2 arguments, got 1"}, "filter: at and[1].===: needs 2 arguments, got 1"},
		{filter.Error{Reason: "invalid JSON"}, "filter: invalid JSON"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

func TestMatch(t *testing.T) {
	var file struct{ Cases []matchCase }
	readJSON(t, "match.json", &file)
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := mustCompile(t, string(c.Rule))
			got, err := r.Match(decode(t, c.Data))
			switch {
			case c.Err != "":
				if err == nil || !strings.Contains(err.Error(), c.Err) {
					t.Fatalf("Match = %v, %v; want an error containing %q", got, err, c.Err)
				}
				if got {
					t.Fatal("Match returned true with an error")
				}
			case c.Want == nil:
				t.Fatal("case has neither want nor err")
			case err != nil || got != *c.Want:
				t.Fatalf("Match = %v, %v; want %v", got, err, *c.Want)
			}
		})
	}
}

func TestMatchAllRules(t *testing.T) {
	var nilRule *filter.Rule
	for name, r := range map[string]*filter.Rule{"nil": nilRule, "zero": {}, "compiled": mustCompile(t, "null")} {
		ok, err := r.Match(map[string]any{"a": 1})
		if !ok || err != nil || !r.MatchAll() || r.JSON() != nil {
			t.Errorf("%s: Match = %v, %v; MatchAll = %v; JSON = %s", name, ok, err, r.MatchAll(), r.JSON())
		}
	}
}

// TestMatchGoValues passes values encoding/json never produces: Match must not panic.
func TestMatchGoValues(t *testing.T) {
	rules := []string{
		`{"===":["$a","x"]}`, `{"==":["$a",1]}`, `{"<":["$a",1,"$b"]}`, `{"in":["x","$a"]}`,
		`{"+":["$a",1]}`, `{"cat":["$a"]}`, `{"some":["$a",{"==":[{"var":""},1]}]}`,
		`{"filter":["$a",true]}`, `{"reduce":["$a",{"+":["$current",1]},0]}`, `{"missing":["a","a.b"]}`,
		`{"var":"a.b.0"}`, `{"merge":["$a"]}`, `{"substr":["$a",1]}`, `{"!":"$a"}`,
	}
	values := []any{
		map[string]string{"a": "x"}, []string{"x"}, 1, int64(1), json.Number("1"), struct{ A int }{1},
		map[string]any{"a": json.Number("1")}, map[string]any{"a": []string{"x"}},
		map[string]any{"a": map[string]int{"b": 1}}, map[string]any{"a": 1, "b": []int{1}},
		map[string]any{"a": func() {}}, map[string]any{"a": make(chan int)}, map[string]any{"a": (*int)(nil)},
	}
	for _, rule := range rules {
		r := mustCompile(t, rule)
		for _, v := range values {
			_, _ = r.Match(v) // a panic fails the test
		}
	}
}

// sampleRules use every kind of operation; TestMatchDoesNotModifyData and
// TestConcurrentMatch run them on testdata/event.json.
var sampleRules = []string{
	`{"===":["$eventType","usercreatedevent"]}`,
	`{"and":[{"in":["$data.user.country",["DE","FR"]]},{">=":["$data.user.age",18]},"$data.user.verified"]}`,
	`{"some":["$data.items",{"===":["$sku","ADDON-SSO"]}]}`,
	`{"all":["$data.items",{">":["$quantity",0]}]}`,
	`{"none":["$data.user.roles",{"==":[{"var":""},"root"]}]}`,
	`{"==":[{"reduce":["$data.items",{"+":["$accumulator","$current.quantity"]},0]},252]}`,
	`{"in":["SEAT-ENT",{"map":["$data.items",{"var":"sku"}]}]}`,
	`{"filter":["$data.organization.tags",{"in":[{"var":""},["eu","us"]]}]}`,
	`{"if":["$data.user.verified",{"<":[0,"$data.organization.seats",1000]},false]}`,
	`{"!":{"missing":["eventType","data.user.id"]}}`,
	`{"missing_some":[1,["data.user.phone","data.user.email"]]}`,
	`{"===":[{"cat":["$data.user.name.first"," ",{"substr":["$data.user.name.last",0,4]}]},"Ada Love"]}`,
	`{"in":["beta",{"merge":["$data.organization.tags",["x"]]}]}`,
	`{"?:":["$data.referrer",{"in":["partners","$data.referrer"]},false]}`,
	`{"==":[{"max":[{"var":["data.user.age",0]},{"min":[1,2]},{"abs":-3}]},36]}`,
	`{"+":["$data.user.email",1]}`, // an error: a string is not a number
}

func loadEvent(t testing.TB) ([]byte, any) {
	t.Helper()
	b, err := os.ReadFile("testdata/event.json")
	if err != nil {
		t.Fatal(err)
	}
	return b, decode(t, b)
}

func TestMatchDoesNotModifyData(t *testing.T) {
	raw, event := loadEvent(t)
	for _, rule := range sampleRules {
		r := mustCompile(t, rule)
		for range 3 {
			_, _ = r.Match(event)
		}
	}
	if !reflect.DeepEqual(event, decode(t, raw)) {
		t.Fatal("Match modified the event")
	}
}

// TestConcurrentMatch evaluates the same rules on the same event from many goroutines. It is
// meant for go test -race; it also checks that every goroutine sees the sequential results.
func TestConcurrentMatch(t *testing.T) {
	_, event := loadEvent(t)
	type result struct {
		ok  bool
		err string
	}
	rules := make([]*filter.Rule, len(sampleRules))
	want := make([]result, len(sampleRules))
	for i, s := range sampleRules {
		rules[i] = mustCompile(t, s)
		ok, err := rules[i].Match(event)
		if err != nil {
			want[i].err = err.Error()
		}
		want[i].ok = ok
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for n := range 50 {
				i := (g + n) % len(rules)
				ok, err := rules[i].Match(event)
				got := result{ok: ok}
				if err != nil {
					got.err = err.Error()
				}
				if got != want[i] {
					t.Errorf("rule %s: got %+v, want %+v", sampleRules[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}
