{{/* Chart name, overridable. */}}
{{- define "trainq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name, suffixed with the chart name unless it already contains it. */}}
{{- define "trainq.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The operator's objects: full name plus "-operator". */}}
{{- define "trainq.operatorName" -}}
{{- printf "%s-operator" (include "trainq.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "trainq.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "trainq.labels" -}}
helm.sh/chart: {{ include "trainq.chart" . }}
{{ include "trainq.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: trainq
{{- end }}

{{/* Labels that select the operator pods; never change them, Deployment selectors are immutable. */}}
{{- define "trainq.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trainq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "trainq.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "trainq.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository[:tag|@digest]; the tag defaults to the chart's appVersion. */}}
{{- define "trainq.imageRef" -}}
{{- $img := index . 0 }}{{- $root := index . 1 }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- $tag := default $root.Chart.AppVersion $img.tag }}
{{- if eq $tag "latest" }}
{{- fail "image tag 'latest' is not allowed: pin a version (leave tag empty for the chart's appVersion)" }}
{{- end }}
{{- printf "%s:%s" $img.repository $tag }}
{{- end }}
{{- end }}

{{- define "trainq.operatorImage" -}}
{{- include "trainq.imageRef" (list .Values.image .) }}
{{- end }}

{{- define "trainq.workerImage" -}}
{{- include "trainq.imageRef" (list .Values.workerImage .) }}
{{- end }}

{{/* Cluster-wide when no namespace is listed. */}}
{{- define "trainq.clusterWide" -}}
{{- if .Values.watchNamespaces }}false{{ else }}true{{ end }}
{{- end }}

{{/* Name of the leader-election Lease. */}}
{{- define "trainq.leaseName" -}}
{{- include "trainq.operatorName" . }}
{{- end }}
