package ssrf_test

import (
	"bufio"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/heraldhq/herald/pkg/envconfig"
	"github.com/heraldhq/herald/pkg/ssrf"
)

type checkCase struct {
	addr   netip.Addr
	reason string // "" when allowed
	line   int
}

func readChecks(t *testing.T) []checkCase {
	t.Helper()
	f, err := os.Open("testdata/check.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []checkCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		a, reason, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("check.txt:%d: want an address and a reason", n)
		}
		addr, err := netip.ParseAddr(a)
		if err != nil {
			t.Fatalf("check.txt:%d: %v", n, err)
		}
		reason = strings.TrimSpace(reason)
		if reason == "ok" {
			reason = ""
		}
		cases = append(cases, checkCase{addr, reason, n})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("check.txt has only %d cases", len(cases))
	}
	return cases
}

func reasonOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var be *ssrf.BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T) is not a *BlockedError", err, err)
	}
	return be.Reason
}

func TestCheck(t *testing.T) {
	var g ssrf.Guard
	for _, c := range readChecks(t) {
		err := g.Check(c.addr)
		if got := reasonOf(t, err); got != c.reason {
			t.Errorf("check.txt:%d: Check(%s) reason %q, want %q (err %v)", c.line, c.addr, got, c.reason, err)
		}
		if err != nil {
			var be *ssrf.BlockedError
			errors.As(err, &be)
			if be.Addr != c.addr {
				t.Errorf("check.txt:%d: BlockedError.Addr = %s, want %s", c.line, be.Addr, c.addr)
			}
		}
	}
}

func TestCheckInvalid(t *testing.T) {
	if reasonOf(t, ssrf.Guard{}.Check(netip.Addr{})) == "" {
		t.Fatal("the zero netip.Addr was allowed")
	}
	if reasonOf(t, ssrf.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("::/0")}}.Check(netip.Addr{})) == "" {
		t.Fatal("the zero netip.Addr was allowed by an allow-list")
	}
}

func TestAllowPrivateRange(t *testing.T) {
	allow, err := ssrf.ParseAllow("10.20.0.0/16, fd00:1::/32")
	if err != nil {
		t.Fatal(err)
	}
	g := ssrf.Guard{Allow: allow}
	for _, tt := range []struct {
		addr, reason string
	}{
		{"10.20.0.1", ""},
		{"10.20.255.255", ""},
		{"::ffff:10.20.3.4", ""},
		{"fd00:1::5", ""},
		{"fd00:1::5%eth0", ""},
		{"8.8.8.8", ""},
		{"10.21.0.1", "private"},
		{"10.19.255.255", "private"},
		{"192.168.1.1", "private"},
		{"fd00:2::5", "private"},
		{"127.0.0.1", "loopback"},
		{"169.254.169.254", "link-local"},
		// The allow-list admits the IPv4 network, not NAT64 or 6to4 addresses carrying it.
		{"64:ff9b::10.20.0.1", "nat64 of private"},
		{"2002:a14:1::1", "6to4 of private"},
	} {
		if got := reasonOf(t, g.Check(netip.MustParseAddr(tt.addr))); got != tt.reason {
			t.Errorf("Check(%s) reason %q, want %q", tt.addr, got, tt.reason)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	g := ssrf.Guard{Allow: ssrf.LoopbackOnly()}
	for _, a := range []string{"127.0.0.1", "127.0.0.53", "127.255.255.254", "::1", "::ffff:127.0.0.1", "8.8.8.8"} {
		if err := g.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("Check(%s) = %v, want nil", a, err)
		}
	}
	for _, a := range []string{"10.0.0.1", "169.254.169.254", "0.0.0.0", "::", "fe80::1", "64:ff9b::7f00:1"} {
		if err := g.Check(netip.MustParseAddr(a)); err == nil {
			t.Errorf("Check(%s) = nil, want refused", a)
		}
	}
}

func TestParseAllow(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"", ""},
		{" , ,", ""},
		{"127.0.0.0/8,::1/128", "127.0.0.0/8 ::1/128"},
		{"127.0.0.1", "127.0.0.1/32"},
		{"::1", "::1/128"},
		{" 10.0.0.0/8 , 192.168.1.7 ,", "10.0.0.0/8 192.168.1.7/32"},
		{"::ffff:10.0.0.1", "10.0.0.1/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"fd00::/8", "fd00::/8"},
	} {
		got, err := ssrf.ParseAllow(tt.in)
		if err != nil {
			t.Errorf("ParseAllow(%q): %v", tt.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if strings.Join(s, " ") != tt.want {
			t.Errorf("ParseAllow(%q) = %v, want %s", tt.in, s, tt.want)
		}
	}

	for _, tt := range []struct{ in, bad string }{
		{"127.0.0.0/8,localhost", `"localhost"`},
		{"10.0.0.0/33", `"10.0.0.0/33"`},
		{"::1/129", `"::1/129"`},
		{"10.1.2.3/8", `"10.1.2.3/8"`},
		{"300.0.0.1", `"300.0.0.1"`},
		{"10.0.0.0/8;192.168.0.0/16", `"10.0.0.0/8;192.168.0.0/16"`},
		{"fe80::1%eth0", `"fe80::1%eth0"`},
		{"10.0.0.0/", `"10.0.0.0/"`},
	} {
		_, err := ssrf.ParseAllow(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.bad) || !strings.HasPrefix(err.Error(), "ssrf: ") {
			t.Errorf("ParseAllow(%q) err = %v, want one naming %s", tt.in, err, tt.bad)
		}
	}
	if _, err := ssrf.ParseAllow("10.1.2.3/8"); err == nil || !strings.Contains(err.Error(), "10.0.0.0/8") {
		t.Errorf("ParseAllow(10.1.2.3/8) err = %v, want a hint at 10.0.0.0/8", err)
	}
}

// TestControl calls the hook directly, as net.Dialer would with a resolved address; nothing is
// dialled.
func TestControl(t *testing.T) {
	var g ssrf.Guard
	for _, tt := range []struct {
		network, address string
		allowed          bool
	}{
		{"tcp4", "8.8.8.8:443", true},
		{"tcp6", "[2606:4700::1111]:443", true},
		{"tcp4", "127.0.0.1:8080", false},
		{"tcp6", "[::1]:80", false},
		{"tcp6", "[::ffff:127.0.0.1]:80", false},
		{"tcp6", "[fe80::1%eth0]:80", false},
		{"tcp4", "169.254.169.254:80", false},
		{"tcp4", "10.0.0.1:443", false},
		{"udp4", "192.168.1.1:53", false},
		{"tcp6", "[64:ff9b::a9fe:a9fe]:80", false},
		// Not resolved: the guard cannot judge a name, so it refuses.
		{"tcp", "localhost:80", false},
		{"tcp", "example.com:443", false},
		{"tcp", "metadata.google.internal:80", false},
		{"tcp", "2130706433:80", false}, // 127.0.0.1 as a decimal number
		{"tcp", "0x7f000001:80", false},
		{"tcp", "127.1:80", false},
		{"tcp", "8.8.8.8", false}, // no port
		{"tcp", "", false},
		{"unix", "/var/run/docker.sock", false},
	} {
		err := g.Control(tt.network, tt.address, nil)
		if (err == nil) != tt.allowed {
			t.Errorf("Control(%q, %q) = %v, want allowed=%v", tt.network, tt.address, err, tt.allowed)
		}
		if err != nil {
			reasonOf(t, err) // must be a *BlockedError
		}
	}
	if err := (ssrf.Guard{Allow: ssrf.LoopbackOnly()}).Control("tcp4", "127.0.0.1:8080", nil); err != nil {
		t.Errorf("Control with LoopbackOnly: %v", err)
	}
}

func TestBlockedErrorMessage(t *testing.T) {
	err := ssrf.Guard{}.Check(netip.MustParseAddr("::ffff:169.254.169.254"))
	if got, want := err.Error(), "ssrf: refusing to dial ::ffff:169.254.169.254: link-local address"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err = ssrf.Guard{}.Control("tcp", "example.com:443", nil)
	if got, want := err.Error(), `ssrf: refusing to dial: "example.com" is not an IP address`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestLoadPolicy(t *testing.T) {
	env := map[string]string{"HERALD_ALLOW_LOOPBACK": "true", "HERALD_DELIVERY_ALLOW_CIDRS": "10.1.0.0/16, 192.168.1.7"}
	l := envconfig.Loader{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	var p ssrf.Policy
	ssrf.LoadPolicy(&l, &p)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	g := p.Guard()
	for addr, ok := range map[string]bool{"127.0.0.1": true, "10.1.2.3": true, "192.168.1.7": true, "192.168.1.8": false, "10.2.0.1": false} {
		if got := g.Check(netip.MustParseAddr(addr)) == nil; got != ok {
			t.Errorf("%s allowed = %v, want %v", addr, got, ok)
		}
	}
	env["HERALD_DELIVERY_ALLOW_CIDRS"] = "10.1.2.3/8"
	l = envconfig.Loader{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	ssrf.LoadPolicy(&l, &p)
	if err := l.Err(); err == nil || !strings.Contains(err.Error(), "HERALD_DELIVERY_ALLOW_CIDRS") {
		t.Fatalf("a bad CIDR: %v", err)
	}
}
