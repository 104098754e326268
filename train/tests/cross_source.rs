//! The cross-source protocol end to end on CPU: a manifest that names each clip's source,
//! one source held out whole → prepare → train → eval. The held-out source's clips are all
//! test clips and never trained on; the report gives every test twice, in-source and
//! cross-source; a manifest edit that only adds sources reaches the cache without decoding.

mod common;

use common::{write_dataset, write_run};
use hark_train::config::RunConfig;
use hark_train::pipeline;
use hark_train::split::Origin;

#[test]
fn a_held_out_source_is_only_ever_tested_and_reported_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manifest, clips) = write_dataset(dir.path(), 12, 4.0, 5);
    let run_file = write_run(dir.path(), &manifest, 1, 256);

    // First without sources: the paper's protocol.
    let plain = RunConfig::load(&run_file).expect("run file");
    let prepared = pipeline::prepare(&plain, 2, false, false, &|_, _| {}).expect("prepare");
    assert!(!prepared.reused);

    // Then the same audio with a source per clip: every third clip is from "synth-b".
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let mut lines = text.lines();
    let mut sourced = format!("{},source\n", lines.next().expect("header"));
    for (i, line) in lines.enumerate() {
        let source = if i % 3 == 2 { "synth-b" } else { "synth-a" };
        sourced.push_str(&format!("{line},{source}\n"));
    }
    std::fs::write(&manifest, sourced).expect("manifest");
    let mut run = std::fs::read_to_string(&run_file).expect("run file");
    run = run.replace(
        "[split]\n",
        "[split]\nheld_out_sources = [\"synth-b\"]\nannotation_tests = [\"B-Y\", \"(B+C)-(X+Y)\"]\nretrieval_tests = [\"(A+B+C)-Y\"]\n",
    );
    std::fs::write(&run_file, run).expect("run file");
    let config = RunConfig::load(&run_file).expect("run file");
    let again = pipeline::prepare(&config, 2, false, false, &|_, _| {}).expect("prepare");
    assert!(again.reused, "only the annotations changed: no decoding");

    let (report, _) = pipeline::train(&config, false, false, &mut |_| {}).expect("train");
    assert_eq!(report.held_out_sources, ["synth-b"]);
    for test in ["B-Y", "(B+C)-(X+Y)"] {
        let origins: Vec<Origin> = report
            .annotation
            .iter()
            .filter(|r| r.test == test)
            .map(|r| r.origin)
            .collect();
        assert_eq!(origins, [Origin::InSource, Origin::CrossSource], "{test}");
    }
    let retrieval: Vec<(Origin, usize)> = report
        .retrieval
        .iter()
        .map(|r| (r.origin, r.metrics.instances))
        .collect();
    let held_out = clips.len() / 3;
    assert_eq!(retrieval.len(), 2, "{retrieval:?}");
    assert_eq!(retrieval[0].0, Origin::InSource);
    assert_eq!(retrieval[1], (Origin::CrossSource, held_out));

    let split: serde_json::Value = serde_json::from_slice(
        &std::fs::read(config.work_dir.join(pipeline::SPLIT_JSON)).expect("split.json"),
    )
    .expect("split json");
    assert_eq!(split["held_out_sources"], serde_json::json!(["synth-b"]));
    let tracks = split["tracks"].as_array().expect("tracks");
    assert_eq!(tracks.len(), clips.len());
    for t in tracks {
        let of_b = t["source"] == "synth-b";
        assert_eq!(t["cross_source"], of_b, "{t}");
        if of_b {
            assert_eq!(t["part"], "test", "{t}");
        } else {
            assert_ne!(t["cross_source"], true);
        }
    }
    assert!(
        tracks
            .iter()
            .any(|t| t["source"] == "synth-a" && t["part"] == "test"),
        "the in-source test draw still holds out some synth-a clips"
    );
    let md = hark_train::report::markdown(&report);
    assert!(
        md.contains("| Train | Test | Sources | AUC-l | MAP-l |"),
        "{md}"
    );

    // Three seeds' reports combine into mean ± sd.
    let summary = hark_train::seeds::markdown(&[report.clone(), report.clone(), report]);
    assert!(
        summary.contains("| (A+B+C)-Y | cross-source |"),
        "{summary}"
    );
}
