//! The zero-shot smoke test, end to end on CPU: a synthetic dataset tagged with real GloVe
//! words → prepare → train → eval → export → `hark tag` on held-out clips. The held-out words
//! ("deep", "drums", "bells") never reach the loss; `hark tag` must still rank the right one
//! first for clips it never heard, clearly above chance.

mod common;

use common::{unseen_words, write_dataset, write_run, CLASSES};
use hark_train::config::RunConfig;
use hark_train::pipeline;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `hark` binary from this workspace's target folder (built by `cargo test --workspace`),
/// or built here when missing.
fn hark_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    // target/<profile>/deps/zero_shot-… → target/<profile>/hark
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = profile_dir.join("hark");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "hark", "--bin", "hark"])
            .current_dir(common::repo_root())
            .status()
            .expect("cargo build hark");
        assert!(status.success(), "could not build the hark binary");
    }
    bin
}

fn hark_tag_top(hark: &Path, model: &Path, vocab: &Path, files: &[&Path]) -> Vec<String> {
    let out = Command::new(hark)
        .arg("tag")
        .arg("--model")
        .arg(model)
        .arg("--vocabulary")
        .arg(vocab)
        .args(["--top-k", "1", "--threshold", "-1"])
        .args(files)
        .output()
        .expect("run hark tag");
    assert!(
        out.status.success(),
        "hark tag failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("json line");
            v["tags"][0]["tag"].as_str().unwrap_or("").to_string()
        })
        .collect()
}

#[test]
fn zero_shot_words_rank_first_on_unheard_clips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manifest, clips) = write_dataset(dir.path(), 24, 8.0, 11);
    let run_file = write_run(dir.path(), &manifest, 8, 1024);
    let config = RunConfig::load(&run_file).expect("run file");

    let prepared = pipeline::prepare(&config, 2, false, false, &|_, _| {}).expect("prepare");
    assert_eq!(prepared.tracks, clips.len());

    let (report, state) = pipeline::train(&config, false, false, &mut |_| {}).expect("train");
    assert_eq!(state.epochs_done, 8);
    let first = state.history.first().expect("history").train_loss;
    let last = state.history.last().expect("history").train_loss;
    assert!(last < first * 0.7, "loss did not fall: {first} → {last}");
    assert_eq!(report.unseen_labels, {
        let mut u: Vec<String> = unseen_words().iter().map(|s| s.to_string()).collect();
        u.sort();
        u
    });
    let retrieval = report
        .retrieval
        .iter()
        .find(|r| r.test == "(B+C)-Y")
        .expect("(B+C)-Y retrieval row");
    let auc = retrieval.metrics.auc.expect("AUC-l defined");
    eprintln!("(B+C)-Y AUC-l {auc:.3}");
    assert!(
        auc > 0.75,
        "zero-shot retrieval AUC-l {auc:.3} is not clearly above chance (0.5)"
    );

    let exported = pipeline::export(&config, "best", None).expect("export");
    assert!(exported.audio_parity <= 1e-4 && exported.word_parity <= 1e-4);

    // Held-out clips tagged only with a held-out word (subset C): never trained on, and their
    // word never trained on either. `hark tag` ranks among the held-out words only.
    let vocab = dir.path().join("unseen.txt");
    std::fs::write(&vocab, unseen_words().join("\n")).expect("vocab");
    let c_clips: Vec<&common::Clip> = clips
        .iter()
        .filter(|c| c.tags.len() == 1 && unseen_words().contains(&c.tags[0]))
        .collect();
    let files: Vec<&Path> = c_clips.iter().map(|c| c.path.as_path()).collect();
    let hark = hark_binary();
    let right_of = |model: &Path| {
        let top = hark_tag_top(&hark, model, &vocab, &files);
        assert_eq!(top.len(), c_clips.len());
        c_clips
            .iter()
            .zip(&top)
            .filter(|(c, t)| CLASSES[c.class].unseen == Some(t.as_str()))
            .count()
    };

    // The control: the same weights before training (the run's seed) must not pass.
    let untrained = dir.path().join("untrained");
    let status = Command::new(&hark)
        .args(["model", "random", "--seed", "7", "--output"])
        .arg(&untrained)
        .status()
        .expect("hark model random");
    assert!(status.success());
    let control = right_of(&untrained);
    eprintln!(
        "untrained control: held-out word first on {control}/{}",
        c_clips.len()
    );
    assert!(
        (control as f64) < 0.6 * c_clips.len() as f64,
        "the untrained model already passes ({control}/{}): the test could not fail",
        c_clips.len()
    );

    let right = right_of(&exported.dir);
    let accuracy = right as f64 / c_clips.len() as f64;
    eprintln!(
        "hark tag: held-out word first on {right}/{} unheard clips",
        c_clips.len()
    );
    // Chance is 1/3; 60% of 18 clips happens by chance with p ≈ 0.01.
    assert!(
        accuracy >= 0.6,
        "held-out word ranked first on only {right}/{} clips",
        c_clips.len()
    );
}
