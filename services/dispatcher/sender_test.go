package dispatcher

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/ssrf"
)

// The sender builds its requests itself (no http.NewRequest, no http.Client): they must still
// carry the body with its length, an empty body as Content-Length: 0 (not chunked), the Host
// and the headers given (and no Accept-Encoding: answers are read for a snippet only), and a
// redirect must come back as an answer, not be followed.
func TestSendRequestShape(t *testing.T) {
	type seen struct {
		body             string
		length           int64
		transferEncoding []string
		host, event, enc string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{string(b), r.ContentLength, r.TransferEncoding, r.Host, r.Header.Get(HeaderEvent), r.Header.Get("Accept-Encoding")}
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
	}))
	defer srv.Close()
	s := newSender(ssrf.Policy{AllowLoopback: true}.Guard(), 5*time.Second, 4, 4)
	u, _ := url.Parse(srv.URL + "/hook")
	for _, body := range []string{`{"a":1}`, ""} {
		h := http.Header{}
		h.Set(HeaderEvent, "thing")
		res := s.send(context.Background(), u, h, []byte(body))
		if !res.delivered() {
			t.Fatalf("body %q: not delivered: %+v", body, res)
		}
		r := <-got
		if r.body != body || r.length != int64(len(body)) || len(r.transferEncoding) != 0 || r.host != u.Host || r.event != "thing" || r.enc != "" {
			t.Fatalf("body %q: the receiver saw %+v", body, r)
		}
	}
	moved, _ := url.Parse(srv.URL + "/moved")
	res := s.send(context.Background(), moved, http.Header{}, []byte("{}"))
	<-got
	if res.status != http.StatusFound || res.errType != "redirect" {
		t.Fatalf("a redirect: %+v", res)
	}
	if res := s.send(context.Background(), nil, http.Header{}, nil); res.errType != "request" {
		t.Fatalf("no URL: %+v", res)
	}
}

// An answer's first kilobyte is kept for the attempt log and the rest read (up to 64 KiB) so
// that the connection is reused; an answer declaring an empty body is not read at all.
func TestSnippetAndConnectionReuse(t *testing.T) {
	long := strings.Repeat("0123456789", 500)
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = io.WriteString(w, long)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s := newSender(ssrf.Policy{AllowLoopback: true}.Guard(), 5*time.Second, 4, 4)
	u, _ := url.Parse(srv.URL + "/long")
	for range 3 {
		res := s.send(context.Background(), u, http.Header{}, []byte("{}"))
		if !res.delivered() || res.snippet != long[:snippetBytes] {
			t.Fatalf("got %d %q…", res.status, res.snippet[:min(len(res.snippet), 20)])
		}
	}
	empty, _ := url.Parse(srv.URL + "/empty")
	if res := s.send(context.Background(), empty, http.Header{}, []byte("{}")); res.status != http.StatusNoContent || res.snippet != "" {
		t.Fatalf("empty answer: %+v", res)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for four sequential requests, want one (the body was not drained)", n)
	}
}

// TestNoConnectionChurnAcrossEndpoints sends at the in-flight bound to several endpoints at
// once: after the first round every request must find a kept-alive connection. With the idle
// pool capped at the in-flight bound, connections spread over endpoints (up to the
// per-endpoint bound each) outnumbered it, and the Transport closed and redialled some on
// every round: about 2% of requests in `make bench` at 256 in flight, 12% at 128, each a new
// TCP (and, for real endpoints, TLS) handshake.
func TestNoConnectionChurnAcrossEndpoints(t *testing.T) {
	const inFlight, perEndpoint, endpoints = 16, 8, 4
	var dials atomic.Int64
	var targets []*url.URL
	for range endpoints {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			time.Sleep(time.Millisecond) // long enough for requests to overlap
		}))
		srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				dials.Add(1)
			}
		}
		srv.Start()
		defer srv.Close()
		u, _ := url.Parse(srv.URL + "/hook")
		targets = append(targets, u)
	}
	s := newSender(ssrf.Policy{AllowLoopback: true}.Guard(), 5*time.Second, inFlight, perEndpoint)
	// Each round: every endpoint takes perEndpoint requests at once, inFlight at a time in all,
	// so the connections in use move from endpoint to endpoint as a dispatcher's do.
	round := func() {
		sem := make(chan struct{}, inFlight)
		done := make(chan struct{})
		n := 0
		for _, u := range targets {
			for range perEndpoint {
				sem <- struct{}{}
				n++
				go func() {
					defer func() { <-sem; done <- struct{}{} }()
					if r := s.send(context.Background(), u, http.Header{}, []byte(`{}`)); !r.delivered() {
						t.Error(r.err)
					}
				}()
			}
		}
		for range n {
			<-done
		}
	}
	for range 3 {
		round()
	}
	before := dials.Load()
	for range 20 {
		round()
	}
	if churn := dials.Load() - before; churn > 0 {
		t.Fatalf("%d new connections in 20 rounds after warm-up (%d before): kept-alive connections were closed", churn, before)
	}
}

// TestSendTimeout: requests share deadline contexts by start time, but each still gets its
// whole timeout (and at most deadlineSlotLength more): one started in another's slot just before
// the slot ends, one started while those wait (in a slot of its own), and one after all of them.
func TestSendTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	const timeout = 200 * time.Millisecond
	s := newSender(ssrf.Policy{AllowLoopback: true}.Guard(), timeout, 4, 4)
	u, _ := url.Parse(srv.URL + "/hook")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	send := func(name string) {
		start := time.Now()
		r := s.send(ctx, u, http.Header{}, []byte(`{}`))
		took := time.Since(start)
		if r.errType != "timeout" {
			t.Errorf("%s: %q (%v), want a timeout", name, r.errType, r.err)
		}
		if took < timeout || took > timeout+deadlineSlotLength+time.Second {
			t.Errorf("%s gave up after %v; the timeout is %v", name, took, timeout)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { send("the first request") })
	time.Sleep(deadlineSlotLength - 2*time.Millisecond)
	wg.Go(func() { send("a request in the first's slot, near its end") })
	time.Sleep(timeout / 2)
	send("a request started while the first two wait")
	wg.Wait()
	send("a request after all of them")
	// The consumer's context ending still ends a request at once.
	cancel()
	start := time.Now()
	if r := s.send(ctx, u, http.Header{}, []byte(`{}`)); r.err == nil || time.Since(start) > timeout/2 {
		t.Fatalf("after the parent ended: %v after %v", r.err, time.Since(start))
	}
}

// TestDeadlineSlotsAreFreed: a slot's context (and its timer) is cancelled as soon as a newer
// slot has replaced it and its last request is over, not only at its deadline; a stopped
// consumer's slot is dropped.
func TestDeadlineSlotsAreFreed(t *testing.T) {
	d := deadlines{timeout: time.Hour, slots: map[context.Context]*deadlineSlot{}}
	parent, stop := context.WithCancel(context.Background())
	t0 := time.Now()
	a := d.acquire(parent, t0)
	b := d.acquire(parent, t0.Add(deadlineSlotLength/2))
	if a != b {
		t.Fatal("two requests 5ms apart got different slots")
	}
	c := d.acquire(parent, t0.Add(2*deadlineSlotLength))
	if c == a {
		t.Fatal("a request after the slot's end got the old slot")
	}
	d.release(a)
	if a.ctx.Err() != nil {
		t.Fatal("a slot was cancelled while a request still used it")
	}
	d.release(b)
	if a.ctx.Err() == nil {
		t.Fatal("a replaced slot outlived its last request")
	}
	d.release(c)
	if c.ctx.Err() != nil {
		t.Fatal("the current slot was cancelled with nothing newer to replace it")
	}
	e := d.acquire(parent, t0.Add(4*deadlineSlotLength))
	if c.ctx.Err() == nil {
		t.Fatal("an unused slot outlived its replacement")
	}
	d.release(e)
	stop()
	other := context.Background()
	d.release(d.acquire(other, t0.Add(5*deadlineSlotLength)))
	if _, kept := d.slots[parent]; kept || len(d.slots) != 1 {
		t.Fatalf("a stopped consumer's slot was kept: %d slots", len(d.slots))
	}
}
