#!/bin/sh
# Builds the self-contained worker distribution (called by Maven in the package phase):
#   <target>/trainq-worker/{bin/trainq-worker, lib/trainq-worker.jar, python/trainq_task.py, runtime/, VERSION}
#   <target>/trainq-worker-<version>-linux-<arch>.tar.gz
# The runtime is jlink'd from the JDK in use with only the modules the worker needs, and kept
# between builds while the JDK and the module list stay the same.
set -eu
jdk=$1
jar=$2
target=$3
version=$4
here=$(cd "$(dirname "$0")" && pwd -P)

# java.base and: jdk.unsupported (sun.misc.Signal for SIGTERM), jdk.httpserver (/metrics),
# java.naming and java.security.sasl (amqp-client), java.logging (Netty's logger lookup),
# jdk.crypto.ec (TLS to the broker with EC ciphers). Jackson's java.desktop/java.sql
# integrations are optional and left out.
modules=java.base,java.logging,java.naming,java.security.sasl,jdk.crypto.ec,jdk.httpserver,jdk.unsupported

runtime="$target/worker-runtime"
stamp="$jdk|$("$jdk/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.runtime.version = //p')|$modules"
if [ ! -f "$runtime/.stamp" ] || [ "$(cat "$runtime/.stamp")" != "$stamp" ]; then
  rm -rf "$runtime"
  "$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
    --compress=2 --generate-cds-archive --output "$runtime"
  printf '%s' "$stamp" > "$runtime/.stamp"
fi

dist="$target/trainq-worker"
rm -rf "$dist" "$dist.tmp"
mkdir -p "$dist.tmp/bin" "$dist.tmp/lib"
cp -a "$runtime" "$dist.tmp/runtime"
rm -f "$dist.tmp/runtime/.stamp"
cp "$jar" "$dist.tmp/lib/trainq-worker.jar"
cp "$here/trainq-worker" "$dist.tmp/bin/trainq-worker"
mkdir -p "$dist.tmp/python"
cp "$here/../main/python/trainq_task.py" "$dist.tmp/python/trainq_task.py"
chmod 755 "$dist.tmp/bin/trainq-worker"
printf '%s\n' "$version" > "$dist.tmp/VERSION"
mv "$dist.tmp" "$dist"

arch=$(uname -m)
tar -czf "$target/trainq-worker-$version-linux-$arch.tar.gz" -C "$target" trainq-worker
echo "worker distribution: $dist ($(du -sh "$dist" | cut -f1)), $target/trainq-worker-$version-linux-$arch.tar.gz"
