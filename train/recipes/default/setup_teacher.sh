#!/usr/bin/env bash
# setup_teacher.sh — makes the Python venv that the recipe's Python steps run in:
# the musicnn teacher (teacher.py) and the music21 renderer (render_music21.py).
#
# What it does: creates train/recipes/default/.venv-teacher (gitignored) with
#   tensorflow-cpu==2.15.1, numpy<2, librosa, music21, and musicnn==0.1.0 installed with
#   --no-deps (its own pins are for old Pythons); then checks that musicnn imports and that
#   the MSD_musicnn weights shipped in its wheel are there, and that music21's corpus is.
# It also installs the Debian tools the renderer needs (fluidsynth, fluid-soundfont-gm).
#
# What it needs: python3.11 with venv (Debian: python3-venv), PyPI, apt (root or sudo).
# Usage: bash train/recipes/default/setup_teacher.sh    (about 1.5 GB on disk)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${HARK_TEACHER_VENV:-$HERE/.venv-teacher}"
PY="${PYTHON:-python3}"

apt_need=()
command -v fluidsynth >/dev/null || apt_need+=(fluidsynth)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || apt_need+=(fluid-soundfont-gm)
"$PY" -c 'import venv, ensurepip' 2>/dev/null || apt_need+=(python3-venv)
if [ ${#apt_need[@]} -gt 0 ]; then
  echo "apt: installing ${apt_need[*]}"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q --no-install-recommends "${apt_need[@]}"; else sudo apt-get install -y -q --no-install-recommends "${apt_need[@]}"; fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP=(nice -n 19 "$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" 'tensorflow-cpu==2.15.1' 'numpy<2' 'librosa==0.10.2.post1' 'music21==9.1.0'
"${PIP[@]}" --no-deps 'musicnn==0.1.0'

"$VENV/bin/python" - <<'EOF'
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy, tensorflow as tf, librosa, music21, musicnn
from musicnn import configuration
d = os.path.dirname(musicnn.__file__)
w = os.path.join(d, "MSD_musicnn")
files = [os.path.join(w, f) for f in os.listdir(w)]  # the checkpoint files are ".index", ".data-…"
assert any(f.endswith("/.index") for f in files) and any(".data-" in f for f in files), \
    f"MSD_musicnn weights missing in {w}: {files}"
assert len(configuration.MSD_LABELS) == 50, len(configuration.MSD_LABELS)
n = len(music21.corpus.getComposer("bach"))
assert n > 100, f"music21 corpus looks empty ({n} bach files)"
print(f"ok: numpy {numpy.__version__}, tensorflow {tf.__version__}, librosa {librosa.__version__}, "
      f"music21 {music21.__version__}; MSD_musicnn weights in {w} "
      f"({sum(os.path.getsize(f) for f in files) / 1e6:.1f} MB); {n} bach scores in the corpus")
EOF
echo "teacher venv: $VENV"
