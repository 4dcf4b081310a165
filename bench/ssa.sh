#!/usr/bin/env bash
# Server-side apply of a 50-container Deployment, PATCHES (1,000) times with one image changed each time, next
# to strategic merge patches of the same change (the reference), alternating in rounds, on a release
# `keelson server` with no controllers (the API path alone: no ReplicaSets rolled per change).
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_NAME=ssa
. bench/common.sh

API_PORT=$(free_port)
.build/release/keelson server --data-dir "$work/keelson" --https-listen-port "$API_PORT" --disable-agent \
  --disable-controller-manager --disable-scheduler >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -f "$work/keelson/kubeconfig.yaml" ] && break; sleep 0.1; done
sleep 1
machine
KUBECONFIG="$work/keelson/kubeconfig.yaml" "$BENCH" ssa --server "https://127.0.0.1:$API_PORT" --containers "${CONTAINERS:-50}" \
  --patches "${PATCHES:-1000}"
