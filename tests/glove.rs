//! GloVe store: packing real text files (fixtures and the shipped 6B pack) and looking up.

use hark::vocab::glove::{pack_text, GloveError, GloveStore, PackOptions, RowFormat};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/glove")
        .join(name)
}

fn shipped_pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/glove/glove-6b-50d.hgv")
}

fn pack(input: &Path, format: RowFormat) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.hgv");
    let options = PackOptions {
        format,
        identity: None,
    };
    pack_text(input, &out, &options).unwrap();
    (dir, out)
}

fn pack_err(name: &str) -> GloveError {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.hgv");
    let err = pack_text(&fixture(name), &out, &PackOptions::default()).unwrap_err();
    assert!(!out.exists(), "a failed pack must not leave an output");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "a failed pack must not leave a temp file");
    err
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

const JAZZ: [f32; 8] = [1.0, 0.5, -0.25, 0.0, 0.125, -1.5, 2.0, 0.75];

#[test]
fn tiny_fixture_round_trips_in_both_formats() {
    for format in [RowFormat::Int8, RowFormat::F16] {
        let (_dir, out) = pack(&fixture("tiny.txt"), format);
        let store = GloveStore::open(&out).unwrap();
        assert_eq!(store.dim(), 8);
        // 14 rows, one ("Jazz") folds onto "jazz".
        assert_eq!(store.len(), 13);
        assert_eq!(store.identity(), "tiny");
        assert_eq!(store.format(), format);
        // Max |v| = 2.0 so an int8 step is 2/127; f16 is finer.
        let tol = 1.0 / 127.0 + 1e-6;
        let jazz = store.vector("jazz").unwrap();
        assert!(close(&jazz, &JAZZ, tol), "{jazz:?}");
        // The first spelling wins when case-folding collides: "Jazz" (all -9) is dropped.
        assert!(close(&store.vector("JAZZ").unwrap(), &JAZZ, tol));
        assert!(store.vector("Rock").is_some() && store.vector("rock").is_some());
        assert!(store.contains("élan") && store.contains("ÉLAN"));
        assert_eq!(store.vector("zero").unwrap(), vec![0.0; 8]);
        assert!(store.vector("nope").is_none());
        assert!(!store.contains(""));
        // Row order is the source's order: rank 0 is "the", and "jazzy" follows the
        // dropped "Jazz" row.
        assert_eq!(store.rank("the"), Some(0));
        assert_eq!(store.rank("jazz"), Some(1));
        assert_eq!(store.rank("jazzy"), Some(3));
    }
}

#[test]
fn phrase_is_the_mean_of_its_words() {
    let (_dir, out) = pack(&fixture("tiny.txt"), RowFormat::F16);
    let store = GloveStore::open(&out).unwrap();
    let hip = store.vector("hip").unwrap();
    let hop = store.vector("hop").unwrap();
    let mean: Vec<f32> = hip.iter().zip(&hop).map(|(a, b)| (a + b) / 2.0).collect();
    assert!(close(&store.phrase("Hip  hop").unwrap(), &mean, 1e-6));
    assert_eq!(store.phrase("jazz").unwrap(), store.vector("jazz").unwrap());
    assert_eq!(
        store.phrase("hip bebop hop zydeco"),
        Err(hark::vocab::PhraseError::Unknown(vec![
            "bebop".to_string(),
            "zydeco".to_string()
        ]))
    );
    assert_eq!(store.phrase("  "), Err(hark::vocab::PhraseError::Empty));
}

#[test]
fn suggestions_rank_by_distance_then_frequency() {
    let (_dir, out) = pack(&fixture("tiny.txt"), RowFormat::Int8);
    let store = GloveStore::open(&out).unwrap();
    // Distance 1: jazz (rank 1), jazzy (rank 3); distance 2: jaz (rank 12).
    assert_eq!(store.suggest("jazzzy", 5), vec!["jazzy", "jazz"]);
    assert_eq!(store.suggest("Jazzz", 3), vec!["jazz", "jazzy", "jaz"]);
    assert_eq!(store.suggest("jazzz", 1), vec!["jazz"]);
    assert!(store.suggest("qqqqqqqq", 3).is_empty());
    // A word is not its own suggestion.
    assert!(!store.suggest("jazz", 3).contains(&"jazz".to_string()));
}

#[test]
fn int8_and_f16_cosine_to_f32_on_a_generated_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("generated.50d.txt");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
    for i in 0..3000 {
        // GloVe-like: roughly normal values with the odd large outlier per row.
        let mut v: Vec<f32> = (0..50)
            .map(|_| (0..4).map(|_| rng.random_range(-0.5f32..0.5)).sum::<f32>())
            .collect();
        if i % 3 == 0 {
            let at = rng.random_range(0..50);
            v[at] *= 6.0;
        }
        rows.push((format!("w{i}"), v));
    }
    let mut f = std::fs::File::create(&text).unwrap();
    for (w, v) in &rows {
        let vals: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
        writeln!(f, "{w} {}", vals.join(" ")).unwrap();
    }
    drop(f);
    for (format, min_cos) in [(RowFormat::Int8, 0.99), (RowFormat::F16, 0.9999)] {
        let (_d, out) = pack(&text, format);
        let store = GloveStore::open(&out).unwrap();
        assert_eq!(store.len(), 3000);
        assert_eq!(store.identity(), "generated-50d");
        let mut worst = 1.0f64;
        for (w, v) in &rows {
            worst = worst.min(cosine(&store.vector(w).unwrap(), v));
        }
        assert!(worst >= min_cos, "{format:?}: worst cosine {worst}");
        if format == RowFormat::Int8 {
            // The bound is 0.01; int8 with a per-row scale does far better.
            assert!(worst > 0.999, "int8 worst cosine {worst}");
        }
    }
}

#[test]
fn ragged_row_names_file_and_line() {
    let err = pack_err("ragged.txt");
    let msg = err.to_string();
    assert!(matches!(
        err,
        GloveError::Ragged {
            line: 3,
            expected: 4,
            found: 3,
            ..
        }
    ));
    assert!(
        msg.ends_with("ragged.txt:3: expected 4 values, found 3"),
        "{msg}"
    );
    let err = pack_err("too_many.txt");
    assert!(err
        .to_string()
        .ends_with("too_many.txt:2: expected 4 values, found 5"));
}

#[test]
fn bad_number_names_line_column_and_text() {
    let msg = pack_err("bad_number.txt").to_string();
    assert!(
        msg.ends_with("bad_number.txt:2:10: value 3: \"0.3x\" is not a number"),
        "{msg}"
    );
    let msg = pack_err("non_finite.txt").to_string();
    assert!(
        msg.ends_with("non_finite.txt:2:8: value 2: \"nan\" is not a number"),
        "{msg}"
    );
}

#[test]
fn empty_and_odd_inputs_give_clear_errors() {
    let msg = pack_err("empty.txt").to_string();
    assert!(
        msg.ends_with("empty.txt: no vectors found (the file is empty)"),
        "{msg}"
    );
    let msg = pack_err("no_values.txt").to_string();
    assert!(
        msg.contains("no_values.txt:1: a word with no values"),
        "{msg}"
    );
    let msg = pack_err("not_utf8.txt").to_string();
    assert!(
        msg.ends_with("not_utf8.txt:2: the word is not valid UTF-8"),
        "{msg}"
    );
    let err = pack_text(
        Path::new("/nonexistent/glove.txt"),
        Path::new("/tmp/x.hgv"),
        &PackOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/glove.txt: "));
}

#[test]
fn archives_and_packs_are_refused_as_input() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("glove.txt.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    let err = pack_text(&gz, &dir.path().join("o"), &PackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("gzip"), "{err}");
    let (_d, out) = pack(&fixture("tiny.txt"), RowFormat::Int8);
    let err = pack_text(&out, &dir.path().join("o"), &PackOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("already a hark GloVe pack"),
        "{err}"
    );
}

#[test]
fn word2vec_header_and_multiword_rows_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.hgv");
    let stats = pack_text(
        &fixture("word2vec_header.txt"),
        &out,
        &PackOptions {
            format: RowFormat::F16,
            identity: Some("w2v-test".into()),
        },
    )
    .unwrap();
    assert_eq!((stats.dim, stats.words, stats.multiword_skipped), (4, 3, 1));
    let store = GloveStore::open(&out).unwrap();
    assert_eq!(store.identity(), "w2v-test");
    assert_eq!(store.vector("folk").unwrap(), vec![0.0, 1.0, 0.0, 1.0]);
}

#[test]
fn bad_identity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for id in ["", "has space", &"x".repeat(64)] {
        let err = pack_text(
            &fixture("tiny.txt"),
            &dir.path().join("o"),
            &PackOptions {
                format: RowFormat::Int8,
                identity: Some(id.to_string()),
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, GloveError::BadIdentity { .. }),
            "{id:?}: {err}"
        );
    }
}

#[test]
fn repacking_replaces_the_file_atomically() {
    let (dir, out) = pack(&fixture("tiny.txt"), RowFormat::Int8);
    let before = GloveStore::open(&out).unwrap();
    pack_text(
        &fixture("word2vec_header.txt"),
        &out,
        &PackOptions::default(),
    )
    .unwrap();
    // The open store still reads the old file (rename leaves its inode alone).
    assert!(close(&before.vector("jazz").unwrap(), &JAZZ, 0.02));
    let after = GloveStore::open(&out).unwrap();
    assert_eq!(after.dim(), 4);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "temp files left behind");
}

#[test]
fn damaged_packs_are_refused_without_panicking() {
    let (dir, out) = pack(&fixture("tiny.txt"), RowFormat::Int8);
    let good = std::fs::read(&out).unwrap();
    let path = dir.path().join("bad.hgv");
    let open_with = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        GloveStore::open(&path).unwrap_err().to_string()
    };
    assert!(open_with(&good[..good.len() - 1]).contains("truncated"));
    assert!(open_with(&good[..100]).contains("shorter than the 128-byte header"));
    assert!(open_with(b"").contains("not a hark GloVe pack"));
    let text = std::fs::read(fixture("tiny.txt")).unwrap();
    assert!(open_with(&text).contains("looks like GloVe text"));
    let mut v = good.clone();
    v[8] = 2;
    assert!(open_with(&v).contains("version 2"));
    let mut v = good.clone();
    v[12] = 9;
    assert!(open_with(&v).contains("unknown row format"));
    let mut v = good.clone();
    v[20] = 200; // word count
    assert!(open_with(&v).contains("corrupt pack"));
    // Flip every byte of the word index in turn: always an error, never a panic.
    let fst_offset = u64::from_le_bytes(good[40..48].try_into().unwrap()) as usize;
    for i in fst_offset..good.len() {
        let mut v = good.clone();
        v[i] ^= 0x5a;
        std::fs::write(&path, &v).unwrap();
        if let Ok(store) = GloveStore::open(&path) {
            panic!("byte {i} flipped, still opened: {store:?}");
        }
    }
}

#[test]
fn shipped_pack_opens_and_knows_music_words() {
    // How fast it opens is measured by the benches, not asserted here.
    let path = shipped_pack();
    let store = GloveStore::open(&path).unwrap();
    assert_eq!(store.len(), 400_000);
    assert_eq!(store.dim(), 50);
    assert_eq!(store.identity(), "glove-6b-50d");
    assert_eq!(store.format(), RowFormat::Int8);
    assert!(std::fs::metadata(&path).unwrap().len() <= 32 * 1024 * 1024);
    for w in [
        "jazz",
        "Shoegaze",
        "krautrock",
        "bossa",
        "synthpop",
        "lo-fi",
    ] {
        assert!(store.contains(w), "{w}");
    }
    assert_eq!(store.rank("the"), Some(0));
    // GloVe 6B's first row, "the", begins 0.418 0.24968 -0.41242.
    let the = store.vector("the").unwrap();
    assert!(
        close(&the[..3], &[0.418, 0.24968, -0.41242], 0.02),
        "{the:?}"
    );
    // Nearest neighbours make sense: jazz is closer to blues than to potato.
    let jazz = store.vector("jazz").unwrap();
    let blues = store.vector("blues").unwrap();
    let potato = store.vector("potato").unwrap();
    assert!(cosine(&jazz, &blues) > cosine(&jazz, &potato) + 0.3);
    assert_eq!(
        store.suggest("jazzz", 3).first().map(String::as_str),
        Some("jazz")
    );
    assert_eq!(store.suggest("shogaze", 1), vec!["shoegaze"]);
}

/// Compares every shipped int8 row with the f32 text it came from. Needs the 171 MB text
/// file that `models/glove/make_pack.sh` writes (HARK_GLOVE_TEXT, default data/...).
#[test]
#[ignore = "needs glove.6B.50d.txt from models/glove/make_pack.sh"]
fn shipped_pack_matches_the_f32_text() {
    let text = std::env::var_os("HARK_GLOVE_TEXT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data/glove.6B.50d.txt"));
    let store = GloveStore::open(shipped_pack()).unwrap();
    let body = std::fs::read_to_string(&text).unwrap();
    let mut worst = (1.0f64, String::new());
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for line in body.lines() {
        let mut it = line.split(' ');
        let word = it.next().unwrap();
        let v: Vec<f32> = it.map(|x| x.parse().unwrap()).collect();
        let c = cosine(&store.vector(word).unwrap(), &v);
        sum += c;
        n += 1;
        if c < worst.0 {
            worst = (c, word.to_string());
        }
    }
    println!(
        "{n} words: mean cosine {:.6}, worst {:.6} ({})",
        sum / n as f64,
        worst.0,
        worst.1
    );
    assert_eq!(n, 400_000);
    assert!(worst.0 >= 0.99);
}

/// Open and lookup timings of the shipped pack; run with --release --ignored --nocapture.

#[test]
fn cli_pack_writes_a_pack_and_reports_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.hgv");
    let run = |input: &Path, extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
            .args(["glove", "pack"])
            .arg(input)
            .arg("-o")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = run(&fixture("tiny.txt"), &["--f16", "--identity", "tiny-f16"]);
    assert!(ok.status.success(), "{ok:?}");
    let store = GloveStore::open(&out).unwrap();
    assert_eq!(
        (store.identity(), store.format()),
        ("tiny-f16", RowFormat::F16)
    );
    let bad = run(&fixture("ragged.txt"), &[]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("ragged.txt:3: expected 4 values, found 3"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let missing_dir = dir.path().join("no/such/dir/x.hgv");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
        .args(["glove", "pack"])
        .arg(fixture("tiny.txt"))
        .arg("-o")
        .arg(&missing_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(stderr.contains("no/such/dir/x.hgv: "), "{stderr}");
}

#[test]
fn store_and_vocab_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<GloveStore>();
    send_sync::<hark::vocab::ResolvedVocab>();
}

#[test]
fn values_too_large_for_a_vector_are_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("huge.txt");
    std::fs::write(&input, "jazz 0.1 0.2 0.3\nrock 0.1 1e30 0.3\n").unwrap();
    let out = dir.path().join("out.hgv");
    let err = pack_text(&input, &out, &PackOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            GloveError::ValueOutOfRange {
                line: 2,
                index: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.contains("huge.txt:2:"), "{shown}");
    assert!(!out.exists());
}

#[test]
fn a_pack_with_a_non_finite_scale_is_refused() {
    let (dir, out) = pack(&fixture("tiny.txt"), RowFormat::Int8);
    let good = std::fs::read(&out).unwrap();
    let scales = u64::from_le_bytes(good[32..40].try_into().unwrap()) as usize;
    let path = dir.path().join("bad.hgv");
    for bad in [f32::NAN, f32::INFINITY, -1.0, 1e30] {
        let mut v = good.clone();
        v[scales + 4..scales + 8].copy_from_slice(&bad.to_le_bytes());
        std::fs::write(&path, &v).unwrap();
        let err = GloveStore::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("bad.hgv") && err.contains("row 1: scale"),
            "{bad}: {err}"
        );
    }
}
