#!/usr/bin/env bash
# Cross-builds hark for a Raspberry-Pi-class target with Debian's cross compilers and
# multiarch ALSA headers (no Docker needed), and optionally runs its tests under qemu-user.
#
#   cross/build.sh [aarch64|armv7] [--test] [--check] [--install-deps]
#
# --install-deps  apt-get the cross gcc, libasound2-dev:<arch> and qemu-user-static (root)
# --check         type-check only (fast; what CI runs when time is short)
# --test          build the library and file-level tests and run them under qemu-user
# Output: target/<triple>/release/hark
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${1:-aarch64}; shift || true
case "$arch" in
  aarch64) triple=aarch64-unknown-linux-gnu; deb=arm64; gnu=aarch64-linux-gnu; qemu=qemu-aarch64-static ;;
  armv7) triple=armv7-unknown-linux-gnueabihf; deb=armhf; gnu=arm-linux-gnueabihf; qemu=qemu-arm-static ;;
  *) echo "unknown architecture '$arch' (aarch64 or armv7)" >&2; exit 2 ;;
esac

mode=build; install=0
for a in "$@"; do
  case "$a" in
    --test) mode=test ;;
    --check) mode=check ;;
    --install-deps) install=1 ;;
    *) echo "unknown option '$a'" >&2; exit 2 ;;
  esac
done

if [ "$install" = 1 ]; then
  dpkg --add-architecture "$deb"
  # A mirror mid-sync fails one index now and then; install from the indices that did load.
  apt-get update -qq || echo "cross/build.sh: apt-get update reported errors; going on" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    "gcc-$gnu" "libc6-dev-$deb-cross" "libasound2-dev:$deb" qemu-user-static pkg-config
fi
rustup target add "$triple" >/dev/null

upper=$(echo "$triple" | tr 'a-z-' 'A-Z_')
export "CARGO_TARGET_${upper}_LINKER=$gnu-gcc"
export "CC_${triple//-/_}=$gnu-gcc"
# No `-L /usr/$gnu`: that prefix holds the cross toolchain's ld.so (libc6-$deb-cross), which
# with the multiarch libc6:$deb that libasound2-dev:$deb pulls in hangs in pthread_create
# under qemu-user. Without a prefix the guest runs the multiarch loader and libc, a matched pair.
export "CARGO_TARGET_${upper}_RUNNER=$qemu"
# alsa-sys finds the target's libasound through pkg-config.
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_LIBDIR="/usr/lib/$gnu/pkgconfig:/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR=/

case "$mode" in
  check) cargo check --locked --release --target "$triple" --lib --bins ;;
  build) cargo build --locked --release --target "$triple" --bin hark
         file "target/$triple/release/hark" 2>/dev/null || ls -l "target/$triple/release/hark" ;;
  # The library's unit tests and the file-level integration tests. Tests that exec the hark
  # binary (the daemon, systemd and `cli_*` tests) are left out: the host cannot run it.
  test)  cargo test --locked --release --target "$triple" --lib \
           --test audio --test frontend --test model --test glove --test vocab -- --skip cli_ ;;
esac
