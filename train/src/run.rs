//! A run's data, assembled once for training, evaluation and export: the opened mel cache,
//! the labels with their GloVe vectors, the seen/unseen and track split, and the
//! standardisation statistics of the training tracks.

use crate::cache::{CacheError, MelCache};
use crate::config::RunConfig;
use crate::labels::LabelVectors;
use crate::split::{self, Part, Split, SplitError, Subset};
use hark::vocab::glove::{GloveError, GloveStore};
use std::collections::BTreeMap;

/// Why a run's data could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The mel cache is missing or broken (run `hark-train prepare` first).
    #[error("mel cache: {0} (run `hark-train prepare` first)")]
    Cache(#[from] CacheError),
    /// The run's dataset could not be read.
    #[error("dataset: {0}")]
    Dataset(#[from] crate::dataset::DataError),
    /// The GloVe pack could not be opened.
    #[error("GloVe pack: {0}")]
    Glove(#[from] GloveError),
    /// The split could not be made.
    #[error("split: {0}")]
    Split(#[from] SplitError),
    /// No training track has a seen label with a GloVe vector.
    #[error("no training track: {0}")]
    NoTraining(String),
}

/// One training crop: a window of a track, maybe with a window of a second track mixed in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingCrop {
    /// The track's index.
    pub track: usize,
    /// Its first frame.
    pub start: usize,
    /// The second window, if one is mixed in.
    pub mix: Option<MixedWindow>,
}

/// A second track's window mixed into a training crop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixedWindow {
    /// The second track's index.
    pub track: usize,
    /// Its first frame.
    pub start: usize,
    /// Its level against the crop's, in dB.
    pub level_db: f32,
}

/// Everything a run works on.
pub struct RunData {
    /// The memory-mapped mel frames.
    pub cache: MelCache,
    /// The GloVe store the word branch trains against.
    pub glove: GloveStore,
    /// Every label that has a GloVe vector.
    pub labels: LabelVectors,
    /// Per cached track: indices into `labels` of its usable tags, sorted.
    pub track_labels: Vec<Vec<usize>>,
    /// Per cached track: the dataset's weight of each of `track_labels` (1 where it gives
    /// none), which sets how often that label is the positive a crop trains on.
    pub track_label_weights: Vec<Vec<f32>>,
    /// The paper's split, with any held-out sources.
    pub split: Split,
    /// Sources held out whole for cross-source tests, sorted.
    pub held_out_sources: Vec<String>,
    /// Per cached track: its source (empty when the dataset names none).
    pub sources: Vec<String>,
    /// Indices into `labels` of the seen labels X.
    pub seen: Vec<usize>,
    /// Indices into `labels` of the unseen labels Y.
    pub unseen: Vec<usize>,
    /// Standardisation mean over the training tracks' frames.
    pub mean: f32,
    /// Standardisation standard deviation over the training tracks' frames.
    pub std: f32,
}

/// Opens the run's mel cache with the run's own dataset's labels in it, even when another run
/// sharing the cache (same audio, other labels) was the last to write its annotations.
fn open_cache_with_own_labels(config: &RunConfig) -> Result<MelCache, RunError> {
    let dir = config.cache_dir();
    let loaded = crate::dataset::load(&config.dataset)?;
    if crate::cache::is_current(&dir, &loaded) {
        let changed = crate::cache::refresh_annotations(&dir, &loaded)?;
        if changed > 0 {
            tracing::info!(
                tracks = changed,
                "copied the dataset's tags, groups and sources into the mel cache"
            );
        }
    }
    Ok(MelCache::open(&dir)?)
}

/// A track's usable labels, sorted, each with its weight: the largest of the tags that map
/// to it, 1 when the dataset gives no weights.
fn label_weights(labels: &LabelVectors, tags: &[String], weights: &[f32]) -> Vec<(usize, f32)> {
    let mut by_label: BTreeMap<usize, f32> = BTreeMap::new();
    for (i, tag) in tags.iter().enumerate() {
        if let Some(label) = labels.index(tag) {
            let weight = weights.get(i).copied().unwrap_or(1.0);
            let entry = by_label.entry(label).or_insert(weight);
            *entry = entry.max(weight);
        }
    }
    by_label.into_iter().collect()
}

impl RunData {
    /// Opens the cache and GloVe pack named by `config` and makes the split.
    pub fn load(config: &RunConfig) -> Result<Self, RunError> {
        let cache = open_cache_with_own_labels(config)?;
        let glove = GloveStore::open(&config.glove)?;
        let labels = LabelVectors::build(
            &glove,
            cache
                .index()
                .tracks
                .iter()
                .flat_map(|t| t.tags.iter().map(String::as_str)),
        );
        let (track_labels, track_label_weights): (Vec<Vec<usize>>, Vec<Vec<f32>>) = cache
            .index()
            .tracks
            .iter()
            .map(|t| {
                label_weights(&labels, &t.tags, &t.tag_weights)
                    .into_iter()
                    .unzip()
            })
            .unzip();
        let label_split = split::split_labels(
            &labels.names,
            config.split.unseen_fraction,
            &config.split.unseen,
            &config.split.seen,
            config.seed,
        )?;
        let names_of = |i: &Vec<usize>| -> Vec<String> {
            i.iter().map(|&l| labels.names[l].clone()).collect()
        };
        let tag_names: Vec<Vec<String>> = track_labels.iter().map(names_of).collect();
        let groups: Vec<String> = cache
            .index()
            .tracks
            .iter()
            .map(|t| t.group.clone())
            .collect();
        let sources: Vec<String> = cache
            .index()
            .tracks
            .iter()
            .map(|t| t.source.clone())
            .collect();
        let held_out_sources = split::hold_out_sources(
            &sources,
            &config.split.held_out_sources,
            config.split.held_out_source_count,
            config.seed,
        )?;
        let cross_source: Vec<bool> = sources
            .iter()
            .map(|s| held_out_sources.binary_search(s).is_ok())
            .collect();
        let holdout = split::Holdout {
            test_fraction: config.split.test_fraction,
            validation_fraction: config.split.validation_fraction,
            cross_source: &cross_source,
        };
        let split = split::make_split(
            &tag_names,
            &groups,
            label_split,
            config.split.setup,
            &holdout,
            config.seed,
        )?;
        let index_of = |names: &[String]| -> Vec<usize> {
            names.iter().filter_map(|n| labels.index(n)).collect()
        };
        let seen = index_of(&split.labels.seen);
        let unseen = index_of(&split.labels.unseen);
        let train = split.tracks(Part::Train, &[Subset::A, Subset::B]);
        if train.is_empty() {
            return Err(RunError::NoTraining(format!(
                "the split left no {} track for training ({} tracks cached, {} labels with GloVe \
                 vectors, {} dropped)",
                config.split.setup,
                cache.len(),
                labels.names.len(),
                labels.dropped.len()
            )));
        }
        let (mean, std) = cache.stats(&train);
        Ok(Self {
            cache,
            glove,
            labels,
            track_labels,
            track_label_weights,
            split,
            held_out_sources,
            sources,
            seen,
            unseen,
            mean,
            std,
        })
    }

    /// Standardised windows `[n, frames, mels]` on `device`, one per `(track, start frame)`.
    pub fn windows_tensor(&self, windows: &[(usize, usize)], device: tch::Device) -> tch::Tensor {
        let frames = crate::cache::cache_frontend().window_frames;
        let mut mel = Vec::with_capacity(windows.len() * frames * self.cache.n_mels());
        for &(track, start) in windows {
            self.cache
                .window_into(track, start, frames, self.mean, self.std, &mut mel);
        }
        self.tensor(mel, windows.len(), device)
    }

    /// Like [`RunData::windows_tensor`] for training crops, each augmented before
    /// standardisation (training only: evaluation hears the audio as it is).
    pub fn augmented_windows_tensor(
        &self,
        crops: &[TrainingCrop],
        augmenter: &crate::augment::Augmenter,
        rng: &mut rand_chacha::ChaCha8Rng,
        device: tch::Device,
    ) -> tch::Tensor {
        let frontend = crate::cache::cache_frontend();
        let frames = frontend.window_frames;
        let standard = hark::frontend::FrontendParams {
            mean: self.mean,
            std: self.std,
            ..frontend
        };
        let mut mel = Vec::with_capacity(crops.len() * frames * self.cache.n_mels());
        let mut other = Vec::new();
        for crop in crops {
            let plan = augmenter.plan(rng);
            let rate = plan.as_ref().map_or(1.0, |p| p.rate);
            let mut window = self.stretched_window(crop.track, crop.start, rate, augmenter);
            if let Some(mix) = crop.mix {
                other.clear();
                // Mean 0 and std 1: the cached, unstandardised frames.
                self.cache
                    .window_into(mix.track, mix.start, frames, 0.0, 1.0, &mut other);
                augmenter.mix(&mut window, &other, mix.level_db);
            }
            if let Some(plan) = &plan {
                augmenter.apply_plan(&mut window, plan, rng);
            }
            // hark's own standardisation: the daemon's arithmetic, bit for bit.
            hark::frontend::standardize(&mut window, &standard);
            mel.extend_from_slice(&window);
        }
        self.tensor(mel, crops.len(), device)
    }

    /// One unstandardised window of `track` from `start`, played `rate` times as fast: it
    /// reads `rate` windows' worth of frames (moved back to fit inside the track) and
    /// resamples them to one window.
    fn stretched_window(
        &self,
        track: usize,
        start: usize,
        rate: f64,
        augmenter: &crate::augment::Augmenter,
    ) -> Vec<f32> {
        let frames = crate::cache::cache_frontend().window_frames;
        let mut window = Vec::with_capacity(frames * self.cache.n_mels());
        if rate == 1.0 {
            self.cache
                .window_into(track, start, frames, 0.0, 1.0, &mut window);
            return window;
        }
        let span = ((frames as f64 * rate).round() as usize).max(1);
        let track_frames = self.cache.index().tracks[track].frames;
        let start = if start + span > track_frames {
            track_frames.saturating_sub(span)
        } else {
            start
        };
        // A track shorter than the span is read with its zero padding, as an unstretched
        // short track is.
        self.cache
            .window_into(track, start, span, 0.0, 1.0, &mut window);
        augmenter.stretch(&window, frames)
    }

    /// `[n, window frames, mels]` on `device` from `n` windows' values.
    fn tensor(&self, mel: Vec<f32>, n: usize, device: tch::Device) -> tch::Tensor {
        let frames = crate::cache::cache_frontend().window_frames;
        tch::Tensor::from_slice(&mel)
            .view([n as i64, frames as i64, self.cache.n_mels() as i64])
            .to_device(device)
    }

    /// Track indices of one part, over all subsets.
    pub fn part(&self, part: Part) -> Vec<usize> {
        self.split.tracks(part, &[Subset::A, Subset::B, Subset::C])
    }
}
