#!/usr/bin/env bash
# The stats housekeeping's cost: CONTAINERS pods of one container each as real cgroups on this machine (a sleeping
# process in each container's), sampled ROUNDS times as the kubelet's housekeeping does every second; prints the CPU
# per round and the memory of a full (2-minute) history. Needs root (it creates cgroups) and removes them after.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTAINERS="${CONTAINERS:-30,100}"
ROUNDS="${ROUNDS:-300}"

# SwiftPM can keep a path dependency's old file list in a release build plan; a fresh plan sees new source files.
rm -f Benchmarks/.build/release/description.json
(cd Benchmarks && swift build -c release --product keelson-bench)
Benchmarks/.build/release/keelson-bench housekeeping --containers "$CONTAINERS" --rounds "$ROUNDS"
