#!/usr/bin/env bash
# Installs what is missing, builds a release binary and starts a single-node Keelson cluster in the background:
# the control plane and a node agent running pods on containerd. The kubeconfig is written once the API answers.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR="${KEELSON_DATA_DIR:-/var/lib/keelson}"
PORT="${KEELSON_PORT:-6443}"

./scripts/install-deps.sh
swift build -c release --product keelson
mkdir -p "$DATA_DIR"
# The sandbox and busybox images, imported by the agent at start (no registry needed).
[ -f "$DATA_DIR/agent/images/pause.tar" ] || ./scripts/build-images.sh "$DATA_DIR/agent/images"
rm -f "$DATA_DIR/kubeconfig.yaml"
nohup .build/release/keelson server --data-dir "$DATA_DIR" --https-listen-port "$PORT" >>"$DATA_DIR/keelson.log" 2>&1 &
echo $! >"$DATA_DIR/keelson.pid"
for _ in $(seq 1 300); do
  [ -f "$DATA_DIR/kubeconfig.yaml" ] && break
  if ! kill -0 "$(cat "$DATA_DIR/keelson.pid")" 2>/dev/null; then
    echo "keelson exited; see $DATA_DIR/keelson.log" >&2
    tail -n 20 "$DATA_DIR/keelson.log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -f "$DATA_DIR/kubeconfig.yaml" ] || { echo "keelson did not become ready; see $DATA_DIR/keelson.log" >&2; exit 1; }
echo "Keelson is running (pid $(cat "$DATA_DIR/keelson.pid"), log $DATA_DIR/keelson.log)."
echo "  export KUBECONFIG=$DATA_DIR/kubeconfig.yaml"
echo "  kubectl get nodes"
echo "Stop it with: kill \$(cat $DATA_DIR/keelson.pid)"
