//! A resumed run continues exactly: one epoch, stop, resume for a second epoch gives the same
//! weights, momentum and history as two epochs straight through.

mod common;

use hark_train::augment::AugmentConfig;
use hark_train::config::RunConfig;
use hark_train::pipeline;
use hark_train::run::RunData;
use hark_train::train::{self, LAST_MOMENTUM, LAST_WEIGHTS};

fn tensors(path: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    let mut t: Vec<(String, Vec<f32>)> = tch::Tensor::read_safetensors(path)
        .expect("read")
        .into_iter()
        .map(|(n, t)| (n, hark_train::net::to_vec(&t).expect("values")))
        .collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

#[test]
fn resume_continues_where_the_run_stopped() {
    resume_matches_straight_run(|_| {});
}

#[test]
fn resume_continues_exactly_with_every_augmentation_on() {
    let plain = resume_matches_straight_run(|_| {});
    let augmented = resume_matches_straight_run(|config| {
        config.train.augment = AugmentConfig {
            probability: 1.0,
            pitch_semitones: 2.0,
            tempo_fraction: 0.1,
            reverb_probability: 0.5,
            mix_probability: 0.5,
            ..AugmentConfig::default()
        };
    });
    assert_ne!(plain, augmented, "augmentation changed what was learnt");
}

/// Two epochs straight through against one epoch, stop, and resume, for `configure`'s run;
/// the training losses per epoch.
fn resume_matches_straight_run(configure: impl Fn(&mut RunConfig)) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manifest, _) = common::write_dataset(&dir.path().join("data"), 6, 4.0, 5);
    let mut straight =
        RunConfig::load(&common::write_run(dir.path(), &manifest, 2, 96)).expect("run");
    configure(&mut straight);
    pipeline::prepare(&straight, 2, false, false, &|_, _| {}).expect("prepare");
    let data = RunData::load(&straight).expect("data");
    let full = train::train(&straight, &data, false, false, &mut |_| {}).expect("two epochs");

    // Same data and cache, a different checkpoint folder.
    let mut split_run = straight.clone();
    split_run.work_dir = dir.path().join("work-resumed");
    std::fs::create_dir_all(&split_run.work_dir).expect("dir");
    let mut one = split_run.clone();
    one.train.epochs = 1;
    let first = train::train(&one, &data, false, false, &mut |_| {}).expect("one epoch");
    assert_eq!(first.state.epochs_done, 1);
    let resumed = train::train(&split_run, &data, true, false, &mut |_| {}).expect("resume");
    assert_eq!(resumed.state.epochs_done, 2);
    assert_eq!(resumed.state.steps, full.state.steps);

    let a = straight.checkpoint_dir();
    let b = split_run.checkpoint_dir();
    for file in [LAST_WEIGHTS, LAST_MOMENTUM] {
        assert_eq!(
            tensors(&a.join(file)),
            tensors(&b.join(file)),
            "{file} differs after resume"
        );
    }
    let losses =
        |s: &train::TrainState| -> Vec<f64> { s.history.iter().map(|e| e.train_loss).collect() };
    assert_eq!(losses(&full.state), losses(&resumed.state));
    losses(&full.state)
}
