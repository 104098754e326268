#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing (apt packages, the torch venv
# hark-train builds against, cargo-deb and lintian for the package test), then the whole
# workspace's suite.
#   bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
# The web page's test drives a real headless browser (only the tests need it, not `hark run`).
bash tests/apt-install.sh chromium chromium-driver
bash train/setup.sh
bash cross/deb-tools.sh
source train/env.sh
# As root the package test installs, upgrades and purges the .deb for real; it must not
# quietly skip here.
if [ "$(id -u)" = 0 ]; then export REQUIRE_HARK_PACKAGE_TEST=1; fi
# chromium and chromium-driver are installed above: the browser test must run, not skip.
export REQUIRE_BROWSER_TEST=1
cargo test --workspace --locked
