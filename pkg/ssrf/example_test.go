package ssrf_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/heraldhq/herald/pkg/ssrf"
)

func ExampleGuard_Check() {
	var g ssrf.Guard // refuses non-public addresses, admits the rest
	for _, a := range []string{"2606:4700::1111", "169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::7f00:1"} {
		fmt.Println(a, g.Check(netip.MustParseAddr(a)))
	}
	// Output:
	// 2606:4700::1111 <nil>
	// 169.254.169.254 ssrf: refusing to dial 169.254.169.254: link-local address
	// ::ffff:10.0.0.1 ssrf: refusing to dial ::ffff:10.0.0.1: private address
	// 64:ff9b::7f00:1 ssrf: refusing to dial 64:ff9b::7f00:1: nat64 of loopback address
}

func ExampleGuard_DialContext() {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()

	newClient := func(g ssrf.Guard) *http.Client {
		return &http.Client{Transport: &http.Transport{
			Proxy:               nil, // with a proxy, the guard would see only the proxy's address
			DialContext:         g.DialContext(10 * time.Second),
			MaxIdleConnsPerHost: 128,
		}}
	}

	// In production the receiver on this machine is refused before a packet is sent ...
	_, err := newClient(ssrf.Guard{}).Get(receiver.URL)
	var blocked *ssrf.BlockedError
	if errors.As(err, &blocked) {
		fmt.Println("blocked:", blocked.Addr, blocked.Reason)
	}

	// ... and in local development the allow-list admits it.
	allow, err := ssrf.ParseAllow("127.0.0.0/8,::1")
	if err != nil {
		panic(err)
	}
	resp, err := newClient(ssrf.Guard{Allow: allow}).Get(receiver.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// blocked: 127.0.0.1 loopback
	// 200 OK
}
