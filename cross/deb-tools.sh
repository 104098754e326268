#!/usr/bin/env bash
# Installs what building and checking hark's Debian packages needs (idempotent): cargo-deb
# (pinned, from crates.io, into cargo's bin), and Debian's lintian and dpkg-dev. Run as root
# (or with sudo available) for the apt part.
#   bash cross/deb-tools.sh
set -euo pipefail
CARGO_DEB_VERSION=3.8.0
pkgs=(lintian dpkg-dev xz-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "deb-tools: installing ${missing[*]}" >&2
  # A mirror mid-sync fails one index now and then; install from the indices that did load.
  $sudo_cmd apt-get update -qq || echo "deb-tools: apt-get update reported errors; going on" >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  echo "deb-tools: installing cargo-deb $CARGO_DEB_VERSION" >&2
  # Its own target dir: never a rebuild of hark's, and nothing left in the checkout.
  CARGO_TARGET_DIR="${TMPDIR:-/tmp}/cargo-deb-build" \
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi
