package apikey_test

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/pkg/apikey"
)

func TestNew(t *testing.T) {
	k1, h1 := apikey.New()
	k2, _ := apikey.New()
	if k1 == k2 {
		t.Fatal("two keys are equal")
	}
	if !apikey.LooksLikeKey(k1) {
		t.Fatalf("LooksLikeKey(%q) = false", k1)
	}
	if h1 != apikey.Hash(k1) || h1 == apikey.Hash(k2) {
		t.Fatal("hash does not identify the key")
	}
	for _, bad := range []string{"", "hk_short", "xx_" + k1[3:], k1 + "x"} {
		if apikey.LooksLikeKey(bad) {
			t.Errorf("LooksLikeKey(%q) = true", bad)
		}
	}
	if !apikey.Equal("abc", "abc") || apikey.Equal("abc", "abd") || apikey.Equal("abc", "ab") {
		t.Fatal("Equal is wrong")
	}
}

func ExampleNew() {
	key, hash := apikey.New()
	fmt.Println(apikey.LooksLikeKey(key), hash == apikey.Hash(key))
	// Output: true true
}
