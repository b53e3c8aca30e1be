#!/bin/sh
# Creates Herald's Kafka topics with kafka-topics.sh (from the Kafka distribution or the
# apache/kafka image). Existing topics are left as they are (--if-not-exists).
#
#   BOOTSTRAP=kafka-0:9092 REPLICATION_FACTOR=3 deploy/kafka/create-topics.sh
#
# Settings (environment):
#   BOOTSTRAP            bootstrap servers, host:port[,…]                     (required)
#   HERALD_TOPIC_PREFIX  the prefix the services use                          (default: none)
#   HERALD_RETRY_TIERS   the dispatcher's retry tiers, one topic each         (default: 0s,10s,1m,5m,15m,1h)
#                        written as the dispatcher names them: 0s, 10s, 1m, 5m, 15m, 1h, 2h…
#   REPLICATION_FACTOR   (default 3)        INPUT_TOPICS=1 also creates participant, entity, container
#   PARTITIONS           deliveries, retry tiers, attempts, payloads, inputs  (default 12)
#   SMALL_PARTITIONS     herald.invalid, herald.dead and herald.replays       (default 3)
#   COMMAND_CONFIG       a client .properties file (TLS, SASL) for kafka-topics.sh
#   KAFKA_TOPICS         the kafka-topics.sh to run                           (default: on PATH, else /opt/kafka/bin)
#   DRY_RUN=1            print the commands instead of running them
set -eu
: "${BOOTSTRAP:?set BOOTSTRAP to the Kafka bootstrap servers (host:port)}"
prefix=${HERALD_TOPIC_PREFIX:-}
tiers=${HERALD_RETRY_TIERS:-0s,10s,1m,5m,15m,1h}
rf=${REPLICATION_FACTOR:-3}
parts=${PARTITIONS:-12}
small=${SMALL_PARTITIONS:-3}
day=86400000
if [ -z "${KAFKA_TOPICS:-}" ]; then
  KAFKA_TOPICS=$(command -v kafka-topics.sh || echo /opt/kafka/bin/kafka-topics.sh)
fi

create() { # topic partitions retention.ms
  set -- "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" ${COMMAND_CONFIG:+--command-config "$COMMAND_CONFIG"} \
    --create --if-not-exists --topic "$prefix$1" --partitions "$2" --replication-factor "$rf" \
    --config "retention.ms=$3"
  if [ "${DRY_RUN:-}" = 1 ]; then echo "$@"; else "$@"; fi
}

if [ "${INPUT_TOPICS:-}" = 1 ]; then
  for t in participant entity container; do create "$t" "$parts" $((7 * day)); done
fi
create herald.deliveries "$parts" $((7 * day))
for tier in $(echo "$tiers" | tr ',' ' '); do
  create "herald.retry.$tier" "$parts" $((7 * day))
done
create herald.attempts "$parts" $((7 * day))
create herald.payloads "$parts" $((7 * day))
create herald.invalid "$small" $((14 * day))
create herald.dead "$small" $((30 * day))
create herald.replays "$small" $((7 * day))
