#!/usr/bin/env bash
# Assembles a distroless root filesystem from Debian bookworm packages: the packages' files only
# (dpkg-deb -x, no maintainer scripts, no shell, no package manager), plus the few files a container
# needs (/etc/passwd with the non-root user 65532, /tmp, the CA bundle).
#
#   images/base/rootfs.sh java    DEST   # glibc, libstdc++, zlib, CA certificates: runs a jlink'd JVM
#   images/base/rootfs.sh busybox DEST   # a static busybox: cp and sh for the worker's init container
#
# Runs on a Debian bookworm host or in the debian:bookworm-slim stage of images/base/Dockerfile;
# needs apt-get (it downloads .deb files only, installs nothing).
set -euo pipefail

flavor=${1:?usage: rootfs.sh java|busybox DEST}
dest=${2:?usage: rootfs.sh java|busybox DEST}

case "$flavor" in
  # What a jlink'd OpenJDK 17 runtime links against (ldd of libjvm.so, libjava.so, libzip.so),
  # CA certificates for TLS to RabbitMQ, tzdata and netbase for /etc/services and /etc/protocols.
  java) packages=(base-files libc6 libgcc-s1 libstdc++6 zlib1g ca-certificates tzdata netbase) ;;
  busybox) packages=(busybox-static) ;;
  *) echo "unknown flavor '$flavor' (java or busybox)" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# apt-get download needs package lists; refresh them once when they are missing.
if ! (cd "$work" && apt-get download -q "${packages[@]}" >/dev/null 2>&1); then
  apt-get update -qq
  (cd "$work" && apt-get download -q "${packages[@]}" >/dev/null)
fi

rm -rf "$dest"
mkdir -p "$dest"
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$dest"
done
# The package list with versions, where scanners look for it (one file per package, like distroless).
mkdir -p "$dest/var/lib/dpkg/status.d"
for deb in "$work"/*.deb; do
  name=$(dpkg-deb -f "$deb" Package)
  dpkg-deb -f "$deb" Package Version Architecture Maintainer Source Description > "$dest/var/lib/dpkg/status.d/$name"
done
# Documentation is not needed at run time; the copyright files stay.
find "$dest/usr/share/doc" -type f ! -name copyright -delete 2>/dev/null || true
rm -rf "$dest/usr/share/man" "$dest/usr/share/info" "$dest/usr/share/lintian"

mkdir -p "$dest/etc" "$dest/tmp" "$dest/home/nonroot" "$dest/root"
chmod 1777 "$dest/tmp"
chmod 700 "$dest/root"
chown 65532:65532 "$dest/home/nonroot"
cat > "$dest/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat > "$dest/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
echo 'hosts: files dns' > "$dest/etc/nsswitch.conf"

case "$flavor" in
  java)
    # ca-certificates' maintainer script would build this bundle; the same concatenation, done here.
    mkdir -p "$dest/etc/ssl/certs"
    find "$dest/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat > "$dest/etc/ssl/certs/ca-certificates.crt"
    ;;
  busybox)
    # The applets the init container uses, as links: sh, cp, ls, mkdir, chmod, ...
    [ -x "$dest/bin/busybox" ] || { echo "busybox-static did not provide /bin/busybox" >&2; exit 1; }
    for applet in sh cp ls mkdir chmod cat echo true env; do
      ln -sf busybox "$dest/bin/$applet"
    done
    ;;
esac
echo "rootfs ($flavor) in $dest: ${packages[*]}"
