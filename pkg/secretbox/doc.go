// Package secretbox encrypts small secrets at rest (webhook signing secrets) with AES-256-GCM.
//
// A Box holds one primary key, which seals, and any number of older keys, which only open. Every
// sealed value starts with a version byte and an 8-byte key id (the first bytes of the key's
// SHA-256), so rotating the encryption key is: add the new key as primary, keep the old one in
// the list until everything has been re-sealed, then drop it. Keys are 32 random bytes, written
// in configuration as standard base64 (see ParseKeys).
package secretbox
