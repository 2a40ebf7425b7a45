#!/usr/bin/env bash
# Figures for the operator (benchmarks, not timed tests), on the local RabbitMQ 4.0 single node:
#
#  1. Publishing 10 000 tasks with confirms: RabbitMQ PerfTest 2.22.1 (one producer, 100 confirms in
#     flight, persistent, mandatory, quorum queue) against the operator's TaskPublisher (window 100,
#     and its default 256, in the reconciler's 5 000-task batches), same broker, same run, alternating
#     for $ROUNDS rounds; then the original design's sender (one synchronous confirm per message).
#  2. Status lag behind events with 100 concurrent jobs, and the operator's heap (-Xmx256m) at
#     100 jobs x 1 000 tasks (StatusLagBench; needs the kube-api-test binaries in ~/.kubeapitest).
#
#   bench/operator/run.sh                 # both parts
#   PARTS=publish bench/operator/run.sh   # only part 1 (PARTS=lag: only part 2)
#
# Output: bench/operator/results/<UTC time>.txt (REPORT.md quotes a run).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-3}
TASKS=${TASKS:-10000}
PARTS=${PARTS:-publish,lag}
JOBS=${JOBS:-100}
TASKS_PER_JOB=${TASKS_PER_JOB:-1000}
EVENTS_PER_JOB=${EVENTS_PER_JOB:-100}
RATE=${RATE:-200}
uri="amqp://trainq:trainq@127.0.0.1:5672/%2F"
mgmt="http://127.0.0.1:15672/api"
out="$root/bench/operator/results"
mkdir -p "$out"
result="$out/$(date -u +%Y%m%dT%H%M%SZ).txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() { printf '%s\n' "$*" | tee -a "$result"; }

scripts/rabbitmq.sh status >/dev/null 2>&1 || scripts/rabbitmq.sh start

# Class paths: the operator's test classes (the benches) and PerfTest's, resolved by Maven. Class
# directories are copied aside, since other builds may rewrite target/ meanwhile.
mvn -q -o -pl operator -am test-compile dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$tmp/op.cp"
cp_entries=("$root/operator/target/test-classes" "$root/operator/target/classes")
IFS=: read -r -a deps < "$tmp/op.cp" || true  # no newline at the end
cp_entries+=("${deps[@]}")
snapshot=()
n=0
for e in "${cp_entries[@]}"; do
  if [ -d "$e" ]; then
    cp -r "$e" "$tmp/cp$n"; snapshot+=("$tmp/cp$n"); n=$((n + 1))
  else
    snapshot+=("$e")
  fi
done
opcp=$(IFS=:; echo "${snapshot[*]}")
(cd bench/operator/perftest && mvn -q dependency:build-classpath -Dmdep.outputFile="$tmp/perftest.cp")
ptcp=$(cat "$tmp/perftest.cp")

say "# trainq operator bench, $(date -u +%FT%TZ)"
say "host: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(java -version 2>&1 | head -1)"
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared; figures move with it)"
say "broker: $(scripts/rabbitmq.sh ctl -- version 2>/dev/null | tail -1 || echo 'RabbitMQ 4.0') at 127.0.0.1:5672 (single node)"

if [[ $PARTS == *publish* ]]; then
  say ""
  say "## publishing $TASKS tasks with confirms"
  for r in $(seq 1 "$ROUNDS"); do
    q="perftest-$(date +%s%N)"
    line=$(java -cp "$ptcp" com.rabbitmq.perf.PerfTest -h "$uri" -x 1 -y 0 -c 100 -C "$TASKS" -s 100 \
        -f persistent -f mandatory -u "$q" -qa x-queue-type=quorum -ad false -i 1 2>&1 | grep -E 'sending rate avg' | tail -1)
    curl -s -u trainq:trainq -X DELETE "$mgmt/queues/%2F/$q" >/dev/null || true
    say "round $r perftest -x 1 -y 0 -c 100 -C $TASKS -s 100 -f persistent -f mandatory (quorum): ${line#*, }"
    # five jobs per JVM: the first as the operator's first job, the others as a long-running operator publishes
    java -cp "$opcp" io.trainq.operator.bench.PublishBench "$uri" "$TASKS" 100 5000 5 | sed "s/^/round $r /" | tee -a "$result"
    java -cp "$opcp" io.trainq.operator.bench.PublishBench "$uri" "$TASKS" 256 5000 5 | sed "s/^/round $r /" | tee -a "$result"
  done
  say "coldjvm $(java -cp "$opcp" io.trainq.operator.bench.PublishBench "$uri" "$TASKS" 256 5000 1 cold)"
  say "baseline $(java -cp "$opcp" io.trainq.operator.bench.PublishBench "$uri" 2000 0 1)"
  # PerfTest after warming up (10 s of publishing), to compare with the warm TaskPublisher
  q="perftest-$(date +%s%N)"
  line=$(java -cp "$ptcp" com.rabbitmq.perf.PerfTest -h "$uri" -x 1 -y 0 -c 100 -z 10 -s 100 \
      -f persistent -f mandatory -u "$q" -qa x-queue-type=quorum -ad false 2>&1 | grep -E 'sending rate avg' | tail -1)
  curl -s -u trainq:trainq -X DELETE "$mgmt/queues/%2F/$q" >/dev/null || true
  say "steady perftest -x 1 -y 0 -c 100 -z 10 -s 100 -f persistent -f mandatory (quorum): ${line#*, }"
  say ""
  say "medians (msg/s):"
  median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }
  pt=$(grep -E '^round [0-9]+ perftest' "$result" | sed -E 's/.*sending rate avg: ([0-9]+).*/\1/' | median)
  steady=$(grep -E '^steady perftest' "$result" | sed -E 's/.*sending rate avg: ([0-9]+).*/\1/')
  say "  PerfTest, 1 producer, 100 confirms in flight:   $pt for $TASKS messages (cold JVM), $steady over 10 s"

  for w in 100 256; do
    cold=$(grep -E "^round [0-9]+ taskpublisher window=$w .*first job" "$result" | sed -E 's/.*rate=([0-9]+).*/\1/' | median)
    warm=$(grep -E "^round [0-9]+ taskpublisher window=$w .*warm" "$result" | sed -E 's/.*rate=([0-9]+).*/\1/' | median)
    say "  TaskPublisher window $w, 5000-task batches:   first job $cold ($(awk -v a="$cold" -v b="$pt" 'BEGIN {printf "%.2f", a / b}')x PerfTest's $TASKS), later jobs $warm ($(awk -v a="$warm" -v b="$steady" 'BEGIN {printf "%.2f", a / b}')x its 10 s)"
  done
fi

if [[ $PARTS == *lag* ]]; then
  say ""
  say "## status lag and heap: $JOBS jobs x $TASKS_PER_JOB tasks, events for $EVENTS_PER_JOB tasks per job at $RATE tasks/s"
  # pipefail: the bench's exit status is the pipeline's; a failed or timed-out run is recorded as such
  if ! java -Dtrainq.project.root="$root" -cp "$opcp" io.trainq.operator.bench.StatusLagBench "$uri" "$JOBS" "$TASKS_PER_JOB" \
      "$EVENTS_PER_JOB" "$RATE" "$opcp" 2>&1 | grep -Ev ' (INFO|WARN|DEBUG) ' | tee -a "$result"; then
    say "status lag bench FAILED: its numbers above are not a result"
    say "results: $result"
    exit 1
  fi
fi
say ""
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
say "results: $result"
