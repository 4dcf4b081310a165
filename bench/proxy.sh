#!/usr/bin/env bash
# The proxier's syncs for SERVICES services with 10 endpoints each (full sync, then one-service changes), in
# MODE (iptables, the default, where 1,000 services is the practical limit here, see docs/benchmarks.md; or
# nftables, e.g. SERVICES=1000,5000,10000), inside a network namespace made for the run and deleted after it.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVICES="${SERVICES:-1000}"
MODE="${MODE:-iptables}"
rm -f Benchmarks/.build/release/description.json
(cd Benchmarks && swift build -c release --product keelson-bench)
ns="keelson-bench-proxy-$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
echo "machine: $(nproc) cores, $(uname -r), $(iptables --version), $(nft --version)"
nsenter --net="/run/netns/$ns" Benchmarks/.build/release/keelson-bench proxy --services "$SERVICES" --mode "$MODE"
