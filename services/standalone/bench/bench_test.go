package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets this test binary serve the stand-ins when startServers starts it as the child
// process, as herald-bench's main does.
func TestMain(m *testing.M) {
	ServeStandinsIfChild()
	os.Exit(m.Run())
}

// A small run of every phase, so that `make bench` cannot rot unseen: the stand-ins in a child
// process as make bench runs them, each phase measures what it was asked to, every delivery
// arrives once, and the report is written for the next run.
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the stand-ins and three Herald stacks")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	file := filepath.Join(t.TempDir(), "bench.json")
	o := Options{Subscriptions: 4, Events: 40, Receivers: 2, Concurrency: 8, PacedSeconds: 0.5, Rounds: 1}
	var out bytes.Buffer
	rep, err := Run(ctx, o, file, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := map[string]int64{
		"baseline: bare HTTP POST loop":                    80,
		"herald end to end, saturated":                     80,
		"matcher alone (jobs produced)":                    80,
		"dispatcher alone (from a full herald.deliveries)": 80,
	}
	for _, p := range rep.Phases {
		if n, ok := want[p.Name]; ok {
			if p.Count != n || p.Duplicates != 0 || p.PerSecond <= 0 || p.Ratio <= 0 || p.CPUus <= 0 || p.AllocKiB <= 0 {
				t.Errorf("%s: %+v", p.Name, p)
			}
			if strings.HasPrefix(p.Name, "baseline") && p.Connections < 1 {
				t.Errorf("the baseline's connections were not counted: %+v", p)
			}
			delete(want, p.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("phases missing: %v\n%s", want, out.String())
	}
	b, err := os.ReadFile(file)
	var again Report
	if err != nil || json.Unmarshal(b, &again) != nil || len(again.Phases) != len(rep.Phases) {
		t.Fatalf("report not written: %v", err)
	}
	if !strings.Contains(out.String(), "ratio") {
		t.Fatalf("no table:\n%s", out.String())
	}
}
