//! A synthetic dataset whose clips carry real GloVe words: four sound classes (low tones,
//! noise, drum hits, bells), each tagged with two seen words, and for three classes a third
//! word that is held out of training (zero-shot).

#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f32::consts::TAU;
use std::path::{Path, PathBuf};

/// Sample rate of the generated clips (not the model's, so resampling is exercised too).
pub const RATE: u32 = 22_050;

/// One sound class: its seen words and its held-out word, if any.
pub struct Class {
    pub name: &'static str,
    pub seen: &'static [&'static str],
    pub unseen: Option<&'static str>,
}

/// The classes, in generation order.
pub const CLASSES: [Class; 4] = [
    Class {
        name: "lowtone",
        seen: &["bass", "low"],
        unseen: Some("deep"),
    },
    Class {
        name: "noise",
        seen: &["noise", "hiss"],
        unseen: None,
    },
    Class {
        name: "drum",
        seen: &["drum", "percussion"],
        unseen: Some("drums"),
    },
    Class {
        name: "bell",
        seen: &["bell", "chime"],
        unseen: Some("bells"),
    },
];

/// The held-out words.
pub fn unseen_words() -> Vec<&'static str> {
    CLASSES.iter().filter_map(|c| c.unseen).collect()
}

/// The repository root (the hark crate), for the bundled GloVe pack.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn clip(class: usize, seconds: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = (seconds * RATE as f32) as usize;
    let mut x = vec![0f32; n];
    let sr = RATE as f32;
    match class {
        0 => {
            let f0 = rng.random_range(45.0..110.0f32);
            let vib = rng.random_range(0.1..0.5f32);
            for (i, s) in x.iter_mut().enumerate() {
                let t = i as f32 / sr;
                let f = f0 * (1.0 + 0.01 * (TAU * vib * t).sin());
                *s = 0.5 * (TAU * f * t).sin()
                    + 0.2 * (TAU * 2.0 * f * t).sin()
                    + 0.08 * (TAU * 3.0 * f * t).sin();
            }
        }
        1 => {
            let level = rng.random_range(0.15..0.35f32);
            let smooth = rng.random_range(0.0..0.8f32);
            let mut prev = 0.0;
            for s in x.iter_mut() {
                let w = rng.random_range(-1.0..1.0f32);
                prev = smooth * prev + (1.0 - smooth) * w;
                *s = level * prev / (1.0 - smooth).max(0.2);
            }
        }
        2 => {
            let period = (60.0 / rng.random_range(90.0..160.0f32) * sr) as usize;
            let mut start = rng.random_range(0..period);
            while start < n {
                for k in 0..(0.25 * sr) as usize {
                    if start + k >= n {
                        break;
                    }
                    let t = k as f32 / sr;
                    let noise = rng.random_range(-1.0..1.0f32) * (-t / 0.03).exp();
                    let thump = (TAU * 60.0 * t).sin() * (-t / 0.08).exp();
                    x[start + k] += 0.5 * noise + 0.6 * thump;
                }
                start += period;
            }
        }
        _ => {
            let mut start = 0usize;
            while start < n {
                let f = rng.random_range(600.0..1500.0f32);
                for k in 0..(1.5 * sr) as usize {
                    if start + k >= n {
                        break;
                    }
                    let t = k as f32 / sr;
                    let env = (-t / 0.6).exp();
                    x[start + k] += 0.3
                        * env
                        * ((TAU * f * t).sin()
                            + 0.5 * (TAU * 2.76 * f * t).sin()
                            + 0.25 * (TAU * 5.4 * f * t).sin());
                }
                start += (rng.random_range(0.4..1.0f32) * sr) as usize;
            }
        }
    }
    // A little room noise everywhere, so silence never gives the class away.
    for s in x.iter_mut() {
        *s = (*s + 0.01 * rng.random_range(-1.0..1.0f32)).clamp(-1.0, 1.0);
    }
    x
}

fn write_wav(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        w.write_sample((s * 32767.0) as i16).expect("write wav");
    }
    w.finalize().expect("finish wav");
}

/// One generated clip's file and its truth.
pub struct Clip {
    pub path: PathBuf,
    pub class: usize,
    pub tags: Vec<&'static str>,
}

/// Writes `per_class` clips of `seconds` per class into `dir` and a CSV manifest beside them.
/// Of the classes with a held-out word, a quarter of the clips are tagged only with it (the
/// paper's subset C), half with seen and held-out words (B), a quarter with seen words (A).
pub fn write_dataset(
    dir: &Path,
    per_class: usize,
    seconds: f32,
    seed: u64,
) -> (PathBuf, Vec<Clip>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    std::fs::create_dir_all(dir.join("audio")).expect("audio dir");
    let mut clips = Vec::new();
    let mut manifest = String::from("path,tags\n");
    for (c, class) in CLASSES.iter().enumerate() {
        for i in 0..per_class {
            let rel = format!("audio/{}-{i:02}.wav", class.name);
            let path = dir.join(&rel);
            write_wav(&path, &clip(c, seconds, &mut rng));
            let mut tags: Vec<&'static str> = class.seen.to_vec();
            if let Some(u) = class.unseen {
                match i % 4 {
                    0 => tags = vec![u],
                    1 | 2 => tags.push(u),
                    _ => {}
                }
            }
            manifest.push_str(&format!("{rel},{}\n", tags.join(";")));
            clips.push(Clip {
                path,
                class: c,
                tags,
            });
        }
    }
    let manifest_path = dir.join("manifest.csv");
    std::fs::write(&manifest_path, manifest).expect("manifest");
    (manifest_path, clips)
}

/// A run file for the synthetic dataset: CPU, a few short epochs.
pub fn write_run(dir: &Path, manifest: &Path, epochs: usize, windows_per_epoch: usize) -> PathBuf {
    let glove = repo_root().join("models/glove/glove-6b-50d.hgv");
    let unseen: Vec<String> = unseen_words().iter().map(|w| format!("\"{w}\"")).collect();
    let text = format!(
        r#"name = "synthetic-zsl"
seed = 7
glove = "{glove}"
work_dir = "{work}"

[dataset]
kind = "csv"
source = "{manifest}"

[split]
unseen_fraction = 0.0
unseen = [{unseen}]
setup = "AB"
test_fraction = 0.25
validation_fraction = 0.1

[train]
epochs = {epochs}
windows_per_epoch = {windows_per_epoch}
batch_size = 32
negatives = 2
learning_rate = 0.05
lr_decay = 1e-4
early_stop_patience = 100
validation_windows_per_track = 2
threads = 1
device = "cpu"

[eval]
hop_frames = 65
"#,
        glove = glove.display(),
        work = dir.join("work").display(),
        manifest = manifest.display(),
        unseen = unseen.join(", "),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).expect("run file");
    path
}
