package signature_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/signature"
)

// BenchmarkStandardWebhooks signs a 1 KiB body with one key.
func BenchmarkStandardWebhooks(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	ts := time.Unix(1614265330, 0)
	s := signature.NewSigner(newKey(b))
	b.Run("Append", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		dst := make([]byte, 0, 64)
		for b.Loop() {
			dst = s.AppendStandardWebhooks(dst[:0], "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
		}
	})
	b.Run("String", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			_ = s.StandardWebhooks("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
		}
	})
	b.Run("TwoKeys", func(b *testing.B) {
		s := signature.NewSigner(newKey(b), newKey(b))
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		dst := make([]byte, 0, 128)
		for b.Loop() {
			dst = s.AppendStandardWebhooks(dst[:0], "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
		}
	})
}

func BenchmarkHub(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	s := signature.NewSigner(newKey(b))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_ = s.Hub(body)
	}
}

func BenchmarkVerify(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	ts := time.Unix(1614265330, 0)
	key := newKey(b)
	h := signature.NewSigner(key).StandardWebhooks("msg_1", ts, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := signature.Verify(key, "msg_1", ts, body, h, ts, 0); err != nil {
			b.Fatal(err)
		}
	}
}
