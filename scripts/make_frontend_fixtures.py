#!/usr/bin/env python3
"""Make hark's front-end parity fixtures and audio decode fixtures.

Run with the tools environment (numpy, librosa 0.10.2, soundfile):

    /work/pyenv-tools/bin/python scripts/make_frontend_fixtures.py

Writes into tests/fixtures/frontend/:
  sweep.wav, noise.wav, music.wav   5 s, 22050 Hz, mono, 16-bit PCM
  <name>_logmel.npy                 librosa log10(1 + 10 * mel), float32 [frames, 128]
  mel_filterbank.npy                librosa.filters.mel, float32 [128, 513]

and into tests/fixtures/audio/ (needs `sox` built with libsox-fmt-all):
  tone.wav/.flac/.ogg/.mp3          the same 1 s clip (440 Hz + 1000 Hz) at 22050 Hz mono
  stereo44k.flac                    1 s, 44100 Hz stereo: 1000 Hz left, 3000 Hz right
  truncated.wav                     tone.wav cut in the middle of its data chunk
  truncated.flac                    tone.flac cut in the middle of its frames

The log-mels are computed from the samples exactly as read back from the WAV files
(soundfile, float32), so the Rust tests and librosa see identical input.

The music excerpt comes from Debian's `warzone2100-music` package, which must have been
unpacked first:

    mkdir -p /work/main/data && cd /work/main/data && apt-get download warzone2100-music \
        && dpkg -x warzone2100-music_*.deb wz
"""

import argparse
import pathlib
import subprocess

import librosa
import numpy as np
import soundfile as sf

# The contract's front-end settings (docs: /work/shared/design.md).
SR = 22050
N_FFT = 1024
HOP = 512
N_MELS = 128
F_MIN = 0.0
F_MAX = SR / 2

ROOT = pathlib.Path(__file__).resolve().parent.parent
FRONTEND_DIR = ROOT / "tests" / "fixtures" / "frontend"
AUDIO_DIR = ROOT / "tests" / "fixtures" / "audio"
MUSIC = pathlib.Path(
    "/work/main/data/wz/usr/share/games/warzone2100/music/albums/"
    "legacy_soundtrack/track4.opus"
)
MUSIC_OFFSET_S = 60.0
DURATION_S = 5.0


def log_mel(y: np.ndarray) -> np.ndarray:
    """librosa log-mel with the contract's settings, time-major [frames, n_mels]."""
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=SR,
        n_fft=N_FFT,
        hop_length=HOP,
        win_length=N_FFT,
        window="hann",
        center=False,
        power=1.0,
        n_mels=N_MELS,
        fmin=F_MIN,
        fmax=F_MAX,
        htk=False,
        norm="slaney",
    )
    # C order, so readers that ignore fortran_order still see [frames, n_mels].
    return np.ascontiguousarray(np.log10(1.0 + 10.0 * mel).T, dtype=np.float32)


def write_wav_and_logmel(name: str, y: np.ndarray) -> None:
    wav = FRONTEND_DIR / f"{name}.wav"
    sf.write(wav, np.clip(y, -1.0, 1.0), SR, subtype="PCM_16")
    # Read back what the Rust side will decode, not what we meant to write.
    back, sr = sf.read(wav, dtype="float32")
    assert sr == SR and back.ndim == 1
    lm = log_mel(back)
    np.save(FRONTEND_DIR / f"{name}_logmel.npy", lm)
    print(f"{wav.name}: {len(back)} samples -> log-mel {lm.shape}")


def sweep() -> np.ndarray:
    return 0.5 * librosa.chirp(fmin=40.0, fmax=10_000.0, sr=SR, duration=DURATION_S, linear=False)


def noise() -> np.ndarray:
    rng = np.random.default_rng(20240611)
    return 0.2 * rng.standard_normal(int(SR * DURATION_S))


def music() -> np.ndarray:
    info = sf.info(MUSIC)
    start = int(MUSIC_OFFSET_S * info.samplerate)
    stop = start + int(DURATION_S * info.samplerate)
    y, sr = sf.read(MUSIC, start=start, stop=stop, dtype="float64", always_2d=True)
    y = y.mean(axis=1)
    y = librosa.resample(y, orig_sr=sr, target_sr=SR, res_type="soxr_hq")
    return y[: int(SR * DURATION_S)]


def sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True)


def truncate(src: pathlib.Path, dst: pathlib.Path, keep_fraction: float) -> None:
    data = src.read_bytes()
    # An odd byte count also leaves the last sample incomplete.
    keep = int(len(data) * keep_fraction) | 1
    dst.write_bytes(data[:keep])


def audio_fixtures() -> None:
    AUDIO_DIR.mkdir(parents=True, exist_ok=True)
    t = np.arange(SR) / SR
    tone = 0.4 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 1000.0 * t)
    wav = AUDIO_DIR / "tone.wav"
    sf.write(wav, tone, SR, subtype="PCM_16")
    sox(str(wav), str(AUDIO_DIR / "tone.flac"))
    sox(str(wav), "-C", "3", str(AUDIO_DIR / "tone.ogg"))
    sox(str(wav), "-C", "64", str(AUDIO_DIR / "tone.mp3"))

    sr44 = 44100
    t44 = np.arange(sr44) / sr44
    stereo = np.stack(
        [0.5 * np.sin(2 * np.pi * 1000.0 * t44), 0.5 * np.sin(2 * np.pi * 3000.0 * t44)], axis=1
    )
    sf.write(AUDIO_DIR / "stereo44k.flac", stereo, sr44, subtype="PCM_16")

    truncate(wav, AUDIO_DIR / "truncated.wav", 0.5)
    truncate(AUDIO_DIR / "tone.flac", AUDIO_DIR / "truncated.flac", 0.5)
    for p in sorted(AUDIO_DIR.iterdir()):
        print(f"{p.name}: {p.stat().st_size} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    FRONTEND_DIR.mkdir(parents=True, exist_ok=True)
    write_wav_and_logmel("sweep", sweep())
    write_wav_and_logmel("noise", noise())
    write_wav_and_logmel("music", music())
    fb = librosa.filters.mel(
        sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=F_MIN, fmax=F_MAX, htk=False, norm="slaney"
    )
    np.save(FRONTEND_DIR / "mel_filterbank.npy", fb.astype(np.float32))
    print(f"mel_filterbank.npy: {fb.shape}")
    audio_fixtures()


if __name__ == "__main__":
    main()
