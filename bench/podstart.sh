#!/usr/bin/env bash
# Pod startup with the image present: a release `keelson server` with its node agent (its own containerd) in a
# network namespace of its own, pods created through the API and timed until a watch shows them Ready — one at a
# time, then a burst — next to the floor measured in the same run: the same sandbox and container started by
# direct CRI calls on the same containerd. Needs root (network namespace, containerd).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-10}"
BURST="${BURST:-30}"

swift build -c release --product keelson
(cd Benchmarks && swift build -c release --product keelson-bench)
BENCH=Benchmarks/.build/release/keelson-bench

work=$(mktemp -d /tmp/keelson-podstart.XXXXXX)
netns="keelson-bench-$$"
cgroup_root="/keelson-bench-$$"
server=""
cleanup() {
  # The server first (or its supervisor would restart containerd), then containerd and the runtime shims it
  # started (they name its socket and config), then the pods' processes.
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  sleep 0.2
  for pid in $(grep -l -e "$work/keelson/agent/containerd" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do kill -9 "$pid" 2>/dev/null || true; done
  for procs in $(find /sys/fs/cgroup/*"$cgroup_root" -name cgroup.procs 2>/dev/null); do
    for pid in $(cat "$procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  sleep 0.5
  grep " $work/" /proc/self/mountinfo | awk '{print $5}' | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- \
    | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
  find /sys/fs/cgroup/*"$cgroup_root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  ip netns del "$netns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$netns"
ip -n "$netns" link set lo up
./scripts/build-images.sh "$work/keelson/agent/images" 2>/dev/null
in_node() { nsenter --net="/run/netns/$netns" "$@"; }
# nsenter execs the server, so $! is the server's own PID (for its RSS, and to stop it).
nsenter --net="/run/netns/$netns" .build/release/keelson server --data-dir "$work/keelson" --node-name bench-node --node-ip 127.0.0.1 \
  --cgroup-root "$cgroup_root" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  [ -f "$work/keelson/kubeconfig.yaml" ] && in_node kubectl --kubeconfig "$work/keelson/kubeconfig.yaml" get node bench-node \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True && break
  sleep 0.2
done

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), containerd $(containerd --version | awk '{print $3}')"
in_node env KUBECONFIG="$work/keelson/kubeconfig.yaml" "$BENCH" podstart --server https://127.0.0.1:6443 --socket "$work/keelson/agent/containerd/containerd.sock" \
  --runs "$RUNS" --burst "$BURST" --kubelet-pid "$server"
