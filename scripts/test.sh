#!/usr/bin/env bash
# Runs Herald's tests: go vet, then every package with the race detector, integration suites
# included. Integration tests reach Kafka and MongoDB by address (HERALD_TEST_KAFKA_BROKERS,
# HERALD_TEST_MONGODB_URI); when those are unset this script starts the stand-ins (kfake and
# FerretDB, see services/standalone/cmd/herald-standin) and stops them afterwards.
#   scripts/test.sh          vet + tests
#   scripts/test.sh -bench   benchmarks instead of tests
#   scripts/test.sh -faults  the fault-injection suite (services as processes, SIGKILL, bad input)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
TAGS=(-tags ferretdb_no_postgresql)
PKGS=(./pkg/... ./proto/... ./services/registry/... ./services/matcher/... ./services/dispatcher/... ./services/heraldctl/... ./services/standalone/...)

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${HERALD_TEST_MONGODB_URI:-}" ] || [ -z "${HERALD_TEST_KAFKA_BROKERS:-}" ]; then
  echo "==> starting the Kafka-protocol broker and MongoDB-protocol store (kfake, FerretDB)"
  "$GO" build "${TAGS[@]}" -o "$work/herald-standin" ./services/standalone/cmd/herald-standin
  "$work/herald-standin" -env-file "$work/env" >"$work/standin.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    [ -f "$work/env" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/standin.log"; echo "stand-ins failed to start"; exit 1; }
    sleep 0.1
  done
  [ -f "$work/env" ] || { cat "$work/standin.log"; echo "stand-ins did not start within 30s"; exit 1; }
  set -a; . "$work/env"; set +a
fi
echo "    HERALD_TEST_MONGODB_URI=$HERALD_TEST_MONGODB_URI"
echo "    HERALD_TEST_KAFKA_BROKERS=$HERALD_TEST_KAFKA_BROKERS"

if [ "${1:-}" = "-bench" ]; then
  echo "==> go test -bench (micro-benchmarks)"
  "$GO" test "${TAGS[@]}" -run '^$' -bench . -benchmem "${PKGS[@]}"
  echo "==> herald-bench (end to end, against a bare HTTP POST loop measured in the same run)"
  mkdir -p .bench
  "$GO" run "${TAGS[@]}" ./services/standalone/cmd/herald-bench -out .bench/latest.json ${HERALD_BENCH_FLAGS:-}
  exit 0
fi

if [ "${1:-}" = "-faults" ]; then
  echo "==> fault-injection suite"
  "$GO" test -tags "faults ferretdb_no_postgresql" -count=1 -v ./services/standalone/faults/
  exit $?
fi

echo "==> go vet"
"$GO" vet "${TAGS[@]}" "${PKGS[@]}"
echo "==> go test -race"
"$GO" test "${TAGS[@]}" -race -count=1 "${PKGS[@]}"
