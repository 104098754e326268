//! Track history: every finished track's tags and mean embedding in a SQLite file in the
//! state directory, so any words can be searched after the fact and a vocabulary edit can be
//! previewed against real past tracks.
//!
//! - [`store`]: the file (schema, migrations, one transaction per track, retention, a corrupt
//!   file moved aside);
//! - [`search`]: ranking stored tracks by any words, and the vocabulary preview;
//! - [`HistoryWriter`]: the thread that owns the writing connection, off the audio path: the
//!   daemon hands it a track and never waits for the disk.

pub mod print;
pub mod search;
pub mod store;

use crate::daemon::messages::TrackMessage;
use crate::score::TagScore;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
pub use store::{Opened, Pruned, Store};
use thiserror::Error;

/// The history file's name inside the state directory.
pub const FILE_NAME: &str = "history.sqlite";

/// Tracks waiting for the writer before new ones are dropped (and counted): hours of music.
const QUEUE_TRACKS: usize = 256;

/// How often retention runs when no track arrives.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Longest `history.max_age_days` accepted (100 years).
pub const MAX_AGE_DAYS: f64 = 36_500.0;

/// Largest `history.max_mb` accepted (1 TB).
pub const MAX_MB: f64 = 1_000_000.0;

/// What can go wrong with the history.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// SQLite refused an operation.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is damaged or not a database.
    #[error("{path}: corrupt history database: {reason}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// The file was written by a newer hark (or is not hark's).
    #[error("{path}: history schema version {found}, this hark reads version {expected}")]
    Schema {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The one this build writes.
        expected: i64,
    },
    /// There is no history yet.
    #[error("{0}: no history yet (the daemon writes it once a track ends, with history.enabled)")]
    Missing(PathBuf),
    /// A file or directory could not be read, created or renamed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A reader's callback failed (e.g. stdout closed).
    #[error("{0}")]
    Output(String),
}

/// The `[history]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySettings {
    /// Keep every finished track in `{daemon.state_dir}/history.sqlite`.
    pub enabled: bool,
    /// Tracks older than this many days are deleted.
    pub max_age_days: f64,
    /// The oldest tracks are deleted while the data exceeds this many megabytes.
    pub max_mb: f64,
    /// Also keep each track's window embeddings (int8, about D bytes per 3 s window).
    pub window_embeddings: bool,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_age_days: 90.0,
            max_mb: 200.0,
            window_embeddings: false,
        }
    }
}

/// A `[history]` key that holds a value it does not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySettingsError {
    /// The key inside `[history]`.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl HistorySettings {
    /// Checks the limits are finite and in range.
    pub fn validate(&self) -> Result<(), HistorySettingsError> {
        if !(self.max_age_days > 0.0 && self.max_age_days <= MAX_AGE_DAYS) {
            return Err(HistorySettingsError {
                key: "max_age_days",
                problem: format!(
                    "must be finite and in (0, {MAX_AGE_DAYS}] days, got {}",
                    self.max_age_days
                ),
            });
        }
        if !(self.max_mb >= 1.0 && self.max_mb <= MAX_MB) {
            return Err(HistorySettingsError {
                key: "max_mb",
                problem: format!(
                    "must be finite and in [1, {MAX_MB}] MB, got {}",
                    self.max_mb
                ),
            });
        }
        Ok(())
    }

    /// The age limit.
    pub fn max_age(&self) -> Duration {
        Duration::try_from_secs_f64(self.max_age_days * 86_400.0).unwrap_or(Duration::MAX)
    }

    /// The size limit in bytes.
    pub fn max_bytes(&self) -> u64 {
        (self.max_mb * 1e6) as u64
    }
}

/// The history file of a state directory.
pub fn path_in(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Window embeddings quantised to int8, one scale per window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEmbeddings {
    /// Number of windows.
    pub count: usize,
    /// One scale per window: value = q × scale.
    pub scales: Vec<f32>,
    /// `count × D` quantised values, row-major.
    pub data: Vec<i8>,
}

/// One finished track as the history stores it.
#[derive(Debug, Clone)]
pub struct HistoryRecord {
    /// The message as published.
    pub message: TrackMessage,
    /// Wall time of the start, Unix milliseconds (retention and `--since`).
    pub started_ms: i64,
    /// The model identity that made the embedding.
    pub model: String,
    /// The track's mean embedding.
    pub embedding: Vec<f32>,
    /// Its window embeddings, when `history.window_embeddings` is on.
    pub windows: Option<WindowEmbeddings>,
}

/// A track read back from the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredTrack {
    /// Row number (stable while the track is kept).
    #[serde(skip)]
    pub rowid: i64,
    /// The track message's id.
    pub id: String,
    /// Device that heard it.
    pub device: String,
    /// Wall time of the start (RFC 3339).
    pub started_at: String,
    /// Wall time of the end.
    pub ended_at: String,
    /// Unix milliseconds of the start.
    #[serde(skip)]
    pub started_ms: i64,
    /// Stream seconds of the start.
    pub stream_start_s: f64,
    /// Stream seconds of the end.
    pub stream_end_s: f64,
    /// Length in seconds.
    pub duration_s: f64,
    /// Windows averaged.
    pub windows: usize,
    /// What ended it.
    pub boundary: String,
    /// Model identity that embedded it.
    pub model: String,
    /// Vocabulary identity that tagged it.
    pub vocabulary: String,
    /// Best tag as published.
    pub top: Option<String>,
    /// Tags as published.
    pub tags: Vec<TagScore>,
}

/// The writer's state as health reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DatabaseState {
    /// Not opened yet.
    Starting,
    /// Open and writing.
    Ok,
    /// The last write or open failed; tracks are still tagged and published.
    Failing {
        /// The error.
        error: String,
    },
    /// History is off in the settings.
    Disabled,
}

/// What the writer tells the daemon (published on `diagnostic/history`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryNotice {
    /// The database file.
    pub file: String,
    /// Whether the history is being written.
    pub ok: bool,
    /// What went wrong, or what was done about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where a corrupt file was moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<String>,
}

/// Counters of the writer, for the log, `/metrics` and the health page.
#[derive(Debug)]
pub struct HistoryStats {
    /// Tracks committed.
    pub written: AtomicU64,
    /// Tracks dropped because the writer fell behind (queue full).
    pub dropped: AtomicU64,
    /// Writes that failed.
    pub failures: AtomicU64,
    /// Corrupt files moved aside.
    pub recoveries: AtomicU64,
    /// Bytes the writer thread passed to write(2) (WAL frames, checkpoints), all tracks.
    pub bytes_written: AtomicU64,
    /// Tracks removed by retention.
    pub pruned: AtomicU64,
    /// Tracks in the file after the last write or prune.
    pub tracks: AtomicU64,
    /// Bytes of data in the file after the last write or prune.
    pub used_bytes: AtomicU64,
    /// Open, failing or off.
    pub state: Mutex<DatabaseState>,
}

impl Default for HistoryStats {
    fn default() -> Self {
        Self {
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            pruned: AtomicU64::new(0),
            tracks: AtomicU64::new(0),
            used_bytes: AtomicU64::new(0),
            state: Mutex::new(DatabaseState::Starting),
        }
    }
}

impl HistoryStats {
    /// The state now.
    pub fn state(&self) -> DatabaseState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_state(&self, state: DatabaseState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }
}

/// The handle the daemon records tracks through; the thread behind it owns the file.
#[derive(Debug)]
pub struct HistoryWriter {
    tracks: Sender<HistoryRecord>,
    stats: Arc<HistoryStats>,
    thread: JoinHandle<()>,
}

impl HistoryWriter {
    /// Starts the writer thread on `path`; opening happens there, so a slow disk never
    /// delays start-up. Notices (a file moved aside, writes failing or recovering) go to
    /// `notices`.
    pub fn start(
        path: PathBuf,
        settings: HistorySettings,
        notices: impl Fn(HistoryNotice) + Send + 'static,
    ) -> std::io::Result<HistoryWriter> {
        let (tracks, rx) = crossbeam_channel::bounded(QUEUE_TRACKS);
        let stats = Arc::new(HistoryStats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("hark-history".into())
            .spawn(move || {
                Writer {
                    path,
                    settings,
                    store: None,
                    stats: thread_stats,
                    notices: Box::new(notices),
                    failing: false,
                }
                .run(rx)
            })?;
        Ok(HistoryWriter {
            tracks,
            stats,
            thread,
        })
    }

    /// Hands a track to the writer without waiting; a full queue drops it (counted, logged).
    pub fn record(&self, record: HistoryRecord) {
        match self.tracks.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(r)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id = r.message.id, "history writer behind: track not stored");
            }
            Err(TrySendError::Disconnected(r)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id = r.message.id, "history writer gone: track not stored");
            }
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> Arc<HistoryStats> {
        self.stats.clone()
    }

    /// Stops taking tracks and waits (at most `limit`) for the queued ones to be written.
    pub fn close(self, limit: Duration) {
        drop(self.tracks);
        let deadline = Instant::now() + limit;
        while !self.thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.thread.is_finished() {
            let _ = self.thread.join();
        } else {
            tracing::warn!("history writer still busy at exit; not waiting for it");
        }
    }
}

type Notify = Box<dyn Fn(HistoryNotice) + Send>;

struct Writer {
    path: PathBuf,
    settings: HistorySettings,
    store: Option<Store>,
    stats: Arc<HistoryStats>,
    notices: Notify,
    /// Whether the last notice said "failing", so recovery is announced once.
    failing: bool,
}

impl Writer {
    fn run(mut self, rx: Receiver<HistoryRecord>) {
        self.ensure_open();
        self.prune();
        let mut last_prune = Instant::now();
        loop {
            match rx.recv_timeout(PRUNE_EVERY) {
                Ok(record) => {
                    self.write(&record);
                    if last_prune.elapsed() >= PRUNE_EVERY
                        || self.stats.used_bytes.load(Ordering::Relaxed) > self.settings.max_bytes()
                    {
                        self.prune();
                        last_prune = Instant::now();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.prune();
                    last_prune = Instant::now();
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(store) = &self.store {
            let _ = store
                .conn()
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        }
    }

    fn file(&self) -> String {
        self.path.display().to_string()
    }

    fn ensure_open(&mut self) -> bool {
        if self.store.is_some() {
            return true;
        }
        match Store::open_or_recover(&self.path) {
            Ok((store, opened)) => {
                self.store = Some(store);
                self.stats.set_state(DatabaseState::Ok);
                if let Opened::MovedAside { moved_to, reason } = opened {
                    self.stats.recoveries.fetch_add(1, Ordering::Relaxed);
                    self.failing = false;
                    (self.notices)(HistoryNotice {
                        file: self.file(),
                        ok: true,
                        error: Some(format!(
                            "corrupt history database moved aside ({reason}); a fresh one was started"
                        )),
                        moved_to: Some(moved_to.display().to_string()),
                    });
                } else {
                    self.recovered();
                }
                self.refresh_sizes();
                true
            }
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    fn write(&mut self, record: &HistoryRecord) {
        if !self.ensure_open() {
            return;
        }
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let before = thread_bytes_written();
        let result = store.insert(record);
        let result = match result {
            Err(HistoryError::Corrupt { reason, .. }) => {
                // Damaged under our feet: move it aside, start afresh, keep this track.
                tracing::error!(file = %self.path.display(), %reason, "history database went corrupt while writing");
                self.store = None;
                if !self.ensure_open() {
                    return;
                }
                match self.store.as_mut() {
                    Some(store) => store.insert(record),
                    None => return,
                }
            }
            other => other,
        };
        match result {
            Ok(()) => {
                self.stats.written.fetch_add(1, Ordering::Relaxed);
                if let (Some(a), Some(b)) = (before, thread_bytes_written()) {
                    self.stats
                        .bytes_written
                        .fetch_add(b.saturating_sub(a), Ordering::Relaxed);
                }
                self.recovered();
                self.refresh_sizes();
            }
            Err(e) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                self.failed(&e);
                // Reopen on the next track: the disk may have come back.
                self.store = None;
            }
        }
    }

    fn prune(&mut self) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        match store.prune(
            SystemTime::now(),
            self.settings.max_age(),
            self.settings.max_bytes(),
        ) {
            Ok(p) => {
                if p.by_age + p.by_size > 0 {
                    tracing::info!(
                        by_age = p.by_age,
                        by_size = p.by_size,
                        "history retention removed old tracks"
                    );
                    self.stats
                        .pruned
                        .fetch_add(p.by_age + p.by_size, Ordering::Relaxed);
                }
                self.refresh_sizes();
            }
            Err(e) => tracing::warn!(error = %e, "history retention failed"),
        }
    }

    fn refresh_sizes(&self) {
        if let Some(store) = &self.store {
            if let Ok(n) = store.track_count() {
                self.stats.tracks.store(n, Ordering::Relaxed);
            }
            if let Ok(b) = store.used_bytes() {
                self.stats.used_bytes.store(b, Ordering::Relaxed);
            }
        }
    }

    fn failed(&mut self, e: &HistoryError) {
        tracing::error!(error = %e, "history not written; tagging and MQTT go on");
        self.stats.set_state(DatabaseState::Failing {
            error: e.to_string(),
        });
        if !self.failing {
            self.failing = true;
            (self.notices)(HistoryNotice {
                file: self.file(),
                ok: false,
                error: Some(e.to_string()),
                moved_to: None,
            });
        }
    }

    fn recovered(&mut self) {
        self.stats.set_state(DatabaseState::Ok);
        if self.failing {
            self.failing = false;
            (self.notices)(HistoryNotice {
                file: self.file(),
                ok: true,
                error: None,
                moved_to: None,
            });
        }
    }
}

/// Bytes this thread has passed to write(2) and friends (`wchar` of /proc/thread-self/io);
/// `None` where the kernel does not say.
fn thread_bytes_written() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Why a history query could not be answered.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The history file could not be read.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The query words or vocabulary did not resolve (every error names its line).
    #[error(transparent)]
    Words(#[from] crate::vocab::VocabLoadError),
}

/// Answers questions about the history with the model in service: the CLI's and the web
/// page's one way in. Each call opens the file read-only, so readers never block the writer.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The history file.
    pub path: PathBuf,
    /// The model whose word branch embeds the query words.
    pub model: Arc<crate::model::Model>,
    /// The GloVe store the words resolve in.
    pub glove: Arc<crate::vocab::GloveStore>,
    /// Threshold and top-k, as the daemon applies them.
    pub selection: crate::score::Selection,
}

impl Reader {
    /// Ranks stored tracks by `words` (each one vocabulary line: a word, a phrase, or
    /// `name = words…`), best first.
    pub fn search(
        &self,
        words: &[String],
        since_ms: i64,
        limit: usize,
    ) -> Result<search::SearchResult, QueryError> {
        let text = words.join("\n");
        let query = crate::vocab::scorer_from_text(
            &self.model,
            &self.glove,
            &text,
            Path::new("search words"),
        )?;
        let store = Store::open_read_only(&self.path)?;
        Ok(search::search(
            &store,
            &self.model.identity(),
            &query.scorer,
            since_ms,
            limit,
        )?)
    }

    /// Streams the tracks since `since_ms`, newest first.
    pub fn list(
        &self,
        since_ms: i64,
        limit: usize,
        each: impl FnMut(StoredTrack) -> Result<(), HistoryError>,
    ) -> Result<(), QueryError> {
        let store = Store::open_read_only(&self.path)?;
        Ok(store.list(since_ms, limit, each)?)
    }

    /// What `proposed` would have tagged, compared with `in_service`.
    pub fn preview(
        &self,
        in_service: &crate::score::Scorer,
        proposed: &crate::score::Scorer,
        since_ms: i64,
        examples: usize,
    ) -> Result<search::Preview, QueryError> {
        let store = Store::open_read_only(&self.path)?;
        Ok(search::preview(
            &store,
            &self.model.identity(),
            in_service,
            proposed,
            self.selection,
            since_ms,
            examples,
        )?)
    }

    /// Streams the tracks since `since_ms`, newest first, each marked with whether the model
    /// in service embedded it (what `hark history list` and `export` print).
    pub fn list_marked(
        &self,
        since_ms: i64,
        limit: usize,
        mut each: impl FnMut(&print::Listed<'_>) -> Result<(), String>,
    ) -> Result<(), QueryError> {
        self.list(since_ms, limit, |track| {
            let listed = print::Listed {
                same_model: self.same_model(&track),
                track: &track,
            };
            each(&listed).map_err(HistoryError::Output)
        })
    }

    /// Whether the track was embedded by the model in service (others are kept, marked, and
    /// never re-scored).
    pub fn same_model(&self, track: &StoredTrack) -> bool {
        track.model == self.model.identity()
    }
}

impl Reader {
    /// A reader of the history the daemon configured by `settings` writes, with its model,
    /// GloVe store and selection rule.
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Reader, QueryError> {
        use crate::vocab::VocabLoadError;
        let model = crate::model::Model::load(&settings.model.dir).map_err(VocabLoadError::from)?;
        let glove =
            crate::vocab::GloveStore::open(&settings.model.glove).map_err(VocabLoadError::from)?;
        let selection = crate::score::Selection {
            threshold: settings
                .tags
                .threshold
                .unwrap_or(model.manifest.score_threshold),
            top_k: settings.tags.top_k,
        };
        Ok(Reader {
            path: path_in(&settings.daemon.state_dir),
            model: Arc::new(model),
            glove: Arc::new(glove),
            selection,
        })
    }
}

/// Reads `--since`: a span back from `now` (`7d`, `12h`, `90min`) or an RFC 3339 time;
/// `None` means the whole history. Returns Unix milliseconds.
pub fn since_ms(text: Option<&str>, now: SystemTime) -> Result<i64, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(i64::MIN);
    };
    if let Ok(span) = humantime::parse_duration(text) {
        let at = now.checked_sub(span).unwrap_or(std::time::UNIX_EPOCH);
        return Ok(store::unix_ms(at));
    }
    humantime::parse_rfc3339_weak(text)
        .map(store::unix_ms)
        .map_err(|_| {
            format!(
                "--since {text:?}: not a span like 7d or 12h, nor a time like 2026-12-01T08:00:00Z"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_spans_and_times_and_names_what_it_cannot_read() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert_eq!(since_ms(None, now), Ok(i64::MIN));
        assert_eq!(since_ms(Some("7d"), now), Ok(3 * 86_400_000));
        assert_eq!(since_ms(Some("1970-01-02T00:00:00Z"), now), Ok(86_400_000));
        let e = since_ms(Some("last tuesday"), now).unwrap_err();
        assert!(e.contains("last tuesday"), "{e}");
    }

    #[test]
    fn settings_refuse_limits_that_are_not_finite_and_in_range() {
        assert!(HistorySettings::default().validate().is_ok());
        for (age, mb, key) in [
            (0.0, 200.0, "max_age_days"),
            (f64::NAN, 200.0, "max_age_days"),
            (90.0, 0.5, "max_mb"),
            (90.0, f64::INFINITY, "max_mb"),
        ] {
            let s = HistorySettings {
                max_age_days: age,
                max_mb: mb,
                ..HistorySettings::default()
            };
            assert_eq!(s.validate().unwrap_err().key, key);
        }
    }
}
