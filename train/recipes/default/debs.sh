# debs.sh — the steps fetch_audio.sh and fetch_more_music.sh share; sourced, not run.
# Uses the caller's DEBS (where .deb files go), EXTRACT (where they unpack) and NICE.

# Adds to the caller's `need` array the Debian packages of the tools both scripts use: sox
# with Vorbis, unzip, and vorbiscomment (licenses.py reads titles and authors with it;
# without it LICENSES.md silently loses them).
need_common_tools() {
  command -v sox >/dev/null || need+=(sox libsox-fmt-all)
  if command -v sox >/dev/null && ! sox -h 2>&1 | grep -qw vorbis; then need+=(libsox-fmt-all); fi
  command -v unzip >/dev/null || need+=(unzip)
  command -v vorbiscomment >/dev/null || need+=(vorbis-tools)
}

# install_missing PKG...: apt-get install them (through sudo when not root); none: nothing.
install_missing() {
  [ $# -gt 0 ] || return 0
  echo "installing: $*"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q --no-install-recommends "$@"
  else sudo apt-get install -y -q --no-install-recommends "$@"; fi
}

# download_debs PKG...: each package's .deb into $DEBS, unless one is there; a copy in one of
# the caller's REUSE_DIRS (if set) is copied rather than downloaded again.
download_debs() {
  local pkg dir f found
  mkdir -p "$DEBS"
  for pkg in "$@"; do
    if compgen -G "$DEBS/${pkg}_*.deb" >/dev/null; then continue; fi
    found=""
    for dir in ${REUSE_DIRS[@]+"${REUSE_DIRS[@]}"}; do
      for f in "$dir/${pkg}_"*.deb; do
        [ -f "$f" ] && found="$f" && break 2
      done
    done
    if [ -n "$found" ]; then
      echo "reusing $found"
      cp "$found" "$DEBS/"
    else
      echo "downloading $pkg"
      (cd "$DEBS" && apt-get download "$pkg")
    fi
  done
}

# unpack_debs PKG...: `dpkg -x` each into $EXTRACT/<pkg>/, once (a .done marker).
unpack_debs() {
  local pkg dest deb
  for pkg in "$@"; do
    dest="$EXTRACT/$pkg"
    if [ -f "$dest/.done" ]; then continue; fi
    rm -rf "$dest"; mkdir -p "$dest"
    deb="$(ls "$DEBS/${pkg}_"*.deb | head -n1)"
    echo "unpacking $deb"
    "${NICE[@]}" dpkg -x "$deb" "$dest"
    touch "$dest/.done"
  done
}

# package_table SOURCES PKG...: tracks, minutes and MiB per package, from a sources table
# (package, corpus-relative path, source) and the caller's CORPUS and AUDIO.
package_table() {
  local sources=$1 pkg p path n secs mib tt=0 tm=0
  shift
  printf '\n%-22s %7s %9s %9s\n' package tracks minutes MiB
  for pkg in "$@"; do
    n=0; secs=0
    while IFS=$'\t' read -r p path _; do
      [ "$p" = "$pkg" ] || continue
      n=$((n + 1)); secs="$(echo "$secs + $(soxi -D "$CORPUS/$path")" | bc -l)"
    done <"$sources"
    mib="$(du -sm "$AUDIO/$pkg" 2>/dev/null | cut -f1)"
    printf '%-22s %7d %9.1f %9s\n' "$pkg" "$n" "$(echo "$secs / 60" | bc -l)" "${mib:-0}"
    tt=$((tt + n)); tm="$(echo "$tm + $secs / 60" | bc -l)"
  done
  printf '%-22s %7d %9.1f  (%.2f h)\n' total "$tt" "$tm" "$(echo "$tm / 60" | bc -l)"
}
