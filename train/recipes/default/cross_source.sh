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
# VARIANT=speech runs cross-source-speech.toml instead: make_speech.py's talk tracks join the
# manifest and ktuberling-data's voices are held out too (runs/cross-source-speech*);
# VARIANT=samples runs cross-source-samples.toml: the plan rendered again with
# sample_fonts.py's real-instrument fonts joins training as source real-samples;
# VARIANT=more runs cross-source-more.toml: fetch_more_music.sh's game music joins training
# (run fetch_more_music.sh and teacher.py --folders for it first);
# VARIANT=all runs cross-source-all.toml: all three together, each source's share of the
# training crops set by train.source_weights, and ktuberling-data held out as for speech;
# VARIANT=speech-samples runs cross-source-speech-samples.toml: talk tracks and real
# instruments, without the more game music; VARIANT=zero-shot runs
# cross-source-zero-shot.toml: the shipped recipe's data with unseen words (Y);
# VARIANT=augmented runs cross-source-augmented.toml: speech-samples' data, manifest and mel
# cache with pitch, tempo, reverb and mixing augmentation; VARIANT=mtt runs
# cross-source-mtt.toml: speech-samples' data and mel cache, plus the MTT teacher's tempo
# and energy words (MTT_WORDS, default below; teacher.py --model MTT_musicnn first);
# VARIANT=teacher5 runs cross-source-teacher5.toml: speech-samples' data and mel cache, each
# track labelled with the teacher's top 5 (vocal tags too), as issue 9's agreement rule reads it;
# VARIANT=soft runs cross-source-soft.toml: speech-samples' labels and mel cache, each teacher
# tag weighted by its track mean over the track's best (make_manifest.py --soft), so surer
# tags are the crop's positive more often; VARIANT=wide runs cross-source-wide.toml:
# speech-samples' data, manifest and mel cache with a wider encoder (model.audio_hidden);
# VARIANT=zero-shot-soft runs cross-source-zero-shot-soft.toml: zero-shot with --soft labels;
# HARK_TEACHER_PYTHON a Python with music21 9.1.0 other than setup_teacher.sh's venv.
#   bash train/recipes/default/cross_source.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
corpus=${HARK_CORPUS:-$root/data/default-corpus}
seeds=${SEEDS:-1 2 3}
variant=${VARIANT:-}
case "$variant" in
  ""|speech|samples|more|all) parts=$variant ;;
  speech-samples|zero-shot|augmented|mtt|teacher5|soft|wide|zero-shot-soft) parts=speech,samples ;;
  *) echo "VARIANT=$variant: expected speech, samples, more, all, speech-samples, zero-shot, augmented, mtt, teacher5, soft, wide or zero-shot-soft (or unset)" >&2; exit 2 ;;
esac
name=cross-source${variant:+-$variant}
# The manifest (and the toml's mel cache) of the data the variant trains on.
data_name=$name
if [ "$variant" = augmented ] || [ "$variant" = wide ]; then data_name=cross-source-speech-samples; fi
step() { echo; echo "=== $* ($(date +%H:%M:%S))"; }

# What joins the 1.0 recipe's data: talk tracks, real-instrument renderings, more game music.
with() { [ "$parts" = all ] || [[ ",$parts," == *",$1,"* ]]; }
step "1/4 render the music21 plan with csound's GM bank"
bash "$here/render_fonts.sh" csound
extra=()
if with samples; then
  step "1b/4 render the plan again with real-instrument fonts (piano, organ, violin, cello, strings, trumpet, flute)"
  bash "$here/render_fonts.sh" samples
  extra+=(--rendered "$corpus/music21-samples_labels.csv:real-samples")
fi
step "2/4 manifest with sources"
if with speech; then
  HARK_CORPUS=$corpus python3 "$here/make_speech.py" --out "$corpus/speech_labels.csv"
  extra+=(--speech "$corpus/speech_labels.csv")
fi
if with more; then extra+=(--more-music); fi
if [ "$variant" = mtt ]; then extra+=(--mtt-words "${MTT_WORDS:-slow,fast,drums,beat}"); fi
if [ "$variant" = teacher5 ]; then extra+=(--top-k 5 --keep-vocal); fi
if [ "$variant" = soft ] || [ "$variant" = zero-shot-soft ]; then extra+=(--soft); fi
python3 "$here/make_manifest.py" --corpus "$corpus" --out "$corpus/manifest-$data_name.csv" \
  --rendered "$corpus/music21-csound_labels.csv:csound-soundfont" "${extra[@]}"

cd "$root"
source train/env.sh
cargo build --release -q -p hark-train
bin=${CARGO_TARGET_DIR:-target}/release/hark-train
mkdir -p "$corpus/runs"
reports=()
for seed in $seeds; do
  run="$corpus/runs/$name-seed$seed.toml"
  # The run file's relative paths resolve against its own folder: write absolute ones.
  sed -e "s|^seed = .*|seed = $seed|" \
      -e "s|^name = \"\(.*\)\"|name = \"\1-seed$seed\"|" \
      -e "s|\"\.\./\.\./\.\./|\"$root/|" \
      -e "s|runs/$name\"|runs/$name-seed$seed\"|" \
      -e "s|$root/data/default-corpus|$corpus|" \
      ${EPOCHS:+-e "s|^epochs = .*|epochs = $EPOCHS|"} \
      "$here/$name.toml" > "$run"
  if [ "$seed" = "${seeds%% *}" ]; then
    step "prepare (mel cache)"
    "$bin" prepare -c "$run"
  fi
  step "3/4 seed $seed: train + eval"
  "$bin" train -c "$run" > "$corpus/runs/$name-seed$seed.md"
  reports+=("$corpus/runs/$name-seed$seed/report.json")
done
step "4/4 mean ± sd over seeds $seeds"
"$bin" seeds "${reports[@]}" --out "$corpus/runs/$name.md"
