// Package serve runs a service's HTTP and gRPC servers as workers (pkg/worker): each serves on
// its listener until the worker's context ends, then stops gracefully within a deadline and,
// past it, cuts what is left (long-lived streams such as WatchConfig end only when cut).
package serve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/heraldhq/herald/pkg/worker"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// HTTP serves srv on ln; on stop, requests in flight get up to timeout to finish.
func HTTP(name string, srv *http.Server, ln net.Listener, timeout time.Duration) worker.Worker {
	return worker.Func(name, func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				_ = srv.Close()
			}
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return ctx.Err()
	})
}

// GRPC serves srv on ln; on stop, hs (if not nil) reports NOT_SERVING, calls in flight get up
// to timeout to finish, and whatever is still open is then cut.
func GRPC(name string, srv *grpc.Server, ln net.Listener, hs *health.Server, timeout time.Duration) worker.Worker {
	return worker.Func(name, func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			if hs != nil {
				hs.Shutdown()
			}
			stopped := make(chan struct{})
			go func() { srv.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(timeout):
				srv.Stop()
			}
		}()
		if err := srv.Serve(ln); err != nil {
			return err
		}
		return ctx.Err()
	})
}
