#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing (apt packages, the torch venv
# hark-train builds against), then the whole workspace's suite.
#   bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
bash train/setup.sh
source train/env.sh
cargo test --workspace --locked
