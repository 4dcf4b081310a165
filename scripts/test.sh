#!/usr/bin/env bash
# Runs every test: unit and end-to-end (Swift Testing, the real binary driven by the real kubectl) and the
# official Python client suite.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --test
swift build --build-tests
# The clusters with real containers run on their own afterwards: beside the other suites they would compete for
# the same two cores, and every timing-bound wait in both would get slower.
swift test --skip-build --parallel --num-workers 2 --skip ContainerdNodeTests
swift test --skip-build --filter ContainerdNodeTests
python3 -m pytest -q tests/python
# The benchmarks are a package of their own that no test builds: compiling it here keeps it from rotting.
(cd Benchmarks && swift build)
