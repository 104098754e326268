"""corpus_debs.py — one Debian package unpacked in the recipe's corpus, for the Python steps.

`unpacked(corpus, pkg)` reuses <corpus>/debs/<pkg>_*.deb or `apt-get download`s it, unpacks
it once with `dpkg -x` into <corpus>/extract/<pkg>/ (a .done marker, as fetch_audio.sh does)
and returns that folder. apt's output goes to standard error, so a script's standard output
stays its own.
"""
import os
import subprocess
import sys


def unpacked(corpus, pkg):
    """<corpus>/extract/<pkg>/, downloading and unpacking the package the first time."""
    debs, dest = os.path.join(corpus, "debs"), os.path.join(corpus, "extract", pkg)
    if os.path.exists(os.path.join(dest, ".done")):
        return dest
    os.makedirs(debs, exist_ok=True)

    def found():
        return sorted(f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb"))

    if not found():
        print(f"downloading {pkg}", file=sys.stderr, flush=True)
        subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True, stdout=sys.stderr)
    os.makedirs(dest, exist_ok=True)
    subprocess.run(["dpkg", "-x", os.path.join(debs, found()[0]), dest], check=True)
    open(os.path.join(dest, ".done"), "w").close()
    return dest
