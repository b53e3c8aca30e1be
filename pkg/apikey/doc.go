// Package apikey issues and checks the bearer keys that apps use to call Herald.
//
// A key is a prefix and 32 random bytes in base64url ("hk_…"). Herald stores only the key's
// SHA-256 hash: a key has 256 bits of entropy, so a fast hash is as strong as a slow one and
// lets the registry look a key up by its hash with an index.
package apikey
