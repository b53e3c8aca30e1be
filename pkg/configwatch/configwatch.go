package configwatch

import (
	"context"
	"errors"

	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"google.golang.org/grpc/metadata"
)

// Applier receives each step of the stream, in order. A step with Snapshot set replaces
// everything applied before it (every new stream starts with one).
type Applier interface {
	Apply(step *registryv1.WatchConfigResponse)
}

// Options tune a Watcher; the zero value means defaults.
type Options struct {
	// MinBackoff is the first wait after a broken stream. Default: 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between attempts. Default: 5s.
	MaxBackoff time.Duration
	// Logger reports broken streams. Default: slog.Default().
	Logger *slog.Logger
}

// Watcher follows WatchConfig for one service. It implements worker.Worker.
type Watcher struct {
	client registryv1.RegistryServiceClient
	token  string
	apply  Applier
	opts   Options

	readyOnce sync.Once
	ready     chan struct{}
}

// New returns a Watcher that authenticates with token (the admin token) and hands steps to apply.
func New(client registryv1.RegistryServiceClient, token string, apply Applier, opts *Options) *Watcher {
	w := &Watcher{client: client, token: token, apply: apply, ready: make(chan struct{})}
	if opts != nil {
		w.opts = *opts
	}
	if w.opts.MinBackoff <= 0 {
		w.opts.MinBackoff = 100 * time.Millisecond
	}
	if w.opts.MaxBackoff <= 0 {
		w.opts.MaxBackoff = 5 * time.Second
	}
	if w.opts.Logger == nil {
		w.opts.Logger = slog.Default()
	}
	return w
}

// Name implements worker.Worker.
func (w *Watcher) Name() string { return "config-watch" }

// Ready is closed once the first snapshot has been applied.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Run follows the stream until ctx ends, reconnecting after every failure.
func (w *Watcher) Run(ctx context.Context) error {
	backoff := w.opts.MinBackoff
	for {
		gotSnapshot, err := w.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if gotSnapshot {
			backoff = w.opts.MinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		w.opts.Logger.Warn("configwatch: stream to the registry broke; keeping the last configuration", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, w.opts.MaxBackoff)
	}
}

// follow opens one stream and applies its steps until it fails.
func (w *Watcher) follow(ctx context.Context) (gotSnapshot bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+w.token)
	stream, err := w.client.WatchConfig(ctx, &registryv1.WatchConfigRequest{})
	if err != nil {
		return false, err
	}
	for {
		step, err := stream.Recv()
		if err != nil {
			return gotSnapshot, err
		}
		if !gotSnapshot && !step.GetSnapshot() {
			return false, errors.New("configwatch: the stream did not start with a snapshot")
		}
		if step.GetSnapshot() {
			gotSnapshot = true
		}
		w.apply.Apply(step)
		w.readyOnce.Do(func() { close(w.ready) })
	}
}
