module github.com/heraldhq/herald/services/heraldctl

go 1.26.0

require (
	github.com/heraldhq/herald/pkg v0.0.0
	github.com/heraldhq/herald/services/standalone v0.0.0
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/segmentio/kafka-go v0.4.51 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)

replace (
	github.com/heraldhq/herald/pkg => ../../pkg
	github.com/heraldhq/herald/proto => ../../proto
	github.com/heraldhq/herald/services/dispatcher => ../dispatcher
	github.com/heraldhq/herald/services/matcher => ../matcher
	github.com/heraldhq/herald/services/registry => ../registry
	github.com/heraldhq/herald/services/standalone => ../standalone
)
