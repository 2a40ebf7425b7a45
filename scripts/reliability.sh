#!/usr/bin/env bash
# The reliability suite: real `trainq run` processes and their real worker JVMs against a real
# 3-node RabbitMQ cluster on loopback, under injected faults; a history checker then compares what
# the task programs executed, what the job's status counts and what the broker holds.
#
#   scripts/reliability.sh [--broker 4.0|3.10] [--profile ci|full] [--seed N] [--tls | --pods] [scenario...]
#
# --tls: the runs and their workers speak amqps to the nodes' TLS listeners (AMQP port + 100), with
# the instance's throwaway CA and host-name verification; reported as broker "<version>+tls".
# --pods: the scenarios (all but interrupt) through the operator and real worker pods instead of
# `trainq run`: the chart on the local single-node cluster (scripts/kube-local.sh, root; started and
# stopped here when it is not running), kubectl apply of each TrainingJob, the stand-in image's task
# program, whose executions reach the checker over loopback; reported as broker "<version>+pods".
#
# Scenarios: load retry crash nemesis poison interrupt forged alarm deleted (all by default; with
# --pods all but interrupt, whose stop and restart of the runner is the nemesis's kill-operator).
# Writes target/reliability/report.md and report.json (report-pods.* with --pods), and each
# scenario's histories under target/reliability/<broker>/<scenario>/.
# Exits 1 when a scenario lost a task, counted one twice, or dead-lettered one unexpectedly.
# What is guaranteed and the figures: docs/reliability.md.
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
broker=4.0 profile=ci seed='' tls=no pods=no scenarios=()
while [ $# -gt 0 ]; do
  case $1 in
    --broker) broker=${2:?}; shift 2 ;;
    --profile) profile=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    --tls) tls=yes; shift ;;
    --pods) pods=yes; shift ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "reliability.sh: unknown option $1" >&2; exit 2 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
case $broker in 4.0 | 3.10) ;; *) echo "reliability.sh: --broker must be 4.0 or 3.10" >&2; exit 2 ;; esac
case $profile in ci | full) ;; *) echo "reliability.sh: --profile must be ci or full" >&2; exit 2 ;; esac
if [ "$pods" = yes ]; then
  [ "$tls" = no ] || { echo "reliability.sh: --tls and --pods do not go together (yet)" >&2; exit 2; }
  [ ${#scenarios[@]} -gt 0 ] || scenarios=(load retry crash nemesis poison forged alarm deleted)
  for s in "${scenarios[@]}"; do
    case $s in interrupt) echo "reliability.sh: interrupt stops and restarts trainq run; on pods the nemesis kills the operator instead" >&2; exit 2 ;; esac
  done
fi
[ ${#scenarios[@]} -gt 0 ] || scenarios=(load retry crash nemesis poison interrupt forged alarm deleted)
for s in "${scenarios[@]}"; do
  case $s in load | retry | crash | nemesis | poison | interrupt | forged | alarm | deleted) ;; *) echo "reliability.sh: unknown scenario $s" >&2; exit 2 ;; esac
done
# one seed for the whole invocation: it drives the nemesis's schedule and the task programs' draws
seed=${seed:-$(( $(date +%s) % 100000 ))}

if [ "$broker" = 4.0 ]; then base=5701 prefix=tq40c; else base=5711 prefix=tq310c; fi
addresses="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
management="http://127.0.0.1:$((base + 10000)),http://127.0.0.1:$((base + 10001)),http://127.0.0.1:$((base + 10002))"
# The runs connect as a user of their own with a random password, which nothing the suite writes may
# show (checked at the end); the harness's own tools use the administrator. Every node is in the
# URI: the runner and its workers go on with another when one is killed.
run_user=trainq-reliability
run_pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
uri="amqp://$run_user:$run_pass@$addresses/%2F"
# what the report and the histories' directories call this broker
label=$broker
if [ "$tls" = yes ]; then
  label=$broker+tls
  uri="amqps://$run_user:$run_pass@127.0.0.1:$((base + 100)),127.0.0.1:$((base + 101)),127.0.0.1:$((base + 102))/%2F"
  # trainq run hands the CA to its workers; the harness's own tools stay on plain AMQP
  export TRAINQ_RABBITMQ_CA_FILE=${TRAINQ_STATE:-$HOME/.cache/trainq/state}/rabbitmq/$broker-3/tls/ca.crt
fi
[ "$pods" = no ] || label=$broker+pods
# the report's name: report.md, and report-pods.md for --pods (the two run side by side in CI)
report=report
[ "$pods" = no ] || report=report-pods
out=$root/target/reliability
gpus=6 gpus_per_worker=2 # three worker processes with two slots each

say() { printf '[reliability %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
rmq() { "$root/scripts/rabbitmq.sh" "$@"; }
tool() {
  java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$root/reliability/target/trainq-reliability.jar:$root/reliability/target/lib/*" \
    io.trainq.reliability.Main "$@"
}

# --- prerequisites ----------------------------------------------------------------------------

say "broker $label, profile $profile, seed $seed, scenarios: ${scenarios[*]}"
rmq start --version "$broker" --nodes 3 >/dev/null
if [ "$tls" = yes ] && [ ! -s "$TRAINQ_RABBITMQ_CA_FILE" ]; then
  echo "reliability.sh: no CA at $TRAINQ_RABBITMQ_CA_FILE (scripts/rabbitmq.sh makes it on an instance's first start)" >&2
  exit 1
fi
if [ ! -f "$root/reliability/target/trainq-reliability.jar" ] || [ ! -f "$root/cli/target/trainq-cli.jar" ] ||
  [ -n "$(find "$root"/{api,protocol,engine,worker,operator,cli,reliability}/src/main -newer "$root/reliability/target/trainq-reliability.jar" -print -quit)" ]; then
  say "building (mvn install -DskipTests)"
  (cd "$root" && mvn -B -ntp -q install -DskipTests)
fi
"$root/trainq" --version >/dev/null # builds the CLI if its sources changed
mkdir -p "$out"
rmq ctl --version "$broker" --nodes 3 --node 1 -- delete_user "$run_user" >/dev/null 2>&1 || true
rmq ctl --version "$broker" --nodes 3 --node 1 -- add_user "$run_user" "$run_pass" >/dev/null
rmq ctl --version "$broker" --nodes 3 --node 1 -- set_permissions -p / "$run_user" '.*' '.*' '.*' >/dev/null

# --- one scenario -----------------------------------------------------------------------------

# The job file: the dummy program, its behaviour through spec.workers.env, the retry settings.
write_job() { # dir name tasks max_attempts backoff_initial backoff_max task_timeout delivery_limit env...
  local dir=$1 name=$2 tasks=$3 attempts=$4 initial=$5 max=$6 timeout=$7 limit=$8
  shift 8
  {
    echo "apiVersion: trainq.io/v1alpha1"
    echo "kind: TrainingJob"
    echo "metadata: {name: $name}"
    echo "spec:"
    echo "  image: python:3.12-slim"
    echo "  command: [python3, $root/reliability/dummy_task.py]"
    echo "  tasks: {count: $tasks}"
    echo "  gpusPerTask: 1"
    echo "  workers:"
    echo "    gpusPerPod: $gpus_per_worker"
    echo "    env:"
    echo "    - {name: REL_LOG, value: \"$dir/executions.jsonl\"}"
    echo "    - {name: REL_SEED, value: \"$seed\"}"
    local kv
    for kv in "$@"; do echo "    - {name: ${kv%%=*}, value: \"${kv#*=}\"}"; done
    echo "  retry:"
    echo "    maxAttempts: $attempts"
    echo "    backoff: {initial: $initial, max: $max}"
    echo "    deliveryLimit: $limit"
    echo "  taskTimeout: $timeout"
  } >"$dir/job.yaml"
}

now() { echo "${EPOCHREALTIME}"; }
fault() { # kind target: one line in faults.jsonl
  printf '{"time": %s, "kind": "%s", "target": "%s"}\n' "$(now)" "$1" "$2" >>"$dir/faults.jsonl"
  say "  fault: $1 $2"
}
workers_of() { pgrep -P "$run_pid" -f io.trainq.worker.WorkerMain | sort -n || true; }
pick() { # a random line of stdin (from the seeded RANDOM)
  local lines=()
  mapfile -t lines
  [ ${#lines[@]} -gt 0 ] || return 1
  echo "${lines[RANDOM % ${#lines[@]}]}"
}
task_queue_leader() {
  local key
  key=$(cat "$dir/key" 2>/dev/null) || return 1
  local m
  for m in ${management//,/ }; do
    curl -fsS -m 5 -u trainq:trainq "$m/api/queues/%2F/tq.$key.tasks" 2>/dev/null |
      python3 -c 'import json,sys; q=json.load(sys.stdin); print(q.get("leader") or q.get("node") or "")' && return 0
  done
  return 1
}

# The nemesis: every few seconds one fault, drawn from the seeded RANDOM, until the run ends.
# nemesis KINDS FAULT ALIVE WARM_UP_S: FAULT K applies fault kind K (0 to KINDS - 1); it goes on
# while ALIVE succeeds.
nemesis() {
  local kinds=$1 apply=$2 alive=$3
  RANDOM=$seed
  stopped_pid=''
  trap '[ -z "$stopped_pid" ] || kill -CONT "$stopped_pid" 2>/dev/null; exit 0' TERM
  sleep "$4" # the workers are up and the first tasks run
  local bag=() i j t
  while "$alive"; do
    # each round is a shuffle of every kind, so a short run still sees each of them
    if [ ${#bag[@]} -eq 0 ]; then
      for ((i = 0; i < kinds; i++)); do bag[i]=$i; done
      for ((i = kinds - 1; i > 0; i--)); do j=$((RANDOM % (i + 1))) t=${bag[i]}; bag[i]=${bag[j]}; bag[j]=$t; done
    fi
    "$apply" "${bag[0]}" || true
    bag=("${bag[@]:1}")
    sleep $((interval_min + RANDOM % (interval_max - interval_min + 1)))
  done
}
run_alive() { kill -0 "$run_pid" 2>/dev/null; }
one_fault() {
  local pid
  # a stopped worker is continued by its timer; after that another may be stopped
  if [ -n "$stopped_pid" ] && [ "$(ps -o stat= -p "$stopped_pid" 2>/dev/null | cut -c1)" != T ]; then stopped_pid=''; fi
  case $1 in
    0)
      pid=$(workers_of | pick) || return 1
      fault kill-worker "$pid"
      kill -KILL "$pid" 2>/dev/null || true
      ;;
    1)
      [ -z "$stopped_pid" ] || return 1
      pid=$(workers_of | pick) || return 1
      stop_for_a_while "$pid" "$pid"
      ;;
    2) kill_leader_node ;;
    3) close_worker_connection "trainq-worker local-" "-$run_pid" ;;
  esac
}

# The faults both nemeses apply (without pods and with them).
# stop_for_a_while TARGET PID: SIGSTOP past the heartbeat timeout (30 s), so the broker drops the
# worker's connection and requeues its tasks, then SIGCONT
stop_for_a_while() {
  fault stop-worker "$1"
  kill -STOP "$2" 2>/dev/null || true
  (sleep "$stop_seconds"; kill -CONT "$2" 2>/dev/null || true; say "  SIGCONT $2") &
  stopped_pid=$2
}
# the node that leads the task queue killed, and started again 3-7 s later
kill_leader_node() {
  local node
  node=$(task_queue_leader) || return 1
  [[ $node == "$prefix"?@localhost ]] || return 1
  fault kill-leader-node "$node"
  rmq kill-node --node "$node" >/dev/null 2>&1 || true
  sleep $((3 + RANDOM % 5))
  rmq start-node --node "$node" >/dev/null 2>&1 || say "  start-node $node failed"
  say "  $node back"
}
# close_worker_connection TEXT [TEXT]: the broker closes one of the connections whose client
# properties hold both texts
close_worker_connection() {
  local conn
  conn=$(rmq ctl --version "$broker" --nodes 3 --node "$(node_up)" -- list_connections pid client_properties --silent 2>/dev/null |
    grep -F -- "$1" | grep -F -- "${2:-$1}" | cut -f1 | pick) || return 1
  fault close-connection "$conn"
  rmq ctl --version "$broker" --nodes 3 --node "$(node_up)" -- close_connection "$conn" "reliability nemesis" >/dev/null 2>&1 || true
}
node_up() { # a node that answers (the nemesis restarts nodes it kills before going on)
  local i
  for i in 1 2 3; do
    if curl -fsS -m 3 -u trainq:trainq "http://127.0.0.1:$((base + 10000 + i - 1))/api/overview" >/dev/null 2>&1; then
      echo "$i"; return
    fi
  done
  echo 1
}

# A worker killed with SIGKILL cannot stop its tasks (docs/worker.md, Limitations): on one machine
# they run on as orphans. Those of this scenario (found by their REL_LOG) end with it.
reap_orphans() {
  local p
  for p in $(pgrep -f "$root/reliability/dummy_task.py" || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "REL_LOG=$1"; then kill -KILL "$p" 2>/dev/null || true; fi
  done
}

# run_scenario NAME TASKS DEADLINE_S EXPECT_DEAD USE_NEMESIS JOB_ARGS...
# USE_NEMESIS: no, yes (the nemesis), interrupt (stop and start the run), forge (forged messages),
# alarm (a memory alarm on node 1 from 6 s to 18 s into the run), delete-queue (the task queue deleted
# by hand 5 s into the run).
# max_restarts (a variable): worker processes that may exit and be restarted; -1 for any number.
run_scenario() {
  local name=$1 tasks=$2 deadline=$3 expect=$4 use_nemesis=$5
  shift 5
  dir=$out/$label/$name
  # the state of an earlier run stays: --fresh then deletes that run's queues (an interrupted one's too)
  mkdir -p "$dir"
  find "$dir" -mindepth 1 -maxdepth 1 ! -name state -exec rm -rf {} +
  local job=rel-$name
  write_job "$dir" "$job" "$tasks" "$@"
  say "$name: $tasks tasks, deadline ${deadline}s"
  local t0 witness_pid code=0 previous_uid=''
  [ ! -f "$dir/state/default.$job.json" ] ||
    previous_uid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("uid", ""))' "$dir/state/default.$job.json")
  nemesis_pid=''
  t0=$(now)
  "$root/trainq" run -f "$dir/job.yaml" --rabbitmq "$uri" --gpus "$gpus" --plain --fresh --state-dir "$dir/state" \
    >"$dir/run.log" 2>&1 &
  run_pid=$!
  tool witness --addresses "$addresses" --state "$dir/state/default.$job.json" --name "$job" --queue "rel.$broker.$name.deadletters" \
    --previous-uid "${previous_uid:-none}" >"$dir/key" 2>"$dir/witness.err" &
  witness_pid=$!
  if [ "$use_nemesis" = yes ]; then
    nemesis 4 one_fault run_alive 8 >"$dir/nemesis.log" 2>&1 &
    nemesis_pid=$!
  fi
  local forger_pid=''
  if [ "$use_nemesis" = forge ]; then
    tool forge --addresses "$addresses" --state "$dir/state/default.$job.json" --name "$job" --tasks "$tasks" \
      --max-attempts "$1" --previous-uid "${previous_uid:-none}" --out "$dir/forged.json" >"$dir/forged.count" 2>"$dir/forger.err" &
    forger_pid=$!
  fi
  local waited=0
  while kill -0 "$run_pid" 2>/dev/null && [ "$waited" -lt "$deadline" ]; do
    sleep 1
    waited=$((waited + 1))
    if [ "$use_nemesis" = alarm ] && [ "$waited" -eq 6 ]; then
      # a watermark far below what the node uses: the memory alarm goes off at once, cluster-wide
      fault memory-alarm "node 1"
      set_watermark 0.00001
      alarm_on=yes
    fi
    if [ "$use_nemesis" = alarm ] && [ "$waited" -eq 18 ]; then
      set_watermark "$watermark"
      alarm_on=''
      say "  memory alarm cleared"
    fi
    if [ "$use_nemesis" = delete-queue ] && [ "$waited" -eq 5 ]; then
      local queue
      queue=$(grep -o -m1 'queue tq\.[^ ]*\.tasks' "$dir/run.log" | cut -d' ' -f2 || true)
      fault delete-queue "${queue:-unknown}"
      [ -z "$queue" ] || rmq ctl --version "$broker" --nodes 3 --node 1 -- delete_queue "$queue" >/dev/null
    fi
    if [ "$use_nemesis" = interrupt ] && [ "$waited" -eq 8 ]; then
      # stopped mid-job, then the same command again: the run continues from its state file. SIGTERM,
      # which the runner handles as Ctrl-C: a background job of a script starts with SIGINT ignored
      fault interrupt-run "$run_pid"
      kill -TERM "$run_pid" 2>/dev/null || true
      wait "$run_pid" || say "$name: the interrupted run exited with $?"
      "$root/trainq" run -f "$dir/job.yaml" --rabbitmq "$uri" --gpus "$gpus" --plain --state-dir "$dir/state" \
        >>"$dir/run.log" 2>&1 &
      run_pid=$!
    fi
  done
  if kill -0 "$run_pid" 2>/dev/null; then
    say "$name: not finished within ${deadline}s: stopping it (SIGTERM, as Ctrl-C) and checking what it left"
    kill -TERM "$run_pid" 2>/dev/null || true
  fi
  wait "$run_pid" || code=$?
  if [ -n "$nemesis_pid" ]; then kill -TERM "$nemesis_pid" 2>/dev/null || true; wait "$nemesis_pid" 2>/dev/null || true; fi
  nemesis_pid='' run_pid=''
  [ -z "$alarm_on" ] || { set_watermark "$watermark"; alarm_on=''; }
  local forged=0 notes=()
  if [ "$use_nemesis" = alarm ] && ! { grep -q "RabbitMQ blocks publishing" "$dir/run.log" &&
    grep -q "RabbitMQ lets the workers publish again" "$dir/run.log"; }; then
    notes+=(--problem "trainq run did not say that the memory alarm blocked its workers and cleared")
  fi
  if [ "$use_nemesis" = delete-queue ] && ! { grep -q "was deleted with" "$dir/run.log" &&
    grep -q "republished [0-9]* task" "$dir/run.log"; }; then
    notes+=(--problem "trainq run did not say that it found the task queue deleted and republished its tasks")
  fi
  if [ -n "$forger_pid" ]; then
    if wait "$forger_pid"; then forged=$(cat "$dir/forged.count"); else say "$name: the forger failed: $(cat "$dir/forger.err")"; forged=-1; fi
  fi
  reap_orphans "$dir/executions.jsonl"
  wait "$witness_pid" || say "$name: the dead-letter witness failed: $(cat "$dir/witness.err")"
  local wall
  wall=$(python3 -c "print(round($(now) - $t0, 1))")
  tool snapshot --addresses "$addresses" --management "$management" --state "$dir/state/default.$job.json" --name "$job" \
    --witness "rel.$broker.$name.deadletters" --out "$dir/broker.json"
  cp "$dir/state/default.$job.json" "$dir/status.json"
  grep -A30 '^TrainingJob ' "$dir/run.log" | sed 's/^/    /' || true
  tool check --scenario "$name" --broker "$label" --seed "$seed" --tasks "$tasks" --executions "$dir/executions.jsonl" \
    --state "$dir/state/default.$job.json" --exit-code "$code" --broker-file "$dir/broker.json" --faults "$dir/faults.jsonl" \
    --expect-dead "$expect" --expect-rejected "$forged" --worker-restarts "$(grep -c 'exited with code' "$dir/run.log" || true)" \
    --max-worker-restarts "$max_restarts" "${notes[@]}" --wall "$wall" --out "$dir/result.json" || failed=1
  results+=("$dir/result.json")
}

# --- through the operator and real pods (--pods) ----------------------------------------------

# The chart on the local single-node cluster, its operator connecting as the run user (an
# administrator here: it makes each job's own broker user through the management API), the workers
# as their job's user. hostNetwork pods on loopback only; one worker pod of 4 GPUs per job (two
# hostNetwork worker pods would want the node's one metrics port).
pods_setup() {
  kube_bin=$HOME/.kubeapitest/k8s/1.35.4-linux-amd64
  helm_bin=${TRAINQ_CACHE:-$HOME/.cache/trainq}/bin/helm
  if ! "$root/scripts/kube-local.sh" status >/dev/null 2>&1; then
    say "starting the local cluster (scripts/kube-local.sh up --gpus 4)"
    "$root/scripts/kube-local.sh" up --gpus 4 >"$out/kube-local-up.log" 2>&1 || { cat "$out/kube-local-up.log" >&2; exit 1; }
    cluster_started=yes
  fi
  kubeconfig=$("$root/scripts/kube-local.sh" kubeconfig)
  containerd_sock=$(dirname "$kubeconfig")/run/containerd.sock
  # the images of this build, on a cluster without a registry (as the e2e module's LocalImages)
  local version tars
  version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$root/helm/trainq/Chart.yaml")
  tars="$root/images/target/trainq-operator-$version.tar $root/images/target/trainq-worker-$version.tar"
  local t
  for t in $tars; do
    if [ ! -f "$t" ] || [ -n "$(find "$root/operator/target/lib" "$root/worker/target/trainq-worker" -newer "$t" -print -quit)" ]; then
      say "building the operator and worker images (images/build.sh)"
      "$root/images/build.sh" --engine buildah --out "$root/images/target" --operator-lib "$root/operator/target/lib" \
        --worker-dist "$root/worker/target/trainq-worker" >"$out/images.log" 2>&1 || { tail -30 "$out/images.log" >&2; exit 1; }
      break
    fi
  done
  t=$root/images/target/trainq-train-standin.tar
  if [ ! -f "$t" ] || [ -n "$(find "$root/images/standin" -newer "$t" -print -quit)" ]; then
    say "building the stand-in training image (images/standin/build.sh)"
    "$root/images/standin/build.sh" >"$out/standin.log" 2>&1 || { tail -30 "$out/standin.log" >&2; exit 1; }
  fi
  "$root/scripts/kube-local.sh" images >/dev/null
  # a namespace an interrupted suite left goes first; its jobs' finalizers need the operator it lost
  if kc get namespace "$pods_ns" >/dev/null 2>&1; then
    say "removing the namespace $pods_ns an earlier run left"
    local j
    for j in $(kc get trainingjobs -n "$pods_ns" -o name 2>/dev/null); do
      kc patch -n "$pods_ns" "$j" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
    done
    "$helm_bin" uninstall trainq-reliability --kubeconfig "$kubeconfig" --namespace "$pods_ns" >/dev/null 2>&1 || true
    kc delete namespace "$pods_ns" --timeout=180s >/dev/null
  fi
  kc create namespace "$pods_ns" >/dev/null
  rmq ctl --version "$broker" --nodes 3 --node 1 -- set_user_tags "$run_user" administrator >/dev/null
  kc create secret generic rel-rabbitmq -n "$pods_ns" --from-literal=username="$run_user" \
    --from-literal=password="$run_pass" --from-literal=host=127.0.0.1 --from-literal=port="$base" >/dev/null
  kc apply --server-side --force-conflicts -f "$root/helm/trainq/crds/" >/dev/null
  say "installing the chart (operator image $version)"
  local s=$SECONDS
  "$helm_bin" install trainq-reliability "$root/helm/trainq" --kubeconfig "$kubeconfig" --namespace "$pods_ns" --skip-crds \
    --wait --timeout 5m --set fullnameOverride=trainq-reliability --set image.pullPolicy=Never --set workerImage.pullPolicy=Never \
    --set rabbitmq.secretName=rel-rabbitmq --set "rabbitmq.addresses=${addresses//,/\\,}" \
    --set "rabbitmq.managementUrl=http://127.0.0.1:$((base + 10000))" \
    --set hostNetwork=true --set metrics.port=18080 \
    --set 'extraEnv[0].name=KUBERNETES_SERVICE_HOST' --set-string 'extraEnv[0].value=127.0.0.1' \
    --set 'extraEnv[1].name=KUBERNETES_SERVICE_PORT' --set-string 'extraEnv[1].value=16443' >"$out/helm.log" 2>&1 ||
    { cat "$out/helm.log" >&2; exit 1; }
  say "operator ready in $((SECONDS - s)) s"
}
kc() { "$kube_bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
pods_teardown() {
  [ -n "${kubeconfig:-}" ] || return 0
  # the jobs first, while their operator runs to remove its finalizer (an interrupted scenario's)
  kc delete trainingjobs -n "$pods_ns" --all --timeout=60s >/dev/null 2>&1 || true
  local j
  for j in $(kc get trainingjobs -n "$pods_ns" -o name 2>/dev/null); do
    kc patch -n "$pods_ns" "$j" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
  done
  "$helm_bin" uninstall trainq-reliability --kubeconfig "$kubeconfig" --namespace "$pods_ns" --wait >/dev/null 2>&1 || true
  kc delete namespace "$pods_ns" --timeout=120s >/dev/null 2>&1 || true
  kubeconfig=''
  if [ "$cluster_started" = yes ]; then
    cluster_started=''
    say "stopping the local cluster this run started"
    "$root/scripts/kube-local.sh" down >/dev/null 2>&1 || say "scripts/kube-local.sh down failed; run it again"
  fi
}

# the host PID of a pod's container (pod container), from containerd
container_pid() {
  local id
  id=$(kc get pod -n "$pods_ns" "$1" -o jsonpath="{.status.containerStatuses[?(@.name==\"$2\")].containerID}" 2>/dev/null) || return 1
  id=${id#containerd://}
  [ -n "$id" ] || return 1
  command ctr --address "$containerd_sock" --namespace k8s.io tasks ls 2>/dev/null | awk -v id="$id" '$1 == id && $3 == "RUNNING" { print $2 }' | grep .
}
running_workers() { # the job's Running worker pods
  kc get pods -n "$pods_ns" -l "trainq.io/job-uid=$job_uid" --field-selector status.phase=Running -o name 2>/dev/null | sed 's|^pod/||'
}
one_pod_fault() {
  local pod pid
  if [ -n "$stopped_pid" ] && [ "$(ps -o stat= -p "$stopped_pid" 2>/dev/null | cut -c1)" != T ]; then stopped_pid=''; fi
  case $1 in
    0) # SIGKILL the worker process from the node: the kubelet restarts the container in place
      pod=$(running_workers | pick) && pid=$(container_pid "$pod" worker) || return 1
      fault kill-worker "$pod/$pid"
      kill -KILL "$pid" 2>/dev/null || true
      ;;
    1) # freeze the worker past the heartbeat timeout: the broker drops its connection and requeues
      [ -z "$stopped_pid" ] || return 1
      pod=$(running_workers | pick) && pid=$(container_pid "$pod" worker) || return 1
      stop_for_a_while "$pod/$pid" "$pid"
      ;;
    2) kill_leader_node ;;
    3) close_worker_connection "trainq-worker $job_name-worker-" ;;
    4) # SIGKILL the operator: the kubelet restarts it, and it takes up the job where its status says
      pod=$(kc get pods -n "$pods_ns" -l app.kubernetes.io/instance=trainq-reliability --field-selector status.phase=Running \
        -o name 2>/dev/null | sed 's|^pod/||' | pick) && pid=$(container_pid "$pod" operator) || return 1
      fault kill-operator "$pod/$pid"
      kill -KILL "$pid" 2>/dev/null || true
      ;;
    5) # a graceful delete of the worker pod (a drain): the operator makes another
      pod=$(running_workers | pick) || return 1
      fault delete-pod "$pod"
      kc delete pod -n "$pods_ns" "$pod" --wait=false >/dev/null 2>&1 || true
      ;;
  esac
}
job_running() { [ -e "$dir/running" ]; }

# run_pod_scenario NAME TASKS DEADLINE_S EXPECT_DEAD MODE MAX_ATTEMPTS DELIVERY_LIMIT TASK_TIMEOUT KEY=VALUE...
# MODE as run_scenario's USE_NEMESIS: no, yes (the pod nemesis), forge, alarm, delete-queue. KEY=VALUE:
# the stand-in's environment (DUMMY_SECONDS, DUMMY_FAIL_RATE, DUMMY_POISON_KILL, ...).
run_pod_scenario() {
  local name=$1 tasks=$2 deadline=$3 expect=$4 mode=$5 attempts=$6 limit=$7 timeout=$8
  shift 8
  dir=$out/$label/$name
  rm -rf "$dir"
  mkdir -p "$dir/logs"
  job_name=rel-$name
  say "$name: $tasks tasks on pods, deadline ${deadline}s"
  tool collect --out "$dir/executions.jsonl" >"$dir/collector.port" 2>"$dir/collector.err" &
  collector_pid=$!
  local waited=0
  while [ ! -s "$dir/collector.port" ] && [ $waited -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
  [ -s "$dir/collector.port" ] || { say "the collector did not start: $(cat "$dir/collector.err")"; exit 1; }
  {
    cat <<YAML
apiVersion: trainq.io/v1alpha1
kind: TrainingJob
metadata: {name: $job_name, namespace: $pods_ns}
spec:
  image: localhost/trainq-train-standin:1
  command: ["/usr/local/bin/dummy-train"]
  tasks: {count: $tasks}
  gpusPerTask: 1
  workers:
    maxPods: 1
    gpusPerPod: 4
    hostNetwork: true
    imagePullPolicy: Never
    idleTimeout: 5s
    env:
    - {name: DUMMY_RECORD_TO, value: "127.0.0.1:$(cat "$dir/collector.port")"}
YAML
    local kv
    for kv in DUMMY_CRASH_RATE=0 DUMMY_FAIL_RATE=0 "$@"; do echo "    - {name: ${kv%%=*}, value: \"${kv#*=}\"}"; done
    echo "  retry: {maxAttempts: $attempts, deliveryLimit: $limit, backoff: {initial: 200ms, max: 2s}}"
    echo "  taskTimeout: $timeout"
  } >"$dir/job.yaml"
  local t0
  t0=$(now)
  kc apply -f "$dir/job.yaml" >/dev/null
  job_uid=$(kc get trainingjob -n "$pods_ns" "$job_name" -o jsonpath='{.metadata.uid}')
  kc get trainingjob -n "$pods_ns" "$job_name" -o json >"$dir/job.json"
  tool witness --addresses "$addresses" --state "$dir/job.json" --namespace "$pods_ns" --name "$job_name" \
    --queue "rel.$label.$name.deadletters" >"$dir/key" 2>"$dir/witness.err" &
  local witness_pid=$! forger_pid=''
  touch "$dir/running"
  if [ "$mode" = yes ]; then
    nemesis 6 one_pod_fault job_running 10 >"$dir/nemesis.log" 2>&1 &
    nemesis_pid=$!
  fi
  if [ "$mode" = forge ]; then
    tool forge --addresses "$addresses" --state "$dir/job.json" --namespace "$pods_ns" --name "$job_name" --tasks "$tasks" \
      --max-attempts "$attempts" --out "$dir/forged.json" >"$dir/forged.count" 2>"$dir/forger.err" &
    forger_pid=$!
  fi
  # the job's status and its pods until it ends; the pods' restarts, and their logs before they go
  local phase='' started=$SECONDS elapsed
  while elapsed=$((SECONDS - started)) && [ "$elapsed" -lt "$deadline" ]; do
    if kc get trainingjob -n "$pods_ns" "$job_name" -o json >"$dir/job.json.tmp" 2>/dev/null; then mv "$dir/job.json.tmp" "$dir/job.json"; fi
    phase=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("status", {}).get("phase", ""))' "$dir/job.json")
    # name, restarts, and the exit code of the container's last termination
    kc get pods -n "$pods_ns" -l "trainq.io/job-uid=$job_uid" -o jsonpath='{range .items[*]}{.metadata.name} {range .status.containerStatuses[?(@.name=="worker")]}{.restartCount} {.lastState.terminated.exitCode}{end}{"\n"}{end}' \
      >>"$dir/pods.txt" 2>/dev/null || true
    local p
    for p in $(running_workers); do
      kc logs -n "$pods_ns" "$p" -c worker >"$dir/logs/$p.log" 2>/dev/null || true
      # a restarted container's predecessor: what it said before it exited
      kc logs -n "$pods_ns" "$p" -c worker --previous >"$dir/logs/$p.previous.log" 2>/dev/null || rm -f "$dir/logs/$p.previous.log"
    done
    case $phase in Succeeded | Failed) break ;; esac
    if [ "$mode" = alarm ] && [ -z "$alarm_done" ] && [ "$elapsed" -ge 6 ] && [ -z "$alarm_on" ]; then
      fault memory-alarm "node 1"
      set_watermark 0.00001
      alarm_on=yes alarm_since=$SECONDS
    fi
    if [ -n "$alarm_on" ] && [ $((SECONDS - alarm_since)) -ge 12 ]; then
      set_watermark "$watermark"
      alarm_on='' alarm_done=yes
      say "  memory alarm cleared"
    fi
    if [ "$mode" = delete-queue ] && [ "$elapsed" -ge 5 ] && [ -z "$deleted" ]; then
      fault delete-queue "tq.$(cat "$dir/key").tasks"
      rmq ctl --version "$broker" --nodes 3 --node 1 -- delete_queue "tq.$(cat "$dir/key").tasks" >/dev/null || say "  delete_queue failed"
      deleted=yes
    fi
    sleep 2
  done
  rm -f "$dir/running"
  if [ -n "$nemesis_pid" ]; then kill -TERM "$nemesis_pid" 2>/dev/null || true; wait "$nemesis_pid" 2>/dev/null || true; fi
  nemesis_pid='' deleted='' alarm_done=''
  [ -z "$alarm_on" ] || { set_watermark "$watermark"; alarm_on=''; }
  case $phase in Succeeded | Failed) ;; *) say "$name: not finished within ${deadline}s (phase ${phase:-none})" ;; esac
  wait "$witness_pid" || say "$name: the dead-letter witness failed: $(cat "$dir/witness.err")"
  local forged=0
  if [ -n "$forger_pid" ]; then
    if wait "$forger_pid"; then forged=$(cat "$dir/forged.count"); else say "$name: the forger failed: $(cat "$dir/forger.err")"; forged=-1; fi
  fi
  local wall
  wall=$(python3 -c "print(round($(now) - $t0, 1))")
  sleep 1 # the last executions' records
  kill -TERM "$collector_pid" 2>/dev/null || true
  wait "$collector_pid" 2>/dev/null || true
  collector_pid=''
  tool snapshot --addresses "$addresses" --management "$management" --state "$dir/job.json" --namespace "$pods_ns" \
    --name "$job_name" --witness "rel.$label.$name.deadletters" --out "$dir/broker.json"
  # what the suite checks for secrets: the operator's log, the job's Events and status, the pods' logs
  kc logs -n "$pods_ns" -l app.kubernetes.io/instance=trainq-reliability --all-containers --tail=-1 >"$dir/logs/operator.log" 2>&1 || true
  kc get events -n "$pods_ns" --field-selector "involvedObject.name=$job_name" -o yaml >"$dir/events.yaml" 2>&1 || true
  local uid_hex=${job_uid//-/}
  kc get secret -n "$pods_ns" "$job_name-broker-user-${uid_hex:0:12}" -o jsonpath='{.data.password}' 2>/dev/null |
    base64 -d >>"$out/.worker-passwords" 2>/dev/null && echo >>"$out/.worker-passwords" || true
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])).get("status", {}); print("    %s: %s, %s" % (s.get("phase"), s.get("progress"), s.get("message", "")))' "$dir/job.json" || true
  # worker restarts: the kubelet's restarts of a worker container that exited non-zero (restartPolicy
  # OnFailure); a pod that replaced another (deleted by the nemesis, or after a clean exit) is not one
  local restarts pods_seen notes=()
  restarts=$(awk 'NF { if (!($1 in max) || $2 + 0 > max[$1]) max[$1] = $2 + 0 } END { s = 0; for (p in max) s += max[p]; print s }' "$dir/pods.txt")
  pods_seen=$(awk 'NF { print $1 }' "$dir/pods.txt" | sort -u | wc -l)
  say "  worker pods: $pods_seen, worker container restarts: $restarts"
  # what the scenario must have shown beyond the counts: the workers said the alarm blocked them and
  # lifted; the operator found the deleted queue and republished (an Event of the job)
  # (grep reads the files itself: grep -q ending a pipe early fails the pipe under pipefail)
  if [ "$mode" = alarm ] && ! { grep -qsh "RabbitMQ blocks connection trainq-worker" "$dir/logs/$job_name"-worker-*.log &&
    grep -qsh "RabbitMQ unblocked connection trainq-worker" "$dir/logs/$job_name"-worker-*.log; }; then
    notes+=(--problem "the worker did not log that the memory alarm blocked it and cleared")
  fi
  if [ "$mode" = delete-queue ] && ! grep -q "TasksRepublished" "$dir/events.yaml"; then
    notes+=(--problem "the job has no TasksRepublished Event after its task queue was deleted")
  fi
  kc delete trainingjob -n "$pods_ns" "$job_name" --timeout=120s >/dev/null 2>&1 || say "$name: the job's delete did not finish"
  touch "$dir/faults.jsonl"
  tool check --scenario "$name" --broker "$label" --seed "$seed" --tasks "$tasks" --executions "$dir/executions.jsonl" \
    --state "$dir/job.json" --exit-code -1 --broker-file "$dir/broker.json" --faults "$dir/faults.jsonl" \
    --expect-dead "$expect" --expect-rejected "$forged" --worker-restarts "$restarts" --max-worker-restarts "$max_restarts" \
    "${notes[@]}" --wall "$wall" --out "$dir/result.json" || failed=1
  results+=("$dir/result.json")
}

failed=0 results=()
run_pid='' nemesis_pid='' alarm_on='' alarm_since=0 alarm_done='' deleted='' collector_pid='' cluster_started='' kubeconfig='' pods_ns=trainq-reliability
# the memory watermark the nodes run with, restored after the alarm scenario
watermark=$(rmq ctl --version "$broker" --nodes 3 --node 1 -- eval 'vm_memory_monitor:get_vm_memory_high_watermark().' 2>/dev/null |
  tr -d '[:space:]')
case $watermark in [0-9]*) ;; *) watermark=0.4 ;; esac
set_watermark() { rmq ctl --version "$broker" --nodes 3 --node 1 -- set_vm_memory_high_watermark "$1" >/dev/null; }
# an interrupted suite leaves no run, no frozen worker, no alarm and no node down behind it
cleanup() {
  [ -z "$alarm_on" ] || set_watermark "$watermark" || true
  [ -z "$nemesis_pid" ] || kill -TERM "$nemesis_pid" 2>/dev/null || true
  [ -z "$run_pid" ] || kill -TERM "$run_pid" 2>/dev/null || true
  [ -z "$collector_pid" ] || kill -TERM "$collector_pid" 2>/dev/null || true
  rmq start --version "$broker" --nodes 3 >/dev/null 2>&1 || true
  [ "$pods" = no ] || pods_teardown
}
trap 'cleanup; exit 130' INT TERM
pod_load_tasks=100
[ "$profile" = ci ] || pod_load_tasks=2000
if [ "$profile" = ci ]; then
  load_tasks=100 load_seconds=0.2,0.5 n_tasks=100 nemesis_tasks=200 nemesis_deadline=180
  interval_min=6 interval_max=10 stop_seconds=40
else
  load_tasks=10000 load_seconds=0.01,0.05 n_tasks=300 nemesis_tasks=800 nemesis_deadline=900
  interval_min=4 interval_max=10 stop_seconds=45
fi
if [ "$pods" = yes ]; then
  rm -f "$out/.worker-passwords"
  trap pods_teardown EXIT
  pods_setup
fi
for s in "${scenarios[@]}"; do
  # where nothing kills a worker, none may exit
  case $s in load | retry | forged | alarm | deleted) max_restarts=0 ;; *) max_restarts=-1 ;; esac
  if [ "$pods" = yes ]; then
    # one worker pod of four slots; the stand-in's duration is DUMMY_SECONDS x uniform(0.5, 1.5)
    case $s in
      load) run_pod_scenario load "$pod_load_tasks" 600 "" no 3 10 1m DUMMY_SECONDS=0.3 ;;
      retry) run_pod_scenario retry "$n_tasks" 300 "" no 10 10 1m DUMMY_SECONDS=0.3 DUMMY_FAIL_RATE=0.2 ;;
      crash) # the original design's rates: 20% of attempts fail, 5% kill their worker (the kubelet restarts it)
        run_pod_scenario crash "$n_tasks" 600 "" no 10 10 1m DUMMY_SECONDS=0.3 DUMMY_CRASH_RATE=0.05 DUMMY_FAIL_RATE=0.2 ;;
      nemesis) # every kind of fault a pod, a node and the operator can meet, on a seeded schedule
        run_pod_scenario nemesis "$nemesis_tasks" $((nemesis_deadline < 420 ? 420 : nemesis_deadline)) "" yes 3 20 1m DUMMY_SECONDS=1 ;;
      poison) # as without pods; the kubelet restarts the worker that index 7 kills
        run_pod_scenario poison 60 300 "3=failed,7=delivery-limit,11=timeout" no 3 4 4s DUMMY_SECONDS=0.3 \
          DUMMY_POISON_FAIL=3 DUMMY_POISON_KILL=7 DUMMY_POISON_HANG=11 DUMMY_HANG_SECONDS=120 ;;
      forged) # the forger against the operator's accounting; tasks 140-147 always fail
        run_pod_scenario forged 150 300 "140=failed,141=failed,142=failed,143=failed,144=failed,145=failed,146=failed,147=failed" \
          forge 3 10 1m DUMMY_SECONDS=0.4 DUMMY_POISON_FAIL=140,141,142,143,144,145,146,147 ;;
      alarm) # a memory alarm blocks every publisher for 12 s mid-job
        run_pod_scenario alarm 150 300 "" alarm 3 10 1m DUMMY_SECONDS=0.4 ;;
      deleted) # the task queue deleted by hand 5 s in: the operator's audit declares it again and republishes
        run_pod_scenario deleted 150 300 "" delete-queue 3 10 1m DUMMY_SECONDS=0.4 ;;
    esac
    continue
  fi
  case $s in
    load) # every task succeeds at its first attempt
      run_scenario load "$load_tasks" 1800 "" no 3 200ms 2s 1m 10 REL_SECONDS="$load_seconds" ;;
    retry) # 20% of attempts fail; ten attempts make a dead letter a one-in-ten-million event per task
      run_scenario retry "$n_tasks" 300 "" no 10 200ms 2s 1m 10 REL_SECONDS=0.2,0.5 REL_FAIL_RATE=0.2 ;;
    crash) # 5% of attempts SIGKILL their worker; the supervisor restarts it, the broker redelivers
      run_scenario crash "$n_tasks" 300 "" no 3 200ms 2s 1m 10 REL_SECONDS=0.2,0.5 REL_CRASH_RATE=0.05 ;;
    nemesis) # a fault every few seconds while tasks run; the seed reproduces the schedule
      run_scenario nemesis "$nemesis_tasks" "$nemesis_deadline" "" yes 3 200ms 2s 1m 20 REL_SECONDS=0.5,1.5 ;;
    interrupt) # the run is stopped after 8 s and started again with the same command; 10% of attempts
      # fail, and ten attempts make a dead letter a one-in-10^10 event per task (with three, one of the
      # 150 tasks was dead-lettered in one run out of seven: 150 x 0.1^3)
      run_scenario interrupt 150 300 "" interrupt 10 200ms 2s 1m 10 REL_SECONDS=0.2,0.5 REL_FAIL_RATE=0.1 ;;
    poison) # index 3 always fails, 7 always kills its worker, 11 always hangs past the 4 s timeout
      run_scenario poison 60 300 "3=failed,7=delivery-limit,11=timeout" no 3 200ms 1s 4s 4 REL_SECONDS=0.2,0.5 \
        REL_POISON_FAIL=3 REL_POISON_KILL=7 REL_POISON_HANG=11 REL_HANG_SECONDS=120 ;;
    forged) # a client with the broker's credentials forges tasks, events and dead letters mid-run
      # (reliability Forger): tasks 140-147 always fail, so a forged success that was believed shows
      run_scenario forged 150 300 "140=failed,141=failed,142=failed,143=failed,144=failed,145=failed,146=failed,147=failed" \
        forge 3 200ms 1s 1m 10 REL_SECONDS=0.3,0.6 REL_POISON_FAIL=140,141,142,143,144,145,146,147 ;;
    alarm) # a memory alarm blocks every publisher for 12 s mid-run; then the job goes on
      run_scenario alarm 150 300 "" alarm 3 200ms 2s 1m 10 REL_SECONDS=0.3,0.6 ;;
    deleted) # the task queue is deleted by hand 5 s into the run: the run declares it again and
      # republishes the tasks lost with it (QueueAudit), and the workers that exited start again
      run_scenario deleted 150 300 "" delete-queue 3 200ms 2s 1m 10 REL_SECONDS=0.3,0.6 ;;
  esac
done

# no password in anything the runs wrote: logs, state files, histories, broker snapshots, results;
# on pods also the operator's and the workers' logs, the Events and each job's own broker password
[ "$pods" = no ] || pods_teardown
leaks=$(grep -rlF -- "$run_pass" "$out/$label" 2>/dev/null || true)
if [ -s "$out/.worker-passwords" ]; then
  while read -r p; do
    [ -z "$p" ] || leaks="$leaks $(grep -rlF -- "$p" "$out/$label" 2>/dev/null || true)"
  done <"$out/.worker-passwords"
  say "checked $(grep -c . "$out/.worker-passwords") job broker password(s) too"
  rm -f "$out/.worker-passwords"
fi
leaks=$(echo $leaks)
rmq ctl --version "$broker" --nodes 3 --node 1 -- delete_user "$run_user" >/dev/null 2>&1 || true
if [ -n "$leaks" ]; then
  say "the runs' broker password appears in: $(echo $leaks)"
  failed=1
else
  say "the runs' broker password appears in none of the $(find "$out/$label" -type f | wc -l) files they wrote"
fi

# the report covers this invocation's scenarios (each broker's histories stay under target/reliability/<broker>/)
tool report --out "$out" --name "$report" "${results[@]}" >/dev/null
cat "$out/$report.md"
say "report: $out/$report.md, $out/$report.json"
exit "$failed"
