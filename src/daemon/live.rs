//! What the running daemon knows right now, shared with the web page and `/metrics`: the
//! track in progress, the last tracks, the input's health and every counter. The supervisor
//! writes it as messages pass; readers take snapshots and never hold a lock across I/O.

use super::health::HealthState;
use super::messages::{DiagnosticMessage, NowMessage, TrackMessage};
use super::vocabulary::Reloader;
use super::workers::PipelineStats;
use crate::audio::source::SourceStats;
use crate::history::HistoryStats;
use crate::mqtt::PublisherHandle;
use crate::track::Boundary;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// Tracks kept in memory for the page when the history is off.
const RECENT_TRACKS: usize = 50;

/// The daemon's live state.
#[derive(Debug)]
pub struct Live {
    /// The device name in topics and messages.
    pub device: String,
    /// The model identity in service.
    pub model: String,
    /// When the daemon started.
    pub started: Instant,
    /// Wall time the daemon started.
    pub started_wall: SystemTime,
    /// The pipeline's counters.
    pub pipeline: Arc<PipelineStats>,
    /// The source's counters.
    pub source: Arc<SourceStats>,
    /// The history writer's counters, when history is on.
    pub history: Option<Arc<HistoryStats>>,
    /// The MQTT session, when a broker is configured.
    pub mqtt: Option<PublisherHandle>,
    /// The vocabulary: its file, the slot in service, and the reload every edit goes through.
    pub vocabulary: Reloader,
    /// Vocabulary reloads, applied and refused.
    pub reloads: (AtomicU64, AtomicU64),
    now: Mutex<Option<NowMessage>>,
    recent: Mutex<VecDeque<TrackMessage>>,
    health: Mutex<HealthState>,
    boundaries: Mutex<BTreeMap<&'static str, u64>>,
}

impl Live {
    /// A fresh live state.
    pub fn new(
        device: String,
        model: String,
        counters: (Arc<PipelineStats>, Arc<SourceStats>),
        history: Option<Arc<HistoryStats>>,
        mqtt: Option<PublisherHandle>,
        vocabulary: Reloader,
    ) -> Self {
        Self {
            device,
            model,
            started: Instant::now(),
            started_wall: SystemTime::now(),
            pipeline: counters.0,
            source: counters.1,
            history,
            mqtt,
            vocabulary,
            reloads: (AtomicU64::new(0), AtomicU64::new(0)),
            now: Mutex::new(None),
            recent: Mutex::new(VecDeque::new()),
            health: Mutex::new(HealthState::default()),
            boundaries: Mutex::new(BTreeMap::new()),
        }
    }

    /// The provisional tags of the track in progress (none between tracks).
    pub fn now(&self) -> Option<NowMessage> {
        lock(&self.now).clone()
    }

    /// The last tracks, newest first.
    pub fn recent(&self) -> Vec<TrackMessage> {
        lock(&self.recent).iter().rev().cloned().collect()
    }

    /// The input's health now, with the level of the last second.
    pub fn health(&self) -> HealthState {
        let mut health = lock(&self.health).clone();
        health.level_dbfs = self.pipeline.level_dbfs().or(health.level_dbfs);
        health
    }

    /// Finished tracks by what ended them.
    pub fn boundaries(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.boundaries).clone()
    }

    /// A provisional update arrived.
    pub fn set_now(&self, now: NowMessage) {
        *lock(&self.now) = Some(now);
    }

    /// A track finished: it becomes the newest of the recent ones, and `now` is empty
    /// until the next update.
    pub fn track_finished(&self, track: &TrackMessage) {
        *lock(&self.now) = None;
        *lock(&self.boundaries)
            .entry(boundary_name(track.boundary))
            .or_default() += 1;
        let mut recent = lock(&self.recent);
        recent.push_back(track.clone());
        while recent.len() > RECENT_TRACKS {
            recent.pop_front();
        }
    }

    /// The health changed.
    pub fn set_health(&self, health: HealthState) {
        *lock(&self.health) = health;
    }

    /// A vocabulary reload ended, applied or refused: counted, and its diagnostic published
    /// (retained), whoever asked for it (file watcher, SIGHUP, MQTT command, web page).
    pub fn vocabulary_reloaded(&self, message: &DiagnosticMessage) {
        let counter = if message.ok {
            &self.reloads.0
        } else {
            &self.reloads.1
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = &self.mqtt {
            let payload = serde_json::to_value(message).unwrap_or_default();
            if let Err(e) = h.publish_diagnostic(&payload) {
                tracing::debug!(error = %e, "diagnostic not sent");
            }
        }
    }
}

/// The name a boundary has in messages (`max_length`, `end_of_stream`, ...).
pub fn boundary_name(b: Boundary) -> &'static str {
    match b {
        Boundary::Silence => "silence",
        Boundary::Novelty => "novelty",
        Boundary::Command => "command",
        Boundary::MaxLength => "max_length",
        Boundary::Gap => "gap",
        Boundary::EndOfStream => "end_of_stream",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
