package ssrf

import (
	"net/netip"

	"github.com/heraldhq/herald/pkg/envconfig"
)

// Policy is the allow-list as a service configures it; its Guard is what dials. Services that
// reach subscriber endpoints (the dispatcher delivering, the registry verifying) embed it in
// their Config so that both read the same variables the same way.
type Policy struct {
	// AllowCIDRs admits addresses the guard refuses (private, loopback, …)
	// (HERALD_DELIVERY_ALLOW_CIDRS, comma-separated CIDRs or IPs). Default: none.
	AllowCIDRs []netip.Prefix
	// AllowLoopback admits 127.0.0.0/8 and ::1 (HERALD_ALLOW_LOOPBACK). Default: false; the
	// standalone run sets it.
	AllowLoopback bool
}

// LoadPolicy reads the policy's variables.
func LoadPolicy(l *envconfig.Loader, p *Policy) {
	l.Bool(&p.AllowLoopback, "HERALD_ALLOW_LOOPBACK")
	l.Parse("HERALD_DELIVERY_ALLOW_CIDRS", func(v string) (err error) {
		p.AllowCIDRs, err = ParseAllow(v)
		return err
	})
}

// Guard returns the guard for the policy.
func (p Policy) Guard() Guard {
	allow := append([]netip.Prefix{}, p.AllowCIDRs...)
	if p.AllowLoopback {
		allow = append(allow, LoopbackOnly()...)
	}
	return Guard{Allow: allow}
}
