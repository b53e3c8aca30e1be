package registry

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// grpcAuth authenticates every call from its `authorization` metadata, as the JSON routes do
// from their header, and maps errors to gRPC status codes on the way out.
type grpcAuth struct {
	api *API
	log *slog.Logger
}

func (g grpcAuth) principal(ctx context.Context) (context.Context, error) {
	var header string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			header = v[0]
		}
	}
	p, err := g.api.authenticate(ctx, header)
	if err != nil {
		return nil, err
	}
	return withPrincipal(ctx, p), nil
}

func (g grpcAuth) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	ctx, err := g.principal(ctx)
	if err != nil {
		return nil, g.status(info.FullMethod, err)
	}
	resp, err := next(ctx, req)
	if err != nil {
		return nil, g.status(info.FullMethod, err)
	}
	return resp, nil
}

func (g grpcAuth) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	ctx, err := g.principal(ss.Context())
	if err != nil {
		return g.status(info.FullMethod, err)
	}
	if err := next(srv, &contextStream{ServerStream: ss, ctx: ctx}); err != nil {
		return g.status(info.FullMethod, err)
	}
	return nil
}

type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// status maps an error to a gRPC status; a field error carries a BadRequest detail.
func (g grpcAuth) status(method string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return status.FromContextError(err).Err()
		}
		g.log.Error("registry: call failed", "method", method, "err", err)
		return status.Error(codes.Internal, "internal error; the registry's log has the details")
	}
	st := status.New(grpcCode(apiErr.Kind), apiErr.Error())
	if apiErr.Field != "" {
		if d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: apiErr.Field, Description: apiErr.Message},
		}}); derr == nil {
			st = d
		}
	}
	return st.Err()
}

// grpcCode maps an error kind to its gRPC code.
func grpcCode(kind error) codes.Code {
	switch kind {
	case ErrInvalid:
		return codes.InvalidArgument
	case ErrUnauthenticated:
		return codes.Unauthenticated
	case ErrForbidden:
		return codes.PermissionDenied
	case ErrNotFound:
		return codes.NotFound
	case ErrConflict:
		return codes.AlreadyExists
	case ErrUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}
