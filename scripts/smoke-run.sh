#!/usr/bin/env bash
# Checks the README's first command on this machine: `make run` starts, prints its addresses,
# answers the walkthrough's first calls, keeps data across a restart, and stops on Ctrl-C.
set -euo pipefail
set -m # job control: `make run` gets its own process group, and Ctrl-C goes to all of it
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -INT -- "-$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
export HERALD_DATA_DIR="$work/data" HERALD_HTTP_ADDR="127.0.0.1:$(port)" HERALD_GRPC_ADDR="127.0.0.1:$(port)" HERALD_KAFKA_ADDR="127.0.0.1:$(port)"

start() {
  make run >"$work/out" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q "HTTP API:" "$work/out" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  cat "$work/out"; echo "make run did not print its HTTP address"; exit 1
}
stop() { kill -INT -- "-$pid"; wait "$pid" || true; pid=""; grep -q "Herald stopped." "$work/out" || { cat "$work/out"; echo "no clean stop"; exit 1; }; }

start
base=$(grep -o 'HTTP API: *http://[0-9.:]*' "$work/out" | grep -o 'http://.*')
grep -q "Kafka broker: *$HERALD_KAFKA_ADDR" "$work/out" || { cat "$work/out"; echo "Kafka address not printed"; exit 1; }
token=$(grep -o 'Admin token: *[^ ]*' "$work/out" | awk '{print $3}')
curl -fsS "$base/healthz" >/dev/null
app=$(curl -fsS -X POST "$base/v1/apps" -H "Authorization: Bearer $token" -d '{"name":"smoke","permissions":["p"]}')
key=$(echo "$app" | sed -E 's/.*"apiKey":"([^"]+)".*/\1/')
curl -fsS -X POST "$base/v1/appconfig" -H "Authorization: Bearer $key" -d '{"permissions":["p"]}' >/dev/null
if command -v kcat >/dev/null 2>&1; then
  # An event produced by an outside Kafka client to the printed broker becomes a delivery job.
  curl -fsS -X POST "$base/v1/topics/entity/events" -H "Authorization: Bearer $key" \
    -d '{"events":[{"name":"created","eventType":"thingCreated"}]}' >/dev/null
  app=$(curl -fsS -X POST "$base/v1/subscriptions" -H "Authorization: Bearer $key" -d "{\"appId\":\"$(echo "$app" | sed -E 's/.*"id":"([^"]+)".*/\1/')\",\"topic\":\"entity\",\"events\":[\"created\"],\"url\":\"http://127.0.0.1:9/hook\",\"options\":{\"skipVerification\":true}}")
  echo '{"id":"t1"}' | kcat -P -b "$HERALD_KAFKA_ADDR" -t entity -H eventType=thingCreated
  metrics=$(grep -o 'Matcher: *http://[^ ]*' "$work/out" | awk '{print $2}')
  for _ in $(seq 1 100); do
    curl -fsS "$metrics" | grep -q '^herald_matcher_jobs_produced_total 1$' && break
    sleep 0.2
  done
  curl -fsS "$metrics" | grep -q '^herald_matcher_jobs_produced_total 1$' || { curl -fsS "$metrics" | grep herald_matcher; echo "the kcat event did not become a delivery job"; exit 1; }
  echo "smoke: an event produced with kcat to $HERALD_KAFKA_ADDR became a delivery job"
fi
stop
start
curl -fsS "$base/v1/appconfig" -H "Authorization: Bearer $key" | grep -q '"permissions":\["p"\]' || { echo "app config lost across a restart"; exit 1; }
stop
echo "smoke: make run started, served, kept its data across a restart and stopped cleanly"
