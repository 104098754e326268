#!/usr/bin/env bash
# cross_source.sh — judges the default recipe on sources it never trained on (cross-source.toml):
#   1. renders the music21 plan a second time with csound's GM soundfont (csound-soundfont);
#   2. writes data/default-corpus/manifest-cross-source.csv: the default manifest plus those
#      renderings, every row with its source;
#   3. trains seeds 1, 2, 3 (work folders runs/cross-source-seed<N>), each evaluated in-source,
#      cross-source and per held-out source;
#   4. combines the three reports: runs/cross-source.md (mean ± sd).
# Needs: run.sh's corpus (steps 1 and 3), the torch venv (bash train/setup.sh), apt for
# csound-soundfont. SEEDS="1 2 3" and EPOCHS override the seeds and train.epochs;
# HARK_TEACHER_PYTHON a Python with music21 9.1.0 other than setup_teacher.sh's venv.
#   bash train/recipes/default/cross_source.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
corpus=${HARK_CORPUS:-$root/data/default-corpus}
py=${HARK_TEACHER_PYTHON:-$here/.venv-teacher/bin/python}
sf2=/usr/share/sounds/sf2/sf_GMbank.sf2
seeds=${SEEDS:-1 2 3}
step() { echo; echo "=== $* ($(date +%H:%M:%S))"; }

if [ ! -f "$sf2" ]; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q --no-install-recommends csound-soundfont
  else sudo apt-get install -y -q --no-install-recommends csound-soundfont; fi
fi
step "1/4 render the music21 plan with csound's GM bank"
nice -n 19 "$py" "$here/render_music21.py" --soundfont "$sf2" --name music21-csound \
  --corpus "$corpus" --labels "$corpus/music21-csound_labels.csv"
step "2/4 manifest with sources"
python3 "$here/make_manifest.py" --corpus "$corpus" --out "$corpus/manifest-cross-source.csv" \
  --rendered "$corpus/music21-csound_labels.csv:csound-soundfont"

cd "$root"
source train/env.sh
cargo build --release -q -p hark-train
bin=${CARGO_TARGET_DIR:-target}/release/hark-train
mkdir -p "$corpus/runs"
reports=()
for seed in $seeds; do
  run="$corpus/runs/cross-source-seed$seed.toml"
  # The run file's relative paths resolve against its own folder: write absolute ones.
  sed -e "s|^seed = .*|seed = $seed|" \
      -e "s|^name = \"\(.*\)\"|name = \"\1-seed$seed\"|" \
      -e "s|\"\.\./\.\./\.\./|\"$root/|" \
      -e "s|runs/cross-source\"|runs/cross-source-seed$seed\"|" \
      -e "s|$root/data/default-corpus|$corpus|" \
      ${EPOCHS:+-e "s|^epochs = .*|epochs = $EPOCHS|"} \
      "$here/cross-source.toml" > "$run"
  if [ "$seed" = "${seeds%% *}" ]; then
    step "prepare (mel cache)"
    "$bin" prepare -c "$run"
  fi
  step "3/4 seed $seed: train + eval"
  "$bin" train -c "$run" > "$corpus/runs/cross-source-seed$seed.md"
  reports+=("$corpus/runs/cross-source-seed$seed/report.json")
done
step "4/4 mean ± sd over seeds $seeds"
"$bin" seeds "${reports[@]}" --out "$corpus/runs/cross-source.md"
