//! History search and storage costs (issue target: a search over 100,000 stored tracks in
//! ≤ 50 ms on one core here, memory bounded).
//!
//! | bench                          | what                                                        |
//! |--------------------------------|-------------------------------------------------------------|
//! | `history/search_10k`           | `hark history search` work over 10,000 tracks, one word      |
//! | `history/search_100k`          | the same over 100,000 tracks                                |
//! | `history/search_100k_3_words`  | three words over 100,000 tracks                             |
//! | `history/scan_only_100k`       | baseline: reading every embedding row, scoring nothing      |
//!
//! Also printed once (not timed): database bytes per track and bytes written per track (the
//! writer's write(2) bytes, WAL and checkpoints included) for tracks stored one transaction
//! each, as the daemon stores them. Run pinned: `taskset -c 1 cargo bench --bench history`.
//! The stores are built in a temporary directory with seeded random embeddings.

use criterion::{criterion_group, criterion_main, Criterion};
use hark::daemon::messages::{MessageContext, TrackMessage};
use hark::daemon::pipeline::ScoredTrack;
use hark::history::search::search;
use hark::history::store::unix_ms;
use hark::history::{HistoryRecord, Store};
use hark::model::Model;
use hark::score::{Scorer, TagScore};
use hark::track::{Boundary, FinishedTrack};
use hark::vocab::{scorer_from_text, GloveStore};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn records(n: usize, model: &str, dim: usize, seed: u64) -> Vec<HistoryRecord> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let now = SystemTime::now();
    (0..n)
        .map(|i| {
            let started = now - Duration::from_secs(240 * (n - i) as u64);
            let ctx = MessageContext {
                device: "radio-1".into(),
                model: model.into(),
                wall_origin: started,
                include_embedding: false,
            };
            let embedding: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            let tags = ["jazz", "piano", "ambient", "electronic", "guitar"]
                .iter()
                .map(|t| TagScore {
                    tag: (*t).into(),
                    score: rng.random_range(0.3..0.6),
                })
                .collect();
            let scored = ScoredTrack {
                track: FinishedTrack {
                    start_s: 0.0,
                    end_s: 180.0 + rng.random_range(0.0..120.0),
                    windows: 60,
                    embedding: embedding.clone(),
                    boundary: Boundary::Novelty,
                },
                tags,
                vocabulary: "vocabulary.txt#1e032dfbfb13".into(),
                windows: None,
            };
            HistoryRecord {
                message: TrackMessage::new(&ctx, &scored),
                started_ms: unix_ms(started),
                model: model.into(),
                embedding,
                windows: None,
            }
        })
        .collect()
}

fn store_with(dir: &Path, name: &str, records: &[HistoryRecord]) -> Store {
    let path = dir.join(name);
    let (mut store, _) = Store::open_or_recover(&path).expect("open");
    for chunk in records.chunks(5000) {
        store.insert_many(chunk).expect("insert");
    }
    drop(store);
    Store::open_read_only(&path).expect("read only")
}

/// Prints database bytes per track and write(2) bytes per track, one transaction a track.
fn print_storage_costs(dir: &Path, model: &str, dim: usize) {
    let wchar = || -> u64 {
        std::fs::read_to_string("/proc/thread-self/io")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("wchar:"))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    };
    let path = dir.join("costs.sqlite");
    let (mut store, _) = Store::open_or_recover(&path).expect("open");
    let rs = records(2000, model, dim, 7);
    let before = wchar();
    for r in &rs {
        store.insert(r).expect("insert");
    }
    let written = wchar() - before;
    let used = store.used_bytes().expect("size");
    eprintln!(
        "history storage: {} tracks, {:.0} database bytes/track, {:.0} bytes written/track (D = {dim})",
        rs.len(),
        used as f64 / rs.len() as f64,
        written as f64 / rs.len() as f64
    );
}

fn bench_search(c: &mut Criterion) {
    let model = Model::load(&repo("models/default")).expect("bundled model");
    let glove = GloveStore::open(repo("models/glove/glove-6b-50d.hgv")).expect("GloVe");
    let dim = model.manifest.embedding_dim;
    let identity = model.identity();
    let dir = tempfile::tempdir().expect("temp dir");
    print_storage_costs(dir.path(), &identity, dim);
    let small = store_with(
        dir.path(),
        "10k.sqlite",
        &records(10_000, &identity, dim, 1),
    );
    let large = store_with(
        dir.path(),
        "100k.sqlite",
        &records(100_000, &identity, dim, 2),
    );
    let words = |lines: &str| -> Scorer {
        scorer_from_text(&model, &glove, lines, Path::new("bench"))
            .expect("words")
            .scorer
    };
    let one = words("melancholic");
    let three = words("melancholic\npiano\nrainy day");
    let mut g = c.benchmark_group("history");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("search_10k", |b| {
        b.iter(|| black_box(search(&small, &identity, &one, i64::MIN, 20).expect("search")))
    });
    g.bench_function("search_100k", |b| {
        b.iter(|| black_box(search(&large, &identity, &one, i64::MIN, 20).expect("search")))
    });
    g.bench_function("search_100k_3_words", |b| {
        b.iter(|| black_box(search(&large, &identity, &three, i64::MIN, 20).expect("search")))
    });
    // Baseline: another model's identity, so every row is read and skipped unscored.
    g.bench_function("scan_only_100k", |b| {
        b.iter(|| black_box(search(&large, "nobody@0", &one, i64::MIN, 20).expect("search")))
    });
    g.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
