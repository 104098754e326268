#!/usr/bin/env bash
# Installs what building and testing hark needs on a fresh Debian machine (idempotent):
# ALSA headers for cpal, the mosquitto broker and alsa-utils for the integration tests,
# the Rust components used by the checks. Run as root (or with sudo available).
set -euo pipefail
pkgs=(libasound2-dev pkg-config mosquitto alsa-utils systemd)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}" >&2
  # A mirror mid-sync fails one index now and then; install from the indices that did load.
  $sudo_cmd apt-get update -qq || echo "setup: apt-get update reported errors; going on" >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The broker is started by the tests themselves on a free loopback port, never as a service.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  echo "setup: note: a system mosquitto is running; the tests start their own on free ports" >&2
fi
rustup component add clippy rustfmt >/dev/null 2>&1 || true
