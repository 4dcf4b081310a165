#!/usr/bin/env bash
# The proxier's iptables syncs for SERVICES services (default 1,000; the issue asks 1,000 / 5,000 / 10,000, see
# docs/benchmarks.md for why larger sizes take minutes here) with 10 endpoints each (full sync, then
# one-service changes), inside a network namespace made for the run and deleted after it. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVICES="${SERVICES:-1000}"
rm -f Benchmarks/.build/release/description.json
(cd Benchmarks && swift build -c release --product keelson-bench)
ns="keelson-bench-proxy-$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
echo "machine: $(nproc) cores, $(uname -r), $(iptables --version)"
nsenter --net="/run/netns/$ns" Benchmarks/.build/release/keelson-bench proxy --services "$SERVICES"
