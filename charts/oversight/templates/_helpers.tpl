{{- define "oversight.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{ else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "oversight.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/part-of: oversight
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{- define "oversight.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: oversight-{{ .name }}
{{- end }}

{{- define "oversight.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}{{ default (include "oversight.fullname" .) .Values.serviceAccount.name }}{{ else }}{{ default "default" .Values.serviceAccount.name }}{{ end }}
{{- end }}

{{- define "oversight.image" -}}
{{ printf "%s/%s/%s:%s" .root.Values.image.registry .root.Values.image.repository .name (default .root.Chart.AppVersion .root.Values.image.tag) }}
{{- end }}

{{/* Section name of a service in configuration keys. */}}
{{- define "oversight.section" -}}
{{- title .name -}}
{{- end }}

{{/* Secret-backed environment shared by service pods and migration jobs ($(VAR) expansion needs them first). */}}
{{- define "oversight.secretEnv" -}}
- name: POSTGRES_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ .root.Values.postgres.existingSecret }}, key: password } }
- name: Oversight__{{ include "oversight.section" . }}__Database__ConnectionString
  value: {{ printf "Host=%s;Port=%v;Database=%s;Username=%s;Password=$(POSTGRES_PASSWORD);SSL Mode=%s" .root.Values.postgres.host .root.Values.postgres.port (get .root.Values.postgres.databases .name) .root.Values.postgres.username .root.Values.postgres.sslMode | quote }}
{{- end }}

{{- define "oversight.redisConfiguration" -}}
{{ join "," .Values.redis.endpoints }},password=$(REDIS_PASSWORD){{ if .Values.redis.tls }},ssl=true{{ end }},abortConnect=false
{{- end }}

{{- define "oversight.securityContext" -}}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end }}
