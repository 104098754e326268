#!/usr/bin/env bash
# Installs what building and checking hark's Debian packages needs (idempotent): cargo-deb
# (pinned, from crates.io, into cargo's bin), and Debian's lintian and dpkg-dev. Run as root
# (or with sudo available) for the apt part.
#   bash cross/deb-tools.sh
set -euo pipefail
CARGO_DEB_VERSION=3.8.0
bash "$(dirname "$0")/../tests/apt-install.sh" lintian dpkg-dev xz-utils
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  echo "deb-tools: installing cargo-deb $CARGO_DEB_VERSION" >&2
  # Its own target dir: never a rebuild of hark's, and nothing left in the checkout.
  CARGO_TARGET_DIR="${TMPDIR:-/tmp}/cargo-deb-build" \
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi
