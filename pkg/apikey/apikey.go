package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Prefix starts every app key, so that leaked keys are easy to recognise and scan for.
const Prefix = "hk_"

// New returns a new key and the hash to store for it.
func New() (key, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	key = Prefix + base64.RawURLEncoding.EncodeToString(b)
	return key, Hash(key)
}

// Hash returns the hex SHA-256 of key, the form in which keys are stored and looked up.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// LooksLikeKey reports whether s has the shape of an app key (cheap check before a lookup).
func LooksLikeKey(s string) bool {
	return strings.HasPrefix(s, Prefix) && len(s) == len(Prefix)+43
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
