// Command validate checks Herald's deployment files offline, for scripts/chart-check.sh:
//
//	validate manifests [-vars FILE] [-external-secret NAME]... < rendered.yaml
//	validate compose [-vars FILE] deploy/compose.yaml
//	validate dockerfiles deploy
//
// manifests decodes every document `helm template` printed strictly (unknown or duplicate
// fields fail) into its k8s.io/api type, then checks what the chart promises: non-root,
// read-only containers with resources and /healthz, /readyz probes, references that resolve,
// and the HERALD_* variables each service needs. compose and dockerfiles check deploy/.
//
// -vars names a file of "<service> <VARIABLE>" lines: the variables each service reads,
// grepped from its code by chart-check.sh. A HERALD_* variable outside it (and outside
// plannedVars) fails, so the chart cannot set a variable no service reads.
//
// It is a module of its own, outside go.work, so the product modules do not depend on
// k8s.io/api: run it with GOWORK=off.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	varsFile := fs.String("vars", "", "file of `<service> <VARIABLE>` lines: the variables each service reads")
	var external stringList
	fs.Var(&external, "external-secret", "a Secret the release expects to exist already (repeatable)")
	_ = fs.Parse(os.Args[2:])

	known, err := loadKnownVars(*varsFile)
	if err != nil {
		fail(err)
	}
	var report *Report
	switch os.Args[1] {
	case "manifests":
		report = CheckManifests(os.Stdin, Options{Known: known, ExternalSecrets: external})
	case "compose":
		if fs.NArg() != 1 {
			usage()
		}
		report = CheckCompose(fs.Arg(0), Options{Known: known})
	case "dockerfiles":
		if fs.NArg() != 1 {
			usage()
		}
		report = CheckDockerfiles(fs.Arg(0))
	default:
		usage()
	}
	for _, n := range report.Notes {
		fmt.Println("note:", n)
	}
	if len(report.Errors) > 0 {
		for _, e := range report.Errors {
			fmt.Fprintln(os.Stderr, "error:", e)
		}
		fail(fmt.Errorf("%s: %d problem(s)", os.Args[1], len(report.Errors)))
	}
	fmt.Printf("%s: ok (%s)\n", os.Args[1], report.Summary)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: validate manifests|compose|dockerfiles [-vars FILE] [-external-secret NAME] [path]")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "validate:", err)
	os.Exit(1)
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
