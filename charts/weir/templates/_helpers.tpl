{{- define "weir.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "weir.operatorName" -}}
{{- printf "%s-operator" (include "weir.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "weir.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "weir.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "weir.labels" -}}
app.kubernetes.io/name: weir
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "weir.selectorLabels" -}}
app.kubernetes.io/name: weir
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "weir.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "weir.runnerImage" -}}
{{- default (printf "ghcr.io/weir-dev/weir-runner:%s" .Chart.AppVersion) .Values.runner.image -}}
{{- end -}}

{{/* The rules the operator needs in every namespace it manages. Keep in step with
     tests/deploy/test_chart.py, which checks them against the operator's API calls. */}}
{{- define "weir.namespacedRules" -}}
- apiGroups: ["weir.dev"]
  resources: ["flows", "flowsecretrefs"]
  verbs: ["get", "list", "watch", "patch"]
# get on flows/status only because the runners' Roles grant it (one holds what one grants).
- apiGroups: ["weir.dev"]
  resources: ["flows/status"]
  verbs: ["get", "patch"]
- apiGroups: ["weir.dev"]
  resources: ["flowsecretrefs/status"]
  verbs: ["patch"]
# FlowRuns: watched, created for a weir.dev/run annotation, deleted after their TTL; their
# status is Pending (the Job made) or Failed (a Job that failed without its runner reporting).
- apiGroups: ["weir.dev"]
  resources: ["flowruns"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["weir.dev"]
  resources: ["flowruns/status"]
  verbs: ["patch"]
# Owner references with blockOwnerDeletion need this where OwnerReferencesPermissionEnforcement
# admission is on.
- apiGroups: ["weir.dev"]
  resources: ["flows/finalizers", "flowruns/finalizers"]
  verbs: ["update"]
# Only the Secrets FlowSecretRefs name, read by name: no list, no watch.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["configmaps", "services", "serviceaccounts"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["get", "create", "patch", "delete"]
# FlowRuns' Jobs, watched to notice one that failed; they go with their FlowRun (garbage
# collection): never deleted by the operator.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: ["keda.sh"]
  resources: ["scaledobjects"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* Leader election in each watched namespace (kopf's namespaced peering). */}}
{{- define "weir.peeringRules" -}}
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end -}}

{{/* Cluster-scoped reads kopf needs in either mode. */}}
{{- define "weir.clusterRules" -}}
# kopf follows CRDs (and namespaces) as they come and go; in namespaced mode it serves the
# listed namespaces and the CRDs present at start, and needs nothing cluster-wide.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
# Leader election among the replicas (kopf's cluster-wide peering).
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end -}}

{{/* The console: its name, labels, image, URL (what runners ship to) and store. */}}
{{- define "weir.consoleName" -}}
{{- printf "%s-console" (include "weir.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "weir.consoleSelectorLabels" -}}
app.kubernetes.io/name: weir
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: console
{{- end -}}

{{- define "weir.consoleImage" -}}
{{- if .Values.console.image.repository -}}
{{- printf "%s:%s" .Values.console.image.repository (default .Chart.AppVersion .Values.console.image.tag) -}}
{{- else -}}
{{- include "weir.runnerImage" . -}}
{{- end -}}
{{- end -}}

{{- define "weir.consoleURL" -}}
{{- printf "http://%s.%s.svc:%v" (include "weir.consoleName" .) .Release.Namespace .Values.console.port -}}
{{- end -}}

{{/* NAME/KEY of the Secret with the console's store URL; empty: SQLite on the PVC. */}}
{{- define "weir.consoleStoreSecret" -}}
{{- if .Values.console.store.existingSecret -}}
{{- .Values.console.store.existingSecret -}}
{{- else if .Values.console.store.url -}}
{{- printf "%s-store/url" (include "weir.consoleName" .) -}}
{{- end -}}
{{- end -}}

{{/* What the console reads and does in each namespace it serves. */}}
{{- define "weir.consoleRules" -}}
- apiGroups: ["weir.dev"]
  resources: ["flows"]
  verbs: ["get", "list", "watch"]
# Runs and replays are FlowRuns; the console names their execution in their status, and a
# cancel marks one Cancelled and deletes its Job.
- apiGroups: ["weir.dev"]
  resources: ["flowruns"]
  verbs: ["create", "get", "list", "watch", "delete"]
- apiGroups: ["weir.dev"]
  resources: ["flowruns/status"]
  verbs: ["patch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["delete"]
{{- end -}}
