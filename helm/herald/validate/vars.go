package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Components are Herald's three services, as named by the label app.kubernetes.io/component
// in the chart and by service name in deploy/compose.yaml.
var Components = []string{"registry", "matcher", "dispatcher"}

// requiredVars are the variables each service needs set: those its Config.Validate refuses to
// start without, plus those whose defaults are wrong outside one machine (listen addresses,
// the topic prefix every service must agree on).
var requiredVars = map[string][]string{
	"registry":   {"HERALD_HTTP_ADDR", "HERALD_GRPC_ADDR", "HERALD_MONGODB_URI", "HERALD_ADMIN_TOKEN", "HERALD_SECRET_KEY", "HERALD_KAFKA_BROKERS", "HERALD_TOPIC_PREFIX"},
	"matcher":    {"HERALD_HTTP_ADDR", "HERALD_KAFKA_BROKERS", "HERALD_REGISTRY_ADDR", "HERALD_ADMIN_TOKEN", "HERALD_TOPIC_PREFIX"},
	"dispatcher": {"HERALD_HTTP_ADDR", "HERALD_KAFKA_BROKERS", "HERALD_REGISTRY_ADDR", "HERALD_ADMIN_TOKEN", "HERALD_SECRET_KEY", "HERALD_TOPIC_PREFIX"},
}

// secretVars must come from a Secret, never a plain value or a ConfigMap.
var secretVars = map[string]bool{
	"HERALD_ADMIN_TOKEN": true, "HERALD_SECRET_KEY": true, "HERALD_MONGODB_URI": true, "HERALD_KAFKA_SASL_PASSWORD": true,
}

// plannedVars are rendered by the chart although the service does not read them yet; each is
// reported as a note until the service's code names it. None today.
var plannedVars = map[string][]string{}

// defaultedVars are read by a service but deliberately left to its default by the chart.
// HERALD_KAFKA_TLS_CA_FILE: TLS verifies brokers against the image's system roots unless
// kafka.tls.caSecret is set, which mounts a CA bundle and renders the variable.
var defaultedVars = map[string][]string{
	"registry":   {"HERALD_ALLOW_LOOPBACK", "HERALD_KAFKA_TLS_CA_FILE"},                    // loopback: standalone only
	"matcher":    {"HERALD_KAFKA_TLS_CA_FILE"},                                             //
	"dispatcher": {"HERALD_ALLOW_LOOPBACK", "HERALD_INSTANCE", "HERALD_KAFKA_TLS_CA_FILE"}, // instance: the pod name
}

// KnownVars maps a service to the HERALD_* variables its code reads. Nil means unknown: the
// check of variable names is skipped.
type KnownVars map[string]map[string]bool

func loadKnownVars(path string) (KnownVars, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k := KnownVars{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		svc, name, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want `<service> <VARIABLE>`, got %q", path, n, line)
		}
		if k[svc] == nil {
			k[svc] = map[string]bool{}
		}
		k[svc][strings.TrimSpace(name)] = true
	}
	for _, c := range Components {
		if len(k[c]) == 0 {
			return nil, fmt.Errorf("%s: no variables for %s", path, c)
		}
	}
	return k, sc.Err()
}

// envVar is one variable as a container (or compose service) receives it.
type envVar struct {
	Value string
	// Secret is "<secret>/<key>" when the value comes from a Secret.
	Secret string
	// From says where it was set, for messages.
	From string
}

// checkServiceEnv checks one service's environment: every required variable is there, the
// secret ones come from a Secret, and every HERALD_* variable is one the service reads (or one
// planned for it). It returns notes on planned variables.
func checkServiceEnv(where, component string, env map[string]envVar, known KnownVars, reportUnset bool) (errs, notes []string) {
	for _, name := range requiredVars[component] {
		if _, ok := env[name]; !ok {
			errs = append(errs, fmt.Sprintf("%s: %s is required by the %s but not set", where, name, component))
		}
	}
	for name, v := range env {
		if secretVars[name] && v.Secret == "" {
			errs = append(errs, fmt.Sprintf("%s: %s must come from a Secret (secretKeyRef), not %s", where, name, v.From))
		}
	}
	if known == nil {
		return errs, nil
	}
	var planned []string
	for name := range env {
		if !strings.HasPrefix(name, "HERALD_") || known[component][name] {
			continue
		}
		if contains(plannedVars[component], name) {
			planned = append(planned, name)
			continue
		}
		errs = append(errs, fmt.Sprintf("%s: %s is not read by the %s (no such variable in services/%s)", where, name, component, component))
	}
	var unset []string
	for name := range known[component] {
		if _, ok := env[name]; !ok && !contains(defaultedVars[component], name) {
			unset = append(unset, name)
		}
	}
	if len(unset) > 0 && reportUnset {
		sort.Strings(unset)
		notes = append(notes, fmt.Sprintf("%s: read by the %s but not set (its default applies): %s", where, component, strings.Join(unset, ", ")))
	}
	if len(planned) > 0 {
		sort.Strings(planned)
		notes = append(notes, fmt.Sprintf("%s: set but not read by the %s yet (planned): %s", where, component, strings.Join(planned, ", ")))
	}
	return errs, notes
}

// checkAgreement checks that the services agree on what they must share: brokers, topic prefix,
// admin token and encryption key.
func checkAgreement(where string, envs map[string]map[string]envVar) []string {
	var errs []string
	same := func(name string, comps ...string) {
		var first, firstComp string
		for _, c := range comps {
			v, ok := envs[c][name]
			if !ok {
				continue
			}
			got := v.Value
			if v.Secret != "" {
				got = "secret " + v.Secret
			}
			if firstComp == "" {
				first, firstComp = got, c
			} else if got != first {
				errs = append(errs, fmt.Sprintf("%s: %s differs: %s has %q, %s has %q", where, name, firstComp, first, c, got))
			}
		}
	}
	same("HERALD_KAFKA_BROKERS", Components...)
	same("HERALD_TOPIC_PREFIX", Components...)
	same("HERALD_ADMIN_TOKEN", Components...)
	same("HERALD_SECRET_KEY", "registry", "dispatcher")
	return errs
}

// listenPort returns the port of a listen address such as ":8080" or "0.0.0.0:8080".
func listenPort(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Report is what a check found.
type Report struct {
	Errors  []string
	Notes   []string
	Summary string
}

func (r *Report) errorf(format string, args ...any) {
	r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
}
