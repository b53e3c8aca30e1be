package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// defaultPorts are the ports each service listens on by default (its config.go).
var defaultPorts = map[string][]string{"registry": {"8080", "9090"}, "matcher": {"8081", "9091"}, "dispatcher": {"8082", "9092"}}

type instruction struct {
	line int
	op   string
	args string
}

// parseDockerfile splits a Dockerfile into instructions, joining continued lines.
func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\") + " ")
			continue
		}
		cur.WriteString(t)
		op, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, op: strings.ToUpper(op), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// CheckDockerfiles checks deploy/<service>/Dockerfile: multi-stage, a static (CGO_ENABLED=0)
// build of the service's command, a distroless or scratch final stage, a non-root numeric USER,
// an exec-form ENTRYPOINT and the default ports exposed.
func CheckDockerfiles(dir string) *Report {
	r := &Report{}
	for _, c := range Components {
		path := filepath.Join(dir, c, "Dockerfile")
		data, err := os.ReadFile(path)
		if err != nil {
			r.errorf("%v", err)
			continue
		}
		if _, err := os.Stat(path + ".dockerignore"); err != nil {
			r.errorf("%s: no %s.dockerignore next to it: the whole repository would be sent as build context", path, filepath.Base(path))
		}
		ins := parseDockerfile(string(data))
		var froms []int
		for i, in := range ins {
			if in.op == "FROM" {
				froms = append(froms, i)
			}
		}
		if len(froms) < 2 {
			r.errorf("%s: want a multi-stage build (a build stage and a runtime stage), found %d FROM", path, len(froms))
			continue
		}
		builds := false
		for _, in := range ins[:froms[len(froms)-1]] {
			if in.op == "RUN" && strings.Contains(in.args, "go build") {
				builds = true
				if !strings.Contains(in.args, "CGO_ENABLED=0") {
					r.errorf("%s:%d: go build without CGO_ENABLED=0: the binary would not be static", path, in.line)
				}
				if !strings.Contains(in.args, "./services/"+c+"/cmd/"+c) {
					r.errorf("%s:%d: go build does not build ./services/%s/cmd/%s", path, in.line, c, c)
				}
			}
		}
		if !builds {
			r.errorf("%s: no RUN go build in the build stage", path)
		}
		final := ins[froms[len(froms)-1]:]
		base := strings.Fields(final[0].args)[0]
		if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
			r.errorf("%s:%d: runtime stage FROM %s, want gcr.io/distroless/static… or scratch", path, final[0].line, base)
		}
		var user, entrypoint string
		var exposed []string
		copied := false
		for _, in := range final[1:] {
			switch in.op {
			case "USER":
				user = in.args
			case "ENTRYPOINT":
				entrypoint = in.args
			case "EXPOSE":
				exposed = append(exposed, strings.Fields(in.args)...)
			case "COPY":
				copied = copied || strings.Contains(in.args, "--from=")
			case "RUN":
				r.errorf("%s:%d: RUN in the runtime stage (it has no shell)", path, in.line)
			}
		}
		uid, _, _ := strings.Cut(user, ":")
		if n, err := strconv.Atoi(uid); err != nil || n == 0 {
			r.errorf("%s: runtime stage USER %q: want a numeric non-root uid (so runAsNonRoot can verify it)", path, user)
		}
		if !strings.HasPrefix(entrypoint, "[") {
			r.errorf("%s: ENTRYPOINT %q: want the exec form [\"/path\"]", path, entrypoint)
		}
		if !copied {
			r.errorf("%s: the runtime stage copies nothing from the build stage", path)
		}
		for _, p := range defaultPorts[c] {
			if !contains(exposed, p) {
				r.errorf("%s: EXPOSE does not list %s", path, p)
			}
		}
	}
	r.Summary = fmt.Sprintf("%d Dockerfiles", len(Components))
	return r
}
