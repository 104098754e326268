#!/usr/bin/env python3
"""licenses.py — writes train/recipes/default/LICENSES.md: the licence and attribution of
every game-music track in the default corpus, read from the Debian packages themselves.

What it does: for each track listed in <corpus>/sources.tsv (written by fetch_audio.sh) and,
when present, <corpus>/sources-more.tsv (written by fetch_more_music.sh), finds
the licence in the package's /usr/share/doc/<pkg>/copyright (machine-readable DEP-5 files:
the last `Files:` stanza whose pattern matches the track's upstream path; free-form files:
the package's licence paragraph, quoted), and the track's title and author from its Vorbis
comments, Warzone 2100's album.json / license.txt or SuperTuxKart's .music file (for the
packages of fetch_more_music.sh also the music credits files they ship: Hedgewars'
credits.txt, Trackballs' music/README, OpenClonk's Music.ocg/authors.txt); and writes
one table per package. Called by fetch_audio.sh and fetch_more_music.sh; can be re-run alone.

What it needs: python3 (stdlib only), vorbiscomment (vorbis-tools), dpkg-deb, and the
unpacked packages of fetch_audio.sh under <corpus>/extract.
"""
import argparse
import csv
import fnmatch
import glob
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

GAMES = {
    "wesnoth-1.16-music": "The Battle for Wesnoth 1.16",
    "ufoai-music": "UFO: Alien Invasion",
    "warzone2100-music": "Warzone 2100",
    "nexuiz-music": "Nexuiz",
    "supertuxkart-data": "SuperTuxKart (music folder only)",
    # fetch_more_music.sh's packages (sources-more.tsv)
    "0ad-data": "0 A.D. (audio/music of public.zip)",
    "naev-data": "Naev (dat/snd/music)",
    "supertux-data": "SuperTux (music folder only)",
    "widelands-data": "Widelands (data/music)",
    "hedgewars-data": "Hedgewars (Data/Music)",
    "colobot-common-sounds": "Colobot: Gold Edition (music folder only)",
    "marsshooter-data": "M.A.R.S. (music, menu and tutorial songs)",
    "freedroidrpg-data": "FreedroidRPG (data/sound/music)",
    "flare-game": "Flare: Empyrean Campaign (fantasycore music)",
    "trackballs-data": "Trackballs (music folder)",
    "pushover-data": "Pushover (theme songs)",
    "megaglest-data": "MegaGlest (menu and faction music)",
    "openclonk-data": "OpenClonk (Music.ocg)",
    "redeclipse-data": "Red Eclipse (sounds/music and the tonatiuh map song)",
}

# fetch_more_music.sh's packages: the installed path of a track (relative to the unpacked
# package; 0 A.D.'s under zip/, the unzipped part of public.zip) -> the upstream path that the
# package's DEP-5 `Files:` patterns are written against: (installed prefix, upstream prefix).
UPSTREAM = {
    "0ad-data": ("zip/", "binaries/data/mods/public/"),
    "naev-data": ("usr/share/naev/", ""),
    "supertux-data": ("usr/share/games/supertux2/", "data/"),
    "widelands-data": ("usr/share/games/widelands/", ""),
    "hedgewars-data": ("usr/share/games/hedgewars/", "share/hedgewars/"),
    "colobot-common-sounds": ("usr/share/games/colobot/", "data/"),
    "marsshooter-data": ("usr/share/games/marsshooter/", "data/"),
    "freedroidrpg-data": ("usr/share/freedroidrpg/", ""),
    "flare-game": ("usr/share/games/flare/", ""),
    "trackballs-data": ("usr/share/games/trackballs/", "share/"),
    "pushover-data": ("usr/share/pushover/", "data/"),
    "megaglest-data": ("usr/share/games/megaglest/", ""),
    "redeclipse-data": ("usr/share/games/redeclipse/", ""),
}


def paragraphs(text):
    paras, cur = [], []
    for line in text.splitlines():
        if line.strip() == "":
            if cur:
                paras.append(cur)
                cur = []
        else:
            cur.append(line)
    if cur:
        paras.append(cur)
    return paras


def parse_dep5(text):
    """[(patterns, copyright lines, licence short name)] of the Files stanzas, in order."""
    stanzas = []
    for para in paragraphs(text):
        fields, key = {}, None
        for line in para:
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m and not line.startswith((" ", "\t")):
                key = m.group(1).lower()
                fields[key] = [m.group(2)] if m.group(2) else []
            elif key:
                fields[key].append(line.strip())
        if "files" in fields:
            pats = " ".join(fields["files"]).split()
            cr = [c for c in fields.get("copyright", []) if c and c != "."]
            lic = (fields.get("license") or [""])[0]
            stanzas.append((pats, cr, lic))
    return stanzas


def dep5_match(stanzas, upath):
    hit = None
    for pats, cr, lic in stanzas:
        for p in pats:
            if p.startswith("./"):  # naev-data writes its patterns as ./dat/...
                p = p[2:]
            if fnmatch.fnmatchcase(upath, p) or fnmatch.fnmatchcase(upath, "*/" + p):
                hit = (cr, lic)
    return hit


def vorbis_tags(path):
    try:
        out = subprocess.run(["vorbiscomment", "-l", path], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    tags = {}
    for line in out.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            tags.setdefault(k.strip().lower(), v.strip())
    return tags


def freeform_licence(text):
    """The licence paragraph of a free-form copyright file, and a short name for it."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if re.search(r"GNU General Public License|License:", l)), 0)
    # back up to the paragraph start, then take up to the next blank-line-separated block end
    while start > 0 and lines[start - 1].strip():
        start -= 1
    end = start
    blanks = 0
    while end < len(lines) and blanks < 2 and end - start < 20 and lines[end].strip() != "-----":
        blanks = blanks + 1 if not lines[end].strip() else 0
        end += 1
    quote = "\n".join(lines[start:end]).strip()
    joined = " ".join(quote.split())
    short = "see quote"
    if re.search(r"General Public License,? (as published by the Free Software Foundation; either )?version 2", joined) \
            and re.search(r"any later version", joined):
        short = "GPL-2+"
    return short, quote


def md_cell(s):
    return (s or "").replace("|", "\\|").replace("\n", " ").strip()


def read_text(path):
    try:
        return open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return ""


def music_credits(pkg, root):
    """(notes, {lowercased file name: (author, licence or "")}) from the music credits file a
    package ships, for the packages of fetch_more_music.sh that have one; root is the unpacked
    package."""
    notes, by_file = [], {}
    if pkg == "hedgewars-data":
        f = os.path.join(root, "usr/share/games/hedgewars/Data/Music/credits.txt")
        for line in read_text(f).splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                by_file[k.strip().lower()] = (v.strip(), "")
        if by_file:
            notes.append("- Authors from `Data/Music/credits.txt` where it names one; the package's "
                         "`copyright` has no stanza for `Data/Music`, so its `Files: *` (GPL-2) applies.")
    elif pkg == "trackballs-data":
        f = os.path.join(root, "usr/share/games/trackballs/music/README")
        lic = ""
        for line in read_text(f).splitlines():
            if line.startswith("Music distributed under the GPL"):
                lic = "GPL"
            elif line.startswith("Music distributed under the Ethymonics"):
                lic = "Ethymonics Free Music License"
            m = re.match(r"^(\S+\.ogg)\b.*\bby (.+?)\.?$", line.strip())  # the last "by"
            if m and lic:
                by_file[m.group(1).lower()] = (m.group(2).strip(), lic)
        if by_file:
            notes.append("- Authors from `music/README`, which agrees with the `copyright` file: Paul Leach's "
                         "three songs under the Ethymonics Free Music License (its text is in both), the other "
                         "six under the GPL. Where the two disagreed, the README's licence would follow the "
                         "`copyright` file's in brackets.")
    elif pkg == "openclonk-data":
        f = os.path.join(root, "usr/share/games/openclonk/Music.ocg/authors.txt")
        text = read_text(f)
        for line in text.splitlines():
            m = re.match(r"^(\S[^ ]*)\s{2,}(.+)$", line)
            if m and not line.startswith(("Author", "=")):
                for work in m.group(2).split(","):
                    by_file[work.strip().lower() + ".ogg"] = (m.group(1), "")
        if text:
            notes += ["- `Music.ocg/authors.txt`, quoted:", "", "```", text.strip(), "```", ""]
    elif pkg == "megaglest-data":
        ctext = read_text(os.path.join(root, "usr/share/doc", pkg, "copyright"))
        lines = [l.strip() for l in ctext.splitlines()
                 if re.search(r"background music|music tracks from|\"Chronicles III\"", l)]
        if lines:
            notes.append("- Music credits in the `copyright` file's Comment: " + " ".join(lines))
    elif pkg == "redeclipse-data":
        f = os.path.join(root, "usr/share/games/redeclipse/data/sounds/music/readme.txt")
        text = " ".join(read_text(f).split())
        if text:
            notes.append(f"- `data/sounds/music/readme.txt`: {text}. `maps/tonatiuh.ogg` is the music of "
                         "the map tonatiuh (`tonatiuh.cfg`: `mapmusic \"maps/tonatiuh.ogg\"`).")
    return notes, by_file


# Sources beyond the five packages (issue 9): nothing of them is committed; their audio is
# rebuilt into the gitignored corpus by the scripts named.
EXPERIMENT_SOURCES = """## Sources beyond the five packages (speech, real instruments, a second soundfont)

The shipped model (2.0.0, and 2.1.0 with the same weights) trains on all of these; the cross-source checks hold out
`csound-soundfont` and `ktuberling-data` whole. None of these files is in the repository;
the scripts named rebuild what they need into the gitignored corpus. Licences as their
Debian `copyright` files or npm packages state them.

| Source | Used by | What | Licence | Copyright |
|---|---|---|---|---|
| Debian `csound-soundfont` (`sf_GMbank.sf2`) | `render_fonts.sh` | renderings of the music21 plan with a second GM bank | LGPL-2.1+ | 1986-2022 Csound Developers |
| Debian `tuxpaint-stamps-default` 2022.06.04-1 | `make_speech.py` | spoken stamp descriptions (`*_desc*.ogg`), ~20 languages | GPL-2 | 2002-2022 Bill Kendrick and Tux Paint contributors |
| Debian `asterisk-core-sounds-en-wav` 1.6.1-1 | `make_speech.py` | English telephone prompts, one voice | CC-BY-SA-3.0 | 2003-2010 Allison Smith |
| Debian `ktuberling-data` 4:22.12.3-1 | `make_speech.py` | spoken object names, 15 languages | GPL-2+ | 2007-2017 Albert Astals Cid, KDE Team and translators |
| npm `@audio-samples/piano-velocity5`, `-velocity10`, `-velocity15` 1.0.5 | `sample_fonts.py` | Salamander Grand Piano V3 samples | CC-BY-3.0 (samples); MIT (package) | Alexander Holm (samples); 2019 Jan Forst (package) |
| Debian `lmms-common` 1.2.2+dfsg1-6 | `sample_fonts.py` | organ, violin, cello, strings, trumpet, flute recordings | GPL-2+ | 2004-2014 Tobias Doerffel and the LMMS developers (`Files: *`) |
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.environ.get("HARK_CORPUS", os.path.join(ROOT, "data", "default-corpus")))
    ap.add_argument("--out", default=os.path.join(HERE, "LICENSES.md"))
    args = ap.parse_args()
    corpus = args.corpus
    extract = os.path.join(corpus, "extract")

    with open(os.path.join(corpus, "sources.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    more = os.path.join(corpus, "sources-more.tsv")  # fetch_more_music.sh's packages
    if os.path.exists(more):
        with open(more, newline="") as f:
            rows += list(csv.DictReader(f, delimiter="\t"))
    by_pkg = {}
    for r in rows:
        by_pkg.setdefault(r["package"], []).append(r)

    out = ["# Licences of the default corpus", "",
           "Generated by `licenses.py` (run by `fetch_audio.sh`) from the `copyright` file of each Debian",
           "package and the tracks' own metadata. The audio itself is not in this repository (it lives",
           "in the gitignored `data/default-corpus/`); what the repository holds is derived data: musicnn",
           "tag probabilities per 3-second window (`teacher_windows.csv.gz`, MSD tagger;",
           "`teacher_windows_mtt.csv.gz`, MTT tagger) and the label manifest.",
           "Credit for the music goes to the authors below.", "",
           "The teacher models, musicnn 0.1.0 (MSD_musicnn and MTT_musicnn weights, shipped in its PyPI wheel), are ISC",
           "licensed: Copyright (c) 2019 Jordi Pons. The music21 corpus scores that `render_music21.py`",
           "renders are public-domain works as distributed with music21 (BSD-3-Clause), rendered with",
           "the FluidR3_GM soundfont (Debian `fluid-soundfont-gm`, MIT licence, Frank Wen et al.).", ""]

    for pkg in GAMES:
        tracks = by_pkg.get(pkg, [])
        if not tracks:
            continue
        deb = sorted(glob.glob(os.path.join(corpus, "debs", f"{pkg}_*.deb")))
        version = ""
        if deb:
            version = subprocess.run(["dpkg-deb", "-f", deb[0], "Version"], capture_output=True, text=True).stdout.strip()
        cfile = os.path.join(extract, pkg, "usr", "share", "doc", pkg, "copyright")
        ctext = open(cfile, encoding="utf-8", errors="replace").read()
        dep5 = ctext.startswith("Format:")
        stanzas = parse_dep5(ctext) if dep5 else []
        out += [f"## {GAMES[pkg]}: Debian package `{pkg}` {version}", ""]
        if pkg == "openclonk-data":
            # Free-form, and its `License:` paragraph is the engine's (ISC, MIT): quote the
            # paragraph about the game content instead.
            paras = ["\n".join(p) for p in paragraphs(ctext)]
            quote = "\n".join(p for p in paras if "game content" in p)
            out += ["The `copyright` file is free-form; its licence paragraphs are the engine's (ISC, with "
                    "timsort under MIT). About the game content it says:", "", "```", quote.strip(), "```", ""]
        elif not dep5:
            short, quote = freeform_licence(ctext)
            out += [f"Licence of the whole package ({short}), quoted from its `copyright` file:", "", "```",
                    quote, "```", ""]
        credit_notes, credits = ([], {})
        if pkg in UPSTREAM or pkg == "openclonk-data":
            credit_notes, credits = music_credits(pkg, os.path.join(extract, pkg))
        if credit_notes:
            out += credit_notes
            if out[-1] != "":
                out.append("")
        # Warzone 2100: albums carry their own license.txt and album.json.
        wz_albums = {}
        if pkg == "warzone2100-music":
            for aj in glob.glob(os.path.join(extract, pkg, "usr/share/games/warzone2100/music/albums/*/album.json")):
                d = os.path.dirname(aj)
                meta = json.load(open(aj, encoding="utf-8"))
                lic_txt = os.path.join(d, "license.txt")
                summary = ""
                if os.path.exists(lic_txt):
                    summary = " ".join(open(lic_txt, encoding="utf-8").read().split("[EN]")[0].split())
                wz_albums[d] = (meta, summary)
            for d, (meta, summary) in sorted(wz_albums.items()):
                out.append(f"- Album *{meta.get('title', '')}* by {meta.get('author', '')}"
                           + (f": {summary}" if summary else ": no license.txt in the album; the package's "
                              "`Files: *` stanza applies"))
            out.append("")
        stk_music = {}
        if pkg == "supertuxkart-data":
            for mf in glob.glob(os.path.join(extract, pkg, "usr/share/games/supertuxkart/data/music/*.music")):
                try:
                    e = ET.parse(mf).getroot()
                    stk_music[e.get("file")] = (e.get("title", ""), e.get("composer", ""))
                except ET.ParseError:
                    pass

        out += ["| corpus file | title | author | licence | copyright (from the package) |",
                "| --- | --- | --- | --- | --- |"]
        for r in sorted(tracks, key=lambda r: r["path"]):
            src = r["source"]
            rel = os.path.relpath(src, os.path.join(extract, pkg))
            upath = "base/" + rel.split("pk3/", 1)[1] if pkg == "ufoai-music" and "pk3/" in rel else rel
            if pkg in UPSTREAM and rel.startswith(UPSTREAM[pkg][0]):
                upath = UPSTREAM[pkg][1] + rel[len(UPSTREAM[pkg][0]):]
            title = author = lic = cr = ""
            if src.lower().endswith(".ogg"):
                t = vorbis_tags(src)
                title, author = t.get("title", ""), t.get("artist", "") or t.get("composer", "")
                if t.get("license") and not dep5:
                    lic = t["license"]
            if pkg == "supertuxkart-data":
                title, author = stk_music.get(os.path.basename(src), (title, author))
            if pkg == "warzone2100-music":
                d = os.path.dirname(src)
                if d in wz_albums:
                    meta, summary = wz_albums[d]
                    for tr in meta.get("tracks", []):
                        if tr.get("filename") == os.path.basename(src):
                            title, author = tr.get("title", ""), tr.get("author", "")
                    if summary:
                        lic = ("GPL-2+" if "track3_enhanced" in src else "CC-BY-SA-3.0+ or GPL-2+")
                        m = re.search(r"Copyright \(C\) ([^']+?) '", summary)
                        cr = (m.group(1).strip() + " (album license.txt)") if m else "album license.txt"
            credit = credits.get(os.path.basename(src).lower().lstrip("@"))  # OpenClonk: @CrushedIceCocktail.ogg
            if credit and not author:
                author = credit[0]
            if pkg == "openclonk-data":
                lic = "CC-BY-3.0 (`Music.ocg/authors.txt`: \"If not stated otherwise\")"
                cr = "2009-2016 The OpenClonk Team and contributors (package)"
            elif dep5:
                hit = dep5_match(stanzas, upath)
                if hit:
                    cr = cr or "; ".join(hit[0])
                    lic = lic or hit[1]
                squash = lambda t: re.sub(r"[^a-z0-9]", "", t.lower())
                if credit and credit[1] and squash(credit[1]) not in squash(lic):
                    lic = f"{lic} (README: {credit[1]})"
            else:
                short, _ = freeform_licence(ctext)
                lic = f"{short} (package)" + (f"; file says {lic}" if lic else "")
            if len(cr) > 160:
                cr = cr[:160].rsplit(";", 1)[0] + "; … (see the package's copyright file)"
            out.append(f"| `{r['path']}` | {md_cell(title)} | {md_cell(author)} | {md_cell(lic)} | {md_cell(cr)} |")
        out.append("")
    out.append(EXPERIMENT_SOURCES)

    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print(f"wrote {args.out} ({sum(len(v) for v in by_pkg.values())} tracks)")


if __name__ == "__main__":
    main()
