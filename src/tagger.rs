//! Offline tagging of whole files, the path behind `hark tag`, and the glue from a
//! vocabulary file to a ready scorer that the daemon shares.

use crate::audio::{AudioError, FileDecoder, ResampleError, Resampler};
use crate::frontend::{log_mel, FrontendError, StreamingFrontend};
use crate::model::{Model, ModelError};
use crate::score::{MeanEmbedding, ScoreError, Scorer, Selection, TagScore, TagSpec};
use crate::vocab::{GloveError, GloveStore, VocabErrors, VocabFile};
use serde::Serialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Windows sent to the encoder in one run.
const BATCH: usize = 16;

/// Everything that can stop a file from being tagged or a vocabulary from loading.
#[derive(Debug, Error)]
pub enum TagError {
    /// The model directory is unusable.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The GloVe store is unusable.
    #[error(transparent)]
    Glove(#[from] GloveError),
    /// The vocabulary has errors (every one is listed, one per line).
    #[error("{0}")]
    Vocabulary(#[from] VocabErrors),
    /// The audio file is unreadable.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// Resampling failed.
    #[error("{path}: {source}")]
    Resample {
        /// The file being tagged.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: ResampleError,
    },
    /// The front-end rejected its settings or input.
    #[error("{path}: {source}")]
    Frontend {
        /// The file being tagged (or model.toml for bad settings).
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: FrontendError,
    },
    /// Scoring failed (embedding sizes disagree).
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// The GloVe store is not the one the model's word branch was trained with.
    #[error("{glove}: GloVe store has {glove_dim}-d vectors ({glove_id}) but the model expects {model_dim}-d vectors ({model_id}); pack the GloVe release named in model.toml")]
    GloveMismatch {
        /// Store file.
        glove: PathBuf,
        /// Store identity.
        glove_id: String,
        /// Store dimension.
        glove_dim: usize,
        /// Identity named by model.toml.
        model_id: String,
        /// Dimension named by model.toml.
        model_dim: usize,
    },
    /// The file decoded to no audio at all.
    #[error("{0}: no audio in file")]
    Empty(PathBuf),
}

/// A vocabulary turned into a scorer, with the identity reported beside every tag.
#[derive(Debug, Clone)]
pub struct VocabularyScorer {
    /// The scorer over the vocabulary's tags.
    pub scorer: Scorer,
    /// `file-name#short-hash` of the vocabulary text.
    pub identity: String,
}

/// Reads, resolves and embeds a vocabulary file: the one path for start-up and reloads.
pub fn load_scorer(
    model: &Model,
    glove: &GloveStore,
    vocabulary: &Path,
) -> Result<VocabularyScorer, TagError> {
    let m = &model.manifest;
    if glove.dim() != m.glove_dim {
        return Err(TagError::GloveMismatch {
            glove: glove.path().to_path_buf(),
            glove_id: glove.identity().to_string(),
            glove_dim: glove.dim(),
            model_id: m.glove.clone(),
            model_dim: m.glove_dim,
        });
    }
    if glove.identity() != m.glove {
        tracing::warn!(store = glove.identity(), model = %m.glove, "GloVe store identity differs from the model's; tags may be meaningless");
    }
    let resolved = VocabFile::load(vocabulary)?.resolve(glove)?;
    let tags = resolved.tags();
    let mut vectors = Vec::with_capacity(tags.len() * glove.dim());
    for t in tags {
        vectors.extend_from_slice(&t.vector);
    }
    let embeddings = if tags.is_empty() {
        Vec::new()
    } else {
        model.word.embed(&vectors, tags.len())?
    };
    let specs = tags
        .iter()
        .map(|t| TagSpec {
            label: t.label.clone(),
            threshold: t.threshold,
        })
        .collect();
    let scorer = Scorer::new(specs, &embeddings, m.embedding_dim)?;
    let name = vocabulary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(VocabularyScorer {
        scorer,
        identity: format!("{name}#{}", resolved.identity()),
    })
}

/// One line of `hark tag` output.
#[derive(Debug, Clone, Serialize)]
pub struct TagReport {
    /// The file tagged, as given.
    pub file: String,
    /// Seconds of audio decoded.
    pub duration_s: f64,
    /// Windows averaged into the track embedding.
    pub windows: usize,
    /// Tags passing their thresholds, best first.
    pub tags: Vec<TagScore>,
    /// Model identity (name@version+hash).
    pub model: String,
    /// Vocabulary identity (file#hash).
    pub vocabulary: String,
}

/// Tags whole files with one model and vocabulary.
#[derive(Debug)]
pub struct Tagger {
    model: Model,
    vocabulary: VocabularyScorer,
    selection: Selection,
    hop_frames: usize,
}

impl Tagger {
    /// A tagger with `hop_frames` between windows (the window length gives no overlap).
    pub fn new(
        model: Model,
        vocabulary: VocabularyScorer,
        selection: Selection,
        hop_frames: usize,
    ) -> Self {
        Self {
            model,
            vocabulary,
            selection,
            hop_frames: hop_frames.max(1),
        }
    }

    /// The model in use.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The mean window embedding of a file, its window count and duration in seconds.
    pub fn embed_file(&self, path: &Path) -> Result<(Vec<f32>, usize, f64), TagError> {
        let params = &self.model.manifest.frontend;
        let frontend_err = |source| TagError::Frontend {
            path: path.to_path_buf(),
            source,
        };
        let mut decoder = FileDecoder::open(path)?;
        let rate = decoder.sample_rate();
        let mut frontend =
            StreamingFrontend::new(params, rate, self.hop_frames).map_err(frontend_err)?;
        let mut pending: Vec<f32> =
            Vec::with_capacity(BATCH * params.window_frames * params.n_mels);
        let mut mean = MeanEmbedding::new(self.model.manifest.embedding_dim);
        let mut samples: u64 = 0;
        let mut windows = 0usize;
        while let Some(block) = decoder.next_block()? {
            samples += block.len() as u64;
            windows += frontend
                .push(&block, |w| pending.extend_from_slice(w))
                .map_err(frontend_err)?;
            if pending.len() >= BATCH * params.window_frames * params.n_mels {
                self.embed_pending(&mut pending, &mut mean)?;
            }
        }
        if samples == 0 {
            return Err(TagError::Empty(path.to_path_buf()));
        }
        if windows == 0 {
            // Shorter than one window: pad with silence so short clips still get tags.
            let window_samples = (params.window_frames - 1) * params.hop_length + params.n_fft;
            let needed = (window_samples as f64 * f64::from(rate) / f64::from(params.sample_rate))
                .ceil() as u64
                + 64;
            let pad = vec![0.0f32; needed.saturating_sub(samples) as usize];
            frontend
                .push(&pad, |w| pending.extend_from_slice(w))
                .map_err(frontend_err)?;
        }
        frontend
            .finish(|w| pending.extend_from_slice(w))
            .map_err(frontend_err)?;
        self.embed_pending(&mut pending, &mut mean)?;
        let embedding = mean
            .mean()
            .ok_or_else(|| TagError::Empty(path.to_path_buf()))?;
        Ok((embedding, mean.count(), samples as f64 / f64::from(rate)))
    }

    fn embed_pending(
        &self,
        pending: &mut Vec<f32>,
        mean: &mut MeanEmbedding,
    ) -> Result<(), TagError> {
        let per = self.model.manifest.frontend.window_frames * self.model.manifest.frontend.n_mels;
        let n = pending.len() / per;
        if n > 0 {
            let d = self.model.manifest.embedding_dim;
            let out = self.model.audio.embed(&pending[..n * per], n)?;
            for e in out.chunks_exact(d) {
                mean.add(e);
            }
        }
        pending.clear();
        Ok(())
    }

    /// Tags one file: decode, windows, encoder, mean, scores.
    pub fn tag_file(&self, path: &Path) -> Result<TagReport, TagError> {
        let (embedding, windows, duration_s) = self.embed_file(path)?;
        let tags = self.vocabulary.scorer.select(&embedding, self.selection)?;
        Ok(TagReport {
            file: path.display().to_string(),
            duration_s: (duration_s * 1000.0).round() / 1000.0,
            windows,
            tags,
            model: self.model.identity(),
            vocabulary: self.vocabulary.identity.clone(),
        })
    }
}

/// The log-mel of a whole file before standardisation, `[frames × n_mels]`, for `hark mel`.
pub fn file_log_mel(
    path: &Path,
    params: &crate::frontend::FrontendParams,
) -> Result<(Vec<f32>, usize), TagError> {
    let mut decoder = FileDecoder::open(path)?;
    let resample_err = |source| TagError::Resample {
        path: path.to_path_buf(),
        source,
    };
    let mut resampler =
        Resampler::new(decoder.sample_rate(), params.sample_rate).map_err(resample_err)?;
    let mut audio = Vec::new();
    while let Some(block) = decoder.next_block()? {
        resampler.push(&block, &mut audio).map_err(resample_err)?;
    }
    resampler.finish(&mut audio).map_err(resample_err)?;
    if audio.is_empty() {
        return Err(TagError::Empty(path.to_path_buf()));
    }
    let mel = log_mel(&audio, params).map_err(|source| TagError::Frontend {
        path: path.to_path_buf(),
        source,
    })?;
    let frames = mel.len() / params.n_mels.max(1);
    Ok((mel, frames))
}

/// Writes a row-major f32 matrix as a `.npy` file.
pub fn write_npy(path: &Path, data: &[f32], rows: usize, cols: usize) -> std::io::Result<()> {
    use npyz::WriterBuilder;
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows as u64, cols as u64])
        .writer(file)
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()
}
