#!/usr/bin/env bash
# run.sh — the whole default-corpus recipe, in order, from a fresh Debian 12 machine:
#   1. fetch_audio.sh      game music from Debian -> data/default-corpus/audio/<package>/
#   2. setup_teacher.sh    venv (musicnn + TensorFlow CPU + music21) and fluidsynth
#   3. render_music21.py   music21 scores -> data/default-corpus/audio/music21/ + music21_labels.csv
#   4. teacher.py          musicnn tags per 3-s window -> teacher_windows.csv.gz (skips files
#                          already in the committed file, so on a clone it only checks)
#   5. make_manifest.py    data/default-corpus/manifest.csv for hark-train
# What it needs: root (or sudo) for apt-get, network access to Debian and PyPI, ~5 GB disk.
# Every step is resumable and skips finished work; heavy steps run under nice -n 19.
# Usage: bash train/recipes/default/run.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="$HERE/.venv-teacher/bin/python"

step() { echo; echo "=== $* ($(date +%H:%M:%S))"; }
step "1/5 fetch_audio.sh";    bash "$HERE/fetch_audio.sh"
step "2/5 setup_teacher.sh";  bash "$HERE/setup_teacher.sh"
step "3/5 render_music21.py"; nice -n 19 "$PY" "$HERE/render_music21.py"
step "4/5 teacher.py";        nice -n 19 "$PY" "$HERE/teacher.py"
step "5/5 make_manifest.py";  python3 "$HERE/make_manifest.py" --stats
step "done"
