package registry

import (
	"errors"
	"fmt"
)

// Kinds of API error. Every error a caller sees wraps exactly one; the HTTP and gRPC boundaries
// map them to status codes (httpStatus, grpcCode) and nowhere else.
var (
	ErrInvalid         = errors.New("registry: invalid argument")
	ErrUnauthenticated = errors.New("registry: unauthenticated")
	ErrForbidden       = errors.New("registry: permission denied")
	ErrNotFound        = errors.New("registry: not found")
	// ErrMethodNotAllowed: the path exists, but not for this method (HTTP 405, with Allow).
	ErrMethodNotAllowed = errors.New("registry: method not allowed")
	ErrConflict         = errors.New("registry: conflict")
	ErrUnavailable      = errors.New("registry: unavailable")
)

// Error is an API error: its kind, the request field it is about (JSON name, with indexes, e.g.
// "events[1].filterLogic"; empty when it is about no one field) and a message for people.
type Error struct {
	Kind    error
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Kind }

// code is the error's machine-readable code in JSON responses.
func (e *Error) code() string {
	switch e.Kind {
	case ErrInvalid:
		return "invalid_argument"
	case ErrUnauthenticated:
		return "unauthenticated"
	case ErrForbidden:
		return "permission_denied"
	case ErrNotFound:
		return "not_found"
	case ErrMethodNotAllowed:
		return "method_not_allowed"
	case ErrConflict:
		return "conflict"
	case ErrUnavailable:
		return "unavailable"
	}
	return "internal"
}

func newError(kind error, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *Error {
	return newError(ErrInvalid, field, format, args...)
}

func notFound(field, format string, args ...any) *Error {
	return newError(ErrNotFound, field, format, args...)
}

func conflict(field, format string, args ...any) *Error {
	return newError(ErrConflict, field, format, args...)
}

func forbidden(field, format string, args ...any) *Error {
	return newError(ErrForbidden, field, format, args...)
}

func unavailable(field, format string, args ...any) *Error {
	return newError(ErrUnavailable, field, format, args...)
}
