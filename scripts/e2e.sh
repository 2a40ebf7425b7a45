#!/usr/bin/env bash
# The end-to-end tests (the e2e/ module, -Pe2e) on the local single-node cluster: pods that really
# run, on fake GPUs, against the RabbitMQ 4.0 single node that scripts/rabbitmq.sh starts.
#
#   scripts/e2e.sh [extra mvn args]     e.g. scripts/e2e.sh -Dit.test='TrainingJobOnPodsIT#suspend*'
#
# Starts the cluster with `scripts/kube-local.sh up` when it is not running (that builds and installs
# what is missing, as root), runs the tests, and stops the cluster again if it started it. A cluster
# that cannot start fails the run; nothing is skipped. The results land in e2e/target/failsafe-reports,
# where scripts/test-summary.py counts them.
#
# TRAINQ_TEST_CLUSTER (default `local`) chooses the cluster as testkit's TestCluster reads it; the
# host-side kill of a worker needs `local` (it finds the container's process through containerd).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export TRAINQ_PROJECT_ROOT="$root"
export TRAINQ_TEST_CLUSTER=${TRAINQ_TEST_CLUSTER:-local}

t0=$SECONDS
was_up=0
scripts/kube-local.sh status >/dev/null 2>&1 && was_up=1

stop_cluster() {
  # also a half-started one (the status is read whole: grep -q closing the pipe early fails under pipefail)
  if [ $was_up = 0 ] && [[ "$(scripts/kube-local.sh status 2>/dev/null || true)" == *": running"* ]]; then
    echo "==> stopping the local cluster this run started"
    scripts/kube-local.sh down >/dev/null 2>&1 || echo "scripts/kube-local.sh down failed; run it again" >&2
  fi
}
trap stop_cluster EXIT

if [ "$TRAINQ_TEST_CLUSTER" = local ]; then
  if [ $was_up = 1 ]; then
    echo "==> local cluster already running (left running afterwards)"
  else
    echo "==> starting the local cluster (scripts/kube-local.sh up --gpus 4)"
    scripts/kube-local.sh up --gpus 4
  fi
  # the tests' cluster is this one, not a KUBECONFIG the shell may export
  unset KUBECONFIG
fi

# -am builds what e2e/ needs (the operator's lib, the worker's runtime) without re-running their
# tests: no unit tests, and only e2e/'s integration tests match it.test.
echo "==> end-to-end tests"
s=$SECONDS
status=0
mvn -B -ntp -Dstyle.color=never verify -Pe2e -pl e2e -am -Dsurefire.skip=true \
  -Dit.test='io.trainq.e2e.*IT' -Dfailsafe.failIfNoSpecifiedTests=false "$@" || status=$?
echo "end-to-end tests finished in $(( SECONDS - s )) s (exit $status); e2e.sh total $(( SECONDS - t0 )) s"
exit $status
