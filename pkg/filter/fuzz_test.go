package filter_test

import (
	"bytes"
	"testing"

	"github.com/heraldhq/herald/pkg/filter"
)

// FuzzCompile checks that Compile never panics, that a compiled rule never panics in Match,
// and that JSON() compiles to the same rule.
func FuzzCompile(f *testing.F) {
	var compile compileCases
	readJSON(f, "compile.json", &compile)
	for _, c := range append(compile.Valid, compile.Invalid...) {
		f.Add(c.input())
	}
	var match struct{ Cases []matchCase }
	readJSON(f, "match.json", &match)
	for _, c := range match.Cases {
		f.Add([]byte(c.Rule))
	}
	for _, r := range sampleRules {
		f.Add([]byte(r))
	}
	// A few events: empty ones, a real one, and events that loop when jsonlogic runs them as
	// rules (a stack overflow kills the fuzzing process, so it is reported).
	_, event := loadEvent(f)
	var samples []any
	for _, s := range []string{
		`null`, `{}`, `[1,"x",null,{"a":1}]`,
		`{"a":{"if":[true,{"var":""},0]}}`,
		`{"x":[{"var":""},0,0]}`,
		`{"xs":[{"y":{"x":[{"var":""},0,0]}}],"a":1,"b":"x"}`,
	} {
		samples = append(samples, decode(f, []byte(s)))
	}
	samples = append(samples, event, map[string]any{"a": event, "xs": []any{event, 1.0, "x", nil}})

	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := filter.Compile(raw)
		if err != nil {
			if _, ok := err.(*filter.Error); !ok {
				t.Fatalf("error %v is a %T, want *filter.Error", err, err)
			}
			return
		}
		j := r.JSON()
		again, err := filter.Compile(j)
		if err != nil {
			t.Fatalf("Compile(%q) = %s, which does not compile: %v", raw, j, err)
		}
		if !bytes.Equal(again.JSON(), j) || again.MatchAll() != r.MatchAll() {
			t.Fatalf("Compile(%q) = %s, which compiles to %s", raw, j, again.JSON())
		}
		for _, data := range samples {
			ok, err := r.Match(data) // a panic fails the fuzz target
			ok2, err2 := again.Match(data)
			if ok != ok2 || (err == nil) != (err2 == nil) {
				t.Fatalf("%s and its recompiled form disagree: %v, %v and %v, %v", j, ok, err, ok2, err2)
			}
		}
	})
}
