#!/usr/bin/env bash
# Trains, evaluates and exports hark's default model (default.toml) from the corpus run.sh
# built: every tag seen, 15% of track groups held out for the seen-tag table; exported into
# models/default (with report.md, curves.svg). Its cross-source figures come from
# cross_source.sh (VARIANT=speech-samples: the same mix with whole sources held out;
# VARIANT=zero-shot: with unseen words too), since this model trains on every source.
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
mkdir -p "$root/data/default-corpus/runs"
step "prepare (mel cache)"
"$bin" prepare -c "$here/default.toml"
step "shipped model: train + eval"
"$bin" train -c "$here/default.toml" | tee "$root/data/default-corpus/runs/default.md"
step "export into models/default"
"$bin" export -c "$here/default.toml" --out "$root/models/default"
step "done"
