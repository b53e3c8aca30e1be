package dispatcher

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/ssrf"
	deliveryv1 "github.com/heraldhq/herald/proto/herald/delivery/v1"
)

// BenchmarkSend sets one signed delivery (payload, headers, request) against a bare
// http.Client POST of the same body to the same loopback server, at the same concurrency:
// the ratio of the two is what Herald's request shape costs over the HTTP exchange itself.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	target, _ := url.Parse(srv.URL + "/hook")
	job := &deliveryv1.Job{DeliveryId: "msg_2b1d0c5e8f7a4b3c9d0e1f2a3b4c5d6e", AppId: "app_1", Topic: "entity", EventName: "thing",
		Body: append(append([]byte(`{"eventType":"thingChanged","pad":"`), bytes.Repeat([]byte("p"), 960)...), `"}`...)}
	const concurrency = 64 // goroutines per GOMAXPROCS: 128 on two cores, as herald-bench's baseline

	b.Run("bare", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
		b.SetParallelism(concurrency)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(target.String(), "application/json", bytes.NewReader(job.Body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	})
	b.Run("signed", func(b *testing.B) {
		s := newSender(ssrf.Policy{AllowLoopback: true}.Guard(), 10*time.Second, 256, 256)
		ctx, cancel := context.WithCancel(context.Background()) // as a consumer's: it can end
		defer cancel()
		sub := &subscription{id: "sub_1", target: target, key: bytes.Repeat([]byte{7}, 32)}
		b.SetParallelism(concurrency)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				body, ct := payload(job, "")
				res := s.send(ctx, target, signedHeaders(sub, job, ct, body, time.Now()), body)
				if !res.delivered() {
					b.Error(res.err)
					return
				}
			}
		})
	})
}
