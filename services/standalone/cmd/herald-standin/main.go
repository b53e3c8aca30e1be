// Command herald-standin runs the Kafka-protocol broker and the MongoDB-protocol store that
// tests reach by address. It prints the variables to export, writes them to -env-file when
// given, and runs until interrupted or until its standard input closes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/pkg/testenv"
	"github.com/heraldhq/herald/services/standalone/standin"
)

func main() {
	envFile := flag.String("env-file", "", "also write the variables to this file (written last, so its presence means ready)")
	watchStdin := flag.Bool("stdin", false, "exit when standard input closes")
	flag.Parse()
	if err := run(*envFile, *watchStdin); err != nil {
		fmt.Fprintln(os.Stderr, "herald-standin:", err)
		os.Exit(1)
	}
}

func run(envFile string, watchStdin bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := standin.Start(standin.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		return err
	}
	defer s.Close()
	vars := fmt.Sprintf("%s=%s\n%s=%s\n", testenv.MongoURIVar, s.MongoURI, testenv.KafkaBrokersVar, strings.Join(s.KafkaBrokers, ","))
	fmt.Print(vars)
	if envFile != "" {
		if err := os.WriteFile(envFile+".tmp", []byte(vars), 0o600); err != nil {
			return err
		}
		if err := os.Rename(envFile+".tmp", envFile); err != nil {
			return err
		}
		defer os.Remove(envFile)
	}
	if watchStdin {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	}
	<-ctx.Done()
	return nil
}
