#!/usr/bin/env python3
"""Prints the medians of the `pipeline` benches from criterion's estimates.json files, with
each target bench's ratio to the baseline measured in the same run.

    python3 benches/medians.py [CRITERION_DIR]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion.
"""
import json
import os
import sys
from pathlib import Path

# bench -> (baseline bench, what the ratio says)
BASELINES = {
    "frontend/streaming_22k05_per_window": "frontend/mel_only_130_frames",
    "frontend/streaming_44k1_per_window": "frontend/mel_only_130_frames",
    "pipeline/frontend_encoder_per_window": "frontend/streaming_22k05_per_window",
    "encoder/batch16": "encoder/batch1",
    "score/select_1000_tags_top5": "score/score_all_1000_tags",
    "glove/open_warm": "glove/mmap_only",
    "tag/tag_file_44k1_stereo": "tag/decode_only_44k1_stereo",
    "tag/tag_file_22k05_mono": "tag/decode_only_22k05_mono",
    "tag/hark_tag_process_44k1_stereo": "tag/decode_only_44k1_stereo",
}

# bench -> (target in seconds, per-item divisor, label)
TARGETS = {
    "pipeline/frontend_encoder_per_window": (2e-3, 1, "front-end + encoder <= 2 ms per window"),
    "tag/hark_tag_process_44k1_stereo": (1.0, 1, "`hark tag` of a 3-minute OGG <= 1 s"),
    "glove/open_warm": (50e-3, 1, "GloVe store open <= 50 ms (warm)"),
}

PER_ITEM = {"encoder/batch16": 16}


def fmt(seconds):
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.2f} µs"


def main():
    if len(sys.argv) > 1:
        root = Path(sys.argv[1])
    else:
        target = os.environ.get("CARGO_TARGET_DIR", "target")
        root = Path(target) / "criterion"
    medians = {}
    for est in sorted(root.glob("*/*/new/estimates.json")):
        bench = json.loads((est.parent / "benchmark.json").read_text())
        name = bench["full_id"]
        e = json.loads(est.read_text())
        med = e["median"]
        medians[name] = (
            med["point_estimate"] * 1e-9,
            med["confidence_interval"]["lower_bound"] * 1e-9,
            med["confidence_interval"]["upper_bound"] * 1e-9,
        )
    if not medians:
        sys.exit(f"no criterion results under {root}")
    width = max(len(n) for n in medians)
    print(f"{'bench':<{width}}  {'median':>12}  {'95% CI of median':>27}  notes")
    for name, (m, lo, hi) in medians.items():
        notes = []
        if name in PER_ITEM:
            notes.append(f"{fmt(m / PER_ITEM[name])} per window")
        base = BASELINES.get(name)
        if base in medians:
            bm = medians[base][0]
            if name in PER_ITEM and base == "encoder/batch1":
                notes.append(f"per-window ratio to {base}: {m / PER_ITEM[name] / bm:.2f}")
            else:
                notes.append(f"{m / bm:.2f}x {base}")
        if name in TARGETS:
            limit, _, label = TARGETS[name]
            notes.append(f"target {label}: {'met' if m <= limit else 'MISSED'}")
        print(f"{name:<{width}}  {fmt(m):>12}  [{fmt(lo):>11} .. {fmt(hi):>11}]  {'; '.join(notes)}")


if __name__ == "__main__":
    main()
