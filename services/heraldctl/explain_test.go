package heraldctl

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/pkg/filter"
)

type explainCase struct {
	Name     string            `json:"name"`
	Rule     json.RawMessage   `json:"rule"`
	Event    json.RawMessage   `json:"event"`
	Headers  map[string]string `json:"headers"`
	Matched  bool              `json:"matched"`
	Operator string            `json:"operator"`
	Operands []struct {
		Index  int      `json:"index"`
		Value  bool     `json:"value"`
		Fields []string `json:"fields"`
	} `json:"operands"`
}

// TestExplain runs the cases of testdata/explain.json: the result, the operator, and each
// operand's value and the fields it reads.
func TestExplain(t *testing.T) {
	raw, err := os.ReadFile("testdata/explain.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []explainCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 5 {
		t.Fatalf("only %d cases in testdata/explain.json", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			rule, err := filter.Compile(tc.Rule)
			if err != nil {
				t.Fatal(err)
			}
			data, err := EventData(tc.Event, tc.Headers)
			if err != nil {
				t.Fatal(err)
			}
			ex, err := Explain(rule, data)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Matched != tc.Matched || ex.Operator != tc.Operator {
				t.Fatalf("matched %v operator %q, want %v %q", ex.Matched, ex.Operator, tc.Matched, tc.Operator)
			}
			if len(ex.Operands) != len(tc.Operands) {
				t.Fatalf("%d operands, want %d: %+v", len(ex.Operands), len(tc.Operands), ex.Operands)
			}
			for i, want := range tc.Operands {
				got := ex.Operands[i]
				var fields []string
				for _, f := range got.Fields {
					fields = append(fields, f.text())
				}
				if got.Index != want.Index || got.Value != want.Value || !slices.Equal(fields, want.Fields) && len(fields)+len(want.Fields) > 0 {
					t.Errorf("operand %d: index %d value %v fields %q, want %d %v %q", i, got.Index, got.Value, fields, want.Index, want.Value, want.Fields)
				}
			}
			// The operands must agree with the whole rule.
			if tc.Operator == "and" || tc.Operator == "or" {
				all, anyTrue := true, false
				for _, o := range ex.Operands {
					all, anyTrue = all && o.Value, anyTrue || o.Value
				}
				if (tc.Operator == "and" && all != ex.Matched) || (tc.Operator == "or" && anyTrue != ex.Matched) {
					t.Fatalf("operands %+v disagree with the result %v", ex.Operands, ex.Matched)
				}
			}
		})
	}
}

func TestExplainRendersWhy(t *testing.T) {
	rule, err := filter.Compile([]byte(`{"and":[{"===":["$eventType","userCreatedEvent"]},{"==":["$region","eu"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	data, err := EventData([]byte(`{"eventType":"userCreatedEvent","region":"us"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Explain(rule, data)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	ex.Render(&buf)
	golden(t, "explain.golden", buf.Bytes())
}

func TestEventDataRejectsWhatTheMatcherQuarantines(t *testing.T) {
	for _, tc := range []struct{ event, want string }{
		{`[1,2]`, "not a JSON object"},
		{`{"a":`, "not valid JSON"},
		{`{"eventType":42}`, "not a string"},
	} {
		if _, err := EventData([]byte(tc.event), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("EventData(%s) = %v, want an error containing %q", tc.event, err, tc.want)
		}
	}
}
