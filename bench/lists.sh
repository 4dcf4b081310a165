#!/usr/bin/env bash
# Lists with and without the watch cache: two release `keelson server`s side by side (the second started with
# --watch-cache=false), each holding OBJECTS ConfigMaps, asked in turn (RUNS rounds) for the whole list three ways —
# consistent (no resourceVersion), resourceVersion=0, and a label-selected list that matches 1 % of them — with curl
# on one kept connection per measurement. Medians in milliseconds, and each server's RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

OBJECTS="${OBJECTS:-5000}"
RUNS="${RUNS:-15}"
BENCH_NAME=lists
. bench/common.sh
machine

start_server() { # name, extra flags... (sets PORT; the PID is the last of pids)
  local name=$1
  shift
  PORT=$(free_port)
  .build/release/keelson server --data-dir "$work/$name" --https-listen-port "$PORT" --disable-agent "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do [ -f "$work/$name/kubeconfig.yaml" ] && break; sleep 0.1; done
}
start_server cached
CACHED_PORT=$PORT CACHED_PID=${pids[-1]}
start_server uncached --watch-cache=false
UNCACHED_PORT=$PORT UNCACHED_PID=${pids[-1]}

manifest="$work/configmaps.yaml"
python3 - "$OBJECTS" >"$manifest" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    print("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\n  labels: {shard: \"%d\"}\ndata: {key: value-%d, other: \"%s\"}" % (i, i % 100, i, "x" * 200))
PY
for name in cached uncached; do
  KUBECONFIG="$work/$name/kubeconfig.yaml" kubectl create -f "$manifest" >/dev/null
done

ms() { # data dir, port, path
  curl -s -o /dev/null -w '%{time_total}\n' --cacert "$1/server/tls/server-ca.crt" --cert "$1/server/tls/client-admin.crt" \
    --key "$1/server/tls/client-admin.key" "https://127.0.0.1:$2$3" | awk '{printf "%.1f\n", $1 * 1000}'
}
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

base=/api/v1/namespaces/default/configmaps
printf '%-34s %14s %14s\n' "$OBJECTS ConfigMaps, median of $RUNS" "watch cache" "no cache"
for query in "" "?resourceVersion=0" "?labelSelector=shard%3D7"; do
  cached=(); uncached=()
  for _ in $(seq 1 "$RUNS"); do
    cached+=("$(ms "$work/cached" "$CACHED_PORT" "$base$query")")
    uncached+=("$(ms "$work/uncached" "$UNCACHED_PORT" "$base$query")")
  done
  printf '%-34s %11s ms %11s ms\n' "GET configmaps${query:-}" "$(printf '%s\n' "${cached[@]}" | median)" "$(printf '%s\n' "${uncached[@]}" | median)"
done
for pair in "cached $CACHED_PID" "uncached $UNCACHED_PID"; do
  set -- $pair
  echo "$1 server RSS: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$2/status")"
done
