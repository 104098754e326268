#!/usr/bin/env python3
"""sample_fonts.py — real-instrument soundfonts for hark's default-model recipe (issue 9:
instrument words that hold on another synthesiser).

What it does: builds one small SoundFont per instrument from recordings of real instruments,
each answering to its General MIDI program, so render_music21.py can play the recipe's
music21 plan with them (fluidsynth stacks the fonts; a program none of them has is not
rendered: render_music21.py --programs skips those renderings). Sources:
  npm @audio-samples/piano-velocity{5,10,15}: the Salamander Grand Piano V3 (Alexander Holm,
      CC-BY-3.0; package MIT), a sample every minor third, three velocity layers -> program 0;
  Debian lmms-common (GPL-2+), one recording per instrument, its pitch measured here:
      church_organ03/04 -> 19 organ, violin_fingered01 -> 40 violin, cello01 -> 42 cello,
      strings01 -> 48 strings, trumpet01 -> 56 trumpet, flute01 -> 73 flute.
Each font is written as SFZ, converted to SF2 by polyphone (Debian), and its preset number
set to the program. A one-sample instrument is pitch-shifted over the whole keyboard, so its
timbre is real only near the recorded note: a limit the model card states.

The recorded pitch of an lmms sample is measured (YIN on 0.1 s frames, median) and must
agree with the pitch named in LMMS below to within half a semitone, else the script stops:
a wrong root would detune every note.

Writes <corpus>/samples/fonts/*.sf2; its standard output is their paths, one per line.
Needs: numpy (setup_teacher.sh's venv has it), npm, apt-get, dpkg, sox, polyphone.
Usage: .venv-teacher/bin/python train/recipes/default/sample_fonts.py
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from corpus_debs import unpacked  # noqa: E402
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
RATE = 44100
PIANO_LAYERS = [(5, 1, 63), (10, 64, 100), (15, 101, 127)]  # npm velocity package, MIDI range
NOTE = {"C": 0, "C#": 1, "D": 2, "D#": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "G#": 8, "A": 9, "A#": 10, "B": 11}
# program -> [(lmms sample, recorded MIDI note)]: the notes were measured with this script's
# YIN and are checked again on every run.
LMMS = {
    19: [("instruments/church_organ04.ogg", 45), ("instruments/church_organ03.ogg", 57)],
    40: [("instruments/violin_fingered01.ogg", 67)],
    42: [("instruments/cello01.ogg", 38)],
    48: [("stringsnpads/strings01.ogg", 60)],
    56: [("instruments/trumpet01.ogg", 69)],
    73: [("instruments/flute01.ogg", 81)],
}
NAMES = {0: "piano", 19: "organ", 40: "violin", 42: "cello", 48: "strings", 56: "trumpet", 73: "flute"}


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)


def fetch_npm(corpus, name):
    dest = os.path.join(corpus, "npm", name.replace("/", "+"))
    if os.path.exists(os.path.join(dest, ".done")):
        return dest
    os.makedirs(dest, exist_ok=True)
    out = subprocess.run(["npm", "pack", "--silent", name], cwd=dest, check=True, capture_output=True,
                         text=True).stdout.split()[-1]
    run(["tar", "xzf", out], cwd=dest)
    open(os.path.join(dest, ".done"), "w").close()
    return dest


def to_wav(src, dst):
    if not os.path.exists(dst):
        run(["sox", "-q", "-G", src, "-c", "1", "-r", str(RATE), "-b", "16", dst])
    return dst


def measured_midi(path):
    """Median YIN pitch (MIDI, fractional) of 0.1 s frames from 0.1 s to 2 s."""
    w = wave.open(path)
    x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(float)
    sr = w.getframerate()
    tmin, tmax = int(sr / 1500), int(sr / 50)
    notes = []
    for start in np.arange(0.1, min(len(x) / sr - 0.2, 2.0), 0.2):
        seg = x[int(start * sr):int(start * sr) + int(0.1 * sr)]
        n = len(seg) - tmax
        d = np.array([np.sum((seg[:n] - seg[t:t + n]) ** 2) for t in range(tmax)])
        cmnd = np.concatenate([[1.0], d[1:] * np.arange(1, tmax) / np.maximum(np.cumsum(d[1:]), 1e-9)])
        below = np.where(cmnd[tmin:] < 0.15)[0]
        t = tmin + (below[0] if len(below) else int(np.argmin(cmnd[tmin:])))
        while t + 1 < tmax and cmnd[t + 1] < cmnd[t]:
            t += 1
        if cmnd[t] < 0.2:
            notes.append(69 + 12 * np.log2(sr / t / 440))
    return float(np.median(notes)) if notes else None


def key_ranges(roots):
    """lokey/hikey for each root (sorted): split halfway between neighbours, ends to 0/127."""
    out = []
    for i, r in enumerate(roots):
        lo = 0 if i == 0 else (roots[i - 1] + r) // 2 + 1
        hi = 127 if i == len(roots) - 1 else (r + roots[i + 1]) // 2
        out.append((lo, hi))
    return out


def write_font(folder, program, regions):
    """regions: [(wav, root, lovel, hivel)] -> folder/<name>.sf2 with preset `program`."""
    name = NAMES[program]
    sfz = os.path.join(folder, f"{name}.sfz")
    lines = ["<group> ampeg_release=0.25"]
    for lovel, hivel in sorted({(lv, hv) for _, _, lv, hv in regions}):
        layer = sorted((r, w) for w, r, lv, hv in regions if (lv, hv) == (lovel, hivel))
        for (root, wav), (lo, hi) in zip(layer, key_ranges([r for r, _ in layer])):
            lines.append(f"<region> sample={os.path.basename(wav)} pitch_keycenter={root} "
                         f"lokey={lo} hikey={hi} lovel={lovel} hivel={hivel}")
    with open(sfz, "w") as f:
        f.write("\n".join(lines) + "\n")
    sf2 = os.path.join(folder, f"{name}.sf2")
    if os.path.exists(sf2):
        os.remove(sf2)  # polyphone will not overwrite a file
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run(["polyphone", "-1", "-i", sfz, "-d", folder, "-o", name], env=env, stderr=subprocess.DEVNULL)
    set_preset(sf2, program)
    return sf2


def riff_chunks(data, start, end):
    """(id, payload offset, payload size) of the RIFF chunks in data[start:end]."""
    at = start
    while at + 8 <= end:
        cid, size = data[at:at + 4], struct.unpack_from("<I", data, at + 4)[0]
        yield cid, at + 8, size
        at += 8 + size + (size & 1)


def set_preset(sf2, program):
    """Sets every preset header (but the terminal one) of an SF2 file to bank 0, `program`."""
    data = bytearray(open(sf2, "rb").read())
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        sys.exit(f"{sf2}: not a SoundFont 2 file")
    # Walk the chunks: the sample data before the preset data may hold the bytes "phdr" too.
    phdr = None
    for cid, at, size in riff_chunks(data, 12, len(data)):
        if cid == b"LIST" and data[at:at + 4] == b"pdta":
            phdr = next(((a, n) for c, a, n in riff_chunks(data, at + 4, at + size) if c == b"phdr"), None)
    if phdr is None or phdr[1] // 38 < 2:
        sys.exit(f"{sf2}: no preset headers (pdta/phdr)")
    at, size = phdr
    for i in range(size // 38 - 1):
        struct.pack_into("<HH", data, at + i * 38 + 20, program, 0)
    open(sf2, "wb").write(bytes(data))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.environ.get("HARK_CORPUS", os.path.join(ROOT, "data", "default-corpus")))
    args = ap.parse_args()
    folder = os.path.join(args.corpus, "samples", "fonts")
    os.makedirs(folder, exist_ok=True)
    fonts = []

    regions = []
    for vel, lo, hi in PIANO_LAYERS:
        pkg = fetch_npm(args.corpus, f"@audio-samples/piano-velocity{vel}")
        audio = os.path.join(pkg, "package", "audio")
        for f in sorted(os.listdir(audio)):
            m = re.fullmatch(r"([A-G]#?)(\d)v\d+\.ogg", f)
            if not m:
                continue
            root = 12 * (int(m.group(2)) + 1) + NOTE[m.group(1)]
            wav = to_wav(os.path.join(audio, f), os.path.join(folder, f"piano-{root}-v{vel}.wav"))
            regions.append((wav, root, lo, hi))
    fonts.append(write_font(folder, 0, regions))

    lmms = os.path.join(unpacked(args.corpus, "lmms-common"), "usr", "share", "lmms", "samples")
    for program, samples in LMMS.items():
        regions = []
        for rel, root in samples:
            wav = to_wav(os.path.join(lmms, rel), os.path.join(folder, f"{NAMES[program]}-{root}.wav"))
            got = measured_midi(wav)
            if got is None or abs(got - root) > 0.5:
                sys.exit(f"{rel}: recorded pitch measured {got}, not MIDI {root}: fix LMMS in {__file__}")
            regions.append((wav, root, 1, 127))
        fonts.append(write_font(folder, program, regions))
    print("\n".join(fonts))


if __name__ == "__main__":
    main()
