//! Offline tagging of whole files, the path behind `hark tag`: decode, the streaming
//! front-end, the audio encoder, the track mean and the vocabulary's scores.

use crate::audio::{AudioError, FileDecoder};
use crate::frontend::{FrontendError, StreamingFrontend};
use crate::model::{Model, ModelError};
use crate::score::{MeanEmbedding, ScoreError, Selection, TrackTags};
use crate::vocab::VocabularyScorer;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use thiserror::Error;

/// Windows gathered before the encoder runs: one encoder batch, so the windows are still in
/// cache (16 windows are a megabyte).
const BATCH: usize = crate::model::AUDIO_MAX_BATCH;

/// Everything that can stop a file from being tagged.
#[derive(Debug, Error)]
pub enum TagError {
    /// The audio encoder failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The audio file is unreadable.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The front-end rejected its settings or input.
    #[error("{path}: {source}")]
    Frontend {
        /// The file being tagged.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: FrontendError,
    },
    /// Scoring failed (embedding sizes disagree).
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// The file decoded to no audio at all.
    #[error("{0}: no audio in file")]
    Empty(PathBuf),
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
    /// Its tags, as the daemon's `track` message reports a track's.
    #[serde(flatten)]
    pub tagged: TrackTags,
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
            tagged: TrackTags::new(
                tags,
                self.model.identity(),
                self.vocabulary.identity.clone(),
            ),
        })
    }

    /// Tags `files` on `jobs` threads (each its own decoder, front-end and encoder run) and
    /// hands every result to `on_result` in the order of `files`, each as soon as it and all
    /// before it are done. `on_done` sees each file as it finishes, in any order (progress).
    ///
    /// The largest files are started first, so one long file taken last does not leave the
    /// other cores idle at the end.
    ///
    /// An error from `on_result` (stdout closed, say) stops the workers taking new files and
    /// is returned once the files in flight end.
    pub fn tag_files<E>(
        &self,
        files: &[PathBuf],
        jobs: usize,
        mut on_done: impl FnMut(&Result<TagReport, TagError>),
        mut on_result: impl FnMut(&Path, Result<TagReport, TagError>) -> Result<(), E>,
    ) -> Result<(), E> {
        let jobs = jobs.clamp(1, files.len().max(1));
        let mut largest_first: Vec<(u64, usize)> = files
            .iter()
            .enumerate()
            .map(|(i, f)| (std::fs::metadata(f).map_or(0, |m| m.len()), i))
            .collect();
        largest_first.sort_by_key(|&(bytes, i)| (std::cmp::Reverse(bytes), i));
        let largest_first: Vec<usize> = largest_first.into_iter().map(|(_, i)| i).collect();
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (done_tx, done_rx) = mpsc::channel();
            for _ in 0..jobs {
                let done_tx = done_tx.clone();
                let (next, stop, largest_first) = (&next, &stop, &largest_first);
                scope.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let taken = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&index) = largest_first.get(taken) else {
                            break;
                        };
                        let file = &files[index];
                        if done_tx.send((index, self.tag_file(file))).is_err() {
                            break;
                        }
                    }
                });
            }
            // Only the workers hold senders now: the loop ends when the last one finishes.
            drop(done_tx);
            // Results that finished ahead of an earlier file wait here (reports, not audio).
            let mut waiting = BTreeMap::new();
            let mut emitted = 0usize;
            let mut outcome = Ok(());
            for (index, result) in done_rx {
                on_done(&result);
                waiting.insert(index, result);
                while let Some(result) = waiting.remove(&emitted) {
                    if outcome.is_ok() {
                        outcome = on_result(&files[emitted], result);
                        if outcome.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    emitted += 1;
                }
            }
            outcome
        })
    }
}

/// The number of files `hark tag` tags at once by default: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
