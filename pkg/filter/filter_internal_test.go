package filter

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestEvaluateRecoversAnyPanic(t *testing.T) {
	errBoom := errors.New("boom")
	for _, c := range []struct {
		name  string
		panic any
		want  string
	}{
		{"string", "not an error value", "panic: not an error value"},
		{"int", 42, "panic: 42"},
		{"error", errBoom, "boom"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := evaluate(func(rule, data any) (any, error) { panic(c.panic) }, nil, nil)
			if v != nil || err == nil || err.Error() != c.want {
				t.Fatalf("evaluate = %v, %v; want an error %q", v, err, c.want)
			}
		})
	}
	v, err := evaluate(func(rule, data any) (any, error) { return rule, nil }, true, nil)
	if v != true || err != nil {
		t.Fatalf("evaluate = %v, %v; want true, nil", v, err)
	}
}

// TestMatchDoesNotModifyRule backs the claim on Rule.tree that jsonlogic only reads the rule,
// which is why Match needs no copy and no lock.
func TestMatchDoesNotModifyRule(t *testing.T) {
	data := map[string]any{}
	if err := json.Unmarshal([]byte(`{"a":1,"s":"x","xs":[1,2,{"k":"v"}],"o":{"p":[true,null]},"items":[{"sku":"A","n":2},{"sku":"B"}]}`), &data); err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{
		`{"and":["$a",{"<":[0,"$a",2]},{"if":["$s",{"var":["o.p",1]},"$xs"]}]}`,
		`{"some":["$items",{"==":[{"var":["sku","none"]},"B"]}]}`,
		`{"in":[2,{"map":["$items",{"var":"n"}]}]}`,
		`{"filter":["$xs",{"!!":[{"var":""}]}]}`,
		`{"none":["$xs",{"missing":["k"]}]}`,
		`{"all":["$xs",{"?:":[{"var":""},true,false]}]}`,
		`{"reduce":["$xs",{"cat":["$accumulator","$current"]},""]}`,
		`{"merge":["$xs",["$$lit"],{"missing_some":[1,["a","zz"]]}]}`,
		`{"===":[{"substr":[{"cat":["$s","$a"]},-1]},"1"]}`,
	} {
		r, err := Compile([]byte(rule))
		if err != nil {
			t.Fatalf("Compile(%s): %v", rule, err)
		}
		before, err := json.Marshal(r.tree)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			_, _ = r.Match(data)
			_, _ = r.Match(data["items"])
			_, _ = r.Match(nil)
		}
		after, _ := json.Marshal(r.tree)
		if string(before) != string(after) {
			t.Errorf("Match modified the rule %s:\nbefore %s\nafter  %s", rule, before, after)
		}
		if strings.Contains(string(before), `"if"`) {
			t.Errorf("evaluated form of %s still holds an if: %s", rule, before)
		}
	}
}
