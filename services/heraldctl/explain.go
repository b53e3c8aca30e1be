package heraldctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/pkg/filter"
)

// EventData builds what a rule sees from a Kafka message, as the matcher does: the value must
// be a JSON object; eventType comes from the eventType header or else the body field; headers
// are reachable by name, and body fields win over headers of the same name.
func EventData(body []byte, headers map[string]string) (map[string]any, error) {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("the event is not a JSON object; the matcher quarantines such messages to herald.invalid")
	}
	var data map[string]any
	if err := json.Unmarshal(body, &data); err != nil {
		return nil, fmt.Errorf("the event is not valid JSON (the matcher quarantines it to herald.invalid): %w", err)
	}
	eventType := headers["eventType"]
	if eventType == "" {
		switch v := data["eventType"].(type) {
		case string:
			eventType = v
		case nil:
		default:
			return nil, fmt.Errorf("the eventType field is a %T, not a string (the matcher quarantines the message)", v)
		}
	}
	if eventType != "" {
		data["eventType"] = eventType
	}
	for k, v := range headers {
		if _, taken := data[k]; !taken {
			data[k] = v
		}
	}
	return data, nil
}

// Explanation says why a rule matched an event or not.
type Explanation struct {
	// Rule is the normalized rule ("$name" rewritten to {"var":"name"}); nil (JSON null) for
	// no rule, which matches everything.
	Rule    json.RawMessage `json:"rule"`
	Matched bool            `json:"matched"`
	// Operator is the root operation ("and", "or", "===", …); "" for a literal or empty rule.
	Operator string `json:"operator,omitempty"`
	// Operands are the operands of a root "and" or "or", each evaluated on its own; for any
	// other root, the root itself (Index -1).
	Operands []Operand `json:"operands"`
}

// Operand is one part of a rule with its value on the event and the fields it reads.
type Operand struct {
	Index  int             `json:"index"`
	Rule   json.RawMessage `json:"rule"`
	Value  bool            `json:"value"`
	Fields []FieldValue    `json:"fields,omitempty"`
}

// FieldValue is a field a rule reads ({"var": …}) and its value in the event.
type FieldValue struct {
	Name string `json:"name"`
	// Value is the field's value; nil when the field is missing.
	Value   json.RawMessage `json:"value,omitempty"`
	Missing bool            `json:"missing,omitempty"`
	// Default is the var's default value, used when the field is missing.
	Default json.RawMessage `json:"default,omitempty"`
}

// iterOps run their second (and later) arguments once per array element; a var there reads
// the element, not the event.
var iterOps = map[string]bool{"map": true, "filter": true, "reduce": true, "all": true, "none": true, "some": true}

// Explain evaluates rule on data (see EventData) and breaks the result down: the value of each
// top-level operand of "and" / "or", or of the root operation, with the event fields it reads.
// It uses the matcher's own rule engine, so the result is the one the matcher reaches.
func Explain(rule *filter.Rule, data map[string]any) (*Explanation, error) {
	matched, err := rule.Match(data)
	if err != nil {
		return nil, err
	}
	ex := &Explanation{Rule: rule.JSON(), Matched: matched, Operands: []Operand{}}
	if rule.MatchAll() {
		return ex, nil
	}
	tree, err := decodeJSON(ex.Rule)
	if err != nil {
		return nil, err
	}
	op, args, isOp := operation(tree)
	if !isOp {
		ex.Operands = append(ex.Operands, Operand{Index: -1, Rule: ex.Rule, Value: matched})
		return ex, nil
	}
	ex.Operator = op
	list, isList := args.([]any)
	if (op != "and" && op != "or") || !isList {
		ex.Operands = append(ex.Operands, Operand{Index: -1, Rule: ex.Rule, Value: matched, Fields: fieldsOf(tree, data)})
		return ex, nil
	}
	for i, a := range list {
		o := Operand{Index: i, Rule: encodeJSON(a), Fields: fieldsOf(a, data)}
		if _, _, ok := operation(a); ok {
			r, err := filter.Compile(o.Rule)
			if err != nil {
				return nil, fmt.Errorf("operand %d: %w", i, err)
			}
			if o.Value, err = r.Match(data); err != nil {
				return nil, fmt.Errorf("operand %d: %w", i, err)
			}
		} else {
			o.Value = truthy(a)
		}
		ex.Operands = append(ex.Operands, o)
	}
	return ex, nil
}

// operation returns the operator and arguments of {"op": args}.
func operation(v any) (string, any, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, false
	}
	for k, a := range m {
		return k, a, true
	}
	return "", nil, false
}

// fieldsOf lists the event fields v reads, in order, each once, with their values in data.
// Vars inside the per-element logic of map, filter, … read array elements and are left out.
func fieldsOf(v any, data map[string]any) []FieldValue {
	var out []FieldValue
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case []any:
			for _, e := range t {
				walk(e)
			}
		case map[string]any:
			op, args, ok := operation(t)
			if !ok {
				return
			}
			if op == "var" {
				name, def, hasDef := varArgs(args)
				if name == "" || seen[name] {
					return
				}
				seen[name] = true
				f := FieldValue{Name: name}
				if val, found := lookupPath(data, name); found {
					f.Value = encodeJSON(val)
				} else {
					f.Missing = true
					if hasDef {
						f.Default = encodeJSON(def)
					}
				}
				out = append(out, f)
				return
			}
			if iterOps[op] {
				if l, ok := args.([]any); ok && len(l) > 0 {
					walk(l[0])
				}
				return
			}
			walk(args)
		}
	}
	walk(v)
	return out
}

// varArgs reads {"var": "a.b"}, {"var": ["a.b", default]} and numeric names.
func varArgs(args any) (name string, def any, hasDef bool) {
	if l, ok := args.([]any); ok {
		if len(l) == 0 {
			return "", nil, false
		}
		if len(l) > 1 {
			def, hasDef = l[1], true
		}
		args = l[0]
	}
	switch t := args.(type) {
	case string:
		name = t
	case json.Number:
		name = t.String()
	}
	return name, def, hasDef
}

// lookupPath reads a dotted path ("user.address.city", "items.0") as JSON logic's var does.
func lookupPath(data map[string]any, path string) (any, bool) {
	var cur any = data
	for _, part := range strings.Split(path, ".") {
		switch t := cur.(type) {
		case map[string]any:
			v, ok := t[part]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// truthy is JSON logic's truthiness of a literal.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case json.Number:
		f, err := t.Float64()
		return err == nil && f != 0 && !math.IsNaN(f)
	case float64:
		return t != 0 && !math.IsNaN(t)
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	}
	return true
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// encodeJSON writes v as compact JSON without HTML escaping (rules hold "<").
func encodeJSON(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage(strconv.Quote(fmt.Sprint(v)))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Render writes the explanation for people: the normalized rule, the result and, for each
// operand, its value and the fields it read.
func (ex *Explanation) Render(w io.Writer) {
	if ex.Rule == nil {
		fmt.Fprintln(w, "rule:    (none)")
	} else {
		fmt.Fprintf(w, "rule:    %s\n", ex.Rule)
	}
	if ex.Matched {
		fmt.Fprintln(w, "result:  MATCHED")
	} else {
		fmt.Fprintln(w, "result:  NOT MATCHED")
	}
	fmt.Fprintf(w, "why:     %s\n", ex.reason())
	for _, o := range ex.Operands {
		label, pad := "", ""
		if o.Index >= 0 {
			label = fmt.Sprintf("[%d] ", o.Index)
			pad = strings.Repeat(" ", len(label))
		}
		fmt.Fprintf(w, "  %s%-5v  %s\n", label, o.Value, o.Rule)
		for _, f := range o.Fields {
			fmt.Fprintf(w, "  %s       %s\n", pad, f.text())
		}
	}
}

func (f FieldValue) text() string {
	switch {
	case !f.Missing:
		return f.Name + " = " + string(f.Value)
	case f.Default != nil:
		return f.Name + " is missing (the default " + string(f.Default) + " is used)"
	}
	return f.Name + " is missing (null)"
}

func (ex *Explanation) reason() string {
	var trues, falses []string
	for _, o := range ex.Operands {
		if o.Value {
			trues = append(trues, fmt.Sprintf("[%d]", o.Index))
		} else {
			falses = append(falses, fmt.Sprintf("[%d]", o.Index))
		}
	}
	switch {
	case ex.Rule == nil:
		return "there is no rule: every event matches"
	case ex.Operator == "and" && len(ex.Operands) > 0 && ex.Operands[0].Index >= 0 && ex.Matched:
		return `"and" needs every operand to be true, and all are`
	case ex.Operator == "and" && len(ex.Operands) > 0 && ex.Operands[0].Index >= 0:
		return `"and" needs every operand to be true; false: ` + strings.Join(falses, ", ")
	case ex.Operator == "or" && len(ex.Operands) > 0 && ex.Operands[0].Index >= 0 && ex.Matched:
		return `"or" needs one operand to be true; true: ` + strings.Join(trues, ", ")
	case ex.Operator == "or" && len(ex.Operands) > 0 && ex.Operands[0].Index >= 0:
		return `"or" needs one operand to be true, and none is`
	case ex.Matched:
		return "the rule is true for this event"
	}
	return "the rule is false for this event"
}
