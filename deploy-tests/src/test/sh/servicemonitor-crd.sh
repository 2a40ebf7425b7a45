#!/usr/bin/env bash
# Generates the Prometheus Operator's ServiceMonitor CRD (monitoring.coreos.com/v1) from its Go API
# module with controller-gen, as the Prometheus Operator's own build does, so the chart's optional
# ServiceMonitor is validated against the real schema. Cached; prints the CRD's path.
#
#   servicemonitor-crd.sh [OUT_DIR]      default ~/.cache/trainq/crds
set -euo pipefail

monitoring_version=v0.95.1
controller_tools_version=v0.23.0
out=${1:-$HOME/.cache/trainq/crds}
crd="$out/monitoring.coreos.com_servicemonitors-$monitoring_version.yaml"
if [ -s "$crd" ]; then
  echo "$crd"
  exit 0
fi
command -v go >/dev/null || { echo "go not found: needed once to generate the ServiceMonitor CRD" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'module crdgen\n\ngo 1.22\n' > go.mod
cat > tools.go <<'GO'
//go:build tools

package crdgen

import (
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
GO
go get "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring@$monitoring_version" \
  "sigs.k8s.io/controller-tools@$controller_tools_version" >&2
go mod tidy >&2
go build -o controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen >&2
./controller-gen crd:crdVersions=v1,allowDangerousTypes=true \
  paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:dir="$work/crds" >&2
mkdir -p "$out"
cp "$work/crds/monitoring.coreos.com_servicemonitors.yaml" "$crd.tmp"
mv "$crd.tmp" "$crd"
echo "$crd"
