#!/usr/bin/env bash
# fetch_more_music.sh — more real game music for hark's default-model recipe (beside
# fetch_audio.sh's five packages).
#
# What it does: downloads fourteen more Debian game-data packages (0ad-data, naev-data,
# supertux-data, widelands-data, hedgewars-data, colobot-common-sounds, marsshooter-data,
# freedroidrpg-data, flare-game, trackballs-data, pushover-data, megaglest-data,
# openclonk-data, redeclipse-data), unpacks each with `dpkg -x`, takes only its music
# (background music / soundtrack: the folder or files named per package in list_music
# below; never sound effects or voices; 0 A.D.'s music is unzipped from public.zip, only
# its audio/music/ entries), drops every source shorter than MIN_SECONDS (20 s: jingles,
# stingers, loop fragments) and every byte-identical copy of a file already taken, and
# converts each track to 22050 Hz mono OGG Vorbis (quality 5) in
# data/default-corpus/audio/<package>/<name>.ogg (name: the original base name, lowercased,
# [a-z0-9_-]; prefixed with its folder where two sources of a package would clash).
# Writes data/default-corpus/sources-more.tsv (package, path, source: the columns of
# sources.tsv) and sources-more-skipped.tsv (package, source, reason), then LICENSES.md
# through licenses.py, and prints a table of tracks and minutes per package.
# Re-running skips finished work (.done markers, existing outputs) and removes a converted
# track that a changed rule no longer takes. Measured here (2 shared cores, nice 19, a
# training beside it): download 4.2 GB 44 s, unpack 4 min 49 s, convert 325 tracks (15.7 h)
# 8 min 56 s.
#
# What it needs (Debian): apt (for `apt-get download`), dpkg, unzip, sox with Vorbis
# (libsox-fmt-all), vorbis-tools (vorbiscomment, for licenses.py), bc, about 13 GB of disk
# (debs 4.2 GB, unpacked 8.1 GB; 0 A.D.'s public.zip alone is 3.3 GB). As root it installs
# the missing tools itself. Every source here is Ogg Vorbis, so no other decoder is needed.
# These packages are trained on; the other music packages of Debian are kept for evaluation.
#
# Usage: bash train/recipes/default/fetch_more_music.sh   (env HARK_CORPUS overrides the
# corpus folder, default <repo>/data/default-corpus)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
CORPUS="${HARK_CORPUS:-$ROOT/data/default-corpus}"
DEBS="$CORPUS/debs"
EXTRACT="$CORPUS/extract"
AUDIO="$CORPUS/audio"
PKGS=(0ad-data naev-data supertux-data widelands-data hedgewars-data colobot-common-sounds
      marsshooter-data freedroidrpg-data flare-game trackballs-data pushover-data
      megaglest-data openclonk-data redeclipse-data)
MIN_SECONDS=20
NICE=(nice -n 19)

# shellcheck source=debs.sh
source "$HERE/debs.sh"
need=()
need_common_tools
command -v bc >/dev/null || need+=(bc)
install_missing ${need[@]+"${need[@]}"}

mkdir -p "$DEBS" "$EXTRACT" "$AUDIO"

# 1. The .deb files: reuse a copy already in debs/, else apt-get download.
download_debs "${PKGS[@]}"

# 2. Unpack.
unpack_debs "${PKGS[@]}"

# 0 A.D. keeps all its data in mods/public/public.zip (3.3 GB): unzip only the music.
dest="$EXTRACT/0ad-data/zip"
if [ ! -f "$dest/.done" ]; then
  rm -rf "$dest"; mkdir -p "$dest"
  echo "unzipping audio/music/ of 0ad-data's public.zip"
  "${NICE[@]}" unzip -o -q "$EXTRACT/0ad-data/usr/share/games/0ad/mods/public/public.zip" 'audio/music/*' -d "$dest"
  touch "$dest/.done"
fi

# 3. Where each package keeps its music (the source files, one a line, sorted).
list_music() { # $1 package
  local d="$EXTRACT/$1"
  case "$1" in
    # 0ad: audio/music/ of public.zip is the soundtrack (audio/ambient, voice, interface are not).
    0ad-data) find "$d/zip/audio/music" -type f -iname '*.ogg' ;;
    # naev: dat/snd/music holds the soundtrack (dat/snd/sounds are effects); short stingers go by length.
    naev-data) find "$d/usr/share/naev/dat/snd/music" -type f -iname '*.ogg' ;;
    # supertux: music/<world>/*.ogg are the level and menu songs (sounds/ and speech/ are not).
    supertux-data) find "$d/usr/share/games/supertux2/music" -type f -iname '*.ogg' ;;
    # widelands: data/music holds the menu and in-game songs (data/sound are work and animal effects).
    widelands-data) find "$d/usr/share/games/widelands/data/music" -type f -iname '*.ogg' ;;
    # hedgewars: Data/Music holds the theme songs (Data/Sounds are effects and hedgehog voices).
    hedgewars-data) find "$d/usr/share/games/hedgewars/Data/Music" -type f -iname '*.ogg' ;;
    # colobot: music/ holds the soundtrack (sounds/soundNNN.wav are effects).
    colobot-common-sounds) find "$d/usr/share/games/colobot/music" -type f -iname '*.ogg' ;;
    # marsshooter: audio/music/ holds the in-game songs, audio/menu.ogg and audio/tutorial.ogg
    # the menu and tutorial music (announcer/, interface/, toon/ are voices and effects, all WAV).
    marsshooter-data)
      find "$d/usr/share/games/marsshooter/audio/music" -type f -iname '*.ogg'
      find "$d/usr/share/games/marsshooter/audio" -maxdepth 1 -type f -iname '*.ogg' ;;
    # freedroidrpg: data/sound/music only (the .ogg beside the titles are voice-acted narration).
    freedroidrpg-data) find "$d/usr/share/freedroidrpg/data/sound/music" -type f -iname '*.ogg' ;;
    # flare: mods/fantasycore/music holds the soundtrack (soundfx/ are effects); its
    # wind_ambient.ogg ("Wind Ambient", the music= of three outdoor maps) is a wind-noise loop
    # with no notes (its spectrogram: broadband noise and whistling gusts), so it is left out.
    flare-game) find "$d/usr/share/games/flare/mods" -type f -iname '*.ogg' -path '*/music/*' \
                  ! -name 'wind_ambient.ogg' ;;
    # trackballs: music/ holds the level songs (sfx/ are effects).
    trackballs-data) find "$d/usr/share/games/trackballs/music" -type f -iname '*.ogg' ;;
    # pushover: the package holds only themes/*.ogg, the background song of each level theme
    # (option.ogg: the menu's).
    pushover-data) find "$d/usr/share/pushover/themes" -type f -iname '*.ogg' ;;
    # megaglest: data/core/menu/music (menu, intro) and each faction's music/ folder; every
    # other .ogg/.wav there is a unit, tileset or interface sound.
    megaglest-data) find "$d/usr/share/games/megaglest" -type f -iname '*.ogg' -path '*/music/*' ;;
    # openclonk: Music.ocg is the unpacked music group; the other .oc? groups are packed
    # c4group archives of scenarios, objects and sound effects (Sound.ocg).
    openclonk-data) find "$d/usr/share/games/openclonk/Music.ocg" -type f -iname '*.ogg' ;;
    # redeclipse: data/sounds/music/track_*.ogg, and maps/tonatiuh.ogg, the one map song
    # (tonatiuh.cfg: mapmusic "maps/tonatiuh.ogg"); sounds/ambience etc. are effects.
    redeclipse-data)
      find "$d/usr/share/games/redeclipse/data/sounds/music" -type f -iname '*.ogg'
      find "$d/usr/share/games/redeclipse/data/maps" -maxdepth 1 -type f -name 'tonatiuh.ogg' ;;
    *) echo "no music rule for $1" >&2; exit 1 ;;
  esac | LC_ALL=C sort
}

safe() { # lowercased, [a-z0-9_-] only
  printf '%s' "$1" | tr 'A-Z' 'a-z' | sed -e 's/[^a-z0-9_-]\+/_/g' -e 's/^_//' -e 's/_$//'
}

# 4. Choose, name and convert. choose prints "source<TAB>name" for the tracks taken (run in
# this shell, not a subshell, so SEEN_MD5 spans the packages); skips go to $SKIPPED.tmp. Names: the base name; where two kept sources of one package share it,
# each is prefixed with its folder's name.
declare -A SEEN_MD5=()
choose() { # $1 package
  local pkg="$1" f secs sum b
  local -a keep=()
  while IFS= read -r f; do
    secs="$(soxi -D "$f")"
    if [ "$(echo "$secs < $MIN_SECONDS" | bc -l)" = 1 ]; then
      printf '%s\t%s\t%s\n' "$pkg" "$f" "shorter than ${MIN_SECONDS} s ($(printf '%.1f' "$secs") s)" >>"$SKIPPED.tmp"
      continue
    fi
    sum="$(md5sum <"$f" | cut -d' ' -f1)"
    if [ -n "${SEEN_MD5[$sum]:-}" ]; then
      printf '%s\t%s\t%s\n' "$pkg" "$f" "same bytes as ${SEEN_MD5[$sum]}" >>"$SKIPPED.tmp"
      continue
    fi
    SEEN_MD5[$sum]="$f"
    keep+=("$f")
  done < <(list_music "$pkg")
  declare -A count=()
  for f in "${keep[@]}"; do b="$(basename "$f")"; b="$(safe "${b%.*}")"; count[$b]=$(( ${count[$b]:-0} + 1 )); done
  for f in "${keep[@]}"; do
    b="$(basename "$f")"; b="$(safe "${b%.*}")"
    if [ "${count[$b]}" -gt 1 ]; then b="$(safe "$(basename "$(dirname "$f")")")_$b"; fi
    printf '%s\t%s\n' "$f" "$b"
  done
}

convert_one() { # $1 package, $2 source file, $3 name
  local pkg="$1" src="$2" out="$AUDIO/$1/$3.ogg"
  printf '%s\t%s\t%s\n' "$pkg" "audio/$pkg/$3.ogg" "$src" >>"$SOURCES.tmp"
  [ -s "$out" ] && return 0
  mkdir -p "$AUDIO/$pkg"
  "${NICE[@]}" sox -q -G "$src" -r 22050 -c 1 -C 5 "$out.tmp.ogg"
  mv "$out.tmp.ogg" "$out"
}

SOURCES="$CORPUS/sources-more.tsv"   # package, corpus path, extracted source: read by licenses.py
SKIPPED="$CORPUS/sources-more-skipped.tsv"
printf 'package\tpath\tsource\n' >"$SOURCES.tmp"
printf 'package\tsource\treason\n' >"$SKIPPED.tmp"
for pkg in "${PKGS[@]}"; do
  choose "$pkg" >"$SOURCES.chosen"
  dups="$(cut -f2 "$SOURCES.chosen" | sort | uniq -d)"
  if [ -n "$dups" ]; then echo "error: $pkg has clashing track names: $dups" >&2; exit 1; fi
  n=0
  while IFS=$'\t' read -r f name; do
    [ -n "$f" ] || continue
    convert_one "$pkg" "$f" "$name"; n=$((n + 1))
  done <"$SOURCES.chosen"
  # A converted track that is no longer chosen (a rule above changed) leaves the folder.
  for f in "$AUDIO/$pkg"/*.ogg; do
    [ -e "$f" ] || continue
    if ! cut -f2 "$SOURCES.chosen" | grep -qxF "$(basename "$f" .ogg)"; then
      echo "removing $f: no longer chosen"; rm -f "$f"
    fi
  done
  echo "$pkg: $n tracks, $(grep -c "^$pkg	" "$SKIPPED.tmp" || true) sources skipped"
done
rm -f "$SOURCES.chosen"
mv "$SOURCES.tmp" "$SOURCES"
mv "$SKIPPED.tmp" "$SKIPPED"

# 5. The licences and attributions of the music (licenses.py reads sources.tsv and this
# script's sources-more.tsv).
python3 "$HERE/licenses.py" --corpus "$CORPUS" --out "$HERE/LICENSES.md"

# 6. Table of tracks and minutes per package.
package_table "$SOURCES" "${PKGS[@]}"
