//! Export through hark's own exporter (`hark::model::export::export_model_dir`), then a parity
//! check: the same windows through tch and through tract on the written ONNX files.

use crate::net::{to_vec, NetError, ZeroShotNet};
use hark::frontend::FrontendParams;
use hark::model::{ModelError, ModelFiles, ModelManifest};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Tensor};

/// Largest |tch − tract| the export accepts on any output value.
pub const PARITY_TOLERANCE: f32 = 1e-4;

/// Why export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Weights could not leave tch.
    #[error(transparent)]
    Net(#[from] NetError),
    /// hark's exporter or loader refused.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// tch and tract disagree on the exported files.
    #[error("parity: {branch} outputs differ by {max_diff:e} (> {PARITY_TOLERANCE:e}) between tch and tract")]
    Parity {
        /// "audio" or "word".
        branch: &'static str,
        /// The largest absolute difference seen.
        max_diff: f32,
    },
}

/// What model.toml says besides the weights.
pub struct ExportInfo<'a> {
    /// Model name.
    pub name: &'a str,
    /// Version string.
    pub version: &'a str,
    /// One-line description.
    pub description: &'a str,
    /// The GloVe pack's identity (hark checks it against the store it is given).
    pub glove_identity: &'a str,
    /// GloVe dimension G.
    pub glove_dim: usize,
    /// Front-end with the training set's mean and std.
    pub frontend: FrontendParams,
    /// Recommended score threshold.
    pub score_threshold: f32,
    /// Training facts and figures for model.toml's `[training]` table.
    pub training: BTreeMap<String, toml::Value>,
}

/// Writes the model directory through hark's exporter.
pub fn export(
    dir: &Path,
    net: &ZeroShotNet,
    info: ExportInfo,
) -> Result<ModelManifest, ExportError> {
    let (audio, word) = net.to_weights()?;
    let manifest = ModelManifest {
        name: info.name.to_string(),
        version: info.version.to_string(),
        description: info.description.to_string(),
        embedding_dim: audio.embedding_dim(),
        glove_dim: info.glove_dim,
        glove: info.glove_identity.to_string(),
        score_threshold: info.score_threshold,
        frontend: info.frontend,
        files: ModelFiles::default(),
        training: info.training,
    };
    hark::model::export::export_model_dir(dir, &manifest, &audio, &word)?;
    Ok(manifest)
}

/// Largest absolute differences (audio, word) between tch and tract (hark's loader) on the same
/// standardised windows `[n × frames × mels]` and GloVe vectors `[m × G]`.
pub fn parity(
    dir: &Path,
    net: &ZeroShotNet,
    windows: &[f32],
    n: usize,
    glove: &[f32],
    m: usize,
) -> Result<(f32, f32), ExportError> {
    let model = hark::model::Model::load(dir)?;
    let frames = model.manifest.frontend.window_frames as i64;
    let mels = model.manifest.frontend.n_mels as i64;
    let g = model.manifest.glove_dim as i64;
    let (tch_audio, tch_word) = tch::no_grad(|| -> Result<_, NetError> {
        let mel = Tensor::from_slice(windows)
            .view([n as i64, frames, mels])
            .to_device(Device::Cpu);
        let words = Tensor::from_slice(glove).view([m as i64, g]);
        Ok((to_vec(&net.audio(&mel))?, to_vec(&net.word(&words))?))
    })?;
    let tract_audio = model.audio.embed(windows, n)?;
    let tract_word = model.word.embed(glove, m)?;
    let max_diff = |a: &[f32], b: &[f32]| {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(
            if a.len() == b.len() {
                0.0
            } else {
                f32::INFINITY
            },
            f32::max,
        )
    };
    Ok((
        max_diff(&tch_audio, &tract_audio),
        max_diff(&tch_word, &tract_word),
    ))
}

/// Fails when either difference is over [`PARITY_TOLERANCE`].
pub fn check_parity(audio: f32, word: f32) -> Result<(), ExportError> {
    // A NaN difference is a failure too, hence "not within" rather than "over".
    let within = |d: f32| d.is_finite() && d <= PARITY_TOLERANCE;
    if !within(audio) {
        return Err(ExportError::Parity {
            branch: "audio",
            max_diff: audio,
        });
    }
    if !within(word) {
        return Err(ExportError::Parity {
            branch: "word",
            max_diff: word,
        });
    }
    Ok(())
}
