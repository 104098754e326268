//! The async side of the daemon: publishes what the pipeline thread produces, turns signals,
//! MQTT commands and file edits into orders, pings the systemd watchdog while the pipeline
//! lives, and decides how the daemon ends — cleanly, or non-zero when a worker failed.

use super::live::Live;
use super::vocabulary::{self, Reloader};
use super::workers::{
    FinishedOutput, Heartbeat, Output, PipelineCommand, PipelineStats, WorkerExit,
};
use crate::audio::source::SourceStats;
use crate::history::{HistoryRecord, HistoryWriter};
use crate::mqtt::{Command, PublisherHandle};
use crossbeam_channel::Sender;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{broadcast, mpsc};

/// How the daemon's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The input ended, or a signal asked the daemon to stop.
    Clean,
    /// A worker thread panicked or failed: the daemon must exit non-zero.
    WorkerFailed(String),
}

/// What the supervisor runs with.
pub struct Supervisor {
    /// Messages from the pipeline thread.
    pub out: mpsc::Receiver<Output>,
    /// Orders to the pipeline thread.
    pub commands: Sender<PipelineCommand>,
    /// How the worker threads ended.
    pub exits: mpsc::UnboundedReceiver<WorkerExit>,
    /// Set to stop the source and flush the pipeline.
    pub stop: Arc<AtomicBool>,
    /// The pipeline thread's liveness.
    pub heartbeat: Arc<Heartbeat>,
    /// Reloads the vocabulary on edits, SIGHUP and `cmd/reload`.
    pub reloader: Reloader,
    /// Whether file edits trigger reloads.
    pub watch_vocabulary: bool,
    /// MQTT, when a broker is configured.
    pub mqtt: Option<PublisherHandle>,
    /// Print each track as a JSON line on stdout.
    pub print_tracks: bool,
    /// Stop once the input ends (files and pipes only).
    pub exit_at_end: bool,
    /// Counters for the periodic log.
    pub stats: (Arc<PipelineStats>, Arc<SourceStats>),
    /// The track history, when it is on.
    pub history: Option<HistoryWriter>,
    /// What the web page and `/metrics` read.
    pub live: Arc<Live>,
}

/// The loop's mutable state, apart from its inputs.
#[derive(Debug, Default)]
struct State {
    shutting_down: bool,
    /// False once the pipeline thread has said `Finished` (or vanished).
    pipeline_open: bool,
    failure: Option<String>,
}

impl Supervisor {
    /// Runs until the daemon should end and says how it ended.
    pub async fn run(mut self) -> Ending {
        let mut state = State {
            pipeline_open: true,
            ..State::default()
        };
        let (reload_tx, mut reload_rx) = mpsc::channel::<&'static str>(4);
        let _watcher = self.watch(&reload_tx);
        let mut commands = self.mqtt.as_ref().and_then(|h| h.commands());
        let mut signals = Signals::new();
        let mut watchdog = Watchdog::from_env();
        let mut report = tokio::time::interval(Duration::from_secs(60));
        report.tick().await;
        // Every alarm starts clear: consumers (Home Assistant) see a state from the start.
        self.publish_health(&self.live.health());
        loop {
            tokio::select! {
                out = self.out.recv(), if state.pipeline_open => {
                    if self.on_output(out, &mut state).await { break; }
                }
                Some(why) = reload_rx.recv() => self.reload(why).await,
                cmd = recv_command(&mut commands) => self.on_command(cmd, &reload_tx, &mut commands),
                _ = Signals::recv(&mut signals.hup) => { let _ = reload_tx.try_send("SIGHUP"); }
                name = Signals::stop(&mut signals.term, &mut signals.int), if !state.shutting_down => {
                    tracing::info!(signal = name, "flushing the current track and stopping");
                    self.begin_shutdown(&mut state);
                    if !state.pipeline_open { break; }
                }
                Some(exit) = self.exits.recv() => {
                    if self.on_exit(exit, &mut state) { break; }
                }
                _ = watchdog.tick() => watchdog.ping_if(self.healthy(&state, watchdog.grace())),
                _ = report.tick() => self.log_stats(),
            }
        }
        self.finish(state).await
    }

    fn watch(&self, reload: &mpsc::Sender<&'static str>) -> Option<notify::RecommendedWatcher> {
        if !self.watch_vocabulary {
            return None;
        }
        let reload = reload.clone();
        vocabulary::watch(&self.reloader.path, move || {
            let _ = reload.blocking_send(vocabulary::FILE_CHANGED);
        })
    }

    /// Prints and publishes one finished track: one JSON value for both.
    async fn on_track(&mut self, message: &super::messages::TrackMessage) {
        // One JSON value for both, so what is printed is exactly what is published.
        let payload = match serde_json::to_value(message) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, id = message.id, "track not serialisable");
                return;
            }
        };
        if self.print_tracks {
            // A closed stdout (a pipe whose reader left) stops printing, not the daemon.
            let printed = writeln!(std::io::stdout().lock(), "{payload}");
            if let Err(e) = printed {
                tracing::warn!(error = %e, "stdout closed; tracks are no longer printed");
                self.print_tracks = false;
            }
        }
        if let Some(h) = &self.mqtt {
            if let Err(e) = h.publish_track(&message.id, payload).await {
                tracing::error!(error = %e, id = message.id, "track not queued for MQTT");
            }
        }
    }

    /// Hands a published track to the history writer (which never makes us wait).
    fn keep(&self, finished: FinishedOutput) {
        let Some(history) = &self.history else {
            return;
        };
        let started_ms = humantime::parse_rfc3339(&finished.message.started_at)
            .map(crate::history::store::unix_ms)
            .unwrap_or_else(|_| crate::history::store::unix_ms(std::time::SystemTime::now()));
        let windows = finished
            .windows
            .as_deref()
            .and_then(crate::history::WindowEmbeddings::quantize);
        history.record(HistoryRecord {
            started_ms,
            model: finished.message.tagged.model.clone(),
            message: finished.message,
            embedding: finished.embedding,
            windows,
        });
    }

    /// Handles one pipeline output; true when the loop should end.
    async fn on_output(&mut self, out: Option<Output>, state: &mut State) -> bool {
        match out {
            Some(Output::Track(finished)) => {
                self.live.track_finished(&finished.message);
                self.on_track(&finished.message).await;
                self.keep(*finished);
                false
            }
            Some(Output::Health(health)) => {
                self.publish_health(&health);
                self.live.set_health(health);
                false
            }
            Some(Output::Now(message)) => {
                self.live.set_now(message.clone());
                if let Some(h) = &self.mqtt {
                    let payload = serde_json::to_value(&message).unwrap_or_default();
                    if let Err(e) = h.publish_now(&payload) {
                        tracing::debug!(error = %e, "now message not sent");
                    }
                }
                false
            }
            Some(Output::Finished) => {
                state.pipeline_open = false;
                state.shutting_down || self.exit_at_end
            }
            None => {
                // Gone without saying `Finished`: its thread died; its exit report says how.
                state.pipeline_open = false;
                let exit = tokio::time::timeout(Duration::from_secs(2), self.exits.recv()).await;
                match exit {
                    Ok(Some(exit)) => self.on_exit(exit, state),
                    _ => {
                        // No report left: one already came (and said why), or the thread died
                        // without one.
                        state
                            .failure
                            .get_or_insert_with(|| "the pipeline thread vanished".into());
                        true
                    }
                }
            }
        }
    }

    /// Handles a worker's end; true when the loop should end.
    fn on_exit(&mut self, exit: WorkerExit, state: &mut State) -> bool {
        match exit {
            WorkerExit::Finished(_) => false,
            WorkerExit::Panicked { name, message } => {
                self.fail(format!("the {name} thread panicked: {message}"), state)
            }
            WorkerExit::Failed { name, error } => {
                self.fail(format!("the {name} thread failed: {error}"), state)
            }
        }
    }

    /// A worker is gone for a reason: stop, with an error, so the service manager restarts us.
    fn fail(&mut self, why: String, state: &mut State) -> bool {
        tracing::error!(reason = %why, "a pipeline thread failed: stopping with an error so the service manager restarts the daemon");
        state.failure.get_or_insert(why);
        self.begin_shutdown(state);
        true
    }

    fn on_command(
        &self,
        cmd: Result<Command, broadcast::error::RecvError>,
        reload: &mpsc::Sender<&'static str>,
        commands: &mut Option<broadcast::Receiver<Command>>,
    ) {
        match cmd {
            Ok(Command::NewTrack) => {
                if self.commands.try_send(PipelineCommand::NewTrack).is_err() {
                    tracing::warn!("new_track command not delivered: the pipeline is busy");
                }
            }
            Ok(Command::Reload) => {
                let _ = reload.try_send("mqtt command");
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "commands arrived faster than handled")
            }
            Err(broadcast::error::RecvError::Closed) => *commands = None,
        }
    }

    async fn reload(&self, why: &'static str) {
        let reloader = self.reloader.clone();
        match tokio::task::spawn_blocking(move || reloader.reload(why)).await {
            Ok(Some(message)) => self.live.vocabulary_reloaded(&message),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "vocabulary reload task failed"),
        }
    }

    /// Publishes the input's health (retained), read by Home Assistant's binary sensors.
    fn publish_health(&self, health: &super::health::HealthState) {
        if let Some(h) = &self.mqtt {
            let payload = serde_json::to_value(health).unwrap_or_default();
            if let Err(e) = h.publish_retained_suffix("health", &payload) {
                tracing::debug!(error = %e, "health not sent");
            }
        }
    }

    fn begin_shutdown(&self, state: &mut State) {
        state.shutting_down = true;
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The watchdog is fed only while the pipeline thread beats (or has ended cleanly).
    fn healthy(&self, state: &State, grace: Duration) -> bool {
        state.failure.is_none() && (!state.pipeline_open || self.heartbeat.fresh(grace))
    }

    /// Publishes what the pipeline still sends while stopping; a failure found now counts.
    async fn finish(mut self, mut state: State) -> Ending {
        self.stop.store(true, Ordering::Relaxed);
        while state.pipeline_open {
            let out = tokio::time::timeout(Duration::from_secs(5), self.out.recv()).await;
            match out {
                // A channel closed without `Finished` waits for its thread's exit report there.
                Ok(out) => {
                    self.on_output(out, &mut state).await;
                }
                Err(_) => break,
            }
        }
        // Every worker's report, each thread holding a sender: the channel closes once all
        // have reported. Bounded, since a source blocked in a read cannot answer.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Some(exit)) = tokio::time::timeout_at(deadline, self.exits.recv()).await {
            self.on_exit(exit, &mut state);
        }
        if let Some(history) = self.history.take() {
            let _ =
                tokio::task::spawn_blocking(move || history.close(Duration::from_secs(3))).await;
        }
        self.log_stats();
        match state.failure {
            Some(why) => Ending::WorkerFailed(why),
            None => Ending::Clean,
        }
    }

    /// Logs the pipeline's counters.
    pub fn log_stats(&self) {
        let (p, s) = (&self.stats.0, &self.stats.1);
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        tracing::info!(
            samples = n(&s.samples),
            samples_dropped = n(&s.dropped_samples),
            device_restarts = n(&s.restarts),
            windows = n(&p.windows),
            encoder_failures = n(&p.encoder_failures),
            tracks = n(&p.tracks),
            tracks_short = n(&p.tracks_short),
            gaps = n(&p.gaps),
            outbox = self.mqtt.as_ref().map(|h| h.outbox_len()).unwrap_or(0),
            "pipeline counters"
        );
        if let Some(h) = self.live.history.as_ref() {
            let written = n(&h.written);
            tracing::info!(
                tracks_written = written,
                tracks_dropped = n(&h.dropped),
                failures = n(&h.failures),
                tracks_stored = n(&h.tracks),
                database_bytes = n(&h.used_bytes),
                bytes_written = n(&h.bytes_written),
                bytes_written_per_track = n(&h.bytes_written) / written.max(1),
                "history counters"
            );
        }
    }
}

/// SIGHUP, SIGTERM and SIGINT, each optional (a failed registration is logged, not fatal).
struct Signals {
    hup: Option<Signal>,
    term: Option<Signal>,
    int: Option<Signal>,
}

impl Signals {
    fn new() -> Self {
        let listen = |kind| {
            signal(kind)
                .map_err(|e| tracing::warn!(error = %e, "cannot listen for a signal"))
                .ok()
        };
        Self {
            hup: listen(SignalKind::hangup()),
            term: listen(SignalKind::terminate()),
            int: listen(SignalKind::interrupt()),
        }
    }

    async fn recv(s: &mut Option<Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }

    /// Waits for SIGTERM or SIGINT and names it.
    async fn stop(term: &mut Option<Signal>, int: &mut Option<Signal>) -> &'static str {
        tokio::select! {
            _ = Self::recv(term) => "SIGTERM",
            _ = Self::recv(int) => "SIGINT",
        }
    }
}

async fn recv_command(
    c: &mut Option<broadcast::Receiver<Command>>,
) -> Result<Command, broadcast::error::RecvError> {
    match c {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Half the watchdog interval `WATCHDOG_USEC` gives, never zero (a zero period would panic
/// the timer); none when the interval is zero.
fn ping_period(usec: u64) -> Option<Duration> {
    (usec > 0).then(|| Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

/// systemd's watchdog, pinged at half its interval when `WATCHDOG_USEC` asks for it.
struct Watchdog {
    every: Option<Duration>,
    timer: tokio::time::Interval,
}

impl Watchdog {
    fn from_env() -> Self {
        let mut usec = 0u64;
        let every = sd_notify::watchdog_enabled(false, &mut usec)
            .then(|| ping_period(usec))
            .flatten();
        Self {
            every,
            timer: tokio::time::interval(every.unwrap_or(Duration::from_secs(3600))),
        }
    }

    /// How long the pipeline may go without a beat and still count as alive.
    fn grace(&self) -> Duration {
        self.every.map_or(Duration::from_secs(30), |e| e * 2)
    }

    async fn tick(&mut self) {
        if self.every.is_none() {
            return std::future::pending().await;
        }
        self.timer.tick().await;
    }

    fn ping_if(&self, healthy: bool) {
        if healthy {
            notify_systemd(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::warn!("pipeline stalled or failed: withholding the watchdog ping");
        }
    }
}

/// Tells systemd about a state change; not under systemd this does nothing.
pub fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!(error = %e, "sd_notify failed (not under systemd?)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::source::SourceEvent;
    use crate::daemon::messages::MessageContext;
    use crate::daemon::pipeline::tests::{music, Parts};
    use crate::daemon::pipeline::Pipeline;
    use crate::daemon::vocabulary::VocabularySlot;
    use crate::daemon::workers::{run_pipeline, spawn_worker, PipelineLinks};
    use std::time::SystemTime;

    /// A supervisor wired to a real pipeline thread fed by `source`, as the daemon wires it.
    fn daemon_with_source(
        parts: &Parts,
        source: impl FnOnce(crossbeam_channel::Sender<SourceEvent>) -> Result<(), String>
            + Send
            + 'static,
    ) -> Supervisor {
        let slot = Arc::new(VocabularySlot::new(parts.vocabulary("v.txt", &["jazz"])));
        let (exits_tx, exits) = mpsc::unbounded_channel();
        let (events_tx, events) = crossbeam_channel::bounded(256);
        let (commands, commands_rx) = crossbeam_channel::bounded(1);
        let (out_tx, out) = mpsc::channel(64);
        let stop = Arc::new(AtomicBool::new(false));
        let heartbeat = Arc::new(Heartbeat::default());
        let stats = (
            Arc::<PipelineStats>::default(),
            Arc::<SourceStats>::default(),
        );
        spawn_worker("source", exits_tx.clone(), move || source(events_tx)).unwrap();
        let links = PipelineLinks {
            events,
            commands: commands_rx,
            out: out_tx,
            stop: stop.clone(),
            source_stats: stats.1.clone(),
            stats: stats.0.clone(),
            heartbeat: heartbeat.clone(),
            context: MessageContext {
                device: "test".into(),
                model: parts.model.identity(),
                wall_origin: SystemTime::now(),
                include_embedding: false,
            },
        };
        let pipeline = Pipeline::new(
            parts.model.clone(),
            slot.clone(),
            super::super::pipeline::tests::settings(),
        );
        spawn_worker("pipeline", exits_tx, move || {
            run_pipeline(pipeline, links);
            Ok(())
        })
        .unwrap();
        let reloader = Reloader::new(
            parts.model.clone(),
            parts.glove.clone(),
            parts.dir.path().join("v.txt"),
            slot,
        );
        let live = Arc::new(Live::new(
            "test".into(),
            parts.model.identity(),
            stats.clone(),
            None,
            None,
            reloader.clone(),
        ));
        Supervisor {
            out,
            commands,
            exits,
            stop,
            heartbeat,
            reloader,
            watch_vocabulary: false,
            mqtt: None,
            print_tracks: false,
            exit_at_end: true,
            stats,
            history: None,
            live,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    async fn bounded(supervisor: Supervisor) -> Ending {
        tokio::time::timeout(Duration::from_secs(30), supervisor.run())
            .await
            .expect("the supervisor ends by itself")
    }

    #[test]
    fn a_source_that_ends_its_input_ends_the_daemon_cleanly() {
        let parts = Parts::load();
        let supervisor = daemon_with_source(&parts, |tx| {
            music(6.0).into_iter().for_each(|e| tx.send(e).unwrap());
            tx.send(SourceEvent::End).unwrap();
            Ok(())
        });
        assert_eq!(runtime().block_on(bounded(supervisor)), Ending::Clean);
    }

    #[test]
    fn a_source_that_fails_ends_the_daemon_with_an_error_after_flushing() {
        let parts = Parts::load();
        let supervisor = daemon_with_source(&parts, |tx| {
            music(6.0).into_iter().for_each(|e| tx.send(e).unwrap());
            // What the daemon's source thread does on a decode or read error.
            tx.send(SourceEvent::End).unwrap();
            Err("demo.ogg: corrupt page".into())
        });
        match runtime().block_on(bounded(supervisor)) {
            Ending::WorkerFailed(why) => assert!(
                why.contains("source thread failed: demo.ogg: corrupt page"),
                "{why}"
            ),
            Ending::Clean => panic!("a failed source must not end the daemon cleanly"),
        }
    }

    #[test]
    fn a_panicked_source_thread_is_not_taken_for_the_end_of_the_input() {
        let parts = Parts::load();
        let supervisor = daemon_with_source(&parts, |tx| {
            music(6.0).into_iter().for_each(|e| tx.send(e).unwrap());
            panic!("decoder bug");
        });
        match runtime().block_on(bounded(supervisor)) {
            Ending::WorkerFailed(why) => {
                assert!(why.contains("source thread panicked: decoder bug"), "{why}")
            }
            Ending::Clean => panic!("a panic must not end the daemon cleanly"),
        }
    }

    #[test]
    fn a_panicked_pipeline_thread_ends_the_daemon_with_an_error() {
        // (That the watchdog then goes unfed is the gating test below: a failure is unhealthy.)
        let parts = Parts::load();
        let mut supervisor = daemon_with_source(&parts, |tx| {
            // This source only idles; the pipeline thread below is the one that fails.
            std::thread::sleep(Duration::from_millis(100));
            drop(tx);
            Ok(())
        });
        // Replace the pipeline thread's output by one whose thread panics.
        let (out_tx, out) = mpsc::channel::<Output>(1);
        let (exits_tx, exits) = mpsc::unbounded_channel();
        supervisor.out = out;
        supervisor.exits = exits;
        spawn_worker("pipeline", exits_tx, move || {
            let _held = out_tx;
            panic!("encoder bug");
        })
        .unwrap();
        let ending = runtime().block_on(bounded(supervisor));
        match ending {
            Ending::WorkerFailed(why) => assert!(
                why.contains("pipeline thread panicked: encoder bug"),
                "{why}"
            ),
            Ending::Clean => panic!("a panic must not end the daemon cleanly"),
        }
    }

    #[test]
    fn any_watchdog_interval_gives_a_timer_period_that_is_not_zero() {
        assert_eq!(ping_period(0), None);
        assert_eq!(ping_period(1), Some(Duration::from_millis(1)));
        assert_eq!(ping_period(30_000_000), Some(Duration::from_secs(15)));
        // The timer accepts every period given (Duration::ZERO panics it).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            for usec in [1, 2, 3, u64::MAX] {
                let _ = tokio::time::interval(ping_period(usec).unwrap());
            }
        });
    }

    #[test]
    fn the_watchdog_is_fed_only_while_the_pipeline_beats_and_nothing_failed() {
        let parts = Parts::load();
        let supervisor = daemon_with_source(&parts, |tx| {
            drop(tx);
            Ok(())
        });
        let grace = Duration::from_millis(50);
        let mut state = State {
            pipeline_open: true,
            ..State::default()
        };
        supervisor.heartbeat.beat();
        assert!(supervisor.healthy(&state, Duration::from_secs(30)));
        state.failure = Some("the pipeline thread panicked".into());
        assert!(!supervisor.healthy(&state, Duration::from_secs(30)));
        state.failure = None;
        // The source ended at once, so the pipeline thread flushes, finishes and stops beating.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while supervisor.heartbeat.fresh(grace) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !supervisor.healthy(&state, grace),
            "a silent, open pipeline is stalled"
        );
        state.pipeline_open = false;
        assert!(
            supervisor.healthy(&state, grace),
            "idle after a clean end is alive"
        );
    }

    #[test]
    fn a_vocabulary_swap_is_in_service_when_the_diagnostic_says_so_even_with_the_command_queue_full(
    ) {
        let parts = Parts::load();
        let supervisor = daemon_with_source(&parts, |tx| {
            std::thread::sleep(Duration::from_millis(200));
            drop(tx);
            Ok(())
        });
        // Nobody drains the pipeline's command queue: it is full after one command.
        supervisor.commands.try_send(PipelineCommand::NewTrack).ok();
        assert!(supervisor
            .commands
            .try_send(PipelineCommand::NewTrack)
            .is_err());
        std::fs::write(&supervisor.reloader.path, "rock\nviolin\n").unwrap();
        // The path the supervisor's loop takes for an edit, SIGHUP or `cmd/reload`.
        runtime().block_on(supervisor.reload("test"));
        let message = supervisor.reloader.slot.current();
        assert_eq!(message.scorer.len(), 2);
        let message = supervisor.reloader.reload("test").expect("a diagnostic");
        assert!(message.ok, "{message:?}");
        // The watcher's echo of a reload already in service says nothing again.
        assert_eq!(
            supervisor.reloader.reload(super::vocabulary::FILE_CHANGED),
            None
        );
        assert_eq!(message.tags, 2);
        let in_service = supervisor.reloader.slot.current();
        assert_eq!(in_service.identity, message.vocabulary);
        assert_eq!(in_service.scorer.len(), 2);
        // A broken edit keeps it in service and says which one serves.
        std::fs::write(&supervisor.reloader.path, "rock\nnotawordatallxyz\n").unwrap();
        let refused = supervisor.reloader.reload("test").expect("a diagnostic");
        assert!(!refused.ok);
        assert!(
            refused.errors.iter().any(|e| e.contains("v.txt:2:")),
            "{refused:?}"
        );
        assert_eq!(
            refused.in_service.as_deref(),
            Some(message.vocabulary.as_str())
        );
        assert_eq!(
            supervisor.reloader.slot.current().identity,
            message.vocabulary
        );
    }
}
