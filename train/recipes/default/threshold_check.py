#!/usr/bin/env python3
"""threshold_check.py — how many words pass a model's threshold on held-out tracks, per kind.

What it does: runs `hark tag` (the daemon's decoder, front-end, runtime and scorer, so the
model's calibration, its score_threshold and the vocabulary's own @thresholds all apply) with
a vocabulary over the test tracks of a hark-train run's split.json, and prints, per kind of
track (game music, score renderings, talk), how many words pass on a track (median, range,
how many tracks get none) and the words that pass most often. The model card's threshold
section quotes it for the shipped model and the shipped recipe's split.

Usage: python3 threshold_check.py [--model models/default] [--vocabulary models/vocabulary.txt]
                                   [--split data/default-corpus/runs/default/split.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
RENDERINGS = {"fluid-soundfont-gm", "csound-soundfont", "real-samples"}
TALK = {"tuxpaint-stamps-default", "asterisk-core-sounds-en-wav", "ktuberling-data"}


def kind(track):
    if track["source"] in RENDERINGS:
        return "score renderings"
    if track["source"] in TALK or track["id"].startswith("speech/"):
        return "talk (half over music)"
    return "game music"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default"))
    ap.add_argument("--vocabulary", default=os.path.join(ROOT, "models", "vocabulary.txt"))
    ap.add_argument("--split", default=os.path.join(ROOT, "data", "default-corpus", "runs", "default", "split.json"))
    ap.add_argument("--hark", default=os.path.join(ROOT, "target", "release", "hark"))
    ap.add_argument("--common", type=int, default=6, help="how many of the most frequent words to list")
    args = ap.parse_args()
    try:
        with open(args.split) as f:
            tracks = [t for t in json.load(f)["tracks"] if t["part"] == "test"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"{args.split}: not a hark-train split.json ({e}); train the recipe first (train.sh)")
    if not tracks:
        sys.exit(f"{args.split}: no test tracks")
    missing = [t["path"] for t in tracks if not os.path.exists(t["path"])]
    if missing:
        sys.exit(f"{missing[0]}: no such file (run the recipe's fetch and render steps)")
    # --top-k 0 keeps every word that passes; the threshold is the model's own.
    out = subprocess.run([args.hark, "tag", "--model", args.model, "--vocabulary", args.vocabulary,
                          "--top-k", "0", "-j", "1", *[t["path"] for t in tracks]],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{args.hark} tag failed: {out.stderr.strip()}")
    passed = {}
    for line in out.stdout.splitlines():
        row = json.loads(line)
        passed[row["file"]] = [t["tag"] for t in row["tags"]]
    by_kind = defaultdict(list)
    for t in tracks:
        by_kind[kind(t)].append(passed[t["path"]])
    by_kind["all"] = [passed[t["path"]] for t in tracks]
    print(f"words of {args.vocabulary} passing {args.model}'s thresholds on {len(tracks)} test tracks of {args.split}")
    print(f"| tracks | n | words passing: median (range) | with none | most often passing (tracks) |")
    print("|---|---:|---:|---:|---|")
    for k in ["game music", "score renderings", "talk (half over music)", "all"]:
        rows = by_kind.get(k)
        if not rows:
            continue
        counts = [len(r) for r in rows]
        common = Counter(w for r in rows for w in r).most_common(args.common)
        print(f"| {k} | {len(rows)} | {statistics.median(counts):g} ({min(counts)}–{max(counts)}) | "
              f"{sum(1 for c in counts if c == 0)} | {', '.join(f'{w} ({c})' for w, c in common)} |")


if __name__ == "__main__":
    main()
