package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"github.com/heraldhq/herald/pkg/secretbox"
)

func mustBox(t *testing.T, keys ...string) *secretbox.Box {
	t.Helper()
	var raw [][]byte
	for _, k := range keys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	box, err := secretbox.New(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func TestSealOpenRoundTrip(t *testing.T) {
	box := mustBox(t, secretbox.NewKey())
	plain := []byte("whsec_abc")
	sealed := box.Seal(plain)
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plaintext")
	}
	if bytes.Equal(sealed, box.Seal(plain)) {
		t.Fatal("two seals of one plaintext are equal: nonce not random")
	}
	got, err := box.Open(sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := secretbox.NewKey(), secretbox.NewKey()
	sealedOld := mustBox(t, oldKey).Seal([]byte("s1"))

	rotated := mustBox(t, newKey, oldKey)
	if got, err := rotated.Open(sealedOld); err != nil || string(got) != "s1" {
		t.Fatalf("rotated box cannot open the old value: %q, %v", got, err)
	}
	if _, err := mustBox(t, oldKey).Open(rotated.Seal([]byte("s2"))); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Fatalf("old box opened a value sealed with the new primary: %v", err)
	}
}

func TestOpenRejectsTampering(t *testing.T) {
	box := mustBox(t, secretbox.NewKey())
	sealed := box.Seal([]byte("secret"))
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := box.Open(bad); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	if _, err := box.Open(sealed[:5]); !errors.Is(err, secretbox.ErrCorrupt) {
		t.Fatalf("short value: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2 := secretbox.NewKey(), secretbox.NewKey()
	keys, err := secretbox.ParseKeys(k1 + ", " + k2)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParseKeys = %d keys, %v", len(keys), err)
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := secretbox.ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) succeeded", bad)
		}
	}
}

func ExampleBox() {
	keys, _ := secretbox.ParseKeys(secretbox.NewKey())
	box, _ := secretbox.New(keys...)
	sealed := box.Seal([]byte("whsec_example"))
	plain, _ := box.Open(sealed)
	fmt.Println(string(plain))
	// Output: whsec_example
}
