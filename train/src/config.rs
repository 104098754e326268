//! The run configuration: one TOML file describes a whole run (data, split, model, training,
//! evaluation, export). Relative paths are resolved against the file's folder, so a run folder
//! can be moved or committed as a recipe.

use crate::dataset::DatasetSpec;
use crate::split::TrainSetup;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why a run configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a run (the message names the line and field).
    #[error("{path}: {message}")]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// What toml/serde said, with line and column.
        message: String,
    },
    /// A value is out of its range.
    #[error("{path}: {field}: {problem}")]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// The dotted field name.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// A whole training run, as read from its TOML file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run name; becomes the exported model's name.
    pub name: String,
    /// Seed for the split, initial weights, crops and negatives.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The GloVe pack (hark's `.hgv`) the word branch is trained against.
    pub glove: PathBuf,
    /// Folder for the mel cache, checkpoints, report and exported model.
    pub work_dir: PathBuf,
    /// Mel cache folder, when runs over one dataset should share it (default: work_dir/cache).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// The dataset to read.
    pub dataset: DatasetSpec,
    /// The seen/unseen label split and the track split.
    #[serde(default)]
    pub split: SplitConfig,
    /// Model sizes.
    #[serde(default)]
    pub model: ModelConfig,
    /// Optimisation settings.
    #[serde(default)]
    pub train: TrainConfig,
    /// Evaluation settings.
    #[serde(default)]
    pub eval: EvalConfig,
    /// What goes into the exported model.toml.
    #[serde(default)]
    pub export: ExportConfig,
}

/// The paper's split scheme (labels into X/Y, tracks into A/B/C) and the tests to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Fraction of labels drawn at random into the unseen set Y (0 trains on every label).
    pub unseen_fraction: f64,
    /// Labels that must be unseen (held out of training), e.g. instrument words.
    pub unseen: Vec<String>,
    /// Labels that must stay seen.
    pub seen: Vec<String>,
    /// Which instances train: A-X, B-X or (A+B)-X.
    pub setup: TrainSetup,
    /// Fraction of track groups held out for testing (of the sources not held out whole).
    pub test_fraction: f64,
    /// Sources (the manifest's `source` column) held out whole for cross-source tests.
    pub held_out_sources: Vec<String>,
    /// How many more sources to draw at random (with the run's seed) and hold out whole.
    pub held_out_source_count: usize,
    /// Fraction of the training groups kept for validation (the paper: 10%).
    pub validation_fraction: f64,
    /// Annotation tests, named as in the paper's Table 2 (e.g. "B-Y", "(B+C)-(X+Y)").
    pub annotation_tests: Vec<String>,
    /// Retrieval tests, named as in Table 3 (e.g. "(B+C)-Y", "(A+B+C)-Y").
    pub retrieval_tests: Vec<String>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            unseen_fraction: 0.2,
            unseen: Vec::new(),
            seen: Vec::new(),
            setup: TrainSetup::AB,
            test_fraction: 0.2,
            held_out_sources: Vec::new(),
            held_out_source_count: 0,
            validation_fraction: 0.1,
            annotation_tests: ["B-Y", "C-Y", "(B+C)-Y", "B-(X+Y)", "C-(X+Y)", "(B+C)-(X+Y)"]
                .map(String::from)
                .to_vec(),
            retrieval_tests: ["(B+C)-Y", "(A+B+C)-Y"].map(String::from).to_vec(),
        }
    }
}

/// Model sizes; the architecture itself is hark's contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Joint embedding size D.
    pub embedding_dim: usize,
    /// Channels between the audio convolutions (the paper's 128; wider costs time per window).
    pub audio_hidden: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            embedding_dim: 100,
            audio_hidden: hark::model::export::AUDIO_HIDDEN,
        }
    }
}

/// Where tensors live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else CPU.
    Auto,
    /// Always the CPU.
    Cpu,
    /// CUDA, failing when there is none.
    Cuda,
}

/// Optimisation settings (defaults are the authors').
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Upper bound on epochs (early stopping usually ends sooner).
    pub epochs: usize,
    /// Random 130-frame crops drawn per epoch.
    pub windows_per_epoch: usize,
    /// Crops per optimiser step.
    pub batch_size: usize,
    /// Negative words per crop.
    pub negatives: usize,
    /// Hinge-loss margin on cosine similarity.
    pub margin: f64,
    /// Initial learning rate.
    pub learning_rate: f64,
    /// Keras-style decay: lr / (1 + decay · step).
    pub lr_decay: f64,
    /// Nesterov momentum.
    pub momentum: f64,
    /// Epochs without a better validation loss before the learning rate is cut.
    pub plateau_patience: usize,
    /// Factor the learning rate is multiplied by on a plateau.
    pub plateau_factor: f64,
    /// Epochs without a better validation loss before training stops.
    pub early_stop_patience: usize,
    /// Evenly spaced validation windows per validation track.
    pub validation_windows_per_track: usize,
    /// CPU threads for libtorch (0: libtorch's default).
    pub threads: usize,
    /// CPU or CUDA.
    pub device: DeviceChoice,
    /// Capture-like augmentation of the training crops (off unless its probability is set).
    pub augment: crate::augment::AugmentConfig,
    /// Per-source draw weight of a training track (sources not named weigh 1); empty: every
    /// track equally likely, so a large source cannot crowd out a small one by accident.
    pub source_weights: std::collections::BTreeMap<String, f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            windows_per_epoch: 10_000,
            batch_size: 32,
            negatives: 1,
            margin: 0.4,
            learning_rate: 1e-3,
            lr_decay: 1e-6,
            momentum: 0.9,
            plateau_patience: 3,
            plateau_factor: 0.2,
            early_stop_patience: 10,
            validation_windows_per_track: 4,
            threads: 0,
            device: DeviceChoice::Auto,
            augment: crate::augment::AugmentConfig::default(),
            source_weights: std::collections::BTreeMap::new(),
        }
    }
}

/// How tracks are embedded for evaluation (as the daemon does: mean over windows).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Frames between window starts (130: no overlap).
    pub hop_frames: usize,
    /// At most this many windows per track, evenly spaced (0: all).
    pub max_windows_per_track: usize,
    /// An experiment the daemon cannot do yet: subtract the training tracks' mean embedding
    /// from every test track's before scoring, so the direction all music shares stops
    /// deciding which words win.
    pub centre_on_training_mean: bool,
    /// An experiment the daemon cannot do yet: each word's scores calibrated against the
    /// training tracks' scores for it, so a track's top words are the ones it fits better
    /// than music usually does. Retrieval (AUC-l) is unchanged by design.
    pub word_scores: WordScores,
    /// The share of each word's training-track mean that `word_scores` takes away (1: all;
    /// 0.5: half, a partial calibration).
    pub word_shift: f64,
}

/// How `evaluate` calibrates each word's scores against the training tracks' (`eval.word_scores`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordScores {
    /// Cosines as the daemon scores them.
    #[default]
    Raw,
    /// Minus the word's mean score over the training tracks.
    Centred,
    /// Minus that mean, over the word's standard deviation there (z-scores).
    Standardised,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            hop_frames: 130,
            max_windows_per_track: 0,
            centre_on_training_mean: false,
            word_scores: WordScores::Raw,
            word_shift: 1.0,
        }
    }
}

/// What the exported model.toml says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// Folder to write (relative to work_dir); `hark run --model` takes it as is.
    pub dir: PathBuf,
    /// Version string for model.toml.
    pub version: String,
    /// One-line description for model.toml.
    pub description: String,
    /// Recommended score threshold; when unset, the F1-best threshold on validation tracks.
    pub score_threshold: Option<f32>,
    /// Per-word calibration written into model.toml: the share of each word's mean cosine
    /// over the training tracks the daemon takes off its score (0: none).
    pub word_shift: f32,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("model"),
            version: "0.1.0".into(),
            description: String::new(),
            score_threshold: None,
            word_shift: 0.0,
        }
    }
}

fn default_seed() -> u64 {
    2019
}

impl RunConfig {
    /// Reads and checks a run file, resolving its relative paths against its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: RunConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut config.glove);
        resolve(&mut config.work_dir);
        if let Some(cache) = config.cache_dir.as_mut() {
            resolve(cache);
        }
        resolve(&mut config.dataset.source);
        if let Some(root) = config.dataset.audio_root.as_mut() {
            resolve(root);
        }
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            problem,
        };
        let fraction = |field: &'static str, v: f64, max: f64| {
            if v.is_finite() && (0.0..=max).contains(&v) {
                Ok(())
            } else {
                Err(invalid(field, format!("{v} is not in [0, {max}]")))
            }
        };
        fraction("split.unseen_fraction", self.split.unseen_fraction, 1.0)?;
        fraction("split.test_fraction", self.split.test_fraction, 0.9)?;
        fraction(
            "split.validation_fraction",
            self.split.validation_fraction,
            0.9,
        )?;
        let t = &self.train;
        let positive = |field: &'static str, v: usize| {
            if v == 0 {
                Err(invalid(field, "must be at least 1".into()))
            } else {
                Ok(())
            }
        };
        positive("train.epochs", t.epochs)?;
        positive("train.windows_per_epoch", t.windows_per_epoch)?;
        positive("train.batch_size", t.batch_size)?;
        positive("train.negatives", t.negatives)?;
        positive("model.embedding_dim", self.model.embedding_dim)?;
        positive("model.audio_hidden", self.model.audio_hidden)?;
        positive("eval.hop_frames", self.eval.hop_frames)?;
        for (field, v) in [
            ("train.learning_rate", t.learning_rate),
            ("train.margin", t.margin),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(field, format!("{v} must be a positive number")));
            }
        }
        if !(t.lr_decay.is_finite() && t.lr_decay >= 0.0) {
            return Err(invalid(
                "train.lr_decay",
                format!("{} is negative", t.lr_decay),
            ));
        }
        fraction("train.momentum", t.momentum, 0.999)?;
        fraction("eval.word_shift", self.eval.word_shift, 1.0)?;
        fraction("export.word_shift", f64::from(self.export.word_shift), 1.0)?;
        if let Some((field, problem)) = t.augment.problem() {
            return Err(invalid(field, problem));
        }
        for (source, &w) in &t.source_weights {
            if !(w.is_finite() && w >= 0.0) {
                return Err(invalid(
                    "train.source_weights",
                    format!("{source:?}: {w} is not a finite number >= 0"),
                ));
            }
        }
        if !(t.plateau_factor > 0.0 && t.plateau_factor <= 1.0) {
            return Err(invalid(
                "train.plateau_factor",
                format!("{} is not in (0, 1]", t.plateau_factor),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(invalid("name", "is empty".into()));
        }
        Ok(())
    }

    /// The mel cache folder.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.work_dir.join("cache"))
    }

    /// The checkpoint folder.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.work_dir.join("checkpoints")
    }

    /// The exported model folder.
    pub fn export_dir(&self) -> PathBuf {
        if self.export.dir.is_absolute() {
            self.export.dir.clone()
        } else {
            self.work_dir.join(&self.export.dir)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Result<RunConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        let text = format!(
            "name = \"t\"\nglove = \"g.hgv\"\nwork_dir = \"w\"\n\n[dataset]\nkind = \"csv\"\nsource = \"m.csv\"\n\n{extra}"
        );
        std::fs::write(&path, text).unwrap();
        RunConfig::load(&path)
    }

    #[test]
    fn source_weights_are_read_and_a_negative_one_is_named() {
        let ok = load("[train.source_weights]\nfluid-soundfont-gm = 2.5\n").unwrap();
        assert_eq!(ok.train.source_weights["fluid-soundfont-gm"], 2.5);
        let err = load("[train.source_weights]\nspeech = -1.0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train.source_weights") && err.contains("\"speech\""),
            "{err}"
        );
    }

    #[test]
    fn the_encoder_width_defaults_to_the_papers_and_zero_is_named() {
        assert_eq!(load("").unwrap().model.audio_hidden, 128);
        assert_eq!(
            load("[model]\naudio_hidden = 192\n")
                .unwrap()
                .model
                .audio_hidden,
            192
        );
        let err = load("[model]\naudio_hidden = 0\n").unwrap_err().to_string();
        assert!(err.contains("model.audio_hidden"), "{err}");
    }
}
