//! tch against tract on the files hark's exporter writes: the same windows and GloVe vectors
//! through both must agree to 1e-4, and the exported weights must equal the tch ones exactly.

mod common;

use hark::vocab::glove::GloveStore;
use hark_train::config::RunConfig;
use hark_train::export::{self, ExportError, ExportInfo, ParityInput, PARITY_TOLERANCE};
use hark_train::train::Trainable;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

#[test]
fn exported_onnx_matches_tch_forward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manifest, _) = common::write_dataset(&dir.path().join("data"), 1, 1.0, 1);
    let config = RunConfig::load(&common::write_run(dir.path(), &manifest, 1, 32)).expect("run");
    let glove = GloveStore::open(&config.glove).expect("glove");
    let model = Trainable::initial(&config, glove.dim(), tch::Device::Cpu);
    let mut frontend = hark_train::cache::cache_frontend();
    frontend.mean = 0.4;
    frontend.std = 0.7;
    let out = dir.path().join("model");
    let info = || ExportInfo {
        name: "parity",
        version: "0",
        description: "parity test",
        glove_identity: glove.identity(),
        glove_dim: glove.dim(),
        frontend: frontend.clone(),
        score_threshold: 0.1,
        calibration: None,
        training: BTreeMap::new(),
    };
    let (staged, manifest) = export::stage(&out, &model.net, info()).expect("export");
    assert_eq!(manifest.embedding_dim, 100);
    assert!(!out.exists(), "nothing at the destination before commit");
    staged.commit().expect("commit");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = 5;
    let windows: Vec<f32> = (0..n * 130 * 128)
        .map(|_| rng.random_range(-3.0..3.0))
        .collect();
    let words: Vec<&str> = ["rock", "piano", "violin", "noise"].to_vec();
    let glove_vecs: Vec<f32> = words
        .iter()
        .flat_map(|w| glove.vector(w).expect("word in GloVe"))
        .collect();
    let (audio, word) =
        export::parity(&out, &model.net, &windows, n, &glove_vecs, words.len()).expect("parity");
    eprintln!("max |tch - tract|: audio {audio:e}, word {word:e}");
    assert!(audio <= PARITY_TOLERANCE, "audio branch differs by {audio}");
    assert!(word <= PARITY_TOLERANCE, "word branch differs by {word}");
    export::check_parity(audio, word).expect("within tolerance");
    assert!(export::check_parity(2.0 * PARITY_TOLERANCE, 0.0).is_err());
    assert!(export::check_parity(0.0, f32::NAN).is_err());

    // The model directory loads in the daemon's loader with the statistics given.
    let loaded = hark::model::Model::load(&out).expect("hark loads the export");
    assert_eq!(loaded.manifest.frontend.mean, 0.4);
    assert_eq!(loaded.manifest.glove, glove.identity());
}

/// A parity failure must leave no loadable model: neither a new one where there was none,
/// nor a replaced one over an older export.
#[test]
fn failed_parity_leaves_no_loadable_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manifest, _) = common::write_dataset(&dir.path().join("data"), 1, 1.0, 1);
    let mut config =
        RunConfig::load(&common::write_run(dir.path(), &manifest, 1, 32)).expect("run");
    let glove = GloveStore::open(&config.glove).expect("glove");
    let model = Trainable::initial(&config, glove.dim(), tch::Device::Cpu);
    config.seed += 1;
    // Different weights stand in for a tch/tract disagreement.
    let other = Trainable::initial(&config, glove.dim(), tch::Device::Cpu);
    let info = || ExportInfo {
        name: "parity",
        version: "0",
        description: "parity test",
        glove_identity: glove.identity(),
        glove_dim: glove.dim(),
        frontend: hark_train::cache::cache_frontend(),
        score_threshold: 0.1,
        calibration: None,
        training: BTreeMap::new(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let windows: Vec<f32> = (0..2 * 130 * 128)
        .map(|_| rng.random_range(-3.0..3.0))
        .collect();
    let vectors = glove.vector("rock").expect("word in GloVe");
    let input = ParityInput {
        windows: &windows,
        n: 2,
        glove: &vectors,
        m: 1,
    };
    let report = dir.path().join("report.md");
    std::fs::write(&report, "# report").expect("report");

    let fresh = dir.path().join("fresh");
    let err = export::export_checked(&fresh, &model.net, &other.net, info(), &[], &input)
        .expect_err("parity must fail");
    assert!(matches!(err, ExportError::Parity { .. }), "{err}");
    assert!(!fresh.exists(), "a failed export left {}", fresh.display());
    assert!(hark::model::Model::load(&fresh).is_err());

    let out = dir.path().join("model");
    let good = export::export_checked(
        &out,
        &model.net,
        &model.net,
        info(),
        std::slice::from_ref(&report),
        &input,
    )
    .expect("parity holds for the same weights");
    assert!(good.audio_parity <= PARITY_TOLERANCE);
    assert!(out.join("report.md").exists(), "extra files are shipped");
    let before = hark::model::Model::load(&out).expect("load").identity();
    let err = export::export_checked(&out, &other.net, &model.net, info(), &[], &input)
        .expect_err("parity must fail");
    assert!(matches!(err, ExportError::Parity { .. }), "{err}");
    let after = hark::model::Model::load(&out).expect("the old model still loads");
    assert_eq!(after.identity(), before, "the old model was replaced");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}
