//! The four steps of a run, as the CLI calls them: prepare (dataset → mel cache), train
//! (→ checkpoints and report), eval (checkpoint → report) and export (checkpoint → model
//! directory the daemon loads, with a tch-vs-tract parity check).

use crate::cache::{self, CacheError};
use crate::config::RunConfig;
use crate::dataset::{self, DataError};
use crate::eval::{self, EvalError};
use crate::export::{self, ExportError, ExportInfo};
use crate::report::{self, EvalReport, ReportError};
use crate::run::{RunData, RunError};
use crate::split::{Origin, Part};
use crate::train::{self, device_for, TrainError, Trainable, BEST_WEIGHTS, LAST_WEIGHTS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Report files written into the work folder (and copied beside an exported model).
pub const REPORT_JSON: &str = "report.json";
/// The markdown report.
pub const REPORT_MD: &str = "report.md";
/// The training curves.
pub const CURVES_SVG: &str = "curves.svg";
/// Every track's subset and split part, so held-out tracks can be named and checked.
pub const SPLIT_JSON: &str = "split.json";

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The dataset could not be read.
    #[error("dataset: {0}")]
    Data(#[from] DataError),
    /// The mel cache could not be built.
    #[error("mel cache: {0}")]
    Cache(#[from] CacheError),
    /// The run's data could not be assembled.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Training failed.
    #[error("training: {0}")]
    Train(#[from] TrainError),
    /// Evaluation failed.
    #[error("evaluation: {0}")]
    Eval(#[from] EvalError),
    /// Export failed.
    #[error("export: {0}")]
    Export(#[from] ExportError),
    /// A report could not be written.
    #[error("report: {0}")]
    Report(#[from] ReportError),
    /// A checkpoint to load does not exist.
    #[error("{0}: no such checkpoint (train first, or name one with --checkpoint)")]
    NoCheckpoint(PathBuf),
    /// A file could not be copied.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What `prepare` did.
pub struct Prepared {
    /// Tracks in the cache.
    pub tracks: usize,
    /// Frames in the cache.
    pub frames: u64,
    /// Whether an existing cache was kept as it was.
    pub reused: bool,
    /// Audio files skipped because they were missing.
    pub missing_audio: usize,
    /// Audio files skipped because they could not be decoded.
    pub undecodable: usize,
}

/// Reads the dataset and builds (or keeps, when current) the mel cache.
pub fn prepare(
    config: &RunConfig,
    threads: usize,
    skip_undecodable: bool,
    force: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Prepared, PipelineError> {
    let loaded = dataset::load(&config.dataset)?;
    let dir = config.cache_dir();
    let reused = !force && cache::is_current(&dir, &loaded);
    let index = if reused {
        let changed = cache::refresh_annotations(&dir, &loaded)?;
        if changed > 0 {
            tracing::info!(
                tracks = changed,
                "kept the mel cache; copied the dataset's new tags, groups and sources"
            );
        }
        cache::MelCache::open(&dir)?.index().clone()
    } else {
        let total = loaded.tracks.len();
        cache::build(&dir, &loaded, threads, skip_undecodable, &|done| {
            progress(done, total)
        })?
    };
    Ok(Prepared {
        tracks: index.tracks.len(),
        frames: index.tracks.iter().map(|t| t.frames as u64).sum(),
        reused,
        missing_audio: index.missing_audio.len(),
        undecodable: index.undecodable.len(),
    })
}

/// Trains, then evaluates the best checkpoint and writes the report files.
pub fn train(
    config: &RunConfig,
    resume: bool,
    show_progress: bool,
    on_epoch: &mut dyn FnMut(&report::EpochRecord),
) -> Result<(EvalReport, train::TrainState), PipelineError> {
    let data = RunData::load(config)?;
    tracing::info!(
        tracks = data.cache.len(),
        labels = data.labels.names.len(),
        seen = data.seen.len(),
        unseen = data.unseen.len(),
        dropped = data.labels.dropped.len(),
        train = data.part(Part::Train).len(),
        validation = data.part(Part::Validation).len(),
        test = data.part(Part::Test).len(),
        mean = data.mean,
        std = data.std,
        "run data"
    );
    let outcome = train::train(config, &data, resume, show_progress, on_epoch)?;
    let report = evaluate_checkpoint(config, &data, &config.checkpoint_dir().join(BEST_WEIGHTS))?;
    Ok((report, outcome.state))
}

/// The checkpoint a step should load: `name` may be "best", "last" or a path.
pub fn checkpoint_path(config: &RunConfig, name: &str) -> PathBuf {
    match name {
        "best" => config.checkpoint_dir().join(BEST_WEIGHTS),
        "last" => config.checkpoint_dir().join(LAST_WEIGHTS),
        other => PathBuf::from(other),
    }
}

fn load_model(
    config: &RunConfig,
    data: &RunData,
    path: &Path,
) -> Result<(Trainable, tch::Device), PipelineError> {
    if !path.exists() {
        return Err(PipelineError::NoCheckpoint(path.to_path_buf()));
    }
    let device = device_for(config.train.device)?;
    let mut model = Trainable::initial(config, data.labels.dim, device);
    model.load(path)?;
    Ok((model, device))
}

fn training_history(config: &RunConfig) -> Vec<report::EpochRecord> {
    std::fs::read(config.checkpoint_dir().join(train::STATE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<train::TrainState>(&b).ok())
        .map(|s| s.history)
        .unwrap_or_default()
}

/// Evaluates a checkpoint on the run's test settings and writes report.json/.md/curves.svg.
pub fn evaluate_checkpoint(
    config: &RunConfig,
    data: &RunData,
    checkpoint: &Path,
) -> Result<EvalReport, PipelineError> {
    let (model, device) = load_model(config, data, checkpoint)?;
    let mut report = eval::evaluate(config, data, &model.net, device)?;
    report.epochs = training_history(config);
    write_split(config, data)?;
    report::write_json(&config.work_dir.join(REPORT_JSON), &report)?;
    report::write_markdown(&config.work_dir.join(REPORT_MD), &report)?;
    report::write_curves_svg(&config.work_dir.join(CURVES_SVG), &report.epochs)?;
    Ok(report)
}

/// Writes `split.json`: the held-out sources, and per track its id, path, usable labels,
/// source, subset, part and whether it is a cross-source test track.
fn write_split(config: &RunConfig, data: &RunData) -> Result<(), PipelineError> {
    let tracks: Vec<serde_json::Value> = data
        .cache
        .index()
        .tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({
                "id": t.id,
                "path": t.path,
                "labels": data.track_labels[i].iter().map(|&l| &data.labels.names[l]).collect::<Vec<_>>(),
                "source": t.source,
                "subset": data.split.subset[i].map(|s| s.to_string()),
                "part": data.split.part[i].to_string(),
                "cross_source": data.split.is_cross_source(i),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "seen": data.split.labels.seen,
        "unseen": data.split.labels.unseen,
        "held_out_sources": data.held_out_sources,
        "tracks": tracks,
    });
    let path = config.work_dir.join(SPLIT_JSON);
    let text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    hark::fsutil::write_atomic(&path, &text).map_err(|source| PipelineError::Io { path, source })
}

/// Evaluates a named checkpoint ("best", "last" or a path).
pub fn eval(config: &RunConfig, checkpoint: &str) -> Result<EvalReport, PipelineError> {
    let data = RunData::load(config)?;
    evaluate_checkpoint(config, &data, &checkpoint_path(config, checkpoint))
}

/// What `export` wrote and measured.
pub struct Exported {
    /// The model folder.
    pub dir: PathBuf,
    /// The score threshold written into model.toml.
    pub score_threshold: f32,
    /// Max |tch − tract| over the audio branch on test windows.
    pub audio_parity: f32,
    /// Max |tch − tract| over the word branch on every label.
    pub word_parity: f32,
}

/// Writes the model directory for a checkpoint and checks tch against tract on it.
pub fn export(
    config: &RunConfig,
    checkpoint: &str,
    out: Option<&Path>,
) -> Result<Exported, PipelineError> {
    let data = RunData::load(config)?;
    let path = checkpoint_path(config, checkpoint);
    let (model, device) = load_model(config, &data, &path)?;
    let calibration = eval::export_calibration(config, &data, &model.net, device)?;
    let recommended =
        eval::recommend_threshold(config, &data, &model.net, device, calibration.as_ref())?;
    let score_threshold = config
        .export
        .score_threshold
        .or(recommended.map(|(t, _)| t))
        .unwrap_or(0.0);
    let dir = out.map_or_else(|| config.export_dir(), Path::to_path_buf);
    let mut training: BTreeMap<String, toml::Value> = BTreeMap::new();
    let mut put = |k: &str, v: toml::Value| {
        training.insert(k.to_string(), v);
    };
    put("run", config.name.clone().into());
    put(
        "trainer",
        format!("hark-train {}", env!("CARGO_PKG_VERSION")).into(),
    );
    put("setup", config.split.setup.to_string().into());
    put("seed", (config.seed as i64).into());
    put(
        "dataset",
        format!("{:?}", config.dataset.kind).to_lowercase().into(),
    );
    put("tracks", (data.cache.len() as i64).into());
    put("train_tracks", (data.part(Part::Train).len() as i64).into());
    put(
        "validation_tracks",
        (data.part(Part::Validation).len() as i64).into(),
    );
    put("test_tracks", (data.part(Part::Test).len() as i64).into());
    if !data.held_out_sources.is_empty() {
        let sources: Vec<toml::Value> = data
            .held_out_sources
            .iter()
            .map(|s| s.clone().into())
            .collect();
        put("held_out_sources", sources.into());
    }
    put("seen_labels", (data.seen.len() as i64).into());
    put("unseen_labels", (data.unseen.len() as i64).into());
    put("margin", config.train.margin.into());
    put("learning_rate", config.train.learning_rate.into());
    put("batch_size", (config.train.batch_size as i64).into());
    put("negatives", (config.train.negatives as i64).into());
    put("audio_hidden", (config.model.audio_hidden as i64).into());
    let history = training_history(config);
    put("epochs", (history.len() as i64).into());
    put(
        "train_seconds",
        history.iter().map(|e| e.seconds).sum::<f64>().into(),
    );
    if let Some((t, f1)) = recommended {
        put(
            "threshold_rule",
            format!(
                "F1-best over validation tracks x seen labels: {t:.4} (F1 {f1:.3}){}",
                calibration.as_ref().map_or(String::new(), |c| format!(
                    ", on scores less {} of each word's training-track mean",
                    c.word_shift
                ))
            )
            .into(),
        );
    }
    if let Ok(r) = report::read_json(&config.work_dir.join(REPORT_JSON)) {
        // "auc_l (B+C)-Y", or "auc_l (B+C)-Y cross-source[ <source>]" with held-out sources.
        let key = |metric: &str, test: &str, origin: Origin, source: &Option<String>| match (
            origin, source,
        ) {
            (Origin::All, _) => format!("{metric} {test}"),
            (other, None) => format!("{metric} {test} {other}"),
            (other, Some(source)) => format!("{metric} {test} {other} {source}"),
        };
        for row in &r.retrieval {
            if let Some(auc) = row.metrics.auc {
                put(
                    &key("auc_l", &row.test, row.origin, &row.source),
                    auc.into(),
                );
            }
        }
        for row in &r.annotation {
            if let Some(auc) = row.metrics.auc {
                put(
                    &key("auc_i", &row.test, row.origin, &row.source),
                    auc.into(),
                );
            }
        }
        put("report", REPORT_MD.into());
    }
    let mut frontend = cache::cache_frontend();
    frontend.mean = data.mean;
    frontend.std = data.std;
    let description = if config.export.description.is_empty() {
        format!(
            "Trained by hark-train on {} tracks ({} seen labels)",
            data.cache.len(),
            data.seen.len()
        )
    } else {
        config.export.description.clone()
    };
    // Parity on real test windows (up to 16) and every label's GloVe vector.
    let window = cache::cache_frontend().window_frames;
    let mut windows = Vec::new();
    let mut n = 0;
    for track in data
        .part(Part::Test)
        .into_iter()
        .chain(data.part(Part::Train))
        .take(16)
    {
        data.cache
            .window_into(track, 0, window, data.mean, data.std, &mut windows);
        n += 1;
    }
    let cpu_model = if device == tch::Device::Cpu {
        None
    } else {
        let (m, _) = load_model(&cpu_config(config), &data, &path)?;
        Some(m)
    };
    let net = cpu_model.as_ref().map_or(&model.net, |m| &m.net);
    let extra_files: Vec<PathBuf> = [REPORT_JSON, REPORT_MD, CURVES_SVG]
        .iter()
        .map(|file| config.work_dir.join(file))
        .filter(|from| from.exists())
        .collect();
    let checked = export::export_checked(
        &dir,
        &model.net,
        net,
        ExportInfo {
            name: &config.name,
            version: &config.export.version,
            description: &description,
            glove_identity: data.glove.identity(),
            glove_dim: data.glove.dim(),
            frontend,
            score_threshold,
            calibration,
            training,
        },
        &extra_files,
        &export::ParityInput {
            windows: &windows,
            n,
            glove: &data.labels.vectors,
            m: data.labels.names.len(),
        },
    )?;
    let (audio_parity, word_parity) = (checked.audio_parity, checked.word_parity);
    Ok(Exported {
        dir,
        score_threshold,
        audio_parity,
        word_parity,
    })
}

fn cpu_config(config: &RunConfig) -> RunConfig {
    let mut c = config.clone();
    c.train.device = crate::config::DeviceChoice::Cpu;
    c
}
