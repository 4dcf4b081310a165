#!/usr/bin/env bash
# scheduler_perf's cases through the real API server: NODES simulated nodes, PODS pods per variant (plain, spread,
# antiaffinity), timed until all are bound, each variant in its own namespace (earlier variants' pods stay on the
# nodes). The controller manager is off so only the scheduler works on the pods. SCHEDULER=embedded (the default, as
# shipped) runs it inside `keelson server`; SCHEDULER=separate runs `keelson scheduler` as its own process, so its RSS
# is measured alone.
set -euo pipefail
cd "$(dirname "$0")/.."

NODES="${NODES:-5000}"
PODS="${PODS:-10000}"
VARIANTS="${VARIANTS:-plain spread antiaffinity}"
SCHEDULER="${SCHEDULER:-embedded}"

BENCH_NAME=sched
. bench/common.sh

API_PORT=$(free_port)
.build/release/keelson server --data-dir "$work/keelson" --https-listen-port "$API_PORT" --disable-agent \
  --disable-controller-manager $([ "$SCHEDULER" = separate ] && echo --disable-scheduler) >"$work/server.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 1 200); do [ -f "$work/keelson/kubeconfig.yaml" ] && break; sleep 0.1; done
scheduler=$server
if [ "$SCHEDULER" = separate ]; then
  .build/release/keelson scheduler --kubeconfig "$work/keelson/kubeconfig.yaml" --no-leader-elect >"$work/scheduler.log" 2>&1 &
  scheduler=$!
  pids+=("$scheduler")
fi
start=$(date +%s.%N)
.build/release/keelson simulate-nodes --kubeconfig "$work/keelson/kubeconfig.yaml" --count "$NODES" --cpu 32 --memory 256Gi \
  --pods 110 --zones 10 >"$work/nodes.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 6000); do
  [ "$(api_get "$work/keelson" "$API_PORT" "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases" | grep -o '"holderIdentity"' | wc -l)" -ge "$NODES" ] && break
  sleep 0.1
done
machine
echo "$NODES simulated nodes registered in $(echo "$(date +%s.%N) - $start" | bc | cut -c1-5) s"
sleep 2
if [ -n "${PERF_OUT:-}" ]; then perf record -F 299 -g -p "$scheduler" -o "$PERF_OUT" -- sleep 12 >/dev/null 2>&1 & fi
for variant in $VARIANTS; do
  KUBECONFIG="$work/keelson/kubeconfig.yaml" "$BENCH" schedule --server "https://127.0.0.1:$API_PORT" --pods "$PODS" --scheduler-pid "$scheduler" $([ "$SCHEDULER" = separate ] && echo --server-pid "$server") --variant "$variant"
done
