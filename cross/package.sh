#!/usr/bin/env bash
# Makes hark's Debian package from a binary already built with PROFILE (for TRIPLE, or the
# host when it is empty) and prints the .deb's path last. cross/build.sh --deb calls it.
#   bash cross/package.sh PROFILE [TRIPLE] [CARGO-DEB ARGS...]
# HARK_DEB_OUT: the folder for the .deb (default target/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:?usage: cross/package.sh PROFILE [TRIPLE] [CARGO-DEB ARGS...]}
triple=${2:-}
shift $(( $# >= 2 ? 2 : 1 ))
bash cross/deb-tools.sh
# The packaged configuration is the annotated example with the operator's vocabulary in /etc
# (a conffile beside it), so both survive upgrades.
mkdir -p target/deb
sed 's|^# vocabulary = "/etc/hark/vocabulary.txt"$|vocabulary = "/etc/hark/vocabulary.txt"|' \
  systemd/hark.toml > target/deb/hark.toml
if ! grep -q '^vocabulary = "/etc/hark/vocabulary.txt"$' target/deb/hark.toml; then
  echo "cross/package.sh: systemd/hark.toml has no '# vocabulary = \"/etc/hark/vocabulary.txt\"' line to turn on" >&2
  exit 1
fi
out=${HARK_DEB_OUT:-target/debian}
mkdir -p "$out"
args=(--no-build --profile "$profile" --output "$out")
# Stripped whatever the profile says (lintian calls an unstripped binary an error); a cross
# build's `dist` profile strips in rustc already, without a target strip tool.
if [ -n "$triple" ]; then args+=(--target "$triple"); else args+=(--strip); fi
deb=$(cargo deb "${args[@]}" "$@" | tail -1)
binary_bytes=$(dpkg-deb --fsys-tarfile "$deb" | tar -tvf - ./usr/bin/hark | awk '{print $3}')
echo "cross/package.sh: $(stat -c %s "$deb") bytes, /usr/bin/hark $binary_bytes bytes" >&2
echo "$deb"
