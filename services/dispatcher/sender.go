package dispatcher

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/pkg/ssrf"
)

const snippetBytes = 1024

// result is what one HTTP attempt came to.
type result struct {
	status     int
	latency    time.Duration
	snippet    string
	errType    string // empty on a response; see classify for the values
	err        error
	retryAfter time.Duration
}

// delivered reports a 2xx answer.
func (r result) delivered() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// sender makes the HTTP requests: one Transport for every endpoint, sized for the configured
// concurrency, dialling through the SSRF guard, never following redirects.
type sender struct {
	rt        http.RoundTripper
	deadlines deadlines // each request's context, ending after the timeout
}

func newSender(guard ssrf.Guard, timeout time.Duration, maxInFlight, maxPerEndpoint int) *sender {
	tr := &http.Transport{
		DialContext:       guard.DialContext(timeout),
		ForceAttemptHTTP2: true,
		// Idle connections kept across all endpoints. Requests in flight spread over endpoints,
		// each of which keeps up to maxPerEndpoint connections, so the connections in use come
		// to more than maxInFlight: capped at maxInFlight, the pool closed some on every return
		// and the next request redialled (TestNoConnectionChurnAcrossEndpoints). Four times
		// keeps the working set; IdleConnTimeout still closes what goes unused.
		MaxIdleConns:        4 * maxInFlight,
		MaxIdleConnsPerHost: maxPerEndpoint, // the default of 2 halves throughput at high concurrency (STACK.md)
		MaxConnsPerHost:     maxPerEndpoint,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: timeout,
		// No Accept-Encoding: gzip on every request: an answer is read for its first KiB only,
		// for the attempt log, where a decompressed snippet is not worth a gzip reader per
		// answer (and one header fewer for every receiver to parse).
		DisableCompression: true,
		// No ResponseHeaderTimeout: each request's context already ends after timeout, and the
		// Transport would start a second timer per request for it.
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
	// The Transport is called directly rather than through an http.Client: redirects are
	// never followed and there is no cookie jar, and the Client would copy every request's
	// headers in case of a redirect.
	return &sender{rt: tr, deadlines: deadlines{timeout: timeout, slots: map[context.Context]*deadlineSlot{}}}
}

// send POSTs body to target with headers and classifies the outcome. target was parsed once,
// when the subscription arrived; nil means it could not be.
func (s *sender) send(ctx context.Context, target *url.URL, header http.Header, body []byte) result {
	if target == nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return result{errType: "request", err: errors.New("the subscription's URL is not an absolute http(s) URL")}
	}
	slot := s.deadlines.acquire(ctx, time.Now())
	defer s.deadlines.release(slot)
	ctx = slot.ctx
	req := (&http.Request{
		Method: http.MethodPost, URL: target, Host: target.Host, Header: header,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: http.NoBody, ContentLength: int64(len(body)),
		GetBody: func() (io.ReadCloser, error) { return http.NoBody, nil },
	}).WithContext(ctx)
	// As http.NewRequest does: an empty body goes as Content-Length: 0, and the body is an
	// io.NopCloser of a *bytes.Reader, which the Transport recognises as already in memory and
	// writes in the same packet as the headers (any other reader has the headers flushed first:
	// one more write per request).
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	start := time.Now()
	resp, err := s.rt.RoundTrip(req)
	if err != nil {
		return result{latency: time.Since(start), errType: classify(err), err: err}
	}
	defer resp.Body.Close()
	r := result{status: resp.StatusCode, snippet: readSnippet(resp)}
	r.latency = time.Since(start)
	switch {
	case r.delivered():
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		r.errType, r.err = "redirect", errors.New("the endpoint answered with a redirect, which Herald does not follow: "+resp.Header.Get("Location"))
	default:
		r.errType, r.err = "http_status", errors.New(resp.Status)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return r
}

// deadlineSlotLength is how close together requests must start to share a deadline.
const deadlineSlotLength = 10 * time.Millisecond

// deadlines hands out the contexts requests are sent under: every request started under the
// same parent within deadlineSlotLength of the slot's first gets the same context, which ends
// timeout after the slot does. A context with a timer of its own per request (and the map of
// children the Transport's own context registers in it) was 612 bytes and 7 allocations per
// delivery; requests now get between timeout and timeout+deadlineSlotLength. Times keep their
// monotonic reading (no rounding to the wall clock), so a clock step cannot stretch a slot. A
// slot's context is cancelled, freeing its timer, once a newer slot has replaced it and its last
// request has returned.
type deadlines struct {
	timeout time.Duration
	mu      sync.Mutex
	// slots holds each parent's current slot. A parent is a consumer's long-lived context (a
	// pointer, so comparable): one per consumer, not one per request.
	slots map[context.Context]*deadlineSlot
}

type deadlineSlot struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	end    time.Time // requests started before end share ctx
	users  int       // requests using ctx now; guarded by deadlines.mu
}

// acquire returns the slot for a request starting now; release it when the request is over.
func (d *deadlines) acquire(parent context.Context, now time.Time) *deadlineSlot {
	d.mu.Lock()
	defer d.mu.Unlock()
	sl := d.slots[parent]
	if sl != nil && now.Before(sl.end) && sl.ctx.Err() == nil {
		sl.users++
		return sl
	}
	if sl != nil && sl.users == 0 {
		sl.cancel() // replaced, and nothing uses it
	}
	for p, old := range d.slots {
		if p.Err() != nil { // a consumer that stopped
			if old.users == 0 {
				old.cancel()
			}
			delete(d.slots, p)
		}
	}
	ctx, cancel := context.WithDeadline(parent, now.Add(deadlineSlotLength+d.timeout))
	sl = &deadlineSlot{parent: parent, ctx: ctx, cancel: cancel, end: now.Add(deadlineSlotLength), users: 1}
	d.slots[parent] = sl
	return sl
}

func (d *deadlines) release(sl *deadlineSlot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sl.users--
	if sl.users == 0 && d.slots[sl.parent] != sl {
		sl.cancel() // replaced while in use: its last request is over
	}
}

// snippets are the buffers responses are read into: a buffer per request on the heap was a
// kilobyte of garbage per delivery.
var snippets = sync.Pool{New: func() any { return new([snippetBytes]byte) }}

// readSnippet returns the first snippetBytes of the response body, and reads up to 64 KiB more
// so that the connection can be reused. A response that declares an empty body is not read.
func readSnippet(resp *http.Response) string {
	if resp.ContentLength == 0 {
		return ""
	}
	buf := snippets.Get().(*[snippetBytes]byte)
	defer snippets.Put(buf)
	n, err := io.ReadFull(resp.Body, buf[:])
	snippet := string(buf[:n])
	for drained := 0; err == nil && drained < 64<<10; {
		var m int
		m, err = resp.Body.Read(buf[:])
		drained += m
	}
	return snippet
}

// classify names a transport failure's kind for the attempt log.
func classify(err error) string {
	var blocked *ssrf.BlockedError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &blocked):
		return "blocked"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return "timeout"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_reset"
	case errors.As(err, &certErr) || errors.As(err, &recErr) || strings.Contains(err.Error(), "tls:"):
		return "tls"
	}
	return "connection"
}

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or unreadable. Capped at a day.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 24*time.Hour)
}
