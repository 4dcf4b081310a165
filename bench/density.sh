#!/usr/bin/env bash
# The density test: 100 Deployments × 30 replicas on 100 simulated nodes against a release build, with the
# controller manager as its own process so its CPU time and RSS can be read; timed until every ReplicaSet has its
# pods, and until every pod is bound (by the scheduler in the server), running and ready (simulated kubelets).
set -euo pipefail
cd "$(dirname "$0")/.."

DEPLOYMENTS="${DEPLOYMENTS:-100}"
NODES="${NODES:-100}"
REPLICAS="${REPLICAS:-30}"

BENCH_NAME=density
. bench/common.sh

API_PORT=$(free_port)
.build/release/keelson server --data-dir "$work/keelson" --https-listen-port "$API_PORT" --disable-agent \
  --disable-controller-manager >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do [ -f "$work/keelson/kubeconfig.yaml" ] && break; sleep 0.1; done
.build/release/keelson controller-manager --kubeconfig "$work/keelson/kubeconfig.yaml" >"$work/cm.log" 2>&1 &
cm=$!
pids+=("$cm")
.build/release/keelson simulate-nodes --kubeconfig "$work/keelson/kubeconfig.yaml" --count "$NODES" --cpu 32 --memory 256Gi \
  --pods 110 >"$work/nodes.log" 2>&1 &
pids+=($!)
# Let the controller manager take its lease and the nodes register.
for _ in $(seq 1 100); do
  api_get "$work/keelson" "$API_PORT" "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager" >/dev/null \
    && [ "$(api_get "$work/keelson" "$API_PORT" "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases" | grep -o '"holderIdentity"' | wc -l)" -ge "$NODES" ] && break
  sleep 0.1
done
sleep 1

machine
echo "controller manager RSS idle: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/"$cm"/status)"
KUBECONFIG="$work/keelson/kubeconfig.yaml" "$BENCH" density --server "https://127.0.0.1:$API_PORT" --deployments "$DEPLOYMENTS" --replicas "$REPLICAS" --controller-pid "$cm" --wait-ready
echo "keelson server RSS after the run: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/"${pids[0]}"/status)"
