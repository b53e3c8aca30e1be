#!/usr/bin/env bash
# Regenerates the Go code for proto/ (committed, so a checkout builds without protoc).
# Needs protoc (Debian: apt-get install protobuf-compiler libprotobuf-dev); installs the Go
# plugins at the versions the project pins.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler libprotobuf-dev"; exit 1; }
bin="$(go env GOPATH)/bin"
export PATH="$bin:$PATH"
[ -x "$bin/protoc-gen-go" ] || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
[ -x "$bin/protoc-gen-go-grpc" ] || go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
find proto -name '*.proto' -print0 | xargs -0 protoc -I proto \
  --go_out=proto --go_opt=paths=source_relative \
  --go-grpc_out=proto --go-grpc_opt=paths=source_relative
echo "generated: $(find proto -name '*.pb.go' | wc -l) files"
