//! Two runs that share a mel cache (the same audio, different labels) each train and
//! evaluate on their own dataset's labels, whichever of them last ran `prepare`.

mod common;

use hark_train::config::RunConfig;
use hark_train::pipeline;
use hark_train::run::RunData;

/// A prepared run over a small dataset, and a second run reading the same audio through the
/// same cache from a manifest whose every track gains `extra_tag` (written as given, so it
/// may carry a weight).
fn plain_and_extended(dir: &std::path::Path, extra_tag: &str) -> (RunConfig, RunConfig) {
    let (manifest, _) = common::write_dataset(&dir.join("data"), 2, 3.0, 3);
    let plain = RunConfig::load(&common::write_run(dir, &manifest, 1, 32)).expect("run");
    pipeline::prepare(&plain, 2, false, false, &|_, _| {}).expect("prepare");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let mut lines = text.lines();
    let mut extended = format!("{}\n", lines.next().expect("header"));
    for line in lines {
        extended.push_str(&format!("{line};{extra_tag}\n"));
    }
    let extended_manifest = manifest.with_file_name("extended.csv");
    std::fs::write(&extended_manifest, extended).expect("second manifest");
    let mut second = plain.clone();
    second.dataset.source = extended_manifest;
    second.cache_dir = Some(plain.cache_dir());
    second.work_dir = dir.join("work-extended");
    (plain, second)
}

/// The label names a run's data carries.
fn label_names(config: &RunConfig) -> Vec<String> {
    RunData::load(config).expect("run data").labels.names
}

#[test]
fn a_run_sees_its_own_labels_in_a_shared_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The same audio with one more word on every track, read through the same cache.
    let (plain, with_calm) = plain_and_extended(dir.path(), "calm");

    assert!(!label_names(&plain).contains(&"calm".to_string()));
    assert!(
        label_names(&with_calm).contains(&"calm".to_string()),
        "the second run's word, without its own prepare"
    );
    assert!(
        !label_names(&plain).contains(&"calm".to_string()),
        "the first run is back to its own labels"
    );
}

#[test]
fn a_manifests_tag_weights_reach_the_trainer_through_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (plain, soft) = plain_and_extended(dir.path(), "calm@0.25");

    let data = RunData::load(&soft).expect("run data");
    let calm = data.labels.index("calm").expect("calm has a GloVe vector");
    for (labels, weights) in data.track_labels.iter().zip(&data.track_label_weights) {
        assert_eq!(labels.len(), weights.len());
        for (label, weight) in labels.iter().zip(weights) {
            let expected = if *label == calm { 0.25 } else { 1.0 };
            assert_eq!(*weight, expected, "label {}", data.labels.names[*label]);
        }
    }
    let plain_data = RunData::load(&plain).expect("plain run data");
    assert!(
        plain_data
            .track_label_weights
            .iter()
            .flatten()
            .all(|&w| w == 1.0),
        "a manifest without weights weighs every label 1"
    );
}
