#!/usr/bin/env bash
# Runs every hark test on a fresh machine: installs what is missing, then the whole suite.
#   bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo test --workspace --locked
