#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, for the tests that need pods that really run:
# containerd (Debian's, started here: no systemd), etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and a kubelet, all on 127.0.0.1, with fake nvidia.com/gpu capacity on the node.
#
#   scripts/kube-local.sh up [--gpus N]   start what is not running (idempotent), wait for node Ready
#   scripts/kube-local.sh down [--wipe]   stop everything by PID, remove pod containers and mounts,
#                                         restore the sysctls the kubelet changed (--wipe: also etcd data)
#   scripts/kube-local.sh status          which components run; exit 0 only when the node is Ready
#   scripts/kube-local.sh images          import the project's image tarballs again (after images/build.sh)
#   scripts/kube-local.sh kubeconfig      print the admin kubeconfig's path
#   scripts/kube-local.sh prepare         install and build what `up` needs (packages, node binaries), start nothing
#
# Needs root (containerd, mounts, cgroups) and Linux. Builds kubelet, kube-scheduler and
# kube-controller-manager with `scripts/kube-binaries.sh --node` when missing, installs containerd,
# runc and containernetworking-plugins with apt-get when missing. Everything it writes lives under
# ${TRAINQ_KUBE_LOCAL:-${TRAINQ_CACHE:-~/.cache/trainq}/kube-local}; /etc is left alone.
#
# The network is loopback only (no CNI bridge, no kube-proxy): only hostNetwork pods run, and pods
# must reach the API server at 127.0.0.1:16443 (KUBERNETES_SERVICE_HOST/PORT), never at the
# Service IP 10.96.0.1 the kubelet puts in their environment. Images come from tarballs imported into
# containerd (no registry): a static pause image, the stand-in training image and, when
# images/build.sh has written them, the operator and worker images. Pods use imagePullPolicy
# IfNotPresent or Never.
#
# Ports (distinct from the kube-api-test servers the test suite starts on random ports): API server
# 16443, etcd 12379/12380, kubelet 10250 (healthz 10248), controller-manager 10257, scheduler 10259.
set -euo pipefail

KUBE_VERSION=1.35.4
API_PORT=16443
ETCD_PORT=12379
ETCD_PEER_PORT=12380
NODE=127.0.0.1 # --hostname-override; --node-ip=127.0.0.1 is refused by the kubelet
# The sysctls the kubelet sets on start (protectKernelDefaults=false); `down` puts them back.
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"

root=$(cd "$(dirname "$0")/.." && pwd)
state=${TRAINQ_KUBE_LOCAL:-${TRAINQ_CACHE:-$HOME/.cache/trainq}/kube-local}
bin="$HOME/.kubeapitest/k8s/${KUBE_VERSION}-linux-amd64"
pki=$state/pki
run=$state/run # PID files, sockets, containerd state
logs=$state/logs
kubeconfig=$state/admin.kubeconfig
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
ctr() { command ctr --address "$run/containerd.sock" --namespace k8s.io "$@"; }

cmd=${1:-}
[ $# -gt 0 ] && shift
gpus=4
wipe=0
while [ $# -gt 0 ]; do
  case "$1" in
    --gpus) gpus=$2; shift 2 ;;
    --wipe) wipe=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$cmd" in up|down|status|images|kubeconfig|prepare) ;; *) sed -n '2,15p' "$0" >&2; exit 2 ;; esac
[[ "$gpus" =~ ^[0-9]+$ ]] || { echo "--gpus needs a number (got '$gpus')" >&2; exit 2; }

if [ "$cmd" = kubeconfig ]; then echo "$kubeconfig"; exit 0; fi

now() { date +%s%N; }
took() { local ns=$(( $(now) - $1 )); printf '%d.%d s' $(( ns / 1000000000 )) $(( ns / 100000000 % 10 )); }
t_all=$(now)
# step NAME COMMAND...: runs COMMAND and prints how long it took.
step() {
  local name=$1 t
  shift
  t=$(now)
  "$@"
  echo "    $name: $(took "$t")"
}

alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }
components="containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet"

# Node Ready as reported by a kubelet heartbeat newer than $1 (epoch seconds): a Ready condition
# left in etcd by an earlier run does not count.
ready_since() {
  local out st hb
  out=$(kubectl get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null) || return 1
  read -r st hb <<<"$out"
  [ "$st" = True ] && [ "$(date -d "$hb" +%s)" -ge "$1" ]
}

if [ "$cmd" = status ]; then
  up=0
  for c in $components; do
    if alive "$c"; then echo "$c: running (pid $(cat "$run/$c.pid"))"; up=$((up + 1)); else echo "$c: stopped"; fi
  done
  if [ $up = 6 ] && ready_since 0; then
    echo "node $NODE Ready, nvidia.com/gpu=$(kubectl get node "$NODE" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')"
    echo "KUBECONFIG=$kubeconfig"
    exit 0
  fi
  exit 1
fi

[ "$(id -u)" = 0 ] || { echo "kube-local.sh needs root (containerd, mounts, cgroups)" >&2; exit 1; }
mkdir -p "$state" "$run" "$logs"
# One `up` or `down` at a time: test JVMs may ask for the cluster together.
exec 9>"$state/lock"
flock 9

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local what=$1 limit=$2 deadline
  shift 2
  deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$what: not there after ${limit} s; logs in $logs" >&2
      return 1
    fi
    sleep 0.2
  done
}

# start NAME COMMAND...: starts COMMAND in its own session, unless its PID file names a live process.
start() {
  local name=$1
  shift
  if alive "$name"; then echo "    $name already running (pid $(cat "$run/$name.pid"))"; return; fi
  # 9>&-: the daemons must not inherit the lock, or they would hold it for as long as they run.
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$run/$name.pid"
}

# stop NAME: SIGTERM, up to 15 s, then SIGKILL.
stop() {
  local name=$1 pid i t
  if ! alive "$name"; then rm -f "$run/$name.pid"; return; fi
  pid=$(cat "$run/$name.pid")
  t=$(now)
  kill -TERM "$pid"
  for i in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$run/$name.pid"
  echo "    stopped $name (pid $pid): $(took "$t")"
}

if [ "$cmd" = down ]; then
  echo "==> stop the cluster"
  if alive kube-apiserver && alive kubelet; then
    # Let the kubelet stop the pods while it still runs; what is left is removed below.
    t=$(now)
    timeout 20 "$bin/kubectl" --kubeconfig "$kubeconfig" delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1 || true
    for i in $(seq 1 50); do [ -z "$(kubectl get pods -A -o name 2>/dev/null)" ] && break; sleep 0.2; done
    echo "    pods deleted: $(took "$t")"
  fi
  for c in kube-scheduler kube-controller-manager kubelet; do stop "$c"; done
  if alive containerd; then
    t=$(now)
    for c in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s KILL "$c" >/dev/null 2>&1 || true; done
    for i in $(seq 1 25); do [ -z "$(ctr tasks ls -q 2>/dev/null)" ] && break; sleep 0.2; done
    for c in $(ctr tasks ls -q 2>/dev/null); do ctr tasks delete -f "$c" >/dev/null 2>&1 || true; done
    for c in $(ctr containers ls -q 2>/dev/null); do ctr containers delete "$c" >/dev/null 2>&1 || true; done
    echo "    pod containers removed: $(took "$t")"
  fi
  for c in kube-apiserver etcd containerd; do stop "$c"; done
  # Shims outlive containerd by design; ours are the ones whose address is under $run.
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $run/" || true); do kill -KILL "$p" 2>/dev/null || true; done
  # Mounts left by the kubelet (secrets, tokens) and containerd (rootfs, shm), deepest first.
  awk -v s="$state/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  # Empty cgroups the kubelet made (kubepods) and the pods' leftovers.
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  # The kubelet links container logs into the hard-coded /var/log/containers; remove ours.
  if [ -d /var/log/containers ]; then
    find /var/log/containers -maxdepth 1 -type l -lname "$state/*" -delete
    rmdir /var/log/containers 2>/dev/null || true
  fi
  if [ -f "$state/sysctl.orig" ]; then
    sed 's/ = /=/' "$state/sysctl.orig" | xargs -r sysctl -q -w
    rm -f "$state/sysctl.orig"
    echo "    sysctls restored: $SYSCTLS"
  fi
  if [ $wipe = 1 ]; then rm -rf "$state/etcd" "$state/kubelet"; echo "    etcd and kubelet state wiped"; fi
  echo "stopped in $(took "$t_all")"
  exit 0
fi

# --- up ------------------------------------------------------------------------------------------

version_of() { "$bin/$1" --version 2>/dev/null || true; }
prerequisites() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/loopback ] || missing+=(containernetworking-plugins)
  command -v gcc >/dev/null || missing+=(gcc)
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "    apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$logs/apt.log" 2>&1 \
      || { echo "apt-get install ${missing[*]} failed; see $logs/apt.log" >&2; return 1; }
  fi
  if [ "$(version_of kubelet)" != "Kubernetes v${KUBE_VERSION}" ] \
      || [ "$(version_of kube-scheduler)" != "Kubernetes v${KUBE_VERSION}" ] \
      || [ "$(version_of kube-controller-manager)" != "Kubernetes v${KUBE_VERSION}" ] \
      || [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/etcd" ]; then
    "$root/scripts/kube-binaries.sh" --node | sed 's/^/    /'
  fi
}

certs() {
  [ -f "$pki/ca.crt" ] && return
  mkdir -p "$pki.tmp"
  (
    cd "$pki.tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -subj "/CN=trainq-kube-local-ca" -days 3650 -out ca.crt 2>/dev/null
    # sign NAME SUBJECT EXTENSIONS
    sign() {
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
      printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    sign apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    sign admin "/O=system:masters/CN=trainq-kube-local-admin" "extendedKeyUsage=clientAuth"
    sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
    sign kubelet "/O=system:nodes/CN=system:node:$NODE" "extendedKeyUsage=clientAuth,serverAuth
subjectAltName=IP:127.0.0.1"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
  )
  mv "$pki.tmp" "$pki"
}

# kubeconfig FILE CERT_NAME
write_kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: trainq-kube-local
  cluster: {server: "https://127.0.0.1:${API_PORT}", certificate-authority: $pki/ca.crt}
users:
- name: $2
  user: {client-certificate: $pki/$2.crt, client-key: $pki/$2.key}
contexts:
- name: trainq-kube-local
  context: {cluster: trainq-kube-local, user: $2}
current-context: trainq-kube-local
EOF
  chmod 600 "$1"
}

configs() {
  mkdir -p "$state/cni" "$state/containerd" "$state/kubelet" "$state/etcd"
  write_kubeconfig "$kubeconfig" admin
  write_kubeconfig "$state/kubelet.kubeconfig" kubelet
  cat >"$state/containerd.toml" <<EOF
# containerd 1.6 (Debian bookworm) for the kubelet: CRI with cgroupfs, overlayfs, a locally imported
# pause image, a loopback-only CNI network. Its own root, state and socket, so it never meets another
# containerd on the machine.
version = 2
root = "$state/containerd"
state = "$run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "localhost/trainq-pause:1"
    stream_server_address = "127.0.0.1"
    # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj (the kubelet asks -998 for the
    # sandbox), and without this every sandbox fails with "can't get final child's PID from pipe: EOF".
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$state/cni"
  [plugins."io.containerd.internal.v1.opt"]
    path = "$state/containerd/opt"
EOF
  # The node is Ready once a CNI config exists; loopback alone is enough for hostNetwork pods.
  cat >"$state/cni/99-loopback.conflist" <<'EOF'
{"cniVersion": "0.4.0", "name": "trainq-loopback", "plugins": [{"type": "loopback"}]}
EOF
  cat >"$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$run/containerd.sock
# Never collect the imported images: there is no registry to pull them again from.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%", imagefs.inodesFree: "1%"}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
rotateCertificates: false
serverTLSBootstrap: false
podLogsDir: $state/pod-logs
# Tests crash workers on purpose: restart them within 2 s rather than backing off towards 5 minutes
# (KubeletCrashLoopBackOffMax, beta and on by default in 1.35).
crashLoopBackOff: {maxContainerRestartPeriod: 2s}
EOF
}

# The sandbox ("pause") image: a static C program that sleeps and reaps, written as a docker-archive.
pause_image() {
  local dir=$state/images/pause
  [ -s "$state/images/pause.tar" ] && return
  mkdir -p "$dir/rootfs"
  cat >"$dir/pause.c" <<'EOF'
/* The pod sandbox's process: sleeps until SIGINT/SIGTERM, reaps children. */
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
static void down(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction d = {0}, r = {0};
  d.sa_handler = down; sigaction(SIGINT, &d, 0); sigaction(SIGTERM, &d, 0);
  r.sa_handler = reap; r.sa_flags = SA_NOCLDSTOP | SA_RESTART; sigaction(SIGCHLD, &r, 0);
  for (;;) pause();
}
EOF
  gcc -static -Os -s -o "$dir/rootfs/pause" "$dir/pause.c"
  python3 "$root/images/mkimage.py" "$dir/rootfs" localhost/trainq-pause:1 "$state/images/pause.tar.tmp" --entrypoint '["/pause"]' >/dev/null
  mv "$state/images/pause.tar.tmp" "$state/images/pause.tar"
}

# Imports a docker-archive unless containerd already holds an image with the same tarball digest.
import_image() {
  local tar=$1 sum
  sum=$(sha256sum "$tar" | cut -c1-16)
  # The marker lives in containerd's root, so a wiped root imports again.
  if [ -f "$state/containerd/trainq-imported.$sum" ]; then return; fi
  ctr images import "$tar" >"$logs/import.log" 2>&1 || { cat "$logs/import.log" >&2; return 1; }
  touch "$state/containerd/trainq-imported.$sum"
  echo "    imported $(basename "$tar")"
}

import_images() {
  local version tar
  import_image "$state/images/pause.tar"
  [ -s "$root/images/target/trainq-train-standin.tar" ] && import_image "$root/images/target/trainq-train-standin.tar"
  version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/helm/trainq/Chart.yaml")
  for tar in "$root/images/target/trainq-operator-$version.tar" "$root/images/target/trainq-worker-$version.tar"; do
    if [ -s "$tar" ]; then import_image "$tar"; else echo "    no $(basename "$tar") (images/build.sh writes it)"; fi
  done
}

if [ "$cmd" = images ]; then
  alive containerd || { echo "containerd is not running: scripts/kube-local.sh up" >&2; exit 1; }
  mkdir -p "$state/images"
  import_images
  exit 0
fi

echo "==> prerequisites (packages, binaries)"; step prerequisites prerequisites
[ "$cmd" != prepare ] || exit 0
echo "==> certificates and configuration in $state"; step certs certs; step configs configs
[ -f "$state/sysctl.orig" ] || sysctl -e $SYSCTLS >"$state/sysctl.orig"

echo "==> containerd"
t=$(now)
start containerd containerd --config "$state/containerd.toml"
wait_for containerd 30 ctr version
echo "    containerd: $(took "$t")"
echo "==> images"; mkdir -p "$state/images"; step "pause image" pause_image; step "imports" import_images

echo "==> etcd, kube-apiserver"
t=$(now)
start etcd "$bin/etcd" --name trainq-kube-local --data-dir "$state/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "trainq-kube-local=http://127.0.0.1:$ETCD_PEER_PORT"
wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
echo "    etcd: $(took "$t")"
t=$(now)
start kube-apiserver "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port=$API_PORT \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/24 \
  --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname
wait_for kube-apiserver 120 kubectl get --raw /readyz
echo "    kube-apiserver: $(took "$t")"

echo "==> kube-controller-manager, kube-scheduler, kubelet"
t=$(now)
start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$kubeconfig" \
  --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --service-cluster-ip-range=10.96.0.0/24 --allocate-node-cidrs=false \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key"
start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$kubeconfig" \
  --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false
t_kubelet_epoch=$(date +%s)
started_kubelet=0
alive kubelet || started_kubelet=1
start kubelet "$bin/kubelet" --config="$state/kubelet.yaml" --kubeconfig="$state/kubelet.kubeconfig" \
  --root-dir="$state/kubelet" --hostname-override="$NODE" --v=1
[ $started_kubelet = 1 ] || t_kubelet_epoch=0
wait_for "kubelet healthz" 60 curl -sf http://127.0.0.1:10248/healthz
wait_for "node $NODE Ready" 120 ready_since "$t_kubelet_epoch"
if [ $started_kubelet = 1 ]; then echo "    node Ready: $(took "$t") after the kubelet's start"; else echo "    node Ready"; fi

echo "==> fake GPUs: nvidia.com/gpu=$gpus"
t=$(now)
# Extended resources no device plugin manages are kept by the kubelet; capacity becomes allocatable.
kubectl patch node "$NODE" --subresource=status --type=json \
  -p "[{\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"$gpus\"}]" >/dev/null
gpus_allocatable() { [ "$(kubectl get node "$NODE" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')" = "$gpus" ]; }
wait_for "nvidia.com/gpu allocatable" 30 gpus_allocatable
echo "    allocatable: $(took "$t")"
wait_for "ServiceAccount default/default" 60 kubectl -n default get serviceaccount default

rss=$(ps -o rss= -p "$(for c in $components; do cat "$run/$c.pid"; done | paste -sd,)" | awk '{s += $1} END {printf "%.0f", s / 1024}')
echo "cluster up in $(took "$t_all"): node $NODE Ready, nvidia.com/gpu=$gpus, ${rss} MiB RSS in all"
echo "KUBECONFIG=$kubeconfig"
