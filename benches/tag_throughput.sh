#!/usr/bin/env bash
# The `hark tag` throughput benchmark, set up from nothing: the corpus (benches/tag_corpus.sh),
# the Python baseline's venv (benches/.venv, from benches/requirements.txt), then
# `cargo bench --bench tag_throughput` (5 interleaved rounds, medians and ratios).
#   bash benches/tag_throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash benches/tag_corpus.sh
if [ ! -x benches/.venv/bin/python ] || ! benches/.venv/bin/python -c 'import librosa, onnxruntime' 2>/dev/null; then
  python3 -m venv benches/.venv
  benches/.venv/bin/pip install -q -r benches/requirements.txt
fi
HARK_BENCH_CORPUS="$PWD/data/bench-corpus" HARK_BENCH_PYTHON="$PWD/benches/.venv/bin/python" \
  cargo bench --locked --bench tag_throughput
