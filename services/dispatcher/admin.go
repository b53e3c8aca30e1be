package dispatcher

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/pkg/apikey"
	dispatcherv1 "github.com/heraldhq/herald/proto/herald/dispatcher/v1"
	registryv1 "github.com/heraldhq/herald/proto/herald/registry/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ownedWindow is how recently a partition must have been fetched to count as owned.
const ownedWindow = time.Minute

// partitions remembers, per partition, the last fetch: offset, lag and time.
type partitions struct {
	mu   sync.Mutex
	seen map[partKey]*dispatcherv1.PartitionStatus
}

func newPartitions() *partitions {
	return &partitions{seen: map[partKey]*dispatcherv1.PartitionStatus{}}
}

func (p *partitions) fetched(topic string, partition int, offset, highWatermark int64, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[partKey{topic, partition}] = &dispatcherv1.PartitionStatus{
		Topic: topic, Partition: int32(partition), Offset: offset,
		Lag: max(highWatermark-offset-1, 0), LastFetchTime: timestamppb.New(at),
	}
}

func (p *partitions) owned(now time.Time) []*dispatcherv1.PartitionStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*dispatcherv1.PartitionStatus
	for k, s := range p.seen {
		if now.Sub(s.GetLastFetchTime().AsTime()) > ownedWindow {
			delete(p.seen, k)
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// admin serves DispatcherAdmin.
type admin struct {
	dispatcherv1.UnimplementedDispatcherAdminServer
	s *Service
}

// GetStatus implements DispatcherAdmin.
func (a admin) GetStatus(context.Context, *dispatcherv1.GetStatusRequest) (*dispatcherv1.GetStatusResponse, error) {
	e := a.s.engine
	resp := &dispatcherv1.GetStatusResponse{
		Instance: a.s.cfg.Instance, ConfigVersion: a.s.ConfigVersion(),
		InFlight: int32(e.pool.busy.Load()), MaxInFlight: int32(e.pool.size),
		Partitions: e.parts.owned(time.Now()),
	}
	for _, c := range e.circuits.open() {
		resp.OpenCircuits = append(resp.OpenCircuits, &dispatcherv1.Circuit{Endpoint: c.endpoint, ConsecutiveFailures: int32(c.failures), OpenUntil: timestamppb.New(c.openUntil)})
	}
	return resp, nil
}

// PauseSubscription implements DispatcherAdmin.
func (a admin) PauseSubscription(ctx context.Context, req *dispatcherv1.SubscriptionRequest) (*dispatcherv1.SubscriptionResponse, error) {
	return a.setStatus(ctx, req.GetId(), "paused")
}

// ResumeSubscription implements DispatcherAdmin.
func (a admin) ResumeSubscription(ctx context.Context, req *dispatcherv1.SubscriptionRequest) (*dispatcherv1.SubscriptionResponse, error) {
	return a.setStatus(ctx, req.GetId(), "active")
}

// setStatus changes the subscription in the registry, the owner of configuration; the change
// comes back to every dispatcher and matcher through WatchConfig.
func (a admin) setStatus(ctx context.Context, id, to string) (*dispatcherv1.SubscriptionResponse, error) {
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "id: is required")
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+a.s.cfg.AdminToken)
	sub, err := registryv1.NewRegistryServiceClient(a.s.conn).UpdateSubscription(ctx, &registryv1.UpdateSubscriptionRequest{Id: id, Status: &to})
	if err != nil {
		return nil, err // the registry's status (NotFound, FailedPrecondition, …) passes through
	}
	return &dispatcherv1.SubscriptionResponse{Id: sub.GetId(), Status: sub.GetStatus()}, nil
}

// adminAuth lets only the admin token through.
func adminAuth(token string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, "/grpc.health.") {
			return next(ctx, req)
		}
		var got string
		if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("authorization")) > 0 {
			got, _ = strings.CutPrefix(md.Get("authorization")[0], "Bearer ")
		}
		if !apikey.Equal(got, token) {
			return nil, status.Error(codes.Unauthenticated, "send authorization: Bearer <admin token>")
		}
		return next(ctx, req)
	}
}
