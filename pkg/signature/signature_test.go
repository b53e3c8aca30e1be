package signature_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/signature"
)

// The vector published with the Standard Webhooks reference libraries.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustParse(t testing.TB, s string) []byte {
	t.Helper()
	k, err := signature.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSpecVector(t *testing.T) {
	s := signature.NewSigner(mustParse(t, specSecret))
	ts := time.Unix(specTS, 0)
	if got := s.StandardWebhooks(specID, ts, []byte(specBody)); got != specSig {
		t.Fatalf("StandardWebhooks = %q, want %q", got, specSig)
	}
	// Sub-second parts of the timestamp are not signed: the header carries whole seconds.
	if got := s.StandardWebhooks(specID, ts.Add(999*time.Millisecond), []byte(specBody)); got != specSig {
		t.Fatalf("StandardWebhooks with milliseconds = %q, want %q", got, specSig)
	}
}

func TestHubVector(t *testing.T) {
	// The example in GitHub's "Validating webhook deliveries".
	s := signature.NewSigner([]byte("It's a Secret to Everybody"), newKey(t))
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := s.Hub([]byte("Hello, World!")); got != want {
		t.Fatalf("Hub = %q, want %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	key := newKey(t)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	s := signature.NewSigner(mustParse(t, secret))
	now := time.Now()
	for _, body := range [][]byte{nil, []byte("{}"), bytes.Repeat([]byte("x"), 64<<10)} {
		h := s.StandardWebhooks("msg_1", now, body)
		if !strings.HasPrefix(h, "v1,") || strings.Contains(h, " ") {
			t.Fatalf("header %q is not one v1 signature", h)
		}
		if err := signature.Verify(key, "msg_1", now, body, h, now, 0); err != nil {
			t.Fatalf("Verify(%d-byte body): %v", len(body), err)
		}
	}
}

func TestAppendMatchesString(t *testing.T) {
	s := signature.NewSigner(newKey(t), newKey(t))
	ts := time.Now()
	body := []byte(`{"a":1}`)
	want := s.StandardWebhooks("msg_1", ts, body)
	got := s.AppendStandardWebhooks([]byte("prefix:"), "msg_1", ts, body)
	if string(got) != "prefix:"+want {
		t.Fatalf("Append = %q, want %q", got, "prefix:"+want)
	}
	// The string returned earlier must not change when the Signer is reused.
	before := want
	s.StandardWebhooks("msg_2", ts, []byte("other"))
	s.Hub([]byte("other"))
	if want != before || s.StandardWebhooks("msg_1", ts, body) != want {
		t.Fatal("reusing the Signer changed an earlier result")
	}
}

func TestRotation(t *testing.T) {
	newK, oldK := newKey(t), newKey(t)
	s := signature.NewSigner(newK, oldK)
	now := time.Now()
	body := []byte(`{"type":"invoice.paid"}`)
	h := s.StandardWebhooks("msg_1", now, body)
	sigs := strings.Split(h, " ")
	if len(sigs) != 2 || sigs[0] == sigs[1] {
		t.Fatalf("header %q: want two different signatures", h)
	}
	if sigs[0] != signature.NewSigner(newK).StandardWebhooks("msg_1", now, body) ||
		sigs[1] != signature.NewSigner(oldK).StandardWebhooks("msg_1", now, body) {
		t.Fatalf("header %q: signatures are not in key order", h)
	}
	for name, k := range map[string][]byte{"new": newK, "old": oldK} {
		if err := signature.Verify(k, "msg_1", now, body, h, now, 0); err != nil {
			t.Errorf("%s key: %v", name, err)
		}
	}
	if err := signature.Verify(newKey(t), "msg_1", now, body, h, now, 0); !errors.Is(err, signature.ErrNoMatch) {
		t.Errorf("third key: err = %v, want ErrNoMatch", err)
	}
	// Hub signs with the first key only.
	if s.Hub(body) != signature.NewSigner(newK).Hub(body) {
		t.Error("Hub did not use the first key")
	}
}

func TestTampered(t *testing.T) {
	key := newKey(t)
	now := time.Now()
	body := []byte(`{"amount":100}`)
	h := signature.NewSigner(key).StandardWebhooks("msg_1", now, body)

	tests := []struct {
		name   string
		id     string
		ts     time.Time
		body   []byte
		header string
	}{
		{"body", "msg_1", now, []byte(`{"amount":900}`), h},
		{"body appended", "msg_1", now, append([]byte(`{"amount":100}`), ' '), h},
		{"empty body", "msg_1", now, nil, h},
		{"id", "msg_2", now, body, h},
		{"timestamp", "msg_1", now.Add(time.Second), body, h},
		{"id and timestamp shifted", "msg_1.1", now.Add(-time.Second), body, h},
		{"signature", "msg_1", now, body, "v1," + flipFirst(strings.TrimPrefix(h, "v1,"))},
		{"version", "msg_1", now, body, "v2," + strings.TrimPrefix(h, "v1,")},
		{"asymmetric version", "msg_1", now, body, "v1a," + strings.TrimPrefix(h, "v1,")},
		{"bare signature", "msg_1", now, body, strings.TrimPrefix(h, "v1,")},
		{"empty header", "msg_1", now, body, ""},
		{"hub form", "msg_1", now, body, signature.NewSigner(key).Hub(body)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signature.Verify(key, tt.id, tt.ts, tt.body, tt.header, now, 0)
			if !errors.Is(err, signature.ErrNoMatch) {
				t.Fatalf("err = %v, want ErrNoMatch", err)
			}
		})
	}
	// The untampered header still verifies, also among other signatures and extra spaces.
	for _, hh := range []string{h, "v1a,abc " + h, "v1,AAAA  " + h + " "} {
		if err := signature.Verify(key, "msg_1", now, body, hh, now, 0); err != nil {
			t.Errorf("Verify(%q): %v", hh, err)
		}
	}
	if err := signature.Verify(nil, "msg_1", now, body, h, now, 0); err == nil {
		t.Error("Verify with an empty key succeeded")
	}
}

func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestTolerance(t *testing.T) {
	key := newKey(t)
	ts := time.Unix(1_700_000_000, 0)
	body := []byte("{}")
	h := signature.NewSigner(key).StandardWebhooks("msg_1", ts, body)

	tests := []struct {
		name      string
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"same second", ts, 0, nil},
		{"default, 5m late", ts.Add(5 * time.Minute), 0, nil},
		{"default, 5m1s late", ts.Add(5*time.Minute + time.Second), 0, signature.ErrTooOld},
		{"default, 5m early", ts.Add(-5 * time.Minute), 0, nil},
		{"default, 5m1s early", ts.Add(-5*time.Minute - time.Second), 0, signature.ErrTooNew},
		{"negative means default", ts.Add(4 * time.Minute), -time.Second, nil},
		{"30s, 30s late", ts.Add(30 * time.Second), 30 * time.Second, nil},
		{"30s, 31s late", ts.Add(31 * time.Second), 30 * time.Second, signature.ErrTooOld},
		{"30s, 31s early", ts.Add(-31 * time.Second), 30 * time.Second, signature.ErrTooNew},
		{"1h, 59m late", ts.Add(59 * time.Minute), time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signature.Verify(key, "msg_1", ts, body, h, tt.now, tt.tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// A zero now is the current time.
	fresh := time.Now()
	h = signature.NewSigner(key).StandardWebhooks("msg_1", fresh, body)
	if err := signature.Verify(key, "msg_1", fresh, body, h, time.Time{}, 0); err != nil {
		t.Fatalf("zero now: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	key24 := bytes.Repeat([]byte{0xab}, 24)
	key64 := bytes.Repeat([]byte{0xcd}, 64)
	enc := base64.StdEncoding.EncodeToString
	for _, ok := range []struct {
		in   string
		want []byte
	}{
		{"whsec_" + enc(key24), key24},
		{enc(key24), key24}, // tolerated: no prefix
		{"whsec_" + enc(key64), key64},
	} {
		got, err := signature.ParseSecret(ok.in)
		if err != nil || !bytes.Equal(got, ok.want) {
			t.Errorf("ParseSecret(%q) = %x, %v; want %x", ok.in, got, err, ok.want)
		}
	}

	for _, bad := range []struct{ in, wantErr string }{
		{"", "secret is empty"},
		{"whsec_", "nothing after whsec_"},
		{"whsec_not base64!", "not whsec_ and standard base64"},
		{"whsec_" + base64.RawStdEncoding.EncodeToString(key24[:23]), "not whsec_ and standard base64"},
		{"whsec_" + base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf}) + enc(key24), "not whsec_ and standard base64"},
		{"whsk_" + enc(key24), "not whsec_ and standard base64"},
		{"whsec_" + enc(key24[:23]), "23 bytes, want 24 to 64"},
		{"whsec_" + enc([]byte("short")), "5 bytes, want 24 to 64"},
		{"whsec_" + enc(append(key64, 0)), "65 bytes, want 24 to 64"},
	} {
		_, err := signature.ParseSecret(bad.in)
		if err == nil || !strings.Contains(err.Error(), bad.wantErr) || !strings.HasPrefix(err.Error(), "signature: ") {
			t.Errorf("ParseSecret(%q) err = %v, want one containing %q", bad.in, err, bad.wantErr)
		}
	}
}

func TestNoKeys(t *testing.T) {
	s := signature.NewSigner()
	if got := s.StandardWebhooks("msg_1", time.Now(), nil); got != "" {
		t.Errorf("StandardWebhooks = %q, want empty", got)
	}
	if got := s.Hub(nil); got != "" {
		t.Errorf("Hub = %q, want empty", got)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	s := signature.NewSigner(newKey(t))
	body := bytes.Repeat([]byte("x"), 1024)
	dst := make([]byte, 0, 128)
	ts := time.Now()
	s.AppendStandardWebhooks(dst, "msg_1", ts, body) // sizes the Signer's scratch
	if n := testing.AllocsPerRun(100, func() {
		dst = s.AppendStandardWebhooks(dst[:0], "msg_1", ts, body)
	}); n != 0 {
		t.Fatalf("AppendStandardWebhooks: %v allocations per call, want 0", n)
	}
}
