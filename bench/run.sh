#!/usr/bin/env bash
# Side-by-side benchmark on loopback, in one run: the embedded store, the API server, and etcd 3.4 (Debian's
# etcd-server) as the reference. Prints one line per measurement; figures go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN="${SECONDS_PER_RUN:-5}"
CLIENTS="${CLIENTS:-1,8,64}"

command -v etcd >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server; }
BENCH_NAME=bench
. bench/common.sh

ETCD_CLIENT=$(free_port); ETCD_PEER=$(free_port); API_PORT=$(free_port)

etcd --name bench --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "bench=http://127.0.0.1:$ETCD_PEER" --log-level error >"$work/etcd.log" 2>&1 &
pids+=($!)
.build/release/keelson server --data-dir "$work/keelson" --https-listen-port "$API_PORT" --disable-agent >"$work/keelson.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$ETCD_CLIENT/health" >/dev/null 2>&1 && [ -f "$work/keelson/kubeconfig.yaml" ] && break
  sleep 0.1
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(df -h "$work" | awk 'NR==2 {print $1}')"
echo "etcd: $(etcd --version | head -1)"
"$BENCH" etcd --endpoint "http://127.0.0.1:$ETCD_CLIENT" --clients "$CLIENTS" --seconds "$SECONDS_PER_RUN"
"$BENCH" store --clients "$CLIENTS" --seconds "$SECONDS_PER_RUN" --dir "$work/store"
KUBECONFIG="$work/keelson/kubeconfig.yaml" "$BENCH" api --server "https://127.0.0.1:$API_PORT" --clients "$CLIENTS" --seconds "$SECONDS_PER_RUN"
echo "-- the API server on the embedded store:"
KUBECONFIG="$work/keelson/kubeconfig.yaml" "$BENCH" watch --server "https://127.0.0.1:$API_PORT" --watchers 1 --events 300 --rate 100
KUBECONFIG="$work/keelson/kubeconfig.yaml" "$BENCH" watch --server "https://127.0.0.1:$API_PORT" --watchers 100 --events 300 --rate 100
KUBECONFIG="$work/keelson/kubeconfig.yaml" "$BENCH" watch --server "https://127.0.0.1:$API_PORT" --watchers 100 --events 500
echo "keelson server RSS after the run: $(awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/"${pids[1]}"/status)"
kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true

# The API server on that etcd (its keys under a prefix of their own, apart from the raw etcd benchmark's): first
# alone (an API-only control-plane member), then the whole server with its controller manager and scheduler, each
# right after etcd's own figure at 64 clients so the ratio compares neighbours.
on_etcd() { # label, data dir, extra flags…
  local label=$1 dir=$2; shift 2
  local port; port=$(free_port)
  .build/release/keelson server --data-dir "$work/$dir" --https-listen-port "$port" --disable-agent \
    --datastore-endpoint "etcd://127.0.0.1:$ETCD_CLIENT/$dir" "$@" >"$work/$dir.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 200); do [ -f "$work/$dir/kubeconfig.yaml" ] && break; sleep 0.1; done
  echo "-- raw etcd, then $label:"
  "$BENCH" etcd --endpoint "http://127.0.0.1:$ETCD_CLIENT" --clients 64 --seconds "$SECONDS_PER_RUN" | grep puts
  KUBECONFIG="$work/$dir/kubeconfig.yaml" "$BENCH" api --server "https://127.0.0.1:$port" --clients "$CLIENTS" --seconds "$SECONDS_PER_RUN"
  KUBECONFIG="$work/$dir/kubeconfig.yaml" "$BENCH" watch --server "https://127.0.0.1:$port" --watchers 1 --events 300 --rate 100
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
on_etcd "the API server alone on etcd" api-only --disable-controller-manager --disable-scheduler
on_etcd "the whole server on etcd (controller manager and scheduler in it)" whole
