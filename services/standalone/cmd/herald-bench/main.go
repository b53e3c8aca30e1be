// Command herald-bench measures Herald end to end against a bare HTTP POST loop measured in the
// same run (`make bench`). It prints a table and writes the figures to -out for the next run
// to compare with.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"

	"github.com/heraldhq/herald/services/standalone/bench"
)

func main() {
	bench.ServeStandinsIfChild()
	var o bench.Options
	out := flag.String("out", ".bench/latest.json", "where to write (and read the previous) results")
	flag.IntVar(&o.Events, "events", 2000, "input events in the saturated run; half pass the filter")
	flag.IntVar(&o.Subscriptions, "subscriptions", 100, "subscriptions to the benchmark event")
	flag.Float64Var(&o.PacedSeconds, "paced-seconds", 5, "length of the paced (latency) run")
	flag.StringVar(&o.Only, "only", "", "run the baseline and this phase alone: e2e, matcher or dispatcher")
	flag.IntVar(&o.Rounds, "rounds", 5, "saturated end-to-end rounds, each right after a baseline of its own; the median is reported")
	flag.BoolVar(&o.InProcess, "in-process", false, "run the broker and the store in this process instead of a child process")
	verbose := flag.Bool("v", false, "log the services' warnings to stderr")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if *verbose {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := os.MkdirAll(".bench", 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if *memProfile != "" {
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				_ = f.Close()
			}
		}()
	}
	if _, err := bench.Run(ctx, o, *out, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
