#!/usr/bin/env bash
# Builds localhost/trainq-train-standin:1, the training image of the end-to-end tests: the glibc
# root filesystem the worker's jlink'd runtime needs (images/base/rootfs.sh java, Debian packages)
# plus /usr/local/bin/dummy-train (dummy_train.c, static). Written as a docker-archive to
# images/target/trainq-train-standin.tar, which scripts/kube-local.sh imports into its containerd.
#
#   images/standin/build.sh   (needs gcc, libc6-dev, apt-get; no root, no registry, no image builder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/images/target"
t0=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
"$root/images/base/rootfs.sh" java "$work/rootfs"
mkdir -p "$work/rootfs/usr/local/bin"
gcc -static -O2 -s -o "$work/rootfs/usr/local/bin/dummy-train" "$here/dummy_train.c"
python3 "$root/images/mkimage.py" "$work/rootfs" localhost/trainq-train-standin:1 "$out/trainq-train-standin.tar.tmp" \
  --cmd '["/usr/local/bin/dummy-train"]' --user 65532:65532
mv "$out/trainq-train-standin.tar.tmp" "$out/trainq-train-standin.tar"
echo "built $out/trainq-train-standin.tar ($(du -h "$out/trainq-train-standin.tar" | cut -f1)) in $((SECONDS - t0)) s"
