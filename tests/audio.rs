//! Decoding the committed audio fixtures (tests/fixtures/frontend/make_fixtures.py), resampling,
//! and clear errors for bad files.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use hark::audio::{decode_file, AudioError, FileDecoder, ResampleError, Resampler};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(name)
}

/// Amplitude of the `freq` Hz component of `x` (single-bin DFT, 2/N scaling).
fn amplitude(x: &[f32], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * PI * freq / f64::from(rate);
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for (n, &s) in x.iter().enumerate() {
        let p = w * n as f64;
        re += f64::from(s) * p.cos();
        im -= f64::from(s) * p.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

/// Checks the tone fixture's content: 0.4 at 440 Hz, 0.2 at 1000 Hz, nothing elsewhere.
/// (The MP3 encoding itself comes out about 5 % quieter; libsndfile/mpg123 agree.)
fn assert_tone(name: &str, x: &[f32], rate: u32) {
    // Skip the edges, where lossy codecs fade in and out.
    let mid = &x[2048..x.len() - 2048];
    let a440 = amplitude(mid, rate, 440.0);
    let a1000 = amplitude(mid, rate, 1000.0);
    let stray: f64 = [300.0, 700.0, 1500.0, 3000.0]
        .iter()
        .map(|&f| amplitude(mid, rate, f))
        .fold(0.0, f64::max);
    println!("{name}: |440|={a440:.4} |1000|={a1000:.4} stray={stray:.4}");
    assert!((a440 - 0.4).abs() < 0.03, "{name}: 440 Hz amplitude {a440}");
    assert!(
        (a1000 / a440 - 0.5).abs() < 0.02,
        "{name}: 1000/440 Hz ratio {}",
        a1000 / a440
    );
    assert!(stray < 0.01, "{name}: stray energy {stray}");
}

#[test]
fn decodes_every_format() {
    let wav = decode_file(fixture("tone.wav")).unwrap();
    assert_eq!(wav.sample_rate, 22_050);
    assert_eq!(wav.samples.len(), 22_050);
    assert_tone("tone.wav", &wav.samples, 22_050);

    let flac = decode_file(fixture("tone.flac")).unwrap();
    assert_eq!(
        flac, wav,
        "FLAC must decode bit-identically to the WAV it came from"
    );

    for name in ["tone.ogg", "tone.mp3"] {
        let lossy = decode_file(fixture(name)).unwrap();
        assert_eq!(lossy.sample_rate, 22_050, "{name}");
        // Lossy codecs add encoder delay and pad to whole packets; symphonia 0.5 trims
        // neither for these files, so allow up to two MP3 frames / Vorbis blocks extra.
        let len = lossy.samples.len();
        println!("{name}: {len} samples");
        assert!(
            (22_050..=22_050 + 2304).contains(&len),
            "{name}: {len} samples, expected about 22050"
        );
        assert_tone(name, &lossy.samples, 22_050);
    }
}

#[test]
fn streaming_decoder_blocks_concatenate_to_whole_file() {
    for name in [
        "tone.wav",
        "tone.flac",
        "tone.ogg",
        "tone.mp3",
        "stereo44k.flac",
    ] {
        let whole = decode_file(fixture(name)).unwrap();
        let mut dec = FileDecoder::open(fixture(name)).unwrap();
        assert_eq!(dec.sample_rate(), whole.sample_rate);
        let mut joined = Vec::new();
        let mut blocks = 0;
        while let Some(block) = dec.next_block().unwrap() {
            assert!(!block.is_empty());
            joined.extend(block);
            blocks += 1;
        }
        assert!(
            dec.next_block().unwrap().is_none(),
            "{name}: stays finished"
        );
        assert!(blocks > 1, "{name}: expected several blocks");
        assert_eq!(joined, whole.samples, "{name}");
    }
}

#[test]
fn stereo_44k_is_averaged_and_resampled() {
    let audio = decode_file(fixture("stereo44k.flac")).unwrap();
    assert_eq!(audio.sample_rate, 44_100);
    assert_eq!(audio.samples.len(), 44_100);
    // Left 0.5·sin(1 kHz), right 0.5·sin(3 kHz): the mono average holds 0.25 of each.
    let (a1, a3) = (
        amplitude(&audio.samples, 44_100, 1000.0),
        amplitude(&audio.samples, 44_100, 3000.0),
    );
    assert!(
        (a1 - 0.25).abs() < 0.005 && (a3 - 0.25).abs() < 0.005,
        "{a1} {a3}"
    );

    let mut rs = Resampler::new(44_100, 22_050).unwrap();
    let mut out = Vec::new();
    rs.push(&audio.samples, &mut out).unwrap();
    rs.finish(&mut out).unwrap();
    assert_eq!(out.len(), 22_050);
    let mid = &out[1024..out.len() - 1024];
    let (b1, b3, stray) = (
        amplitude(mid, 22_050, 1000.0),
        amplitude(mid, 22_050, 3000.0),
        amplitude(mid, 22_050, 2000.0),
    );
    println!("resampled 44.1k stereo: |1k|={b1:.4} |3k|={b3:.4} |2k|={stray:.5}");
    assert!(
        (b1 - 0.25).abs() < 0.005 && (b3 - 0.25).abs() < 0.005,
        "{b1} {b3}"
    );
    assert!(stray < 0.002, "{stray}");

    // Peak bin of a 4096-point DFT lands on the tone, so pitch is preserved.
    let seg = &out[4096..8192];
    let peak = (1..2048)
        .max_by(|&a, &b| amplitude(seg, 4096, a as f64).total_cmp(&amplitude(seg, 4096, b as f64)))
        .unwrap();
    let peak_hz = peak as f64 * 22_050.0 / 4096.0;
    println!("strongest bin: {peak} = {peak_hz:.1} Hz");
    assert!(
        (peak_hz - 1000.0).abs() < 6.0 || (peak_hz - 3000.0).abs() < 6.0,
        "{peak_hz}"
    );
}

fn sine(rate: u32, freq: f64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

#[test]
fn resampler_is_time_aligned_and_length_exact() {
    for (from, to) in [
        (44_100u32, 22_050u32),
        (48_000, 22_050),
        (16_000, 22_050),
        (22_050, 44_100),
    ] {
        let n = 3 * from as usize + 123;
        let input = sine(from, 440.0, n);
        let mut rs = Resampler::new(from, to).unwrap();
        let mut out = Vec::new();
        rs.push(&input, &mut out).unwrap();
        rs.finish(&mut out).unwrap();
        let expected_len = (n as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
        assert_eq!(out.len(), expected_len, "{from}->{to}: length");
        // Delay removed: the output is the same sine sampled at the new rate.
        let reference = sine(to, 440.0, out.len());
        let edge = to as usize / 10;
        let err = out[edge..out.len() - edge]
            .iter()
            .zip(&reference[edge..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!(
            "{from}->{to}: {} samples, max error vs ideal sine {err:.2e}",
            out.len()
        );
        assert!(
            err < 2e-3,
            "{from}->{to}: misaligned or distorted, max error {err}"
        );
    }
}

#[test]
fn resampler_output_independent_of_block_sizes() {
    let input = sine(48_000, 1234.5, 100_000);
    let mut whole = Vec::new();
    let mut rs = Resampler::new(48_000, 22_050).unwrap();
    rs.push(&input, &mut whole).unwrap();
    rs.finish(&mut whole).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..3 {
        // The same resampler is reused: finish resets it for a new stream.
        let mut out = Vec::new();
        let mut rest = input.as_slice();
        while !rest.is_empty() {
            let (head, tail) = rest.split_at(rng.random_range(0..3000).min(rest.len()));
            rs.push(head, &mut out).unwrap();
            rest = tail;
        }
        rs.finish(&mut out).unwrap();
        assert_eq!(out, whole);
    }
}

#[test]
fn resampler_passes_through_equal_rates() {
    let input = sine(22_050, 440.0, 5000);
    let mut rs = Resampler::new(22_050, 22_050).unwrap();
    let mut out = Vec::new();
    assert_eq!(rs.push(&input, &mut out).unwrap(), 5000);
    assert_eq!(rs.finish(&mut out).unwrap(), 0);
    assert_eq!(out, input);
    assert!(matches!(
        Resampler::new(0, 22_050),
        Err(ResampleError::InvalidRate { .. })
    ));
}

/// Decodes `path` expecting an error (the samples are not printed if it succeeds).
fn decode_err(path: &Path) -> AudioError {
    match decode_file(path) {
        Ok(audio) => panic!(
            "{} decoded to {} samples, expected an error",
            path.display(),
            audio.samples.len()
        ),
        Err(e) => e,
    }
}

/// The error must name the file, and its message must say so too.
fn assert_names_file(err: &AudioError, path: &Path) {
    let msg = err.to_string();
    let name = path.file_name().unwrap().to_str().unwrap();
    println!("{msg}");
    assert!(msg.contains(name), "error does not name {name}: {msg}");
}

#[test]
fn truncated_fixtures_are_errors() {
    for name in ["truncated.wav", "truncated.flac"] {
        let path = fixture(name);
        let err = decode_err(&path);
        assert_names_file(&err, &path);
        assert!(
            matches!(err, AudioError::Truncated { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

#[test]
fn cut_copies_of_every_format_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "tone.wav",
        "tone.flac",
        "tone.ogg",
        "tone.mp3",
        "stereo44k.flac",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for fraction in [0.3, 0.5, 0.9] {
            let cut = (bytes.len() as f64 * fraction) as usize;
            let path = dir
                .path()
                .join(format!("cut{}_{name}", (fraction * 10.0) as u32));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = decode_err(&path);
            assert_names_file(&err, &path);
            assert!(
                matches!(err, AudioError::Truncated { .. }),
                "{name} at {fraction}: {err:?}"
            );
        }
    }
}

#[test]
fn garbage_missing_and_empty_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    for ext in ["wav", "ogg", "flac", "mp3", "bin"] {
        let path = dir.path().join(format!("garbage.{ext}"));
        let bytes: Vec<u8> = (0..50_000).map(|_| rng.random()).collect();
        std::fs::write(&path, bytes).unwrap();
        let err = decode_err(&path);
        assert_names_file(&err, &path);
    }

    let missing = dir.path().join("no-such-file.ogg");
    let err = decode_err(&missing);
    assert_names_file(&err, &missing);
    assert!(matches!(err, AudioError::Io { .. }));

    let err = decode_err(dir.path());
    assert_names_file(&err, dir.path());
    assert!(matches!(err, AudioError::Io { .. }), "a directory: {err:?}");

    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let err = FileDecoder::open(&empty).unwrap_err();
    assert_names_file(&err, &empty);

    // A valid header with no audio after it.
    let wav = std::fs::read(fixture("tone.wav")).unwrap();
    let header_only = dir.path().join("header-only.wav");
    std::fs::write(&header_only, &wav[..44]).unwrap();
    let err = decode_err(&header_only);
    assert_names_file(&err, &header_only);
    assert!(matches!(err, AudioError::Truncated { .. }), "{err:?}");
}

/// A 32-bit float WAV (format tag 3) of `samples` at `rate`, mono.
fn float_wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 4) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 4).to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

#[test]
fn non_finite_float_samples_become_silence_and_never_reach_the_resampler() {
    let rate = 44_100;
    let mut samples: Vec<f32> = (0..rate * 4)
        .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 0.5)
        .collect();
    samples[1000] = f32::NAN;
    samples[2000] = f32::INFINITY;
    samples[3000] = f32::NEG_INFINITY;
    samples[4000] = 1e30;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("float.wav");
    std::fs::write(&path, float_wav(&samples, rate)).unwrap();

    let decoded = hark::audio::decode_file(&path).unwrap();
    assert_eq!(decoded.samples.len(), samples.len());
    assert!(decoded
        .samples
        .iter()
        .all(|s| s.is_finite() && s.abs() <= 1.0));
    assert_eq!(decoded.samples[1000], 0.0);
    assert_eq!(decoded.samples[2000], 0.0);
    assert_eq!(decoded.samples[4000], 1.0);

    // Through the resampling front-end: finite windows, no panic.
    let params = hark::frontend::FrontendParams::default();
    let mut fe = hark::frontend::StreamingFrontend::new(&params, rate, 65).unwrap();
    let mut windows = 0;
    let mut all_finite = true;
    fe.push(&decoded.samples, |w| {
        windows += 1;
        all_finite &= w.iter().all(|x| x.is_finite());
    })
    .unwrap();
    assert!(windows > 0);
    assert!(all_finite);
}

/// A 16-bit PCM WAV header with the given numbers, then `data_len` bytes of silence.
fn pcm_wav(channels: u16, rate: u32, block_align: u16, bits: u16, data_len: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&rate.wrapping_mul(u32::from(block_align)).to_le_bytes());
    b.extend_from_slice(&block_align.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    b.resize(b.len() + data_len as usize, 0);
    b
}

#[test]
fn impossible_wav_headers_are_errors_naming_the_file_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("rate0.wav", pcm_wav(1, 0, 2, 16, 4000), "sample rate 0 Hz"),
        (
            "channels0.wav",
            pcm_wav(0, 22_050, 2, 16, 4000),
            "0 channels",
        ),
        (
            "align0.wav",
            pcm_wav(1, 22_050, 0, 16, 4000),
            "block_align) is 0",
        ),
        (
            "align3.wav",
            pcm_wav(2, 22_050, 3, 16, 4000),
            "does not match",
        ),
        (
            "rate-huge.wav",
            pcm_wav(1, u32::MAX, 2, 16, 4000),
            "outside",
        ),
        (
            "no-fmt.wav",
            {
                let mut b = b"RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00".to_vec();
                b.extend_from_slice(&[0; 4]);
                b
            },
            "before any fmt chunk",
        ),
    ];
    for (name, bytes, says) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = decode_err(&path);
        assert_names_file(&err, &path);
        assert!(
            matches!(err, AudioError::Unsupported { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(says), "{name}: {err}");
    }
    // The same numbers made right decode.
    let path = dir.path().join("ok.wav");
    std::fs::write(&path, pcm_wav(2, 22_050, 4, 16, 4000)).unwrap();
    assert_eq!(decode_file(&path).unwrap().samples.len(), 1000);
}

#[test]
fn decimation_gain_is_the_resamplers_response_at_the_model_bins() {
    for (from, factor) in [(44_100, 2.0f32), (88_200, 4.0)] {
        let gain = hark::audio::decimation_gain(from, 22_050, 1024).unwrap();
        assert_eq!(gain.len(), 513, "{from} Hz: one value per bin");
        // Flat at 1/factor to 10 kHz (bin 465 of 21.5 Hz), nothing left at the model's
        // Nyquist, and never above the passband.
        for (bin, g) in gain.iter().enumerate().take(465) {
            assert!((g * factor - 1.0).abs() < 1e-3, "{from} Hz, bin {bin}: {g}");
        }
        assert!(
            gain[512] * factor < 1e-3,
            "{from} Hz at Nyquist: {}",
            gain[512]
        );
        assert!(gain.iter().all(|g| g * factor < 1.001));
    }
    assert!(matches!(
        hark::audio::decimation_gain(0, 22_050, 1024),
        Err(hark::audio::ResampleError::InvalidRate { .. })
    ));
}
