//! The model contract: what a model directory holds and what its ONNX files must look like,
//! whoever trained them. `model.toml` ([`ModelManifest`]) names everything; its validation
//! runs the front-end's own checks, so a manifest that loads describes a model that can run.

use crate::frontend::{FrontendError, FrontendParams};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Name of the audio encoder's input tensor (`[N, frames, mels]`).
pub const AUDIO_INPUT: &str = "mel";
/// Name of the word encoder's input tensor (`[N, G]`).
pub const WORD_INPUT: &str = "word";
/// Name of both encoders' output tensor (`[N, D]`).
pub const OUTPUT: &str = "embedding";
/// Name of the symbolic batch dimension written into both graphs.
pub const BATCH_DIM: &str = "N";

/// Everything the daemon needs to know about a model directory, read from `model.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    /// Short model name, e.g. `hark-default`.
    pub name: String,
    /// Model version string.
    pub version: String,
    /// One line saying what the model is (and, for test models, that it is untrained).
    #[serde(default)]
    pub description: String,
    /// Joint embedding size D shared by both branches.
    pub embedding_dim: usize,
    /// GloVe vector size G expected by the word branch.
    pub glove_dim: usize,
    /// Identity of the GloVe vectors the word branch was trained with (e.g. `glove-6b-50d`).
    pub glove: String,
    /// Recommended global cosine threshold for tags.
    pub score_threshold: f32,
    /// Front-end settings the audio branch was trained with.
    pub frontend: FrontendParams,
    /// Per-word calibration of tag scores; absent: raw cosines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// ONNX file names, relative to the model directory.
    #[serde(default)]
    pub files: ModelFiles,
    /// Free-form training report (metrics, settings), carried through unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub training: BTreeMap<String, toml::Value>,
}

/// Per-word calibration (`[calibration]`): each tag's score loses `word_shift` times its mean
/// cosine over the training tracks, which is `track_mean` · the tag's unit embedding, so any
/// word (zero-shot ones too) is shifted by its own mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// The share of each word's training-track mean taken away, in [0, 1].
    pub word_shift: f32,
    /// Mean of the training tracks' unit-length embeddings (`embedding_dim` values).
    pub track_mean: Vec<f32>,
}

/// Names of the two ONNX files inside a model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFiles {
    /// Audio encoder: input `mel` [N, frames, mels], output `embedding` [N, D].
    pub audio: String,
    /// Word encoder: input `word` [N, G], output `embedding` [N, D].
    pub word: String,
}

impl Default for ModelFiles {
    fn default() -> Self {
        Self {
            audio: "audio.onnx".into(),
            word: "word.onnx".into(),
        }
    }
}

/// File name of the manifest inside a model directory.
pub const MANIFEST_FILE: &str = "model.toml";

/// Everything that can go wrong reading, checking, running or writing a model. Every
/// variant that comes from a file names it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A model file named by `model.toml` is missing or unreadable.
    #[error("{}: cannot read this file (named by model.toml {field}): {source}", path.display())]
    MissingFile {
        /// The file model.toml points at.
        path: PathBuf,
        /// The model.toml field that names it (`files.audio`, `files.word`).
        field: &'static str,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// `model.toml` is not valid TOML or does not fit the manifest's fields.
    #[error("{}{}: {message}", path.display(), position(*line, *column))]
    Toml {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line of the problem (0 when the parser gave no position).
        line: usize,
        /// 1-based column of the problem (0 when the parser gave no position).
        column: usize,
        /// What the TOML parser said, e.g. "missing field `glove_dim`".
        message: String,
    },
    /// A manifest field has a value the model cannot work with.
    #[error("{}: field `{field}`: {problem}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Dotted field name, e.g. `frontend.window_frames`.
        field: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// The manifest could not be turned into TOML.
    #[error("{}: cannot serialise the manifest: {message}", path.display())]
    TomlWrite {
        /// The manifest file being written.
        path: PathBuf,
        /// What the serialiser said.
        message: String,
    },
    /// An ONNX file is not a protobuf ONNX model tract can parse or analyse.
    #[error("{}: not a usable ONNX model: {message}", path.display())]
    Onnx {
        /// The ONNX file.
        path: PathBuf,
        /// tract's error chain.
        message: String,
    },
    /// An ONNX file's input or output disagrees with `model.toml`.
    #[error("{}: {tensor} has {found} but model.toml {field} = {expected}", path.display())]
    ShapeMismatch {
        /// The ONNX file.
        path: PathBuf,
        /// Which tensor and axis, e.g. "output `embedding`".
        tensor: String,
        /// What the ONNX file says, with its unit, e.g. "64 columns".
        found: String,
        /// The disagreeing model.toml field.
        field: &'static str,
        /// The model.toml value.
        expected: String,
    },
    /// An ONNX file breaks the model contract in a way no manifest field can fix (names,
    /// ranks, types).
    #[error("{}: {problem}", path.display())]
    Contract {
        /// The ONNX file.
        path: PathBuf,
        /// What the contract wants and what the file has.
        problem: String,
    },
    /// A caller passed a buffer whose length does not fit the batch size.
    #[error("{what}: {found} values given but {n} items × {per_item} = {} expected", n * per_item)]
    InputLength {
        /// Which input.
        what: &'static str,
        /// Values given.
        found: usize,
        /// Items the caller said the buffer holds.
        n: usize,
        /// Values per item.
        per_item: usize,
    },
    /// tract failed while running a model that had loaded fine.
    #[error("{}: inference failed: {message}", path.display())]
    Inference {
        /// The ONNX file.
        path: PathBuf,
        /// tract's error chain.
        message: String,
    },
    /// An exported model's outputs through tract differ from the reference forward pass.
    #[error("{}: {branch} outputs differ from the reference forward pass by {max_diff:e} (> {tolerance:e})", path.display())]
    Parity {
        /// The ONNX file checked.
        path: PathBuf,
        /// `audio` or `word`.
        branch: &'static str,
        /// Largest absolute difference seen.
        max_diff: f32,
        /// Largest difference accepted.
        tolerance: f32,
    },
    /// Weights handed to the exporter or the reference do not fit the architecture.
    #[error("{what}: {problem}")]
    Weights {
        /// Which layer or tensor.
        what: String,
        /// What is wrong.
        problem: String,
    },
}

impl ModelManifest {
    /// Reads and checks `model.toml`; errors name the file and the line or field.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let manifest: Self = toml::from_str(&text).map_err(|e| {
            // A span over the whole document (e.g. a missing field) locates nothing.
            let (line, column) = match e.span() {
                Some(span) if !(span.start == 0 && span.end >= text.len()) => {
                    line_and_column(&text, span.start)
                }
                _ => (0, 0),
            };
            ModelError::Toml {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Writes the manifest as TOML (through a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        self.validate(path)?;
        let text = toml::to_string_pretty(self).map_err(|e| ModelError::TomlWrite {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Checks the values the model code relies on; `path` only labels the errors.
    pub fn validate(&self, path: &Path) -> Result<(), ModelError> {
        let bad = |field: &'static str, problem: String| ModelError::Manifest {
            path: path.to_path_buf(),
            field,
            problem,
        };
        if self.name.trim().is_empty() {
            return Err(bad("name", "is empty".into()));
        }
        if self.embedding_dim == 0 {
            return Err(bad("embedding_dim", "must be at least 1".into()));
        }
        if self.glove_dim == 0 {
            return Err(bad("glove_dim", "must be at least 1".into()));
        }
        if !self.score_threshold.is_finite() || !(-1.0..=1.0).contains(&self.score_threshold) {
            return Err(bad(
                "score_threshold",
                format!("{} is not a cosine in [-1, 1]", self.score_threshold),
            ));
        }
        if let Some(c) = &self.calibration {
            if !c.word_shift.is_finite() || !(0.0..=1.0).contains(&c.word_shift) {
                return Err(bad(
                    "calibration.word_shift",
                    format!("{} is not in [0, 1]", c.word_shift),
                ));
            }
            if c.track_mean.len() != self.embedding_dim {
                return Err(bad(
                    "calibration.track_mean",
                    format!(
                        "has {} values, embedding_dim is {}",
                        c.track_mean.len(),
                        self.embedding_dim
                    ),
                ));
            }
            if let Some(i) = c.track_mean.iter().position(|v| !v.is_finite()) {
                return Err(bad(
                    "calibration.track_mean",
                    format!("value {} is not a finite number", i + 1),
                ));
            }
        }
        // The front-end's own checks, so a model.toml whose front-end could never run is
        // refused here, naming its key, rather than failing on every audio chunk.
        self.frontend.validate().map_err(|e| match e {
            FrontendError::InvalidParam { field, reason } => bad(frontend_key(field), reason),
            other => bad("frontend", other.to_string()),
        })?;
        for (field, file) in [
            ("files.audio", &self.files.audio),
            ("files.word", &self.files.word),
        ] {
            let p = Path::new(file);
            if file.is_empty() || p.is_absolute() || p.components().count() != 1 {
                return Err(bad(
                    field,
                    format!("`{file}` must be a plain file name inside the model directory"),
                ));
            }
        }
        Ok(())
    }
}

/// The model.toml key of a `[frontend]` field, so errors name the key as written there.
fn frontend_key(field: &str) -> &'static str {
    match field {
        "sample_rate" => "frontend.sample_rate",
        "n_fft" => "frontend.n_fft",
        "hop_length" => "frontend.hop_length",
        "n_mels" => "frontend.n_mels",
        "f_min" => "frontend.f_min",
        "f_max" => "frontend.f_max",
        "mean" => "frontend.mean",
        "std" => "frontend.std",
        "window_frames" => "frontend.window_frames",
        _ => "frontend",
    }
}

/// `:line:column`, or nothing when the parser gave no useful position.
fn position(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}:{column}")
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    // `get` rather than indexing: an offset inside a multi-byte character must not panic.
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
