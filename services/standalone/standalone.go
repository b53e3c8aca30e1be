package standalone

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/heraldhq/herald/pkg/topics"
	"github.com/heraldhq/herald/pkg/worker"
	"github.com/heraldhq/herald/services/dispatcher"
	"github.com/heraldhq/herald/services/matcher"
	"github.com/heraldhq/herald/services/registry"
	"github.com/heraldhq/herald/services/standalone/standin"
)

// heraldTopics are the topics the embedded broker creates at start, as ops would on a real
// cluster: the publishers' input topics and Herald's own.
func heraldTopics() []string {
	return append(append(topics.Names{}.InputTopics(), topics.Invalid, topics.Replays, topics.Payloads), dispatcher.Topics(dispatcher.DefaultConfig())...)
}

// Run starts the embedded broker and store and the services, prints where they listen to out,
// and runs until ctx ends.
func Run(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	if err := cfg.fillSecrets(); err != nil {
		return err
	}
	servers, err := standin.Start(standin.Options{
		DataDir:   cfg.DataDir,
		KafkaAddr: cfg.KafkaAddr,
		MongoAddr: "127.0.0.1:0",
		Topics:    heraldTopics(),
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("HERALD_KAFKA_ADDR %s or HERALD_DATA_DIR %s: %w", cfg.KafkaAddr, cfg.DataDir, err)
	}
	defer servers.Close()

	rc := registry.DefaultConfig()
	rc.HTTPAddr, rc.GRPCAddr = cfg.HTTPAddr, cfg.GRPCAddr
	rc.MongoURI, rc.MongoMaxPoolSize = servers.MongoURI, 1 // FerretDB on SQLite: one serialized client
	if cfg.MongoURI != "" {
		rc.MongoURI, rc.MongoMaxPoolSize = cfg.MongoURI, 100
	}
	rc.AdminToken, rc.SecretKeys, rc.KafkaBrokers = cfg.AdminToken, cfg.SecretKey, servers.KafkaBrokers
	rc.AllowLoopback = cfg.AllowLoopback // endpoint verification reaches local receivers, as deliveries do
	reg, err := registry.New(ctx, rc, log)
	if err != nil {
		return err
	}

	mc := matcher.DefaultConfig()
	mc.HTTPAddr, mc.GRPCAddr, mc.KafkaBrokers, mc.RegistryAddr, mc.AdminToken = "127.0.0.1:0", "127.0.0.1:0", servers.KafkaBrokers, reg.GRPCAddr(), cfg.AdminToken
	match, err := matcher.New(mc, log)
	if err != nil {
		return err
	}

	dc := dispatcher.DefaultConfig()
	dc.HTTPAddr, dc.GRPCAddr, dc.KafkaBrokers, dc.RegistryAddr = "127.0.0.1:0", "127.0.0.1:0", servers.KafkaBrokers, reg.GRPCAddr()
	dc.AdminToken, dc.SecretKeys, dc.AllowLoopback = cfg.AdminToken, cfg.SecretKey, cfg.AllowLoopback
	dispatch, err := dispatcher.New(dc, log)
	if err != nil {
		return err
	}

	abs, _ := filepath.Abs(cfg.DataDir)
	fmt.Fprintf(out, `Herald is running. Stop it with Ctrl-C; data is kept in %s.

  HTTP API:      http://%s
  gRPC API:      %s
  Kafka broker:  %s
  MongoDB:       %s
  Admin token:   %s
  Matcher:       http://%s/metrics
  Dispatcher:    http://%s/metrics

Create an app (its API key is printed once):
  curl -s -X POST http://%s/v1/apps -H 'Authorization: Bearer %s' \
       -d '{"name":"user-service","permissions":["get users"]}'

The README walks through publishing events and subscribing.
`, abs, reg.HTTPAddr(), reg.GRPCAddr(), servers.KafkaBrokers[0], rc.MongoURI, cfg.AdminToken, match.HTTPAddr(), dispatch.HTTPAddr(), reg.HTTPAddr(), cfg.AdminToken)
	return worker.Run(ctx, worker.Func("registry", reg.Run), worker.Func("matcher", match.Run), worker.Func("dispatcher", dispatch.Run))
}
