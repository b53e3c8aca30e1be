package dispatcher

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/ssrf"
)

// The sender builds its requests itself (no http.NewRequest, no http.Client): they must still
// carry the body with its length, an empty body as Content-Length: 0 (not chunked), the Host
// and the headers given, and a redirect must come back as an answer, not be followed.
func TestSendRequestShape(t *testing.T) {
	type seen struct {
		body             string
		length           int64
		transferEncoding []string
		host, event      string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{string(b), r.ContentLength, r.TransferEncoding, r.Host, r.Header.Get(HeaderEvent)}
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
		if r.body != body || r.length != int64(len(body)) || len(r.transferEncoding) != 0 || r.host != u.Host || r.event != "thing" {
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
