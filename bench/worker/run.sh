#!/bin/sh
# The worker benchmark: prints the figures and writes bench/worker/REPORT.md.
#   bench/worker/run.sh [--tasks 20000] [--rounds 3] [--uri amqp://trainq:trainq@127.0.0.1:5672/%2F]
# Needs the RabbitMQ 4.0 single node (scripts/rabbitmq.sh start), gcc, and Maven for PerfTest.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$root"
out=bench/worker/target
mkdir -p "$out"

if [ ! -x worker/target/trainq-worker/bin/trainq-worker ]; then
  mvn -q -pl worker -am package -DskipTests
fi
jar=$(ls worker/target/trainq-worker-*-all.jar)
gcc -O2 -static -o "$out/noop" bench/worker/noop.c
mvn -q -f bench/worker/perftest-pom.xml dependency:build-classpath -Dmdep.outputFile="$root/$out/perftest.cp" >/dev/null
scripts/rabbitmq.sh status --version 4.0 --nodes 1 >/dev/null || {
  echo "RabbitMQ 4.0 is not running: scripts/rabbitmq.sh start" >&2
  exit 1
}
exec java -Djdk.lang.Process.launchMechanism=VFORK -Dslf4j.provider=io.trainq.worker.log.WorkerLogProvider -Dslf4j.internal.verbosity=WARN -cp "$jar" bench/worker/Bench.java --dist worker/target/trainq-worker --noop "$out/noop" \
  --perftest-cp "$(cat "$out/perftest.cp")" --report bench/worker/REPORT.md "$@"
