//! The two pipeline threads, as thin adapters: the source thread runs the capture, the
//! pipeline thread moves source events and commands into the [`Pipeline`] and its events out
//! as messages. Each thread says how it ended, so a panic is never mistaken for the end of
//! the input.

use super::messages::{MessageContext, NowMessage, TrackMessage};
use super::pipeline::{Pipeline, PipelineEvent};
use crate::audio::source::{SourceEvent, SourceStats};
use crossbeam_channel::{select, Receiver};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a worker thread ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerExit {
    /// It returned.
    Finished(&'static str),
    /// It returned an error (a source that cannot go on), already logged.
    Failed {
        /// The worker's name.
        name: &'static str,
        /// What went wrong.
        error: String,
    },
    /// It panicked, with the panic's message.
    Panicked {
        /// The worker's name.
        name: &'static str,
        /// What the panic said.
        message: String,
    },
}

/// Runs `work` on a named thread that reports its end, errors and panics included, on `exits`.
pub fn spawn_worker(
    name: &'static str,
    exits: tokio::sync::mpsc::UnboundedSender<WorkerExit>,
    work: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("hark-{name}"))
        .spawn(move || {
            let exit = match catch_unwind(AssertUnwindSafe(work)) {
                Ok(Ok(())) => WorkerExit::Finished(name),
                Ok(Err(error)) => WorkerExit::Failed { name, error },
                Err(panic) => WorkerExit::Panicked {
                    name,
                    message: panic_message(panic.as_ref()),
                },
            };
            if let WorkerExit::Panicked { message, .. } = &exit {
                tracing::error!(thread = name, panic = %message, "pipeline thread panicked");
            }
            let _ = exits.send(exit);
        })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Counters of the running pipeline, logged periodically and at exit.
#[derive(Debug)]
pub struct PipelineStats {
    /// Windows embedded.
    pub windows: AtomicU64,
    /// Windows the encoder failed on.
    pub encoder_failures: AtomicU64,
    /// Tracks published.
    pub tracks: AtomicU64,
    /// Tracks dropped for being shorter than the minimum.
    pub tracks_short: AtomicU64,
    /// Gaps in the audio (device lost, pipeline full).
    pub gaps: AtomicU64,
    /// Seconds the encoder took per window (`hark_encoder_seconds` on `/metrics`).
    pub encoder_seconds: prometheus_client::metrics::histogram::Histogram,
    /// Input level of the last second in hundredths of a dBFS; `i64::MIN` before any audio.
    pub level_centi_dbfs: AtomicI64,
}

impl PipelineStats {
    /// The input level of the last whole second of audio, in dBFS.
    pub fn level_dbfs(&self) -> Option<f32> {
        match self.level_centi_dbfs.load(Ordering::Relaxed) {
            i64::MIN => None,
            centi => Some(centi as f32 / 100.0),
        }
    }
}

impl Default for PipelineStats {
    fn default() -> Self {
        // 1 ms to about 4 s: a desktop core encodes a window in milliseconds, a Pi in tenths.
        let buckets = prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 13);
        Self {
            windows: AtomicU64::new(0),
            encoder_failures: AtomicU64::new(0),
            tracks: AtomicU64::new(0),
            tracks_short: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            encoder_seconds: prometheus_client::metrics::histogram::Histogram::new(buckets),
            level_centi_dbfs: AtomicI64::new(i64::MIN),
        }
    }
}

/// The liveness beat of the pipeline thread, read by the watchdog.
#[derive(Debug)]
pub struct Heartbeat {
    origin: Instant,
    last_ms: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Heartbeat {
    /// The thread is alive now.
    pub fn beat(&self) {
        let now = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Whether the last beat is younger than `limit`.
    pub fn fresh(&self, limit: Duration) -> bool {
        let now = self.origin.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_ms.load(Ordering::Relaxed)) < limit.as_millis() as u64
    }
}

/// Orders for the pipeline thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineCommand {
    /// End the track in progress (MQTT `cmd/new_track`).
    NewTrack,
}

/// A finished track as the async side receives it: the message, and the embeddings the
/// history keeps.
#[derive(Debug)]
pub struct FinishedOutput {
    /// The message to print and publish.
    pub message: TrackMessage,
    /// The track's mean embedding.
    pub embedding: Vec<f32>,
    /// Its window embeddings, when they are kept.
    pub windows: Option<Vec<Vec<f32>>>,
}

/// What the pipeline thread hands the async side.
#[derive(Debug)]
pub enum Output {
    /// A finished track to print, publish and keep.
    Track(Box<FinishedOutput>),
    /// Provisional tags.
    Now(NowMessage),
    /// The input's health changed.
    Health(super::health::HealthState),
    /// The input ended or the daemon is stopping; nothing follows.
    Finished,
}

/// Everything the pipeline thread reads and writes besides the pipeline itself.
pub struct PipelineLinks {
    /// Source events in.
    pub events: Receiver<SourceEvent>,
    /// Commands in.
    pub commands: Receiver<PipelineCommand>,
    /// Messages out.
    pub out: tokio::sync::mpsc::Sender<Output>,
    /// Set when the daemon stops: the track in progress is flushed.
    pub stop: Arc<AtomicBool>,
    /// The source's counters (the queue depth is released here).
    pub source_stats: Arc<SourceStats>,
    /// The pipeline's counters.
    pub stats: Arc<PipelineStats>,
    /// Beaten on every turn of the loop.
    pub heartbeat: Arc<Heartbeat>,
    /// Device, model and wall clock for the messages.
    pub context: MessageContext,
}

/// The pipeline thread's loop: runs until the input ends, the daemon stops or the other
/// side hangs up, and always flushes the track in progress on the way out.
pub fn run_pipeline(mut pipeline: Pipeline, links: PipelineLinks) {
    loop {
        links.heartbeat.beat();
        if links.stop.load(Ordering::Relaxed) {
            break;
        }
        select! {
            recv(links.events) -> event => {
                let Ok(event) = event else { break };
                links.source_stats.taken(&event);
                let end = event == SourceEvent::End;
                let events = pipeline.push(event);
                if let Some(level) = pipeline.health().level_dbfs {
                    let centi = (f64::from(level) * 100.0).round() as i64;
                    links.stats.level_centi_dbfs.store(centi, Ordering::Relaxed);
                }
                if !forward(&links, events) || end {
                    let _ = links.out.blocking_send(Output::Finished);
                    return;
                }
            }
            recv(links.commands) -> command => {
                if command == Ok(PipelineCommand::NewTrack) && !forward(&links, pipeline.new_track()) {
                    return;
                }
            }
            default(Duration::from_millis(200)) => {}
        }
    }
    forward(&links, pipeline.finish());
    let _ = links.out.blocking_send(Output::Finished);
}

/// Counts and sends the events; false once the async side is gone.
fn forward(links: &PipelineLinks, events: Vec<PipelineEvent>) -> bool {
    for event in events {
        let output = match event {
            PipelineEvent::Window { encode_s, .. } => {
                links.stats.windows.fetch_add(1, Ordering::Relaxed);
                links.stats.encoder_seconds.observe(encode_s);
                continue;
            }
            PipelineEvent::EncoderFailed(e) => {
                links.stats.encoder_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "encoder failed on a window");
                continue;
            }
            // A device loss first ends the track (a zero-length gap) and reports the hole's
            // length when the device is back: one gap, counted and logged once.
            PipelineEvent::Gap { at_s, seconds } => {
                if seconds > 0.0 {
                    links.stats.gaps.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(at_s, seconds, "audio gap");
                }
                continue;
            }
            PipelineEvent::ShortTrack(t) => {
                links.stats.tracks_short.fetch_add(1, Ordering::Relaxed);
                tracing::info!(duration_s = t.duration_s(), boundary = ?t.boundary, "track shorter than tracks.min_track_s: not reported");
                continue;
            }
            PipelineEvent::Track(t) => {
                links.stats.tracks.fetch_add(1, Ordering::Relaxed);
                Output::Track(Box::new(FinishedOutput {
                    message: TrackMessage::new(&links.context, &t),
                    embedding: t.track.embedding,
                    windows: t.windows,
                }))
            }
            PipelineEvent::Health(h) => {
                tracing::info!(
                    dead_air = h.dead_air,
                    clipping = h.clipping,
                    source_lost = h.source_lost,
                    level_dbfs = h.level_dbfs,
                    "input health changed"
                );
                Output::Health(h)
            }
            PipelineEvent::Now(n) => {
                // `now` is a hint: when the async side is busy, the next one will do.
                let _ = links
                    .out
                    .try_send(Output::Now(NowMessage::new(&links.context, &n)));
                continue;
            }
        };
        if links.out.blocking_send(output).is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_worker_reports_a_panic_not_a_finish() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let t = spawn_worker("doomed", tx.clone(), || panic!("encoder exploded")).unwrap();
        t.join().unwrap();
        let failed = spawn_worker("broken", tx.clone(), || Err("device gone".into())).unwrap();
        failed.join().unwrap();
        let ok = spawn_worker("fine", tx, || Ok(())).unwrap();
        ok.join().unwrap();
        assert_eq!(
            rx.try_recv().unwrap(),
            WorkerExit::Panicked {
                name: "doomed",
                message: "encoder exploded".into()
            }
        );
        assert_eq!(
            rx.try_recv().unwrap(),
            WorkerExit::Failed {
                name: "broken",
                error: "device gone".into()
            }
        );
        assert_eq!(rx.try_recv().unwrap(), WorkerExit::Finished("fine"));
    }

    #[test]
    fn a_heartbeat_goes_stale_when_its_thread_stops_beating() {
        let beat = Heartbeat::default();
        beat.beat();
        assert!(beat.fresh(Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!beat.fresh(Duration::from_millis(10)));
    }
}
