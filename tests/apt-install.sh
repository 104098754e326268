#!/usr/bin/env bash
# Installs those of the named Debian packages that are missing (idempotent), as root or with
# sudo. Shared by tests/setup.sh, cross/deb-tools.sh and benches/tag_corpus.sh.
#   bash tests/apt-install.sh PACKAGE...
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
echo "apt-install: installing ${missing[*]}" >&2
# A mirror mid-sync fails one index now and then; install from the indices that did load.
$sudo_cmd apt-get update -qq || echo "apt-install: apt-get update reported errors; going on" >&2
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
