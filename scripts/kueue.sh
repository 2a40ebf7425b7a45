#!/usr/bin/env bash
# Builds the Kueue controller manager the Kueue integration tests run against a test kube-apiserver,
# from source through the Go module proxy, and only when it is missing or another version:
#
#   kueue 0.17.1             -> ${TRAINQ_CACHE:-~/.cache/trainq}/bin/kueue
#   its CRDs                 -> ${TRAINQ_CACHE:-~/.cache/trainq}/kueue/v0.17.1/crds/
#   its RBAC roles (config/components/rbac, for a test that runs Kueue with its own permissions)
#                            -> ${TRAINQ_CACHE:-~/.cache/trainq}/kueue/v0.17.1/rbac/
#
# The Go module that pins every dependency is scripts/kubebin/kueue/ (the same versions as Kueue's own
# go.mod). The binary has no --version flag: the version check reads the module version that Go
# records in the binary (go version -m). About 6 minutes cold, on 2 CPUs.
#
#   scripts/kueue.sh build [--force]   build what is missing (--force: rebuild and recopy)
#   scripts/kueue.sh paths             print the binary and the CRD directory, one a line
set -euo pipefail

KUEUE_VERSION=v0.17.1
GO_MIN=1.25

cache=${TRAINQ_CACHE:-$HOME/.cache/trainq}
bin=$cache/bin/kueue
share=$cache/kueue/$KUEUE_VERSION
src=$(cd "$(dirname "$0")" && pwd)/kubebin/kueue

usage() { echo "usage: $0 build [--force] | paths" >&2; exit 2; }

now() { date +%s%N; }
took() { local ns=$(( $(now) - $1 )); printf '%d.%d s' $(( ns / 1000000000 )) $(( ns / 100000000 % 10 )); }

step() {
  local name=$1 t
  shift
  echo "==> $name"
  t=$(now)
  "$@"
  echo "    $name: $(took "$t")"
}

# The binary is the one asked for when Go's build info names Kueue at this version: the module of
# its main package, a "mod" line (the output is captured first: with pipefail, `cmd | grep -q` fails
# when grep exits early).
have_binary() {
  local out
  [ -x "$bin" ] || return 1
  out=$(go version -m "$bin" 2>/dev/null) || return 1
  grep -qE "^[[:space:]]+mod[[:space:]]+sigs\.k8s\.io/kueue[[:space:]]+${KUEUE_VERSION}[[:space:]]" <<<"$out"
}
# The copies are complete when the marker written after them is there.
have_manifests() { [ -f "$share/.complete" ]; }

build_binary() {
  local pkg=sigs.k8s.io/kueue/pkg/version build_date
  mkdir -p "$(dirname "$bin")"
  # What Kueue logs at start ("Initializing", gitVersion, gitCommit, buildDate), set as Kueue's own
  # build sets it; the commit stays empty: the module proxy does not carry it.
  build_date=$(cd "$src" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' sigs.k8s.io/kueue)
  # Into a temporary file beside the target, then renamed: a test running the old one never sees half
  # a binary.
  (cd "$src" && go build -trimpath \
    -ldflags "-s -w -X $pkg.GitVersion=${KUEUE_VERSION} -X $pkg.GitCommit= -X $pkg.BuildDate=${build_date}" \
    -o "$bin.tmp.$$" sigs.k8s.io/kueue/cmd/kueue)
  mv -f "$bin.tmp.$$" "$bin"
}

copy_manifests() {
  local mod tmp
  mod=$(cd "$src" && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)
  [ -d "$mod/config/components/crd/bases" ] || { echo "no CRDs in $mod" >&2; return 1; }
  tmp=$share.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp/crds" "$tmp/rbac"
  cp "$mod"/config/components/crd/bases/*.yaml "$tmp/crds/"
  cp "$mod"/config/components/rbac/*.yaml "$tmp/rbac/"
  # the module cache is read-only; the copies need not be
  chmod -R u+w "$tmp"
  touch "$tmp/.complete"
  rm -rf "$share"
  mv "$tmp" "$share"
}

cmd_paths() {
  echo "$bin"
  echo "$share/crds"
}

cmd_build() {
  local force=0 t_all todo=()
  for arg in "$@"; do
    case "$arg" in
      --force) force=1 ;;
      *) usage ;;
    esac
  done
  if ! command -v go >/dev/null; then
    echo "missing: go ${GO_MIN} or newer, needed to build Kueue from source: install it from https://go.dev/dl/ and put its bin/ on PATH" >&2
    exit 1
  fi
  local go_version
  go_version=$(go env GOVERSION | sed 's/^go//')
  if [ "$(printf '%s\n%s\n' "$GO_MIN" "$go_version" | sort -V | head -1)" != "$GO_MIN" ] \
      && [ "$(go env GOTOOLCHAIN)" = local ]; then
    echo "go ${GO_MIN} or newer is needed (found ${go_version}, GOTOOLCHAIN=local): install it from https://go.dev/dl/, or unset GOTOOLCHAIN so go fetches it" >&2
    exit 1
  fi

  export CGO_ENABLED=0
  # Builds run inside this git repository; stamping its state into the binary is not wanted.
  export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

  t_all=$(now)
  if [ $force = 1 ] || ! have_binary; then todo+=(binary); fi
  if [ $force = 1 ] || ! have_manifests; then todo+=(manifests); fi
  if [ ${#todo[@]} = 0 ]; then
    echo "kueue ${KUEUE_VERSION}: present at $bin, CRDs in $share/crds"
    echo "nothing to build (checked in $(took "$t_all"))"
    return 0
  fi
  echo "building: ${todo[*]} (go ${go_version}, GOCACHE=$(go env GOCACHE))"
  step "download Kueue ${KUEUE_VERSION} modules" bash -c "cd '$src' && go mod download"
  if [[ " ${todo[*]} " == *" binary "* ]]; then
    step "build kueue ${KUEUE_VERSION}" build_binary
    if ! have_binary; then
      echo "built kueue does not report ${KUEUE_VERSION} (go version -m $bin)" >&2
      exit 1
    fi
  fi
  if [[ " ${todo[*]} " == *" manifests "* ]]; then
    step "copy Kueue ${KUEUE_VERSION} CRDs and RBAC roles" copy_manifests
  fi
  echo "kueue ${KUEUE_VERSION}: $bin, CRDs in $share/crds, RBAC roles in $share/rbac"
  echo "built ${todo[*]} in $(took "$t_all")"
}

case "${1:-}" in
  build) shift; cmd_build "$@" ;;
  paths) shift; [ $# = 0 ] || usage; cmd_paths ;;
  *) usage ;;
esac
