#!/usr/bin/env bash
# render_fonts.sh — renders the recipe's music21 plan again with other instruments than
# FluidR3 (render_music21.py renders it with FluidR3 first):
#   csound    csound-soundfont's GM bank (apt) -> audio/music21-csound/, music21-csound_labels.csv
#   samples   sample_fonts.py's real-instrument fonts (Salamander piano; lmms-common organ,
#             violin, cello, strings, trumpet, flute), only the renderings whose every part
#             has a real sample -> audio/music21-samples/, music21-samples_labels.csv
# The plan (pieces, instrument sets, tempi) is the same as FluidR3's, so only the sound differs.
# Used by run.sh (the shipped model trains on both) and cross_source.sh (which tests on csound).
# Needs: a Python with music21 9.1.0 and numpy (HARK_TEACHER_PYTHON, default setup_teacher.sh's
# venv), apt-get (csound-soundfont, polyphone), npm.
#   bash train/recipes/default/render_fonts.sh csound samples
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
corpus=${HARK_CORPUS:-$root/data/default-corpus}
py=${HARK_TEACHER_PYTHON:-$here/.venv-teacher/bin/python}
sf2=/usr/share/sounds/sf2/sf_GMbank.sf2
[ $# -gt 0 ] || { echo "usage: render_fonts.sh csound|samples ..." >&2; exit 2; }
# shellcheck source=debs.sh
source "$here/debs.sh"  # install_missing
for what in "$@"; do
  case "$what" in
    csound)
      [ -f "$sf2" ] || install_missing csound-soundfont
      nice -n 19 "$py" "$here/render_music21.py" --soundfont "$sf2" --name music21-csound \
        --corpus "$corpus" --labels "$corpus/music21-csound_labels.csv"
      ;;
    samples)
      need=()
      command -v polyphone >/dev/null || need+=(polyphone)
      command -v npm >/dev/null || need+=(npm)
      install_missing ${need[@]+"${need[@]}"}
      # Through a file, not a process substitution: a failing sample_fonts.py must stop the run.
      HARK_CORPUS=$corpus "$py" "$here/sample_fonts.py" > "$corpus/sample-fonts.txt"
      mapfile -t fonts < "$corpus/sample-fonts.txt"
      if [ ${#fonts[@]} -eq 0 ]; then echo "sample_fonts.py listed no fonts" >&2; exit 1; fi
      nice -n 19 "$py" "$here/render_music21.py" "${fonts[@]/#/--soundfont=}" --programs 0,19,40,42,48,56,73 \
        --name music21-samples --corpus "$corpus" --labels "$corpus/music21-samples_labels.csv"
      ;;
    *) echo "render_fonts.sh: $what: expected csound or samples" >&2; exit 2 ;;
  esac
done
