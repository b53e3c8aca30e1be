// Package worker runs the long-lived parts of a service (servers, consumers, sweepers) under
// one supervisor: when one stops with an error or the context ends, the others are cancelled,
// and Run returns once all have returned. A worker that returns context.Canceled after its
// context ended has stopped cleanly.
package worker
