// Command registry serves Herald's registry: the publisher and subscriber API over JSON and
// gRPC, and the WatchConfig stream. Settings come from HERALD_* variables (see README.md).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/services/registry"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("registry stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg, err := registry.Load(os.LookupEnv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, err := registry.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	log.Info("registry listening", "http", svc.HTTPAddr(), "grpc", svc.GRPCAddr())
	return svc.Run(ctx)
}
