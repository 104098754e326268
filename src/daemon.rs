//! The daemon: wires capture, front-end, encoder, tracks, scoring and MQTT together.
//!
//! Threads, joined by bounded channels so memory never grows:
//! - source: device, file or stdin → mono chunks (a device never waits: full → dropped, counted)
//! - front-end: chunk levels + mel windows at the configured hop (full encoder queue → window
//!   dropped, counted)
//! - tracker: encoder → segmenter → scorer → track and `now` messages
//!
//! The async side (tokio) carries MQTT, signals, the vocabulary watcher and the systemd
//! watchdog, which pings only while both pipeline threads keep beating.

use crate::audio::source::{run_source, SourceEvent, SourceStats};
use crate::config::{Settings, SourceKind};
use crate::frontend::StreamingFrontend;
use crate::model::Model;
use crate::mqtt::{Command, MqttSettings, Publisher, PublisherHandle};
use crate::score::{Selection, TagScore};
use crate::tagger::{load_scorer, TagError, VocabularyScorer};
use crate::track::{Boundary, FinishedTrack, Outcome, Segmenter};
use crate::vocab::glove::GloveStore;
use crossbeam_channel::{bounded, select, Receiver, Sender};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;

/// What stops the daemon from starting (once running, it logs and carries on instead).
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The model, GloVe store or vocabulary could not be loaded.
    #[error(transparent)]
    Load(#[from] TagError),
    /// The MQTT publisher could not start (bad TLS files, unwritable state directory, ...).
    #[error("mqtt: {0}")]
    Mqtt(String),
    /// The async runtime or a thread could not start.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// Counters of the running pipeline, logged periodically and at exit.
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Windows produced by the front-end.
    pub windows: AtomicU64,
    /// Windows dropped because the encoder fell behind.
    pub windows_dropped: AtomicU64,
    /// Tracks published.
    pub tracks: AtomicU64,
    /// Tracks dropped for being shorter than the minimum.
    pub tracks_short: AtomicU64,
    /// Gaps in the audio (device lost, pipeline full).
    pub gaps: AtomicU64,
}

/// What the front-end thread hands the tracker: the levels of the audio since the last
/// message and, unless dropped, the window that just completed.
#[derive(Debug)]
enum Frames {
    Levels(Vec<Level>),
    Window {
        levels: Vec<Level>,
        start_s: f64,
        end_s: f64,
        mel: Option<Vec<f32>>,
    },
    Gap,
    End,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    start_s: f64,
    end_s: f64,
    db: f32,
}

/// Orders for the tracker thread from the async side.
#[derive(Debug)]
enum Control {
    NewTrack,
    Vocabulary(Arc<VocabularyScorer>),
    Shutdown,
}

/// Messages from the tracker to the publisher side.
#[derive(Debug)]
enum Output {
    Track {
        id: String,
        payload: serde_json::Value,
    },
    Now(serde_json::Value),
    Finished,
}

/// Liveness beats of the pipeline threads, read by the watchdog.
#[derive(Debug)]
struct Heartbeats {
    origin: Instant,
    frontend_ms: AtomicU64,
    tracker_ms: AtomicU64,
}

impl Heartbeats {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            frontend_ms: AtomicU64::new(0),
            tracker_ms: AtomicU64::new(0),
        }
    }
    fn beat(&self, which: &AtomicU64) {
        which.store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn fresh(&self, limit: Duration) -> bool {
        let now = self.origin.elapsed().as_millis() as u64;
        let limit = limit.as_millis() as u64;
        now.saturating_sub(self.frontend_ms.load(Ordering::Relaxed)) < limit
            && now.saturating_sub(self.tracker_ms.load(Ordering::Relaxed)) < limit
    }
}

/// Everything loaded before READY=1.
struct Loaded {
    model: Arc<Model>,
    glove: Arc<GloveStore>,
    scorer: Arc<VocabularyScorer>,
}

fn load(settings: &Settings) -> Result<Loaded, DaemonError> {
    let t0 = Instant::now();
    let model = Arc::new(Model::load(&settings.model.dir).map_err(TagError::from)?);
    let glove = Arc::new(GloveStore::open(&settings.model.glove).map_err(TagError::from)?);
    let scorer = Arc::new(load_scorer(&model, &glove, &settings.model.vocabulary)?);
    tracing::info!(
        model = %model.identity(),
        glove = glove.identity(),
        tags = scorer.scorer.len(),
        vocabulary = %scorer.identity,
        load_ms = t0.elapsed().as_millis() as u64,
        "model and vocabulary loaded"
    );
    Ok(Loaded {
        model,
        glove,
        scorer,
    })
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
    let loaded = load(&settings)?;
    let device = settings.device_id();

    let publisher = if settings.mqtt.host.is_empty() {
        tracing::info!("mqtt.host is empty: MQTT off, tracks only printed");
        None
    } else {
        let (handle, task) = Publisher::start(mqtt_settings(&settings, &device))
            .map_err(|e| DaemonError::Mqtt(e.to_string()))?;
        Some((handle, task))
    };
    let handle: Option<PublisherHandle> = publisher.as_ref().map(|(h, _)| h.clone());

    // Pipeline threads.
    let stop = Arc::new(AtomicBool::new(false));
    let source_stats = Arc::new(SourceStats::default());
    let stats = Arc::new(PipelineStats::default());
    let beats = Arc::new(Heartbeats::new());
    let (chunk_tx, chunk_rx) = bounded::<SourceEvent>(256);
    let (frames_tx, frames_rx) = bounded::<Frames>(settings.stream.queue_windows.max(1) * 4);
    let (control_tx, control_rx) = bounded::<Control>(16);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Output>(64);
    let queued_windows = Arc::new(AtomicU64::new(0));

    let source_thread = {
        let (s, stop, stats) = (settings.source.clone(), stop.clone(), source_stats.clone());
        std::thread::Builder::new()
            .name("hark-source".into())
            .spawn(move || {
                if let Err(e) = run_source(&s, &chunk_tx, &stop, &stats) {
                    tracing::error!(error = %e, "audio source failed");
                    let _ = chunk_tx.send(SourceEvent::End);
                }
            })
            .map_err(|e| DaemonError::Runtime(e.to_string()))?
    };
    let frontend_thread = {
        let params = loaded.model.manifest.frontend.clone();
        let hop = settings.stream.window_hop_frames;
        // A live device cannot wait, so a full queue drops windows; a file or pipe can wait,
        // so it never loses a window (the bounded channel pushes back to the reader instead).
        let limit = if settings.source.kind == SourceKind::Alsa {
            settings.stream.queue_windows as u64
        } else {
            u64::MAX
        };
        let (stats, beats, queued, stop) = (
            stats.clone(),
            beats.clone(),
            queued_windows.clone(),
            stop.clone(),
        );
        std::thread::Builder::new()
            .name("hark-frontend".into())
            .spawn(move || {
                frontend_loop(
                    params, hop, limit, chunk_rx, frames_tx, &stats, &beats, &queued, &stop,
                )
            })
            .map_err(|e| DaemonError::Runtime(e.to_string()))?
    };
    let tracker_thread = {
        let ctx = TrackerContext {
            model: loaded.model.clone(),
            scorer: loaded.scorer.clone(),
            segmenter: Segmenter::new(settings.tracks.clone(), loaded.model.manifest.embedding_dim),
            threshold: settings
                .tags
                .threshold
                .unwrap_or(loaded.model.manifest.score_threshold),
            top_k: settings.tags.top_k,
            now_interval: Duration::from_secs_f64(settings.tags.now_interval_s),
            device: device.clone(),
            stats: stats.clone(),
            beats: beats.clone(),
            queued: queued_windows.clone(),
            wall_origin: SystemTime::now(),
        };
        std::thread::Builder::new()
            .name("hark-tracker".into())
            .spawn(move || tracker_loop(ctx, frames_rx, control_rx, out_tx))
            .map_err(|e| DaemonError::Runtime(e.to_string()))?
    };

    notify_systemd(&[sd_notify::NotifyState::Ready]);
    tracing::info!(ready_ms = started.elapsed().as_millis() as u64, "READY");

    // Vocabulary reloads: file watcher, SIGHUP and the MQTT command all land here.
    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::channel::<&'static str>(4);
    let _watcher = if settings.model.watch_vocabulary {
        watch_vocabulary(settings.model.vocabulary.clone(), reload_tx.clone())
    } else {
        None
    };
    let mut commands = handle.as_ref().and_then(|h| h.commands());
    let mut hup = signal(tokio::signal::unix::SignalKind::hangup());
    let mut term = signal(tokio::signal::unix::SignalKind::terminate());
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt());
    let watchdog_every = watchdog_interval();
    let mut watchdog = tokio::time::interval(watchdog_every.unwrap_or(Duration::from_secs(3600)));
    let mut report = tokio::time::interval(Duration::from_secs(60));
    report.tick().await;
    let exit_at_end = settings.daemon.exit_at_end && settings.source.kind != SourceKind::Alsa;
    let mut shutting_down = false;
    // False once the tracker has finished (a file that ended with exit_at_end = false): its
    // closed channel would answer at once forever and spin this loop.
    let mut pipeline_open = true;
    let mut vocabulary_in_service = loaded.scorer.identity.clone();

    loop {
        tokio::select! {
            out = out_rx.recv(), if pipeline_open => match out {
                Some(Output::Track { id, payload }) => {
                    if settings.daemon.print_tracks {
                        println!("{payload}");
                    }
                    if let Some(h) = &handle {
                        if let Err(e) = h.publish_track(&id, payload).await {
                            tracing::error!(error = %e, id, "track not queued for MQTT");
                        }
                    }
                }
                Some(Output::Now(payload)) => {
                    if let Some(h) = &handle {
                        if let Err(e) = h.publish_now(&payload) {
                            tracing::debug!(error = %e, "now message not sent");
                        }
                    }
                }
                Some(Output::Finished) | None => {
                    if shutting_down || exit_at_end {
                        break;
                    }
                    pipeline_open = false;
                }
            },
            why = reload_rx.recv() => {
                if let Some(why) = why {
                    if let Some(id) = reload_vocabulary(why, &settings, &loaded, &vocabulary_in_service, &control_tx, handle.as_ref()).await {
                        vocabulary_in_service = id;
                    }
                }
            }
            cmd = recv_command(&mut commands) => match cmd {
                Ok(Command::NewTrack) => { let _ = control_tx.try_send(Control::NewTrack); }
                Ok(Command::Reload) => { let _ = reload_tx.try_send("mqtt command"); }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, "commands arrived faster than handled"),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => commands = None,
            },
            _ = recv_signal(&mut hup) => { let _ = reload_tx.try_send("SIGHUP"); }
            _ = recv_signal(&mut term), if !shutting_down => {
                tracing::info!("SIGTERM: flushing the current track and stopping");
                shutting_down = true;
                begin_shutdown(&stop, &control_tx);
                if !pipeline_open {
                    break;
                }
            }
            _ = recv_signal(&mut int), if !shutting_down => {
                tracing::info!("SIGINT: flushing the current track and stopping");
                shutting_down = true;
                begin_shutdown(&stop, &control_tx);
                if !pipeline_open {
                    break;
                }
            }
            _ = watchdog.tick(), if watchdog_every.is_some() => {
                // Pings only while both pipeline threads have beaten within the interval.
                if beats.fresh(watchdog_every.unwrap_or_default() * 2) {
                    notify_systemd(&[sd_notify::NotifyState::Watchdog]);
                } else {
                    tracing::warn!("pipeline stalled: withholding the watchdog ping");
                }
            }
            _ = report.tick() => log_stats(&stats, &source_stats, handle.as_ref()),
        }
    }

    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    stop.store(true, Ordering::Relaxed);
    let _ = control_tx.try_send(Control::Shutdown);
    for (name, t) in [
        ("source", source_thread),
        ("frontend", frontend_thread),
        ("tracker", tracker_thread),
    ] {
        // A stdin source blocked in read() on a quiet pipe never sees `stop`: a bounded wait
        // keeps it from holding the exit (and the outbox flush) hostage; exiting ends it.
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
        let joined = tokio::task::spawn_blocking(move || t.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::error!(thread = name, "pipeline thread ended abnormally");
        }
    }
    // Anything the tracker sent while we were joining still goes out.
    while let Ok(out) = out_rx.try_recv() {
        if let Output::Track { id, payload } = out {
            if settings.daemon.print_tracks {
                println!("{payload}");
            }
            if let Some(h) = &handle {
                let _ = h.publish_track(&id, payload).await;
            }
        }
    }
    log_stats(&stats, &source_stats, handle.as_ref());
    if let Some((handle, task)) = publisher {
        if let Err(e) = handle.shutdown().await {
            tracing::warn!(error = %e, "MQTT shutdown was not clean");
        }
        let _ = task.await;
    }
    Ok(())
}

fn begin_shutdown(stop: &AtomicBool, control: &Sender<Control>) {
    stop.store(true, Ordering::Relaxed);
    let _ = control.try_send(Control::Shutdown);
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
        .map_err(|e| tracing::warn!(error = %e, "cannot listen for a signal"))
        .ok()
}

async fn recv_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

async fn recv_command(
    c: &mut Option<tokio::sync::broadcast::Receiver<Command>>,
) -> Result<Command, tokio::sync::broadcast::error::RecvError> {
    match c {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!(error = %e, "sd_notify failed (not under systemd?)");
    }
}

fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0u64;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        Some(Duration::from_micros(usec / 2))
    } else {
        None
    }
}

fn log_stats(stats: &PipelineStats, source: &SourceStats, mqtt: Option<&PublisherHandle>) {
    tracing::info!(
        samples = source.samples.load(Ordering::Relaxed),
        samples_dropped = source.dropped_samples.load(Ordering::Relaxed),
        device_restarts = source.restarts.load(Ordering::Relaxed),
        windows = stats.windows.load(Ordering::Relaxed),
        windows_dropped = stats.windows_dropped.load(Ordering::Relaxed),
        tracks = stats.tracks.load(Ordering::Relaxed),
        tracks_short = stats.tracks_short.load(Ordering::Relaxed),
        gaps = stats.gaps.load(Ordering::Relaxed),
        outbox = mqtt.map(|h| h.outbox_len()).unwrap_or(0),
        "pipeline counters"
    );
}

fn mqtt_settings(s: &Settings, device: &str) -> MqttSettings {
    let m = &s.mqtt;
    let mut out = MqttSettings::new(m.host.clone(), device, s.daemon.state_dir.clone());
    out.port = m.port;
    if !m.client_id.is_empty() {
        out.client_id = m.client_id.clone();
    }
    out.username = m.username.clone();
    out.password = m.password.clone();
    out.keep_alive_secs = m.keep_alive_s;
    out.tls = m.tls.as_ref().map(|t| crate::mqtt::TlsSettings {
        ca_file: t.ca_file.clone(),
        client_cert: t.client_cert.clone(),
        client_key: t.client_key.clone(),
    });
    out.prefix = m.prefix.clone();
    out.home_assistant = m.home_assistant.enabled.then(|| {
        let mut ha = crate::mqtt::HaSettings::new(m.home_assistant.name.clone());
        ha.discovery_prefix = m.home_assistant.discovery_prefix.clone();
        ha
    });
    out.commands = m.commands;
    out.now_min_interval = Duration::from_secs_f64(s.tags.now_interval_s);
    out
}

/// Watches the vocabulary's directory (editors replace files by renaming) for changes to it.
fn watch_vocabulary(
    path: PathBuf,
    reload: tokio::sync::mpsc::Sender<&'static str>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = path
        .parent()
        .map(|p| p.to_path_buf())
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let name = path.file_name().map(|n| n.to_os_string());
    // (time of the latest event, whether a reload is scheduled)
    let pending = Arc::new(Mutex::new((Instant::now(), false)));
    let handler = move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        let ours = event
            .paths
            .iter()
            .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
        if ours && !matches!(event.kind, notify::EventKind::Access(_)) {
            // One reload per burst of events (an editor's save is several), 250 ms after the
            // burst's last event: no edit may fall between a scheduled read and the end of
            // a fixed quiet window and be lost.
            let quiet = Duration::from_millis(250);
            let mut state = pending.lock().unwrap_or_else(|e| e.into_inner());
            state.0 = Instant::now();
            if !state.1 {
                state.1 = true;
                let (reload, pending) = (reload.clone(), pending.clone());
                std::thread::spawn(move || loop {
                    std::thread::sleep(quiet);
                    let mut state = pending.lock().unwrap_or_else(|e| e.into_inner());
                    if state.0.elapsed() >= quiet {
                        // Cleared before the reload reads the file: a later event schedules
                        // another reload.
                        state.1 = false;
                        drop(state);
                        let _ = reload.blocking_send("file changed");
                        return;
                    }
                });
            }
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(mut w) => match w.watch(&dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the vocabulary; SIGHUP still reloads");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "no file watcher; SIGHUP still reloads the vocabulary");
            None
        }
    }
}

/// Loads the vocabulary again; on success swaps it in and returns its identity, on failure
/// keeps `in_service` and reports every error.
async fn reload_vocabulary(
    why: &str,
    settings: &Settings,
    loaded: &Loaded,
    in_service: &str,
    control: &Sender<Control>,
    mqtt: Option<&PublisherHandle>,
) -> Option<String> {
    let (model, glove, path) = (
        loaded.model.clone(),
        loaded.glove.clone(),
        settings.model.vocabulary.clone(),
    );
    let result = tokio::task::spawn_blocking(move || load_scorer(&model, &glove, &path)).await;
    match result {
        Ok(Ok(scorer)) => {
            tracing::info!(reason = why, tags = scorer.scorer.len(), vocabulary = %scorer.identity, "vocabulary reloaded");
            if let Some(h) = mqtt {
                let _ = h.publish_diagnostic(&json!({"vocabulary": scorer.identity, "ok": true, "tags": scorer.scorer.len(), "errors": []}));
            }
            let identity = scorer.identity.clone();
            let _ = control.try_send(Control::Vocabulary(Arc::new(scorer)));
            Some(identity)
        }
        Ok(Err(e)) => {
            let errors: Vec<String> = e.to_string().lines().map(str::to_string).collect();
            for line in &errors {
                tracing::error!(reason = why, error = %line, "vocabulary edit rejected; the previous vocabulary stays in service");
            }
            if let Some(h) = mqtt {
                let _ = h.publish_diagnostic(&json!({
                    "vocabulary": settings.model.vocabulary.display().to_string(),
                    "ok": false,
                    "errors": errors,
                    "in_service": in_service,
                }));
            }
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "vocabulary reload task failed");
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn frontend_loop(
    params: crate::frontend::FrontendParams,
    hop: usize,
    queue_limit: u64,
    chunks: Receiver<SourceEvent>,
    frames: Sender<Frames>,
    stats: &PipelineStats,
    beats: &Heartbeats,
    queued: &AtomicU64,
    stop: &AtomicBool,
) {
    let frame_s = params.hop_length as f64 / f64::from(params.sample_rate);
    let window_s = ((params.window_frames - 1) * params.hop_length + params.n_fft) as f64
        / f64::from(params.sample_rate);
    let mut frontend: Option<(u32, StreamingFrontend)> = None;
    let mut clock_s = 0.0f64; // stream time of the next input sample
    let mut window_index: u64 = 0;
    let mut epoch_s = 0.0f64; // stream time where the current front-end started
    let mut levels: Vec<Level> = Vec::new();
    loop {
        beats.beat(&beats.frontend_ms);
        let event = match chunks.recv_timeout(Duration::from_millis(500)) {
            Ok(e) => e,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                continue;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        match event {
            SourceEvent::Audio(chunk) => {
                let rate = chunk.rate;
                if frontend.as_ref().is_none_or(|(r, _)| *r != rate) {
                    match StreamingFrontend::new(&params, rate, hop) {
                        Ok(f) => {
                            frontend = Some((rate, f));
                            epoch_s = clock_s;
                            window_index = 0;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, rate, "cannot build the front-end for this rate");
                            continue;
                        }
                    }
                }
                // Levels on ~one STFT hop of input at a time, on the stream clock.
                let per = ((frame_s * f64::from(rate)).round() as usize).max(1);
                for part in chunk.samples.chunks(per) {
                    let dur = part.len() as f64 / f64::from(rate);
                    let rms = (part.iter().map(|x| x * x).sum::<f32>() / part.len() as f32).sqrt();
                    let db = 20.0 * rms.max(1e-10).log10();
                    levels.push(Level {
                        start_s: clock_s,
                        end_s: clock_s + dur,
                        db,
                    });
                    clock_s += dur;
                }
                let Some((_, fe)) = frontend.as_mut() else {
                    continue;
                };
                let mut ready: Vec<Vec<f32>> = Vec::new();
                if let Err(e) = fe.push(&chunk.samples, |w| ready.push(w.to_vec())) {
                    tracing::error!(error = %e, "front-end rejected a chunk; restarting it");
                    frontend = None;
                    continue;
                }
                for mel in ready {
                    stats.windows.fetch_add(1, Ordering::Relaxed);
                    let start_s = epoch_s + window_index as f64 * hop as f64 * frame_s;
                    window_index += 1;
                    let keep = queued.load(Ordering::Relaxed) < queue_limit;
                    if keep {
                        queued.fetch_add(1, Ordering::Relaxed);
                    } else {
                        stats.windows_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    let msg = Frames::Window {
                        levels: std::mem::take(&mut levels),
                        start_s,
                        end_s: start_s + window_s,
                        mel: keep.then_some(mel),
                    };
                    if frames.send(msg).is_err() {
                        return;
                    }
                }
                if levels.len() >= 256
                    && frames
                        .send(Frames::Levels(std::mem::take(&mut levels)))
                        .is_err()
                {
                    return;
                }
            }
            SourceEvent::Gap(seconds) => {
                stats.gaps.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(seconds, "audio gap");
                clock_s += seconds;
                frontend = None;
                if frames.send(Frames::Gap).is_err() {
                    return;
                }
            }
            SourceEvent::End => {
                let _ = frames.send(Frames::Levels(std::mem::take(&mut levels)));
                let _ = frames.send(Frames::End);
                return;
            }
        }
    }
    let _ = frames.send(Frames::End);
}

struct TrackerContext {
    model: Arc<Model>,
    scorer: Arc<VocabularyScorer>,
    segmenter: Segmenter,
    threshold: f32,
    top_k: usize,
    now_interval: Duration,
    device: String,
    stats: Arc<PipelineStats>,
    beats: Arc<Heartbeats>,
    queued: Arc<AtomicU64>,
    wall_origin: SystemTime,
}

fn tracker_loop(
    mut ctx: TrackerContext,
    frames: Receiver<Frames>,
    control: Receiver<Control>,
    out: tokio::sync::mpsc::Sender<Output>,
) {
    let mut last_now = Instant::now();
    let mut last_end_s = 0.0f64;
    let mut frames_open = true;
    loop {
        ctx.beats.beat(&ctx.beats.tracker_ms);
        let mut outcomes: Vec<Outcome> = Vec::new();
        select! {
            recv(frames) -> msg => match msg {
                Ok(Frames::Levels(levels)) => {
                    for l in levels {
                        outcomes.push(ctx.segmenter.push_level(l.start_s, l.end_s, l.db));
                    }
                }
                Ok(Frames::Window { levels, start_s, end_s, mel }) => {
                    for l in levels {
                        outcomes.push(ctx.segmenter.push_level(l.start_s, l.end_s, l.db));
                    }
                    if let Some(mel) = mel {
                        ctx.queued.fetch_sub(1, Ordering::Relaxed);
                        match ctx.model.audio.embed(&mel, 1) {
                            Ok(e) => outcomes.push(ctx.segmenter.push_window(start_s, end_s, &e)),
                            Err(e) => tracing::error!(error = %e, "encoder failed on a window"),
                        }
                    }
                    last_end_s = end_s;
                }
                Ok(Frames::Gap) => outcomes.push(ctx.segmenter.force_boundary(Boundary::EndOfStream, last_end_s)),
                Ok(Frames::End) | Err(_) => {
                    outcomes.push(ctx.segmenter.force_boundary(Boundary::EndOfStream, last_end_s));
                    frames_open = false;
                }
            },
            recv(control) -> msg => match msg {
                Ok(Control::NewTrack) => outcomes.push(ctx.segmenter.force_boundary(Boundary::Command, last_end_s)),
                Ok(Control::Vocabulary(s)) => ctx.scorer = s,
                Ok(Control::Shutdown) | Err(_) => {
                    outcomes.push(ctx.segmenter.force_boundary(Boundary::EndOfStream, last_end_s));
                    frames_open = false;
                }
            },
            default(Duration::from_millis(500)) => {}
        }
        for outcome in outcomes {
            if let Some(t) = outcome.dropped {
                ctx.stats.tracks_short.fetch_add(1, Ordering::Relaxed);
                tracing::info!(duration_s = t.duration_s(), boundary = ?t.boundary, "track shorter than tracks.min_track_s: not reported");
            }
            if let Some(t) = outcome.finished {
                ctx.stats.tracks.fetch_add(1, Ordering::Relaxed);
                let (id, payload) = track_message(&ctx, &t);
                if out.blocking_send(Output::Track { id, payload }).is_err() {
                    return;
                }
                last_now = Instant::now();
            }
        }
        if !frames_open {
            let _ = out.blocking_send(Output::Finished);
            return;
        }
        if last_now.elapsed() >= ctx.now_interval {
            if let Some((start_s, windows, mean)) = ctx.segmenter.provisional() {
                last_now = Instant::now();
                let tags = select_tags(&ctx, &mean);
                let payload = json!({
                    "device": ctx.device,
                    "started_at": wall_time(ctx.wall_origin, start_s),
                    "windows": windows,
                    "tags": tags,
                    "vocabulary": ctx.scorer.identity,
                });
                let _ = out.try_send(Output::Now(payload));
            }
        }
    }
}

fn select_tags(ctx: &TrackerContext, embedding: &[f32]) -> Vec<TagScore> {
    let rule = Selection {
        threshold: ctx.threshold,
        top_k: ctx.top_k,
    };
    match ctx.scorer.scorer.select(embedding, rule) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "scoring failed");
            Vec::new()
        }
    }
}

fn track_message(ctx: &TrackerContext, t: &FinishedTrack) -> (String, serde_json::Value) {
    let id = uuid::Uuid::new_v4().to_string();
    let tags = select_tags(ctx, &t.embedding);
    let payload = json!({
        "id": id,
        "device": ctx.device,
        "started_at": wall_time(ctx.wall_origin, t.start_s),
        "ended_at": wall_time(ctx.wall_origin, t.end_s),
        "stream_start_s": round3(t.start_s),
        "stream_end_s": round3(t.end_s),
        "duration_s": round3(t.duration_s()),
        "windows": t.windows,
        "boundary": t.boundary,
        "top": tags.first().map(|x| x.tag.clone()),
        "tags": tags,
        "model": ctx.model.identity(),
        "vocabulary": ctx.scorer.identity,
    });
    (id, payload)
}

fn wall_time(origin: SystemTime, offset_s: f64) -> String {
    let t = origin + Duration::from_secs_f64(offset_s.max(0.0));
    humantime::format_rfc3339_millis(t).to_string()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
