#!/usr/bin/env python3
"""render_music21.py — step 2 of hark's default-model recipe: instrument ground truth.

What it does: picks 200 pieces from the score corpus that ships inside the music21 wheel
(Bach chorales, Palestrina, Monteverdi madrigals, trecento, Beethoven/Haydn/Mozart/Schumann
quartets, piano works, songs, Ryan's Mammoth / O'Neill's / Aird's fiddle tunes, Essen folk
songs, …) with a seeded plan, gives every part a General MIDI program from an instrument set
that makes sense for the piece (string quartet, organ, brass, woodwinds, saxophones,
recorders, piano, harpsichord, guitar, harp; tunes on violin, flute, accordion, banjo, …),
sets a tempo from the piece's note values, writes MIDI, renders it with fluidsynth and the
FluidR3_GM soundfont (Debian fluid-soundfont-gm — no other soundfont: the others are kept for
evaluation), trims to <= 90 s (short tunes are played up to three times), normalises, and
encodes 22050 Hz mono OGG into data/default-corpus/audio/music21/. Some pieces get a second
rendering with another instrument set (same `piece`, so the trainer keeps them in one split).

Labels, per rendering, in train/recipes/default/music21_labels.csv (committed):
    path,piece,collection,composer,title,instruments,ensemble,style,programs,qpm,seconds
instruments: the instrument words of the programs used (+ family words strings / brass /
woodwinds when two or more parts are of that family); ensemble: solo / duet / trio / quartet
/ ensemble; style: words that are sound from the collection (baroque, renaissance, medieval,
classical, romantic, ragtime, chorale, folk, irish, scottish, german, chinese, fiddle, and a
dance type — reel, jig, hornpipe, … — when the tune's title names it).

Re-running gives the same pieces, instruments and tempi (seed 20240601) and skips renderings
already done (each keeps a .json sidecar). Test options: --limit N (pieces per collection),
--only NAME… (collections), --corpus DIR, --labels FILE.

Cross-synth evaluation: --soundfont FILE --name NAME renders the same plan with another
soundfont into audio/NAME/ (labels in NAME_labels.csv, pieces grouped as NAME/<piece>, so a
rendering is never grouped with the FluidR3 one of its piece). make_manifest.py --rendered
adds them under their own source, for hark-train to hold out whole (cross-source.toml).
--soundfont may be given more than once (fluidsynth stacks the fonts): sample_fonts.py's
real-instrument fonts, one per program. --programs P,P,… then renders only the plan's
renderings whose every part is one of those programs; the plan itself (pieces, instrument
sets, tempi, second renderings) stays the same.

What it needs: the venv of setup_teacher.sh (music21 9.1.0), Debian fluidsynth and
fluid-soundfont-gm, sox with Vorbis. Run niced:
    nice -n 19 train/recipes/default/.venv-teacher/bin/python train/recipes/default/render_music21.py
"""
import argparse
import csv
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SEED = 20240601
MAX_SECONDS = 90.0
MIN_SECONDS = 8.0

# General MIDI program (0-based) -> label word. One word per instrument, GloVe-friendly.
WORD = {
    0: "piano", 6: "harpsichord", 8: "celesta", 11: "vibraphone", 12: "marimba", 13: "xylophone",
    19: "organ", 21: "accordion", 22: "harmonica", 24: "guitar", 25: "guitar", 40: "violin",
    41: "viola", 42: "cello", 46: "harp", 48: "strings", 56: "trumpet", 57: "trombone", 58: "tuba",
    60: "horn", 64: "saxophone", 65: "saxophone", 66: "saxophone", 67: "saxophone", 68: "oboe",
    70: "bassoon", 71: "clarinet", 73: "flute", 74: "recorder", 105: "banjo", 109: "bagpipes",
}
FAMILY = {40: "strings", 41: "strings", 42: "strings", 48: "strings",
          56: "brass", 57: "brass", 58: "brass", 60: "brass",
          64: "woodwinds", 65: "woodwinds", 66: "woodwinds", 67: "woodwinds",
          68: "woodwinds", 70: "woodwinds", 71: "woodwinds", 73: "woodwinds", 74: "woodwinds"}
# One player can play all parts on these: a piece on one of them alone is a "solo".
POLYPHONIC = {0, 6, 8, 11, 12, 13, 19, 21, 24, 25, 46}


def voiced(n, top, upper, middle, lower, bottom):
    """Programs for n parts ordered high to low: top, upper…, middle…, lower…, bottom."""
    if n == 1:
        return [top]
    if n == 2:
        return [top, bottom]
    inner = n - 2
    mids = []
    for i in range(inner):
        f = (i + 0.5) / inner
        mids.append(upper if f < 1 / 3 else middle if f < 2 / 3 else lower)
    return [top] + mids + [bottom]


# Ensembles for polyphonic scores: name -> function(n parts) -> programs high to low.
ENSEMBLES = {
    "string_quartet": lambda n: voiced(n, 40, 40, 41, 41, 42),
    "strings_section": lambda n: [48] * n,
    "organ": lambda n: [19] * n,
    "piano": lambda n: [0] * n,
    "harpsichord": lambda n: [6] * n,
    "guitar": lambda n: [24] * n,
    "harp": lambda n: [46] * n,
    "recorders": lambda n: [74] * n,
    "brass": lambda n: voiced(n, 56, 56, 60, 57, 58),
    "woodwinds": lambda n: voiced(n, 73, 68, 71, 71, 70),
    "saxophones": lambda n: voiced(n, 64, 65, 66, 66, 67),
    "mixed_winds": lambda n: voiced(n, 73, 71, 60, 60, 70),
    "accordion": lambda n: [21] * n,
    "vibraphone": lambda n: [11] * n,
    "marimba": lambda n: [12] * n,
}
# Solo instruments for a single melody (tunes, and the voice of a song).
TUNE_SOLO = [40, 40, 40, 73, 73, 74, 71, 68, 21, 21, 22, 105, 24, 25, 0, 46, 13, 12, 11, 56, 65, 42, 6]
VOICE_SUB = [40, 42, 71, 73, 68, 56, 60, 65, 41]

# Collections: selector over the metadata bundle, kind (how parts are scored), how many
# pieces, style words, tempo target (seconds per median note value), ensembles allowed.
POLY_SETS = ["string_quartet", "strings_section", "organ", "piano", "harpsichord", "guitar", "harp",
             "recorders", "brass", "woodwinds", "saxophones", "mixed_winds", "accordion"]
EARLY_SETS = ["string_quartet", "strings_section", "organ", "recorders", "brass", "woodwinds",
              "harp", "guitar", "harpsichord", "mixed_winds"]
GERMAN_ESSEN = ("altdeu", "ballad", "boehme", "dva", "erk", "fink", "kinder", "zuccal")

COLLECTIONS = [
    # name, path regex, kind, count, style, composer, (target lo, hi) s per median note, sets
    ("bach_chorales", r"^bach/bwv\d+\.\d+\.mxl$", "poly", 40, ["baroque", "chorale"], "Bach", (0.65, 0.85), POLY_SETS),
    ("palestrina", r"^palestrina/.*\.krn$", "poly", 18, ["renaissance"], "Palestrina", (0.45, 0.6), EARLY_SETS),
    ("monteverdi", r"^monteverdi/madrigal\.\d+\.\d+\.mxl$", "poly", 10, ["renaissance"], "Monteverdi", (0.35, 0.5), EARLY_SETS),
    ("trecento", r"^trecento/.*\.xml$", "poly", 10, ["medieval"], "", (0.3, 0.42), EARLY_SETS + ["vibraphone"]),
    ("beethoven", r"^beethoven/.*\.mxl$", "quartet", 8, ["classical"], "Beethoven", (0.28, 0.4), None),
    ("haydn", r"^haydn/.*\.mxl$", "quartet", 5, ["classical"], "Haydn", (0.28, 0.4), None),
    ("mozart_quartets", r"^mozart/k(80|155|156|458)/.*\.mxl$", "quartet", 7, ["classical"], "Mozart", (0.28, 0.4), None),
    ("schumann_quartet", r"^schumann_robert/opus41no1/.*\.mxl$", "quartet", 2, ["romantic"], "Robert Schumann", (0.28, 0.4), None),
    ("corelli", r"^corelli/", "trio", 1, ["baroque"], "Corelli", (0.5, 0.7), None),
    ("keyboard_classical", r"^(mozart/k545|cpebach/)", "keyboard", 2, ["classical"], "", (0.2, 0.3), None),
    ("keyboard_romantic", r"^(chopin/|schumann_clara/polonaise)", "keyboard", 5, ["romantic"], "", (0.22, 0.32), None),
    ("joplin", r"^joplin/", "keyboard", 1, ["ragtime"], "Joplin", (0.15, 0.2), None),
    ("schoenberg", r"^schoenberg/", "keyboard", 2, [], "Schoenberg", (0.35, 0.5), None),
    ("songs", r"^(schubert/|schumann_robert/(dichterliebe|opus48)|beach/)", "song", 4, ["romantic"], "", (0.3, 0.45), None),
    ("piano_trio", r"^schumann_clara/opus17/", "pianotrio", 1, ["romantic"], "Clara Schumann", (0.25, 0.35), None),
    ("ryans_mammoth", r"^ryansMammoth/", "tune", 22, ["folk"], "", (0.16, 0.22), None),
    ("oneills1850", r"^oneills1850/", "tune", 22, ["folk", "irish"], "", (0.16, 0.22), None),
    ("airds_airs", r"^airdsAirs/", "tune", 12, ["folk", "scottish"], "", (0.17, 0.26), None),
    ("essen_german", r"^essenFolksong/(%s)" % "|".join(GERMAN_ESSEN), "tune", 15, ["folk", "german"], "", (0.28, 0.4), None),
    ("essen_chinese", r"^essenFolksong/han", "tune", 6, ["folk", "chinese"], "", (0.28, 0.4), None),
    ("misc_folk", r"^miscFolk/", "tune", 8, ["folk"], "", (0.18, 0.26), None),
]
SECOND_RENDERINGS = 30  # pieces (poly / tune kinds) rendered a second time with another set
FIDDLE_TUNES = ("ryans_mammoth", "oneills1850", "airds_airs", "misc_folk")  # violin there = fiddle
DANCES = ["reel", "jig", "hornpipe", "waltz", "polka", "march", "strathspey", "schottische", "mazurka", "quadrille"]


def slug(s):
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def piece_id(source_path, number):
    sp = re.sub(r"\.(mxl|xml|krn|abc|musicxml)$", "", source_path)
    pid = slug(sp.replace("/", "-")).replace("_", "-")
    return pid + (f"-n{number}" if number not in (None, "", 0) else "")


def list_candidates(bundle):
    out = {c[0]: [] for c in COLLECTIONS}
    seen = set()
    for e in bundle:
        sp = str(e.sourcePath)
        for name, rx, *_ in COLLECTIONS:
            if re.search(rx, sp):
                key = (sp, str(e.number) if e.number is not None else "")
                if key not in seen:
                    seen.add(key)
                    out[name].append(key)
                break
    for k in out:
        out[k].sort()
    return out


def parse(sp, number):
    from music21 import corpus
    if number:
        s = corpus.parse(sp, number=int(number))
    else:
        s = corpus.parse(sp)
    if not hasattr(s, "parts"):
        raise ValueError("not a score")
    return s


def mean_pitch(part):
    ps = [p.midi for n in part.recurse().notes for p in n.pitches]
    return statistics.fmean(ps) if ps else 0.0


def median_ql(score):
    qls = [float(n.quarterLength) for n in score.recurse().notes if float(n.quarterLength) > 0]
    return statistics.median(qls) if qls else 1.0


def title_of(score, sp):
    md = score.metadata
    t = (md.title if md else None) or (md.movementName if md else None) or ""
    return " ".join(str(t).split())


def assign(kind, parts_hi_lo, rng, sets, avoid=None, folk=False):
    """Returns (ensemble name, {part index: program}) for the parts, ordered high to low."""
    n = len(parts_hi_lo)
    if kind == "poly":
        choices = [s for s in sets if s != avoid]
        name = rng.choice(choices)
        progs = ENSEMBLES[name](n)
    elif kind == "quartet":
        name = "string_quartet" if avoid != "string_quartet" and rng.random() < 0.8 else \
            rng.choice(["strings_section", "piano", "woodwinds", "saxophones"])
        progs = ENSEMBLES[name](n)
    elif kind == "trio":
        name = rng.choice(["violins_cello", "winds_trio", "organ"]) if avoid is None else "organ"
        progs = {"violins_cello": [40, 40, 42], "winds_trio": [73, 68, 70], "organ": [19, 19, 19]}[name]
    elif kind == "keyboard":
        name = rng.choices(["piano", "harpsichord", "vibraphone", "marimba"], [0.7, 0.15, 0.075, 0.075])[0]
        progs = ENSEMBLES[name](n)
    elif kind == "tune":
        pool = [p for p in TUNE_SOLO if p != avoid] + ([109] if folk else [])
        p = rng.choice(pool)
        name = WORD[p]
        progs = [p] * n
    else:
        raise ValueError(kind)
    return name, progs


def words_for(programs, kind):
    inst = []
    for p in programs:
        w = WORD[p]
        if w not in inst:
            inst.append(w)
    fam = {}
    for p in programs:
        if p in FAMILY and p != 48:
            fam[FAMILY[p]] = fam.get(FAMILY[p], 0) + 1
    for f, c in fam.items():
        if c >= 2 and f not in inst:
            inst.append(f)
    n = len(programs)
    distinct = set(programs)
    if n == 1 or (len(distinct) == 1 and programs[0] in POLYPHONIC):
        ens = "solo"
    elif 48 in distinct:
        ens = "ensemble"
    else:
        # piano staves (or a keyboard) are one player
        players = n
        if kind in ("song", "pianotrio"):
            players = n - programs.count(0) + (1 if 0 in distinct else 0)
        ens = {2: "duet", 3: "trio", 4: "quartet"}.get(players, "ensemble")
    return inst, ens


def prepare(score, programs, qpm):
    """Strips instruments, tempi, chord symbols and grace notes; sets our programs and tempo."""
    from music21 import harmony, instrument, tempo
    parts = list(score.parts)
    for p in parts:
        for el in list(p.recurse().getElementsByClass((instrument.Instrument, tempo.MetronomeMark,
                                                       tempo.TempoIndication, harmony.ChordSymbol))):
            site = el.activeSite
            if site is not None:
                site.remove(el)
        # Grace notes (zero length) come out of music21 as a NOTE_OFF before its NOTE_ON at
        # one tick: a note that never ends, and fluidsynth renders for ever. Drop them.
        for n in list(p.recurse().notes):
            if (n.duration.isGrace or float(n.quarterLength) == 0) and n.activeSite is not None:
                n.activeSite.remove(n)
    for p, prog in zip(parts, programs):
        inst = instrument.Instrument()
        inst.midiProgram = prog
        inst.instrumentName = WORD[prog]
        p.insert(0, inst)
    parts[0].insert(0, tempo.MetronomeMark(number=qpm))
    return score


def truncate(score, max_ql):
    """Drops what starts after max_ql quarter notes: the render never needs more than 90 s."""
    for p in score.parts:
        measures = list(p.getElementsByClass("Measure"))
        if measures:
            for m in measures:
                if m.offset >= max_ql:
                    p.remove(m)
        else:
            for n in list(p.recurse().notesAndRests):
                if n.getOffsetInHierarchy(p) >= max_ql and n.activeSite is not None:
                    n.activeSite.remove(n)


def to_midi(score):
    """MIDI file of the score; badly formed repeat signs are dropped (played once through)."""
    from music21 import bar, midi, repeat
    try:
        return midi.translate.streamToMidiFile(score)
    except Exception:  # ExpanderException, or a TimeSignature "already found" in ABC repeats
        for m in score.recurse().getElementsByClass("Measure"):
            if isinstance(m.leftBarline, bar.Repeat):
                m.leftBarline = None
            if isinstance(m.rightBarline, bar.Repeat):
                m.rightBarline = None
            for el in list(m.getElementsByClass((repeat.RepeatMark, repeat.RepeatExpression))):
                m.remove(el)
        for sp in list(score.recurse().getElementsByClass("RepeatBracket")):
            site = sp.activeSite
            if site is not None:
                site.remove(sp)
        return midi.translate.streamToMidiFile(score)


def render(mid, wav, soundfonts):
    # A malformed MIDI file (a stray event hours later) must not fill the disk: cap the WAV
    # at 64 MB (ulimit -f, 1 KiB blocks; about 12 min of 22050 Hz stereo) and the time at 300 s.
    subprocess.run(["bash", "-c", 'ulimit -f 65536; exec timeout 300 fluidsynth -ni -q -F "$0" -r 22050 '
                    '-o synth.cpu-cores=1 "$@"', wav, *soundfonts, mid],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def duration(path):
    return float(subprocess.run(["soxi", "-D", path], capture_output=True, text=True, check=True).stdout)


def encode(wav, ogg, repeat):
    """Mono, trim (<= 90 s, 2 s fade when cut), normalise to -1 dBFS, OGG Vorbis q5."""
    d = duration(wav) * (repeat + 1)
    effects = ["remix", "-"]
    if repeat:
        effects += ["repeat", str(repeat)]
    if d > MAX_SECONDS:
        effects += ["trim", "0", str(MAX_SECONDS), "fade", "t", "0", str(MAX_SECONDS), "2"]
    effects += ["gain", "-n", "-1"]
    tmp = ogg + ".tmp.ogg"
    subprocess.run(["sox", "-q", wav, "-r", "22050", "-c", "1", "-C", "5", tmp] + effects, check=True)
    os.replace(tmp, ogg)
    return duration(ogg)


def plan_and_render(args):
    from music21 import corpus, midi
    bundle = corpus.corpora.CoreCorpus().metadataBundle
    cands = list_candidates(bundle)
    outdir = os.path.join(args.corpus, "audio", args.name)
    os.makedirs(outdir, exist_ok=True)
    rows = []
    n_done = 0
    t0 = time.time()
    second_pool = []
    for (name, rx, kind, count, style, composer, (lo, hi), sets) in COLLECTIONS:
        if args.only and name not in args.only:
            continue
        got = 0
        order = list(cands[name])
        random.Random(f"{SEED}:{name}").shuffle(order)
        for sp, number in order:
            if got >= count or (args.limit and got >= args.limit):
                break
            pid = piece_id(sp, number)
            res = do_piece(args, outdir, name, kind, style, composer, (lo, hi), sets, sp, number, pid, "a", None)
            if res is None:
                continue
            got += 1
            if kind in ("poly", "tune"):
                second_pool.append((name, kind, style, composer, (lo, hi), sets, sp, number, pid, res))
            if res.get("not_in_fonts"):
                continue
            rows.append(res)
            n_done += 1
            print(f"[{n_done}] {res['path']}: {res['instruments']} | {res['ensemble']} | {res['style']} "
                  f"| {res['seconds']:.0f}s | {res['title'][:40]}", flush=True)
        if got < count and not args.limit and not args.only:
            print(f"warning: {name}: only {got} of {count} pieces usable", file=sys.stderr)
    # Second renderings: a seeded choice of pieces, another instrument set.
    rng = random.Random(f"{SEED}:second")
    second = sorted(second_pool, key=lambda x: x[8])
    rng.shuffle(second)
    for (name, kind, style, composer, tgt, sets, sp, number, pid, first) in second[:SECOND_RENDERINGS]:
        if args.limit:
            break
        res = do_piece(args, outdir, name, kind, style, composer, tgt, sets, sp, number, pid, "b", first)
        if res is None or res.get("not_in_fonts"):
            continue
        rows.append(res)
        n_done += 1
        print(f"[{n_done}] {res['path']}: {res['instruments']} | {res['ensemble']} | {res['style']} "
              f"| {res['seconds']:.0f}s (second rendering)", flush=True)
    return rows, time.time() - t0


def do_piece(args, outdir, name, kind, style, composer, tgt, sets, sp, number, pid, variant, first):
    base = pid if variant == "a" else f"{pid}-{variant}"
    ogg = os.path.join(outdir, base + ".ogg")
    side = os.path.join(outdir, base + ".json")
    if os.path.exists(ogg) and os.path.exists(side):
        return json.load(open(side))
    if os.path.exists(side + ".skip"):
        return None
    from music21 import midi
    rng = random.Random(f"{SEED}:{pid}:{variant}")
    try:
        score = parse(sp, number)
    except Exception as e:  # unparsable score: skip it, remember why
        open(side + ".skip", "w").write(f"parse: {e}\n")
        return None
    parts = [p for p in score.parts if len(p.recurse().notes) > 0]
    n = len(parts)
    ok = {"poly": 2 <= n <= 8, "quartet": n == 4, "trio": n == 3, "keyboard": 1 <= n <= 3,
          "song": 2 <= n <= 3, "pianotrio": n == 4, "tune": n == 1}[kind]
    if not ok or score.highestTime <= 0:
        open(side + ".skip", "w").write(f"{n} parts, not a {kind}\n")
        return None
    for p in list(score.parts):
        if p not in parts:
            score.remove(p)
    title = title_of(score, sp)
    folk = any(s in ("irish", "scottish") for s in style)
    avoid = None
    if first is not None:
        avoid = int(first["programs"].split(";")[0]) if kind == "tune" else first["set"]
    if kind == "song":
        voice = rng.choice([p for p in VOICE_SUB if p != (first or {}).get("voice_prog")])
        set_name, progs = f"{WORD[voice]}_piano", [voice] + [0] * (n - 1)
    elif kind == "pianotrio":
        set_name, progs = "piano_trio", [40, 42, 0, 0]
    else:
        set_name, progs = assign(kind, parts, rng, sets, avoid=avoid, folk=folk)
        if kind in ("poly", "quartet", "trio"):
            # parts ordered high to low by mean pitch get the programs of the set
            order = sorted(range(n), key=lambda i: -mean_pitch(parts[i]))
            by_part = [0] * n
            for rank, i in enumerate(order):
                by_part[i] = progs[rank]
            progs = by_part
    inst_words, ens = words_for(progs, kind)
    if args.programs and not set(progs) <= args.programs:
        # Planned, but a part's instrument is in none of the fonts: not rendered.
        return {"programs": ";".join(str(p) for p in progs), "set": set_name,
                "voice_prog": progs[0] if kind == "song" else None, "not_in_fonts": True}
    st = list(style)
    if kind == "tune":
        low = title.lower()
        for d in DANCES:
            if re.search(rf"\b{d}s?\b", low) and d not in st:
                st.append(d)
        if 40 in progs and name in FIDDLE_TUNES and "fiddle" not in st:
            st.append("fiddle")
    mq = median_ql(score)
    target = rng.uniform(*tgt)
    qpm = max(30.0, min(320.0, round(60.0 * mq / target)))
    prepare(score, progs, qpm)
    truncate(score, (MAX_SECONDS + 5.0) * qpm / 60.0)
    with tempfile.TemporaryDirectory(prefix="hark-m21-") as td:
        mid = os.path.join(td, "x.mid")
        wav = os.path.join(td, "x.wav")
        try:
            mf = to_midi(score)
        except Exception as e:  # music21 cannot write it: skip the piece, remember why
            open(side + ".skip", "w").write(f"midi: {e}\n")
            return None
        mf.open(mid, "wb")
        mf.write()
        mf.close()
        try:
            render(mid, wav, args.soundfont)
        except subprocess.CalledProcessError as e:
            open(side + ".skip", "w").write(f"fluidsynth: {e}\n")
            return None
        one = duration(wav)
        repeat = 0
        if kind == "tune":
            while one * (repeat + 1) < 30.0 and repeat < 2:
                repeat += 1
        if one * (repeat + 1) < MIN_SECONDS:
            open(side + ".skip", "w").write(f"too short: {one:.1f}s\n")
            return None
        secs = encode(wav, ogg, repeat)
    res = {
        "path": f"audio/{args.name}/{base}.ogg", "piece": f"{args.name}/{pid}", "collection": name,
        "composer": composer, "title": title, "instruments": ";".join(inst_words), "ensemble": ens,
        "style": ";".join(st), "programs": ";".join(str(p) for p in progs), "qpm": qpm,
        "seconds": round(secs, 2), "set": set_name, "source": sp, "number": number,
        "voice_prog": progs[0] if kind == "song" else None,
    }
    with open(side, "w") as f:
        json.dump(res, f, sort_keys=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.environ.get("HARK_CORPUS", os.path.join(ROOT, "data", "default-corpus")))
    ap.add_argument("--labels", default=None, help="default music21_labels.csv, or NAME_labels.csv")
    ap.add_argument("--soundfont", action="append", default=None,
                    help="a soundfont to render with (default FluidR3_GM); repeat to stack fonts")
    ap.add_argument("--programs", default="", help="render only renderings whose programs are all "
                    "in this comma-separated list (the programs the stacked fonts have)")
    ap.add_argument("--name", default="music21", help="audio subfolder and piece prefix")
    ap.add_argument("--limit", type=int, default=0, help="at most N pieces per collection (a test)")
    ap.add_argument("--only", nargs="*", default=[], help="only these collections (a test)")
    args = ap.parse_args()
    if args.labels is None:
        args.labels = os.path.join(HERE, f"{args.name}_labels.csv")
    args.soundfont = args.soundfont or [SF2]
    for font in args.soundfont:
        if not os.path.exists(font):
            sys.exit(f"{font} missing: apt-get install fluid-soundfont-gm (setup_teacher.sh does), "
                     "or csound-soundfont for --soundfont /usr/share/sounds/sf2/sf_GMbank.sf2")
    try:
        args.programs = {int(p) for p in args.programs.split(",") if p.strip()}
    except ValueError:
        sys.exit(f"--programs {args.programs!r}: expected comma-separated MIDI program numbers")
    rows, el = plan_and_render(args)
    cols = ["path", "piece", "collection", "composer", "title", "instruments", "ensemble", "style",
            "programs", "qpm", "seconds", "source", "number"]
    rows.sort(key=lambda r: r["path"])
    with open(args.labels, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([r.get(c) if r.get(c) is not None else "" for c in cols])
    total = sum(r["seconds"] for r in rows)
    print(f"wrote {args.labels}: {len(rows)} renderings of {len({r['piece'] for r in rows})} pieces, "
          f"{total / 3600:.2f} h; this run {el / 60:.1f} min")


if __name__ == "__main__":
    main()
