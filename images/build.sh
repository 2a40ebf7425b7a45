#!/usr/bin/env bash
# Builds trainq's two images from images/*/Dockerfile, with Docker where there is one (CI) and with
# buildah (no daemon, no root needed for COPY-only builds) where there is not:
#
#   ghcr.io/trainq/trainq-operator:<version>   jlink'd Java runtime + operator jars, distroless base
#   ghcr.io/trainq/trainq-worker:<version>     the self-contained worker, copied by an init container
#
# Both bases are made from Debian bookworm packages (images/base), never pulled. Each image is also
# written as a docker-archive tarball (`docker load -i`, `ctr images import`, `kind load image-archive`).
#
#   images/build.sh [--engine docker|buildah] [--out DIR] [--registry ghcr.io/trainq] [--version V]
#                   [--operator-lib DIR] [--worker-dist DIR] [--push]
#
# Without --operator-lib/--worker-dist it runs `mvn package` for the operator and worker first.
# The version defaults to helm/trainq/Chart.yaml's appVersion, the tag the chart deploys.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
engine=""
out="$root/images/target"
registry=ghcr.io/trainq
version=""
operator_lib=""
worker_dist=""
push=false
cache=${TRAINQ_IMAGE_CACHE:-$HOME/.cache/trainq/images}

while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engine=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --registry) registry=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --operator-lib) operator_lib=$2; shift 2 ;;
    --worker-dist) worker_dist=$2; shift 2 ;;
    --push) push=true; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

[ -n "$version" ] || version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/helm/trainq/Chart.yaml")
if [ -z "$engine" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker
  elif command -v buildah >/dev/null; then engine=buildah
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >/dev/null && engine=buildah
  else
    echo "neither a Docker engine nor buildah is here: apt-get install buildah" >&2; exit 1
  fi
fi
step() { printf '==> %s\n' "$*"; }
t0=$SECONDS
mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)

# --- inputs ------------------------------------------------------------------------------
if [ -z "$operator_lib" ] || [ -z "$worker_dist" ]; then
  step "mvn package (operator, worker)"
  (cd "$root" && mvn -B -q -ntp -pl operator,worker -am package -DskipTests)
fi
if [ -z "$operator_lib" ]; then
  operator_lib="$out/operator-lib"
  rm -rf "$operator_lib"
  cp -r "$root/operator/target/lib" "$operator_lib"
fi
[ -n "$worker_dist" ] || worker_dist="$root/worker/target/trainq-worker"
[ -x "$worker_dist/bin/trainq-worker" ] || { echo "no worker distribution at $worker_dist (bin/trainq-worker): build the worker first (mvn -pl worker -am package)" >&2; exit 1; }
ls "$operator_lib"/*.jar >/dev/null 2>&1 || { echo "no jars in $operator_lib" >&2; exit 1; }

# --- build contexts ----------------------------------------------------------------------
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage/operator/lib" "$stage/worker"
cp "$root/images/operator/Dockerfile" "$stage/operator/"
cp "$root/images/worker/Dockerfile" "$stage/worker/"
cp "$operator_lib"/*.jar "$stage/operator/lib/"
# the operator's own jar sits beside its dependencies' directory (operator/target/lib)
for j in "$root"/operator/target/trainq-operator-*.jar; do
  case "$j" in *-tests.jar|*-sources.jar) ;; *) [ -f "$j" ] && cp "$j" "$stage/operator/lib/" ;; esac
done
mkdir -p "$stage/worker/trainq-worker"
cp -a "$worker_dist/." "$stage/worker/trainq-worker/"

step "jlink the operator's Java runtime"
s=$SECONDS
# The modules the jars use (jdeps), plus those reached only through service loading or reflection:
# EC and TLS providers, JMX for JVM metrics, sun.misc.Unsafe for netty.
modules=$(jdeps -q --multi-release 17 --ignore-missing-deps --print-module-deps \
  --class-path "$stage/operator/lib/*" "$stage"/operator/lib/*.jar 2>/dev/null || true)
modules="${modules:+$modules,}java.base,java.logging,java.management,java.naming,java.net.http,java.xml,jdk.crypto.ec,jdk.httpserver,jdk.management,jdk.unsupported"
jlink --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=2 \
  --output "$stage/operator/runtime"
echo "runtime modules: $("$stage/operator/runtime/bin/java" --list-modules | sed 's/@.*//' | tr '\n' ' ')($((SECONDS - s)) s)"

operator_ref="$registry/trainq-operator:$version"
worker_ref="$registry/trainq-worker:$version"
epoch=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)

# --- build -------------------------------------------------------------------------------
case "$engine" in
  docker)
    for flavor in java busybox; do
      step "base image trainq-base-$flavor"
      docker build -q --build-arg FLAVOR=$flavor -t "$registry/trainq-base-$flavor:$version" "$root/images/base"
    done
    step "$operator_ref"
    docker build --build-arg BASE="$registry/trainq-base-java:$version" --build-arg VERSION="$version" -t "$operator_ref" "$stage/operator"
    step "$worker_ref"
    docker build --build-arg BASE="$registry/trainq-base-busybox:$version" --build-arg VERSION="$version" -t "$worker_ref" "$stage/worker"
    docker save -o "$out/trainq-operator-$version.tar" "$operator_ref"
    docker save -o "$out/trainq-worker-$version.tar" "$worker_ref"
    if $push; then docker push "$operator_ref"; docker push "$worker_ref"; fi
    ;;
  buildah)
    # A throwaway store: vfs needs no kernel overlay support and nothing outlives the build.
    store=$(mktemp -d "$out/.buildah.XXXXXX")
    trap 'buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs rm -a >/dev/null 2>&1 || true; rm -rf "$store"' EXIT
    B=(buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs)
    for flavor in java busybox; do
      # The base's cache key: the recipe and the exact .deb files it would download.
      key=$( { cat "$root/images/base/rootfs.sh" "$root/images/base/Dockerfile"; echo "$flavor";
               case $flavor in java) p="base-files libc6 libgcc-s1 libstdc++6 zlib1g ca-certificates tzdata netbase";; busybox) p=busybox-static;; esac
               apt-get download --print-uris $p 2>/dev/null | sort; } | sha256sum | cut -c1-16)
      base="$cache/trainq-base-$flavor-$key.tar"
      if [ ! -s "$base" ]; then
        step "base image trainq-base-$flavor (from Debian packages)"
        s=$SECONDS
        rfs="$store/rootfs-$flavor"
        "$root/images/base/rootfs.sh" "$flavor" "$rfs"
        # The same result as images/base/Dockerfile's second stage.
        c=$("${B[@]}" from scratch)
        "${B[@]}" copy "$c" "$rfs/" / >/dev/null
        "${B[@]}" config --user 65532:65532 --workingdir /home/nonroot \
          --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
        "${B[@]}" commit -q --timestamp "$epoch" "$c" "localhost/trainq-base-$flavor:$key" >/dev/null
        "${B[@]}" push -q "localhost/trainq-base-$flavor:$key" "oci-archive:$base.tmp:$registry/trainq-base-$flavor:$version" 2>/dev/null
        mv "$base.tmp" "$base"
        rm -rf "$rfs"
        echo "cached $base ($((SECONDS - s)) s)"
      fi
      eval "base_$flavor=\$base"
    done
    for img in operator worker; do
      ref="$registry/trainq-$img:$version"
      if [ $img = operator ]; then base=$base_java; else base=$base_busybox; fi
      step "$ref"
      s=$SECONDS
      "${B[@]}" bud -q --isolation chroot --pull=never --timestamp "$epoch" \
        --build-arg BASE="oci-archive:$base" --build-arg VERSION="$version" \
        -t "$ref" "$stage/$img" >/dev/null
      rm -f "$out/trainq-$img-$version.tar"
      "${B[@]}" push -q "$ref" "docker-archive:$out/trainq-$img-$version.tar:$ref" 2>/dev/null
      echo "$out/trainq-$img-$version.tar ($(du -h "$out/trainq-$img-$version.tar" | cut -f1), $((SECONDS - s)) s)"
      if $push; then "${B[@]}" push "$ref" "docker://$ref"; fi
    done
    ;;
  *) echo "unknown engine '$engine' (docker or buildah)" >&2; exit 2 ;;
esac
rm -rf "$stage"
echo "images built with $engine in $((SECONDS - t0)) s: $out/trainq-operator-$version.tar $out/trainq-worker-$version.tar"
