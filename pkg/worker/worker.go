package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Worker is a long-lived part of a service. Run blocks until ctx ends or the work fails.
type Worker interface {
	Name() string
	Run(ctx context.Context) error
}

// Func adapts a function to a Worker.
func Func(name string, run func(ctx context.Context) error) Worker { return funcWorker{name, run} }

type funcWorker struct {
	name string
	run  func(ctx context.Context) error
}

func (f funcWorker) Name() string                  { return f.name }
func (f funcWorker) Run(ctx context.Context) error { return f.run(ctx) }

// Run runs every worker until ctx ends or one of them fails, then cancels the rest and waits.
// It returns the first failure, named after its worker, or nil for a clean stop.
func Run(ctx context.Context, workers ...Worker) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := w.Run(ctx)
			if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
				once.Do(func() { firstErr = fmt.Errorf("%s: %w", w.Name(), err) })
			}
			cancel() // one worker stopping stops the service
		}()
	}
	wg.Wait()
	return firstErr
}

// Finishing returns a context that ends grace after ctx does, so that work in flight when a
// stop is asked for (a batch being produced and committed) can finish instead of being done
// twice by the next owner. Call done when the work is finished.
func Finishing(ctx context.Context, grace time.Duration) (fctx context.Context, done func()) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return fctx, func() { stop(); cancel() }
}
