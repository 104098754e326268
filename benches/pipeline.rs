//! Criterion benches for the front-end, encoder, scoring, GloVe store and whole-file tagging.
//!
//! Targets from the issue (benchmarks, never timed tests), each with a baseline measured in the
//! same run so a slow machine shows up as a ratio rather than a false alarm:
//!
//! | target                                      | bench                                   | baseline                          |
//! |---------------------------------------------|-----------------------------------------|-----------------------------------|
//! | front-end + encoder ≤ 2 ms/window, one core | `pipeline/frontend_encoder_per_window`  | `frontend/mel_only_130_frames`    |
//! | `hark tag` 3-min OGG ≤ 1 s wall incl. decode | `tag/hark_tag_process_44k1_stereo`     | `tag/decode_only_44k1_stereo`     |
//! | GloVe store open ≤ 50 ms (warm here)        | `glove/open_warm`                       | `glove/mmap_only`                 |
//!
//! "One core": run the benches pinned, e.g. `taskset -c 1 cargo bench --bench pipeline`
//! (the encoder and front-end are single-threaded anyway; pinning also holds the `hark tag`
//! subprocess to one core). The 3-minute OGG files are made at start-up with `sox` from the
//! bundled demo recording; without sox the benches stop with a message saying so.
//! `benches/medians.py` prints the medians from criterion's estimates.json files.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hark::audio::FileDecoder;
use hark::file_tagger::Tagger;
use hark::frontend::{FrontendParams, LogMelStream, MelFrontend, StreamingFrontend};
use hark::model::Model;
use hark::score::{Scorer, Selection, TagSpec};
use hark::vocab::load_scorer;
use hark::vocab::GloveStore;

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The bundled model, or `HARK_BENCH_MODEL` (e.g. a wider encoder's export, to check its budget).
fn model_dir() -> PathBuf {
    std::env::var_os("HARK_BENCH_MODEL").map_or_else(|| repo("models/default"), PathBuf::from)
}

fn glove_path() -> PathBuf {
    repo("models/glove/glove-6b-50d.hgv")
}

fn vocabulary_path() -> PathBuf {
    repo("models/vocabulary.txt")
}

fn demo_path() -> PathBuf {
    repo("models/demo/demo.ogg")
}

fn load_model() -> Model {
    Model::load(&model_dir()).unwrap_or_else(|e| panic!("bench needs the bundled model: {e}"))
}

/// Mono samples of the demo recording at its own rate (22,050 Hz).
fn demo_samples() -> (Vec<f32>, u32) {
    let audio = hark::audio::decode_file(demo_path())
        .unwrap_or_else(|e| panic!("bench needs models/demo/demo.ogg: {e}"));
    (audio.samples, audio.sample_rate)
}

/// Repeats `samples` until at least `len` long.
fn cycled(samples: &[f32], len: usize) -> Vec<f32> {
    samples.iter().copied().cycle().take(len).collect()
}

/// Standardised model windows cut from real music, `n` of them, `[n][130][128]`.
fn real_windows(n: usize, params: &FrontendParams) -> Vec<f32> {
    let (samples, rate) = demo_samples();
    let mut fe = StreamingFrontend::new(params, rate, params.window_frames).unwrap();
    let mut out = Vec::new();
    let mut got = 0;
    // Skip the first windows (an intro) by taking windows from the middle onwards.
    let start = samples.len() / 4;
    fe.push(&samples[start..], |w| {
        if got < n {
            out.extend_from_slice(w);
            got += 1;
        }
    })
    .unwrap();
    assert_eq!(got, n, "demo too short for {n} windows");
    out
}

/// A 3:00 OGG Vorbis made from the demo with sox (the demo is 2:26, so it loops once).
fn three_minute_ogg(dir: &Path, rate: u32, channels: u32) -> PathBuf {
    let out = dir.join(format!("three-minutes-{rate}-{channels}ch.ogg"));
    let demo = demo_path();
    // -G: guard against clipping when resampling the loud demo.
    let status = Command::new("sox")
        .arg("-G")
        .arg(&demo)
        .arg(&demo)
        .args(["-r", &rate.to_string(), "-c", &channels.to_string()])
        .arg(&out)
        .args(["trim", "0", "180"])
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("sox failed ({s}) making {}", out.display()),
        Err(e) => panic!(
            "the `hark tag` benches need `sox` (with Vorbis support) to make a 3-minute OGG \
             from models/demo/demo.ogg, and it could not be run: {e}. Install sox \
             (apt-get install sox libsox-fmt-all) or skip them with `cargo bench --bench \
             pipeline -- --skip tag/`."
        ),
    }
    let decoder = FileDecoder::open(&out).unwrap();
    assert_eq!(decoder.sample_rate(), rate, "{}", out.display());
    out
}

fn frontend(c: &mut Criterion) {
    let params = Model::load(&model_dir()).unwrap().manifest.frontend;
    let (samples, rate) = demo_samples();
    assert_eq!(rate, 22_050);
    // One window of fresh audio at hop = window: 130 frames × 512 samples.
    let per_window = params.window_frames * params.hop_length;
    let source22 = cycled(&samples, 64 * per_window);
    // The same music at 44.1 kHz (a typical capture rate), so resampling is included.
    let source44: Vec<f32> = {
        let mut r = hark::audio::Resampler::new(22_050, 44_100).unwrap();
        let mut out = Vec::new();
        r.push(&source22, &mut out).unwrap();
        out
    };

    let mut g = c.benchmark_group("frontend");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    g.throughput(Throughput::Elements(1));

    // Baseline: STFT + mel + log only, no resampling, standardisation or window ring.
    {
        let mut mel = MelFrontend::new(&params).unwrap();
        let mut frames = Vec::with_capacity(2 * params.window_frames * params.n_mels);
        let mut at = 0;
        g.bench_function("mel_only_130_frames", |b| {
            b.iter(|| {
                frames.clear();
                let block = &source22[at..at + per_window];
                at = (at + per_window) % (source22.len() - per_window);
                let n = mel.push(black_box(block), &mut frames);
                black_box(&frames);
                n
            })
        });
    }

    // 44.1 kHz to unstandardised log-mel, one window's worth per push: resampling with rubato
    // then the 22.05 kHz STFT (how every rate went before), against the STFT at 44.1 kHz
    // with the decimation folded in (what LogMelStream does at whole multiples).
    {
        let block_len = 2 * per_window;
        let mut resampler = hark::audio::Resampler::new(44_100, params.sample_rate).unwrap();
        let mut mel = MelFrontend::new(&params).unwrap();
        let (mut resampled, mut frames) = (Vec::new(), Vec::new());
        let mut at = 0;
        g.bench_function("resample_then_mel_44k1_per_window", |b| {
            b.iter(|| {
                let block = &source44[at..at + block_len];
                at = (at + block_len) % (source44.len() - block_len);
                resampled.clear();
                frames.clear();
                resampler.push(black_box(block), &mut resampled).unwrap();
                mel.push(&resampled, &mut frames)
            })
        });
        let mut stream = LogMelStream::new(&params, 44_100).unwrap();
        let mut at = 0;
        g.bench_function("decimating_log_mel_44k1_per_window", |b| {
            b.iter(|| {
                let block = &source44[at..at + block_len];
                at = (at + block_len) % (source44.len() - block_len);
                frames.clear();
                stream.push(black_box(block), &mut frames).unwrap()
            })
        });
    }

    // The daemon's chain at the model rate: one window out per push (hop = 130 frames).
    for (name, source, in_rate, factor) in [
        ("streaming_22k05_per_window", &source22, 22_050u32, 1usize),
        ("streaming_44k1_per_window", &source44, 44_100, 2),
    ] {
        let mut fe = StreamingFrontend::new(&params, in_rate, params.window_frames).unwrap();
        let block_len = per_window * factor;
        let mut at = 0;
        let mut windows = 0usize;
        let mut pushes = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                let block = &source[at..at + block_len];
                at = (at + block_len) % (source.len() - block_len);
                pushes += 1;
                windows += fe
                    .push(black_box(block), |w| {
                        black_box(w);
                    })
                    .unwrap();
            })
        });
        // Each push of 130 frames' worth of audio must yield one window, or the figure
        // above is not "per window".
        assert!(
            windows + 2 >= pushes && windows <= pushes,
            "{name}: {windows} windows from {pushes} pushes"
        );
    }
    g.finish();
}

fn encoder(c: &mut Criterion) {
    let model = load_model();
    let params = model.manifest.frontend.clone();
    let per = params.window_frames * params.n_mels;
    let windows = real_windows(16, &params);

    let mut g = c.benchmark_group("encoder");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30);
    g.throughput(Throughput::Elements(1));
    g.bench_function("batch1", |b| {
        b.iter(|| model.audio.embed(black_box(&windows[..per]), 1).unwrap())
    });
    // Throughput::Elements(16): criterion's "thrpt" line is windows per second.
    g.throughput(Throughput::Elements(16));
    g.bench_function("batch16", |b| {
        b.iter(|| model.audio.embed(black_box(&windows), 16).unwrap())
    });
    g.finish();

    // The daemon's per-window cost: 130 frames of audio through the chain, then the encoder.
    let (samples, rate) = demo_samples();
    let per_window = params.window_frames * params.hop_length;
    let source = cycled(&samples, 64 * per_window);
    let mut fe = StreamingFrontend::new(&params, rate, params.window_frames).unwrap();
    let mut pending: Vec<f32> = Vec::with_capacity(2 * per);
    let mut at = 0;
    let mut g = c.benchmark_group("pipeline");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30);
    g.throughput(Throughput::Elements(1));
    g.bench_function("frontend_encoder_per_window", |b| {
        b.iter(|| {
            let block = &source[at..at + per_window];
            at = (at + per_window) % (source.len() - per_window);
            fe.push(black_box(block), |w| pending.extend_from_slice(w))
                .unwrap();
            let n = pending.len() / per;
            let out = if n > 0 {
                model.audio.embed(&pending[..n * per], n).unwrap()
            } else {
                Vec::new()
            };
            pending.clear();
            out
        })
    });
    g.finish();
}

fn scoring(c: &mut Criterion) {
    let model = load_model();
    let glove = GloveStore::open(glove_path()).unwrap();
    let d = model.manifest.embedding_dim;
    let g_dim = glove.dim();
    // 1,000 real GloVe words (ranks 1,000–1,999: ordinary words, past the stop words).
    let mut vectors = Vec::with_capacity(1000 * g_dim);
    for rank in 1000..2000 {
        vectors.extend_from_slice(&glove.row(rank).expect("pack has 2,000 words"));
    }
    let embeddings = model.word.embed(&vectors, 1000).unwrap();
    let specs: Vec<TagSpec> = (0..1000)
        .map(|i| TagSpec {
            label: format!("tag{i}"),
            threshold: None,
        })
        .collect();
    let scorer = Scorer::new(specs, &embeddings, d).unwrap();
    let track = model
        .audio
        .embed(&real_windows(1, &model.manifest.frontend), 1)
        .unwrap();
    let rule = Selection {
        threshold: model.manifest.score_threshold,
        top_k: 5,
    };

    let mut g = c.benchmark_group("score");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    // Baseline: the 1,000 cosines alone.
    g.bench_function("score_all_1000_tags", |b| {
        b.iter(|| scorer.score_all(black_box(&track)).unwrap())
    });
    // What a finished track costs: cosines, threshold, sort, top 5.
    g.bench_function("select_1000_tags_top5", |b| {
        b.iter(|| scorer.select(black_box(&track), rule).unwrap())
    });
    // What a vocabulary reload of 1,000 tags costs in the word encoder.
    g.sample_size(20);
    g.bench_function("word_encoder_1000_tags", |b| {
        b.iter(|| model.word.embed(black_box(&vectors), 1000).unwrap())
    });
    // The bundled vocabulary file end to end: read, parse, GloVe lookups, word encoder.
    g.bench_function("load_scorer_bundled_vocabulary", |b| {
        b.iter(|| load_scorer(&model, &glove, &vocabulary_path()).unwrap())
    });
    g.finish();
}

fn glove_store(c: &mut Criterion) {
    let path = glove_path();
    let mut g = c.benchmark_group("glove");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    // Baseline: open + mmap of the same file, nothing read.
    g.bench_function("mmap_only", |b| {
        b.iter(|| {
            let f = std::fs::File::open(black_box(&path)).unwrap();
            // SAFETY: read-only map of a file nobody rewrites during the bench.
            unsafe { memmap2::Mmap::map(&f) }.unwrap()
        })
    });
    // Page cache warm (the file was just read): header, layout and fst index checksum.
    g.bench_function("open_warm", |b| {
        b.iter(|| GloveStore::open(black_box(&path)).unwrap())
    });
    let store = GloveStore::open(&path).unwrap();
    g.bench_function("phrase_lookup_warm", |b| {
        b.iter(|| store.phrase(black_box("easy listening")).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("model");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    // Part of the time to READY: parse both ONNX files and build the tract plans.
    g.bench_function("load_bundled", |b| {
        b.iter(|| Model::load(black_box(&model_dir())).unwrap())
    });
    g.finish();
}

fn tag(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let stereo = three_minute_ogg(dir.path(), 44_100, 2);
    let mono = three_minute_ogg(dir.path(), 22_050, 1);
    let model = load_model();
    let glove = GloveStore::open(glove_path()).unwrap();
    let scorer = load_scorer(&model, &glove, &vocabulary_path()).unwrap();
    let selection = Selection {
        threshold: model.manifest.score_threshold,
        top_k: 5,
    };
    let hop = model.manifest.frontend.window_frames;
    let tagger = Tagger::new(model, scorer, selection, hop);
    let report = tagger.tag_file(&stereo).unwrap();
    assert!(
        (report.duration_s - 180.0).abs() < 0.5,
        "3-minute file is {} s",
        report.duration_s
    );

    let mut g = c.benchmark_group("tag");
    g.warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .sample_size(10);
    for (name, file) in [("44k1_stereo", &stereo), ("22k05_mono", &mono)] {
        // Baseline: decoding alone, the floor for anything that reads the file.
        g.bench_function(format!("decode_only_{name}"), |b| {
            b.iter(|| {
                let mut d = FileDecoder::open(black_box(file)).unwrap();
                let mut n = 0usize;
                while let Some(block) = d.next_block().unwrap() {
                    n += block.len();
                }
                n
            })
        });
        // In-process: decode, resample, mel, 59 windows through the encoder, score.
        g.bench_function(format!("tag_file_{name}"), |b| {
            b.iter(|| tagger.tag_file(black_box(file)).unwrap())
        });
    }
    // The command as a user runs it: process start, model load, GloVe open, vocabulary, tag.
    let exe = env!("CARGO_BIN_EXE_hark");
    g.bench_function("hark_tag_process_44k1_stereo", |b| {
        b.iter(|| {
            let out = Command::new(exe)
                .arg("tag")
                .arg(&stereo)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out
        })
    });
    g.finish();
}

criterion_group!(benches, frontend, encoder, scoring, glove_store, tag);
criterion_main!(benches);
