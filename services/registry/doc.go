// Package registry is Herald's registry service, the only owner of its MongoDB database.
//
// It stores apps and their hashed API keys, publisher app configs, registered events and
// subscriptions (with webhook secrets encrypted at rest), and serves them three ways from one
// implementation (API): the OS1-style JSON routes (handler.go), the gRPC RegistryService
// (grpc.go), and the WatchConfig stream that hands the matcher and dispatcher a versioned
// snapshot followed by every change (watch.go), so that no service reads MongoDB on its hot path.
package registry
