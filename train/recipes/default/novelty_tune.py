#!/usr/bin/env python3
"""novelty_tune.py — chooses the daemon's novelty defaults ([tracks] novelty_*) for a model.

What it does: builds seeded test streams of excerpts joined by hard cuts (no silence, so only
the change of sound can find them), from whole sources a model never trained on: the
cross-source protocol's held-out game music (nexuiz-music, wesnoth-1.16-music), the csound
renderings and ktuberling-data's talk tracks (a presenter between songs). It runs the daemon
itself (`hark run`, file source, not real time, MQTT and history off) on every stream for
each model and each setting of a grid, and scores the `novelty` boundaries it reports:
  found   a cut with a novelty boundary within TOLERANCE_S of it (recall);
  false   a novelty boundary farther than that from every cut, per hour of audio;
  F1      from recall and precision (true boundaries / all novelty boundaries).
It prints one row per setting, mean ± sd of F1 over the models, best first.

Judge models that never heard these sources (the cross-source-all seeds, exported with
`hark-train export -c runs/cross-source-all-seedN.toml --out DIR`), so the defaults hold for
music a box has never heard, not for the training packages.

Needs: sox (with Vorbis), the release `hark` binary, the corpus of cross_source.sh VARIANT=all.
Usage: python3 novelty_tune.py MODEL_DIR... [--streams 4] [--segments 12] [--seed 7]
"""
import argparse
import glob
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from speech_check import ROOT  # noqa: E402

RATE = 22050
TOLERANCE_S = 6.0
SOURCES = ["nexuiz-music", "wesnoth-1.16-music", "music21-csound", "speech/ktuberling-data"]
# The grid: each absolute threshold with each ratio (0 turns a rule off), at 4 windows; then
# the window count at the best pair.
THRESHOLDS = [0.0, 0.15, 0.2, 0.3, 0.4]
RATIOS = [0.0, 4.0, 6.0, 8.0]
WINDOWS = [2, 3, 4, 6]


def seconds(path):
    out = subprocess.run(["soxi", "-D", path], capture_output=True, text=True, check=True)
    return float(out.stdout)


def make_stream(rng, files, n_segments, out_path):
    """Writes a 16-bit WAV of n excerpts (40-150 s, whole if shorter) joined by hard cuts;
    returns the cut times in seconds."""
    cuts, t, last, pcm = [], 0.0, None, bytearray()
    for _ in range(n_segments):
        path = rng.choice([f for f in files if f != last])
        total = files[path]
        length = min(total, rng.uniform(40.0, 150.0))
        start = rng.uniform(0.0, total - length)
        raw = subprocess.run(["sox", path, "-t", "raw", "-r", str(RATE), "-c", "1", "-e", "signed",
                              "-b", "16", "-", "trim", f"{start:.3f}", f"{length:.3f}"],
                             capture_output=True, check=True).stdout
        if t > 0:
            cuts.append(t)
        pcm += raw
        t += len(raw) / 2 / RATE
        last = path
    with wave.open(out_path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(pcm))
    return cuts, t


def boundaries(hark, model, stream, threshold, ratio, windows):
    env = dict(os.environ, HARK_SOURCE__KIND="file", HARK_SOURCE__FILE=stream,
               HARK_SOURCE__REALTIME="false", HARK_MODEL__DIR=model, HARK_MQTT__HOST="",
               HARK_HISTORY__ENABLED="false", HARK_WEB__ENABLED="false",
               HARK_TRACKS__NOVELTY_THRESHOLD=str(threshold), HARK_TRACKS__NOVELTY_RATIO=str(ratio),
               HARK_TRACKS__NOVELTY_WINDOWS=str(windows))
    with tempfile.TemporaryDirectory() as state:
        env["HARK_DAEMON__STATE_DIR"] = state
        out = subprocess.run([hark, "run"], env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        sys.exit(f"hark run on {stream} failed ({out.returncode}): {out.stderr[-2000:]}")
    tracks = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return [t["stream_end_s"] for t in tracks if t["boundary"] == "novelty"]


def score(found_at, cuts, hours):
    hit = sum(any(abs(b - c) <= TOLERANCE_S for b in found_at) for c in cuts)
    true = sum(any(abs(b - c) <= TOLERANCE_S for c in cuts) for b in found_at)
    recall = hit / len(cuts)
    precision = true / len(found_at) if found_at else 1.0
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return f1, recall, (len(found_at) - true) / hours


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--corpus", default=os.environ.get("HARK_CORPUS", os.path.join(ROOT, "data", "default-corpus")))
    ap.add_argument("--hark", default=os.path.join(ROOT, "target", "release", "hark"))
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--segments", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work", default=None, help="folder for the streams (default: a temporary one)")
    args = ap.parse_args()
    files = {}
    for s in SOURCES:
        found = sorted(glob.glob(os.path.join(args.corpus, "audio", s, "*.ogg")))
        if not found:
            sys.exit(f"{args.corpus}/audio/{s}: no audio (run cross_source.sh VARIANT=all first)")
        files.update({f: seconds(f) for f in found})
    files = {f: d for f, d in files.items() if d >= 25.0}
    work = args.work or tempfile.mkdtemp(prefix="novelty-")
    os.makedirs(work, exist_ok=True)
    rng = random.Random(args.seed)
    streams = []
    for i in range(args.streams):
        path = os.path.join(work, f"stream{i}.wav")
        cuts, total = make_stream(rng, files, args.segments, path)
        streams.append((path, cuts, total / 3600))
    n_cuts = sum(len(c) for _, c, _ in streams)
    hours = sum(h for _, _, h in streams)
    print(f"{len(streams)} streams, {hours * 60:.1f} min, {n_cuts} hard cuts; tolerance ±{TOLERANCE_S} s; "
          f"{len(args.models)} models", flush=True)

    def evaluate(setting):
        """Per model: (F1, share of cuts found, false boundaries per hour), over all streams."""
        per_model = []
        for model in args.models:
            f1, found, false = 0.0, 0.0, 0.0
            for path, cuts, h in streams:
                s_f1, s_found, s_false = score(boundaries(args.hark, model, path, *setting), cuts, h)
                f1 += s_f1 * len(cuts)
                found += s_found * len(cuts)
                false += s_false * h
            per_model.append((f1 / n_cuts, found / n_cuts, false / hours))
        return per_model

    rows = {}
    pairs = [(t, r) for t, r in itertools.product(THRESHOLDS, RATIOS) if t > 0 or r > 0]
    for t, r in pairs:
        rows[(t, r, 4)] = evaluate((t, r, 4))
    best = max(rows, key=lambda k: statistics.fmean(m[0] for m in rows[k]))
    for w in WINDOWS:
        if (best[0], best[1], w) not in rows:
            rows[(best[0], best[1], w)] = evaluate((best[0], best[1], w))

    def sd(xs):
        return statistics.stdev(xs) if len(xs) > 1 else 0.0
    print(f"{'threshold':>9s} {'ratio':>5s} {'windows':>7s} {'F1':>13s} {'found':>13s} {'false / h':>13s}")
    for k in sorted(rows, key=lambda k: -statistics.fmean(m[0] for m in rows[k])):
        cols = list(zip(*rows[k]))
        print(f"{k[0]:9.2f} {k[1]:5.1f} {k[2]:7d} " + " ".join(
            f"{statistics.fmean(c):6.3f} ± {sd(c):.3f}" for c in cols))


if __name__ == "__main__":
    main()
