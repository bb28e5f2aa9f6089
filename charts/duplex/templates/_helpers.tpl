{{/*
The chart's name, or nameOverride.
*/}}
{{- define "duplex.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: fullnameOverride, else the release name when
it already contains the chart's name, else "<release>-<chart name>". Kept to
30 characters so that "<fullname>-<pair>-<ordinal>" stays a DNS label.
*/}}
{{- define "duplex.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 30 | trimSuffix "-" }}
{{- else }}
{{- $name := include "duplex.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 30 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 30 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Labels on every object; the argument is (dict "root" $ "component" NAME).
*/}}
{{- define "duplex.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "duplex.selectorLabels" . }}
{{- end }}

{{/*
Selector labels; the argument is (dict "root" $ "component" NAME [ "pair" NAME ]).
*/}}
{{- define "duplex.selectorLabels" -}}
app.kubernetes.io/name: {{ include "duplex.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .pair }}
duplex.io/pair: {{ .name }}
{{- end }}
{{- end }}

{{/*
The image reference.
*/}}
{{- define "duplex.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
The coordinator's object names and its in-cluster URL.
*/}}
{{- define "duplex.coordinator.fullname" -}}
{{ include "duplex.fullname" . }}-coordinator
{{- end }}

{{- define "duplex.coordinator.tlsSecret" -}}
{{ .Values.coordinator.tls.secretName | default (printf "%s-tls" (include "duplex.coordinator.fullname" .)) }}
{{- end }}

{{- /* localhost: operators reach the API through kubectl port-forward. */}}
{{- define "duplex.coordinator.dnsNames" -}}
{{- $service := include "duplex.coordinator.fullname" . }}
- {{ $service }}
- {{ $service }}.{{ .Release.Namespace }}.svc
- {{ $service }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
- localhost
{{- end }}

{{- define "duplex.coordinator.url" -}}
{{- if .Values.agents.coordinator.url }}
{{- .Values.agents.coordinator.url }}
{{- else if .Values.coordinator.enabled }}
{{- printf "https://%s.%s.svc.%s:%d" (include "duplex.coordinator.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.coordinator.port) }}
{{- else }}
{{- fail "agents.coordinator.url is required when agents.coordinator.enabled is true and coordinator.enabled is false" }}
{{- end }}
{{- end }}

{{/*
The Secret holding the database URL and password, and whether it has a password.
*/}}
{{- define "duplex.database.secret" -}}
{{ .Values.database.existingSecret | default (printf "%s-database" (include "duplex.fullname" .)) }}
{{- end }}

{{- define "duplex.database.urlKey" -}}
{{ ternary .Values.database.urlKey "url" (ne .Values.database.existingSecret "") }}
{{- end }}

{{- define "duplex.database.passwordKey" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.passwordKey }}
{{- else if .Values.database.password }}
{{- "password" }}
{{- end }}
{{- end }}

{{/*
A pair's object names; the argument is (dict "root" $ "pair" PAIR).
The StatefulSet, its headless Service and its ConfigMap share the name.
*/}}
{{- define "duplex.pair.fullname" -}}
{{- $name := printf "%s-%s" (include "duplex.fullname" .root) .pair.name }}
{{- if gt (len $name) 52 }}
{{- fail (printf "pairs: %q makes the StatefulSet name %q longer than 52 characters; shorten the pair's name or fullnameOverride" .pair.name $name) }}
{{- end }}
{{- $name }}
{{- end }}

{{/*
A host's stable DNS name; the argument is (dict "root" $ "pair" PAIR "ordinal" 0|1).
*/}}
{{- define "duplex.pair.host" -}}
{{- $sts := include "duplex.pair.fullname" . }}
{{- printf "%s-%d.%s.%s.svc.%s" $sts (int .ordinal) $sts .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{- define "duplex.pair.tlsSecret" -}}
{{- $tls := .pair.tls | default dict }}
{{- $tls.secretName | default (printf "%s-tls" (include "duplex.pair.fullname" .)) }}
{{- end }}

{{- define "duplex.pair.tokenSecret" -}}
{{- .pair.agentTokenSecret | default (printf "%s-agent-token" (include "duplex.pair.fullname" .)) }}
{{- end }}

{{/*
The ports and paths of a pod's mounts, in one place for the config files and
the pod specs.
*/}}
{{- define "duplex.paths.config" -}}/etc/duplex/config{{- end }}
{{- define "duplex.paths.tls" -}}/etc/duplex/tls{{- end }}
{{- define "duplex.paths.database" -}}/etc/duplex/database{{- end }}
{{- define "duplex.paths.token" -}}/etc/duplex/token{{- end }}
{{- define "duplex.paths.coordinatorCA" -}}/etc/duplex/coordinator-ca{{- end }}
{{- define "duplex.paths.state" -}}/var/lib/duplex{{- end }}
{{- define "duplex.paths.run" -}}/run/duplex{{- end }}

{{/*
A cert-manager Certificate; the argument is
(dict "root" $ "name" NAME "secretName" SECRET "commonName" CN "dnsNames" LIST "component" C).
Each certificate serves as TLS server and client: the agents use theirs both
ways (mutual TLS).
*/}}
{{- define "duplex.certificate" -}}
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "duplex.labels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  secretName: {{ .secretName }}
  commonName: {{ .commonName }}
  dnsNames:
    {{- toYaml .dnsNames | nindent 4 }}
  duration: {{ .root.Values.certManager.duration }}
  renewBefore: {{ .root.Values.certManager.renewBefore }}
  privateKey:
    algorithm: ECDSA
    size: 256
    rotationPolicy: Always
  usages:
    - digital signature
    - key encipherment
    - server auth
    - client auth
  issuerRef:
    {{- toYaml .root.Values.certManager.issuerRef | nindent 4 }}
{{- end }}

{{/*
What the coordinator and its migrate initContainer share: the database URL,
the mounts, resources and security context.
*/}}
{{- define "duplex.coordinator.containerCommon" -}}
env:
  - name: DUPLEX_DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "duplex.database.secret" . }}
        key: {{ include "duplex.database.urlKey" . }}
volumeMounts:
  - name: config
    mountPath: {{ include "duplex.paths.config" . }}
    readOnly: true
  - name: tls
    mountPath: {{ include "duplex.paths.tls" . }}
    readOnly: true
  {{- if include "duplex.database.passwordKey" . }}
  - name: database
    mountPath: {{ include "duplex.paths.database" . }}
    readOnly: true
  {{- end }}
  - name: tmp
    mountPath: /tmp
resources:
  {{- toYaml .Values.coordinator.resources | nindent 2 }}
securityContext:
  {{- toYaml .Values.coordinator.securityContext | nindent 2 }}
{{- end }}

{{/*
One host's agent.yaml; the argument is (dict "root" $ "pair" PAIR "ordinal" 0|1).
The peer is the other ordinal of the same StatefulSet. agents.config gives the
tunable settings; the chart's own settings (addresses, paths, TLS, peer,
coordinator link) win over it.
*/}}
{{- define "duplex.agent.config" -}}
{{- $root := .root }}
{{- $values := $root.Values.agents }}
{{- $self := include "duplex.pair.host" . }}
{{- $peer := include "duplex.pair.host" (dict "root" $root "pair" .pair "ordinal" (sub 1 (int .ordinal))) }}
{{- $tls := printf "%s/%d" (include "duplex.paths.tls" $root) (int .ordinal) }}
{{- $state := include "duplex.paths.state" $root }}
{{- $config := deepCopy $values.config }}
{{- $replicator := dict
  "peer" (printf "tls://%s:%d" $peer (int $values.dsyncPort))
  "admin_socket" (printf "%s/replicator.sock" (include "duplex.paths.run" $root))
  "http_listen" (printf "0.0.0.0:%d" (int $values.httpPort))
  "state_file" (printf "%s/replicator.state" $state) }}
{{- if $values.notify.enabled }}
{{- $_ := set $replicator "notify_fifo" (printf "%s/replication-notify-fifo" $values.notify.mountPath) }}
{{- $_ := set $replicator "notify_socket" (printf "%s/replication-notify" $values.notify.mountPath) }}
{{- end }}
{{- if .pair.users }}
{{- $_ := set $replicator "users_file" (printf "%s/users" (include "duplex.paths.config" $root)) }}
{{- end }}
{{- $owned := dict
  "dsync" (dict
    "listen" (printf "0.0.0.0:%d" (int $values.dsyncPort))
    "mail_root" $values.mailRoot
    "state_dir" (printf "%s/sync" $state))
  "tls" (dict
    "certificate" (printf "%s/tls.crt" $tls)
    "key" (printf "%s/tls.key" $tls)
    "ca" (printf "%s/ca.crt" $tls)
    "allowed_peers" (list $peer))
  "replicator" $replicator }}
{{- if $values.coordinator.enabled }}
{{- $link := dict
  "url" (include "duplex.coordinator.url" $root)
  "token_file" (printf "%s/token" (include "duplex.paths.token" $root))
  "pair" .pair.name
  "host" $self
  "cache_file" (printf "%s/coordinator-users" $state) }}
{{- if $values.coordinator.caKey }}
{{- $_ := set $link "ca" (printf "%s/ca.crt" (include "duplex.paths.coordinatorCA" $root)) }}
{{- end }}
{{- $_ := set $owned "coordinator" $link }}
{{- else }}
{{- $_ := unset $config "coordinator" }}
{{- end }}
{{- mergeOverwrite $config $owned | toYaml }}
{{- end }}
