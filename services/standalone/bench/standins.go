package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"github.com/heraldhq/herald/services/standalone/standin"
)

// childFlag makes herald-bench serve the stand-ins for its parent instead of benchmarking.
const childFlag = "-bench-standins"

// servers are the broker and store one phase runs against.
type servers struct {
	KafkaBrokers []string
	MongoURI     string
	close        func()
}

// startServers starts the broker and the store with topics created. In their own process
// (Options.InProcess false) they have their own heap and garbage collector, as a real broker and
// store would: in-process, kfake's growing log (GiBs) made the services' and the baseline's
// collections rarer as the run went on, and the baseline's rate drifted by a third between
// rounds. Their CPU still comes from the same two cores.
func startServers(o Options, topics []string) (*servers, error) {
	if o.InProcess {
		s, err := standin.Start(standin.Options{Topics: topics, Logger: o.Log})
		if err != nil {
			return nil, err
		}
		return &servers{KafkaBrokers: s.KafkaBrokers, MongoURI: s.MongoURI, close: s.Close}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{childFlag}, topics...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the child stops when this closes, even if we die
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { _ = stdin.Close(); _ = cmd.Wait() }
	s := &servers{close: stop}
	lines := bufio.NewScanner(stdout)
	for (s.MongoURI == "" || s.KafkaBrokers == nil) && lines.Scan() {
		k, v, _ := strings.Cut(lines.Text(), "=")
		switch k {
		case "mongodb":
			s.MongoURI = v
		case "kafka":
			s.KafkaBrokers = strings.Split(v, ",")
		}
	}
	if s.MongoURI == "" || s.KafkaBrokers == nil {
		stop()
		return nil, errors.New("the stand-in process ended before printing its addresses")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return s, nil
}

// ServeStandinsIfChild serves the stand-ins and exits when this process was started by
// startServers; otherwise it returns at once. herald-bench's main calls it first.
func ServeStandinsIfChild() {
	if len(os.Args) < 2 || os.Args[1] != childFlag {
		return
	}
	s, err := standin.Start(standin.Options{Topics: os.Args[2:], Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench stand-ins:", err)
		os.Exit(1)
	}
	fmt.Printf("mongodb=%s\nkafka=%s\n", s.MongoURI, strings.Join(s.KafkaBrokers, ","))
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it or dies
	s.Close()
	os.Exit(0)
}
