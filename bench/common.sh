# Sourced by the bench scripts: release builds, a scratch directory, the processes started (stopped and the
# directory removed on exit), and free loopback ports. SKIP_BUILD=1 uses the release binaries as they are.
if [ -z "${SKIP_BUILD:-}" ]; then
  swift build -c release --product keelson
  (cd Benchmarks && swift build -c release --product keelson-bench)
fi
BENCH=Benchmarks/.build/release/keelson-bench

work=$(mktemp -d "/tmp/keelson-${BENCH_NAME:-bench}.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

machine() { echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"; }

# A GET with the admin credentials of the server whose data dir is $1 (the API is HTTPS only).
api_get() { # data dir, port, path
  curl -sf --cacert "$1/server/tls/server-ca.crt" --cert "$1/server/tls/client-admin.crt" --key "$1/server/tls/client-admin.key" \
    "https://127.0.0.1:$2$3"
}
