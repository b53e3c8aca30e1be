package registry

import (
	"context"
	"errors"
	"strings"

	"github.com/heraldhq/herald/pkg/apikey"
	"github.com/heraldhq/herald/services/registry/internal/store"
)

// principal is who is calling: the operator holding the admin token, or an app.
type principal struct {
	admin bool
	app   *store.App
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// authenticate resolves an Authorization header value ("Bearer <key>").
func (a *API) authenticate(ctx context.Context, header string) (principal, error) {
	token, ok := strings.CutPrefix(header, "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return principal{}, newError(ErrUnauthenticated, "", "send the header Authorization: Bearer <key> with the admin token or an app's API key")
	}
	if apikey.Equal(token, a.adminToken) {
		return principal{admin: true}, nil
	}
	if apikey.LooksLikeKey(token) {
		app, err := a.store.AppByKeyHash(ctx, apikey.Hash(token))
		if err == nil {
			return principal{app: app}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return principal{}, err
		}
	}
	return principal{}, newError(ErrUnauthenticated, "", "the key is not valid: it may have been rotated or its app deleted")
}

// callerApp returns the calling app; the admin token cannot act as an app.
func callerApp(ctx context.Context) (*store.App, error) {
	p, _ := ctx.Value(principalKey{}).(principal)
	if p.app == nil {
		if p.admin {
			return nil, forbidden("", "this call acts for an app: use the app's API key, not the admin token")
		}
		return nil, newError(ErrUnauthenticated, "", "missing credentials")
	}
	return p.app, nil
}

// requireAdmin lets only the admin token through.
func requireAdmin(ctx context.Context) error {
	p, _ := ctx.Value(principalKey{}).(principal)
	if !p.admin {
		if p.app != nil {
			return forbidden("", "this call needs the admin token (HERALD_ADMIN_TOKEN)")
		}
		return newError(ErrUnauthenticated, "", "missing credentials")
	}
	return nil
}
