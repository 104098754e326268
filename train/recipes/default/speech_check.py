#!/usr/bin/env python3
"""speech_check.py — does a model tell a presenter from a song, as the daemon hears it?

What it does: runs `hark tag` (the daemon's own decoder, front-end and tract runtime) with
every word scored (--top-k 0) over held-out talk tracks and held-out music, and prints, per
word and model, the AUC of the word's score for speech against music: talk alone, talk over
a music bed, and both. Words never in the loss (zero-shot) are scored the same way.

The default files are the cross-source-speech protocol's held-out ones: ktuberling-data's
talk tracks (make_speech.py; "-bed" in the name = over a bed from a held-out package)
against nexuiz-music, wesnoth-1.16-music and the csound renderings.

Usage: python3 speech_check.py MODEL_DIR... [--hark target/release/hark] [--words w,w,...]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TRAINED = ["speech", "talk", "voice"]
ZERO_SHOT = ["talking", "spoken", "speaking", "announcer", "narrator", "conversation", "interview", "radio"]


def auc(pos, neg):
    """Probability that a positive outscores a negative (ties count half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def scores(hark, model, vocab, files):
    out = subprocess.run([hark, "tag", "--model", model, "--vocabulary", vocab, "--top-k", "0",
                          "--threshold", "-2", "-j", "1", *files], capture_output=True, text=True, check=True)
    result = {}
    for line in out.stdout.splitlines():
        row = json.loads(line)
        result[row["file"]] = {t["tag"]: t["score"] for t in row["tags"]}
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--corpus", default=os.environ.get("HARK_CORPUS", os.path.join(ROOT, "data", "default-corpus")))
    ap.add_argument("--hark", default=os.path.join(ROOT, "target", "release", "hark"))
    ap.add_argument("--words", default=",".join(TRAINED + ZERO_SHOT))
    args = ap.parse_args()
    a = os.path.join(args.corpus, "audio")
    talk = sorted(glob.glob(os.path.join(a, "speech", "ktuberling-data", "*.ogg")))
    music = sorted(glob.glob(os.path.join(a, "nexuiz-music", "*.ogg")) + glob.glob(os.path.join(a, "wesnoth-1.16-music", "*.ogg"))
                   + glob.glob(os.path.join(a, "music21-csound", "*.ogg")))
    if not talk or not music:
        sys.exit(f"{a}: no held-out talk or music (run make_speech.py and cross_source.sh first)")
    words = [w for w in args.words.split(",") if w]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as v:
        v.write("\n".join(words) + "\n")
    try:
        for model in args.models:
            s = scores(args.hark, model, v.name, talk + music)
            alone = [f for f in talk if not f.endswith("-bed.ogg")]
            bed = [f for f in talk if f.endswith("-bed.ogg")]
            print(f"\n{model}: {len(alone)} talk alone, {len(bed)} talk over a bed, {len(music)} music tracks")
            print(f"{'word':14s} {'alone':>7s} {'over bed':>9s} {'all talk':>9s}")
            for w in words:
                neg = [s[f][w] for f in music]
                row = [auc([s[f][w] for f in g], neg) for g in (alone, bed, talk)]
                kind = "" if w in TRAINED else "  (zero-shot)"
                print(f"{w:14s} {row[0]:7.3f} {row[1]:9.3f} {row[2]:9.3f}{kind}")
    finally:
        os.unlink(v.name)


if __name__ == "__main__":
    main()
