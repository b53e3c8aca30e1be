package ssrf_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/ssrf"
)

// TestGuardedClient sends requests to an httptest server on 127.0.0.1 only: the machine rule is
// that tests talk to loopback and nothing else.
func TestGuardedClient(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	if host, _, _ := net.SplitHostPort(srv.Listener.Addr().String()); !net.ParseIP(host).IsLoopback() {
		t.Fatalf("test server listens on %s, not loopback", host)
	}

	client := func(g ssrf.Guard) *http.Client {
		tr := &http.Transport{
			Proxy:             nil, // the guard must see the receiver's address, not a proxy's
			DialContext:       g.DialContext(5 * time.Second),
			DisableKeepAlives: true,
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}

	t.Run("loopback refused", func(t *testing.T) {
		resp, err := client(ssrf.Guard{}).Post(srv.URL, "application/json", nil)
		if err == nil {
			resp.Body.Close()
			t.Fatal("request to loopback succeeded")
		}
		var be *ssrf.BlockedError
		if !errors.As(err, &be) {
			t.Fatalf("errors.As found no *BlockedError in %v", err)
		}
		if be.Reason != "loopback" || !be.Addr.IsLoopback() {
			t.Fatalf("BlockedError = %+v, want a loopback address", be)
		}
		var ue *url.Error
		var oe *net.OpError
		if !errors.As(err, &ue) || !errors.As(err, &oe) {
			t.Fatalf("err %v is not wrapped in *url.Error and *net.OpError", err)
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("server saw %d requests", n)
		}
	})

	t.Run("redirect refused", func(t *testing.T) {
		// The guard runs on every dial, whatever URL led there: a receiver admitted by the
		// allow-list (127.0.0.1) redirects to one that is not (127.0.0.2, still loopback).
		ln, err := net.Listen("tcp4", "127.0.0.2:0")
		if err != nil {
			t.Skipf("cannot listen on 127.0.0.2: %v", err)
		}
		var reached atomic.Bool
		target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Store(true)
		}))
		target.Listener.Close()
		target.Listener = ln
		target.Start()
		defer target.Close()
		redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
		defer redirector.Close()

		g := ssrf.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		resp, err := client(g).Post(redirector.URL, "application/json", nil)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("redirect to %s was followed", target.URL)
		}
		var be *ssrf.BlockedError
		if !errors.As(err, &be) || be.Addr != netip.MustParseAddr("127.0.0.2") {
			t.Fatalf("err = %v, want a *BlockedError for 127.0.0.2", err)
		}
		if reached.Load() {
			t.Fatal("the redirect target was reached")
		}
	})

	t.Run("loopback allowed", func(t *testing.T) {
		resp, err := client(ssrf.Guard{Allow: ssrf.LoopbackOnly()}).Post(srv.URL, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if n := hits.Load(); n != 1 {
			t.Fatalf("server saw %d requests, want 1", n)
		}
	})
}
