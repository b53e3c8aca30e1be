// Package standalone runs Herald in one process for a laptop or a demo: the services on an
// embedded Kafka-protocol broker (kfake) and an embedded MongoDB-protocol store (FerretDB on
// SQLite), both keeping their data in one folder. Pointing it at an external MongoDB
// (HERALD_MONGODB_URI) runs the same service code without the embedded store.
package standalone
