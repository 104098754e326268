//! From a vocabulary file to a ready scorer: read and resolve the file against the GloVe
//! store, embed every tag with the word encoder, and name the result. The one path for
//! start-up, live reloads and `hark tag`.

use super::{GloveError, GloveStore, VocabErrors, VocabFile};
use crate::model::{Model, ModelError};
use crate::score::{ScoreError, Scorer, TagSpec};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a vocabulary could not be turned into a scorer.
#[derive(Debug, Error)]
pub enum VocabLoadError {
    /// The model is unusable, or its word encoder failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The GloVe store is unusable.
    #[error(transparent)]
    Glove(#[from] GloveError),
    /// The vocabulary has errors (every one is listed, one per line).
    #[error(transparent)]
    Vocabulary(#[from] VocabErrors),
    /// Scoring cannot be set up (embedding sizes disagree).
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
) -> Result<VocabularyScorer, VocabLoadError> {
    check_glove(model, glove)?;
    scorer_from_file(model, glove, &VocabFile::load(vocabulary)?)
}

/// Resolves and embeds vocabulary text that is not (yet) a file: a web edit before it is
/// saved, or the words of a history search. `path` names it in errors and the identity.
pub fn scorer_from_text(
    model: &Model,
    glove: &GloveStore,
    text: &str,
    path: &Path,
) -> Result<VocabularyScorer, VocabLoadError> {
    check_glove(model, glove)?;
    scorer_from_file(model, glove, &VocabFile::parse(text, path)?)
}

fn check_glove(model: &Model, glove: &GloveStore) -> Result<(), VocabLoadError> {
    let m = &model.manifest;
    if glove.dim() != m.glove_dim {
        return Err(VocabLoadError::GloveMismatch {
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
    Ok(())
}

fn scorer_from_file(
    model: &Model,
    glove: &GloveStore,
    file: &VocabFile,
) -> Result<VocabularyScorer, VocabLoadError> {
    let m = &model.manifest;
    let resolved = file.resolve(glove)?;
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
    let mut scorer = Scorer::new(specs, &embeddings, m.embedding_dim)?;
    if let Some(c) = &m.calibration {
        scorer = scorer.calibrated(&c.track_mean, c.word_shift)?;
    }
    let name = file
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(VocabularyScorer {
        scorer,
        identity: format!("{name}#{}", resolved.identity()),
    })
}
