#!/usr/bin/env bash
# Cluster DNS on loopback: queries/s and latency for the A records of a 10,000-service zone, asked by
# closed-loop UDP clients with 1, 8 and 32 queries in flight per socket. No reference server is packaged for
# this machine; the issue's goal (50,000 q/s, p99 under 1 ms) is the yardstick.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -f Benchmarks/.build/release/description.json
(cd Benchmarks && swift build -c release --product keelson-bench)
echo "machine: $(nproc) cores, $(uname -r)"
Benchmarks/.build/release/keelson-bench dns "$@"
