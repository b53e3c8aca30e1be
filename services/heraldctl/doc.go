// Package heraldctl is Herald's command-line client for publishers, subscribers and operators.
//
// It talks only to the registry's public JSON API (the routes in README.md, "API") and, for the
// guided demo, to Kafka. [Run] is the whole program: cmd/heraldctl only hands it the arguments,
// the standard streams and a context that ends on Ctrl-C, so tests drive the CLI in-process.
//
// Commands are grouped as the API is: apps (operator), apply and events (publisher), subscribe,
// subscriptions and deliveries (subscriber), filter test (local, with the matcher's rule
// engine, package github.com/heraldhq/herald/pkg/filter) and demo. `apply` is declarative: it
// reads the publisher's current configuration, computes a [Plan] with [Diff] and applies only
// the differences, so running it twice changes nothing the second time. `filter test` uses
// [Explain] to show why a rule matched an event or not.
//
// Exit codes: 0 success; 1 an API or other error (the API's message and field are printed with
// a hint); 2 a usage error; 3 from `filter test` when the rule does not match the event.
package heraldctl
