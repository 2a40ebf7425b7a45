#!/usr/bin/env bash
# The project's test command: provisions what is missing (Debian packages, the RabbitMQ 4.0 chroot,
# the Kubernetes binaries, Kueue), starts the brokers the tests use, runs `mvn verify` (unit and
# integration tests against RabbitMQ 4.0 and a real kube-apiserver, some with Kueue), re-runs the
# broker-facing integration tests against RabbitMQ 3.10, checks that the benchmark still runs
# (scripts/bench.sh --smoke), runs the reliability suite's ci profile (scripts/reliability.sh; its
# connection-breaking scenarios also over TLS), runs the end-to-end tests on a local single-node
# cluster (scripts/e2e.sh) and the reliability suite once more through the operator and real pods on
# that cluster (--pods), prints a summary, and stops the brokers and the cluster it started.
#
#   scripts/test.sh [extra mvn args]      e.g. scripts/test.sh -pl worker -am
#
# TRAINQ_KEEP_BROKERS=1 leaves the brokers running afterwards (faster reruns).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export TRAINQ_PROJECT_ROOT="$root"

step() { printf '\n==> %s\n' "$*"; }
t0=$SECONDS
elapsed() { echo "$(( SECONDS - $1 )) s"; }

# --- prerequisites -----------------------------------------------------------------------
need_pkgs=()
command -v java >/dev/null || need_pkgs+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need_pkgs+=(maven)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need_pkgs+=(rabbitmq-server)
command -v gcc >/dev/null || need_pkgs+=(gcc)
command -v python3 >/dev/null || need_pkgs+=(python3)
# the benchmark's smoke run keeps its Python peers (pika, Celery) in a venv of their own
python3 -c 'import ensurepip, venv' 2>/dev/null || need_pkgs+=(python3-venv)
command -v buildah >/dev/null || need_pkgs+=(buildah)
# the Kueue tests' certificate, and the private mount namespace Kueue runs in
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v unshare >/dev/null || need_pkgs+=(util-linux)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing Debian packages: ${need_pkgs[*]}"
    s=$SECONDS
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    echo "packages installed in $(elapsed $s)"
  else
    echo "missing: ${need_pkgs[*]} — install them with: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
fi
command -v go >/dev/null || { echo "missing: go (1.26+) — needed once to build kube-apiserver, etcd, kubectl, helm and Kueue; install it from https://go.dev/dl or 'apt-get install golang'" >&2; exit 1; }
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-0}" -lt 17 ]; then
  echo "Java 17 or newer is required (found ${java_major:-none}): apt-get install -y openjdk-17-jdk-headless" >&2
  exit 1
fi

# --- provisioning ------------------------------------------------------------------------
step "Kubernetes binaries (kube-apiserver, etcd, kubectl 1.35.4; helm)"
s=$SECONDS; scripts/kube-binaries.sh; echo "kubernetes binaries ready in $(elapsed $s)"
# the local single-node cluster (root only): the integration tests that need running pods use it
# when containerd and the kubelet are here (else they are reported as not run), the e2e step always
if [ "$(id -u)" = 0 ]; then
  step "the local cluster's packages and node binaries (scripts/kube-local.sh prepare)"
  s=$SECONDS; scripts/kube-local.sh prepare; echo "local cluster prerequisites ready in $(elapsed $s)"
fi

step "Kueue v0.17.1 (controller manager and CRDs, for the Kueue integration tests)"
s=$SECONDS; scripts/kueue.sh build; echo "kueue ready in $(elapsed $s)"

step "RabbitMQ brokers (4.0 and 3.10, single node and 3-node cluster each)"
s=$SECONDS
scripts/rabbitmq.sh provision
started=()
for inst in "4.0 1" "4.0 3" "3.10 1" "3.10 3"; do
  read -r version nodes <<<"$inst"
  if ! scripts/rabbitmq.sh status --version "$version" --nodes "$nodes" >/dev/null 2>&1; then
    started+=("$inst")
  fi
  scripts/rabbitmq.sh start --version "$version" --nodes "$nodes"
done
echo "brokers ready in $(elapsed $s)"

# TestCluster brings up scripts/kube-local.sh's cluster where it can run (root, containerd, the
# kubelet built) and leaves it running for the next JVM; stop it again unless it ran before.
kube_local_was_up=0
scripts/kube-local.sh status >/dev/null 2>&1 && kube_local_was_up=1

cleanup() {
  # also when it runs only in part: an `up` that failed half-way
  # (the output is read whole: grep -q closing the pipe early would fail it under pipefail)
  if [ $kube_local_was_up = 0 ] && [[ "$(scripts/kube-local.sh status 2>/dev/null || true)" == *": running"* ]]; then
    scripts/kube-local.sh down >/dev/null 2>&1 || true
  fi
  if [ "${TRAINQ_KEEP_BROKERS:-0}" != 1 ]; then
    for inst in "${started[@]+"${started[@]}"}"; do
      read -r version nodes <<<"$inst"
      scripts/rabbitmq.sh stop --version "$version" --nodes "$nodes" >/dev/null 2>&1 || true
    done
  fi
}
trap cleanup EXIT

# --- tests -------------------------------------------------------------------------------
mvn_flags=(-B -ntp -Dstyle.color=never)
status=0
step "mvn verify (unit tests, integration tests against RabbitMQ 4.0 and kube-apiserver 1.35.4)"
s=$SECONDS
mvn "${mvn_flags[@]}" verify "$@" || status=$?
echo "mvn verify finished in $(elapsed $s) (exit $status)"

if [ $status -eq 0 ]; then
  step "broker integration tests against RabbitMQ 3.10"
  s=$SECONDS
  mvn "${mvn_flags[@]}" verify -Prabbitmq-3.10 "$@" || status=$?
  echo "RabbitMQ 3.10 run finished in $(elapsed $s) (exit $status)"
fi

# The steps below need the 4.0 brokers only (the e2e step starts the local cluster itself): what this
# run started for the tests above stops now, so the timed scripts do not share 2 CPUs with idle
# RabbitMQ 3.10 nodes and a Kubernetes control plane.
if [ "${TRAINQ_KEEP_BROKERS:-0}" != 1 ]; then
  for inst in "${started[@]+"${started[@]}"}"; do
    read -r version nodes <<<"$inst"
    [ "$version" = 3.10 ] || continue
    scripts/rabbitmq.sh stop --version "$version" --nodes "$nodes" >/dev/null 2>&1 || true
  done
fi
if [ $kube_local_was_up = 0 ] && [[ "$(scripts/kube-local.sh status 2>/dev/null || true)" == *": running"* ]]; then
  scripts/kube-local.sh down >/dev/null 2>&1 || true
fi

# --- the benchmark still works ---------------------------------------------------------
# scripts/bench.sh --smoke runs every peer (the original worker, Celery, PerfTest, trainq in both
# runner modes) on a tiny workload: a broken harness or a peer's failed run fails the suite; the
# figures themselves gate nothing (the full benchmark writes them: docs/performance.md).
bench_note="" fail_detail=""
if [ $status -ne 0 ]; then
  bench_note="benchmark smoke run not run: the steps before failed"
elif [ $# -gt 0 ] && [ "${TRAINQ_BENCH_SMOKE:-}" != 1 ]; then
  bench_note="benchmark smoke run not run: mvn args narrow the run (scripts/bench.sh --smoke runs it alone)"
else
  step "benchmark smoke run (scripts/bench.sh --smoke)"
  s=$SECONDS
  mkdir -p "$root/target"
  if scripts/bench.sh --smoke >"$root/target/bench-smoke.log" 2>&1; then
    bench_note="benchmark smoke run passed in $(elapsed $s) (log: target/bench-smoke.log)"
  else
    status=1
    tail -n 40 "$root/target/bench-smoke.log"
    bench_note="benchmark smoke run FAILED after $(elapsed $s) (log: target/bench-smoke.log)"
    fail_detail=$(tail -n 15 "$root/target/bench-smoke.log")
  fi
  echo "$bench_note"
fi

# --- the reliability suite ----------------------------------------------------------------
# scripts/reliability.sh --profile ci: real `trainq run` processes against the 4.0 3-node cluster
# under injected faults (workers killed and frozen, the quorum leader's node killed, connections
# closed), then a history checker: a lost, doubly counted or wrongly dead-lettered task fails the
# suite. Its report: target/reliability/report.md (docs/reliability.md). The scenarios that break
# connections run once more over TLS first (report-tls.md).
rel_note=""
if [ $status -ne 0 ]; then
  rel_note="reliability suite not run: the steps before failed"
elif [ "${TRAINQ_RELIABILITY:-}" = 0 ]; then
  rel_note="reliability suite NOT run (TRAINQ_RELIABILITY=0)"
elif [ $# -gt 0 ] && [ "${TRAINQ_RELIABILITY:-}" != 1 ]; then
  rel_note="reliability suite not run: mvn args narrow the run (scripts/reliability.sh runs it alone)"
else
  # two passes: over TLS (amqps to the nodes' TLS listeners) the scenarios that break connections,
  # then every scenario over plain AMQP; the second writes target/reliability/report.md
  rel_status=0 rel_notes=()
  for pass in tls plain; do
    if [ $pass = tls ]; then
      args=(--tls load crash nemesis forged) log=$root/target/reliability-tls.log
    else
      args=() log=$root/target/reliability.log
    fi
    step "reliability suite (scripts/reliability.sh --broker 4.0 --profile ci${args[*]+ ${args[*]}})"
    s=$SECONDS
    mkdir -p "$root/target"
    rm -f "$root"/target/reliability/report.{md,json}
    if scripts/reliability.sh --broker 4.0 --profile ci "${args[@]+"${args[@]}"}" >"$log" 2>&1; then
      rel_notes+=("reliability suite ($pass) passed in $(elapsed $s)")
    else
      rel_status=1
      tail -n 40 "$log"
      rel_notes+=("reliability suite ($pass) FAILED after $(elapsed $s) (log: ${log#"$root"/})")
      # a failed scenario's line and its problems (indented under it), and what the script itself said
      fail_detail=${fail_detail:+$fail_detail$'\n'}$({ grep -E -A20 '^[a-z]+: FAILED' "$log" | grep -E '^[a-z]+: FAILED|^  ' | head -n 30
        grep -E '^\[reliability .*(failed|not finished|appears in:)|Exception|rabbitmq.sh: ' "$log" |
          tail -n 10; } || true)
    fi
    if [ -f "$root/target/reliability/report.md" ]; then
      cat "$root/target/reliability/report.md"
      if [ $pass = tls ]; then
        mv "$root/target/reliability/report.md" "$root/target/reliability/report-tls.md"
        mv "$root/target/reliability/report.json" "$root/target/reliability/report-tls.json" 2>/dev/null || true
      fi
    fi
  done
  [ $rel_status -eq 0 ] || status=1
  rel_note="${rel_notes[*]} (reports: target/reliability/report.md, report-tls.md)"
  echo "$rel_note"
fi

# --- end-to-end tests on the local cluster ----------------------------------------------
# scripts/e2e.sh starts scripts/kube-local.sh's cluster (building and installing what is missing),
# runs the e2e/ module on it and stops what it started; a cluster that cannot start fails the run.
# Only with the whole suite: mvn args narrow a run to some modules (TRAINQ_E2E=1 runs it anyway,
# TRAINQ_E2E=0 leaves it out). Reports of an earlier run are removed so the summary counts this one.
e2e_note=""
rm -rf "$root/e2e/target/failsafe-reports"
if [ $status -ne 0 ]; then
  e2e_note="end-to-end tests not run: the steps before failed"
elif [ "${TRAINQ_E2E:-}" = 0 ]; then
  e2e_note="end-to-end tests NOT run (TRAINQ_E2E=0)"
elif [ $# -gt 0 ] && [ "${TRAINQ_E2E:-}" != 1 ]; then
  e2e_note="end-to-end tests not run: mvn args narrow the run (scripts/e2e.sh runs them alone)"
else
  # one cluster start for both steps on it: e2e.sh and reliability.sh --pods leave a running one up
  if [ "$(id -u)" = 0 ] && ! scripts/kube-local.sh status >/dev/null 2>&1; then
    step "starting the local cluster (scripts/kube-local.sh up --gpus 4)"
    s=$SECONDS
    scripts/kube-local.sh up --gpus 4 || status=$?
    echo "local cluster up in $(elapsed $s) (exit $status)"
  fi
  if [ $status -eq 0 ]; then
    step "end-to-end tests on the local cluster (scripts/e2e.sh)"
    s=$SECONDS
    scripts/e2e.sh || status=$?
    echo "end-to-end tests finished in $(elapsed $s) (exit $status)"
  fi
  # the reliability suite through the chart's operator and real worker pods (the images
  # the e2e step built): worker processes killed and frozen on the node, worker pods deleted, the
  # operator killed, the quorum leader's node killed, connections closed; report-pods.md
  if [ $status -eq 0 ] && [ "${TRAINQ_RELIABILITY:-}" != 0 ]; then
    log=$root/target/reliability-pods.log
    pod_scenarios=(load retry crash nemesis poison forged alarm deleted)
    step "reliability suite through pods (scripts/reliability.sh --pods --broker 4.0 --profile ci ${pod_scenarios[*]})"
    s=$SECONDS
    rm -f "$root"/target/reliability/report-pods.{md,json}
    if scripts/reliability.sh --pods --broker 4.0 --profile ci "${pod_scenarios[@]}" >"$log" 2>&1; then
      rel_note="$rel_note; through pods passed in $(elapsed $s) (report-pods.md)"
    else
      status=1
      tail -n 40 "$log"
      rel_note="$rel_note; through pods FAILED after $(elapsed $s) (log: ${log#"$root"/})"
      fail_detail=${fail_detail:+$fail_detail$'\n'}$({ grep -E -A20 '^[a-z]+: FAILED' "$log" | grep -E '^[a-z]+: FAILED|^  ' | head -n 30
        grep -E '^\[reliability .*(failed|not finished|appears in:|did not)|Exception|rabbitmq.sh: ' "$log" | tail -n 10; } || true)
    fi
    [ ! -f "$root/target/reliability/report-pods.md" ] || cat "$root/target/reliability/report-pods.md"
  fi
fi

step "summary"
python3 scripts/test-summary.py "$root" || true
[ -z "$bench_note" ] || echo "$bench_note"
[ -z "$rel_note" ] || echo "$rel_note"
[ -z "$e2e_note" ] || echo "$e2e_note"
# the end of the output is what a CI page shows: a failed script step's own lines go last
if [ -n "$fail_detail" ]; then
  echo "--- why the failed step failed (its log's lines):"
  echo "$fail_detail"
fi
echo "total $(elapsed $t0)"
exit $status
