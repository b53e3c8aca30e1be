// Package configwatch keeps a service's view of Herald's configuration current by following the
// registry's WatchConfig stream: a snapshot, then every change. It reconnects with capped,
// jittered backoff when the stream breaks; the service keeps using the last configuration it
// applied meanwhile, so a registry outage never stops matching or delivery.
package configwatch
