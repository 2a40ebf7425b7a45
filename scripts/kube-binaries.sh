#!/usr/bin/env bash
# Builds the Kubernetes tools the tests use, from source through the Go module proxy, and only those
# that are missing or report another version:
#
#   kube-apiserver, kubectl 1.35.4 and etcd 3.6.6 -> ~/.kubeapitest/k8s/1.35.4-<os>-<arch>/
#       (where fabric8's kube-api-test looks; with the binaries there it never downloads)
#   helm 3.22.0                                    -> ${TRAINQ_CACHE:-~/.cache/trainq}/bin/helm
#   with --node also kubelet, kube-scheduler, kube-controller-manager 1.35.4 -> beside kube-apiserver
#       (for scripts/kube-local.sh, the single-node cluster that runs pods; about 75 s more with a
#       warm cache, because kube-apiserver has already compiled most of what they share)
#
# The Go modules that pin every dependency are in scripts/kubebin/ (k8s/, etcd/, helm/). The Go build
# cache is kept, so a rebuild after a version bump recompiles only what changed. Prints each step's
# duration. Needs go 1.26 or newer (helm 3.22 requires it).
#
#   scripts/kube-binaries.sh          build what is missing
#   scripts/kube-binaries.sh --force  rebuild all four (all seven with --node)
#   scripts/kube-binaries.sh --node   also build the node and control-plane binaries
set -euo pipefail

KUBE_VERSION=1.35.4
ETCD_VERSION=3.6.6 # the etcd kubeadm 1.35 deploys
HELM_VERSION=3.22.0
GO_MIN=1.26

force=0
node=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --node) node=1 ;;
    *) echo "usage: $0 [--force] [--node]" >&2; exit 2 ;;
  esac
done

src=$(cd "$(dirname "$0")" && pwd)/kubebin

if ! command -v go >/dev/null; then
  echo "missing: go ${GO_MIN} or newer, needed to build kube-apiserver, etcd, kubectl and helm from source: install it from https://go.dev/dl/ and put its bin/ on PATH" >&2
  exit 1
fi
go_version=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$GO_MIN" "$go_version" | sort -V | head -1)" != "$GO_MIN" ] \
    && [ "$(go env GOTOOLCHAIN)" = local ]; then
  echo "go ${GO_MIN} or newer is needed (found ${go_version}, GOTOOLCHAIN=local): install it from https://go.dev/dl/, or unset GOTOOLCHAIN so go fetches it" >&2
  exit 1
fi

platform="$(go env GOOS)-$(go env GOARCH)"
kube_dir="$HOME/.kubeapitest/k8s/${KUBE_VERSION}-${platform}"
helm_dir="${TRAINQ_CACHE:-$HOME/.cache/trainq}/bin"

export CGO_ENABLED=0
# Builds run inside this git repository; stamping its state into the binaries is not wanted.
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

now() { date +%s%N; }
took() { local ns=$(( $(now) - $1 )); printf '%d.%d s' $(( ns / 1000000000 )) $(( ns / 100000000 % 10 )); }

# step NAME COMMAND...: runs COMMAND and prints how long it took.
step() {
  local name=$1 t
  shift
  echo "==> $name"
  t=$(now)
  "$@"
  echo "    $name: $(took "$t")"
}

# build MODULE_DIR PACKAGE TARGET LDFLAGS: builds into a temporary file beside TARGET and renames it,
# so a test running the old binary is never handed a half-written one.
build() {
  local dir=$1 pkg=$2 target=$3 ldflags=$4
  mkdir -p "$(dirname "$target")"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$target.tmp.$$" "$pkg")
  mv -f "$target.tmp.$$" "$target"
}

# Each check captures the output first: with pipefail, `cmd | grep -q` fails when grep exits early
# and cmd gets SIGPIPE.
reports() { local out; out=$("${@:2}" 2>/dev/null) || return 1; grep -qxF "$1" <<<"$out"; }
have_apiserver() { reports "Kubernetes v${KUBE_VERSION}" "$kube_dir/kube-apiserver" --version; }
have_kubectl() { reports "Client Version: v${KUBE_VERSION}" "$kube_dir/kubectl" version --client; }
have_etcd() { reports "etcd Version: ${ETCD_VERSION}" "$kube_dir/etcd" --version; }
have_kubelet() { reports "Kubernetes v${KUBE_VERSION}" "$kube_dir/kubelet" --version; }
have_scheduler() { reports "Kubernetes v${KUBE_VERSION}" "$kube_dir/kube-scheduler" --version; }
have_controller_manager() { reports "Kubernetes v${KUBE_VERSION}" "$kube_dir/kube-controller-manager" --version; }
have_helm() { reports "v${HELM_VERSION}" "$helm_dir/helm" version --template '{{.Version}}'; }

t_all=$(now)
todo=()
tools=(apiserver kubectl etcd helm)
[ $node = 0 ] || tools+=(kubelet scheduler controller_manager)
for tool in "${tools[@]}"; do
  if [ $force = 1 ] || ! "have_$tool"; then todo+=("$tool"); fi
done
if [ ${#todo[@]} = 0 ]; then
  echo "kube-apiserver, kubectl v${KUBE_VERSION}, etcd ${ETCD_VERSION}: present in $kube_dir"
  echo "helm v${HELM_VERSION}: present at $helm_dir/helm"
  [ $node = 0 ] || echo "kubelet, kube-scheduler, kube-controller-manager v${KUBE_VERSION}: present in $kube_dir"
  echo "nothing to build (checked in $(took "$t_all"))"
  exit 0
fi
echo "building: ${todo[*]} (go ${go_version}, GOCACHE=$(go env GOCACHE))"

wants() { [[ " ${todo[*]} " == *" $1 "* ]]; }

if wants apiserver || wants kubectl || wants kubelet || wants scheduler || wants controller_manager; then
  step "download Kubernetes ${KUBE_VERSION} modules" bash -c "cd '$src/k8s' && go mod download"
  build_date=$(cd "$src/k8s" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
  minor=${KUBE_VERSION#*.}; minor=${minor%%.*}
  kube_ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ldflags+=" -X $pkg.gitVersion=v${KUBE_VERSION} -X $pkg.gitMajor=${KUBE_VERSION%%.*}"
    kube_ldflags+=" -X $pkg.gitMinor=${minor} -X $pkg.gitTreeState=clean -X $pkg.buildDate=${build_date}"
    kube_ldflags+=" -X $pkg.gitCommit="
  done
  if wants apiserver; then
    step "build kube-apiserver v${KUBE_VERSION}" build "$src/k8s" ./kube-apiserver "$kube_dir/kube-apiserver" "$kube_ldflags"
  fi
  if wants kubectl; then
    step "build kubectl v${KUBE_VERSION}" build "$src/k8s" ./kubectl "$kube_dir/kubectl" "$kube_ldflags"
  fi
  if wants kubelet; then
    step "build kubelet v${KUBE_VERSION}" build "$src/k8s" ./kubelet "$kube_dir/kubelet" "$kube_ldflags"
  fi
  if wants scheduler; then
    step "build kube-scheduler v${KUBE_VERSION}" build "$src/k8s" ./kube-scheduler "$kube_dir/kube-scheduler" "$kube_ldflags"
  fi
  if wants controller_manager; then
    step "build kube-controller-manager v${KUBE_VERSION}" build "$src/k8s" ./kube-controller-manager "$kube_dir/kube-controller-manager" "$kube_ldflags"
  fi
fi

if wants etcd; then
  step "download etcd ${ETCD_VERSION} modules" bash -c "cd '$src/etcd' && go mod download"
  step "build etcd ${ETCD_VERSION}" build "$src/etcd" . "$kube_dir/etcd" ""
fi

if wants helm; then
  step "download helm ${HELM_VERSION} modules" bash -c "cd '$src/helm' && go mod download"
  step "build helm v${HELM_VERSION}" build "$src/helm" helm.sh/helm/v3/cmd/helm "$helm_dir/helm" \
    "-X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
fi

# Prove each result is what was asked for, not just that a file was written.
for tool in "${todo[@]}"; do
  if ! "have_$tool"; then
    echo "built $tool does not report the expected version" >&2
    exit 1
  fi
done
echo "kube-apiserver, kubectl v${KUBE_VERSION}, etcd ${ETCD_VERSION}: $kube_dir"
echo "helm v${HELM_VERSION}: $helm_dir/helm"
[ $node = 0 ] || echo "kubelet, kube-scheduler, kube-controller-manager v${KUBE_VERSION}: $kube_dir"
echo "built ${todo[*]} in $(took "$t_all")"
