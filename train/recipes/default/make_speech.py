#!/usr/bin/env python3
"""make_speech.py — speech for hark's default-model recipe (issue 9: a radio box must tell a
presenter from a song).

What it does: downloads three Debian packages of real recorded voices, packs their short
utterances into 30-second "talk" tracks of one language each, and writes half of them as
speech alone and half as speech over a music bed (a presenter over a song), into
<corpus>/audio/speech/<package>/, 22050 Hz mono OGG Vorbis like the rest of the corpus.
It writes <corpus>/speech_labels.csv (path, source, language, bed, bed_db, clips);
make_manifest.py --speech turns those rows into manifest rows tagged speech;talk;voice,
plus the bed's own teacher tags when there is a bed (the union of the two sources' labels).

Sources (each a whole source, so hark-train can hold one out):
  tuxpaint-stamps-default      the stamps' spoken descriptions (*_desc*.ogg), ~7400 clips in
                               ~20 languages, several voices; GPL-2
  asterisk-core-sounds-en-wav  telephone prompts, one English voice (Allison Smith); CC-BY-SA-3.0
  ktuberling-data              the game's spoken object names (sounds/<lang>/*.ogg), 15
                               languages, many voices; GPL-2+
Beds come from the game-music packages in <corpus>/audio: a held-out speech source
(--held-out, default ktuberling-data) gets its beds only from held-out music packages
(--held-out-beds), the others only from the rest, so a cross-source test never hears a
bed the model trained on.

Seeded (--seed): the same corpus and seed give the same tracks. Re-running skips tracks
already written. Needs: apt-get and dpkg (download and unpack), sox with Vorbis, soxi.
Usage: python3 train/recipes/default/make_speech.py [--tracks SRC=N ...]
"""
import argparse
import csv
import os
import random
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from corpus_debs import unpacked  # noqa: E402
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

RATE = 22050
TRACK_S = 30.0
MIN_TRACK_S = 15.0
GAP_S = (0.2, 0.7)
BED_DB = (10.0, 20.0)  # bed below the voice's peak, as a presenter talks over a song
DEFAULT_TRACKS = {
    "tuxpaint-stamps-default": 80,
    "asterisk-core-sounds-en-wav": 20,
    "ktuberling-data": 40,
}
MUSIC_PACKAGES = ["wesnoth-1.16-music", "ufoai-music", "warzone2100-music", "nexuiz-music",
                  "supertuxkart-data"]


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def clips_of(pkg, root):
    """(language, path) of every spoken clip in an unpacked package."""
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if pkg == "tuxpaint-stamps-default":
                m = re.search(r"_desc(?:_([A-Za-z@_]+))?\.ogg$", f)
                if m:
                    out.append((m.group(1) or "en", p))
            elif pkg == "ktuberling-data":
                # sounds/<lang>/*.ogg are spoken names; the .wav themes are effects, and hark
                # cannot decode the Opus ones.
                parts = p.split(os.sep)
                if f.endswith(".ogg") and "sounds" in parts:
                    out.append((parts[parts.index("sounds") + 1], p))
            elif pkg == "asterisk-core-sounds-en-wav" and f.endswith(".wav"):
                out.append(("en", p))
    return sorted(out)


def durations(paths):
    out = {}
    for i in range(0, len(paths), 200):
        chunk = paths[i:i + 200]
        text = subprocess.run(["soxi", "-D"] + chunk, capture_output=True, text=True, check=True).stdout
        for p, line in zip(chunk, text.split()):
            out[p] = float(line)
    return out


def pack(clips, dur, rng):
    """Tracks of one language each: (language, [(clip, gap_s)...]) of about TRACK_S."""
    by_lang = {}
    for lang, p in clips:
        if dur.get(p, 0) > 0.1:
            by_lang.setdefault(lang, []).append(p)
    tracks = []
    for lang in sorted(by_lang):
        ps = by_lang[lang]
        rng.shuffle(ps)
        cur, length = [], 0.0
        for p in ps:
            gap = rng.uniform(*GAP_S)
            cur.append((p, gap))
            length += dur[p] + gap
            if length >= TRACK_S:
                tracks.append((lang, cur))
                cur, length = [], 0.0
        if length >= MIN_TRACK_S:
            tracks.append((lang, cur))
    rng.shuffle(tracks)
    return tracks


def render_speech(parts, out_wav, tmp):
    pieces = []
    for i, (p, gap) in enumerate(parts):
        w = os.path.join(tmp, f"c{i}.wav")
        run(["sox", "-q", "-G", p, "-r", str(RATE), "-c", "1", "-b", "16", w, "pad", "0", f"{gap:.3f}"])
        pieces.append(w)
    run(["sox", "-q"] + pieces + [out_wav, "gain", "-n", "-1"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.environ.get("HARK_CORPUS", os.path.join(ROOT, "data", "default-corpus")))
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--tracks", action="append", default=[], metavar="SOURCE=N",
                    help="tracks to make from a source (default " +
                         ", ".join(f"{k}={v}" for k, v in DEFAULT_TRACKS.items()) + ")")
    ap.add_argument("--held-out", default="ktuberling-data")
    ap.add_argument("--held-out-beds", default="nexuiz-music,wesnoth-1.16-music")
    ap.add_argument("--out", default=None, help="default <corpus>/speech_labels.csv")
    args = ap.parse_args()
    counts = dict(DEFAULT_TRACKS)
    for spec in args.tracks:
        src, _, n = spec.partition("=")
        if src not in DEFAULT_TRACKS or not n.isdigit():
            sys.exit(f"--tracks {spec!r}: expected SOURCE=N with SOURCE one of {', '.join(DEFAULT_TRACKS)}")
        counts[src] = int(n)
    held_beds = [b for b in args.held_out_beds.split(",") if b]
    for b in held_beds:
        if b not in MUSIC_PACKAGES:
            sys.exit(f"--held-out-beds: {b!r} is not one of {', '.join(MUSIC_PACKAGES)}")
    audio = os.path.join(args.corpus, "audio")
    pools = {True: [], False: []}
    for pkg in MUSIC_PACKAGES:
        d = os.path.join(audio, pkg)
        if not os.path.isdir(d):
            sys.exit(f"{d}: no music there; run fetch_audio.sh first")
        pools[pkg in held_beds] += sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".ogg"))
    bed_dur = durations(pools[True] + pools[False])

    rows = []
    for src, n in counts.items():
        rng = random.Random(f"{args.seed}/{src}")
        root = unpacked(args.corpus, src)
        clips = clips_of(src, root)
        dur = durations([p for _, p in clips])
        tracks = pack(clips, dur, rng)[:n]
        if len(tracks) < n:
            print(f"warning: {src}: only {len(tracks)} tracks of speech, not {n}", file=sys.stderr)
        out_dir = os.path.join(audio, "speech", src)
        os.makedirs(out_dir, exist_ok=True)
        pool = pools[src == args.held_out]
        for i, (lang, parts) in enumerate(tracks):
            with_bed = i % 2 == 1
            bed = rng.choice(pool) if with_bed else ""
            bed_db = round(rng.uniform(*BED_DB), 1) if with_bed else ""
            bed_start = rng.uniform(0, max(0.0, bed_dur[bed] - TRACK_S - 5)) if with_bed else 0
            name = f"{lang}-{i:03d}{'-bed' if with_bed else ''}.ogg"
            out = os.path.join(out_dir, name)
            if not os.path.exists(out):
                with tempfile.TemporaryDirectory() as tmp:
                    speech = os.path.join(tmp, "speech.wav")
                    render_speech(parts, speech, tmp)
                    part = out + ".part.ogg"
                    if with_bed:
                        length = float(subprocess.run(["soxi", "-D", speech], capture_output=True,
                                                      text=True, check=True).stdout)
                        b = os.path.join(tmp, "bed.wav")
                        run(["sox", "-q", bed, "-r", str(RATE), "-c", "1", "-b", "16", b,
                             "trim", f"{bed_start:.2f}", f"{length:.3f}", "gain", "-n", "-1", "vol", f"-{bed_db}dB"])
                        run(["sox", "-q", "-m", "-v", "1", speech, "-v", "1", b, "-C", "5", part, "gain", "-n", "-1"])
                    else:
                        run(["sox", "-q", speech, "-C", "5", part])
                    os.replace(part, out)
            rows.append({"path": os.path.relpath(out, args.corpus), "source": src, "language": lang,
                         "bed": os.path.relpath(bed, args.corpus) if bed else "", "bed_db": bed_db,
                         "clips": len(parts)})
        print(f"{src}: {len(tracks)} tracks ({sum(1 for i in range(len(tracks)) if i % 2)} over a bed), "
              f"{len({lang for lang, _ in tracks})} languages", flush=True)

    out = args.out or os.path.join(args.corpus, "speech_labels.csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "source", "language", "bed", "bed_db", "clips"],
                           lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out}: {len(rows)} tracks")


if __name__ == "__main__":
    main()
