#!/usr/bin/env python3
"""The Python pipeline a user would write to do what `hark tag` does, for the throughput
benchmark (`benches/tag_throughput.sh`): librosa loads and resamples each file, librosa
computes the same log-mel (Slaney mel, center=False, log10(1 + 10 mel)), the windows are
standardised with the model's statistics and cut without overlap, onnxruntime runs the same
`audio.onnx` over them in batches of 16, and the window embeddings are averaged.

It stops at the track embedding: scoring it against a vocabulary is a few hundred
multiply-adds, and leaving it out only flatters this baseline.

    benches/.venv/bin/python benches/tag_baseline.py --model models/default FILE...

Prints one JSON line per file: file, duration_s, windows, and the embedding's first values.
Needs numpy, librosa, soundfile, soxr and onnxruntime (benches/requirements.txt).
"""

import argparse
import json
import pathlib
import tomllib

import librosa
import numpy as np
import onnxruntime as ort

BATCH = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=pathlib.Path, required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    manifest = tomllib.loads((args.model / "model.toml").read_text())
    fe = manifest["frontend"]
    session = ort.InferenceSession(
        str(args.model / manifest["files"]["audio"]), providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name
    frames_per_window = fe["window_frames"]

    for path in args.files:
        # librosa's default resampler (soxr_hq) and mono downmix.
        y, sr = librosa.load(path, sr=fe["sample_rate"], mono=True)
        mel = librosa.feature.melspectrogram(
            y=y,
            sr=sr,
            n_fft=fe["n_fft"],
            hop_length=fe["hop_length"],
            center=False,
            power=1.0,
            n_mels=fe["n_mels"],
            fmin=fe["f_min"],
            fmax=fe["f_max"],
            htk=False,
            norm="slaney",
        )
        log_mel = (np.log10(1.0 + 10.0 * mel).T - fe["mean"]) / fe["std"]
        n = max(0, (log_mel.shape[0] - frames_per_window) // frames_per_window + 1)
        windows = np.stack(
            [log_mel[i * frames_per_window : (i + 1) * frames_per_window] for i in range(n)]
        ).astype(np.float32)
        embeddings = [
            session.run(None, {input_name: windows[i : i + BATCH]})[0]
            for i in range(0, n, BATCH)
        ]
        mean = np.concatenate(embeddings).mean(axis=0)
        print(
            json.dumps(
                {
                    "file": path,
                    "duration_s": round(len(y) / sr, 3),
                    "windows": n,
                    "embedding_head": [round(float(v), 4) for v in mean[:4]],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
