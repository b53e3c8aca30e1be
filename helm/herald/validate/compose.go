package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// composeFile is the part of the Compose specification deploy/compose.yaml uses, decoded
// strictly so that a misspelt key fails. Top-level x-* extension fields are allowed.
type composeFile struct {
	Name     string                     `json:"name"`
	Services map[string]*composeService `json:"services"`
	Volumes  map[string]*struct{}       `json:"volumes,omitempty"`
}

type composeService struct {
	Image string `json:"image,omitempty"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile,omitempty"`
	} `json:"build,omitempty"`
	DependsOn map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on,omitempty"`
	Environment map[string]any `json:"environment,omitempty"`
	Ports       []string       `json:"ports,omitempty"`
	Volumes     []string       `json:"volumes,omitempty"`
	Healthcheck *struct {
		Test        []string `json:"test"`
		Interval    string   `json:"interval,omitempty"`
		Timeout     string   `json:"timeout,omitempty"`
		Retries     int      `json:"retries,omitempty"`
		StartPeriod string   `json:"start_period,omitempty"`
	} `json:"healthcheck,omitempty"`
	Entrypoint  []string `json:"entrypoint,omitempty"`
	Command     []string `json:"command,omitempty"`
	Restart     string   `json:"restart,omitempty"`
	User        string   `json:"user,omitempty"`
	ReadOnly    bool     `json:"read_only,omitempty"`
	Tmpfs       []string `json:"tmpfs,omitempty"`
	CapDrop     []string `json:"cap_drop,omitempty"`
	SecurityOpt []string `json:"security_opt,omitempty"`
}

var interpolation = regexp.MustCompile(`^\$\{[A-Z_][A-Z0-9_]*(:?[-?][^}]*)?\}$`)

// CheckCompose checks deploy/compose.yaml: it decodes, has Kafka in KRaft mode and MongoDB, builds
// each service from its Dockerfile, and gives each service the variables it needs, pointing at
// the right hosts.
func CheckCompose(path string, opt Options) *Report {
	r := &Report{}
	data, err := os.ReadFile(path)
	if err != nil {
		r.errorf("%v", err)
		return r
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		r.errorf("%s: %v", path, err)
		return r
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(j, &top); err != nil {
		r.errorf("%s: %v", path, err)
		return r
	}
	for k := range top {
		if strings.HasPrefix(k, "x-") {
			delete(top, k)
		}
	}
	j, _ = json.Marshal(top)
	var cf composeFile
	strictErrs, err := sigsjson.UnmarshalStrict(j, &cf)
	if err != nil {
		r.errorf("%s: %v", path, err)
		return r
	}
	for _, e := range strictErrs {
		r.errorf("%s: %v", path, e)
	}
	dir := filepath.Dir(path)

	for _, name := range append([]string{"kafka", "mongodb"}, Components...) {
		if cf.Services[name] == nil {
			r.errorf("%s: no service %q", path, name)
		}
	}
	if k := cf.Services["kafka"]; k != nil {
		if !strings.HasPrefix(k.Image, "apache/kafka:") {
			r.errorf("kafka: image %q, want apache/kafka:<version>", k.Image)
		}
		if roles := fmt.Sprint(k.Environment["KAFKA_PROCESS_ROLES"]); !strings.Contains(roles, "controller") {
			r.errorf("kafka: KAFKA_PROCESS_ROLES=%q: want KRaft (broker,controller)", roles)
		}
		if _, zk := k.Environment["KAFKA_ZOOKEEPER_CONNECT"]; zk {
			r.errorf("kafka: ZooKeeper is configured; use KRaft")
		}
	}
	for name, s := range cf.Services {
		for dep := range s.DependsOn {
			if cf.Services[dep] == nil {
				r.errorf("%s: depends_on %q, which is not a service", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
					r.errorf("%s: volume source %s: %v", name, src, err)
				}
			} else if _, declared := cf.Volumes[src]; !declared && !strings.HasPrefix(src, "/") {
				r.errorf("%s: named volume %q is not declared under volumes", name, src)
			}
		}
	}

	envs := map[string]map[string]envVar{}
	for _, c := range Components {
		s := cf.Services[c]
		if s == nil {
			continue
		}
		where := "compose service " + c
		if s.Build == nil {
			r.errorf("%s: no build section", where)
		} else {
			ctx := filepath.Join(dir, s.Build.Context)
			if _, err := os.Stat(filepath.Join(ctx, "go.work")); err != nil {
				r.errorf("%s: build context %s is not the repository root (no go.work)", where, s.Build.Context)
			}
			want := "deploy/" + c + "/Dockerfile"
			if s.Build.Dockerfile != want {
				r.errorf("%s: dockerfile %q, want %s", where, s.Build.Dockerfile, want)
			} else if _, err := os.Stat(filepath.Join(ctx, want)); err != nil {
				r.errorf("%s: %v", where, err)
			}
		}
		if !s.ReadOnly || s.User == "" || strings.HasPrefix(s.User, "0") || s.User == "root" {
			r.errorf("%s: want read_only: true and a non-root user, as in the chart", where)
		}
		env := map[string]envVar{}
		for k, v := range s.Environment {
			val := ""
			if v != nil {
				val = fmt.Sprint(v)
			}
			ev := envVar{Value: val, From: "a literal"}
			switch {
			case interpolation.MatchString(val):
				ev.Secret, ev.From = val, "the environment"
			case k == "HERALD_MONGODB_URI" && !strings.Contains(val, "@"):
				ev.Secret = "(no credentials)" // a local MongoDB without a password is fine here
			}
			env[k] = ev
		}
		envs[c] = env
		errs, notes := checkServiceEnv(where, c, env, opt.Known, false)
		r.Errors = append(r.Errors, errs...)
		r.Notes = append(r.Notes, notes...)
		if e, ok := env["HERALD_KAFKA_BROKERS"]; ok {
			for _, b := range strings.Split(e.Value, ",") {
				host, _, found := strings.Cut(strings.TrimSpace(b), ":")
				if !found || cf.Services[host] == nil {
					r.errorf("%s: HERALD_KAFKA_BROKERS entry %q is not <service>:<port>", where, b)
				} else if adv := fmt.Sprint(cf.Services[host].Environment["KAFKA_ADVERTISED_LISTENERS"]); !strings.Contains(adv, "//"+strings.TrimSpace(b)) {
					r.errorf("%s: HERALD_KAFKA_BROKERS %q is not an advertised listener of %s (%s)", where, b, host, adv)
				}
			}
		}
		if e, ok := env["HERALD_MONGODB_URI"]; ok {
			u, err := url.Parse(e.Value)
			if err != nil || u.Scheme != "mongodb" || cf.Services[u.Hostname()] == nil {
				r.errorf("%s: HERALD_MONGODB_URI %q does not point at a compose service", where, e.Value)
			}
		}
		if e, ok := env["HERALD_HTTP_ADDR"]; ok {
			if n, err := listenPort(e.Value); err != nil {
				r.errorf("%s: HERALD_HTTP_ADDR=%q: %v", where, e.Value, err)
			} else if !publishes(s, n) {
				r.errorf("%s: HERALD_HTTP_ADDR port %d is not published", where, n)
			}
		}
	}
	if reg := cf.Services["registry"]; reg != nil {
		grpcPort := 9090
		if v, ok := reg.Environment["HERALD_GRPC_ADDR"]; ok {
			if n, err := listenPort(fmt.Sprint(v)); err == nil {
				grpcPort = n
			}
		}
		for _, c := range []string{"matcher", "dispatcher"} {
			if e, ok := envs[c]["HERALD_REGISTRY_ADDR"]; ok && e.Value != fmt.Sprintf("registry:%d", grpcPort) {
				r.errorf("compose service %s: HERALD_REGISTRY_ADDR=%q, want registry:%d", c, e.Value, grpcPort)
			}
		}
	}
	r.Errors = append(r.Errors, checkAgreement("compose", envs)...)
	r.Summary = fmt.Sprintf("%d services", len(cf.Services))
	return r
}

func publishes(s *composeService, port int) bool {
	for _, p := range s.Ports {
		parts := strings.Split(p, ":")
		if parts[len(parts)-1] == fmt.Sprint(port) {
			return true
		}
	}
	return false
}
