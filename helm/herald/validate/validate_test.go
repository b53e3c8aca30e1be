package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/default.yaml is `helm template` of the chart's defaults (fixed secrets); each case
// breaks it in one way and expects the check to say so. testdata/vars.txt is what
// chart-check.sh greps from the services. Regenerate both after changing the chart:
//
//	helm template herald .. --namespace herald --set secrets.adminToken=adm_0123456789abcdef0123 \
//	  --set secrets.secretKey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= > testdata/default.yaml

func known(t *testing.T) KnownVars {
	t.Helper()
	k, err := loadKnownVars("testdata/vars.txt")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestManifestsDefaultPass(t *testing.T) {
	data, err := os.ReadFile("testdata/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := CheckManifests(strings.NewReader(string(data)), Options{Known: known(t)})
	if len(r.Errors) > 0 {
		t.Fatalf("errors on the chart's default render:\n%s", strings.Join(r.Errors, "\n"))
	}
	if !strings.Contains(r.Summary, "3 Deployment") {
		t.Fatalf("summary %q", r.Summary)
	}
}

func TestManifestsCatchMistakes(t *testing.T) {
	data, err := os.ReadFile("testdata/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := string(data)
	cases := []struct {
		name, old, new, want string
		all                  bool
	}{
		{"writable root filesystem", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem must be true", false},
		{"root allowed", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot", true},
		{"unknown field", "  revisionHistoryLimit: 5", "  revisionHistoryLimit: 5\n  replica: 2", `unknown field "spec.replica"`, false},
		{"duplicate field", "  revisionHistoryLimit: 5", "  revisionHistoryLimit: 5\n  revisionHistoryLimit: 6", "revisionHistoryLimit", false},
		{"wrong type", "  revisionHistoryLimit: 5", "  revisionHistoryLimit: many", "revisionHistoryLimit", false},
		{"readiness path", "path: /readyz", "path: /ready", "readinessProbe path", false},
		{"liveness missing", "          livenessProbe:\n            httpGet: {path: /healthz, port: http}", "          livenessProbe:\n            exec: {command: [/bin/true]}", "livenessProbe must be an httpGet", false},
		{"probe port", "httpGet: {path: /readyz, port: http}", "httpGet: {path: /readyz, port: metrics}", "not a port of the container", false},
		{"no cpu request", "              cpu: 100m\n", "", "resources.requests.cpu", false},
		{"registry address", `HERALD_REGISTRY_ADDR: "herald-registry:9090"`, `HERALD_REGISTRY_ADDR: "registry:9090"`, "HERALD_REGISTRY_ADDR", false},
		{"registry port", `HERALD_REGISTRY_ADDR: "herald-registry:9090"`, `HERALD_REGISTRY_ADDR: "herald-registry:8080"`, "no grpc port", false},
		{"unknown variable", "HERALD_MATCHER_GROUP:", "HERALD_MATCHER_GROUPS:", "HERALD_MATCHER_GROUPS is not read by the matcher", false},
		{"variable for another service", "HERALD_MATCHER_BATCH_SIZE:", "HERALD_MAX_IN_FLIGHT:", "HERALD_MAX_IN_FLIGHT is not read by the matcher", false},
		{"missing required", `  HERALD_KAFKA_BROKERS: "kafka:9092"` + "\n", "", "HERALD_KAFKA_BROKERS is required", true},
		{"http addr vs port", `HERALD_HTTP_ADDR: ":8081"`, `HERALD_HTTP_ADDR: ":9999"`, "does not match the container port named http", false},
		{"secret key", "key: secret-key}", "key: secret-keys}", `has no key "secret-keys"`, false},
		{"secret missing", "secretKeyRef: {name: herald, key: admin-token}", "secretKeyRef: {name: elsewhere, key: admin-token}", "neither rendered nor declared external", false},
		{"old API version", "apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n", "not a kind this validator knows", false},
		{"service target port", "targetPort: grpc", "targetPort: grpcs", "does not declare", false},
		{"bad label value", "app.kubernetes.io/version: \"0.1.0\"", "app.kubernetes.io/version: \"0.1.0 beta\"", "label app.kubernetes.io/version", false},
		{"topic prefix disagreement", `HERALD_TOPIC_PREFIX: ""`, `HERALD_TOPIC_PREFIX: "stg."`, "HERALD_TOPIC_PREFIX differs", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.old) {
				t.Fatalf("testdata/default.yaml does not contain %q; regenerate the case", c.old)
			}
			n := 1
			if c.all {
				n = -1
			}
			bad := strings.Replace(good, c.old, c.new, n)
			r := CheckManifests(strings.NewReader(bad), Options{Known: known(t)})
			for _, e := range r.Errors {
				if strings.Contains(e, c.want) {
					return
				}
			}
			t.Fatalf("no error containing %q; got:\n%s", c.want, strings.Join(r.Errors, "\n"))
		})
	}
}

func TestComposeAndDockerfiles(t *testing.T) {
	compose := filepath.Join("..", "..", "..", "deploy", "compose.yaml")
	if r := CheckCompose(compose, Options{Known: known(t)}); len(r.Errors) > 0 {
		t.Fatalf("deploy/compose.yaml:\n%s", strings.Join(r.Errors, "\n"))
	}
	if r := CheckDockerfiles(filepath.Join("..", "..", "..", "deploy")); len(r.Errors) > 0 {
		t.Fatalf("deploy/*/Dockerfile:\n%s", strings.Join(r.Errors, "\n"))
	}

	data, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ old, new, want string }{
		{"HERALD_REGISTRY_ADDR: registry:9090", "HERALD_REGISTRY_ADDR: registry:9091", "want registry:9090"},
		{"    environment:\n      HERALD_HTTP_ADDR: \":8081\"", "    enviroment:\n      HERALD_HTTP_ADDR: \":8081\"", "enviroment"},
		{"HERALD_KAFKA_BROKERS: kafka:19092", "HERALD_KAFKA_BROKERS: kafka:9092", "not an advertised listener"},
		{"HERALD_ADMIN_TOKEN: ${HERALD_ADMIN_TOKEN", "HERALD_ADMIN_TOKEN: literal-token-123456 #", "must come from a Secret"},
		{"KAFKA_PROCESS_ROLES: broker,controller", "KAFKA_PROCESS_ROLES: broker", "KRaft"},
	} {
		if !strings.Contains(string(data), c.old) {
			t.Fatalf("deploy/compose.yaml does not contain %q", c.old)
		}
		dir := t.TempDir()
		// The check resolves the build context (..) and the mounted script from the file's folder.
		deploy := filepath.Join(dir, "deploy")
		for _, sub := range []string{"deploy/kafka", "deploy/registry", "deploy/matcher", "deploy/dispatcher"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"go.work", "deploy/kafka/create-topics.sh", "deploy/registry/Dockerfile", "deploy/matcher/Dockerfile", "deploy/dispatcher/Dockerfile"} {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(deploy, "compose.yaml")
		if err := os.WriteFile(path, []byte(strings.Replace(string(data), c.old, c.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		r := CheckCompose(path, Options{Known: known(t)})
		if !strings.Contains(strings.Join(r.Errors, "\n"), c.want) {
			t.Errorf("compose with %q: no error containing %q; got %q", c.new, c.want, r.Errors)
		}
	}

	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "matcher", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ old, new, want string }{
		{"CGO_ENABLED=0 ", "", "CGO_ENABLED=0"},
		{"USER 65532:65532", "USER nonroot", "numeric non-root uid"},
		{"FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:bookworm", "want gcr.io/distroless/static"},
	} {
		dir := t.TempDir()
		for _, svc := range Components {
			text := string(dockerfile)
			text = strings.ReplaceAll(text, "matcher", svc)
			text = strings.Replace(text, "EXPOSE 8081 9091", "EXPOSE "+strings.Join(defaultPorts[svc], " "), 1)
			if svc == "matcher" {
				text = strings.Replace(text, c.old, c.new, 1)
			}
			if err := os.MkdirAll(filepath.Join(dir, svc), 0o755); err != nil {
				t.Fatal(err)
			}
			for name, body := range map[string]string{"Dockerfile": text, "Dockerfile.dockerignore": "*\n"} {
				if err := os.WriteFile(filepath.Join(dir, svc, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		r := CheckDockerfiles(dir)
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], c.want) {
			t.Errorf("Dockerfile with %q: want one error containing %q, got %q", c.new, c.want, r.Errors)
		}
	}
}

func TestManifestsNoteUnsetAndPlannedVariables(t *testing.T) {
	data, err := os.ReadFile("testdata/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), `  HERALD_CIRCUIT_COOLDOWN: "30s"`+"\n", "", 1)
	r := CheckManifests(strings.NewReader(bad), Options{Known: known(t)})
	notes := strings.Join(r.Notes, "\n")
	if len(r.Errors) > 0 || !strings.Contains(notes, "not set (its default applies): HERALD_CIRCUIT_COOLDOWN") {
		t.Fatalf("errors %q, notes:\n%s", r.Errors, notes)
	}
	if strings.Contains(notes, "(planned)") {
		t.Fatalf("a variable the services read is still reported as planned:\n%s", notes)
	}
}
