package filter

import (
	"bytes"
	"fmt"
	"math"

	"github.com/diegoholiveira/jsonlogic/v3"
)

// Error reports a rule that cannot be compiled. Path points at the offending node in a JS-like
// notation relative to the rule root: "and[1].===" is the arguments of the === operation that is
// the second argument of the root "and"; "" is the root.
type Error struct {
	Path   string
	Reason string
}

// Error returns "filter: at <path>: <reason>", or "filter: <reason>" when Path is empty.
func (e *Error) Error() string {
	if e.Path == "" {
		return "filter: " + e.Reason
	}
	return "filter: at " + e.Path + ": " + e.Reason
}

// Rule is a compiled rule. The zero value and a nil *Rule match everything.
type Rule struct {
	// tree is the form evaluated by jsonlogic (see compile.go). It is never modified after
	// Compile: jsonlogic v3.5.1 builds new maps and slices for its results and only reads the
	// rule, so Match can share it between goroutines without copying.
	tree any
	// json is the normalized rule, nil for a rule that matches everything.
	json []byte
}

// Compile validates raw JSON and returns a Rule. Empty input, `null` and `{}` compile to a rule
// that matches everything. Any other failure is returned as an *Error.
func Compile(raw []byte) (*Rule, error) {
	return compile(raw)
}

// JSON returns the normalized rule (after the $name rewrite) as compact JSON, or nil for a
// match-all rule. This is what gets stored. The caller may modify the returned slice.
func (r *Rule) JSON() []byte {
	if r == nil {
		return nil
	}
	return bytes.Clone(r.json)
}

// MatchAll reports whether the rule matches everything (no filter).
func (r *Rule) MatchAll() bool {
	return r == nil || r.json == nil
}

// Match evaluates the rule on decoded JSON data: the values encoding/json produces when it
// decodes into an `any` (map[string]any, []any, string, float64, bool, nil). Other Go types may
// make it fail. A nil *Rule matches.
//
// Match never panics; a failure inside jsonlogic (such as a string where the rule needs a number)
// is returned as an error. The result is true when the rule's value is truthy: false, null, 0,
// NaN, "" and the empty array are falsy, everything else (including every object) is truthy.
//
// Match is safe for concurrent use, also on the same data: neither the rule nor the data is
// modified. Its cost grows with the length of the event's arrays times the size of the logic
// that iterates over them (about 1 µs per operation per element), so bound the size of the
// events you filter.
func (r *Rule) Match(data any) (bool, error) {
	if r.MatchAll() {
		return true, nil
	}
	// ApplyInterface is deprecated, but it is the only entry point that takes decoded values:
	// Apply and ApplyRaw decode the rule and the data on every call.
	v, err := evaluate(jsonlogic.ApplyInterface, r.tree, data)
	if err != nil {
		return false, fmt.Errorf("filter: evaluating rule: %w", err)
	}
	return truthy(v), nil
}

// evaluate calls apply and turns any panic into an error. ApplyInterface recovers panics itself
// but asserts that the value is an error, so a panic with another value (possible from an
// operator added with jsonlogic.AddOperator) escapes it.
func evaluate(apply func(rule, data any) (any, error), rule, data any) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				v, err = nil, e
			} else {
				v, err = nil, fmt.Errorf("panic: %v", p)
			}
		}
	}()
	return apply(rule, data)
}

// truthy follows JSON logic (and JavaScript), not jsonlogic v3.5.1, which treats NaN as true and
// the empty object as false.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case int:
		return v != 0
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	default:
		return true
	}
}
