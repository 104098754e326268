#!/usr/bin/env bash
# The throughput benchmark's corpus: 10 tracks of 3 to 8 minutes from Debian's
# wesnoth-1.16-music (GPL-2+, one of the default model's training sources, so no held-out
# evaluation source is touched), 5 kept as the package's OGG Vorbis and 5 transcoded to MP3
# (192 kbit/s, by sox with libmp3lame). Written to data/bench-corpus/ (git-ignored).
# Re-running reuses what is there. Needs apt-get (root), dpkg, sox and libsox-fmt-all.
#   bash benches/tag_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/bench-corpus
if [ "$(ls "$out"/*.ogg "$out"/*.mp3 2>/dev/null | wc -l)" -ge 10 ]; then exit 0; fi
# Vorbis and MP3 support (libmp3lame) come with libsox-fmt-all.
bash tests/apt-install.sh sox libsox-fmt-all
mkdir -p data/bench-debs "$out"
if ! compgen -G "data/bench-debs/wesnoth-1.16-music_*.deb" >/dev/null; then
  (cd data/bench-debs && apt-get download wesnoth-1.16-music)
fi
extract=data/bench-debs/wesnoth
[ -d "$extract" ] || dpkg -x data/bench-debs/wesnoth-1.16-music_*.deb "$extract"
# The first 10 tracks, by name, that last 3 to 8 minutes.
picked=0
while IFS= read -r f; do
  seconds=$(soxi -D "$f" 2>/dev/null || echo 0)
  awk -v s="$seconds" 'BEGIN { exit !(s >= 180 && s <= 480) }' || continue
  name=$(basename "$f" .ogg)
  if [ $((picked % 2)) = 0 ]; then
    cp "$f" "$out/$name.ogg"
  else
    sox "$f" -C 192 "$out/$name.mp3"
  fi
  picked=$((picked + 1))
  [ "$picked" -ge 10 ] && break
done < <(find "$extract" -name '*.ogg' | sort)
[ "$picked" -ge 10 ] || { echo "benches/tag_corpus.sh: only $picked tracks of 3-8 min" >&2; exit 1; }
for f in "$out"/*; do printf '%s %s s\n' "$f" "$(soxi -D "$f")"; done
