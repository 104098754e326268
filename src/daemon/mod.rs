//! The daemon: `source → pipeline → publisher`.
//!
//! - [`pipeline`]: the stream processing as one synchronous state machine (clock, levels,
//!   front-end, encoder, segmenter, scorer), unit-tested call by call;
//! - [`workers`]: the source thread and the pipeline thread, thin adapters around it that
//!   report how they ended;
//! - [`supervisor`]: the async side — MQTT publishing, signals, commands, vocabulary reloads,
//!   the systemd watchdog and orderly shutdown;
//! - [`messages`]: the typed `track`, `now` and `diagnostic` messages;
//! - [`vocabulary`]: the vocabulary slot, the file watcher and the reload.
//!
//! A live device never waits (audio past the queue limit is dropped, counted and reported as
//! a gap); a file or pipe waits instead, so it loses nothing.

pub mod health;
pub mod live;
pub mod messages;
pub mod pipeline;
pub mod supervisor;
pub mod vocabulary;
pub mod workers;

use crate::audio::source::{run_source, SourceEvent, SourceStats};
use crate::config::{Settings, SourceKind};
use crate::history::HistoryWriter;
use crate::model::Model;
use crate::mqtt::{Publisher, PublisherHandle};
use crate::score::Selection;
use crate::vocab::glove::GloveStore;
use crate::vocab::{load_scorer, VocabLoadError};
use live::Live;
use messages::MessageContext;
use pipeline::{Pipeline, PipelineSettings};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use supervisor::{notify_systemd, Ending, Supervisor};
use thiserror::Error;
use vocabulary::{Reloader, VocabularySlot};
use workers::{spawn_worker, Heartbeat, PipelineLinks, PipelineStats, WorkerExit};

/// What stops the daemon from starting, or makes it end with an error.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The model, GloVe store or vocabulary could not be loaded.
    #[error(transparent)]
    Load(#[from] VocabLoadError),
    /// The MQTT publisher could not start (bad TLS files, unwritable state directory, ...).
    #[error("mqtt: {0}")]
    Mqtt(String),
    /// The async runtime or a thread could not start.
    #[error("runtime: {0}")]
    Runtime(String),
    /// A pipeline thread panicked or failed; the service manager should restart the daemon.
    #[error("pipeline failed: {0}")]
    Worker(String),
    /// The web server could not start (its address is taken or not on this machine).
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
}

/// Runs the daemon until a signal, a shutdown, or (with `exit_at_end`) the end of the input.
pub fn run(settings: Settings) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("hark-async")
        .build()
        .map_err(|e| DaemonError::Runtime(e.to_string()))?;
    runtime.block_on(run_async(settings))
}

async fn run_async(settings: Settings) -> Result<(), DaemonError> {
    let started = Instant::now();
    let loaded = Loaded::load(&settings)?;
    let publisher = start_publisher(&settings)?;
    let mqtt = publisher.as_ref().map(|(h, _)| h.clone());
    let (threads, supervisor) = start_pipeline(&settings, &loaded, mqtt)?;
    let web = crate::web::start(
        &settings,
        supervisor.live.clone(),
        history_reader(&settings, &loaded),
    )
    .await?;
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    tracing::info!(ready_ms = started.elapsed().as_millis() as u64, "READY");
    let ending = supervisor.run().await;
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    if let Some(web) = web {
        web.abort();
    }
    join_threads(threads).await;
    if let Some((handle, task)) = publisher {
        if let Err(e) = handle.shutdown().await {
            tracing::warn!(error = %e, "MQTT shutdown was not clean");
        }
        let _ = task.await;
    }
    match ending {
        Ending::Clean => Ok(()),
        Ending::WorkerFailed(why) => Err(DaemonError::Worker(why)),
    }
}

/// What the web page reads the history through, when it is on: the model and store already
/// loaded, and the selection rule the pipeline applies.
fn history_reader(settings: &Settings, loaded: &Loaded) -> Option<crate::history::Reader> {
    settings.history.enabled.then(|| crate::history::Reader {
        path: crate::history::path_in(&settings.daemon.state_dir),
        model: loaded.model.clone(),
        glove: loaded.glove.clone(),
        selection: pipeline_settings(settings, &loaded.model).selection,
    })
}

/// Everything loaded before READY=1.
struct Loaded {
    model: Arc<Model>,
    glove: Arc<GloveStore>,
    slot: Arc<VocabularySlot>,
}

impl Loaded {
    fn load(settings: &Settings) -> Result<Self, DaemonError> {
        let t0 = Instant::now();
        let model = Arc::new(Model::load(&settings.model.dir).map_err(VocabLoadError::from)?);
        let glove =
            Arc::new(GloveStore::open(&settings.model.glove).map_err(VocabLoadError::from)?);
        let scorer = load_scorer(&model, &glove, &settings.model.vocabulary)?;
        tracing::info!(
            model = %model.identity(),
            glove = glove.identity(),
            tags = scorer.scorer.len(),
            vocabulary = %scorer.identity,
            load_ms = t0.elapsed().as_millis() as u64,
            "model and vocabulary loaded"
        );
        Ok(Self {
            model,
            glove,
            slot: Arc::new(VocabularySlot::new(scorer)),
        })
    }
}

type PublisherParts = (PublisherHandle, tokio::task::JoinHandle<()>);

fn start_publisher(settings: &Settings) -> Result<Option<PublisherParts>, DaemonError> {
    if !settings.mqtt.enabled() {
        tracing::info!("mqtt.host is empty: MQTT off, tracks only printed");
        return Ok(None);
    }
    // The same composed settings `Settings::validate` checked; `start` checks them again.
    let parts =
        Publisher::start(settings.mqtt_settings()).map_err(|e| DaemonError::Mqtt(e.to_string()))?;
    Ok(Some(parts))
}

/// Starts the source and pipeline threads and returns them with the supervisor that runs
/// beside them.
fn start_pipeline(
    settings: &Settings,
    loaded: &Loaded,
    mqtt: Option<PublisherHandle>,
) -> Result<(Vec<NamedThread>, Supervisor), DaemonError> {
    let stop = Arc::new(AtomicBool::new(false));
    let source_stats = Arc::new(SourceStats::default());
    let stats = Arc::new(PipelineStats::default());
    let heartbeat = Arc::new(Heartbeat::default());
    let (exits_tx, exits) = tokio::sync::mpsc::unbounded_channel();
    let (events_tx, events) = crossbeam_channel::bounded::<SourceEvent>(256);
    let (commands, commands_rx) = crossbeam_channel::bounded(16);
    let (out_tx, out) = tokio::sync::mpsc::channel(64);

    let source = spawn_source(
        settings,
        loaded,
        &stop,
        &source_stats,
        events_tx,
        exits_tx.clone(),
    )?;
    let links = PipelineLinks {
        events,
        commands: commands_rx,
        out: out_tx,
        stop: stop.clone(),
        source_stats: source_stats.clone(),
        stats: stats.clone(),
        heartbeat: heartbeat.clone(),
        context: MessageContext {
            device: settings.device_id(),
            model: loaded.model.identity(),
            wall_origin: SystemTime::now(),
            include_embedding: settings.mqtt.track_embedding,
        },
    };
    let worker = spawn_pipeline(settings, loaded, links, exits_tx)?;
    let reloader = Reloader::new(
        loaded.model.clone(),
        loaded.glove.clone(),
        settings.model.vocabulary.clone(),
        loaded.slot.clone(),
    );
    let history = start_history(settings, mqtt.clone())?;
    let live = Arc::new(Live::new(
        settings.device_id(),
        loaded.model.identity(),
        (stats.clone(), source_stats.clone()),
        history.as_ref().map(HistoryWriter::stats),
        mqtt.clone(),
        reloader.clone(),
    ));
    let supervisor = Supervisor {
        out,
        commands,
        exits,
        stop,
        heartbeat,
        reloader,
        watch_vocabulary: settings.model.watch_vocabulary,
        mqtt,
        print_tracks: settings.daemon.print_tracks,
        exit_at_end: settings.daemon.exit_at_end && settings.source.kind != SourceKind::Alsa,
        stats: (stats, source_stats),
        history,
        live,
    };
    Ok((vec![("source", source), ("pipeline", worker)], supervisor))
}

/// Starts the history writer when `history.enabled`; its notices (a corrupt file moved
/// aside, writes failing and recovering) are logged by the writer and published, retained,
/// on `diagnostic/history`.
fn start_history(
    settings: &Settings,
    mqtt: Option<PublisherHandle>,
) -> Result<Option<HistoryWriter>, DaemonError> {
    if !settings.history.enabled {
        return Ok(None);
    }
    let path = crate::history::path_in(&settings.daemon.state_dir);
    tracing::info!(file = %path.display(), "track history on");
    let notices = move |notice: crate::history::HistoryNotice| {
        if let Some(h) = &mqtt {
            let payload = serde_json::to_value(&notice).unwrap_or_default();
            if let Err(e) = h.publish_retained_suffix("diagnostic/history", &payload) {
                tracing::debug!(error = %e, "history diagnostic not sent");
            }
        }
    };
    HistoryWriter::start(path, settings.history.clone(), notices)
        .map(Some)
        .map_err(|e| DaemonError::Runtime(e.to_string()))
}

/// Starts the pipeline thread around a [`Pipeline`] built from the configuration and model.
fn spawn_pipeline(
    settings: &Settings,
    loaded: &Loaded,
    links: PipelineLinks,
    exits: tokio::sync::mpsc::UnboundedSender<WorkerExit>,
) -> Result<JoinHandle<()>, DaemonError> {
    let pipeline = Pipeline::new(
        loaded.model.clone(),
        loaded.slot.clone(),
        pipeline_settings(settings, &loaded.model),
    );
    spawn_worker("pipeline", exits, move || {
        workers::run_pipeline(pipeline, links);
        Ok(())
    })
    .map_err(|e| DaemonError::Runtime(e.to_string()))
}

/// A worker thread and the name its logs use.
type NamedThread = (&'static str, JoinHandle<()>);

/// Starts the capture thread; a source that fails ends the stream (the pipeline flushes) and
/// reports the failure, so the daemon exits non-zero.
fn spawn_source(
    settings: &Settings,
    loaded: &Loaded,
    stop: &Arc<AtomicBool>,
    stats: &Arc<SourceStats>,
    events: crossbeam_channel::Sender<SourceEvent>,
    exits: tokio::sync::mpsc::UnboundedSender<WorkerExit>,
) -> Result<JoinHandle<()>, DaemonError> {
    let (source, stop, stats) = (settings.source.clone(), stop.clone(), stats.clone());
    let queue_s = queue_seconds(settings, &loaded.model);
    spawn_worker("source", exits, move || {
        run_source(&source, &events, &stop, &stats, queue_s).map_err(|e| {
            tracing::error!(error = %e, "audio source failed");
            let _ = events.send(SourceEvent::End);
            e.to_string()
        })
    })
    .map_err(|e| DaemonError::Runtime(e.to_string()))
}

/// The pipeline's settings, composed from the configuration and the model's defaults.
fn pipeline_settings(settings: &Settings, model: &Model) -> PipelineSettings {
    PipelineSettings {
        hop_frames: settings.stream.window_hop_frames,
        selection: Selection {
            threshold: settings
                .tags
                .threshold
                .unwrap_or(model.manifest.score_threshold),
            top_k: settings.tags.top_k,
        },
        now_interval_s: settings.tags.now_interval_s,
        tracks: settings.tracks.clone(),
        keep_window_embeddings: settings.history.enabled && settings.history.window_embeddings,
        health: settings.health.clone(),
    }
}

/// Seconds of audio a live device may queue for the pipeline: `stream.queue_windows` windows.
fn queue_seconds(settings: &Settings, model: &Model) -> f64 {
    settings.stream.queue_windows.max(1) as f64 * pipeline::window_s(&model.manifest.frontend)
}

/// Waits a bounded time for each thread: a stdin source blocked in read() on a quiet pipe
/// never sees `stop`, and must not hold the exit (and the outbox flush) hostage.
async fn join_threads(threads: Vec<NamedThread>) {
    for (name, t) in threads {
        let deadline = Instant::now() + Duration::from_secs(3);
        while !t.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !t.is_finished() {
            tracing::warn!(
                thread = name,
                "pipeline thread still blocked at exit; not waiting for it"
            );
            continue;
        }
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
}
