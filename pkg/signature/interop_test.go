package signature_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/pkg/signature"
)

// These tests check Herald's signatures against the Standard Webhooks reference library for Go
// (github.com/standard-webhooks/standard-webhooks/libraries, a test-only dependency).

func refHeaders(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h
}

func TestInteropHeaderNames(t *testing.T) {
	if signature.HeaderID != standardwebhooks.HeaderWebhookID ||
		signature.HeaderTimestamp != standardwebhooks.HeaderWebhookTimestamp ||
		signature.HeaderSignature != standardwebhooks.HeaderWebhookSignature {
		t.Fatal("header names differ from the reference library's")
	}
}

func TestInteropOursVerifiedByReference(t *testing.T) {
	// The reference library checks the timestamp against time.Now, so sign with the current time.
	now := time.Now()
	for i := range 50 {
		secret, key := randomSecret(t, 24+i%41)
		id, body := randomMessage(t, i)

		ref, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := signature.ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		if string(parsed) != string(key) {
			t.Fatal("ParseSecret disagrees with the secret's key")
		}

		header := signature.NewSigner(parsed).StandardWebhooks(id, now, body)
		if err := ref.Verify(body, refHeaders(id, now, header)); err != nil {
			t.Fatalf("message %d: reference Verify of our signature: %v", i, err)
		}
		// Tampering is caught by the reference library too, so the check above could fail.
		if err := ref.Verify(append(body, '!'), refHeaders(id, now, header)); err == nil {
			t.Fatalf("message %d: reference Verify accepted a tampered body", i)
		}
	}
}

func TestInteropRotationVerifiedByReference(t *testing.T) {
	now := time.Now()
	newSecret, newK := randomSecret(t, 32)
	oldSecret, oldK := randomSecret(t, 24)
	id, body := "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", []byte(`{"type":"contact.created"}`)
	header := signature.NewSigner(newK, oldK).StandardWebhooks(id, now, body)
	for _, secret := range []string{newSecret, oldSecret} {
		ref, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.Verify(body, refHeaders(id, now, header)); err != nil {
			t.Fatalf("reference Verify of a rotation header: %v", err)
		}
	}
	other, _ := randomSecret(t, 32)
	ref, _ := standardwebhooks.NewWebhook(other)
	if err := ref.Verify(body, refHeaders(id, now, header)); err == nil {
		t.Fatal("reference Verify accepted a header signed with other keys")
	}
}

func TestInteropReferenceVerifiedByOurs(t *testing.T) {
	now := time.Now()
	for i := range 50 {
		secret, key := randomSecret(t, 24+i%41)
		id, body := randomMessage(t, i)
		ts := now.Add(time.Duration(i-25) * time.Second)

		ref, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		header, err := ref.Sign(id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		if err := signature.Verify(key, id, ts, body, header, now, 0); err != nil {
			t.Fatalf("message %d: our Verify of the reference signature %q: %v", i, header, err)
		}
		if got := signature.NewSigner(key).StandardWebhooks(id, ts, body); got != header {
			t.Fatalf("message %d: we sign %q, the reference signs %q", i, got, header)
		}
	}
}

func TestInteropSpecVector(t *testing.T) {
	ref, err := standardwebhooks.NewWebhook(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ref.Sign(specID, time.Unix(specTS, 0), []byte(specBody))
	if err != nil || got != specSig {
		t.Fatalf("reference Sign = %q, %v; want %q", got, err, specSig)
	}
}

func randomSecret(t *testing.T, n int) (secret string, key []byte) {
	t.Helper()
	key = make([]byte, n)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key), key
}

func randomMessage(t *testing.T, i int) (id string, body []byte) {
	t.Helper()
	body = make([]byte, i*37)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	return "msg_" + strings.Repeat("x", i%7) + strconv.Itoa(i), body
}
