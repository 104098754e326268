//! `export.word_shift`: the exported model.toml carries the training tracks' mean direction,
//! and the daemon's scorer takes each word's share of it off that word's cosine.

mod common;

use hark::model::Model;
use hark::vocab::glove::GloveStore;
use hark::vocab::scorer_from_text;
use hark_train::config::RunConfig;
use hark_train::pipeline;
use hark_train::run::RunData;
use hark_train::train;
use std::path::Path;

#[test]
fn an_exported_calibration_shifts_every_word_by_its_own_training_mean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manifest, _) = common::write_dataset(&dir.path().join("data"), 3, 3.0, 11);
    let mut config =
        RunConfig::load(&common::write_run(dir.path(), &manifest, 1, 64)).expect("run");
    config.export.word_shift = 0.25;
    pipeline::prepare(&config, 2, false, false, &|_, _| {}).expect("prepare");
    let data = RunData::load(&config).expect("data");
    train::train(&config, &data, false, false, &mut |_| {}).expect("one epoch");
    let out = dir.path().join("model");
    let exported = pipeline::export(&config, "best", Some(&out)).expect("export");

    let model = Model::load(&out).expect("the daemon loads it");
    let calibration = model.manifest.calibration.clone().expect("[calibration]");
    assert_eq!(calibration.word_shift, 0.25);
    assert_eq!(calibration.track_mean.len(), model.manifest.embedding_dim);
    let length = calibration
        .track_mean
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt();
    assert!(
        length > 0.0 && length <= 1.0 + 1e-5,
        "a mean of unit vectors: {length}"
    );
    assert_eq!(model.manifest.score_threshold, exported.score_threshold);
    let rule = model.manifest.training["threshold_rule"].to_string();
    assert!(rule.contains("0.25 of each word"), "{rule}");

    // Words the model never trained on are shifted too: the scorer is built from any text.
    let glove = GloveStore::open(&config.glove).expect("glove");
    let words = "rock\nviolin\nthunderstorm\n";
    let calibrated = scorer_from_text(&model, &glove, words, Path::new("words.txt"))
        .expect("scorer")
        .scorer;
    let mut raw_model = model;
    raw_model.manifest.calibration = None;
    let raw = scorer_from_text(&raw_model, &glove, words, Path::new("words.txt"))
        .expect("raw scorer")
        .scorer;
    let offsets: Vec<f32> = raw
        .score_all(&calibration.track_mean)
        .expect("cosines with the mean")
        .iter()
        .map(|c| 0.25 * length * c)
        .collect();
    assert!(offsets.iter().any(|o| o.abs() > 1e-4), "{offsets:?}");
    let track: Vec<f32> = (0..raw.dim()).map(|i| (i as f32 * 0.37).sin()).collect();
    let (before, after) = (
        raw.score_all(&track).expect("raw"),
        calibrated.score_all(&track).expect("calibrated"),
    );
    for ((b, a), o) in before.iter().zip(&after).zip(&offsets) {
        assert!((b - a - o).abs() < 1e-5, "{b} - {a} is not {o}");
    }

    // Without the setting nothing is written: model.toml stays as it was.
    config.export.word_shift = 0.0;
    pipeline::export(&config, "best", Some(&out)).expect("export again");
    let raw_export = Model::load(&out).expect("load").manifest;
    assert!(raw_export.calibration.is_none());
    assert_ne!(
        raw_export.score_threshold, exported.score_threshold,
        "the calibrated threshold was chosen on shifted scores"
    );
}
