package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// Header names used by Standard Webhooks and by GitHub-style receivers.
const (
	HeaderID        = "webhook-id"          // the message id, the same on every attempt
	HeaderTimestamp = "webhook-timestamp"   // the attempt's time in decimal Unix seconds
	HeaderSignature = "webhook-signature"   // space-separated "v1,<base64>" signatures
	HeaderHub       = "X-Hub-Signature-256" // "sha256=<hex>" of the body alone
)

// DefaultTolerance is how far a timestamp may be from the verifier's clock when Verify is given a
// tolerance of zero.
const DefaultTolerance = 5 * time.Minute

// Key sizes accepted by ParseSecret: the Standard Webhooks specification asks for 24 to 64 random
// bytes (192 to 512 bits).
const (
	MinKeySize = 24
	MaxKeySize = 64
)

const secretPrefix = "whsec_"

var (
	// ErrNoMatch means no v1 signature in the header was made with the key over this id,
	// timestamp and body.
	ErrNoMatch = errors.New("signature: no matching v1 signature")
	// ErrTooOld means the timestamp is further in the past than the tolerance (a replay or a
	// badly delayed delivery).
	ErrTooOld = errors.New("signature: timestamp too old")
	// ErrTooNew means the timestamp is further in the future than the tolerance (a clock skew).
	ErrTooNew = errors.New("signature: timestamp too new")
)

var b64 = base64.StdEncoding

// ParseSecret returns the key in a signing secret as Herald issues it: "whsec_" followed by the
// standard (padded) base64 of 24 to 64 key bytes. For tolerance it also accepts the base64 without
// the prefix. The error says what is wrong; it never quotes the secret.
func ParseSecret(s string) ([]byte, error) {
	enc, prefixed := strings.CutPrefix(s, secretPrefix)
	if enc == "" {
		if prefixed {
			return nil, errors.New("signature: secret has nothing after " + secretPrefix)
		}
		return nil, errors.New("signature: secret is empty")
	}
	key, err := b64.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("signature: secret is not %s and standard base64: %w", secretPrefix, err)
	}
	if len(key) < MinKeySize || len(key) > MaxKeySize {
		return nil, fmt.Errorf("signature: secret key is %d bytes, want %d to %d", len(key), MinKeySize, MaxKeySize)
	}
	return key, nil
}

// Signer signs with one or more keys: during a rotation both the new and the old key sign, the new
// one first. It keeps one HMAC-SHA256 hasher per key and resets it for each message, so it is not
// safe for concurrent use; it is cheap to create one per goroutine, or pool them.
type Signer struct {
	macs    []hash.Hash
	prefix  []byte // "<id>.<timestamp>." of the message being signed
	sum     [sha256.Size]byte
	scratch []byte // backs the strings returned by StandardWebhooks and Hub
}

// NewSigner returns a Signer for keys, in the order their signatures appear. The keys are copied.
// A Signer without keys returns empty signatures.
func NewSigner(keys ...[]byte) *Signer {
	s := &Signer{macs: make([]hash.Hash, len(keys))}
	for i, k := range keys {
		s.macs[i] = hmac.New(sha256.New, k) // hmac.New copies the key.
	}
	return s
}

// sigLen is the length of one "v1,<base64>" signature.
var sigLen = len("v1,") + b64.EncodedLen(sha256.Size)

// StandardWebhooks returns the value of the webhook-signature header for a message id, the
// attempt's timestamp ts (signed as whole Unix seconds, as the webhook-timestamp header must carry
// it) and the body: "v1,<base64 HMAC-SHA256 of id.timestamp.body>" for each key, in key order,
// separated by spaces.
func (s *Signer) StandardWebhooks(id string, ts time.Time, body []byte) string {
	if len(s.macs) == 0 {
		return ""
	}
	s.scratch = s.AppendStandardWebhooks(s.scratch[:0], id, ts, body)
	return string(s.scratch)
}

// AppendStandardWebhooks appends what StandardWebhooks returns to dst and returns the extended
// slice. It does not allocate when dst has room.
func (s *Signer) AppendStandardWebhooks(dst []byte, id string, ts time.Time, body []byte) []byte {
	s.prefix = append(s.prefix[:0], id...)
	s.prefix = append(s.prefix, '.')
	s.prefix = strconv.AppendInt(s.prefix, ts.Unix(), 10)
	s.prefix = append(s.prefix, '.')
	for i, m := range s.macs {
		if i > 0 {
			dst = append(dst, ' ')
		}
		m.Reset()
		m.Write(s.prefix)
		m.Write(body)
		dst = append(dst, "v1,"...)
		dst = b64.AppendEncode(dst, m.Sum(s.sum[:0]))
	}
	return dst
}

// Hub returns the X-Hub-Signature-256 value for body, "sha256=<hex HMAC-SHA256 of body>", made
// with the first key only (GitHub-style receivers accept one signature). It returns "" when the
// Signer has no key.
func (s *Signer) Hub(body []byte) string {
	if len(s.macs) == 0 {
		return ""
	}
	m := s.macs[0]
	m.Reset()
	m.Write(body)
	s.scratch = append(s.scratch[:0], "sha256="...)
	s.scratch = hex.AppendEncode(s.scratch, m.Sum(s.sum[:0]))
	return string(s.scratch)
}

// Verify checks a webhook-signature header value for the message (id, ts, body) against key. It
// returns nil when any v1 signature in the header matches (signatures of other versions are
// ignored) and ts is within tolerance of now. A tolerance of zero or less means DefaultTolerance;
// a zero now means time.Now(). Signatures are compared in constant time.
//
// The errors wrap ErrTooOld, ErrTooNew or ErrNoMatch.
func Verify(key []byte, id string, ts time.Time, body []byte, header string, now time.Time, tolerance time.Duration) error {
	if len(key) == 0 {
		return errors.New("signature: empty key")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if now.IsZero() {
		now = time.Now()
	}
	switch d := now.Sub(ts); {
	case d > tolerance:
		return fmt.Errorf("%w: %s old, tolerance %s", ErrTooOld, d, tolerance)
	case d < -tolerance:
		return fmt.Errorf("%w: %s ahead, tolerance %s", ErrTooNew, -d, tolerance)
	}

	want := NewSigner(key).AppendStandardWebhooks(make([]byte, 0, sigLen), id, ts, body)
	want = want[len("v1,"):]
	seen := 0
	for _, f := range strings.Fields(header) {
		version, sig, ok := strings.Cut(f, ",")
		if !ok || version != "v1" {
			continue
		}
		seen++
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	if seen == 0 {
		return fmt.Errorf("%w: the header holds no v1 signature", ErrNoMatch)
	}
	return ErrNoMatch
}
