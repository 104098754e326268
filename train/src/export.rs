//! Export through hark's own exporter (`hark::model::export::stage_model_dir`) into a staging
//! directory, then a parity check there (the same windows through tch and through tract on
//! the written ONNX files), and only then a rename into place: a model that fails the check
//! is never left where the daemon would load it.

use crate::net::{to_vec, NetError, ZeroShotNet};
use hark::frontend::FrontendParams;
use hark::model::export::StagedModelDir;
use hark::model::{ModelError, ModelFiles, ModelManifest};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    /// A file to ship beside the model could not be copied into it.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
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
    /// Per-word calibration of the scores, if the run asks for one (`export.word_shift`).
    pub calibration: Option<hark::model::Calibration>,
    /// Training facts and figures for model.toml's `[training]` table.
    pub training: BTreeMap<String, toml::Value>,
}

/// Writes the model directory through hark's exporter into a staging directory beside `dir`;
/// `dir` is untouched until the returned [`StagedModelDir`] is committed.
pub fn stage(
    dir: &Path,
    net: &ZeroShotNet,
    info: ExportInfo,
) -> Result<(StagedModelDir, ModelManifest), ExportError> {
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
        calibration: info.calibration,
        files: ModelFiles::default(),
        training: info.training,
    };
    let staged = hark::model::export::stage_model_dir(dir, &manifest, &audio, &word)?;
    Ok((staged, manifest))
}

/// The windows and GloVe vectors the parity check runs through tch and tract.
pub struct ParityInput<'a> {
    /// Standardised windows `[n × frames × mels]`.
    pub windows: &'a [f32],
    /// Number of windows.
    pub n: usize,
    /// GloVe vectors `[m × G]`.
    pub glove: &'a [f32],
    /// Number of vectors.
    pub m: usize,
}

/// What a checked export wrote and measured.
#[derive(Debug)]
pub struct CheckedExport {
    /// The manifest written as model.toml.
    pub manifest: ModelManifest,
    /// Max |tch − tract| over the audio branch.
    pub audio_parity: f32,
    /// Max |tch − tract| over the word branch.
    pub word_parity: f32,
}

/// Stages `net`'s model directory with `extra_files` (reports) copied in, checks tch
/// (`cpu_net`: the same weights on the CPU) against tract on the staged files, and only then
/// moves it to `dir`. A failed check leaves `dir` exactly as it was.
pub fn export_checked(
    dir: &Path,
    net: &ZeroShotNet,
    cpu_net: &ZeroShotNet,
    info: ExportInfo,
    extra_files: &[PathBuf],
    input: &ParityInput,
) -> Result<CheckedExport, ExportError> {
    let (staged, manifest) = stage(dir, net, info)?;
    for from in extra_files {
        let Some(name) = from.file_name() else {
            continue;
        };
        let to = staged.path().join(name);
        // Through write_atomic, so the report is on disk (fsynced) before the commit's rename.
        let bytes = std::fs::read(from).map_err(|source| ExportError::Io {
            path: from.clone(),
            source,
        })?;
        hark::fsutil::write_atomic(&to, &bytes)
            .map_err(|source| ExportError::Io { path: to, source })?;
    }
    let (audio_parity, word_parity) = parity(
        staged.path(),
        cpu_net,
        input.windows,
        input.n,
        input.glove,
        input.m,
    )?;
    check_parity(audio_parity, word_parity)?;
    staged.commit()?;
    Ok(CheckedExport {
        manifest,
        audio_parity,
        word_parity,
    })
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
