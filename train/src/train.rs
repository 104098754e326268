//! The training loop: random 130-frame crops of training tracks, one positive seen word and
//! K negative seen words per crop, the max-margin hinge loss on cosine similarity, SGD with
//! Nesterov momentum and Keras-style decay, a fixed validation set, LR cut on a plateau,
//! early stopping, and safetensors checkpoints from which a run resumes exactly.

use crate::config::{DeviceChoice, RunConfig};
use crate::metrics;
use crate::net::{cosine_matrix, hinge_loss, to_vec, NetError, ZeroShotNet};
use crate::report::EpochRecord;
use crate::run::{MixedWindow, RunData, TrainingCrop};
use crate::sampler::TrackSampler;
use crate::split::Part;
use hark::model::export::initial_weights;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device, Tensor};

/// Latest weights (resume point).
pub const LAST_WEIGHTS: &str = "last.safetensors";
/// Momentum buffers matching [`LAST_WEIGHTS`].
pub const LAST_MOMENTUM: &str = "last-momentum.safetensors";
/// Weights of the epoch with the best validation loss (what export uses).
pub const BEST_WEIGHTS: &str = "best.safetensors";
/// Loop state matching [`LAST_WEIGHTS`].
pub const STATE_FILE: &str = "state.json";

/// Why training stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// libtorch failed outside the model.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A checkpoint file could not be read or written.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// CUDA was asked for but libtorch sees no GPU.
    #[error("train.device = \"cuda\" but libtorch sees no CUDA device")]
    NoCuda,
    /// The loss became NaN or infinite.
    #[error("epoch {epoch}: the training loss is not finite ({loss}); lower train.learning_rate")]
    Diverged {
        /// The epoch.
        epoch: usize,
        /// The loss value.
        loss: f64,
    },
    /// There is no seen label to train on, or a training track has none.
    #[error("{0}")]
    NoLabels(String),
    /// `train.source_weights` does not fit this run's training tracks.
    #[error(transparent)]
    Sampler(#[from] crate::sampler::SamplerError),
}

/// The loop's state after an epoch, saved beside the weights so a run resumes where it was.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimiser steps taken (drives the decay).
    pub steps: u64,
    /// Plateau multiplier on the learning rate.
    pub lr_scale: f64,
    /// Best validation loss so far.
    pub best_validation: Option<f64>,
    /// The epoch that gave it.
    pub best_epoch: usize,
    /// Epochs since the validation loss last improved.
    pub since_best: usize,
    /// Epochs since the learning rate was last cut or the loss improved.
    pub since_cut: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// One record per epoch.
    pub history: Vec<EpochRecord>,
    /// Device the run trained on ("cpu" or "cuda:0").
    pub device: String,
}

impl TrainState {
    /// Books an epoch's validation loss: a new best, or a step towards a learning-rate cut
    /// and early stopping. True when it is the best so far (its weights are worth keeping).
    fn record_validation(
        &mut self,
        epoch: usize,
        validation_loss: f64,
        t: &crate::config::TrainConfig,
    ) -> bool {
        let improved = self
            .best_validation
            .is_none_or(|best| validation_loss < best - 1e-6);
        if improved {
            self.best_validation = Some(validation_loss);
            self.best_epoch = epoch;
            self.since_best = 0;
            self.since_cut = 0;
            return true;
        }
        self.since_best += 1;
        self.since_cut += 1;
        if self.since_cut >= t.plateau_patience {
            self.lr_scale *= t.plateau_factor;
            self.since_cut = 0;
            tracing::info!(
                epoch,
                lr_scale = self.lr_scale,
                "validation loss on a plateau: learning rate cut"
            );
        }
        if self.since_best >= t.early_stop_patience {
            self.stopped_early = true;
            tracing::info!(epoch, best_epoch = self.best_epoch, "early stop");
        }
        false
    }
}

/// Picks the libtorch device for a setting.
pub fn device_for(choice: DeviceChoice) -> Result<Device, TrainError> {
    match choice {
        DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => Err(TrainError::NoCuda),
    }
}

/// A human name for a device.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// A run's model: its var store and network, on one device.
pub struct Trainable {
    /// The variables (saved and loaded as safetensors).
    pub vs: nn::VarStore,
    /// The network over those variables.
    pub net: ZeroShotNet,
}

impl Trainable {
    /// The run's starting point: hark's seeded He-uniform weights (those of
    /// `hark model random --seed`), so CPU and GPU runs start from the same numbers.
    pub fn initial(config: &RunConfig, glove_dim: usize, device: Device) -> Self {
        let n_mels = crate::cache::cache_frontend().n_mels;
        let (audio, word) = initial_weights(
            config.seed,
            n_mels,
            config.model.audio_hidden,
            glove_dim,
            config.model.embedding_dim,
        );
        let vs = nn::VarStore::new(device);
        let net = ZeroShotNet::new(&vs.root(), &audio, &word);
        Self { vs, net }
    }

    /// Loads weights from a safetensors checkpoint into this model.
    pub fn load(&mut self, path: &Path) -> Result<(), TrainError> {
        // `load` copies under no_grad (reading into leaf variables otherwise fails) and picks
        // the safetensors format from the extension.
        self.vs.load(path).map_err(|e| checkpoint_err(path, e))
    }
}

fn checkpoint_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// SGD with Nesterov momentum, PyTorch's formulation (buf ← μ·buf + g; p ← p − lr·(g + μ·buf)),
/// written out so its buffers can be checkpointed and a resumed run continues exactly.
struct NesterovSgd {
    params: Vec<(String, Tensor)>,
    buffers: Vec<Tensor>,
    momentum: f64,
}

impl NesterovSgd {
    fn new(vs: &nn::VarStore, momentum: f64) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers = params.iter().map(|(_, p)| p.zeros_like()).collect();
        Self {
            params,
            buffers,
            momentum,
        }
    }

    fn step(&mut self, lr: f64) {
        tch::no_grad(|| {
            for ((_, p), buf) in self.params.iter_mut().zip(self.buffers.iter_mut()) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let _ = buf.g_mul_scalar_(self.momentum).g_add_(&g);
                let update = &g + &*buf * self.momentum;
                let _ = p.g_sub_(&(update * lr));
                p.zero_grad();
            }
        });
    }

    fn save(&self, path: &Path) -> Result<(), TrainError> {
        let named: Vec<(String, &Tensor)> = self
            .params
            .iter()
            .zip(&self.buffers)
            .map(|((n, _), b)| (n.clone(), b))
            .collect();
        Tensor::write_safetensors(&named, path).map_err(|e| checkpoint_err(path, e))
    }

    fn load(&mut self, path: &Path) -> Result<(), TrainError> {
        let saved = Tensor::read_safetensors(path).map_err(|e| checkpoint_err(path, e))?;
        for ((name, _), buf) in self.params.iter().zip(self.buffers.iter_mut()) {
            let Some((_, t)) = saved.iter().find(|(n, _)| n == name) else {
                return Err(checkpoint_err(
                    path,
                    format!("no momentum buffer for {name}"),
                ));
            };
            tch::no_grad(|| buf.copy_(t));
        }
        Ok(())
    }
}

/// ChaCha stream of an epoch's augmentation draws (the crops use the default stream 0).
const STREAM_AUGMENT: u64 = 5;

/// One crop's training example: track, crop start, positive and negative label rows.
struct Example {
    track: usize,
    start: usize,
    positive: i64,
    negatives: Vec<i64>,
    /// A second track's window mixed in (augmentation), whose labels joined the draw.
    mix: Option<MixedWindow>,
}

/// Labels of the track among the seen set, as rows of the seen-word table, with the
/// dataset's weight of each.
fn seen_rows(data: &RunData, track: usize, seen_row: &[Option<usize>]) -> Vec<(usize, f32)> {
    data.track_labels[track]
        .iter()
        .zip(&data.track_label_weights[track])
        .filter_map(|(&l, &w)| seen_row[l].map(|row| (row, w)))
        .collect()
}

fn draw_example(
    data: &RunData,
    track: usize,
    start: usize,
    seen_row: &[Option<usize>],
    n_seen: usize,
    negatives: usize,
    rng: &mut ChaCha8Rng,
) -> Option<Example> {
    let positives = seen_rows(data, track, seen_row);
    let (positive, negatives) = draw_words(&positives, n_seen, negatives, rng)?;
    Some(Example {
        track,
        start,
        positive,
        negatives,
        mix: None,
    })
}

/// One of `positives` (drawn in proportion to its weight) and `negatives` rows that are not
/// among them, or `None` when the positives are empty or every seen word.
fn draw_words(
    positives: &[(usize, f32)],
    n_seen: usize,
    negatives: usize,
    rng: &mut ChaCha8Rng,
) -> Option<(i64, Vec<i64>)> {
    if positives.is_empty() || positives.len() >= n_seen {
        return None;
    }
    let positive = positives[draw_weighted(positives, rng)].0;
    let mut negs = Vec::with_capacity(negatives);
    while negs.len() < negatives {
        // Rejection sampling: a track rarely carries more than a few of the seen labels.
        let candidate = rng.random_range(0..n_seen);
        if !positives.iter().any(|&(row, _)| row == candidate) {
            negs.push(candidate as i64);
        }
    }
    Some((positive as i64, negs))
}

/// An index into `weighted`, drawn in proportion to the weights. Equal weights draw exactly as
/// a uniform index always did, so a dataset without weights trains as before, crop for crop.
fn draw_weighted(weighted: &[(usize, f32)], rng: &mut ChaCha8Rng) -> usize {
    let first = weighted[0].1;
    if weighted.iter().all(|&(_, w)| w == first) {
        return rng.random_range(0..weighted.len());
    }
    // A plain cumulative draw rather than rand's WeightedIndex: hark-default 2.2.0 was trained
    // with this sequence of draws, and the recipe rebuilds it only if they stay the same.
    let total: f32 = weighted.iter().map(|&(_, w)| w).sum();
    let mut left = rng.random_range(0.0..total);
    for (i, &(_, w)) in weighted.iter().enumerate() {
        if left < w {
            return i;
        }
        left -= w;
    }
    weighted.len() - 1
}

/// Mixes a second training crop into `example` when the augmenter draws one: its words are
/// redrawn from the union of both tracks' labels. Draws only from `rng` (the augmentation
/// stream), so the first crops are the same with mixing or without.
#[allow(clippy::too_many_arguments)]
fn maybe_mix(
    example: &mut Example,
    data: &RunData,
    sampler: &TrackSampler,
    augmenter: &crate::augment::Augmenter,
    seen_row: &[Option<usize>],
    n_seen: usize,
    window: usize,
    rng: &mut ChaCha8Rng,
) {
    let Some(level_db) = augmenter.draw_mix(rng) else {
        return;
    };
    let track = sampler.draw(rng);
    let start = crop_start(data.cache.index().tracks[track].frames, window, rng);
    let mut union = seen_rows(data, example.track, seen_row);
    for (row, weight) in seen_rows(data, track, seen_row) {
        match union.iter_mut().find(|(r, _)| *r == row) {
            Some((_, w)) => *w = w.max(weight),
            None => union.push((row, weight)),
        }
    }
    if let Some((positive, negatives)) = draw_words(&union, n_seen, example.negatives.len(), rng) {
        example.positive = positive;
        example.negatives = negatives;
        example.mix = Some(MixedWindow {
            track,
            start,
            level_db,
        });
    }
}

fn crop_start(frames: usize, window: usize, rng: &mut ChaCha8Rng) -> usize {
    if frames > window {
        rng.random_range(0..=frames - window)
    } else {
        0
    }
}

/// Audio embeddings of the examples' crops.
fn batch_audio(data: &RunData, net: &ZeroShotNet, batch: &[Example], device: Device) -> Tensor {
    let windows: Vec<(usize, usize)> = batch.iter().map(|e| (e.track, e.start)).collect();
    net.audio(&data.windows_tensor(&windows, device))
}

/// Hinge loss of a batch given its audio embeddings (graph kept for backward).
fn batch_loss(
    net: &ZeroShotNet,
    audio: &Tensor,
    seen_table: &Tensor,
    batch: &[Example],
    margin: f64,
    device: Device,
) -> Tensor {
    let k = batch[0].negatives.len() as i64;
    let pos: Vec<i64> = batch.iter().map(|e| e.positive).collect();
    let neg: Vec<i64> = batch.iter().flat_map(|e| e.negatives.clone()).collect();
    let words = net.word(seen_table);
    let d = words.size()[1];
    let pos = words.index_select(0, &Tensor::from_slice(&pos).to_device(device));
    let neg = words
        .index_select(0, &Tensor::from_slice(&neg).to_device(device))
        .view([batch.len() as i64, k, d]);
    hinge_loss(audio, &pos, &neg, margin)
}

/// Window starts spread evenly over a track (at most `n`).
pub fn even_starts(frames: usize, window: usize, n: usize) -> Vec<usize> {
    let last = frames.saturating_sub(window);
    if n <= 1 || last == 0 {
        return vec![last / 2];
    }
    let n = n.min(last + 1);
    (0..n).map(|i| i * last / (n - 1)).collect()
}

/// What a finished (or stopped) training run reports.
pub struct TrainOutcome {
    /// The loop state at the end (history included).
    pub state: TrainState,
    /// Crops drawn per epoch.
    pub windows_per_epoch: usize,
}

/// Trains `config`'s run on `data`, resuming from the last checkpoint when `resume` is set;
/// `on_epoch` sees each finished epoch (for progress output).
pub fn train(
    config: &RunConfig,
    data: &RunData,
    resume: bool,
    show_progress: bool,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<TrainOutcome, TrainError> {
    let t = &config.train;
    if t.threads > 0 {
        tch::set_num_threads(t.threads as i32);
    }
    let device = device_for(t.device)?;
    tch::manual_seed(config.seed as i64);
    let window = crate::cache::cache_frontend().window_frames;
    let augmenter =
        crate::augment::Augmenter::new(t.augment.clone(), &crate::cache::cache_frontend());
    let n_seen = data.seen.len();
    if n_seen < 2 {
        return Err(TrainError::NoLabels(format!(
            "{n_seen} seen label(s) with GloVe vectors; training needs at least 2 (a positive and \
             a negative)"
        )));
    }
    let mut seen_row = vec![None; data.labels.names.len()];
    for (row, &l) in data.seen.iter().enumerate() {
        seen_row[l] = Some(row);
    }
    let seen_vectors: Vec<f32> = data
        .seen
        .iter()
        .flat_map(|&l| data.labels.vector(l).to_vec())
        .collect();
    let seen_table = Tensor::from_slice(&seen_vectors)
        .view([n_seen as i64, data.labels.dim as i64])
        .to_device(device);

    let sampler = track_sampler(data, &seen_row, n_seen, &t.source_weights)?;
    let validation = validation_examples(config, data, &seen_row, n_seen, window);

    let mut model = Trainable::initial(config, data.labels.dim, device);
    let mut opt = NesterovSgd::new(&model.vs, t.momentum);
    let dir = config.checkpoint_dir();
    std::fs::create_dir_all(&dir).map_err(|e| checkpoint_err(&dir, e))?;
    let state_path = dir.join(STATE_FILE);
    let mut state = TrainState {
        lr_scale: 1.0,
        device: device_name(device),
        ..TrainState::default()
    };
    if resume && state_path.exists() {
        let text = std::fs::read(&state_path).map_err(|e| checkpoint_err(&state_path, e))?;
        state = serde_json::from_slice(&text).map_err(|e| checkpoint_err(&state_path, e))?;
        model.load(&dir.join(LAST_WEIGHTS))?;
        opt.load(&dir.join(LAST_MOMENTUM))?;
        tracing::info!(
            epochs_done = state.epochs_done,
            steps = state.steps,
            "resumed"
        );
        state.device = device_name(device);
    }

    let steps_per_epoch = t.windows_per_epoch.div_ceil(t.batch_size);
    while state.epochs_done < t.epochs && !state.stopped_early {
        let epoch = state.epochs_done + 1;
        let started = Instant::now();
        // Per-epoch seeds: a resumed run draws exactly the crops an uninterrupted one would.
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(1_000_003) ^ epoch as u64);
        // Augmentation draws from its own stream, so the crops are the same with it or without.
        let mut arng = rng.clone();
        arng.set_stream(STREAM_AUGMENT);
        let bar = progress_bar(show_progress, steps_per_epoch as u64, epoch);
        let mut loss_sum = 0.0;
        let mut lr = 0.0;
        for step in 0..steps_per_epoch {
            let size = (t.windows_per_epoch - step * t.batch_size).min(t.batch_size);
            let mut batch: Vec<Example> = (0..size)
                .filter_map(|_| {
                    let track = sampler.draw(&mut rng);
                    let frames = data.cache.index().tracks[track].frames;
                    let start = crop_start(frames, window, &mut rng);
                    draw_example(data, track, start, &seen_row, n_seen, t.negatives, &mut rng)
                })
                .collect();
            lr = t.learning_rate * state.lr_scale / (1.0 + t.lr_decay * state.steps as f64);
            let audio = if augmenter.is_active() {
                for example in &mut batch {
                    maybe_mix(
                        example, data, &sampler, &augmenter, &seen_row, n_seen, window, &mut arng,
                    );
                }
                let crops: Vec<TrainingCrop> = batch
                    .iter()
                    .map(|e| TrainingCrop {
                        track: e.track,
                        start: e.start,
                        mix: e.mix,
                    })
                    .collect();
                let mel = data.augmented_windows_tensor(&crops, &augmenter, &mut arng, device);
                model.net.audio(&mel)
            } else {
                batch_audio(data, &model.net, &batch, device)
            };
            let loss = batch_loss(&model.net, &audio, &seen_table, &batch, t.margin, device);
            loss.backward();
            opt.step(lr);
            state.steps += 1;
            loss_sum += loss.double_value(&[]) * batch.len() as f64;
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let train_loss = loss_sum / t.windows_per_epoch as f64;
        if !train_loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch,
                loss: train_loss,
            });
        }
        let (validation_loss, validation_auc) =
            validate(data, &model.net, &seen_table, &validation, t.margin, device)?;
        let record = EpochRecord {
            epoch,
            train_loss,
            validation_loss,
            validation_auc,
            learning_rate: lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_epoch(&record);
        state.history.push(record);
        state.epochs_done = epoch;

        if state.record_validation(epoch, validation_loss, t) {
            save_weights(&model.vs, &dir.join(BEST_WEIGHTS))?;
        }
        save_weights(&model.vs, &dir.join(LAST_WEIGHTS))?;
        opt.save(&dir.join(LAST_MOMENTUM))?;
        let json = serde_json::to_vec_pretty(&state).map_err(|e| checkpoint_err(&state_path, e))?;
        write_atomic(&state_path, &json)?;
    }
    Ok(TrainOutcome {
        state,
        windows_per_epoch: t.windows_per_epoch,
    })
}

/// The training tracks (those with a seen label and a seen label they lack), drawn as
/// `train.source_weights` says; logs each source's share when weights are set.
fn track_sampler(
    data: &RunData,
    seen_row: &[Option<usize>],
    n_seen: usize,
    weights: &std::collections::BTreeMap<String, f64>,
) -> Result<TrackSampler, TrainError> {
    let train_tracks: Vec<usize> = data
        .part(Part::Train)
        .into_iter()
        .filter(|&i| {
            let rows = seen_rows(data, i, seen_row);
            !rows.is_empty() && rows.len() < n_seen
        })
        .collect();
    if train_tracks.is_empty() {
        return Err(TrainError::NoLabels(
            "no training track has a seen label (and a seen label it lacks)".into(),
        ));
    }
    let sampler = TrackSampler::new(train_tracks, &data.sources, weights)?;
    if !weights.is_empty() {
        for (source, share) in sampler.shares() {
            tracing::info!(source = %source, share = format!("{:.3}", share), "crop share");
        }
    }
    Ok(sampler)
}

/// A fixed validation set: evenly spaced crops with seeded positives and negatives.
fn validation_examples(
    config: &RunConfig,
    data: &RunData,
    seen_row: &[Option<usize>],
    n_seen: usize,
    window: usize,
) -> Vec<Example> {
    let t = &config.train;
    let mut vrng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7661_6c69);
    data.part(Part::Validation)
        .into_iter()
        .flat_map(|track| {
            let frames = data.cache.index().tracks[track].frames;
            even_starts(frames, window, t.validation_windows_per_track)
                .into_iter()
                .map(move |start| (track, start))
        })
        .filter_map(|(track, start)| {
            draw_example(data, track, start, seen_row, n_seen, t.negatives, &mut vrng)
        })
        .collect()
}

fn progress_bar(show: bool, len: u64, epoch: usize) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "epoch {msg} [{bar:30}] {pos}/{len} steps {elapsed_precise} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(epoch.to_string());
    Some(bar)
}

fn save_weights(vs: &nn::VarStore, path: &Path) -> Result<(), TrainError> {
    let tmp = path.with_extension("safetensors.tmp");
    // tch picks the format from the extension, so write `x.tmp.safetensors` then rename.
    let tmp = tmp.with_file_name(format!(
        "{}.tmp.safetensors",
        path.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("weights")
    ));
    vs.save(&tmp).map_err(|e| checkpoint_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| checkpoint_err(path, e))
}

/// hark's one atomic, durable write, so a crash mid-checkpoint never leaves half a state file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    hark::fsutil::write_atomic(path, bytes).map_err(|e| checkpoint_err(path, e))
}

/// Validation loss, and the mean per-crop AUC over the seen labels (None without crops).
fn validate(
    data: &RunData,
    net: &ZeroShotNet,
    seen_table: &Tensor,
    examples: &[Example],
    margin: f64,
    device: Device,
) -> Result<(f64, Option<f64>), TrainError> {
    if examples.is_empty() {
        return Ok((f64::NAN, None));
    }
    let n_seen = seen_table.size()[0] as usize;
    let mut loss_sum = 0.0;
    let mut scores: Vec<f32> = Vec::with_capacity(examples.len() * n_seen);
    let mut truth: Vec<bool> = Vec::with_capacity(examples.len() * n_seen);
    tch::no_grad(|| -> Result<(), TrainError> {
        let words = net.word(seen_table);
        for chunk in examples.chunks(64) {
            let audio = batch_audio(data, net, chunk, device);
            let loss = batch_loss(net, &audio, seen_table, chunk, margin, device);
            loss_sum += loss.double_value(&[]) * chunk.len() as f64;
            scores.extend(to_vec(&cosine_matrix(&audio, &words))?);
            for e in chunk {
                let mut row = vec![false; n_seen];
                for &l in &data.track_labels[e.track] {
                    if let Some(r) = data.seen.iter().position(|&s| s == l) {
                        row[r] = true;
                    }
                }
                truth.extend(row);
            }
        }
        Ok(())
    })?;
    let matrix = metrics::ScoreMatrix::new(&scores, &truth, examples.len(), n_seen);
    let auc = matrix
        .ok()
        .and_then(|m| metrics::annotation(&m).auc)
        .filter(|a| a.is_finite());
    Ok((loss_sum / examples.len() as f64, auc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::OptimizerConfig;

    fn quadratic_store() -> nn::VarStore {
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = vs
            .root()
            .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0, 0.5]));
        vs
    }

    fn loss_of(vs: &nn::VarStore) -> Tensor {
        let w = &vs.variables()["w"];
        (w * w * Tensor::from_slice(&[1.0f32, 3.0, 0.5])).sum(tch::Kind::Float)
    }

    #[test]
    fn nesterov_sgd_matches_libtorch() {
        let ours = quadratic_store();
        let theirs = quadratic_store();
        let mut opt = NesterovSgd::new(&ours, 0.9);
        let mut reference = nn::Sgd {
            momentum: 0.9,
            dampening: 0.0,
            wd: 0.0,
            nesterov: true,
        }
        .build(&theirs, 0.05)
        .expect("libtorch sgd");
        for _ in 0..5 {
            loss_of(&ours).backward();
            opt.step(0.05);
            reference.backward_step(&loss_of(&theirs));
        }
        let a = to_vec(&ours.variables()["w"]).expect("ours");
        let b = to_vec(&theirs.variables()["w"]).expect("theirs");
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
        assert!(a != [1.0, -2.0, 0.5], "no step was taken");
    }

    #[test]
    fn even_starts_cover_the_track() {
        assert_eq!(even_starts(130, 130, 4), vec![0]);
        assert_eq!(even_starts(100, 130, 4), vec![0]);
        assert_eq!(even_starts(430, 130, 4), vec![0, 100, 200, 300]);
        assert_eq!(even_starts(132, 130, 8), vec![0, 1, 2]);
    }

    #[test]
    fn positives_are_drawn_in_proportion_to_their_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let weighted = [(3, 0.6), (8, 0.3), (9, 0.1)];
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[draw_weighted(&weighted, &mut rng)] += 1;
        }
        for (count, (_, w)) in counts.iter().zip(weighted) {
            let share = *count as f32 / 20_000.0;
            assert!((share - w).abs() < 0.015, "{counts:?}");
        }
    }

    #[test]
    fn equal_weights_draw_as_the_uniform_index_did() {
        let mut ours = ChaCha8Rng::seed_from_u64(11);
        let mut uniform = ChaCha8Rng::seed_from_u64(11);
        let weighted = [(0, 1.0), (4, 1.0), (5, 1.0)];
        for _ in 0..100 {
            let expected = uniform.random_range(0..weighted.len());
            assert_eq!(draw_weighted(&weighted, &mut ours), expected);
        }
    }
}
