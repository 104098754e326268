#!/usr/bin/env python3
"""teacher_check.py — agreement with the musicnn teacher on whole packages, as the daemon hears them.

What it does: runs `hark tag` (the daemon's decoder, front-end and tract runtime) with all 50
MSD_musicnn tags as its vocabulary over the tracks of the given packages, and measures, per
tag, how well the model's score ranks the tracks whose teacher top-5 (the five highest
track-mean probabilities in teacher_windows.csv.gz, vocal tags included) hold the tag above
those whose top-5 do not: AUC-l, averaged over the tags that have at least one positive and
one negative. This is issue 9's "teacher agreement" rule; hark-train's reports use the
recipe's training labels instead (make_manifest.py: track mean >= 0.10 plus the top 2).

Judge only models that never trained on these packages (the cross-source runs' exported
seeds, e.g. `hark-train export -c runs/cross-source-all-seed1.toml --out DIR`).

With --threshold T, a track's positives are instead the tags whose track mean is >= T
(make_manifest.py's rule for the MTT words), and --tags limits the tags judged; e.g. the MTT
tempo and energy words against the MTT teacher:
    teacher_check.py MODEL... --teacher teacher_windows_mtt.csv.gz --tags slow,fast,drums,beat --threshold 0.2

Usage: python3 teacher_check.py MODEL_DIR... [--packages nexuiz-music,wesnoth-1.16-music]
"""
import argparse
import csv
import gzip
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from speech_check import ROOT, auc, scores  # noqa: E402

TOP = 5


def teacher_top(path, packages, threshold=None):
    """Per corpus path of the packages: (tag names, the set of its teacher top-5 tags, or of
    its tags with a track mean >= threshold)."""
    sums, counts = {}, {}
    with gzip.open(path, "rt", newline="") as f:
        r = csv.reader(f)
        tags = [h.lower() for h in next(r)[3:]]
        for row in r:
            if row[0].split("/")[1] not in packages:
                continue
            v = [float(x) for x in row[3:]]
            s = sums.setdefault(row[0], [0.0] * len(v))
            for i, x in enumerate(v):
                s[i] += x
            counts[row[0]] = counts.get(row[0], 0) + 1
    if threshold is not None:
        top = {p: {tags[i] for i, x in enumerate(s) if x / counts[p] >= threshold} for p, s in sums.items()}
    else:
        top = {p: {tags[i] for i in sorted(range(len(s)), key=lambda i: -s[i])[:TOP]} for p, s in sums.items()}
    return tags, top


def agreement(model_scores, top, tags, files):
    """Mean AUC-l over tags with positives and negatives among `files`, and how many tags."""
    per_tag = []
    for t in tags:
        pos = [model_scores[f][t] for f in files if t in top[f]]
        neg = [model_scores[f][t] for f in files if t not in top[f]]
        if pos and neg:
            per_tag.append(auc(pos, neg))
    return (statistics.fmean(per_tag), len(per_tag)) if per_tag else (float("nan"), 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--corpus", default=os.environ.get("HARK_CORPUS", os.path.join(ROOT, "data", "default-corpus")))
    ap.add_argument("--teacher", default=os.path.join(HERE, "teacher_windows.csv.gz"))
    ap.add_argument("--hark", default=os.path.join(ROOT, "target", "release", "hark"))
    ap.add_argument("--packages", default="nexuiz-music,wesnoth-1.16-music")
    ap.add_argument("--threshold", type=float, default=None,
                    help="positives: track mean >= this (default: the teacher's top 5)")
    ap.add_argument("--tags", default="", help="comma-separated tags to judge (default: all)")
    args = ap.parse_args()
    packages = [p for p in args.packages.split(",") if p]
    tags, top = teacher_top(args.teacher, set(packages), args.threshold)
    if args.tags:
        wanted = [t.strip().lower() for t in args.tags.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in tags]
        if unknown:
            sys.exit(f"--tags: {', '.join(unknown)} not among {args.teacher}'s tags")
        tags = wanted
    by_package = {p: sorted(os.path.join(args.corpus, k) for k in top if k.split("/")[1] == p) for p in packages}
    for p, files in by_package.items():
        if not files:
            sys.exit(f"{args.teacher}: no teacher rows for package {p}")
        missing = [f for f in files if not os.path.exists(f)]
        if missing:
            sys.exit(f"{missing[0]}: no such file (run fetch_audio.sh / fetch_more_music.sh)")
    top = {os.path.join(args.corpus, k): v for k, v in top.items()}
    every = [f for files in by_package.values() for f in files]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as v:
        v.write("\n".join(tags) + "\n")
    results = {}
    try:
        for model in args.models:
            s = scores(args.hark, model, v.name, every)
            row = {p: agreement(s, top, tags, files) for p, files in by_package.items()}
            row["pooled"] = agreement(s, top, tags, every)
            results[model] = row
    finally:
        os.unlink(v.name)
    cols = packages + ["pooled"]
    rule = f"track mean >= {args.threshold}" if args.threshold is not None else f"top-{TOP}"
    print(f"teacher {rule} agreement, AUC-l (tags with positives and negatives)")
    print(f"{'model':40s} " + " ".join(f"{c:>22s}" for c in cols))
    for model, row in results.items():
        print(f"{model:40s} " + " ".join(f"{row[c][0]:16.3f} ({row[c][1]:2d})" for c in cols))
    if len(results) > 1:
        print(f"{'mean ± sd':40s} " + " ".join(
            f"{statistics.fmean(r[c][0] for r in results.values()):10.3f} ± {statistics.stdev(r[c][0] for r in results.values()):.3f}     "
            for c in cols))


if __name__ == "__main__":
    main()
