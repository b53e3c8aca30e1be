// Package signature signs Herald's webhook deliveries so that receivers can tell them from forgeries.
//
// Herald follows the Standard Webhooks specification (https://www.standardwebhooks.com): every
// delivery carries a message id ([HeaderID]), the Unix time of the attempt ([HeaderTimestamp]) and
// [HeaderSignature], which holds "v1,<base64 HMAC-SHA256>" of "<id>.<timestamp>.<body>". While a
// subscription's secret is being rotated, the header holds one signature per key, new key first,
// so a receiver holding either key accepts the delivery. For receivers built for GitHub
// (X-Hub-Signature-256), [Signer.Hub] computes "sha256=<hex HMAC-SHA256 of body>" with the first
// key.
//
// Secrets are shown to users as "whsec_" and the standard base64 of 24 to 64 random bytes;
// [ParseSecret] turns that form back into the key. A [Signer] keeps one HMAC hasher per key and
// reuses it, so signing costs no allocations with [Signer.AppendStandardWebhooks]; a Signer is
// therefore not safe for concurrent use: create one per goroutine (it is cheap) or pool them.
// [Verify] is the receiving side, for tests, the CLI and receivers written in Go.
//
// The id must not contain '.', or one signed string could be read as another; Herald's ids do not.
package signature
