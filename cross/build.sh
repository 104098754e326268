#!/usr/bin/env bash
# Builds hark for a Raspberry-Pi-class target with Debian's cross compilers and multiarch
# ALSA headers (no Docker needed), or for this amd64 host; optionally runs the tests under
# qemu-user, or makes the Debian package.
#
#   cross/build.sh [aarch64|armv7|amd64] [--test] [--check] [--deb] [--install-deps]
#                  [--profile P] [--no-build] [-- CARGO-DEB ARGS...]
#
# --install-deps  apt-get the cross gcc, libasound2-dev:<arch> and qemu-user-static (root)
# --check         type-check only (fast; what CI runs when time is short)
# --test          build the library and file-level tests and run them under qemu-user
# --deb           build with the `dist` profile (or --profile) and make
#                 target/debian/hark_<version>_<arm64|armhf|amd64>.deb with cargo-deb
#                 (installed by cross/deb-tools.sh); a cross package's binary is then run
#                 with --version under qemu-user
# --no-build      with --deb: package the binary already built with that profile
# Output: target/<triple>/<profile>/hark, and with --deb the package under target/debian/
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${1:-aarch64}; shift || true
case "$arch" in
  aarch64) triple=aarch64-unknown-linux-gnu; deb=arm64; gnu=aarch64-linux-gnu; qemu=qemu-aarch64-static ;;
  armv7) triple=armv7-unknown-linux-gnueabihf; deb=armhf; gnu=arm-linux-gnueabihf; qemu=qemu-arm-static ;;
  amd64|x86_64) triple=""; deb=amd64 ;;
  *) echo "unknown architecture '$arch' (aarch64, armv7 or amd64)" >&2; exit 2 ;;
esac

mode=build; install=0; profile=""; build=1; deb_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --test) mode=test ;;
    --check) mode=check ;;
    --deb) mode=deb ;;
    --install-deps) install=1 ;;
    --no-build) build=0 ;;
    --profile) shift; profile=${1:?--profile needs a name} ;;
    --) shift; deb_args=("$@"); break ;;
    *) echo "unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$profile" ] || { [ "$mode" = deb ] && profile=dist || profile=release; }

if [ -z "$triple" ]; then
  # The host's own build: no cross toolchain.
  [ "$(dpkg --print-architecture)" = amd64 ] || { echo "amd64 builds run on an amd64 host" >&2; exit 2; }
  case "$mode" in
    check) cargo check --locked --profile "$profile" --lib --bins ;;
    build) cargo build --locked --profile "$profile" --bin hark ;;
    test)  cargo test --locked --profile "$profile" --lib ;;
    deb)   [ "$build" = 0 ] || cargo build --locked --profile "$profile" --bin hark
           bash cross/package.sh "$profile" "" "${deb_args[@]}" ;;
  esac
  exit 0
fi

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
  check) cargo check --locked --profile "$profile" --target "$triple" --lib --bins ;;
  build) cargo build --locked --profile "$profile" --target "$triple" --bin hark ;;
  deb)   [ "$build" = 0 ] || cargo build --locked --profile "$profile" --target "$triple" --bin hark
         package=$(bash cross/package.sh "$profile" "$triple" "${deb_args[@]}")
         echo "$package"
         # The packaged binary, as the box would run it (qemu-user stands in for the CPU).
         unpacked=$(mktemp -d); trap 'rm -rf "$unpacked"' EXIT
         dpkg-deb -x "$package" "$unpacked"
         "$qemu" "$unpacked/usr/bin/hark" --version ;;
  # The library's unit tests and the file-level integration tests. Tests that exec the hark
  # binary (the daemon, systemd and `cli_*` tests) are left out: the host cannot run it.
  test)  cargo test --locked --profile "$profile" --target "$triple" --lib \
           --test audio --test frontend --test model --test glove --test vocab -- --skip cli_ ;;
esac
