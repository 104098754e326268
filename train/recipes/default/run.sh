#!/usr/bin/env bash
# run.sh — the whole default-corpus recipe, in order, from a fresh Debian 12 machine:
#   1. fetch_audio.sh       game music of five packages -> data/default-corpus/audio/<package>/
#   2. setup_teacher.sh     venv (musicnn + TensorFlow CPU + music21) and fluidsynth
#   3. render_music21.py    music21 scores with FluidR3 -> audio/music21/ + music21_labels.csv
#   4. render_fonts.sh      the same plan with csound's GM bank and with real-instrument
#                           fonts (sample_fonts.py) -> audio/music21-{csound,samples}/
#   5. make_speech.py       talk tracks from three packages of recorded voices -> audio/speech/
#   6. teacher.py           musicnn tags per 3-s window of the game music and the FluidR3
#                           renderings -> teacher_windows.csv.gz (skips files already in the
#                           committed file, so on a clone it only checks)
#   7. make_manifest.py     data/default-corpus/manifest.csv for hark-train (default.toml)
# fetch_more_music.sh (fourteen more game packages) is not a step: cross-source tests found
# it no help on unheard packages and a cost to the instrument words (MODEL_CARD.md).
# What it needs: root (or sudo) for apt-get, network access to Debian, PyPI and npm, ~8 GB disk.
# Every step is resumable and skips finished work; heavy steps run under nice -n 19.
# Usage: bash train/recipes/default/run.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="$HERE/.venv-teacher/bin/python"
CORPUS=${HARK_CORPUS:-$(cd "$HERE/../../.." && pwd)/data/default-corpus}
# The folders the teacher tags: the game music (fetch_audio.sh's sources table) and the FluidR3
# renderings (the other renderings take their words from the plan; talk tracks, their bed's rows).
teacher_folders() { (cut -f1 "$CORPUS/sources.tsv"; echo music21) | grep -v '^package$' | sort -u | paste -sd,; }

step() { echo; echo "=== $* ($(date +%H:%M:%S))"; }
step "1/7 fetch_audio.sh";       bash "$HERE/fetch_audio.sh"
step "2/7 setup_teacher.sh";     bash "$HERE/setup_teacher.sh"
step "3/7 render_music21.py";    nice -n 19 "$PY" "$HERE/render_music21.py"
step "4/7 render_fonts.sh";      HARK_TEACHER_PYTHON=$PY bash "$HERE/render_fonts.sh" csound samples
step "5/7 make_speech.py";       python3 "$HERE/make_speech.py" --out "$CORPUS/speech_labels.csv"
step "6/7 teacher.py";           nice -n 19 "$PY" "$HERE/teacher.py" --folders "$(teacher_folders)"
step "7/7 make_manifest.py"
python3 "$HERE/make_manifest.py" --stats --piece-groups --soft --speech "$CORPUS/speech_labels.csv" \
  --rendered "$CORPUS/music21-csound_labels.csv:csound-soundfont" \
  --rendered "$CORPUS/music21-samples_labels.csv:real-samples"
step "done"
