#!/usr/bin/env bash
# Rebuilds models/demo/demo.ogg, the daemon's bundled demo recording: four excerpts of
# game music from Debian packages with a silent gap, a hard cut (a change of music with no
# gap), and another gap — so `hark run` shows tracks split by silence and by novelty.
# Needs: apt-get download nexuiz-music warzone2100-music; sox; opus-tools; unzip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-$here/../../data/demo}
mkdir -p "$work" && cd "$work"
if [ ! -d pk3 ]; then
  apt-get download nexuiz-music warzone2100-music
  dpkg -x nexuiz-music_*.deb nx && dpkg -x warzone2100-music_*.deb wz
  unzip -q -o nx/usr/share/games/nexuiz/data/music.pk3 -d pk3
fi
wz=wz/usr/share/games/warzone2100/music/albums/legacy_soundtrack
opusdec --quiet --rate 48000 "$wz/track5.opus" recovery-ops.wav
cut() { sox "$1" -r 22050 -c 1 -b 16 "$2" trim "$3" "$4" fade t 0.05 0 0.05; }
cut pk3/sound/cdtracks/stairs.ogg a.wav 40 35
cut recovery-ops.wav b.wav 60 35
cut pk3/sound/cdtracks/desert3.ogg c.wav 30 35
cut pk3/sound/cdtracks/northern-lights.ogg d.wav 60 35
sox -n -r 22050 -c 1 -b 16 gap.wav trim 0 3
# a | gap | b, hard cut to c | gap | d
sox a.wav gap.wav b.wav c.wav gap.wav d.wav demo.wav
sox demo.wav -C 3 "$here/demo.ogg"
soxi "$here/demo.ogg"
