//! Front-end against librosa fixtures (made by tests/fixtures/frontend/make_fixtures.py), streaming
//! invariance and the window ring.

use std::path::{Path, PathBuf};

use hark::audio::decode_file;
use hark::frontend::{
    log_mel, mel_filterbank, standardize, window_starts, FrontendError, FrontendParams,
    LogMelStream, MelFrontend, StreamingFrontend, WindowRing,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/frontend")
        .join(name)
}

/// Reads a float32 .npy file into (shape, data).
fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(
        npy.order(),
        npyz::Order::C,
        "{}: expected C order",
        path.display()
    );
    let shape = npy.shape().to_vec();
    let data: Vec<f32> = npy.into_vec().unwrap();
    (shape, data)
}

fn fixture_samples(name: &str) -> Vec<f32> {
    let audio = decode_file(fixture(&format!("{name}.wav"))).unwrap();
    assert_eq!(audio.sample_rate, 22_050);
    audio.samples
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn parity(name: &str) {
    let samples = fixture_samples(name);
    let params = FrontendParams::default();
    let ours = log_mel(&samples, &params).unwrap();
    let (shape, reference) = read_npy(&fixture(&format!("{name}_logmel.npy")));
    assert_eq!(
        shape,
        vec![(ours.len() / 128) as u64, 128],
        "{name}: frame count"
    );
    let err = max_abs_diff(&ours, &reference);
    let peak = reference.iter().fold(0.0f32, |m, &v| m.max(v));
    println!(
        "{name}: {} frames, max |ours - librosa| = {err:.3e} (largest value {peak:.3})",
        shape[0]
    );
    assert!(err <= 1e-4, "{name}: max abs error {err} > 1e-4");
}

#[test]
fn parity_sine_sweep() {
    parity("sweep");
}

#[test]
fn parity_white_noise() {
    parity("noise");
}

#[test]
fn parity_music() {
    parity("music");
}

#[test]
fn filterbank_matches_librosa() {
    let ours = mel_filterbank(&FrontendParams::default());
    let (shape, reference) = read_npy(&fixture("mel_filterbank.npy"));
    assert_eq!(shape, vec![128, 513]);
    let err = max_abs_diff(&ours, &reference);
    println!("filterbank: max |ours - librosa| = {err:.3e}");
    assert!(err <= 1e-9, "filterbank differs from librosa by {err}");
}

fn random_blocks(samples: &[f32], seed: u64, max_block: usize) -> Vec<&[f32]> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut blocks = Vec::new();
    let mut rest = samples;
    while !rest.is_empty() {
        // Include empty and single-sample blocks.
        let n = rng.random_range(0..=max_block).min(rest.len());
        let (head, tail) = rest.split_at(n);
        blocks.push(head);
        rest = tail;
    }
    blocks
}

#[test]
fn mel_frontend_blocks_equal_whole() {
    let samples = fixture_samples("music");
    for hop in [512, 1024, 1500] {
        let params = FrontendParams {
            hop_length: hop,
            ..FrontendParams::default()
        };
        let whole = log_mel(&samples, &params).unwrap();
        let mut mel = MelFrontend::new(&params).unwrap();
        assert_eq!(whole.len(), mel.frames_for(samples.len()) * 128);
        for seed in 0..3 {
            let mut frames = Vec::new();
            let mut counted = 0;
            for block in random_blocks(&samples, seed, 3000) {
                counted += mel.push(block, &mut frames);
            }
            counted += mel.finish(&mut frames);
            assert_eq!(counted * 128, frames.len());
            assert_eq!(
                frames, whole,
                "hop {hop} seed {seed}: block-wise frames differ"
            );
        }
    }
}

fn collect_windows(
    params: &FrontendParams,
    rate: u32,
    hop_frames: usize,
    blocks: &[&[f32]],
) -> Vec<Vec<f32>> {
    let mut sf = StreamingFrontend::new(params, rate, hop_frames).unwrap();
    let mut windows = Vec::new();
    let mut counted = 0;
    for block in blocks {
        counted += sf.push(block, |w| windows.push(w.to_vec())).unwrap();
    }
    counted += sf.finish(|w| windows.push(w.to_vec())).unwrap();
    assert_eq!(counted, windows.len());
    windows
}

#[test]
fn streaming_blocks_bit_identical_to_whole() {
    // 15 s of music-like input: the three fixtures back to back.
    let mut samples = fixture_samples("music");
    samples.extend(fixture_samples("noise"));
    samples.extend(fixture_samples("sweep"));
    let params = FrontendParams {
        mean: 0.4,
        std: 0.3,
        ..FrontendParams::default()
    };
    for rate in [22_050, 44_100, 48_000] {
        let whole = collect_windows(&params, rate, 13, &[&samples]);
        assert!(!whole.is_empty(), "rate {rate}: no windows");
        for seed in 0..3 {
            let blocks = random_blocks(&samples, seed, 4000);
            let pieces = collect_windows(&params, rate, 13, &blocks);
            assert_eq!(
                pieces.len(),
                whole.len(),
                "rate {rate} seed {seed}: window count"
            );
            for (i, (a, b)) in pieces.iter().zip(&whole).enumerate() {
                let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "rate {rate} seed {seed}: window {i} differs");
            }
        }
        println!(
            "rate {rate}: {} windows identical across block splits",
            whole.len()
        );
    }
}

/// `seconds` of full-band sound at `rate`: a chirp from 20 Hz to Nyquist, tones either side
/// of the model's Nyquist (where the anti-aliasing filter turns), and white noise.
fn full_band(rate: u32, seconds: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = (f64::from(rate) * seconds) as usize;
    let nyquist = f64::from(rate) / 2.0;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            // Instantaneous frequency 20 Hz → Nyquist, linear over the signal.
            let sweep = 2.0
                * std::f64::consts::PI
                * (20.0 * t + (nyquist - 20.0) * t * t / (2.0 * seconds));
            let tones: f64 = [10_500.0, 10_900.0, 11_100.0, 12_000.0]
                .iter()
                .map(|f| (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
            (0.3 * sweep.sin() + 0.05 * tones + 0.1 * rng.random_range(-1.0..1.0)) as f32
        })
        .collect()
}

/// The log-mel of `samples` at `rate` by resampling the whole signal first.
fn resampled_log_mel(samples: &[f32], rate: u32, params: &FrontendParams) -> Vec<f32> {
    let mut resampler = hark::audio::Resampler::new(rate, params.sample_rate).unwrap();
    let mut resampled = Vec::new();
    resampler.push(samples, &mut resampled).unwrap();
    resampler.finish(&mut resampled).unwrap();
    log_mel(&resampled, params).unwrap()
}

fn stream_log_mel(samples: &[f32], rate: u32, params: &FrontendParams) -> Vec<f32> {
    let mut stream = LogMelStream::new(params, rate).unwrap();
    let mut frames = Vec::new();
    let mut counted = stream.push(samples, &mut frames).unwrap();
    counted += stream.finish(&mut frames).unwrap();
    assert_eq!(counted * params.n_mels, frames.len());
    frames
}

#[test]
fn whole_multiples_of_the_model_rate_decimate_in_the_stft_as_resampling_would() {
    // 44.1 and 88.2 kHz skip the resampled signal; their frames must be those of resampling
    // first, in count and (to float rounding) in value, for any end of stream.
    let params = FrontendParams::default();
    for rate in [44_100, 88_200] {
        let signal = full_band(rate, 6.0, u64::from(rate));
        let ours = stream_log_mel(&signal, rate, &params);
        let want = resampled_log_mel(&signal, rate, &params);
        assert_eq!(ours.len(), want.len(), "{rate} Hz: frame count");
        let diffs: Vec<f32> = ours.iter().zip(&want).map(|(a, b)| (a - b).abs()).collect();
        // Bands wholly inside the resampler's flat passband, and the rest (its slope).
        let factor = (rate / params.sample_rate) as usize;
        let gain = hark::audio::decimation_gain(rate, params.sample_rate, params.n_fft).unwrap();
        let n_bins = params.n_fft / 2 + 1;
        let flat: Vec<bool> = mel_filterbank(&params)
            .chunks_exact(n_bins)
            .map(|band| {
                band.iter()
                    .zip(&gain)
                    .all(|(w, g)| *w == 0.0 || (g * factor as f32 - 1.0).abs() < 1e-3)
            })
            .collect();
        let band_max = |in_passband: bool| {
            diffs
                .chunks_exact(128)
                .flat_map(|frame| frame.iter().zip(&flat))
                .filter(|(_, &f)| f == in_passband)
                .fold(0.0f32, |m, (&d, _)| m.max(d))
        };
        let (passband, slope) = (band_max(true), band_max(false));
        let slope_bands = flat.iter().filter(|f| !**f).count();
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        println!(
            "{rate} Hz: {} frames, |diff| max {passband:.2e} in the passband, {slope:.2e} in the \
             top {slope_bands} bands (the filter's slope), mean {mean:.2e}",
            ours.len() / 128
        );
        // The model's log-mel values spread over ≈0.2 (its std). In the resampler's flat
        // passband the two agree to rounding. On its slope (the top bands, above ≈10 kHz) a
        // sweep crossing it within one frame, as this one does, differs by up to ≈0.02: the
        // slope scales the frame's spectrum, not each instant. Music differed by at most 8e-4
        // there (the benches' corpus, 44.1 kHz).
        assert!(
            slope_bands <= 4,
            "{rate} Hz: {slope_bands} bands on the slope"
        );
        assert!(
            passband < 1e-4,
            "{rate} Hz: passband bands differ by {passband}"
        );
        assert!(
            slope < 3e-2,
            "{rate} Hz: the slope's bands differ by {slope}"
        );
        assert!(mean < 3e-5, "{rate} Hz: mean |diff| {mean}");

        // Every end of stream, relative to the frame grid, gives resampling's frame count.
        for len in
            (2 * params.n_fft * factor - 3 * factor)..(2 * params.n_fft * factor + 3 * factor)
        {
            let frames = stream_log_mel(&signal[..len], rate, &params).len();
            let want = resampled_log_mel(&signal[..len], rate, &params).len();
            assert_eq!(frames, want, "{rate} Hz, {len} samples: frame count");
        }
    }
}

#[test]
fn streaming_matches_log_mel_standardize_at_model_rate() {
    let samples = fixture_samples("music");
    let params = FrontendParams {
        mean: 0.4,
        std: 0.3,
        window_frames: 50,
        ..Default::default()
    };
    let windows = collect_windows(&params, 22_050, 20, &[&samples]);

    let mut frames = log_mel(&samples, &params).unwrap();
    standardize(&mut frames, &params);
    let n_frames = frames.len() / 128;
    assert_eq!(windows.len(), (n_frames - 50) / 20 + 1);
    for (i, w) in windows.iter().enumerate() {
        assert_eq!(
            w.as_slice(),
            &frames[i * 20 * 128..(i * 20 + 50) * 128],
            "window {i}"
        );
    }
}

#[test]
fn standardize_applies_mean_and_std() {
    let params = FrontendParams {
        mean: 1.5,
        std: 0.5,
        ..FrontendParams::default()
    };
    let mut x = vec![1.5, 2.0, 0.5];
    standardize(&mut x, &params);
    assert_eq!(x, vec![0.0, 1.0, -2.0]);
}

/// Frame `i` holds `i + band / 1000` so windows can be checked exactly.
fn numbered_frame(i: usize, n_mels: usize) -> Vec<f32> {
    (0..n_mels).map(|b| i as f32 + b as f32 / 1000.0).collect()
}

#[test]
fn window_ring_hops() {
    let (window, n_mels, total) = (130, 128, 1000);
    for hop in [1, 65, 130, 200] {
        let mut ring = WindowRing::new(window, n_mels, hop).unwrap();
        let mut starts = Vec::new();
        for i in 0..total {
            let frame = numbered_frame(i, n_mels);
            if let Some(w) = ring.push_frame(&frame) {
                assert_eq!(w.len(), window * n_mels);
                let start = w[0] as usize;
                assert_eq!(
                    start + window - 1,
                    i,
                    "hop {hop}: window must end at the newest frame"
                );
                for (t, f) in w.chunks_exact(n_mels).enumerate() {
                    assert_eq!(f, numbered_frame(start + t, n_mels).as_slice(), "hop {hop}");
                }
                starts.push(start);
            }
        }
        let expected: Vec<usize> = (0..=(total - window)).step_by(hop).collect();
        assert_eq!(starts, expected, "hop {hop}: window starts");
        assert_eq!(starts, window_starts(total, window, hop), "hop {hop}");
        println!("hop {hop}: {} windows", starts.len());
    }
}

#[test]
fn window_starts_is_the_ring_rule_for_any_length() {
    assert!(
        window_starts(129, 130, 65).is_empty(),
        "shorter than a window"
    );
    assert_eq!(window_starts(130, 130, 65), [0]);
    assert_eq!(window_starts(260, 130, 65), [0, 65, 130]);
    assert_eq!(window_starts(400, 130, 500), [0]);
    assert!(window_starts(400, 0, 1).is_empty());
    assert!(window_starts(400, 130, 0).is_empty());
    for (frames, window, hop) in [(0, 3, 1), (7, 3, 2), (50, 7, 3), (51, 10, 10), (9, 2, 5)] {
        let mut ring = WindowRing::new(window, 1, hop).unwrap();
        let emitted: Vec<usize> = (0..frames)
            .filter_map(|i| ring.push_frame(&[i as f32]).map(|w| w[0] as usize))
            .collect();
        assert_eq!(
            emitted,
            window_starts(frames, window, hop),
            "{frames} {window} {hop}"
        );
    }
}

#[test]
fn window_ring_reset_starts_afresh() {
    let mut ring = WindowRing::new(4, 2, 2).unwrap();
    for i in 0..3 {
        assert!(ring.push_frame(&numbered_frame(i, 2)).is_none());
    }
    ring.reset();
    for i in 10..13 {
        assert!(ring.push_frame(&numbered_frame(i, 2)).is_none());
    }
    let w = ring.push_frame(&numbered_frame(13, 2)).unwrap().to_vec();
    assert_eq!(w[0], 10.0);
}

fn invalid_field(result: Result<impl std::fmt::Debug, FrontendError>) -> &'static str {
    match result {
        Err(FrontendError::InvalidParam { field, .. }) => field,
        other => panic!("expected InvalidParam, got {other:?}"),
    }
}

#[test]
fn bad_params_name_the_field() {
    let d = FrontendParams::default();
    let cases = [
        (
            FrontendParams {
                sample_rate: 0,
                ..d.clone()
            },
            "sample_rate",
        ),
        (
            FrontendParams {
                n_fft: 0,
                ..d.clone()
            },
            "n_fft",
        ),
        (
            FrontendParams {
                hop_length: 0,
                ..d.clone()
            },
            "hop_length",
        ),
        (
            FrontendParams {
                n_mels: 0,
                ..d.clone()
            },
            "n_mels",
        ),
        (
            FrontendParams {
                f_min: -1.0,
                ..d.clone()
            },
            "f_min",
        ),
        (
            FrontendParams {
                f_max: 12_000.0,
                ..d.clone()
            },
            "f_max",
        ),
        (
            FrontendParams {
                f_max: f32::NAN,
                ..d.clone()
            },
            "f_max",
        ),
        (
            FrontendParams {
                mean: f32::INFINITY,
                ..d.clone()
            },
            "mean",
        ),
        (
            FrontendParams {
                std: 0.0,
                ..d.clone()
            },
            "std",
        ),
        (
            FrontendParams {
                window_frames: 0,
                ..d.clone()
            },
            "window_frames",
        ),
        // Typos that would otherwise be allocated: a huge FFT, window or rate.
        (
            FrontendParams {
                n_fft: 1_024_000,
                ..d.clone()
            },
            "n_fft",
        ),
        (
            FrontendParams {
                hop_length: usize::MAX,
                ..d.clone()
            },
            "hop_length",
        ),
        (
            FrontendParams {
                window_frames: 1_300_000,
                ..d.clone()
            },
            "window_frames",
        ),
        (
            FrontendParams {
                sample_rate: u32::MAX,
                f_max: 11_025.0,
                ..d.clone()
            },
            "sample_rate",
        ),
        // More bands than the 513 FFT bins of n_fft 1024.
        (
            FrontendParams {
                n_mels: 514,
                ..d.clone()
            },
            "n_mels",
        ),
    ];
    for (params, field) in cases {
        assert_eq!(invalid_field(MelFrontend::new(&params)), field);
        assert_eq!(invalid_field(log_mel(&[0.0; 4096], &params)), field);
        let err = StreamingFrontend::new(&params, 44_100, 65).unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    }
    assert_eq!(invalid_field(WindowRing::new(130, 128, 0)), "hop_frames");
    assert_eq!(
        invalid_field(StreamingFrontend::new(&d, 44_100, 0)),
        "hop_frames"
    );
    assert!(matches!(
        StreamingFrontend::new(&d, 0, 65),
        Err(FrontendError::Resample(_))
    ));
}

#[test]
fn short_input_gives_no_frames() {
    let params = FrontendParams::default();
    assert!(log_mel(&[], &params).unwrap().is_empty());
    assert!(log_mel(&[0.1; 1023], &params).unwrap().is_empty());
    assert_eq!(log_mel(&[0.1; 1024], &params).unwrap().len(), 128);
    // Silence maps to log10(1) = 0 exactly.
    assert!(log_mel(&[0.0; 2048], &params)
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
}
