#!/usr/bin/env python3
"""teacher.py — step 3 of hark's default-model recipe: the musicnn teacher labels.

--model MTT_musicnn runs musicnn's MagnaTagATune tagger instead (50 tags with tempo, loudness,
instrument and vocal words: slow, fast, loud, quiet, soft, drums, ...) and writes
teacher_windows_mtt.csv.gz, with its own cache (<corpus>/teacher_cache_mtt/); everything
below holds for it the same way.

What it does: runs musicnn's pretrained MSD_musicnn tagger (50 Last.fm tags, weights shipped
inside the musicnn 0.1.0 wheel) over every audio file of the corpus (data/default-corpus/
audio/**: the game music and the music21 renderings), with input_overlap=False, i.e. one
row of 50 tag probabilities per consecutive 3-second window, and writes them to
train/recipes/default/teacher_windows.csv.gz (committed, so training needs no Python):

    path,window,start_s,<50 tag columns in musicnn's MSD order>
    audio/wesnoth-1.16-music/battle.ogg,0,0.0,0.0123,...

path is relative to the corpus root; probabilities have 4 decimals. Rows are sorted by
path then window, and the gzip is written with a fixed header, so a re-run writes the same
bytes. Resumable: each finished file's rows are kept in <corpus>/teacher_cache/, and files
already in the cache or in an existing teacher_windows.csv.gz are skipped.

What it needs: the venv of setup_teacher.sh (tensorflow-cpu 2.15.1, numpy<2, librosa,
musicnn 0.1.0) and the corpus from fetch_audio.sh / render_music21.py. Run it niced:
    nice -n 19 train/recipes/default/.venv-teacher/bin/python train/recipes/default/teacher.py
Options: --corpus DIR, --out FILE, --limit N (only the first N missing files, for a test),
--folders A,B,... (only the files under <corpus>/audio/A/, audio/B/, ...; default: all of
audio/). With --folders, the rows of every other path already in the output file are kept
as they are, and only the named folders' rows are added or refreshed; the file stays sorted
by path then window. audio/ also holds speech and other renderings that must get no teacher
rows, so name the folders, e.g.
    ... teacher.py --folders 0ad-data,naev-data
"""
import argparse
import contextlib
import csv
import gzip
import io
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import warnings  # noqa: E402

warnings.filterwarnings("ignore")  # musicnn's tf.compat.v1 layers warn on every file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
AUDIO_EXT = (".ogg", ".flac", ".mp3", ".wav")
# Per musicnn model: the output file's name, the cache folder under the corpus, its tag list.
MODELS = {
    "MSD_musicnn": ("teacher_windows.csv.gz", "teacher_cache", "MSD_LABELS"),
    "MTT_musicnn": ("teacher_windows_mtt.csv.gz", "teacher_cache_mtt", "MTT_LABELS"),
}


def list_audio(corpus, folders=None):
    """Audio files under <corpus>/audio (or only under audio/<folder>/ for the folders given),
    as sorted paths relative to the corpus."""
    out = []
    base = os.path.join(corpus, "audio")
    for d, _, files in os.walk(base):
        if folders is not None and os.path.relpath(d, base).replace(os.sep, "/").split("/")[0] not in folders:
            continue
        for f in files:
            if f.lower().endswith(AUDIO_EXT) and ".tmp." not in f:
                out.append(os.path.relpath(os.path.join(d, f), corpus).replace(os.sep, "/"))
    return sorted(out)


def folder_of(rel):
    """The folder under audio/ of a corpus path (audio/<folder>/...), else None."""
    parts = rel.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "audio" else None


def cache_file(cache, rel):
    return os.path.join(cache, rel + ".csv")


def read_rows(path_gz):
    """Rows of an existing teacher file, grouped by path."""
    by_path = {}
    with gzip.open(path_gz, "rt", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        for row in r:
            by_path.setdefault(row[0], []).append(row)
    return header, by_path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.environ.get("HARK_CORPUS", os.path.join(ROOT, "data", "default-corpus")))
    ap.add_argument("--model", default="MSD_musicnn", choices=sorted(MODELS),
                    help="musicnn tagger: MSD_musicnn (Last.fm tags) or MTT_musicnn (MagnaTagATune)")
    ap.add_argument("--out", default=None,
                    help="default: teacher_windows.csv.gz (MSD), teacher_windows_mtt.csv.gz (MTT)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--folders", default="",
                    help="comma-separated folders of <corpus>/audio to tag (default: all)")
    args = ap.parse_args()
    out_name, cache_name, labels_name = MODELS[args.model]
    args.out = args.out or os.path.join(HERE, out_name)
    folders = None
    if args.folders:
        folders = sorted({f.strip().strip("/") for f in args.folders.split(",") if f.strip()})
        bad = [f for f in folders if "/" in f or f in (".", "..")
               or not os.path.isdir(os.path.join(args.corpus, "audio", f))]
        if bad:
            sys.exit(f"--folders: no such folder under {args.corpus}/audio: {', '.join(bad)}")

    from musicnn import configuration
    from musicnn.extractor import extractor

    labels = list(getattr(configuration, labels_name))
    header = ["path", "window", "start_s"] + labels
    cache = os.path.join(args.corpus, cache_name)
    os.makedirs(cache, exist_ok=True)

    files = list_audio(args.corpus, folders)
    if not files:
        where = f"audio/{{{','.join(folders)}}}" if folders else "audio"
        sys.exit(f"no audio under {args.corpus}/{where}: run fetch_audio.sh and render_music21.py first")

    # Rows already in the committed file count as done (a fresh clone skips the teacher).
    committed = {}
    if os.path.exists(args.out):
        old_header, committed = read_rows(args.out)
        if old_header != header:
            if folders is not None:
                sys.exit(f"{args.out} has another header: with --folders its other rows would be lost; "
                         "run without --folders to recompute everything")
            print(f"{args.out} has another header: recomputing everything", file=sys.stderr)
            committed = {}

    todo = [f for f in files if f not in committed and not os.path.exists(cache_file(cache, f))]
    if args.limit:
        todo = todo[: args.limit]
    print(f"{len(files)} audio files, {len(files) - len(todo)} done, {len(todo)} to tag", flush=True)

    t0 = time.time()
    audio_s = 0.0
    for i, rel in enumerate(todo):
        src = os.path.join(args.corpus, rel)
        t1 = time.time()
        with contextlib.redirect_stdout(io.StringIO()):
            taggram, tags = extractor(src, model=args.model, input_length=3, input_overlap=False,
                                      extract_features=False)
        assert list(tags) == labels, "musicnn returned tags in another order"
        dst = cache_file(cache, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = dst + ".part"
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            for k, probs in enumerate(taggram):
                w.writerow([rel, k, f"{3.0 * k:.1f}"] + [f"{p:.4f}" for p in probs])
        os.replace(tmp, dst)
        audio_s += 3.0 * len(taggram)
        dt = time.time() - t1
        print(f"[{i + 1}/{len(todo)}] {rel}: {len(taggram)} windows in {dt:.1f}s", flush=True)
    if todo:
        el = time.time() - t0
        print(f"tagged {audio_s / 3600:.2f} h of audio in {el / 60:.1f} min "
              f"({audio_s / max(el, 1e-9):.0f}x real time)", flush=True)

    # Merge the cache and the committed rows, for the files that exist now, sorted. With
    # --folders, the committed rows of paths outside those folders are kept unchanged.
    missing = []
    rows_of = {}
    if folders is not None:
        for rel, rows in committed.items():
            if folder_of(rel) not in folders:
                rows_of[rel] = rows
    for rel in files:
        cf = cache_file(cache, rel)
        if os.path.exists(cf):
            with open(cf, newline="") as f:
                rows_of[rel] = list(csv.reader(f))
        elif rel in committed:
            rows_of[rel] = committed[rel]
        else:
            missing.append(rel)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    n_rows = 0
    for rel in sorted(rows_of):
        w.writerows(rows_of[rel])
        n_rows += len(rows_of[rel])
    data = buf.getvalue().encode()
    tmp = args.out + ".part"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(data)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {len(rows_of)} files, {n_rows} windows, "
          f"{os.path.getsize(args.out) / 1e6:.2f} MB")
    if missing:
        print(f"{len(missing)} files not tagged yet (run again without --limit)")


if __name__ == "__main__":
    main()
