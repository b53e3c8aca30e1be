// Command herald runs the whole platform in one process on an embedded Kafka-protocol broker
// and an embedded MongoDB-protocol store (`make run`). Settings come from HERALD_* variables;
// the flags below override them.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/services/standalone"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := standalone.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald: configuration:", err)
		os.Exit(2)
	}
	flag.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data folder (HERALD_DATA_DIR)")
	flag.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "HTTP API address (HERALD_HTTP_ADDR)")
	flag.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "gRPC API address (HERALD_GRPC_ADDR)")
	flag.StringVar(&cfg.KafkaAddr, "kafka-addr", cfg.KafkaAddr, "embedded Kafka broker address (HERALD_KAFKA_ADDR)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := standalone.Run(ctx, cfg, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
	fmt.Println("Herald stopped.")
}
