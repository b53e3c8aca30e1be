// Package standin starts the real protocol servers that stand in for Kafka and MongoDB on a
// machine without them: kfake (the Kafka wire protocol, from franz-go) and FerretDB v1 embedded on
// SQLite (the MongoDB wire protocol).
//
// Only this module imports them, so the production services' import graph never contains a
// stand-in: services reach both servers by address, exactly as they reach real Kafka and MongoDB.
package standin
