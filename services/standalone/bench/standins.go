package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/services/standalone/standin"
)

// childFlag makes herald-bench serve the stand-ins for its parent instead of benchmarking.
const childFlag = "-bench-standins"

// servers are the broker and store one phase runs against.
type servers struct {
	KafkaBrokers []string
	MongoURI     string
	close        func()
	pid          int // the child process serving them; 0 in this process
}

// cpu is the CPU time of the child process serving the stand-ins (0 in process: counted with
// this process's; 0 for no servers).
func (s *servers) cpu() time.Duration {
	if s == nil || s.pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		return 0
	}
	// After the command name in parentheses: state, then fields 4.. of proc(5); utime and
	// stime are fields 14 and 15, in clock ticks of 1/100 s on Linux.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
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
	// One P: kfake handles every request on one goroutine, and a second P in the child only
	// spun looking for work, on the cores Herald and the baseline are measured on (stand-in
	// CPU per delivery 8.0-9.1 µs against 9.1-11.1 µs with two, in three interleaved pairs).
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
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
	s := &servers{close: stop, pid: cmd.Process.Pid}
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
