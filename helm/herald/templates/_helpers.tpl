{{/* The three components, in the order they are rendered. */}}
{{- define "herald.components" -}}
registry matcher dispatcher
{{- end -}}

{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-wide name; components append -registry, -matcher, -dispatcher (so keep room). */}}
{{- define "herald.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* (dict "root" $ "component" "registry") */}}
{{- define "herald.componentName" -}}
{{- printf "%s-%s" (include "herald.fullname" .root) .component -}}
{{- end -}}

{{- define "herald.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "herald.labels" -}}
helm.sh/chart: {{ include "herald.chart" . }}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: herald
{{- end -}}

{{/* (dict "root" $ "component" "registry") */}}
{{- define "herald.componentLabels" -}}
{{ include "herald.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* (dict "root" $ "component" "registry") */}}
{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "herald.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "herald.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "herald.secretName" -}}
{{- default (include "herald.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "herald.saslEnabled" -}}
{{- if .Values.kafka.sasl.mechanism -}}true{{- end -}}
{{- end -}}

{{/* (dict "root" $ "component" "registry") */}}
{{- define "herald.image" -}}
{{- $c := index .root.Values .component -}}
{{- printf "%s:%s" $c.image.repository (default (default .root.Chart.AppVersion .root.Values.image.tag) $c.image.tag) -}}
{{- end -}}

{{/* The registry's gRPC address as the matcher and dispatcher reach it (HERALD_REGISTRY_ADDR). */}}
{{- define "herald.registryAddr" -}}
{{- printf "%s:%d" (include "herald.componentName" (dict "root" . "component" "registry")) (int .Values.registry.grpcPort) -}}
{{- end -}}

{{/*
herald.tierName renders a retry tier the way the dispatcher names its topic (tierName in
services/dispatcher/schedule.go): 0s, else the largest whole unit of h, m, s, ms.
The schema allows only "<integer><ms|s|m|h>".
*/}}
{{- define "herald.tierMs" -}}
{{- $n := regexFind "^[0-9]+" . | int64 -}}
{{- $unit := regexFind "[a-z]+$" . -}}
{{- if eq $unit "s" -}}{{ mul $n 1000 }}
{{- else if eq $unit "m" -}}{{ mul $n 60000 }}
{{- else if eq $unit "h" -}}{{ mul $n 3600000 }}
{{- else -}}{{ $n }}
{{- end -}}
{{- end -}}

{{- define "herald.tierName" -}}
{{- $ms := include "herald.tierMs" . | int64 -}}
{{- if eq $ms 0 -}}0s
{{- else if eq (mod $ms 3600000 | int64) 0 -}}{{ div $ms 3600000 }}h
{{- else if eq (mod $ms 60000 | int64) 0 -}}{{ div $ms 60000 }}m
{{- else if eq (mod $ms 1000 | int64) 0 -}}{{ div $ms 1000 }}s
{{- else -}}{{ $ms }}ms
{{- end -}}
{{- end -}}

{{/* Checks the schema cannot express; called once from configmap.yaml. */}}
{{- define "herald.validate" -}}
{{- $prev := -1 -}}
{{- range .Values.dispatcher.retryTiers -}}
{{- $ms := include "herald.tierMs" . | int64 -}}
{{- if le $ms (int64 $prev) -}}
{{- fail (printf "dispatcher.retryTiers must be strictly increasing (HERALD_RETRY_TIERS); %s is not longer than the tier before it" .) -}}
{{- end -}}
{{- $prev = $ms -}}
{{- end -}}
{{- end -}}

{{/*
herald.config is a component's non-secret environment, one KEY: "value" per line; the ConfigMap
holds it and its hash rolls the pods when it changes. (dict "root" $ "component" "registry")
*/}}
{{- define "herald.config" -}}
{{- $v := .root.Values -}}
{{- $c := index $v .component -}}
HERALD_HTTP_ADDR: {{ printf ":%d" (int $c.httpPort) | quote }}
HERALD_SHUTDOWN_TIMEOUT: {{ $c.shutdownTimeout | quote }}
HERALD_TOPIC_PREFIX: {{ $v.topics.prefix | quote }}
HERALD_KAFKA_BROKERS: {{ join "," $v.kafka.brokers | quote }}
HERALD_KAFKA_TLS: {{ $v.kafka.tls.enabled | toString | quote }}
HERALD_KAFKA_COMPRESSION: {{ $v.kafka.compression | default "lz4" | quote }}
{{- if include "herald.kafkaCASecret" .root }}
HERALD_KAFKA_TLS_CA_FILE: {{ include "herald.kafkaCAFile" .root | quote }}
{{- end }}
{{- if $v.kafka.sasl.mechanism }}
HERALD_KAFKA_SASL_MECHANISM: {{ $v.kafka.sasl.mechanism | quote }}
HERALD_KAFKA_SASL_USERNAME: {{ $v.kafka.sasl.username | quote }}
{{- end }}
{{- if eq .component "registry" }}
HERALD_GRPC_ADDR: {{ printf ":%d" (int $c.grpcPort) | quote }}
HERALD_MONGODB_DATABASE: {{ $v.mongodb.database | quote }}
HERALD_MONGODB_MAX_POOL_SIZE: {{ $v.mongodb.maxPoolSize | int64 | toString | quote }}
HERALD_WATCH_POLL_INTERVAL: {{ $c.watchPollInterval | quote }}
HERALD_REGISTRY_ATTEMPTS_GROUP: {{ $c.attemptsGroup | quote }}
HERALD_DELIVERY_RETENTION: {{ $c.deliveryRetention | quote }}
HERALD_VERIFY_ENDPOINTS: {{ $c.verifyEndpoints | toString | quote }}
HERALD_DELIVERY_ALLOW_CIDRS: {{ join "," $v.dispatcher.allowCIDRs | quote }}
{{- else if eq .component "matcher" }}
HERALD_REGISTRY_ADDR: {{ include "herald.registryAddr" .root | quote }}
HERALD_GRPC_ADDR: {{ printf ":%d" (int $c.grpcPort) | quote }}
HERALD_MATCHER_GROUP: {{ $c.group | quote }}
HERALD_MATCHER_START_OFFSET: {{ $c.startOffset | quote }}
HERALD_MATCHER_BATCH_SIZE: {{ $c.batchSize | int64 | toString | quote }}
HERALD_MAX_EVENT_BYTES: {{ $c.maxEventBytes | int64 | toString | quote }}
HERALD_RESOURCE_BASE_URL: {{ $c.resourceBaseURL | quote }}
HERALD_KAFKA_SESSION_TIMEOUT: {{ $c.sessionTimeout | quote }}
{{- else if eq .component "dispatcher" }}
HERALD_REGISTRY_ADDR: {{ include "herald.registryAddr" .root | quote }}
HERALD_DISPATCHER_GROUP: {{ $c.group | quote }}
HERALD_RETRY_SCHEDULE: {{ join "," $c.retrySchedule | quote }}
HERALD_RETRY_TIERS: {{ join "," $c.retryTiers | quote }}
HERALD_DELIVERY_TIMEOUT: {{ $c.deliveryTimeout | quote }}
HERALD_MAX_IN_FLIGHT: {{ $c.maxInFlight | int64 | toString | quote }}
HERALD_MAX_PER_ENDPOINT: {{ $c.maxPerEndpoint | int64 | toString | quote }}
HERALD_DELIVERY_ALLOW_CIDRS: {{ join "," $c.allowCIDRs | quote }}
HERALD_GRPC_ADDR: {{ printf ":%d" (int $c.grpcPort) | quote }}
HERALD_CIRCUIT_THRESHOLD: {{ $c.circuitThreshold | int64 | toString | quote }}
HERALD_CIRCUIT_COOLDOWN: {{ $c.circuitCooldown | quote }}
HERALD_AUTO_DISABLE_AFTER: {{ $c.autoDisableAfter | quote }}
HERALD_KAFKA_SESSION_TIMEOUT: {{ $c.sessionTimeout | quote }}
{{- end }}
{{- end -}}

{{/* Variables read from the Secret, per component. (dict "root" $ "component" "registry") */}}
{{- define "herald.secretEnv" -}}
{{- $v := .root.Values -}}
{{- $secret := include "herald.secretName" .root -}}
- name: HERALD_ADMIN_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $v.secrets.keys.adminToken }}}
{{- if ne .component "matcher" }}
- name: HERALD_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $v.secrets.keys.secretKey }}}
{{- end }}
{{- if eq .component "registry" }}
- name: HERALD_MONGODB_URI
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $v.secrets.keys.mongodbUri }}}
{{- end }}
{{- if $v.kafka.sasl.mechanism }}
- name: HERALD_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $v.secrets.keys.kafkaSaslPassword }}}
{{- end }}
{{- end -}}

{{/*
herald.kafkaCASecret is kafka.tls.caSecret.name, or "" (also when a release's older values lack
the key, as `helm upgrade --reuse-values` keeps them); herald.kafkaCAKey is its key (ca.crt).
herald.kafkaCAFile is where the bundle is mounted.
*/}}
{{- define "herald.kafkaCASecret" -}}
{{- dig "caSecret" "name" "" (.Values.kafka.tls | default dict) -}}
{{- end }}

{{- define "herald.kafkaCAKey" -}}
{{- dig "caSecret" "key" "" (.Values.kafka.tls | default dict) | default "ca.crt" -}}
{{- end }}

{{- define "herald.kafkaCAFile" -}}
/etc/herald/kafka-ca/{{ include "herald.kafkaCAKey" . }}
{{- end }}

{{/*
herald.kafkaCAMount and herald.kafkaCAVolume mount kafka.tls.caSecret read-only (when it is set).
*/}}
{{- define "herald.kafkaCAMount" -}}
- name: kafka-ca
  mountPath: /etc/herald/kafka-ca
  readOnly: true
{{- end }}

{{- define "herald.kafkaCAVolume" -}}
- name: kafka-ca
  secret:
    secretName: {{ include "herald.kafkaCASecret" . }}
    items:
      - key: {{ include "herald.kafkaCAKey" . }}
        path: {{ include "herald.kafkaCAKey" . }}
{{- end }}
