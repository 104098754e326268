#!/usr/bin/env bash
# Trains, evaluates and exports hark's default model from the corpus run.sh built:
#   1. the zero-shot experiment (zero-shot.toml): instrument words and a quarter of the other
#      tags held out; its report gives MODEL_CARD.md's unseen-tag tables;
#   2. the shipped model (default.toml): every tag seen, 15% of tracks held out for the
#      seen-tag table; exported into models/default (with report.md, curves.svg).
# Needs: bash train/setup.sh (the torch venv) and bash train/recipes/default/run.sh first.
#   bash train/recipes/default/train.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
source train/env.sh
cargo build --release -q -p hark-train
bin=${CARGO_TARGET_DIR:-target}/release/hark-train
step() { echo; echo "=== $* ($(date +%H:%M:%S))"; }
step "prepare (mel cache, shared by both runs)"
"$bin" prepare -c "$here/zero-shot.toml"
step "zero-shot experiment: train + eval"
"$bin" train -c "$here/zero-shot.toml" | tee "$root/data/default-corpus/runs/zero-shot.md"
step "shipped model: train + eval"
"$bin" train -c "$here/default.toml" | tee "$root/data/default-corpus/runs/default.md"
step "export into models/default"
"$bin" export -c "$here/default.toml" --out "$root/models/default"
step "done"
