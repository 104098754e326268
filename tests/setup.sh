#!/usr/bin/env bash
# Installs what building and testing hark needs on a fresh Debian machine (idempotent):
# ALSA headers for cpal, the mosquitto broker and alsa-utils for the integration tests,
# the Rust components used by the checks. Run as root (or with sudo available).
set -euo pipefail
bash "$(dirname "$0")/apt-install.sh" libasound2-dev pkg-config mosquitto alsa-utils systemd
# The broker is started by the tests themselves on a free loopback port, never as a service.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  echo "setup: note: a system mosquitto is running; the tests start their own on free ports" >&2
fi
rustup component add clippy rustfmt >/dev/null 2>&1 || true
