package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const (
	maxBytes = 16 << 10 // bytes of JSON, both as given and after the $name rewrite
	maxDepth = 32       // nested arrays and objects
	maxNodes = 1000     // JSON values of every kind
	// maxIterNesting is how many iteration operators (map, filter, ...) may enclose one another
	// through their per-element logic. One means no nesting: the cost of nested iteration grows
	// with the product of the array lengths, which an event controls.
	maxIterNesting = 1
)

// fieldRef matches the "$name" strings that Compile rewrites to {"var":"name"}.
var fieldRef = regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_.]*$`)

// A kind is what a literal (non-operation) argument may be. An operation is accepted for every
// kind except kInit; its result is checked by jsonlogic when the rule runs.
type kind uint8

const (
	kAny   kind = iota
	kNum        // number or numeric string (jsonlogic converts with ParseFloat)
	kStr        // string, number or null (jsonlogic panics on booleans and arrays)
	kArr        // array
	kHay        // string or array: where "in" looks
	kNames      // array of field names (strings or numbers)
	kOp         // only an operation: all/none/some/reduce apply it as a rule
	kInit       // boolean, number or string literal: the initial value of reduce
)

var kindText = [...]string{
	kAny:   "any value",
	kNum:   "a number",
	kStr:   "a string or a number",
	kArr:   "an array",
	kHay:   "a string or an array",
	kNames: "an array of field names",
	kOp:    "an operation",
	kInit:  "a boolean, number or string literal",
}

// spec describes an operator's arguments.
type spec struct {
	min, max int    // number of arguments; max < 0: no upper bound
	unary    bool   // a single non-array argument is allowed, as in {"!": x}
	iter     bool   // argument 0 is an array, argument 1 the logic run on each element
	kinds    []kind // kinds[i] is the kind of argument i; the last entry repeats; nil: kAny
}

const many = -1

// operators lists the operators of jsonlogic v3.5.1 that a filter may use, with their arity as
// the library implements it (operation.go, jsonlogic.go). Arities the library accepts but
// mishandles are excluded: {"==":[a,b,c]} runs the 3-argument "between" code, {"!":[]} panics.
//
// "set" is left out: it does not modify the event (it deep-copies the object first), but it
// copies the whole object on every evaluation, evaluates its value argument a second time,
// returns an object, which a filter has no use for, and is not part of JSON logic.
var operators = map[string]spec{
	// Data access. var and missing are compiled by compileVar and compileMissing.
	"var":          {min: 0, max: 2, unary: true},
	"missing":      {min: 0, max: many, unary: true},
	"missing_some": {min: 2, max: 2, kinds: []kind{kNum, kNames}},

	// Logic and comparison.
	"if":  {min: 2, max: many}, // cond, then [, cond, then ...] [, else]
	"?:":  {min: 3, max: 3},
	"==":  {min: 2, max: 2},
	"===": {min: 2, max: 2},
	"!=":  {min: 2, max: 2},
	"!==": {min: 2, max: 2},
	"!":   {min: 1, max: 1, unary: true},
	"!!":  {min: 1, max: 1, unary: true},
	"or":  {min: 1, max: many},
	"and": {min: 1, max: many},
	">":   {min: 2, max: 2},
	">=":  {min: 2, max: 2},
	"<":   {min: 2, max: 3}, // a < b < c
	"<=":  {min: 2, max: 3},

	// Arithmetic.
	"max": {min: 1, max: many, kinds: []kind{kNum}},
	"min": {min: 1, max: many, kinds: []kind{kNum}},
	"+":   {min: 1, max: many, unary: true, kinds: []kind{kNum}},
	"-":   {min: 1, max: 2, unary: true, kinds: []kind{kNum}},
	"*":   {min: 1, max: many, kinds: []kind{kNum}},
	"/":   {min: 2, max: 2, kinds: []kind{kNum}},
	"%":   {min: 2, max: 2, kinds: []kind{kNum}},
	"abs": {min: 1, max: 1, unary: true, kinds: []kind{kNum}},

	// Arrays.
	"map":       {min: 2, max: 2, iter: true, kinds: []kind{kArr, kAny}},
	"filter":    {min: 2, max: 2, iter: true, kinds: []kind{kArr, kAny}},
	"reduce":    {min: 3, max: 3, iter: true, kinds: []kind{kArr, kOp, kInit}},
	"all":       {min: 2, max: 2, iter: true, kinds: []kind{kArr, kOp}},
	"none":      {min: 2, max: 2, iter: true, kinds: []kind{kArr, kOp}},
	"some":      {min: 2, max: 2, iter: true, kinds: []kind{kArr, kOp}},
	"merge":     {min: 0, max: many},
	"in":        {min: 2, max: 2, kinds: []kind{kAny, kHay}},
	"in_sorted": {min: 2, max: 2, kinds: []kind{kAny, kArr}},

	// Strings.
	"cat":    {min: 0, max: many, kinds: []kind{kStr}},
	"substr": {min: 2, max: 3, kinds: []kind{kStr, kNum}},
}

// boolOps always evaluate to a boolean (in the form Compile produces).
var boolOps = map[string]bool{
	"==": true, "===": true, "!=": true, "!==": true, "!": true, "!!": true,
	"<": true, "<=": true, ">": true, ">=": true, "in": true, "in_sorted": true,
	"all": true, "none": true, "some": true, "and": true,
}

func compile(raw []byte) (*Rule, error) {
	if len(raw) > maxBytes {
		return nil, &Error{Reason: fmt.Sprintf("rule is %d bytes, the limit is %d", len(raw), maxBytes)}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return &Rule{}, nil
	}
	root, err := parse(raw)
	if err != nil {
		return nil, err
	}
	var tree any
	switch v := root.(type) {
	case nil:
		return &Rule{}, nil
	case bool:
		tree = v
	case map[string]any:
		if len(v) == 0 {
			return &Rule{}, nil
		}
		if tree, err = compileOp(v, where{}); err != nil {
			return nil, err
		}
	default:
		return nil, &Error{Reason: "a rule must be an operation (an object) or a boolean, got " + typeName(v)}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<" readable
	if err := enc.Encode(root); err != nil {
		return nil, &Error{Reason: err.Error()} // cannot happen: root holds only JSON types
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(out) > maxBytes {
		return nil, &Error{Reason: fmt.Sprintf("rule is %d bytes after rewriting $names, the limit is %d", len(out), maxBytes)}
	}
	return &Rule{tree: tree, json: out}, nil
}

// parse decodes raw, rewriting "$name" strings, rejecting duplicate object keys and enforcing
// maxDepth and maxNodes on the rewritten tree (so that its JSON compiles again).
func parse(raw []byte) (any, error) {
	p := parser{dec: json.NewDecoder(bytes.NewReader(raw))}
	v, err := p.value("", 0)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, &Error{Reason: "invalid JSON: unexpected data after the rule"}
	}
	return v, nil
}

type parser struct {
	dec   *json.Decoder
	nodes int
}

// value reads one value that depth arrays and objects enclose.
func (p *parser) value(path string, depth int) (any, error) {
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	if err := p.count(path, depth, tok); err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			arr := []any{}
			for i := 0; p.dec.More(); i++ {
				v, err := p.value(indexPath(path, i), depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := p.token() // ']'
			return arr, err
		}
		obj := map[string]any{}
		for p.dec.More() {
			kt, err := p.token()
			if err != nil {
				return nil, err
			}
			k := kt.(string) // the decoder only returns strings as object keys
			if _, dup := obj[k]; dup {
				return nil, &Error{Path: path, Reason: fmt.Sprintf("duplicate key %q", k)}
			}
			if obj[k], err = p.value(keyPath(path, k), depth+1); err != nil {
				return nil, err
			}
		}
		_, err := p.token() // '}'
		return obj, err
	case string:
		if fieldRef.MatchString(t) {
			// One more value (the name) and one more level (the object).
			if err := p.count(path, depth, json.Delim('{')); err != nil {
				return nil, err
			}
			return map[string]any{"var": t[1:]}, nil
		}
		return t, nil
	default: // float64, bool, nil
		return t, nil
	}
}

// count accounts for one value and checks the limits.
func (p *parser) count(path string, depth int, tok json.Token) error {
	p.nodes++
	if p.nodes > maxNodes {
		return &Error{Reason: fmt.Sprintf("rule has more than %d values (the limit)", maxNodes)}
	}
	if _, ok := tok.(json.Delim); ok && depth >= maxDepth {
		return &Error{Path: path, Reason: fmt.Sprintf("nesting is deeper than %d levels (the limit)", maxDepth)}
	}
	return nil
}

func (p *parser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err == nil {
		return tok, nil
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return nil, &Error{Reason: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}
	}
	return nil, &Error{Reason: "invalid JSON: " + err.Error()}
}

// where is the position of a node being compiled.
type where struct {
	path  string
	iter  int    // iteration operators whose logic encloses the node
	outer string // the innermost of them
	// elem: inside the logic of map/filter/all/none/some, where jsonlogic replaces a var by
	// its value in the whole event (solveVars) unless the path is "" or starts with ".".
	elem bool
	mid  bool // inside the middle argument of a 3-argument < or <=
}

func (w where) key(k string) where { w.path = keyPath(w.path, k); return w }
func (w where) at(i int) where     { w.path = indexPath(w.path, i); return w }

func keyPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func fail(w where, format string, a ...any) error {
	return &Error{Path: w.path, Reason: fmt.Sprintf(format, a...)}
}

// compileExpr compiles a value in argument position and returns its evaluated form.
func compileExpr(v any, w where) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		return compileOp(v, w)
	case []any:
		return compileLiteralArray(v, w)
	case string:
		return unescape(v), nil
	default:
		return v, nil
	}
}

// compileLiteralArray checks an array that is a value rather than an argument list: jsonlogic
// never evaluates operations inside it.
func compileLiteralArray(arr []any, w where) (any, error) {
	out := make([]any, len(arr))
	for i, v := range arr {
		var err error
		switch v := v.(type) {
		case map[string]any:
			return nil, fail(w.at(i), "an operation inside a literal array is never evaluated")
		case []any:
			if out[i], err = compileLiteralArray(v, w.at(i)); err != nil {
				return nil, err
			}
		case string:
			out[i] = unescape(v)
		default:
			out[i] = v
		}
	}
	return out, nil
}

func unescape(s string) string {
	if strings.HasPrefix(s, "$$") {
		return s[1:]
	}
	return s
}

// compileOp checks an operation {"op": args} at w and returns its evaluated form.
func compileOp(m map[string]any, w where) (any, error) {
	if len(m) != 1 {
		if len(m) == 0 {
			return nil, fail(w, "empty object: an operation needs an operator as its only key")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, strconv.Quote(k))
		}
		slices.Sort(keys)
		return nil, fail(w, "an operation must have exactly one key, got %d (%s)", len(m), strings.Join(keys, ", "))
	}
	var op string
	var raw any
	for op, raw = range m {
	}
	sp, ok := operators[op]
	if !ok {
		if op == "set" {
			return nil, fail(w, `operator "set" is not allowed in a filter`)
		}
		return nil, fail(w, "unknown operator %q", op)
	}
	aw := w.key(op)
	switch op {
	case "var":
		return compileVar(raw, aw)
	case "missing":
		return compileMissing(raw, aw)
	}
	if sp.iter && w.iter >= maxIterNesting {
		return nil, fail(aw, "%q inside the logic of %q: iteration operators cannot be nested", op, w.outer)
	}

	args, isArr := raw.([]any)
	if !isArr {
		if !sp.unary {
			return nil, fail(aw, "arguments must be an array, got %s", typeName(raw))
		}
		args = []any{raw}
	}
	if n := len(args); n < sp.min || (sp.max >= 0 && n > sp.max) {
		return nil, fail(aw, "%s", arityText(sp.min, sp.max, n))
	}
	between := (op == "<" || op == "<=") && len(args) == 3
	if between && w.mid {
		return nil, fail(aw, "a 3-argument %q inside the middle argument of another is not allowed", op)
	}

	out := make([]any, len(args))
	for i, a := range args {
		aiw := aw
		if isArr {
			aiw = aw.at(i)
		}
		k := kAny
		if len(sp.kinds) > 0 {
			k = sp.kinds[min(i, len(sp.kinds)-1)]
		}
		if err := checkKind(k, a, aiw); err != nil {
			return nil, err
		}
		if sp.iter && i == 1 {
			aiw.iter++
			aiw.outer = op
			aiw.elem = aiw.elem || op != "reduce"
		}
		if between && i == 1 {
			aiw.mid = true
		}
		var err error
		if out[i], err = compileExpr(a, aiw); err != nil {
			return nil, err
		}
	}

	switch {
	case op == "and":
		for i := range out {
			out[i] = asBool(out[i])
		}
	case op == "?:":
		out[0] = asBool(out[0])
	case op == "if":
		return ifChain(out), nil
	case between:
		return map[string]any{"and": []any{
			map[string]any{op: []any{out[0], out[1]}},
			map[string]any{op: []any{out[1], out[2]}}, // out[1] is shared, never copied
		}}, nil
	}
	return map[string]any{op: out}, nil
}

// asBool wraps an evaluated argument in "!!" unless it is already a boolean.
func asBool(v any) any {
	switch v := v.(type) {
	case bool:
		return v
	case map[string]any:
		for op := range v {
			if boolOps[op] {
				return v
			}
		}
	}
	return map[string]any{"!!": []any{v}}
}

// ifChain turns the arguments of "if" (cond, then, cond, then, ..., else) into nested "?:".
func ifChain(args []any) any {
	var tail any // no else: null
	n := len(args)
	if n%2 == 1 {
		tail = args[n-1]
		n--
	}
	for i := n - 2; i >= 0; i -= 2 {
		tail = map[string]any{"?:": []any{asBool(args[i]), args[i+1], tail}}
	}
	return tail
}

// compileVar compiles the arguments of var: a path (string, non-negative integer, null or an
// operation that computes it) or [path] or [path, default].
func compileVar(raw any, w where) (any, error) {
	var pathArg, def any
	pathWhere := w
	switch a := raw.(type) {
	case []any:
		if len(a) > 2 {
			return nil, fail(w, "%s", arityText(0, 2, len(a)))
		}
		if len(a) >= 1 {
			pathArg, pathWhere = a[0], w.at(0)
			switch pathArg.(type) {
			case string, map[string]any:
			default:
				return nil, fail(pathWhere, "a var path in an array must be a string, got %s", typeName(pathArg))
			}
		}
		if len(a) == 2 {
			var err error
			if def, err = compileExpr(a[1], w.at(1)); err != nil {
				return nil, err
			}
		}
	default:
		pathArg = a
	}

	var path string
	switch p := pathArg.(type) {
	case nil:
	case string:
		path = unescape(p)
	case float64:
		if p < 0 || p != math.Trunc(p) || p > 1<<53 {
			return nil, fail(pathWhere, "a numeric var path must be a non-negative integer, got %v", p)
		}
		path = strconv.FormatFloat(p, 'f', -1, 64)
	case map[string]any:
		if w.elem {
			return nil, fail(pathWhere, "a computed var path is not supported inside the logic of %q", w.outer)
		}
		computed, err := compileOp(p, pathWhere)
		if err != nil {
			return nil, err
		}
		if def == nil {
			return map[string]any{"var": computed}, nil
		}
		return map[string]any{"var": []any{computed, def}}, nil
	default:
		return nil, fail(pathWhere, "a var path must be a string, a number or null, got %s", typeName(p))
	}

	if w.elem && path != "" && !strings.HasPrefix(path, ".") {
		path = "." + path // read the element: solveVars leaves "."-paths alone
	}
	v := map[string]any{"var": path}
	if def == nil {
		return v, nil
	}
	// {"var":[path, default]} as "?:": inside iteration logic solveVars would paste in the
	// default whenever the whole event lacks the path, and jsonlogic returns null for
	// {"var":["", default]}.
	return map[string]any{"?:": []any{map[string]any{"===": []any{v, nil}}, def, v}}, nil
}

// compileMissing compiles the arguments of missing: field names, or one operation (such as
// merge) that computes the list.
func compileMissing(raw any, w where) (any, error) {
	var arg any
	switch a := raw.(type) {
	case string:
		arg = unescape(a)
	case float64:
		arg = a
	case map[string]any:
		var err error
		if arg, err = compileOp(a, w); err != nil {
			return nil, err
		}
	case []any:
		out := make([]any, len(a))
		for i, v := range a {
			var err error
			switch v := v.(type) {
			case string:
				out[i] = unescape(v)
			case float64:
				out[i] = v
			case map[string]any:
				if out[i], err = compileOp(v, w.at(i)); err != nil {
					return nil, err
				}
			default:
				return nil, fail(w.at(i), "a field name must be a string or a number, got %s", typeName(v))
			}
		}
		arg = out
	default:
		return nil, fail(w, "a field name must be a string or a number, got %s", typeName(raw))
	}
	return map[string]any{"missing": arg}, nil
}

// checkKind checks a literal argument against k. Operations pass, except for kInit.
func checkKind(k kind, v any, w where) error {
	ok := false
	switch v := v.(type) {
	case map[string]any:
		ok = k != kInit
	case nil:
		ok = k == kAny || k == kStr
	case bool:
		ok = k == kAny || k == kInit
	case float64:
		ok = k == kAny || k == kNum || k == kStr || k == kInit
	case string:
		ok = k == kAny || k == kNum || k == kStr || k == kHay || k == kInit
	case []any:
		ok = k == kAny || k == kArr || k == kHay
		if k == kNames {
			for i, e := range v {
				switch e.(type) {
				case string, float64:
				default:
					return fail(w.at(i), "a field name must be a string or a number, got %s", typeName(e))
				}
			}
			ok = true
		}
	}
	if !ok {
		return fail(w, "must be %s, got %s", kindText[k], typeName(v))
	}
	return nil
}

func arityText(lo, hi, n int) string {
	switch {
	case lo == hi && lo == 1:
		return fmt.Sprintf("needs 1 argument, got %d", n)
	case lo == hi:
		return fmt.Sprintf("needs %d arguments, got %d", lo, n)
	case hi < 0:
		return fmt.Sprintf("needs at least %d argument%s, got %d", lo, plural(lo), n)
	case hi == lo+1:
		return fmt.Sprintf("needs %d or %d arguments, got %d", lo, hi, n)
	default:
		return fmt.Sprintf("needs %d to %d arguments, got %d", lo, hi, n)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}
