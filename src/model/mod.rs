//! The model contract: `model.toml`, the audio and word encoders run through tract, and
//! the pure-Rust ONNX exporter that hark-train uses to write them.

pub mod export;
pub mod reference;

use crate::frontend::FrontendParams;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// ONNX file names, relative to the model directory.
    #[serde(default)]
    pub files: ModelFiles,
    /// Free-form training report (metrics, settings), carried through unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub training: BTreeMap<String, toml::Value>,
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
        Self { audio: "audio.onnx".into(), word: "word.onnx".into() }
    }
}
