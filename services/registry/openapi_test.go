package registry

// These tests keep docs/openapi.json honest. They need no servers: only routing, the auth checks
// that run before any store access, and the proto descriptors are exercised.
//
// The routes the registry serves are read from the source, not from a list kept here:
// handler.go's routes function (every mux.Handle and h.actions call, with each route(...)'s
// success status, API method and the request fields its fill function takes from the path and
// query) and the mux.Handle/HandleFunc calls in service.go (/healthz, /readyz, /metrics, which
// Service.New registers next to the JSON routes and which cannot be built without MongoDB).
// What was read is then checked against the live mux that handler.routes builds.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/segmentio/kafka-go"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldhq/herald/pkg/signature"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"github.com/heraldhq/herald/services/registry/internal/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

const (
	openAPIPath       = "../../docs/openapi.json"
	openAPIAdminToken = "adm_openapi_test_token_0123456789"
	registryService   = "herald.registry.v1.RegistryService"
)

// The registered file descriptor; importing registryv1 registers it in protoregistry.GlobalFiles.
var _ = registryv1.File_herald_registry_v1_registry_proto

// ---- the OpenAPI document, the parts these tests read ----

type oaSpec struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Webhooks   map[string]map[string]*oaOperation    `json:"webhooks"`
	Components struct {
		Schemas         map[string]*oaSchema    `json:"schemas"`
		Parameters      map[string]*oaParameter `json:"parameters"`
		Responses       map[string]*oaResponse  `json:"responses"`
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
	} `json:"components"`

	ops map[string]*oaOperation // "POST /v1/apps" → operation
}

type oaOperation struct {
	OperationID string                 `json:"operationId"`
	ProtoRPC    string                 `json:"x-proto-rpc"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description"`
	Security    *[]map[string][]string `json:"security"`
	Parameters  []*oaParameter         `json:"parameters"`
	RequestBody *struct {
		Required bool               `json:"required"`
		Content  map[string]oaMedia `json:"content"`
	} `json:"requestBody"`
	Responses map[string]*oaResponse `json:"responses"`
}

type oaParameter struct {
	Ref      string    `json:"$ref"`
	Name     string    `json:"name"`
	In       string    `json:"in"`
	Required bool      `json:"required"`
	Schema   *oaSchema `json:"schema"`
}

type oaMedia struct {
	Schema  *oaSchema       `json:"schema"`
	Example json.RawMessage `json:"example"`
}

type oaResponse struct {
	Ref     string             `json:"$ref"`
	Content map[string]oaMedia `json:"content"`
}

type oaSchema struct {
	Ref           string               `json:"$ref"`
	Type          string               `json:"type"`
	Format        string               `json:"format"`
	Enum          []string             `json:"enum"`
	Default       json.RawMessage      `json:"default"`
	Maximum       *float64             `json:"maximum"`
	MaxItems      *int                 `json:"maxItems"`
	Items         *oaSchema            `json:"items"`
	Properties    map[string]*oaSchema `json:"properties"`
	Required      []string             `json:"required"`
	AnyOf         []*oaSchema          `json:"anyOf"`
	ProtoMessage  string               `json:"x-proto-message"`
	OmittedFields []string             `json:"x-proto-omitted-fields"`
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

func loadOpenAPI(t *testing.T) (*oaSpec, any) {
	t.Helper()
	b, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s is not JSON: %v", openAPIPath, err)
	}
	s := &oaSpec{ops: map[string]*oaOperation{}}
	if err := json.Unmarshal(b, s); err != nil {
		t.Fatalf("%s: %v", openAPIPath, err)
	}
	if !strings.HasPrefix(s.OpenAPI, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", s.OpenAPI)
	}
	for path, item := range s.Paths {
		for method, rawOp := range item {
			if !slices.Contains(httpMethods, method) {
				t.Fatalf("paths[%q] has %q: only operations are expected at path level", path, method)
			}
			op := &oaOperation{}
			if err := json.Unmarshal(rawOp, op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			s.ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return s, raw
}

func (s *oaSpec) schema(t *testing.T, where string, sc *oaSchema) *oaSchema {
	t.Helper()
	if sc == nil || sc.Ref == "" {
		return sc
	}
	name, ok := strings.CutPrefix(sc.Ref, "#/components/schemas/")
	if !ok || s.Components.Schemas[name] == nil {
		t.Fatalf("%s: $ref %q does not name a schema in components/schemas", where, sc.Ref)
	}
	return s.Components.Schemas[name]
}

func (s *oaSpec) parameter(t *testing.T, where string, p *oaParameter) *oaParameter {
	t.Helper()
	if p.Ref == "" {
		return p
	}
	name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
	if !ok || s.Components.Parameters[name] == nil {
		t.Fatalf("%s: $ref %q does not name a parameter in components/parameters", where, p.Ref)
	}
	return s.Components.Parameters[name]
}

func (s *oaSpec) response(t *testing.T, where string, r *oaResponse) *oaResponse {
	t.Helper()
	if r.Ref == "" {
		return r
	}
	name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
	if !ok || s.Components.Responses[name] == nil {
		t.Fatalf("%s: $ref %q does not name a response in components/responses", where, r.Ref)
	}
	return s.Components.Responses[name]
}

// ---- the routes, as handler.go and service.go register them ----

// muxRoute is one registration: a mux pattern, or one action of an h.actions pattern.
type muxRoute struct {
	pattern string // as registered: "POST /v1/subscriptions/{idAction}"
	action  string // "verify" for an h.actions route
	file    string
	// For route(...) handlers (status 0 for the plain handlers in service.go):
	status    int
	apiMethod string
	fills     []routeFill
}

// routeFill is a request field that a route's fill function takes from the path or the query.
type routeFill struct {
	goField string // "AppId"
	in      string // "path" or "query"
	key     string // the path wildcard or query parameter it is read from
}

// docKey is how the route appears in the OpenAPI file: "POST /v1/subscriptions/{id}:verify".
func (r muxRoute) docKey() string {
	if r.action != "" {
		return strings.Replace(r.pattern, "{idAction}", "{id}:"+r.action, 1)
	}
	return r.pattern
}

func (r muxRoute) method() string {
	m, _, _ := strings.Cut(r.pattern, " ")
	return m
}

var statusConsts = map[string]int{
	"StatusOK": http.StatusOK, "StatusCreated": http.StatusCreated, "StatusAccepted": http.StatusAccepted,
	"StatusNoContent": http.StatusNoContent,
}

func parseGo(t *testing.T, file string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func isSel(e ast.Expr, x, sel string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == x && (sel == "" || s.Sel.Name == sel)
}

func stringLit(t *testing.T, where string, e ast.Expr) string {
	t.Helper()
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		t.Fatalf("%s: expected a string literal, found %T; teach openapi_test.go to read it", where, e)
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// registeredRoutes reads every route registration from handler.go and service.go.
func registeredRoutes(t *testing.T) []muxRoute {
	t.Helper()
	var routes []muxRoute
	f := parseGo(t, "handler.go")
	var fn *ast.FuncDecl
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "routes" && fd.Recv != nil {
			fn = fd
		}
	}
	if fn == nil {
		t.Fatal("handler.go has no routes method")
	}
	for _, st := range fn.Body.List {
		es, ok := st.(*ast.ExprStmt)
		if !ok {
			continue // a := h.api
		}
		call, ok := es.X.(*ast.CallExpr)
		if !ok {
			t.Fatalf("handler.go: unexpected statement in routes: %T", es.X)
		}
		switch {
		case isSel(call.Fun, "mux", "Handle"), isSel(call.Fun, "mux", "HandleFunc"):
			pattern := stringLit(t, "handler.go", call.Args[0])
			r := routeCall(t, pattern, call.Args[1])
			r.pattern, r.file = pattern, "handler.go"
			routes = append(routes, r)
		case isSel(call.Fun, "h", "actions"):
			pattern := "POST " + stringLit(t, "handler.go", call.Args[1])
			byName, ok := call.Args[2].(*ast.CompositeLit)
			if !ok {
				t.Fatalf("handler.go: h.actions(%q) takes a map literal", pattern)
			}
			for _, el := range byName.Elts {
				kv := el.(*ast.KeyValueExpr)
				action := stringLit(t, "handler.go", kv.Key)
				r := routeCall(t, pattern+":"+action, kv.Value)
				r.pattern, r.action, r.file = pattern, action, "handler.go"
				routes = append(routes, r)
			}
		default:
			t.Fatalf("handler.go: routes makes a call openapi_test.go cannot read: %s", exprText(call.Fun))
		}
	}
	ast.Inspect(parseGo(t, "service.go"), func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok && (isSel(call.Fun, "mux", "Handle") || isSel(call.Fun, "mux", "HandleFunc")) {
			routes = append(routes, muxRoute{pattern: stringLit(t, "service.go", call.Args[0]), file: "service.go"})
		}
		return true
	})
	return routes
}

// routeCall reads route(h, http.StatusX, a.Method, fill).
func routeCall(t *testing.T, where string, e ast.Expr) muxRoute {
	t.Helper()
	call, ok := e.(*ast.CallExpr)
	if !ok || exprText(call.Fun) != "route" || len(call.Args) != 4 {
		t.Fatalf("handler.go %s: expected route(h, status, a.Method, fill)", where)
	}
	var r muxRoute
	status, ok := call.Args[1].(*ast.SelectorExpr)
	if !ok || !isSel(status, "http", "") || statusConsts[status.Sel.Name] == 0 {
		t.Fatalf("handler.go %s: status %s is not an http.Status constant this test knows", where, exprText(call.Args[1]))
	}
	r.status = statusConsts[status.Sel.Name]
	if !isSel(call.Args[2], "a", "") {
		t.Fatalf("handler.go %s: the API method is not a.Method", where)
	}
	r.apiMethod = call.Args[2].(*ast.SelectorExpr).Sel.Name
	switch fill := call.Args[3].(type) {
	case *ast.Ident: // nil: everything comes from the body
	case *ast.FuncLit:
		r.fills = readFills(t, where, fill)
	default:
		t.Fatalf("handler.go %s: fill is neither nil nor a function literal", where)
	}
	return r
}

// readFills reads which request fields a fill function sets, and from where.
func readFills(t *testing.T, where string, fn *ast.FuncLit) []routeFill {
	t.Helper()
	m := fn.Type.Params.List[len(fn.Type.Params.List)-1].Names[0].Name // func(r *http.Request, m *X) error
	var fills []routeFill
	seen := map[string]bool{}
	add := func(field, in, key string) {
		fills = append(fills, routeFill{field, in, key})
		seen[field] = true
	}
	source := func(e ast.Expr) (in, key string) {
		call, ok := e.(*ast.CallExpr)
		switch {
		case !ok:
		case isSel(call.Fun, "r", "PathValue"):
			return "path", stringLit(t, where, call.Args[0])
		case exprText(call.Fun) == "actionID":
			return "path", "id" // the id part of {idAction}, documented as {id}:action
		case exprText(call.Fun) == "r.URL.Query().Get":
			return "query", stringLit(t, where, call.Args[0])
		}
		t.Fatalf("handler.go %s: cannot tell where %s comes from; teach openapi_test.go", where, exprText(e))
		return "", ""
	}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				if isSel(lhs, m, "") && len(n.Rhs) == len(n.Lhs) {
					in, key := source(n.Rhs[i])
					add(lhs.(*ast.SelectorExpr).Sel.Name, in, key)
				}
			}
		case *ast.CallExpr:
			if exprText(n.Fun) == "pageQuery" {
				for i, key := range []string{"", "limit", "page"} {
					if u, ok := n.Args[i].(*ast.UnaryExpr); ok && isSel(u.X, m, "") {
						add(u.X.(*ast.SelectorExpr).Sel.Name, "query", key)
					}
				}
			}
		}
		return true
	})
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if s, ok := n.(*ast.SelectorExpr); ok && isSel(s, m, "") && !seen[s.Sel.Name] {
			t.Fatalf("handler.go %s: %s.%s is used in a way openapi_test.go cannot read", where, m, s.Sel.Name)
		}
		return true
	})
	return fills
}

// exprText renders a call or selector expression ("r.URL.Query().Get"), for matching and messages.
func exprText(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.CallExpr:
		return exprText(e.Fun) + "()"
	case *ast.SelectorExpr:
		return exprText(e.X) + "." + e.Sel.Name
	case *ast.Ident:
		return e.Name
	}
	return fmt.Sprintf("%T", e)
}

// ---- the live mux ----

// unusedWriter stands in for Kafka in the routing tests; a write would be a test bug.
type unusedWriter struct{}

func (unusedWriter) WriteMessages(context.Context, ...kafka.Message) error {
	panic("openapi test: a request reached Kafka")
}

func openAPIMux(t *testing.T, routes []muxRoute) *http.ServeMux {
	t.Helper()
	// jobs is set so that routes needing Kafka reach their auth checks instead of answering 503;
	// nothing is ever written (no request gets past the store, which is nil).
	h := &handler{api: &API{adminToken: openAPIAdminToken, jobs: unusedWriter{}}, log: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	h.routes(mux)
	// service.go's own handlers need a running Service; stand-ins route the same patterns.
	for _, r := range routes {
		if r.file == "service.go" {
			mux.HandleFunc(r.pattern, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
		}
	}
	return mux
}

var placeholderRe = regexp.MustCompile(`\{[^{}]+\}`)

func sampleRequest(method, docPath, auth string, body []byte) *http.Request {
	r := httptest.NewRequest(method, placeholderRe.ReplaceAllString(docPath, "x1"), strings.NewReader(string(body)))
	if auth != "" {
		r.Header.Set("Authorization", "Bearer "+auth)
	}
	return r
}

// serve runs one request through the mux. A route that passed authentication and reached the
// (absent) store panics on its nil store; that is reported as panicked, not as a failure.
func serveOnce(mux *http.ServeMux, r *http.Request) (code int, errCode string, panicked bool) {
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if recover() != nil {
				panicked = true
			}
		}()
		mux.ServeHTTP(rec, r)
	}()
	if panicked {
		return 0, "", true
	}
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body.Error.Code, false
}

func splitKey(key string) (method, path string) {
	method, path, _ = strings.Cut(key, " ")
	return method, path
}

// TestOpenAPIRoutesMatchTheMux: every operation in the file is routed by the registry's mux to
// the route it documents, and every route the registry registers is documented.
func TestOpenAPIRoutesMatchTheMux(t *testing.T) {
	spec, _ := loadOpenAPI(t)
	routes := registeredRoutes(t)
	mux := openAPIMux(t, routes)

	served := map[string]muxRoute{}
	for _, r := range routes {
		if _, dup := served[r.docKey()]; dup {
			t.Errorf("%s is registered twice", r.docKey())
		}
		served[r.docKey()] = r
		// What was read from the source is what the mux serves.
		method, path := splitKey(r.docKey())
		if _, got := mux.Handler(sampleRequest(method, path, "", nil)); got != r.pattern {
			t.Errorf("%s (%s): the mux routes it to %q, want %q", r.docKey(), r.file, got, r.pattern)
		}
	}
	if len(served) < 25 {
		t.Fatalf("read only %d routes from handler.go and service.go; the reader is broken", len(served))
	}

	for _, key := range slices.Sorted(maps.Keys(served)) {
		if spec.ops[key] == nil {
			t.Errorf("%s is served (%s) but not documented in %s", key, served[key].file, openAPIPath)
		}
	}
	ids := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(spec.ops)) {
		op := spec.ops[key]
		if op.OperationID == "" || ids[op.OperationID] != "" {
			t.Errorf("%s: operationId %q is empty or also used by %s", key, op.OperationID, ids[op.OperationID])
		}
		ids[op.OperationID] = key
		if op.Summary == "" || op.Description == "" {
			t.Errorf("%s: needs a summary and a description", key)
		}
		method, path := splitKey(key)
		_, got := mux.Handler(sampleRequest(method, path, "", nil))
		r, ok := served[key]
		switch {
		case got == "":
			t.Errorf("%s is documented but the mux does not route it (404/405)", key)
			continue
		case !ok:
			t.Errorf("%s is documented but no such route is registered (the mux sends it to %q)", key, got)
			continue
		case got != r.pattern:
			t.Errorf("%s: the mux routes it to %q, want %q", key, got, r.pattern)
			continue
		}
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		// Authentication comes first, so a request without credentials is answered 401 by the
		// route itself; for a custom method this also shows the action exists (an unknown action
		// is answered 404 by h.actions).
		if code, errCode, _ := serveOnce(mux, sampleRequest(method, path, "", nil)); code != http.StatusUnauthorized || errCode != "unauthenticated" {
			t.Errorf("%s without credentials: %d %q, want 401 unauthenticated", key, code, errCode)
		}
		if r.action != "" {
			bogus := strings.Replace(path, ":"+r.action, ":noSuchAction", 1)
			if code, errCode, _ := serveOnce(mux, sampleRequest(method, bogus, "", nil)); code != http.StatusNotFound || errCode != "not_found" {
				t.Errorf("POST %s: %d %q, want 404 not_found for an unknown action", bogus, code, errCode)
			}
		}
	}
}

// ---- operations against the protos ----

func methodDescriptor(t *testing.T, name string) protoreflect.MethodDescriptor {
	t.Helper()
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		t.Fatalf("%s is a %T, not an RPC", name, d)
	}
	return md
}

// apiTypes returns the request and response message types of an API method.
func apiTypes(t *testing.T, method string) (req, resp reflect.Type) {
	t.Helper()
	m := reflect.ValueOf(&API{}).MethodByName(method)
	if !m.IsValid() || m.Type().NumIn() != 2 || m.Type().NumOut() != 2 {
		t.Fatalf("API has no method %s(ctx, req) (resp, error)", method)
	}
	return m.Type().In(1), m.Type().Out(0)
}

func descriptorOf(t reflect.Type) protoreflect.MessageDescriptor {
	return reflect.New(t.Elem()).Interface().(proto.Message).ProtoReflect().Descriptor()
}

// jsonNameOf returns the protojson name of the Go field of a generated message.
func jsonNameOf(t *testing.T, msg reflect.Type, goField string) string {
	t.Helper()
	sf, ok := msg.Elem().FieldByName(goField)
	if !ok {
		t.Fatalf("%s has no field %s", msg, goField)
	}
	for part := range strings.SplitSeq(sf.Tag.Get("protobuf"), ",") {
		if name, ok := strings.CutPrefix(part, "name="); ok {
			return descriptorOf(msg).Fields().ByName(protoreflect.Name(name)).JSONName()
		}
	}
	t.Fatalf("%s.%s has no protobuf name", msg, goField)
	return ""
}

// TestOpenAPIOperationsMatchTheProtos: each documented route names the RPC whose request and
// response messages its handler uses, its success status is the one the handler writes, its
// parameters are exactly the request fields the handler takes from the path and query, and its
// body is the request message less those.
func TestOpenAPIOperationsMatchTheProtos(t *testing.T) {
	spec, _ := loadOpenAPI(t)
	for _, r := range registeredRoutes(t) {
		op := spec.ops[r.docKey()]
		if op == nil {
			continue // reported by TestOpenAPIRoutesMatchTheMux
		}
		key := r.docKey()
		if r.apiMethod == "" {
			if op.ProtoRPC != "" {
				t.Errorf("%s: served by %s, not by an RPC, but has x-proto-rpc %q", key, r.file, op.ProtoRPC)
			}
			continue
		}
		reqT, respT := apiTypes(t, r.apiMethod)
		reqD, respD := descriptorOf(reqT), descriptorOf(respT)

		if op.OperationID != r.apiMethod {
			t.Errorf("%s: operationId %q, want %q (the handler calls a.%s)", key, op.OperationID, r.apiMethod, r.apiMethod)
		}
		if want := registryService + "." + r.apiMethod; op.ProtoRPC != want {
			t.Errorf("%s: x-proto-rpc %q, want %q", key, op.ProtoRPC, want)
		} else {
			md := methodDescriptor(t, want)
			if md.Input().FullName() != reqD.FullName() || md.Output().FullName() != respD.FullName() {
				t.Errorf("%s: the RPC takes %s and returns %s, the handler %s and %s", key,
					md.Input().FullName(), md.Output().FullName(), reqD.FullName(), respD.FullName())
			}
		}

		// The success response: {"data": <response message>} with the handler's status.
		var ok2xx []string
		for code := range op.Responses {
			if strings.HasPrefix(code, "2") {
				ok2xx = append(ok2xx, code)
			}
		}
		if want := strconv.Itoa(r.status); len(ok2xx) != 1 || ok2xx[0] != want {
			t.Errorf("%s: success responses %v, want exactly %s (route(h, %d, …))", key, ok2xx, want, r.status)
		} else {
			media, ok := spec.response(t, key, op.Responses[want]).Content["application/json"]
			switch {
			case !ok || media.Schema == nil || media.Schema.Properties["data"] == nil || !slices.Contains(media.Schema.Required, "data"):
				t.Errorf("%s %s: the body must be an object with a required data property", key, want)
			default:
				if got := spec.schema(t, key, media.Schema.Properties["data"]).ProtoMessage; got != string(respD.FullName()) {
					t.Errorf("%s %s: data is %q, want x-proto-message %s", key, want, got, respD.FullName())
				}
			}
		}

		// Parameters are the fields the fill function sets, by their JSON names.
		fromReq := map[string]string{} // JSON name → path/query
		for _, f := range r.fills {
			name := jsonNameOf(t, reqT, f.goField)
			if f.key != name {
				t.Errorf("%s: %s is read from %s %q; the file assumes parameter names are JSON names (%q)", key, f.goField, f.in, f.key, name)
			}
			fromReq[name] = f.in
		}
		documented := map[string]string{}
		for _, p := range op.Parameters {
			p = spec.parameter(t, key, p)
			documented[p.Name] = p.In
			fd := reqD.Fields().ByJSONName(p.Name)
			switch {
			case fd == nil:
				t.Errorf("%s: parameter %q is not a field of %s", key, p.Name, reqD.FullName())
			case p.In == "path" && !p.Required:
				t.Errorf("%s: path parameter %q must be required", key, p.Name)
			default:
				checkField(t, spec, key+" parameter "+p.Name, fd, p.Schema)
			}
		}
		if !maps.Equal(fromReq, documented) {
			t.Errorf("%s: parameters %v, but the handler fills %v from the path and query", key, documented, fromReq)
		}

		// The body is the rest of the request message.
		var rest []string
		for i := range reqD.Fields().Len() {
			if name := reqD.Fields().Get(i).JSONName(); fromReq[name] == "" {
				rest = append(rest, name)
			}
		}
		bodyless := r.method() == http.MethodGet || r.method() == http.MethodDelete
		switch {
		case bodyless && len(rest) > 0:
			t.Errorf("%s: %s fields %v are neither path nor query parameters, and a %s has no documented body", key, reqD.FullName(), rest, r.method())
		case len(rest) == 0 && op.RequestBody != nil:
			t.Errorf("%s: documents a request body, but every field of %s comes from the path or query", key, reqD.FullName())
		case len(rest) > 0 && op.RequestBody == nil:
			t.Errorf("%s: needs a request body for %s fields %v", key, reqD.FullName(), rest)
		case len(rest) > 0:
			media, ok := op.RequestBody.Content["application/json"]
			if !ok || media.Schema == nil {
				t.Errorf("%s: the request body must be application/json", key)
				continue
			}
			body := spec.schema(t, key, media.Schema)
			if body.ProtoMessage != string(reqD.FullName()) {
				t.Errorf("%s: request body is %q, want x-proto-message %s", key, body.ProtoMessage, reqD.FullName())
			}
			if !sameSet(body.OmittedFields, slices.Collect(maps.Keys(fromReq))) {
				t.Errorf("%s: x-proto-omitted-fields %v, want the path and query fields %v", key, body.OmittedFields, slices.Sorted(maps.Keys(fromReq)))
			}
			if media.Example != nil {
				checkExample(t, key, media.Example, reqT, fromReq)
			}
		}
	}
}

// checkExample decodes a request body example as the handler would.
func checkExample(t *testing.T, key string, example []byte, reqT reflect.Type, fromReq map[string]string) {
	t.Helper()
	m := reflect.New(reqT.Elem()).Interface().(proto.Message)
	if err := jsonIn.Unmarshal(example, m); err != nil {
		t.Errorf("%s: the request body example does not decode: %v", key, err)
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(example, &top)
	for name := range top {
		if fromReq[name] != "" {
			t.Errorf("%s: the request body example sets %q, which comes from the %s", key, name, fromReq[name])
		}
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// ---- schemas against the protos ----

// TestOpenAPISchemasMatchTheProtos: every schema naming a proto message (x-proto-message) has
// exactly the message's JSON field names, less the path and query fields it declares in
// x-proto-omitted-fields, each with a type protojson uses for that field.
func TestOpenAPISchemasMatchTheProtos(t *testing.T) {
	spec, _ := loadOpenAPI(t)
	checked := 0
	for _, name := range slices.Sorted(maps.Keys(spec.Components.Schemas)) {
		s := spec.Components.Schemas[name]
		if s.ProtoMessage == "" {
			continue
		}
		checked++
		where := "components/schemas/" + name
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(s.ProtoMessage))
		if err != nil {
			t.Errorf("%s: x-proto-message %q: %v", where, s.ProtoMessage, err)
			continue
		}
		md, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			t.Errorf("%s: %s is not a message", where, s.ProtoMessage)
			continue
		}
		if s.Type != "object" {
			t.Errorf("%s: type %q, want object", where, s.Type)
		}
		var want []string
		for i := range md.Fields().Len() {
			if n := md.Fields().Get(i).JSONName(); !slices.Contains(s.OmittedFields, n) {
				want = append(want, n)
			}
		}
		for _, o := range s.OmittedFields {
			if md.Fields().ByJSONName(o) == nil {
				t.Errorf("%s: x-proto-omitted-fields names %q, which is not a field of %s", where, o, md.FullName())
			}
		}
		for _, p := range want {
			if s.Properties[p] == nil {
				t.Errorf("%s: property %q of %s is missing", where, p, md.FullName())
			}
		}
		for _, p := range slices.Sorted(maps.Keys(s.Properties)) {
			fd := md.Fields().ByJSONName(p)
			switch {
			case fd == nil:
				t.Errorf("%s: property %q is not a field of %s (JSON names: %v)", where, p, md.FullName(), want)
			case !slices.Contains(want, p):
				t.Errorf("%s: property %q is listed in x-proto-omitted-fields", where, p)
			default:
				checkField(t, spec, where+"."+p, fd, s.Properties[p])
			}
		}
		for _, r := range s.Required {
			if s.Properties[r] == nil {
				t.Errorf("%s: required %q is not a property", where, r)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d schemas name a proto message; the operations' bodies and data should", checked)
	}
}

// checkField checks that schema s describes proto field fd as protojson writes and reads it.
func checkField(t *testing.T, spec *oaSpec, where string, fd protoreflect.FieldDescriptor, s *oaSchema) {
	t.Helper()
	switch {
	case s == nil:
		t.Errorf("%s: no schema", where)
	case fd.IsMap():
		t.Errorf("%s: map fields are not supported by this test yet", where)
	case fd.IsList():
		if s.Type != "array" || s.Items == nil {
			t.Errorf("%s: repeated %s must be an array with items, got type %q", where, fd.Kind(), s.Type)
			return
		}
		checkSingular(t, spec, where+"[]", fd, s.Items)
	default:
		checkSingular(t, spec, where, fd, s)
	}
}

func checkSingular(t *testing.T, spec *oaSpec, where string, fd protoreflect.FieldDescriptor, s *oaSchema) {
	t.Helper()
	want := func(typ, format string) {
		if s.Ref != "" || s.Type != typ || (format != "" && s.Format != format) {
			t.Errorf("%s: %s field %s must be type %q format %q, got $ref %q type %q format %q", where, fd.Kind(), fd.FullName(), typ, format, s.Ref, s.Type, s.Format)
		}
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		want("string", "")
	case protoreflect.BytesKind:
		want("string", "")
	case protoreflect.BoolKind:
		want("boolean", "")
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		want("integer", "")
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		want("string", "int64") // protojson writes 64-bit integers as strings
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		want("number", "")
	case protoreflect.EnumKind:
		want("string", "")
		var names []string
		for i := range fd.Enum().Values().Len() {
			names = append(names, string(fd.Enum().Values().Get(i).Name()))
		}
		if !sameSet(s.Enum, names) {
			t.Errorf("%s: enum %v, want the value names %v", where, s.Enum, names)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		switch name := fd.Message().FullName(); name {
		case "google.protobuf.Timestamp":
			want("string", "date-time")
		case "google.protobuf.Duration":
			want("string", "")
		case "google.protobuf.Value":
			if s.Ref != "" || s.Type != "" {
				t.Errorf("%s: google.protobuf.Value is any JSON: no type and no $ref, got $ref %q type %q", where, s.Ref, s.Type)
			}
		case "google.protobuf.Struct":
			want("object", "")
		default:
			if s.Ref == "" {
				t.Errorf("%s: message %s must be a $ref to its schema", where, name)
				return
			}
			if got := spec.schema(t, where, s).ProtoMessage; got != string(name) {
				t.Errorf("%s: $ref %s has x-proto-message %q, want %s", where, s.Ref, got, name)
			}
		}
	}
}

// ---- security, errors, webhooks, limits ----

// TestOpenAPISecurityMatchesTheAuthChecks: every /v1 operation requires a bearer key and lists
// the admin token exactly when the route lets it through (routes that act for an app answer the
// admin token 403 before touching the store); the probes require nothing.
func TestOpenAPISecurityMatchesTheAuthChecks(t *testing.T) {
	spec, _ := loadOpenAPI(t)
	routes := registeredRoutes(t)
	mux := openAPIMux(t, routes)
	for name, sc := range spec.Components.SecuritySchemes {
		if sc.Type != "http" || sc.Scheme != "bearer" {
			t.Errorf("securitySchemes.%s: want http bearer (Authorization: Bearer <key>)", name)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(spec.ops)) {
		op := spec.ops[key]
		method, path := splitKey(key)
		if op.Security == nil {
			t.Errorf("%s: no security (use [] for none)", key)
			continue
		}
		if !strings.HasPrefix(path, "/v1/") {
			if len(*op.Security) != 0 {
				t.Errorf("%s: the probes are served without authentication; security must be []", key)
			}
			continue
		}
		var schemes []string
		for _, req := range *op.Security {
			for name := range req {
				if _, ok := spec.Components.SecuritySchemes[name]; !ok {
					t.Errorf("%s: unknown security scheme %q", key, name)
				}
				schemes = append(schemes, name)
			}
		}
		if len(schemes) == 0 {
			t.Errorf("%s: every /v1 route authenticates; security must name appKey and/or adminToken", key)
			continue
		}
		var body []byte
		if op.RequestBody != nil {
			body = op.RequestBody.Content["application/json"].Example
		}
		code, errCode, panicked := serveOnce(mux, sampleRequest(method, path, openAPIAdminToken, body))
		// With the example body, a route that lets the admin token through goes on to the store
		// (nil here, so it panics); one that acts for an app answers 403 first.
		refused := !panicked && code == http.StatusForbidden && errCode == "permission_denied"
		admin := slices.Contains(schemes, "adminToken")
		switch {
		case !panicked && !refused:
			t.Errorf("%s with the admin token: answered %d %q before the auth check could tell (is the request body example valid?)", key, code, errCode)
		case admin && refused:
			t.Errorf("%s: lists adminToken, but the admin token is answered 403 permission_denied", key)
		case !admin && panicked:
			t.Errorf("%s: does not list adminToken, but the admin token gets through to the store", key)
		}
		if refused && op.Responses["403"] == nil {
			t.Errorf("%s: the admin token is answered 403; document it", key)
		}
	}
}

// TestOpenAPIErrorsMatchWriteError: the Error schema is what writeError writes, and each route's
// error responses use it with statuses writeError can produce.
func TestOpenAPIErrorsMatchWriteError(t *testing.T) {
	spec, _ := loadOpenAPI(t)
	errSchema := spec.Components.Schemas["Error"]
	if errSchema == nil || errSchema.Properties["error"] == nil {
		t.Fatal("components/schemas/Error with an error property is missing")
	}
	inner := errSchema.Properties["error"]
	h := &handler{api: &API{}, log: slog.New(slog.DiscardHandler)}
	statuses := map[string]bool{}
	for _, err := range []error{
		&Error{Kind: ErrInvalid, Field: "events[0].name", Message: "m"}, &Error{Kind: ErrUnauthenticated, Message: "m"},
		&Error{Kind: ErrForbidden, Message: "m"}, &Error{Kind: ErrNotFound, Message: "m"},
		&Error{Kind: ErrConflict, Message: "m"}, &Error{Kind: ErrUnavailable, Message: "m"},
		&Error{Kind: ErrMethodNotAllowed, Message: "m"}, errors.New("not an API error"),
	} {
		rec := httptest.NewRecorder()
		h.writeError(rec, httptest.NewRequest("GET", "/v1/x", nil), err)
		var body map[string]map[string]any
		if e := json.Unmarshal(rec.Body.Bytes(), &body); e != nil || len(body) != 1 || body["error"] == nil {
			t.Fatalf("writeError wrote %s", rec.Body)
		}
		for k := range body["error"] {
			if inner.Properties[k] == nil {
				t.Errorf("writeError writes error.%s, which the Error schema lacks", k)
			}
		}
		for _, k := range inner.Required {
			if _, ok := body["error"][k]; !ok {
				t.Errorf("the Error schema requires error.%s, which writeError left out for %v", k, err)
			}
		}
		if code, _ := body["error"]["code"].(string); !slices.Contains(inner.Properties["code"].Enum, code) {
			t.Errorf("writeError's code %q (%d) is not in the Error schema's enum %v", code, rec.Code, inner.Properties["code"].Enum)
		}
		statuses[strconv.Itoa(rec.Code)] = true
	}
	for _, key := range slices.Sorted(maps.Keys(spec.ops)) {
		if _, path := splitKey(key); !strings.HasPrefix(path, "/v1/") {
			continue
		}
		op := spec.ops[key]
		for _, must := range []string{"400", "401", "500"} {
			if op.Responses[must] == nil {
				t.Errorf("%s: every /v1 route can answer %s; document it", key, must)
			}
		}
		for code, resp := range op.Responses {
			if code[0] != '4' && code[0] != '5' {
				continue
			}
			if !statuses[code] {
				t.Errorf("%s: documents %s, which writeError never writes", key, code)
			}
			media, ok := spec.response(t, key, resp).Content["application/json"]
			if !ok || media.Schema == nil || media.Schema.Ref != "#/components/schemas/Error" {
				t.Errorf("%s %s: must be application/json with the Error schema", key, code)
			}
		}
	}
}

// TestOpenAPIWebhookHeaders: the webhook entry documents the headers the dispatcher signs with.
func TestOpenAPIWebhookHeaders(t *testing.T) {
	spec, _ := loadOpenAPI(t)
	op := spec.Webhooks["delivery"]["post"]
	if op == nil {
		t.Fatal("webhooks.delivery.post is missing")
	}
	var headers []string
	for _, p := range op.Parameters {
		if p = spec.parameter(t, "webhook", p); p.In == "header" {
			headers = append(headers, strings.ToLower(p.Name))
		}
	}
	// X-Herald-* are the dispatcher's HeaderVerificationKey and HeaderEvent (another module).
	for _, h := range []string{signature.HeaderID, signature.HeaderTimestamp, signature.HeaderSignature, signature.HeaderHub, "X-Herald-Webhook-Key", "X-Herald-Event"} {
		if !slices.Contains(headers, strings.ToLower(h)) {
			t.Errorf("webhook: header %s is not documented", h)
		}
	}
	if op.RequestBody == nil {
		t.Fatal("webhook: no request body")
	}
	for _, ct := range []string{"application/cloudevents+json", "application/json"} {
		if op.RequestBody.Content[ct].Schema == nil {
			t.Errorf("webhook: no %s body (cloudevents; thin and raw)", ct)
		}
	}
}

// TestOpenAPILimitsMatchTheCode: enums and bounds the file states that the code defines.
func TestOpenAPILimitsMatchTheCode(t *testing.T) {
	spec, _ := loadOpenAPI(t)
	p := spec.Components.Parameters
	if p["Topic"] == nil || !sameSet(p["Topic"].Schema.Enum, Topics) {
		t.Errorf("parameters/Topic must enumerate %v", Topics)
	}
	if l := p["Limit"]; l == nil || l.Schema.Maximum == nil || int(*l.Schema.Maximum) != maxPageSize || string(l.Schema.Default) != strconv.Itoa(defaultPageSize) {
		t.Errorf("parameters/Limit must have maximum %d and default %d", maxPageSize, defaultPageSize)
	}
	if op := spec.ops["GET /v1/subscriptions/{subscriptionId}/deliveries"]; op != nil {
		for _, q := range op.Parameters {
			if q = spec.parameter(t, "ListDeliveries", q); q.Name == "status" && !sameSet(q.Schema.Enum, store.DeliveryStatuses) {
				t.Errorf("ListDeliveries status enum %v, want %v", q.Schema.Enum, store.DeliveryStatuses)
			}
		}
	}
	s := spec.Components.Schemas
	maxItems := func(schema, prop string, want int) {
		if x := s[schema]; x == nil || x.Properties[prop] == nil || x.Properties[prop].MaxItems == nil || *x.Properties[prop].MaxItems != want {
			t.Errorf("%s.%s must have maxItems %d", schema, prop, want)
		}
	}
	maxItems("BulkDeleteEventsRequest", "events", maxBulkDelete)
	maxItems("RemoveEventsRequest", "events", maxBulkDelete)
	maxItems("RegisterEventsRequest", "events", maxEventsPerCall)
	maxItems("SubscriptionOptions", "retrySchedule", maxRetries)
}

// TestOpenAPIRefsResolve: every $ref in the file points at something in it.
func TestOpenAPIRefsResolve(t *testing.T) {
	_, raw := loadOpenAPI(t)
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !strings.HasPrefix(ref, "#/") || lookupPointer(raw, ref[2:]) == nil {
					t.Errorf("%s: $ref %q does not resolve", where, ref)
				}
			}
			for k, x := range v {
				walk(where+"/"+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s/%d", where, i), x)
			}
		}
	}
	walk("#", raw)
}

func lookupPointer(v any, pointer string) any {
	for part := range strings.SplitSeq(pointer, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	return v
}
