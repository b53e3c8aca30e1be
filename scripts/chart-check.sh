#!/usr/bin/env bash
# Checks the Helm chart and the container files offline (CI: `make chart-check`):
#   1. helm v3.22 from the module proxy, built once and cached (~2 min, 1.1 GB peak, cold);
#   2. helm lint --strict and helm template with the default values, with
#      helm/herald/ci/production-values.yaml and with every optional feature on;
#   3. every rendered document decoded strictly into its k8s.io/api type and checked
#      (helm/herald/validate, its own Go module outside go.work): non-root, read-only root
#      filesystem, resources, /healthz and /readyz probes, references that resolve, and the
#      HERALD_* variables each service needs and reads (grepped from services/*);
#   4. bad values fail at `helm template` because of values.schema.json;
#   5. deploy/: the Dockerfiles and compose.yaml are checked, the topic script lists what the
#      chart's topic Job creates, and the three binaries build static with CGO_ENABLED=0.
# Needs Go; no network but the Go module proxy (first run only).
#   HELM=/path/to/helm       use this helm
#   HERALD_TOOLS_DIR=DIR     where helm is cached (default ~/.cache/herald/tools)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
HELM_VERSION=v3.22.0
chart=helm/herald
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
step() { echo "==> $* (+$(( $(date +%s) - t0 ))s)"; }
die() { echo "chart-check: $*" >&2; exit 1; }

# --- 1. helm ------------------------------------------------------------------------------------
helm_ok() { [ -x "$1" ] && [[ "$("$1" version --template '{{.Version}}' 2>/dev/null)" == "${HELM_VERSION%.*}"* ]]; }
tools=${HERALD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/herald/tools}
cached="$tools/helm-$HELM_VERSION/helm"
helm=""
for candidate in "${HELM:-}" "$(command -v helm || true)" "$("$GO" env GOPATH)/bin/helm" "$cached"; do
  if [ -n "$candidate" ] && helm_ok "$candidate"; then helm=$candidate; break; fi
done
if [ -z "$helm" ]; then
  step "building helm $HELM_VERSION from the module proxy into $tools (once; about 2 minutes)"
  mkdir -p "$(dirname "$cached")"
  GOBIN="$(cd "$(dirname "$cached")" && pwd)" GOFLAGS=-mod=mod GOWORK=off "$GO" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  helm=$cached
  helm_ok "$helm" || die "$helm does not report version ${HELM_VERSION%.*}"
fi
step "helm: $helm ($("$helm" version --template '{{.Version}}'))"

# --- 2. lint and render -------------------------------------------------------------------------
features=(--set serviceMonitor.enabled=true --set registry.ingress.enabled=true
  --set topics.create.enabled=true --set topics.create.inputTopics=true
  --set registry.autoscaling.enabled=true --set matcher.autoscaling.enabled=true
  --set dispatcher.autoscaling.enabled=true --set kafka.tls.enabled=true
  --set kafka.tls.caSecret.name=kafka-cluster-ca-cert)
step "helm lint --strict"
"$helm" lint --strict "$chart" >"$work/lint.log" 2>&1 || { cat "$work/lint.log"; die "helm lint failed (default values)"; }
"$helm" lint --strict "$chart" -f "$chart/ci/production-values.yaml" >"$work/lint.log" 2>&1 || { cat "$work/lint.log"; die "helm lint failed (production values)"; }
"$helm" lint --strict "$chart" "${features[@]}" >"$work/lint.log" 2>&1 || { cat "$work/lint.log"; die "helm lint failed (all features)"; }

step "helm template: default values, ci/production-values.yaml, all features"
"$helm" template herald "$chart" --namespace herald >"$work/default.yaml"
"$helm" template herald "$chart" --namespace herald -f "$chart/ci/production-values.yaml" >"$work/production.yaml"
"$helm" template herald "$chart" --namespace herald "${features[@]}" >"$work/features.yaml"

# --- 3. validate the manifests ------------------------------------------------------------------
# The variables each service reads, from its code (string literals "HERALD_…" outside tests),
# including the pkg/ packages that read settings for them: kafkaconn (Kafka TLS and SASL, all
# three) and ssrf (the delivery allow-list: the registry and the dispatcher).
for svc in registry matcher dispatcher; do
  extra=(pkg/kafkaconn)
  [ "$svc" = matcher ] || extra+=(pkg/ssrf)
  grep -rhoE '"HERALD_[A-Z0-9_]+"' --include='*.go' --exclude='*_test.go' "services/$svc" "${extra[@]}" |
    tr -d '"' | sort -u | sed "s/^/$svc /"
done >"$work/vars.txt"

step "validator: go test and build (helm/herald/validate, GOWORK=off)"
(cd "$chart/validate" && GOWORK=off "$GO" test -count=1 ./... >"$work/validate-test.log" 2>&1) ||
  { cat "$work/validate-test.log"; die "the validator's own tests failed"; }
(cd "$chart/validate" && GOWORK=off "$GO" build -o "$work/validate" .)

step "strict decoding into k8s.io/api types and checks"
external=$(sed -n 's/^ *existingSecret: *\([^ #]*\).*/\1/p' "$chart/ci/production-values.yaml" | head -n 1)
"$work/validate" manifests -vars "$work/vars.txt" <"$work/default.yaml"
"$work/validate" manifests -vars "$work/vars.txt" -external-secret "$external" <"$work/production.yaml"
"$work/validate" manifests -vars "$work/vars.txt" <"$work/features.yaml"

# --- 4. bad values must fail --------------------------------------------------------------------
step "bad values fail at helm template"
expect_fail() { # <what the message must contain> <helm args…>
  local want=$1; shift
  if "$helm" template herald "$chart" "$@" >/dev/null 2>"$work/err.log"; then
    die "helm template $* succeeded; it must fail ($want)"
  fi
  grep -qF -- "$want" "$work/err.log" || { cat "$work/err.log"; die "helm template $* failed without saying: $want"; }
  echo "    rejected: $*"
}
schema="values don't meet the specifications of the schema"
expect_fail "$schema" --set registry.replicas=many
expect_fail "missing property 'uri'" --set mongodb.uri=null
expect_fail "$schema" --set mongodb.uri=localhost:27017
expect_fail "$schema" --set-json 'kafka.brokers=[]'
expect_fail "$schema" --set 'kafka.brokers={kafka}'
expect_fail "$schema" --set kafka.sasl.mechanism=SCRAM-SHA-1
expect_fail "/kafka/sasl/username" --set kafka.sasl.mechanism=PLAIN
expect_fail "$schema" --set secrets.adminToken=short
expect_fail "$schema" --set secrets.secretKey=not-a-key
expect_fail "$schema" --set matcher.startOffset=newest
expect_fail "$schema" --set 'dispatcher.retryTiers={0s,1m30s}'
expect_fail "$schema" --set registry.resources=null
expect_fail "additional properties 'registy'" --set registy.replicas=3
expect_fail "strictly increasing" --set 'dispatcher.retryTiers={0s,5m,1m}'
expect_fail "needs secrets.existingSecret" --set topics.create.enabled=true --set kafka.sasl.mechanism=PLAIN \
  --set kafka.sasl.username=u --set kafka.sasl.password=p
expect_fail "/kafka/tls/enabled" --set kafka.tls.caSecret.name=kafka-cluster-ca-cert
expect_fail "$schema" --set kafka.compression=brotli
# Values of a release from before kafka.tls.caSecret (helm upgrade --reuse-values keeps them).
for tls in false true; do
  "$helm" template herald "$chart" --set kafka.tls.caSecret=null --set kafka.tls.enabled=$tls \
    --set topics.create.enabled=true >/dev/null || die "values without kafka.tls.caSecret (tls $tls) do not render"
done
echo "    renders without kafka.tls.caSecret (older values)"

# --- 5. deploy/ ---------------------------------------------------------------------------------
step "deploy/: Dockerfiles, compose.yaml, topic script"
"$work/validate" dockerfiles deploy
"$work/validate" compose -vars "$work/vars.txt" deploy/compose.yaml
# deploy/kafka/create-topics.sh and the chart's topic Job (default sizes) create the same topics.
DRY_RUN=1 BOOTSTRAP=kafka:9092 INPUT_TOPICS=1 sh deploy/kafka/create-topics.sh |
  sed -E 's/.*--topic ([^ ]+) --partitions ([0-9]+).*retention.ms=([0-9]+).*/\1 \2 \3/' | sort >"$work/topics-script.txt"
sed -nE 's/^ *create "([^"]+)" ([0-9]+) ([0-9]+)$/\1 \2 \3/p' "$work/features.yaml" | sort >"$work/topics-chart.txt"
[ "$(wc -l <"$work/topics-chart.txt")" -eq 15 ] || { cat "$work/topics-chart.txt"; die "the chart's topic Job should create 15 topics"; }
diff -u "$work/topics-chart.txt" "$work/topics-script.txt" || die "deploy/kafka/create-topics.sh and the chart's topic Job disagree"

step "static binaries: CGO_ENABLED=0 go build of the three services"
# Same flags as `make build`, so its build cache is shared.
CGO_ENABLED=0 "$GO" build -o "$work/bin/" ./services/registry/cmd/registry ./services/matcher/cmd/matcher ./services/dispatcher/cmd/dispatcher
for svc in registry matcher dispatcher; do
  bin="$work/bin/$svc"
  "$GO" version -m "$bin" | grep -q 'build[[:space:]]*CGO_ENABLED=0' || die "$svc: not built with CGO_ENABLED=0"
  if command -v file >/dev/null 2>&1; then
    file -b "$bin" | grep -q 'statically linked' || die "$svc: $(file -b "$bin")"
  fi
  if command -v ldd >/dev/null 2>&1 && ldd "$bin" >/dev/null 2>&1; then
    die "$svc: ldd lists shared libraries: $(ldd "$bin")"
  fi
  echo "    $svc: static ($(du -h "$bin" | cut -f1))"
done

step "chart-check passed"
