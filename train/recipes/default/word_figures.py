#!/usr/bin/env python3
"""word_figures.py — one word set's retrieval figure over seeds, from hark-train reports.

What it does: for each report.json (one per seed), takes one retrieval row (test, origin,
source) and averages the per-label AUC over a set of words that have positives there; prints
mean ± sample sd over the reports, then each word's mean AUC, worst first. The model card's
"instrument words on csound" figures come from here.

Word sets: instruments (render_music21.py's instrument and family words), speech
(speech, talk, voice), or a comma-separated list.
Usage: python3 word_figures.py runs/cross-source-seed{1,2,3}/report.json --source csound-soundfont
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SPEECH = ["speech", "talk", "voice"]


def instrument_words():
    # render_music21.py imports music21 lazily, so its tables load with the standard library.
    import render_music21 as r
    return sorted(set(r.WORD.values()) | set(r.FAMILY.values()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--test", default="A-X")
    ap.add_argument("--origin", default="cross-source")
    ap.add_argument("--source", default=None, help="a held-out source's row (default: the pooled row)")
    ap.add_argument("--words", default="instruments")
    args = ap.parse_args()
    words = {"instruments": instrument_words(), "speech": SPEECH}.get(args.words)
    words = words or [w.strip() for w in args.words.split(",") if w.strip()]

    per_run, per_word = [], {}
    for path in args.reports:
        report = json.load(open(path))
        rows = [r for r in report["retrieval"] if r["test"] == args.test and r["origin"] == args.origin
                and r.get("source") == args.source]
        if len(rows) != 1:
            sys.exit(f"{path}: {len(rows)} retrieval rows for {args.test} {args.origin} {args.source}")
        aucs = {p["label"]: p["auc"] for p in rows[0]["metrics"]["per_label"]
                if p["label"] in words and p["auc"] is not None}
        if not aucs:
            sys.exit(f"{path}: none of the words has positives in that row")
        per_run.append(statistics.fmean(aucs.values()))
        for w, a in aucs.items():
            per_word.setdefault(w, []).append(a)
    sd = statistics.stdev(per_run) if len(per_run) > 1 else 0.0
    print(f"{args.words} ({len(per_word)} words), {args.test} {args.origin} {args.source or ''}: "
          f"AUC-l {statistics.fmean(per_run):.3f} ± {sd:.3f} over {len(per_run)} runs")
    for w, a in sorted(per_word.items(), key=lambda kv: statistics.fmean(kv[1])):
        print(f"  {w:12s} {statistics.fmean(a):.2f}")


if __name__ == "__main__":
    main()
