package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

const (
	version   = 1
	keyIDSize = 8
	header    = 1 + keyIDSize
)

var (
	// ErrUnknownKey means a value was sealed with a key this Box does not hold.
	ErrUnknownKey = errors.New("secretbox: sealed with an unknown key")
	// ErrCorrupt means a sealed value is malformed or was tampered with.
	ErrCorrupt = errors.New("secretbox: sealed value is corrupt")
)

// Box seals with its primary key and opens with any of its keys. It is safe for concurrent use.
type Box struct {
	primary [keyIDSize]byte
	aeads   map[[keyIDSize]byte]cipher.AEAD
}

// New returns a Box whose first key is primary. Every key must be KeySize bytes.
func New(keys ...[]byte) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("secretbox: no key")
	}
	b := &Box{aeads: make(map[[keyIDSize]byte]cipher.AEAD, len(keys))}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %d: %w", i, err)
		}
		id := keyID(k)
		if i == 0 {
			b.primary = id
		}
		b.aeads[id] = aead
	}
	return b, nil
}

// ParseKeys decodes a comma-separated list of base64 keys, primary first, as kept in
// configuration (HERALD_SECRET_KEY).
func ParseKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %d is not base64: %w", i, err)
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("secretbox: no key")
	}
	return keys, nil
}

// NewKey returns a fresh random key, base64-encoded for configuration.
func NewKey() string {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on supported platforms.
	return base64.StdEncoding.EncodeToString(k)
}

// Seal encrypts plaintext with the primary key.
func (b *Box) Seal(plaintext []byte) []byte {
	aead := b.aeads[b.primary]
	out := make([]byte, header, header+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = version
	copy(out[1:header], b.primary[:])
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, out[:header])
}

// Open decrypts a value made by Seal with any key of the Box.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < header || sealed[0] != version {
		return nil, ErrCorrupt
	}
	var id [keyIDSize]byte
	copy(id[:], sealed[1:header])
	aead, ok := b.aeads[id]
	if !ok {
		return nil, ErrUnknownKey
	}
	rest := sealed[header:]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrCorrupt
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], sealed[:header])
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

func keyID(k []byte) [keyIDSize]byte {
	sum := sha256.Sum256(k)
	var id [keyIDSize]byte
	copy(id[:], sum[:keyIDSize])
	return id
}
