#!/usr/bin/env bash
# Real RabbitMQ brokers on loopback for trainq's broker-tier tests.
#
# RabbitMQ 4.0 runs from a Debian trixie chroot made with debootstrap; RabbitMQ 3.10 is
# the host's Debian bookworm package. Each version runs as a single node or a 3-node
# cluster on fixed loopback ports, so all four instances can run at once.
# Port plan, layout and usage: docs/testing-brokers.md.
set -euo pipefail

readonly CACHE_DIR=${TRAINQ_CACHE:-$HOME/.cache/trainq}
readonly STATE_ROOT=${TRAINQ_STATE:-$HOME/.cache/trainq/state}/rabbitmq
readonly CHROOT=$CACHE_DIR/rabbitmq-4.0-chroot
readonly DEBIAN_MIRROR=${TRAINQ_DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly HOST_RMQ_BIN=/usr/lib/rabbitmq/bin # the 3.10 package on the host
readonly RMQ_BIN=/usr/lib/rabbitmq/bin      # the 4.0 package, inside the chroot
# Where the nodes see STATE_ROOT: a bind mount inside the chroot (4.0), or inside a
# private mount namespace (3.10), because the rabbitmq user cannot traverse a 0700 $HOME.
readonly NODE_STATE_ROOT=/var/lib/rabbitmq
readonly LOOPBACK_DIST='-kernel inet_dist_use_interface {127,0,0,1}'
readonly START_TIMEOUT_S=${TRAINQ_RABBITMQ_START_TIMEOUT:-180}
readonly USER_NAME=trainq USER_PASS=trainq
readonly SAFE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

usage() {
  cat <<'EOF'
usage: scripts/rabbitmq.sh COMMAND [--version 4.0|3.10] [--nodes 1|3] [--node N|NAME]
                           [--tool rabbitmqctl|rabbitmq-queues|rabbitmq-diagnostics|rabbitmq-plugins]
                           [-- ARGS]
commands:
  provision   build the RabbitMQ 4.0 chroot (debootstrap trixie) if it is not cached
  start       start the instance (3 nodes: start, cluster, wait until all run); idempotent
  stop        stop every node of the instance gracefully
  status      print each node's state; exit status 0 when all run, 3 otherwise
  uris        print one AMQP URI per node
  ctl         run a CLI tool against --node (default 1): ctl --node 2 -- list_queues
  kill-node   SIGKILL the node's Erlang VM
  stop-node   stop the node gracefully
  start-node  start the node again and wait until it runs and has rejoined its cluster
  reset       stop the instance and delete its state (users, queues, cluster membership)
defaults: --version 4.0 --nodes 1; --node also takes a node name (tq40c2@localhost),
which implies its version and size. Ports (AMQP; amqps +100; management +10000, over https
+10100; prometheus +9000; distribution +20000): 4.0: 5672 and 5701-5703; 3.10: 5682 and 5711-5713. The amqps
listeners' CA and client certificate: ~/.cache/trainq/state/rabbitmq/<version>-<nodes>/tls/.
EOF
}

log() { printf 'rabbitmq.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
die_pkg() { die "missing package $1: apt-get install -y $1"; }

now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((t / 1000)); }
# Seconds since $1 (from now_ms), with one decimal.
since() { local d=$(($(now_ms) - $1)); printf '%d.%d s' $((d / 1000)) $((d % 1000 / 100)); }

# --- arguments ------------------------------------------------------------------------

cmd=${1:-}
[ $# -gt 0 ] && shift
version=4.0 nodes='' node=1 node_given=false tool=rabbitmqctl
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --version) version=${2:?--version needs a value}; shift 2 ;;
    --version=*) version=${1#*=}; shift ;;
    --nodes) nodes=${2:?--nodes needs a value}; shift 2 ;;
    --nodes=*) nodes=${1#*=}; shift ;;
    --node) node=${2:?--node needs a value}; node_given=true; shift 2 ;;
    --node=*) node=${1#*=}; node_given=true; shift ;;
    --tool) tool=${2:?--tool needs a value}; shift 2 ;;
    --tool=*) tool=${1#*=}; shift ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# A node name carries its instance: tq<40|310><s|c><index>@localhost.
if [[ $node =~ ^tq(40|310)([sc])([1-3])@localhost$ ]]; then
  case ${BASH_REMATCH[1]} in 40) version=4.0 ;; 310) version=3.10 ;; esac
  case ${BASH_REMATCH[2]} in s) nodes=1 ;; c) nodes=3 ;; esac
  node=${BASH_REMATCH[3]}
elif ! [[ $node =~ ^[1-3]$ ]]; then
  die "--node must be 1, 2, 3 or a node name such as tq40c2@localhost, not '$node'"
fi
# `--node 2` alone means the 3-node cluster; `--node 1` alone is ambiguous for the
# node operations, and killing the wrong instance's node would be a silent mistake.
if [ -z "$nodes" ]; then
  if [ "$node" -gt 1 ]; then
    nodes=3
  elif [ "$node_given" = true ] && [[ $cmd == *-node ]]; then
    die "$cmd --node 1: add --nodes 1 or --nodes 3, or pass the node name (such as tq40c1@localhost)"
  else
    nodes=1
  fi
fi
case $version in 4.0 | 3.10) ;; *) die "--version must be 4.0 or 3.10, not '$version'" ;; esac
case $nodes in 1 | 3) ;; *) die "--nodes must be 1 or 3, not '$nodes'" ;; esac
[ "$node" -le "$nodes" ] || die "--node $node does not exist in a $nodes-node instance"
case $tool in
  rabbitmqctl | rabbitmq-queues | rabbitmq-diagnostics | rabbitmq-plugins) ;;
  *) die "--tool must be rabbitmqctl, rabbitmq-queues, rabbitmq-diagnostics or rabbitmq-plugins" ;;
esac

# --- the instance ---------------------------------------------------------------------

inst=$version-$nodes
case $inst in
  4.0-1) base_port=5672 prefix=tq40s ;;
  4.0-3) base_port=5701 prefix=tq40c ;;
  3.10-1) base_port=5682 prefix=tq310s ;;
  3.10-3) base_port=5711 prefix=tq310c ;;
esac
label="RabbitMQ $version ($nodes node$([ "$nodes" = 1 ] || echo s))"
inst_dir=$STATE_ROOT/$inst        # as root on the host sees it
node_dir=$NODE_STATE_ROOT/$inst   # as the nodes see it
if [ "$version" = 4.0 ]; then cli_dir=$node_dir; else cli_dir=$inst_dir; fi

port_of() { echo $((base_port + $1 - 1)); }
tls_port_of() { echo $(($(port_of "$1") + 100)); }
name_of() { echo "$prefix$1@localhost"; }
pid_file_of() { echo "$inst_dir/pids/$prefix$1.pid"; }
indexes() { seq 1 "$nodes"; }

# The uid:gid the nodes run as (the chroot has its own passwd, so ids may differ).
rabbitmq_ids() {
  if [ "$version" = 4.0 ]; then
    local uid gid
    uid=$(awk -F: '$1 == "rabbitmq" {print $3}' "$CHROOT/etc/passwd")
    gid=$(awk -F: '$1 == "rabbitmq" {print $3}' "$CHROOT/etc/group")
    if [ -z "$uid" ] || [ -z "$gid" ]; then
      die "no rabbitmq user in $CHROOT; remove that directory and run: scripts/rabbitmq.sh provision"
    fi
    echo "$uid:$gid"
  else
    echo "$(id -u rabbitmq):$(id -g rabbitmq)"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when $1 is a live beam.smp of node $2. RabbitMQ names its node at runtime, so
# launch_node passes the name as an inert `-trainq_node NAME` flag that marks the VM.
is_node_vm() {
  local pid=$1 name=$2
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = beam.smp ] &&
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -A1 -x -- '-trainq_node' | grep -qxF -- "$name"
}

# Prints the pid of node $1's Erlang VM; fails when it is not running.
node_pid() {
  local i=$1 name pid f
  name=$(name_of "$i")
  f=$(pid_file_of "$i")
  if [ -s "$f" ]; then
    pid=$(<"$f")
    if is_node_vm "$pid" "$name"; then echo "$pid"; return 0; fi
  fi
  # The pid file is written a moment after the VM starts, and is stale after a SIGKILL.
  for pid in $(pgrep -f -- "-trainq_node $name( |\$)" || true); do
    if is_node_vm "$pid" "$name"; then echo "$pid"; return 0; fi
  done
  return 1
}

# --- prerequisites, chroot, mounts, epmd -----------------------------------------------

require_root() {
  [ "$(id -u)" = 0 ] || die "run as root (it mounts, chroots and runs the nodes as the rabbitmq user)"
}

require_prerequisites() {
  require_root
  if [ "$version" = 3.10 ]; then
    if [ ! -x "$HOST_RMQ_BIN/rabbitmq-server" ] || ! id rabbitmq >/dev/null 2>&1; then
      die_pkg rabbitmq-server
    fi
  else
    chroot_ready || command -v debootstrap >/dev/null || die_pkg debootstrap
  fi
}

chroot_ready() { [ -f "$CHROOT/.trainq-complete" ]; }

# Mount targets below $1, deepest first.
mounts_under() {
  awk -v p="$1" '$5 == p || index($5, p "/") == 1 {print $5}' /proc/self/mountinfo | sort -r
}

is_mounted() { awk -v p="$1" '$5 == p {found = 1} END {exit !found}' /proc/self/mountinfo; }

# Deletes a tree that may still hold mounts (an interrupted debootstrap leaves proc and
# sys mounted); never follows a mount into the host's /dev or state.
remove_tree() {
  local m
  for m in $(mounts_under "$1"); do umount "$m" || umount -l "$m"; done
  [ -z "$(mounts_under "$1")" ] || die "$1 still has mounts; not deleting it"
  rm -rf --one-file-system "$1"
}

provision() {
  chroot_ready && return 0
  require_root
  command -v debootstrap >/dev/null || die_pkg debootstrap
  mkdir -p "$CACHE_DIR"
  exec 7>"$CACHE_DIR/.rabbitmq-4.0-chroot.lock"
  flock 7
  chroot_ready && return 0 # built by another invocation while we waited
  [ ! -e "$CHROOT" ] || die "$CHROOT exists but is incomplete; delete it (umount anything under it first)"
  local stale tmp t0 logf=$CACHE_DIR/rabbitmq-4.0-chroot.debootstrap.log rmq_version
  for stale in "$CACHE_DIR"/rabbitmq-4.0-chroot.tmp.*; do
    [ -e "$stale" ] && { log "removing interrupted build $stale"; remove_tree "$stale"; }
  done
  t0=$(now_ms)
  tmp=$(mktemp -d "$CACHE_DIR/rabbitmq-4.0-chroot.tmp.XXXXXX")
  chmod 755 "$tmp"
  log "provisioning the RabbitMQ 4.0 chroot: debootstrap trixie from $DEBIAN_MIRROR (log: $logf)"
  if ! debootstrap --variant=minbase --include=rabbitmq-server trixie "$tmp" "$DEBIAN_MIRROR" >"$logf" 2>&1; then
    tail -n 20 "$logf" >&2
    remove_tree "$tmp"
    die "debootstrap failed (full log: $logf)"
  fi
  # Package scripts must not have left daemons running from the new tree.
  local pid
  for pid in $(pgrep -x 'beam.smp|epmd' || true); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$tmp" ] && kill -KILL "$pid"
  done
  for stale in $(mounts_under "$tmp"); do umount "$stale" || umount -l "$stale"; done
  grep -qw localhost "$tmp/etc/hosts" 2>/dev/null || echo '127.0.0.1 localhost' >>"$tmp/etc/hosts"
  [ -x "$tmp$RMQ_BIN/rabbitmq-server" ] || die "the chroot has no $RMQ_BIN/rabbitmq-server"
  # shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
  rmq_version=$(chroot "$tmp" dpkg-query -W -f='${Version}' rabbitmq-server)
  echo "rabbitmq-server $rmq_version" >"$tmp/.trainq-complete"
  mv -T "$tmp" "$CHROOT"
  log "chroot provisioned in $(since "$t0") (rabbitmq-server $rmq_version, $(du -sh --one-file-system "$CHROOT" | cut -f1))"
}

# Holds fd 9 shared for the rest of the run, so `stop` of another instance does not
# unmount the chroot's mounts under us.
lock_mounts_shared() {
  mkdir -p "$STATE_ROOT"
  exec 9>"$STATE_ROOT/.mounts.lock"
  flock -s 9
}

ensure_chroot_mounts() {
  [ "$version" = 4.0 ] || return 0
  local src dst
  for src in /proc /dev "$STATE_ROOT"; do
    if [ "$src" = "$STATE_ROOT" ]; then dst=$CHROOT$NODE_STATE_ROOT; else dst=$CHROOT$src; fi
    mkdir -p "$dst"
    is_mounted "$dst" || mount --bind "$src" "$dst"
  done
}

any_chroot_node_alive() {
  local pid root
  for pid in $(pgrep -x beam.smp || true); do
    root=$(readlink "/proc/$pid/root" 2>/dev/null) || continue
    [ "$root" = "$CHROOT" ] && return 0
  done
  return 1
}

# Unmounts the chroot's mounts once no 4.0 node runs and no other invocation uses them.
release_chroot_mounts() {
  [ "$version" = 4.0 ] || return 0
  exec 9>&-
  any_chroot_node_alive && return 0
  exec 9>"$STATE_ROOT/.mounts.lock"
  flock -n 9 || return 0
  local m
  for m in "$CHROOT$NODE_STATE_ROOT" "$CHROOT/dev" "$CHROOT/proc"; do
    is_mounted "$m" && { umount "$m" || log "warning: could not unmount $m (in use)"; }
  done
  exec 9>&-
}

# One epmd on 127.0.0.1:4369 serves the host's 3.10 nodes and the chroot's 4.0 nodes.
ensure_epmd() {
  port_open 4369 && return 0
  local epmd=/usr/bin/epmd
  if [ -x "$epmd" ]; then
    (cd / && setsid runuser -u rabbitmq -- "$epmd" -daemon -address 127.0.0.1 </dev/null >/dev/null 2>&1 7>&- 8>&- 9>&-)
  else
    chroot --userspec="$(rabbitmq_ids)" "$CHROOT" /usr/bin/env -i PATH="$SAFE_PATH" \
      epmd -daemon -address 127.0.0.1 </dev/null >/dev/null 2>&1 7>&- 8>&- 9>&-
  fi
  local deadline=$((SECONDS + 10))
  while [ $SECONDS -lt "$deadline" ]; do port_open 4369 && return 0; sleep 0.1; done
  die "epmd did not start on 127.0.0.1:4369"
}

# --- the CLI tools --------------------------------------------------------------------

# cli I TOOL ARGS...: runs a RabbitMQ CLI tool as root against node I with the
# instance's cookie; inside the chroot for 4.0.
cli() {
  local i=$1 tool=$2
  shift 2
  local -a envs=(
    HOME="$cli_dir/home" LANG=C.UTF-8 LC_ALL=C.UTF-8 PATH="$SAFE_PATH"
    RABBITMQ_CONF_ENV_FILE="$cli_dir/rabbitmq-env.conf"
    RABBITMQ_CTL_ERL_ARGS="$LOOPBACK_DIST"
    ERL_EPMD_ADDRESS=127.0.0.1
  )
  if [ "$version" = 4.0 ]; then
    chroot "$CHROOT" /usr/bin/env -i "${envs[@]}" "$RMQ_BIN/$tool" -n "$(name_of "$i")" "$@"
  else
    /usr/bin/env -i "${envs[@]}" "$HOST_RMQ_BIN/$tool" -n "$(name_of "$i")" "$@"
  fi
}

# Runs a command silently; shows its output only when it fails (the 3.10 CLI echoes
# harmless node log lines during join_cluster).
quietly() {
  local out
  out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
}

# Members (disk nodes) or running nodes, as seen by node $1: cluster_nodes I disk_nodes|running_nodes
cluster_nodes() {
  local json
  json=$(cli "$1" rabbitmqctl -q cluster_status --formatter json 2>/dev/null | tr -d '\n') || return 1
  sed -n "s/.*\"$2\":\[\([^]]*\)\].*/\1/p" <<<"$json" | tr -d '" ' | tr ',' '\n' | grep . || true
}

# --- instance files -------------------------------------------------------------------

# Throwaway certificates for the TLS listeners, made once per instance under $inst_dir/tls: a CA,
# a server certificate for localhost and 127.0.0.1 (not 127.0.0.2), and a client certificate
# (CN trainq-test-client); keys are PKCS#8 PEM, readable by the nodes' user (and root).
make_tls_files() {
  local uid=$1 gid=$2 d=$inst_dir/tls
  if [ ! -s "$d/client.key" ]; then
    command -v openssl >/dev/null || die_pkg openssl
    install -d -m 750 -o "$uid" -g "$gid" "$d"
    local ext
    ext=$(mktemp)
    (
      set -e
      cd "$d"
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=trainq test CA ($inst)" \
        -keyout ca.key -out ca.crt -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$ext"
      openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$ext" -out server.crt
      printf 'extendedKeyUsage=clientAuth\n' >"$ext"
      openssl req -newkey rsa:2048 -nodes -subj /CN=trainq-test-client -keyout client.key.tmp -out client.csr
      openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$ext" -out client.crt
      rm -f server.csr client.csr ca.srl
      mv client.key.tmp client.key
    ) >"$d/openssl.log" 2>&1 || { rm -f "$ext"; die "making the TLS certificates failed: $(tail -n 3 "$d/openssl.log")"; }
    rm -f "$ext"
  fi
  chown -R "$uid:$gid" "$d"
  chmod 640 "$d"/*.key
}

prepare_instance() {
  local ids uid gid i port d
  ids=$(rabbitmq_ids)
  uid=${ids%:*} gid=${ids#*:}
  install -d -m 755 "$STATE_ROOT"
  install -d -m 750 -o "$uid" -g "$gid" "$inst_dir"
  for d in home conf mnesia log pids; do install -d -m 750 -o "$uid" -g "$gid" "$inst_dir/$d"; done
  if [ ! -s "$inst_dir/home/.erlang.cookie" ]; then
    local cookie
    cookie=$(head -c 1024 /dev/urandom | tr -dc '[:upper:]')
    cookie=${cookie:0:20}
    [ ${#cookie} -ge 16 ] || cookie=TRAINQ$(date +%s%N)
    (umask 077 && printf '%s' "$cookie" >"$inst_dir/home/.erlang.cookie")
  fi
  chown "$uid:$gid" "$inst_dir/home/.erlang.cookie"
  chmod 400 "$inst_dir/home/.erlang.cookie"
  : >"$inst_dir/rabbitmq-env.conf"
  echo '[rabbitmq_management,rabbitmq_prometheus].' >"$inst_dir/enabled_plugins"
  chown "$uid:$gid" "$inst_dir/enabled_plugins"
  make_tls_files "$uid" "$gid"
  for i in $(indexes); do
    port=$(port_of "$i")
    cat >"$inst_dir/conf/$prefix$i.conf" <<EOF
# Written by scripts/rabbitmq.sh on every start; edits are lost.
listeners.tcp.1 = 127.0.0.1:$port
# TLS (amqps) with the instance's throwaway certificates; 127.0.0.2 too, which the server
# certificate does not name, for hostname-verification tests. Client certificates are verified
# when sent, not required.
listeners.ssl.1 = 127.0.0.1:$(tls_port_of "$i")
listeners.ssl.2 = 127.0.0.2:$(tls_port_of "$i")
ssl_options.cacertfile = $node_dir/tls/ca.crt
ssl_options.certfile = $node_dir/tls/server.crt
ssl_options.keyfile = $node_dir/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
# The management API over https too (its AMQP port + 10100), with the same certificates.
management.ssl.ip = 127.0.0.1
management.ssl.port = $((port + 10100))
management.ssl.cacertfile = $node_dir/tls/ca.crt
management.ssl.certfile = $node_dir/tls/server.crt
management.ssl.keyfile = $node_dir/tls/server.key
management.tcp.ip = 127.0.0.1
management.tcp.port = $((port + 10000))
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $((port + 9000))
# Fresher management API numbers for tests (default 5000).
collect_statistics_interval = 1000
log.console = false
log.file.level = info
EOF
  done
}

# Starts node $1's VM in the background, detached from this shell; prints the launcher pid.
launch_node() {
  local i=$1 name port out
  name=$(name_of "$i")
  port=$(port_of "$i")
  out=$inst_dir/log/$prefix$i.stdout.log
  rm -f "$(pid_file_of "$i")"
  local -a envs=(
    HOME="$node_dir/home" LANG=C.UTF-8 LC_ALL=C.UTF-8 PATH="$SAFE_PATH"
    RABBITMQ_NODENAME="$name" RABBITMQ_USE_LONGNAME=false
    RABBITMQ_DIST_PORT=$((port + 20000))
    RABBITMQ_CONF_ENV_FILE="$node_dir/rabbitmq-env.conf"
    RABBITMQ_CONFIG_FILE="$node_dir/conf/$prefix$i.conf"
    RABBITMQ_ENABLED_PLUGINS_FILE="$node_dir/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$node_dir/mnesia"
    RABBITMQ_LOG_BASE="$node_dir/log"
    RABBITMQ_PID_FILE="$node_dir/pids/$prefix$i.pid"
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$LOOPBACK_DIST -trainq_node $name"
    ERL_EPMD_ADDRESS=127.0.0.1
  )
  echo "--- $(date -Is) starting $name" >>"$out"
  if [ "$version" = 4.0 ]; then
    setsid chroot --userspec="$(rabbitmq_ids)" "$CHROOT" /usr/bin/env -i "${envs[@]}" \
      "$RMQ_BIN/rabbitmq-server" </dev/null >>"$out" 2>&1 7>&- 8>&- 9>&- &
  else
    # runuser's PAM session (pam_limits) lowers the soft open-files limit to 1024, too few for a
    # node that serves many clients: the node raises it back to its hard limit, as the 4.0 one has.
    # shellcheck disable=SC2016 # expanded by the inner shells
    setsid unshare --mount --propagation private -- /bin/sh -c \
      'mount --bind "$1" "$2" && shift 2 && cd / &&
       exec runuser -u rabbitmq -- /bin/sh -c '\''ulimit -n "$(ulimit -Hn)" && exec "$@"'\'' node "$@"' launch \
      "$STATE_ROOT" "$NODE_STATE_ROOT" /usr/bin/env -i "${envs[@]}" "$HOST_RMQ_BIN/rabbitmq-server" \
      </dev/null >>"$out" 2>&1 7>&- 8>&- 9>&- &
  fi
  echo $!
}

log_size() { stat -c %s "$inst_dir/log/$(name_of "$1").log" 2>/dev/null || echo 0; }

# True when node $1's log since byte $2 ends waiting for Mnesia tables from its peers
# (each boot logs the wait; a node that can boot alone logs the sync right after).
waits_for_peers() {
  tail -c +"$(($2 + 1))" "$inst_dir/log/$(name_of "$1").log" 2>/dev/null |
    grep -E 'Waiting for Mnesia tables|Successfully synced tables' | tail -n 1 | grep -q Waiting
}

# wait_booted I [LAUNCHER_PID [LOG_OFFSET]]: waits until node I serves AMQP and its app
# runs. With LOG_OFFSET, returns 2 as soon as the node is seen waiting for its peers.
wait_booted() {
  local i=$1 launcher=${2:-} offset=${3:-} name deadline waiting_since=
  name=$(name_of "$i")
  deadline=$((SECONDS + START_TIMEOUT_S))
  while ! port_open "$(port_of "$i")"; do
    if ! node_pid "$i" >/dev/null && { [ -z "$launcher" ] || ! kill -0 "$launcher" 2>/dev/null; }; then
      tail -n 30 "$inst_dir/log/$prefix$i.stdout.log" >&2 || true
      die "$name exited during start; logs: $inst_dir/log/"
    fi
    [ $SECONDS -lt "$deadline" ] || die "$name did not open port $(port_of "$i") within ${START_TIMEOUT_S} s; logs: $inst_dir/log/"
    if [ -n "$offset" ] && waits_for_peers "$i" "$offset"; then
      [ -n "$waiting_since" ] || waiting_since=$SECONDS
      [ $((SECONDS - waiting_since)) -lt 3 ] || return 2
    else
      waiting_since=
    fi
    sleep 0.5
  done
  quietly cli "$i" rabbitmqctl -q await_startup --timeout "$START_TIMEOUT_S" ||
    die "$name did not finish booting; logs: $inst_dir/log/"
}

# Starts the nodes that are down and brings up the app on nodes whose VM runs without it.
# New nodes boot together. Nodes with data boot one after another, because a node (3.10
# and 4.0 alike) crashes syncing feature flags or the schema with a peer that boots at
# the same moment; a node that did not stop last waits for its peers' tables, and the
# next one starts while it waits (it boots once the node that stopped last is up).
start_nodes() {
  local i k rc offset down=()
  local -A launchers=() started=() booted=()
  for i in "$@"; do
    if node_pid "$i" >/dev/null; then
      if ! port_open "$(port_of "$i")" && ! cli "$i" rabbitmq-diagnostics -q check_running >/dev/null 2>&1; then
        log "$(name_of "$i") runs without its app; starting the app"
        quietly cli "$i" rabbitmqctl -q start_app || true
      fi
    elif [ ! -d "$inst_dir/mnesia/$(name_of "$i")" ]; then
      # A node without data is standalone until it joins: it syncs with nobody at boot.
      launchers[$i]=$(launch_node "$i")
      started[$i]=$(now_ms)
    else
      [ -e "$(pid_file_of "$i")" ] && log "removing stale pid file of $(name_of "$i")"
      down+=("$i")
    fi
  done
  for ((k = 0; k < ${#down[@]}; k++)); do
    i=${down[k]}
    offset=$(log_size "$i")
    launchers[$i]=$(launch_node "$i")
    started[$i]=$(now_ms)
    rc=0
    wait_booted "$i" "${launchers[$i]}" "$offset" || rc=$?
    if [ "$rc" = 2 ]; then
      log "$(name_of "$i") waits for its cluster peers; starting the next"
      continue
    fi
    [ "$rc" = 0 ] || die "$(name_of "$i") did not start"
    booted[$i]=1
    log "$(name_of "$i") started in $(since "${started[$i]}") (pid $(node_pid "$i" || echo '?'))"
  done
  for i in "$@"; do
    [ -z "${booted[$i]:-}" ] || continue
    wait_booted "$i" "${launchers[$i]:-}"
    [ -z "${started[$i]:-}" ] || log "$(name_of "$i") started in $(since "${started[$i]}") (pid $(node_pid "$i" || echo '?'))"
  done
}

# Joins nodes 2..N to node 1 unless both sides see them as members already (a node
# whose data was deleted is forgotten by node 1 first).
form_cluster() {
  [ "$nodes" -gt 1 ] || return 0
  local i name first members t0
  first=$(name_of 1)
  members=$(cluster_nodes 1 disk_nodes) || die "cannot read cluster_status from $first"
  for i in $(seq 2 "$nodes"); do
    name=$(name_of "$i")
    if grep -qxF "$name" <<<"$members" && cluster_nodes "$i" disk_nodes | grep -qxF "$first"; then
      continue
    fi
    t0=$(now_ms)
    quietly cli "$i" rabbitmqctl -q stop_app
    quietly cli "$i" rabbitmqctl -q reset
    if grep -qxF "$name" <<<"$members"; then
      quietly cli 1 rabbitmqctl -q forget_cluster_node "$name"
    fi
    quietly cli "$i" rabbitmqctl -q join_cluster "$first"
    quietly cli "$i" rabbitmqctl -q start_app
    log "$name joined $first in $(since "$t0")"
  done
}

# wait_cluster_running I: waits until node I sees every node of the instance running.
wait_cluster_running() {
  [ "$nodes" -gt 1 ] || return 0
  local via=$1 deadline running i missing
  deadline=$((SECONDS + START_TIMEOUT_S))
  while :; do
    running=$(cluster_nodes "$via" running_nodes || true)
    missing=
    for i in $(indexes); do grep -qxF "$(name_of "$i")" <<<"$running" || missing+=" $(name_of "$i")"; done
    [ -z "$missing" ] && return 0
    [ $SECONDS -lt "$deadline" ] || die "not running in the cluster after ${START_TIMEOUT_S} s:$missing"
    sleep 1
  done
}

ensure_user() {
  if ! cli 1 rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep -qxF "$USER_NAME"; then
    quietly cli 1 rabbitmqctl -q add_user "$USER_NAME" "$USER_PASS"
  fi
  quietly cli 1 rabbitmqctl -q set_user_tags "$USER_NAME" administrator
  quietly cli 1 rabbitmqctl -q set_permissions -p / "$USER_NAME" '.*' '.*' '.*'
}

print_uris() {
  local i
  for i in $(indexes); do echo "amqp://$USER_NAME:$USER_PASS@127.0.0.1:$(port_of "$i")/%2F"; done
}

print_endpoints() {
  local i port
  for i in $(indexes); do
    port=$(port_of "$i")
    printf '%-18s amqp://%s:%s@127.0.0.1:%s/%%2F  http://127.0.0.1:%s/\n' \
      "$(name_of "$i")" "$USER_NAME" "$USER_PASS" "$port" $((port + 10000))
  done
}

# True when the node on port $1 answers the AMQP protocol header with a frame (Connection.Start).
amqp_answers() {
  local first
  first=$(timeout 15 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "AMQP\000\000\011\001" >&3 && head -c 1 <&3 | od -An -tx1' _ "$1" 2>/dev/null) || return 1
  [ "$(tr -d ' \n' <<<"$first")" = 01 ]
}

all_answer() {
  local i
  for i in $(indexes); do amqp_answers "$(port_of "$i")" || return 1; done
}

all_up() {
  local i
  for i in $(indexes); do node_pid "$i" >/dev/null && port_open "$(port_of "$i")" || return 1; done
}

lock_instance() {
  mkdir -p "$STATE_ROOT"
  exec 8>"$STATE_ROOT/.$inst.lock"
  flock 8
}

# --- commands -------------------------------------------------------------------------

do_start() {
  require_prerequisites
  local t0
  t0=$(now_ms)
  [ "$version" = 4.0 ] && provision
  lock_instance
  lock_mounts_shared
  if all_up && [ "$(cluster_nodes 1 running_nodes | wc -l)" -eq "$nodes" ] 2>/dev/null; then
    if all_answer; then
      ensure_user
      log "$label is already running"
      print_endpoints
      return 0
    fi
    # an open port is not enough: a node can accept connections and never answer them
    log "warning: $label runs but does not answer AMQP within 15 s; restarting it"
    kill_nodes
  fi
  ensure_chroot_mounts
  ensure_epmd
  prepare_instance
  # A cluster that cannot come back from its data (a node that crashed while its peers
  # changed the schema refuses to boot, and the others wait for it forever) is test
  # state: it is started afresh rather than failing the run.
  # (errexit is off around the subshell, on inside it: a conditional would disable it.)
  local rc
  set +e
  # shellcheck disable=SC2046 # indexes are plain numbers
  (
    set -e
    start_nodes $(indexes)
    form_cluster
    wait_cluster_running 1
  )
  rc=$?
  set -e
  if [ "$rc" = 0 ] && ! all_answer && has_data; then
    # a node whose data holds thousands of queues left by earlier runs can run out of file
    # descriptors and accept connections it never answers
    log "warning: $label started but does not answer AMQP within 15 s"
    rc=1
  fi
  if [ "$rc" != 0 ]; then
    has_data || die "$label did not start; logs: $inst_dir/log/"
    log "warning: $label did not come back from its data; deleting it and starting afresh"
    kill_nodes
    keep_failed_logs
    remove_tree "$inst_dir/mnesia"
    prepare_instance
    # shellcheck disable=SC2046
    start_nodes $(indexes)
    form_cluster
    wait_cluster_running 1
  fi
  ensure_user
  log "$label started in $(since "$t0")"
  print_endpoints
}

has_data() { compgen -G "$inst_dir/mnesia/*" >/dev/null; }

kill_nodes() {
  local i pid
  for i in $(indexes); do
    pid=$(node_pid "$i") || continue
    kill -KILL "$pid" 2>/dev/null || true
    while is_node_vm "$pid" "$(name_of "$i")"; do sleep 0.1; done
    rm -f "$(pid_file_of "$i")"
  done
}

# Keeps the logs of a failed start beside the fresh ones (the last one only).
keep_failed_logs() {
  rm -rf "$inst_dir/log.failed"
  cp -a "$inst_dir/log" "$inst_dir/log.failed" && find "$inst_dir/log" -type f -delete
  log "logs of the failed start: $inst_dir/log.failed/"
}

# stop_node I: graceful stop, then SIGKILL if the VM lingers.
stop_one() {
  local i=$1 pid name deadline
  name=$(name_of "$i")
  pid=$(node_pid "$i") || { rm -f "$(pid_file_of "$i")"; return 0; }
  cli "$i" rabbitmqctl -q stop >/dev/null 2>&1 || log "warning: rabbitmqctl stop failed for $name"
  deadline=$((SECONDS + 120))
  while is_node_vm "$pid" "$name"; do
    if [ $SECONDS -ge "$deadline" ]; then
      log "warning: $name did not stop within 120 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.3
  done
  rm -f "$(pid_file_of "$i")"
}

do_stop() {
  require_root
  [ -d "$inst_dir" ] || { log "$label has no state; nothing to stop"; return 0; }
  lock_instance
  lock_mounts_shared
  local i t0
  t0=$(now_ms)
  # The first node last: it is the one the others joined.
  for i in $(indexes | sort -rn); do
    if node_pid "$i" >/dev/null; then
      stop_one "$i"
      log "$(name_of "$i") stopped"
    fi
  done
  release_chroot_mounts
  log "$label stopped in $(since "$t0")"
}

do_status() {
  local i state pid running='' healthy=true
  if [ "$nodes" -gt 1 ]; then
    for i in $(indexes); do
      if node_pid "$i" >/dev/null && port_open "$(port_of "$i")"; then
        running=$(cluster_nodes "$i" running_nodes || true)
        break
      fi
    done
  fi
  echo "$label"
  for i in $(indexes); do
    if pid=$(node_pid "$i"); then
      if port_open "$(port_of "$i")"; then state="running (pid $pid)"; else state="starting or app stopped (pid $pid)"; fi
      if [ "$nodes" -gt 1 ] && [ -n "$running" ] && ! grep -qxF "$(name_of "$i")" <<<"$running"; then
        state+=", not running in the cluster"
      fi
    elif [ -e "$(pid_file_of "$i")" ]; then
      state="down (stale pid file)"
    else
      state=down
    fi
    printf '  %-18s 127.0.0.1:%s  %s\n' "$(name_of "$i")" "$(port_of "$i")" "$state"
    [[ $state == running* && $state != *"not running"* ]] || healthy=false
  done
  # Exit status 3 (LSB "not running") unless every node runs in its cluster.
  [ "$healthy" = true ] || return 3
}

do_kill_node() {
  require_root
  local name pid
  name=$(name_of "$node")
  pid=$(node_pid "$node") || die "$name is not running"
  kill -KILL "$pid"
  local deadline=$((SECONDS + 10))
  while is_node_vm "$pid" "$name" && [ $SECONDS -lt "$deadline" ]; do sleep 0.1; done
  ! is_node_vm "$pid" "$name" || die "$name (pid $pid) survived SIGKILL"
  # An exiting process loses its command line before its file descriptors: until it is gone (or a
  # zombie) its listening sockets may still accept a connection.
  while [ -e "/proc/$pid" ] && [ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ] &&
    [ $SECONDS -lt "$deadline" ]; do sleep 0.05; done
  log "killed $name (beam.smp pid $pid)"
}

do_stop_node() {
  require_root
  lock_instance
  lock_mounts_shared
  local t0
  t0=$(now_ms)
  node_pid "$node" >/dev/null || { log "$(name_of "$node") is not running"; return 0; }
  stop_one "$node"
  log "$(name_of "$node") stopped in $(since "$t0")"
}

do_start_node() {
  require_prerequisites
  [ -d "$inst_dir" ] || die "$label has never been started: scripts/rabbitmq.sh start --version $version --nodes $nodes"
  lock_instance
  lock_mounts_shared
  ensure_chroot_mounts
  ensure_epmd
  prepare_instance
  local t0
  t0=$(now_ms)
  start_nodes "$node"
  # A restarted member rejoins by itself; wait until it runs in the cluster.
  if [ "$nodes" -gt 1 ]; then
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until cluster_nodes "$node" running_nodes | grep -qxF "$(name_of "$node")" &&
      [ "$(cluster_nodes "$node" disk_nodes | wc -l)" -eq "$nodes" ]; do
      [ $SECONDS -lt "$deadline" ] || die "$(name_of "$node") did not rejoin its cluster"
      sleep 1
    done
  fi
  log "$(name_of "$node") running in $(since "$t0")"
}

do_ctl() {
  require_root
  if [ "$version" = 4.0 ]; then
    chroot_ready || die "the RabbitMQ 4.0 chroot is not provisioned: scripts/rabbitmq.sh provision"
    lock_mounts_shared
    ensure_chroot_mounts
  fi
  cli "$node" "$tool" "${extra[@]}"
}

do_reset() {
  do_stop
  [ -d "$inst_dir" ] || return 0
  remove_tree "$inst_dir"
  log "$label state deleted ($inst_dir)"
}

case $cmd in
  provision) require_root; provision; log "chroot ready: $CHROOT ($(cat "$CHROOT/.trainq-complete"))" ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  uris) print_uris ;;
  ctl) do_ctl ;;
  kill-node) do_kill_node ;;
  stop-node) do_stop_node ;;
  start-node) do_start_node ;;
  reset) do_reset ;;
  -h | --help | help) usage ;;
  '') usage >&2; exit 2 ;;
  *) usage >&2; die "unknown command: $cmd" ;;
esac
