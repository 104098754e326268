#!/usr/bin/env python3
"""make_manifest.py — step 4 of hark's default-model recipe: the training manifest.

What it does: turns the committed label files into data/default-corpus/manifest.csv, the
input of hark-train's CSV loader, one track per line:

    path,tags,group,id,source
    audio/wesnoth-1.16-music/battle.ogg,electronic;ambient;instrumental,wesnoth-1.16-music/battle,wesnoth-1.16-music/battle,wesnoth-1.16-music

path is relative to the manifest's folder; tags are ';'-separated words or phrases (musicnn's
Last.fm spellings, lowercased: "female vocalists", "hip-hop", "80s"…); group is what the
trainer's seeded train/validation/test split keeps together: the track itself for game
music (a Warzone 2100 "_enhanced" remaster shares its original's group), the piece for the
music21 renderings (two renderings of one piece stay in one split; with --piece-groups, every
rendering of a piece, with any soundfont); id names the row; source is where the sound came
from, so hark-train can hold out whole sources (cross-source tests): the Debian package for
game music, the soundfont's package (fluid-soundfont-gm) for the music21 renderings.

Tags: teacher tags for every file by the positive-tag rule below, plus, for music21
renderings, the instrument, ensemble and style words of music21_labels.csv. With --speech,
make_speech.py's talk tracks: speech;talk;voice, plus their music bed's teacher tags
(less "instrumental", which the voice makes false).

Positive-tag rule (README.md gives the numbers behind it): average the file's 3-second window
probabilities into one track-mean vector; a tag is positive if its track mean >= THRESHOLD,
and the file's TOP_K best tags always are. The vocal tags (female vocalists, female vocalist,
male vocalists) are never taken: every file of this corpus is instrumental (game scores and
MIDI renderings), so they can only be teacher errors; TOP_K counts non-vocal tags only.

With --mtt-words, a second teacher joins: musicnn's MTT tagger (teacher.py --model
MTT_musicnn, teacher_windows_mtt.csv.gz) gives the tempo and energy words it names (slow,
fast, loud, ...) to the files it tagged, each positive when its track mean >= --mtt-threshold.
Only those words are taken: MTT's genre and instrument tags would repeat the MSD teacher's and
the scores' words with another teacher's errors.

What it needs: python3 (stdlib only), train/recipes/default/teacher_windows.csv.gz and
music21_labels.csv (committed), and the audio only to check it is there (--no-check to skip).
Usage: python3 train/recipes/default/make_manifest.py [--stats]
"""
import argparse
import csv
import gzip
import os
import statistics
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

THRESHOLD = 0.10  # chosen from this corpus's track-mean distribution: see README.md
TOP_K = 2
MTT_THRESHOLD = 0.20  # enough positives for slow, fast, drums, beat here: see README.md
VOCAL = {"female vocalists", "female vocalist", "male vocalists"}
# render_music21.py renders every score with FluidR3_GM, from this Debian package.
SOUNDFONT_SOURCE = "fluid-soundfont-gm"
# fetch_audio.sh's packages: the default corpus. Game music of other packages (fetch_more_music.sh)
# joins a manifest only with --more-music, so adding teacher rows never changes the others.
BASE_PACKAGES = {"wesnoth-1.16-music", "ufoai-music", "warzone2100-music", "nexuiz-music", "supertuxkart-data"}
# make_speech.py's talk tracks: what a radio box should say of a presenter.
SPEECH_TAGS = ["speech", "talk", "voice"]
# A bed's teacher tags that a voice over it makes false.
NOT_UNDER_SPEECH = {"instrumental"}


def load_teacher(path):
    sums, counts = {}, Counter()
    with gzip.open(path, "rt", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        labels = [h.lower() for h in header[3:]]
        for row in r:
            p = row[0]
            v = [float(x) for x in row[3:]]
            if p in sums:
                s = sums[p]
                for i, x in enumerate(v):
                    s[i] += x
            else:
                sums[p] = v
            counts[p] += 1
    means = {p: [x / counts[p] for x in s] for p, s in sums.items()}
    return labels, means, counts


def mtt_words(args):
    """A function from a corpus path to its MTT words (none when --mtt-words is empty)."""
    wanted = [w.strip().lower() for w in args.mtt_words.split(",") if w.strip()]
    if not wanted:
        return lambda path: []
    labels, means, _ = load_teacher(args.mtt_teacher)
    unknown = [w for w in wanted if w not in labels]
    if unknown:
        sys.exit(f"--mtt-words: {', '.join(unknown)} not among {args.mtt_teacher}'s tags")
    cols = [(w, labels.index(w)) for w in wanted]
    return lambda path: [w for w, i in cols if path in means and means[path][i] >= args.mtt_threshold]


def teacher_tags(labels, mean, threshold, top_k, keep_vocal=False):
    order = sorted(range(len(labels)), key=lambda i: -mean[i])
    order = [i for i in order if keep_vocal or labels[i] not in VOCAL]
    chosen = order[:top_k] + [i for i in order[top_k:] if mean[i] >= threshold]
    return [labels[i] for i in chosen]


def soft_weights(args, labels, mean, tt, certain=()):
    """With --soft, each teacher tag's weight: its track mean over the track's best teacher
    tag's (so the best is 1, as sure as a score's own words); tags also in `certain` (the
    score's or the talk track's words) and everything without --soft weigh 1 (no weight)."""
    if not args.soft or not tt:
        return {}
    best = max(mean[labels.index(t)] for t in tt)
    return {t: max(mean[labels.index(t)] / best, 0.001) for t in tt if t not in certain}


def joined(tags, weights):
    """The manifest's tags field: ';'-separated, a weight below 1 written as tag@weight."""
    return ";".join(f"{t}@{weights[t]:.3f}" if weights.get(t, 1.0) < 0.9995 else t
                    for t in dict.fromkeys(tags))


# Versions of one piece (an old mix, a remix, a shortened edit) under another name: one group,
# so a split never trains on one and tests on the other.
SAME_PIECE = {
    "supertux-data/cave_old": "supertux-data/cave",
    "supertux-data/fortress_old": "supertux-data/fortress",
    "supertux-data/airship_remix": "supertux-data/airship_2",
    "colobot-common-sounds/hv2": "colobot-common-sounds/humanitarian",
    "naev-data/ambient2_5": "naev-data/ambient2",
    "naev-data/sirius2": "naev-data/sirius1",
    "hedgewars-data/olympics_sd": "hedgewars-data/olympics",
}


def group_of(track_id):
    pkg, name = track_id.split("/", 1)
    if pkg == "warzone2100-music" and name.endswith("_enhanced"):
        return f"{pkg}/{name[: -len('_enhanced')]}"
    return SAME_PIECE.get(track_id, track_id)


def print_stats(labels, means):
    allv = sorted(v for m in means.values() for v in m)
    n = len(allv)
    print(f"\ntrack-mean probabilities over {len(means)} files x {len(labels)} tags:")
    print("  quantiles: " + ", ".join(f"q{int(q * 100)}={allv[min(n - 1, int(q * n))]:.3f}"
                                        for q in (0.5, 0.75, 0.9, 0.95, 0.98, 0.99)))
    print("  threshold  mean tags/file (>= T, non-vocal)  files with none")
    for t in (0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3):
        cnt = [sum(1 for i, v in enumerate(m) if v >= t and labels[i] not in VOCAL) for m in means.values()]
        print(f"  {t:9.3f}  {statistics.fmean(cnt):8.2f}  {sum(1 for c in cnt if c == 0):5d}")
    vocal_hits = sum(1 for m in means.values() for i, v in enumerate(m) if labels[i] in VOCAL and v >= THRESHOLD)
    print(f"  vocal tags >= {THRESHOLD} (dropped): {vocal_hits}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.environ.get("HARK_CORPUS", os.path.join(ROOT, "data", "default-corpus")))
    ap.add_argument("--teacher", default=os.path.join(HERE, "teacher_windows.csv.gz"))
    ap.add_argument("--music21", default=os.path.join(HERE, "music21_labels.csv"))
    ap.add_argument("--out", default=None, help="default <corpus>/manifest.csv")
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    ap.add_argument("--top-k", type=int, default=TOP_K)
    ap.add_argument("--soft", action="store_true",
                    help="write each teacher tag's weight (tag@w: its track mean over the track's "
                         "best teacher tag's), so hark-train draws surer tags more often")
    ap.add_argument("--keep-vocal", action="store_true",
                    help="take the vocal tags too (issue 9's teacher-agreement rule counts them)")
    ap.add_argument("--stats", action="store_true", help="print the probability distribution too")
    ap.add_argument("--rendered", action="append", default=[], metavar="LABELS.csv:SOURCE",
                    help="add the renderings a labels file lists (render_music21.py --name) under "
                         "SOURCE, tagged with their music21 words (and teacher tags if any)")
    ap.add_argument("--speech", default=None, metavar="SPEECH_LABELS.csv",
                    help="add make_speech.py's talk tracks, tagged with SPEECH_TAGS plus their "
                         "music bed's teacher tags (the union of the two sources' labels)")
    ap.add_argument("--more-music", action="store_true",
                    help="add the game music of fetch_more_music.sh's packages (their teacher rows)")
    ap.add_argument("--piece-groups", action="store_true",
                    help="group every --rendered rendering with the FluidR3 renderings of its piece "
                         "(the shipped model's manifest; not with held-out sources)")
    ap.add_argument("--mtt-teacher", default=os.path.join(HERE, "teacher_windows_mtt.csv.gz"))
    ap.add_argument("--mtt-words", default="",
                    help="comma-separated MTT tags to add as labels (e.g. slow,fast); default none")
    ap.add_argument("--mtt-threshold", type=float, default=MTT_THRESHOLD)
    ap.add_argument("--no-check", action="store_true", help="do not check that the audio files exist")
    args = ap.parse_args()
    out = args.out or os.path.join(args.corpus, "manifest.csv")

    labels, means, nwin = load_teacher(args.teacher)
    mtt = mtt_words(args)
    m21 = {}
    if os.path.exists(args.music21):
        with open(args.music21, newline="") as f:
            for r in csv.DictReader(f):
                m21[r["path"]] = r
    if args.stats:
        print_stats(labels, means)

    rows, missing = [], []
    for path in sorted(means):
        if not args.no_check and not os.path.exists(os.path.join(args.corpus, path)):
            missing.append(path)
            continue
        tt = teacher_tags(labels, means[path], args.threshold, args.top_k, args.keep_vocal)
        if path in m21:
            r = m21[path]
            words = [w for col in ("instruments", "ensemble", "style") for w in r[col].split(";") if w]
            tags = list(dict.fromkeys(words + tt))
            weights = soft_weights(args, labels, means[path], tt, words)
            tid = path[len("audio/"):].rsplit(".", 1)[0]
            group = r["piece"]
            source = SOUNDFONT_SOURCE
        elif path.startswith("audio/music21/"):
            continue  # a rendering that music21_labels.csv no longer lists
        else:
            tags = tt
            weights = soft_weights(args, labels, means[path], tt)
            tid = path[len("audio/"):].rsplit(".", 1)[0]
            group = group_of(tid)
            source = tid.split("/", 1)[0]
            if source not in BASE_PACKAGES and not args.more_music:
                continue
        extra = mtt(path)
        weights = {t: w for t, w in weights.items() if t not in extra}
        rows.append((path, joined(tags + extra, weights), group, tid, source, tt, path in m21))
    not_tagged = sorted(set(m21) - set(means))
    for spec in args.rendered:
        labels_file, _, source = spec.rpartition(":")
        if not labels_file or not source:
            sys.exit(f"--rendered {spec!r}: expected LABELS.csv:SOURCE")
        with open(labels_file, newline="") as f:
            for r in csv.DictReader(f):
                path = r["path"]
                if not args.no_check and not os.path.exists(os.path.join(args.corpus, path)):
                    missing.append(path)
                    continue
                tt = teacher_tags(labels, means[path], args.threshold, args.top_k, args.keep_vocal) if path in means else []
                words = [w for col in ("instruments", "ensemble", "style") for w in r[col].split(";") if w]
                tid = path[len("audio/"):].rsplit(".", 1)[0]
                # --piece-groups: one group per piece across soundfonts, so a piece's FluidR3
                # rendering in training and its csound rendering in the test cannot make a
                # same-piece test. Not for cross-source manifests: there a held-out source's
                # group is test whole, and would take every soundfont's rendering with it.
                group = "music21/" + r["piece"].split("/", 1)[-1] if args.piece_groups else r["piece"]
                weights = soft_weights(args, labels, means[path], tt, words) if tt else {}
                rows.append((path, joined(words + tt, weights), group, tid, source, tt, True))

    if args.speech:
        with open(args.speech, newline="") as f:
            for r in csv.DictReader(f):
                path = r["path"]
                if not args.no_check and not os.path.exists(os.path.join(args.corpus, path)):
                    missing.append(path)
                    continue
                bed = r["bed"]
                if bed and bed not in means:
                    sys.exit(f"{args.speech}: {path}: its bed {bed} has no teacher rows")
                tt = teacher_tags(labels, means[bed], args.threshold, args.top_k, args.keep_vocal) if bed else []
                tt = [t for t in tt if t not in NOT_UNDER_SPEECH]
                tid = path[len("audio/"):].rsplit(".", 1)[0]
                weights = soft_weights(args, labels, means[bed], tt, SPEECH_TAGS) if bed else {}
                rows.append((path, joined(SPEECH_TAGS + tt, weights), tid, tid, r["source"], tt, False))

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "tags", "group", "id", "source"])
        for r in rows:
            w.writerow(r[:5])

    # Report.
    by_src = defaultdict(list)
    for r in rows:
        by_src[r[4]].append(r)
    print(f"\nwrote {out}: {len(rows)} files, {len({r[2] for r in rows})} groups "
          f"(rule: track mean >= {args.threshold}, always top-{args.top_k}, {'vocal tags kept' if args.keep_vocal else 'no vocal tags'}"
          + ("; teacher tags weighted (--soft)" if args.soft else "")
          + (f"; MTT {args.mtt_words} at track mean >= {args.mtt_threshold}" if args.mtt_words else "") + ")")
    print(f"{'source':22s} {'files':>5s} {'hours':>6s} {'teacher tags/file':>18s} {'all tags/file':>14s}")
    for s, rs in sorted(by_src.items()):
        hours = sum(nwin.get(r[0], 0) for r in rs) * 3 / 3600
        print(f"{s:22s} {len(rs):5d} {hours:6.2f} {statistics.fmean(len(r[5]) for r in rs):18.2f} "
              f"{statistics.fmean(len(r[1].split(';')) for r in rs):14.2f}")
    tc = Counter(t.rsplit("@", 1)[0] for r in rows for t in r[1].split(";"))
    teach = Counter(t for r in rows for t in r[5])
    print(f"\ntag frequencies ({len(tc)} tags; 'teacher' = from musicnn, rest = music21 words):")
    for t, c in tc.most_common():
        print(f"  {t:20s} {c:4d}" + (f"  (teacher {teach[t]})" if teach[t] and teach[t] != c else ""))
    if missing:
        print(f"\nwarning: {len(missing)} tagged files are not on disk (skipped), e.g. {missing[0]}", file=sys.stderr)
    if not_tagged:
        print(f"warning: {len(not_tagged)} music21 renderings have no teacher rows yet (run teacher.py), "
              f"e.g. {not_tagged[0]}", file=sys.stderr)


if __name__ == "__main__":
    main()
