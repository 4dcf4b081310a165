#!/usr/bin/env bash
# What TLS, client-certificate authentication and RBAC add to a GET: the API server twice in one process, over
# plain HTTP deciding nothing and over HTTPS deciding with RBAC, asked in alternation; with no other RoleBindings
# and with 1,000 of them (RBAC is indexed by subject, so they should not show).
set -euo pipefail
cd "$(dirname "$0")/.."

rm -f Benchmarks/.build/release/description.json
(cd Benchmarks && swift build -c release --product keelson-bench)
work=$(mktemp -d /tmp/keelson-tls.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(uname -r)"
for bindings in 0 1000; do
  mkdir -p "$work/$bindings"
  Benchmarks/.build/release/keelson-bench tls --dir "$work/$bindings" --bindings "$bindings" --requests "${REQUESTS:-3000}"
done
