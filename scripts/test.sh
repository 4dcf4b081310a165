#!/usr/bin/env bash
# Runs every test: unit and end-to-end (Swift Testing, the real binary driven by the real kubectl) and the
# official Python client suite.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --test
swift build --build-tests
swift test --skip-build --parallel --num-workers 2
python3 -m pytest -q tests/python
