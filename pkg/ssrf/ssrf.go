package ssrf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Guard decides whether an address may be dialled. The zero value refuses the non-public ranges
// listed in the package documentation and admits every other address. A Guard is safe for
// concurrent use as long as Allow is not modified.
type Guard struct {
	// Allow admits addresses in these prefixes even when they fall in a refused range.
	// Default: none.
	Allow []netip.Prefix
}

// BlockedError is the error for an address the Guard refuses.
type BlockedError struct {
	Addr   netip.Addr // the address as dialled; invalid when the dialled address was not an IP
	Reason string     // why, e.g. "loopback", "private", "link-local", "nat64 of private"
}

func (e *BlockedError) Error() string {
	if !e.Addr.IsValid() {
		return "ssrf: refusing to dial: " + e.Reason
	}
	return "ssrf: refusing to dial " + e.Addr.String() + ": " + e.Reason + " address"
}

type rangeRule struct {
	prefix netip.Prefix
	reason string
}

func rules(pairs ...string) []rangeRule {
	r := make([]rangeRule, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		r = append(r, rangeRule{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return r
}

// The first matching rule wins, so narrower prefixes come before the prefixes holding them.
var (
	v4Rules = rules(
		"0.0.0.0/32", "unspecified",
		"0.0.0.0/8", "this-network",
		"10.0.0.0/8", "private",
		"100.64.0.0/10", "cgnat",
		"127.0.0.0/8", "loopback",
		"169.254.0.0/16", "link-local",
		"172.16.0.0/12", "private",
		"192.0.0.0/24", "protocol-assignments",
		"192.0.2.0/24", "documentation",
		"192.88.99.0/24", "6to4-relay",
		"192.168.0.0/16", "private",
		"198.18.0.0/15", "benchmarking",
		"198.51.100.0/24", "documentation",
		"203.0.113.0/24", "documentation",
		"224.0.0.0/4", "multicast",
		"255.255.255.255/32", "broadcast",
		"240.0.0.0/4", "reserved",
	)
	// Checked only for addresses outside 2000::/3, all of which are refused.
	v6Outside = rules(
		"::/128", "unspecified",
		"::1/128", "loopback",
		"fe80::/10", "link-local",
		"fec0::/10", "site-local",
		"fc00::/7", "private",
		"ff00::/8", "multicast",
	)
	// Checked for addresses inside 2000::/3.
	v6Inside = rules(
		"2001::/23", "protocol-assignments",
		"2001:db8::/32", "documentation",
		"3fff::/20", "documentation",
	)
	globalUnicast = netip.MustParsePrefix("2000::/3")
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour     = netip.MustParsePrefix("2002::/16")
)

// Check returns nil if addr may be dialled, and otherwise a *BlockedError saying why not.
func (g Guard) Check(addr netip.Addr) error {
	if !addr.IsValid() {
		return &BlockedError{Reason: "invalid address"}
	}
	plain := addr.WithZone("")
	unmapped := plain.Unmap()
	for _, p := range g.Allow {
		if p.Contains(unmapped) || p.Contains(plain) {
			return nil
		}
	}
	if reason := blockedReason(unmapped); reason != "" {
		return &BlockedError{Addr: addr, Reason: reason}
	}
	return nil
}

// blockedReason returns why a (zoneless, unmapped) address is refused, or "" if it is public.
func blockedReason(a netip.Addr) string {
	if a.Is4() {
		return match(v4Rules, a)
	}
	switch {
	case nat64.Contains(a):
		b := a.As16()
		if r := blockedReason(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return "nat64 of " + r
		}
		return ""
	case !globalUnicast.Contains(a):
		if r := match(v6Outside, a); r != "" {
			return r
		}
		return "reserved"
	case sixToFour.Contains(a):
		b := a.As16()
		if r := blockedReason(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return "6to4 of " + r
		}
		return ""
	}
	return match(v6Inside, a)
}

func match(rs []rangeRule, a netip.Addr) string {
	for _, r := range rs {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// Control is a net.Dialer Control hook: it parses address, which the dialer passes as a resolved
// "ip:port", and applies Check. An address that is not an IP is refused, since the guard is only
// sound on resolved addresses. Use: net.Dialer{Control: g.Control}.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &BlockedError{Reason: fmt.Sprintf("%s address %q is not ip:port", network, address)}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return &BlockedError{Reason: fmt.Sprintf("%q is not an IP address", host)}
	}
	return g.Check(addr)
}

// DialContext returns a function for http.Transport.DialContext that dials through
// net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.Control}. A timeout of zero
// or less means 30 seconds, as in http.DefaultTransport. The error for a refused address wraps a
// *BlockedError (find it with errors.As, also through *net.OpError and *url.Error).
func (g Guard) DialContext(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.Control}
	return d.DialContext
}

// ParseAllow parses a comma-separated list of CIDR prefixes, such as "127.0.0.0/8,::1/128", for
// Guard.Allow. A bare IP stands for itself (/32 or /128), spaces around entries and empty entries
// are ignored, and IPv4-mapped IPv6 entries become IPv4 ones. The error names the bad entry; a
// prefix with bits set beyond its length ("10.1.2.3/8") is an error rather than silently widened.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := parsePrefix(entry)
		if err != nil {
			return nil, fmt.Errorf("ssrf: allow-list entry %q: %w", entry, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(entry string) (netip.Prefix, error) {
	if !strings.Contains(entry, "/") {
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zones are not allowed")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("host bits are set (did you mean %s?)", p.Masked())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// LoopbackOnly returns the allow-list for local development, where receivers run on the same
// machine: 127.0.0.0/8 and ::1/128.
func LoopbackOnly() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}
