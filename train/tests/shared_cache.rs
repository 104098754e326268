//! Two runs that share a mel cache (the same audio, different labels) each train and
//! evaluate on their own dataset's labels, whichever of them last ran `prepare`.

mod common;

use hark_train::config::RunConfig;
use hark_train::pipeline;
use hark_train::run::RunData;

/// The label names a run's data carries.
fn label_names(config: &RunConfig) -> Vec<String> {
    RunData::load(config).expect("run data").labels.names
}

#[test]
fn a_run_sees_its_own_labels_in_a_shared_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manifest, _) = common::write_dataset(&dir.path().join("data"), 2, 3.0, 3);
    let plain = RunConfig::load(&common::write_run(dir.path(), &manifest, 1, 32)).expect("run");
    pipeline::prepare(&plain, 2, false, false, &|_, _| {}).expect("prepare");

    // The same audio with one more word on every track, read through the same cache.
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let mut lines = text.lines();
    let mut more = format!("{}\n", lines.next().expect("header"));
    for line in lines {
        more.push_str(&format!("{line};calm\n"));
    }
    let more_manifest = manifest.with_file_name("more.csv");
    std::fs::write(&more_manifest, more).expect("second manifest");
    let mut with_calm = plain.clone();
    with_calm.dataset.source = more_manifest;
    with_calm.cache_dir = Some(plain.cache_dir());
    with_calm.work_dir = dir.path().join("work-calm");

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
