#!/usr/bin/env bash
# Times hark-train epochs of 10,000 windows (batch 32) on the synthetic dataset and prints the
# median seconds per epoch. A bench script, not a test: this machine is shared and noisy.
#   bash train/benches/epoch.sh [EPOCHS] [DEVICE]      (DEVICE: cpu | cuda | auto)
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs=${1:-3}
device=${2:-cpu}
source train/env.sh
# PROFILE=dev reuses a test build (dependencies are optimised there too).
profile=${PROFILE:-release}
cargo build -q --profile "$profile" -p hark-train --example synthetic --bin hark-train
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dir=$profile; [ "$profile" = dev ] && dir=debug
bin=${CARGO_TARGET_DIR:-target}/$dir
"$bin/examples/synthetic" "$work" 12 6 "$epochs" 10000 >/dev/null
"$bin/hark-train" prepare -c "$work/run.toml" >/dev/null 2>&1
"$bin/hark-train" train -c "$work/run.toml" --device "$device" 2>&1 >/dev/null | grep '^epoch' | tee "$work/epochs.txt"
python3 - "$work/epochs.txt" <<'PY'
import re, statistics, sys
secs = [float(re.search(r"([0-9.]+) s$", l).group(1)) for l in open(sys.argv[1]) if l.startswith("epoch")]
print(f"epochs of 10,000 windows: median {statistics.median(secs):.1f} s over {len(secs)} "
      f"(min {min(secs):.1f}, max {max(secs):.1f})")
PY
