#!/usr/bin/env bash
# The dispatch benchmark: trainq run (Process and Persistent runner) against the original pika
# worker, Celery 5 and RabbitMQ PerfTest, in one run on the same broker, alternating rounds,
# medians of the rounds (bench/dispatch/, docs/performance.md).
#
#   scripts/bench.sh                 the full benchmark: 3 rounds, every workload (15-20 min on 2 CPUs)
#   scripts/bench.sh --quick         smaller task counts, 1 round (a few minutes)
#   scripts/bench.sh --smoke         tiny runs of every peer, 1 round: checks the harness end to end
#                                    (well under 2 min); exits non-zero if a peer's run fails
#   options: --rounds N  --workloads sleep200,noop,tail,heavy,publish
#            --peers original,celery,trainq-process,trainq-persistent,perftest
#            --uri amqp://...  --out DIR (default bench/results; --smoke: a temporary directory)
#            --budget S (start no workload after S seconds; the full run defaults to 1500)  --keep (keep logs)
#
# Needs the RabbitMQ 4.0 single node on 127.0.0.1:5672 (scripts/rabbitmq.sh start), gcc, Java 17,
# Maven, and Python 3 with venv: pika, Celery and matplotlib are installed from PyPI into
# ~/.cache/trainq/bench-venv on first use. Figures are written to <out>/<UTC time>.json and .md,
# with PNG plots beside them. The figures never gate anything; a failed run does.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"

invoked="scripts/bench.sh${*:+ $*}"
size=full rounds= out= uri=amqp://trainq:trainq@127.0.0.1:5672/%2F pass=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) size=quick ;;
    --smoke) size=smoke ;;
    --rounds) rounds=$2; shift ;;
    --workloads|--peers|--run-timeout|--budget) pass+=("$1" "$2"); shift ;;
    --uri) uri=$2; shift ;;
    --out) out=$2; shift ;;
    --keep) pass+=(--keep) ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case $size in
  full)
    rounds=${rounds:-3}
    [[ " ${pass[*]-} " == *" --budget "* ]] || pass+=(--budget 1500)
    ;;
  quick) rounds=${rounds:-1} ;;
  smoke)
    rounds=${rounds:-1}
    # the harness end to end: every peer on the 200 ms workload and a small publish
    [[ " ${pass[*]-} " == *" --workloads "* ]] || pass+=(--workloads sleep200,publish)
    [[ " ${pass[*]-} " == *" --run-timeout "* ]] || pass+=(--run-timeout 60)
    ;;
esac
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the checkout
work=${TMPDIR:-/tmp}/trainq-bench-build
mkdir -p "$work"
if [ -z "$out" ]; then
  if [ "$size" = smoke ]; then out=$(mktemp -d "${TMPDIR:-/tmp}/trainq-bench-smoke.XXXXXX"); else out=$root/bench/results; fi
fi

step() { printf '%s\n' "bench: $*" >&2; }

# the broker: never started or stopped here, others use it
hostport=${uri#*@}; hostport=${hostport%%/*}
if ! (exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}") 2>/dev/null; then
  echo "bench.sh: no broker at $hostport (scripts/rabbitmq.sh start)" >&2
  exit 1
fi

# Python peers and plots: a venv of its own, from PyPI
venv=${TRAINQ_BENCH_VENV:-$HOME/.cache/trainq/bench-venv}
reqs=$root/bench/dispatch/requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$reqs" "$venv/.requirements"; then
  step "creating $venv (pika, Celery, matplotlib from PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$venv/.requirements"
fi

# the task program, static like bench/worker/noop.c
gcc -O2 -static -o "$work/bench-task" bench/dispatch/task.c -lm

# trainq's CLI (./trainq rebuilds it when its sources changed; offline when Maven's cache has everything)
jar=cli/target/trainq-cli.jar
if [ ! -f "$jar" ] || [ -n "$(find {api,protocol,engine,worker,cli}/src/main {api,protocol,engine,worker,cli}/pom.xml pom.xml -newer "$jar" -print -quit 2>/dev/null)" ]; then
  step "building the CLI (mvn -o -pl cli -am package)"
  mvn -B -ntp -o -q -pl cli -am package -DskipTests -Dsurefire.skip=true >"$work/build.log" 2>&1 \
    || mvn -B -ntp -q -pl cli -am package -DskipTests -Dsurefire.skip=true >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; exit 1; }
fi
# trainq's publish path, compiled against the CLI's jar (a copy, so a rebuild meanwhile does not bite)
cp "$jar" "$work/trainq-cli.jar"
mkdir -p "$work/classes"
javac -nowarn -d "$work/classes" -cp "$work/trainq-cli.jar" bench/dispatch/PublishBench.java

# PerfTest 2.22.1, as bench/worker resolves it
if [ ! -s "$work/perftest.cp" ] || [ bench/worker/perftest-pom.xml -nt "$work/perftest.cp" ]; then
  mvn -B -ntp -q -o -f bench/worker/perftest-pom.xml dependency:build-classpath -Dmdep.outputFile="$work/perftest.cp" >/dev/null 2>&1 \
    || mvn -B -ntp -q -f bench/worker/perftest-pom.xml dependency:build-classpath -Dmdep.outputFile="$work/perftest.cp" >/dev/null
fi

exec "$venv/bin/python" bench/dispatch/bench.py --size "$size" --rounds "$rounds" --uri "$uri" \
  --trainq "$root/trainq" --task "$work/bench-task" --perftest-cp "$work/perftest.cp" \
  --publish-cp "$work/classes:$work/trainq-cli.jar" --out "$out" --command "$invoked" "${pass[@]}"
