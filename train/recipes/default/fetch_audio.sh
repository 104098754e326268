#!/usr/bin/env bash
# fetch_audio.sh — step 1 of hark's default-model recipe: the real recordings.
#
# What it does: downloads Debian's game-music packages (wesnoth-1.16-music, ufoai-music,
# warzone2100-music, nexuiz-music, supertuxkart-data), unpacks each with `dpkg -x`, takes
# only its music (nexuiz: the OGGs inside music.pk3; supertuxkart: data/music/*.ogg, not
# the sound effects, and not the sped-up last-lap copies of tracks; ufoai: the OGGs in its
# 0music.pk3 less the dynamic-music test excerpts), and converts every
# track to 22050 Hz mono OGG Vorbis (quality 5) in data/default-corpus/audio/<package>/.
# Warzone 2100 ships Opus, which hark cannot decode: opusdec decodes it first.
# Prints a table of tracks and minutes per package. Re-running skips finished work.
#
# What it needs (Debian): apt (for `apt-get download`), dpkg, unzip, sox with Vorbis
# (libsox-fmt-all), opus-tools (opusdec), vorbis-tools (vorbiscomment). As root it installs the missing ones itself.
# Only these five packages: the other music packages of Debian are kept for evaluation.
#
# Usage: bash train/recipes/default/fetch_audio.sh   (env HARK_CORPUS overrides the
# corpus folder, default <repo>/data/default-corpus)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
CORPUS="${HARK_CORPUS:-$ROOT/data/default-corpus}"
DEBS="$CORPUS/debs"
EXTRACT="$CORPUS/extract"
AUDIO="$CORPUS/audio"
PKGS=(wesnoth-1.16-music ufoai-music warzone2100-music nexuiz-music supertuxkart-data)
NICE=(nice -n 19)

# shellcheck source=debs.sh
source "$HERE/debs.sh"
need=()
need_common_tools
command -v opusdec >/dev/null || need+=(opus-tools)
install_missing ${need[@]+"${need[@]}"}

mkdir -p "$DEBS" "$EXTRACT" "$AUDIO"

# 1. The .deb files: reuse a copy already on this machine, else apt-get download.
REUSE_DIRS=("$ROOT/data/debs" "$ROOT/data/nx" "$ROOT/data/wz" "$ROOT/data")
download_debs "${PKGS[@]}"

# 2. Unpack.
unpack_debs "${PKGS[@]}"

# nexuiz-music and ufoai-music keep their music in a .pk3, which is a zip of OGG files.
for pkg in nexuiz-music ufoai-music; do
  dest="$EXTRACT/$pkg/pk3"
  if [ -f "$dest/.done" ]; then continue; fi
  mkdir -p "$dest"
  while IFS= read -r pk3; do
    echo "unzipping $pk3"
    "${NICE[@]}" unzip -o -q "$pk3" -d "$dest"
  done < <(find "$EXTRACT/$pkg/usr" -iname '*.pk3')
  touch "$dest/.done"
done

# 3. Convert each package's music to 22050 Hz mono OGG Vorbis, quality 5.
safe_name() { # basename without extension, lowercased, [a-z0-9_-] only
  local b; b="$(basename "$1")"; b="${b%.*}"
  printf '%s' "$b" | tr 'A-Z' 'a-z' | sed -e 's/[^a-z0-9_-]\+/_/g' -e 's/^_//' -e 's/_$//'
}

convert_one() { # $1 package, $2 source file
  local pkg="$1" src="$2" name out tmp
  name="$(safe_name "$src")"
  out="$AUDIO/$pkg/$name.ogg"
  printf '%s\t%s\t%s\n' "$pkg" "audio/$pkg/$name.ogg" "$src" >>"$SOURCES.tmp"
  [ -s "$out" ] && return 0
  mkdir -p "$AUDIO/$pkg"
  tmp="$out.tmp.ogg"
  case "$src" in
    *.opus)
      "${NICE[@]}" opusdec --quiet --rate 22050 "$src" "$out.tmp.wav"
      "${NICE[@]}" sox -q -G "$out.tmp.wav" -r 22050 -c 1 -C 5 "$tmp"
      rm -f "$out.tmp.wav" ;;
    *)
      "${NICE[@]}" sox -q -G "$src" -r 22050 -c 1 -C 5 "$tmp" ;;
  esac
  mv "$tmp" "$out"
}

list_music() { # $1 package: prints the source music files, one a line
  local d="$EXTRACT/$1" stk
  case "$1" in
    nexuiz-music) find "$d/pk3" -type f -iname '*.ogg' ;;
    # ufoai: dynamictest-* are short test excerpts of the dynamic-music system, not tracks.
    ufoai-music) find "$d/pk3" -type f -iname '*.ogg' | grep -v '/dynamictest-' ;;
    # supertuxkart: only data/music; a track's .music file names its sped-up last-lap copy
    # (fast-filename), a near-duplicate of the track, which is left out.
    supertuxkart-data)
      stk="$(find "$d" -type d -path '*/supertuxkart/data/music' | head -n1)"
      find "$stk" -maxdepth 1 -type f -iname '*.ogg' \
        | grep -v -x -F -f <(sed -n 's/.*fast-filename[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$stk"/*.music \
                              | sed "s|^|$stk/|"; echo /nonexistent) ;;
    warzone2100-music) find "$d/usr" -type f \( -iname '*.opus' -o -iname '*.ogg' \) ;;
    # wesnoth: silence.ogg is 10 s of digital silence (a placeholder), not a track.
    wesnoth-1.16-music) find "$d/usr" -type f -iname '*.ogg' | grep -i '/music/' | grep -v '/silence\.ogg$' ;;
    *) find "$d/usr" -type f \( -iname '*.ogg' -o -iname '*.flac' -o -iname '*.mp3' -o -iname '*.wav' \) \
        | grep -i '/music/' ;;
  esac | LC_ALL=C sort
}

SOURCES="$CORPUS/sources.tsv"   # package, corpus path, extracted source: read by licenses.py
printf 'package\tpath\tsource\n' >"$SOURCES.tmp"
for pkg in "${PKGS[@]}"; do
  n=0
  while IFS= read -r f; do
    convert_one "$pkg" "$f"; n=$((n + 1))
  done < <(list_music "$pkg")
  echo "$pkg: $n source files"
  # Two sources with one safe name would silently collapse: refuse.
  dups="$(list_music "$pkg" | while IFS= read -r f; do safe_name "$f"; echo; done | sort | uniq -d)"
  if [ -n "$dups" ]; then echo "error: $pkg has clashing track names: $dups" >&2; exit 1; fi
done

mv "$SOURCES.tmp" "$SOURCES"

# 4. The licences and attributions of the music, from each package's copyright file.
python3 "$HERE/licenses.py" --corpus "$CORPUS" --out "$HERE/LICENSES.md"

# 5. Table of tracks and minutes per package.
package_table "$SOURCES" "${PKGS[@]}"
