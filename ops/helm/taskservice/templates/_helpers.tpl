{{/*
Names, labels and the pieces every Deployment of the chart shares.
*/}}

{{/* The partition count of the `tasks` topic (db/topics.py, TASKS_PARTITIONS). */}}
{{- define "taskservice.tasksPartitions" -}}32{{- end }}

{{- define "taskservice.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{- define "taskservice.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "taskservice.labels" -}}
{{ include "taskservice.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{- define "taskservice.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "taskservice.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "taskservice.fullname" .) -}}
{{- end }}

{{- define "taskservice.configName" -}}
{{ include "taskservice.fullname" . }}-config
{{- end }}

{{/*
One environment variable from the Secret; optional ones may be absent from it.
Call with (dict "root" $ "name" "DATABASE_URL" "optional" false).
*/}}
{{- define "taskservice.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "taskservice.secretName" .root }}
      key: {{ .name }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/*
The container's start: every container gets an empty /tmp (heartbeat file, prometheus_client's
multiprocess folder, beat's schedule). /tmp is an emptyDir, which outlives a container restart
within its pod; a heartbeat left by the previous container would pass the startup probe of a
process that has not started, and its metric files would add old samples to the new ones.
*/}}
{{- define "taskservice.freshCommand" -}}
command:
  - /bin/sh
  - -c
  - 'find /tmp -mindepth 1 -delete && mkdir -p "${PROMETHEUS_MULTIPROC_DIR:-/tmp}" && exec "$@"'
  - --
{{- end }}

{{/*
The exec probe of a process whose loop touches /tmp/heartbeat (taskkit/heartbeat.py): the file
is younger than 60 s only while the loop turns. The startup probe gives the process two
minutes for its first beat; liveness and readiness take over from there.
*/}}
{{- define "taskservice.heartbeatProbes" -}}
startupProbe:
  exec:
    command: [python, -m, taskkit.heartbeat, /tmp/heartbeat, --max-age-s, "60"]
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 24
livenessProbe:
  exec:
    command: [python, -m, taskkit.heartbeat, /tmp/heartbeat, --max-age-s, "60"]
  periodSeconds: 15
  timeoutSeconds: 5
  failureThreshold: 3
# No Service sends these pods traffic; readiness still gates rollouts and counts toward the
# PodDisruptionBudget, so it asks for the same proof of a turning loop.
readinessProbe:
  exec:
    command: [python, -m, taskkit.heartbeat, /tmp/heartbeat, --max-age-s, "60"]
  periodSeconds: 15
  timeoutSeconds: 5
  failureThreshold: 2
{{- end }}

{{/*
The pod spec fields every Deployment shares. Call with (dict "root" $ "values" .Values.api).
*/}}
{{- define "taskservice.podCommon" -}}
automountServiceAccountToken: false
{{- with .root.Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
{{- end }}

{{/* Container fields every process shares: image, ConfigMap, security, /tmp. */}}
{{- define "taskservice.containerCommon" -}}
image: {{ include "taskservice.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
envFrom:
  - configMapRef:
      name: {{ include "taskservice.configName" .root }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
resources:
  {{- toYaml .values.resources | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/* Pod annotations that roll the pods when the chart's ConfigMap or Secret changes. */}}
{{- define "taskservice.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/*
Scrape annotations of a pod that serves metrics, after the checksums (so the line that
includes them may render empty). Call with (dict "root" $ "port" 9101).
*/}}
{{- define "taskservice.scrapeAnnotations" -}}
{{- if .root.Values.metrics.podAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/*
A PodDisruptionBudget. Call with (dict "root" $ "component" "api" "pdb" .Values.api.pdb).
*/}}
{{- define "taskservice.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "taskservice.fullname" .root }}-{{ .component }}
  labels:
    {{- include "taskservice.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "taskservice.selectorLabels" . | nindent 6 }}
{{- end }}

{{/*
A headless Service naming a component's metrics port, for ServiceMonitors.
Call with (dict "root" $ "component" "relay" "port" 9101).
*/}}
{{- define "taskservice.metricsService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "taskservice.fullname" .root }}-{{ .component }}
  labels:
    {{- include "taskservice.labels" . | nindent 4 }}
spec:
  clusterIP: None
  selector:
    {{- include "taskservice.selectorLabels" . | nindent 4 }}
  ports:
    - name: metrics
      port: {{ .port }}
      targetPort: metrics
{{- end }}

{{/*
The environment of a Celery worker (task or maintenance). Call with (dict "root" $ "port" 9103).
*/}}
{{- define "taskservice.workerEnv" -}}
{{ include "taskservice.secretEnv" (dict "root" .root "name" "DATABASE_URL") }}
{{ include "taskservice.secretEnv" (dict "root" .root "name" "REDIS_URL") }}
{{ include "taskservice.secretEnv" (dict "root" .root "name" "CELERY_BROKER_URL") }}
- name: CELERY_TASKS_HEARTBEAT_FILE
  value: /tmp/heartbeat
- name: CELERY_TASKS_METRICS_ADDRESS
  value: 0.0.0.0
- name: CELERY_TASKS_METRICS_PORT
  value: {{ .port | quote }}
# The parent serves every prefork child's samples from this folder.
- name: PROMETHEUS_MULTIPROC_DIR
  value: /tmp/metrics
{{- end }}
