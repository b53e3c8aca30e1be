// Package store keeps the registry's documents in MongoDB with mongo-driver v2.
//
// It is written for what every MongoDB-protocol server supports, FerretDB v1 included: one
// document per write, no transactions, no change streams. Updates use optimistic concurrency on
// a version field (ErrConflict when someone else won). Every write is followed by a record in
// the `changes` collection, whose sequence numbers are the configuration versions that the
// registry's WatchConfig stream hands to the matcher and dispatcher.
//
// The delivery log (`deliveries` and `attempts`) is not configuration and has no change records:
// it is written from herald.attempts with idempotent upserts, so recording an attempt twice or
// out of order leaves the same documents, and it expires by an explicit sweep (FerretDB has no
// TTL indexes).
package store
