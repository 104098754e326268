//! MQTT 3.1.1 session over tokio with mqttrs, with a durable on-disk outbox.
//!
//! mqttrs is only a codec: the session (CONNECT with last will, keep-alive, QoS 1 with PUBACK
//! tracking, reconnect with jittered backoff, subscriptions) lives in [`session`]. Finished
//! tracks go through the [`outbox`]: `publish_track` returns only once the message is fsynced
//! in `{state_dir}/outbox/`, and the file is removed only when the broker's PUBACK arrives, so
//! a message survives broker outages and daemon restarts (delivery is at least once; a
//! duplicate always carries the same id).
//!
//! This module knows nothing about audio: its inputs are topic suffixes and JSON payloads.
//!
//! Topics, with `base = {prefix}/{device}`:
//! - `{base}/status`: `online` / `offline`, retained; `offline` is the last will
//! - `{base}/track`: one JSON message per finished track, QoS 1, with a unique `id`
//! - `{base}/now`: provisional tags of the track in progress, retained, rate-limited
//! - `{base}/diagnostic`: retained diagnostics (e.g. vocabulary errors)
//! - `{base}/cmd/new_track`, `{base}/cmd/reload`: commands in, only when enabled
//! - `{discovery_prefix}/sensor/{device}/tags/config`: Home Assistant discovery, when enabled

mod codec;
pub mod discovery;
mod outbox;
mod session;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use discovery::{HaSettings, DEFAULT_VALUE_TEMPLATE};
pub use outbox::MAX_ID_LEN;

use outbox::Outbox;

/// Everything that can go wrong in the MQTT publisher.
#[derive(Debug, Error)]
pub enum MqttError {
    /// A setting is unusable; names the field and why.
    #[error("mqtt setting `{field}`: {reason}")]
    Settings {
        /// The settings field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory operation failed; names the path.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`writing`, `reading`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another publisher already holds this outbox.
    #[error("outbox {path} is locked by another publisher")]
    OutboxLocked {
        /// The lock file.
        path: PathBuf,
    },
    /// The outbox holds as many messages as it may; the new one was not stored.
    #[error("outbox {path} is full ({len} messages, limit {limit}); message {id} was not stored")]
    OutboxFull {
        /// The outbox directory.
        path: PathBuf,
        /// Messages currently stored.
        len: usize,
        /// The configured limit.
        limit: usize,
        /// The id of the refused message.
        id: String,
    },
    /// A track id cannot be used (it must also be a safe file-name component).
    #[error("track id {id:?}: {reason}")]
    InvalidId {
        /// The offending id.
        id: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A track payload is not a JSON object or carries a different id.
    #[error("track {id:?} payload: {reason}")]
    InvalidPayload {
        /// The track id.
        id: String,
        /// What is wrong with the payload.
        reason: String,
    },
    /// TLS material could not be loaded; names the file.
    #[error("TLS {what} {path}: {reason}")]
    Tls {
        /// Which piece (`CA file`, `client certificate`, `client key`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// TLS configuration failed inside rustls.
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// A JSON payload could not be serialised.
    #[error("serialising {what}: {source}")]
    Json {
        /// Which payload.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// `Publisher::start` was called outside a tokio runtime.
    #[error("the MQTT publisher must be started inside a tokio runtime")]
    NoRuntime,
    /// The session task has stopped; nothing more can be published.
    #[error("the MQTT session has stopped")]
    Closed,
}

/// TLS settings: rustls with an optional CA file and an optional client certificate (mTLS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM file of CA certificates to trust; `None` trusts the bundled webpki roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain for mutual TLS (needs `client_key`).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate (needs `client_cert`).
    pub client_key: Option<PathBuf>,
}

/// Settings of the MQTT publisher, read directly from the configuration's `[mqtt]` table;
/// in code, build with [`MqttSettings::new`] and adjust the fields.
///
/// The fields the file does not hold (`state_dir`, `now_min_interval` and the session's
/// tuning) are filled by whoever composes the daemon, or keep their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSettings {
    /// Broker host name or IP address; empty turns MQTT off.
    pub host: String,
    /// Broker port (1883 plain, 8883 TLS by convention).
    pub port: u16,
    /// MQTT client id; keep it stable across restarts (empty: `hark-{device}`).
    pub client_id: String,
    /// First topic level (e.g. `hark`).
    pub prefix: String,
    /// Device id, the second topic level (empty in a file: the host name).
    pub device: String,
    /// User name sent in CONNECT.
    pub username: Option<String>,
    /// Password sent in CONNECT (only together with a user name).
    pub password: Option<String>,
    /// File whose first line is the password; the configuration loader reads it into
    /// `password`, so the session never touches it.
    pub password_file: Option<PathBuf>,
    /// Keep-alive in seconds; 0 turns keep-alive off.
    #[serde(rename = "keep_alive_s")]
    pub keep_alive_secs: u16,
    /// Listen on `{prefix}/{device}/cmd/#` for commands.
    pub commands: bool,
    /// Carry each track's embedding in its `track` message (base64 f16), so a central
    /// consumer can store and re-score a fleet's history with words of its own.
    pub track_embedding: bool,
    /// TLS; `None` for plain TCP.
    pub tls: Option<TlsSettings>,
    /// Home Assistant discovery (off unless `enabled`).
    pub home_assistant: HaSettings,
    /// Directory for persistent state; the outbox lives in `{state_dir}/outbox/`.
    #[serde(skip)]
    pub state_dir: PathBuf,
    /// Least time between two `now` messages; later updates wait, the latest wins.
    #[serde(skip)]
    pub now_min_interval: Duration,
    /// Most track messages in flight (sent, PUBACK pending) at once; the rest wait on disk.
    #[serde(skip)]
    pub inflight_window: usize,
    /// Most messages the outbox may hold; beyond it `publish_track` refuses.
    #[serde(skip)]
    pub outbox_limit: usize,
    /// First reconnect delay; doubles per failure, with jitter.
    #[serde(skip)]
    pub reconnect_min: Duration,
    /// Cap of the reconnect delay.
    #[serde(skip)]
    pub reconnect_max: Duration,
    /// Bound on TCP connect, TLS handshake and CONNACK wait.
    #[serde(skip)]
    pub connect_timeout: Duration,
    /// How long `shutdown` waits for the outbox to drain before disconnecting.
    #[serde(skip)]
    pub shutdown_grace: Duration,
}

impl Default for MqttSettings {
    /// MQTT off (no host), no device yet: what an empty `[mqtt]` table means.
    fn default() -> Self {
        MqttSettings {
            host: String::new(),
            port: 1883,
            client_id: String::new(),
            prefix: "hark".to_string(),
            device: String::new(),
            username: None,
            password: None,
            password_file: None,
            keep_alive_secs: 30,
            commands: false,
            track_embedding: false,
            tls: None,
            home_assistant: HaSettings::default(),
            state_dir: PathBuf::new(),
            now_min_interval: Duration::from_secs(2),
            inflight_window: 32,
            outbox_limit: 10_000,
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl MqttSettings {
    /// Settings with the defaults: port 1883, keep-alive 30 s, no TLS, no auth, prefix `hark`,
    /// client id `hark-{device}`, `now` at most every 2 s, backoff 0.5 s to 30 s, 32 messages
    /// in flight, at most 10,000 in the outbox (weeks of tracks; about 150 bytes of memory each).
    pub fn new(
        host: impl Into<String>,
        device: impl Into<String>,
        state_dir: impl Into<PathBuf>,
    ) -> Self {
        let mut s = MqttSettings {
            host: host.into(),
            ..MqttSettings::default()
        };
        s.place(&device.into(), &state_dir.into());
        s
    }

    /// Whether MQTT is on: a broker host is set.
    pub fn enabled(&self) -> bool {
        !self.host.is_empty()
    }

    /// Fills in what a file leaves to the host: the device id when none is set, the client
    /// id `hark-{device}` when none is set, and the state directory.
    pub fn place(&mut self, device: &str, state_dir: &Path) {
        if self.device.is_empty() {
            self.device = device.to_string();
        }
        if self.client_id.is_empty() {
            self.client_id = format!("hark-{}", self.device);
        }
        self.state_dir = state_dir.to_path_buf();
    }

    /// Checks every field that could make the session misbehave later. [`Publisher::start`]
    /// runs it, and so does the configuration check, so both refuse the same settings.
    pub fn validate(&self) -> Result<(), MqttError> {
        let bad = |field, reason: &str| {
            Err(MqttError::Settings {
                field,
                reason: reason.to_string(),
            })
        };
        if self.host.trim().is_empty() {
            return bad("host", "is empty");
        }
        if self.port == 0 {
            return bad("port", "must not be 0");
        }
        if self.client_id.is_empty() || self.client_id.len() > 256 {
            return bad("client_id", "must be 1 to 256 bytes");
        }
        check_topic_level("prefix", &self.prefix, true)?;
        check_topic_level("device", &self.device, false)?;
        if self.password.is_some() && self.username.is_none() {
            return bad(
                "password",
                "MQTT 3.1.1 sends a password only with a user name",
            );
        }
        if self.username.as_ref().is_some_and(|u| u.len() > 65_535) {
            return bad("username", "longer than 65535 bytes");
        }
        if self.password.as_ref().is_some_and(|p| p.len() > 65_535) {
            return bad("password", "longer than 65535 bytes");
        }
        if let Some(tls) = &self.tls {
            if tls.client_cert.is_some() != tls.client_key.is_some() {
                return bad("tls", "client_cert and client_key must be given together");
            }
        }
        let ha = &self.home_assistant;
        if ha.enabled {
            check_topic_level(
                "home_assistant.discovery_prefix",
                &ha.discovery_prefix,
                true,
            )?;
            if ha.name.trim().is_empty() {
                return bad("home_assistant.name", "is empty");
            }
        }
        if self.inflight_window == 0 || self.inflight_window > 65_000 {
            return bad("inflight_window", "must be 1 to 65000");
        }
        if self.outbox_limit == 0 {
            return bad("outbox_limit", "must be at least 1");
        }
        if self.reconnect_min.is_zero() || self.reconnect_max < self.reconnect_min {
            return bad("reconnect_min", "must be > 0 and not above reconnect_max");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be > 0");
        }
        Ok(())
    }
}

/// Rejects topic parts that would break the topic tree or act as wildcards.
fn check_topic_level(field: &'static str, value: &str, may_nest: bool) -> Result<(), MqttError> {
    let reason = if value.is_empty() {
        Some("is empty")
    } else if value.contains(['+', '#', '\0']) {
        Some("must not contain `+`, `#` or NUL")
    } else if value.starts_with('/') || value.ends_with('/') || value.contains("//") {
        Some("must not start or end with `/` or hold an empty level")
    } else if !may_nest && value.contains('/') {
        Some("must be a single topic level (no `/`)")
    } else if value.len() > 1024 {
        Some("is longer than 1024 bytes")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(MqttError::Settings {
            field,
            reason: format!("{value:?} {reason}"),
        }),
        None => Ok(()),
    }
}

/// A command received on `{prefix}/{device}/cmd/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `cmd/new_track`: close the current track and start a new one.
    NewTrack,
    /// `cmd/reload`: reload the vocabulary (and whatever else the daemon reloads).
    Reload,
}

impl Command {
    /// Maps the topic part after `cmd/` to a command.
    fn from_suffix(suffix: &str) -> Option<Command> {
        match suffix {
            "new_track" => Some(Command::NewTrack),
            "reload" => Some(Command::Reload),
            _ => None,
        }
    }
}

/// The full topic names of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `{prefix}/{device}/status`.
    pub status: String,
    /// `{prefix}/{device}/track`.
    pub track: String,
    /// `{prefix}/{device}/now`.
    pub now: String,
    /// `{prefix}/{device}/diagnostic`.
    pub diagnostic: String,
    /// `{prefix}/{device}/health` (retained: dead air, clipping, source lost).
    pub health: String,
    /// `{prefix}/{device}/cmd/` (commands are this plus a name).
    pub cmd_prefix: String,
    /// `{prefix}/{device}/`, the base of every suffix.
    base: String,
}

impl Topics {
    /// Topic names for a prefix and device.
    pub fn new(prefix: &str, device: &str) -> Topics {
        let base = format!("{prefix}/{device}");
        Topics {
            status: format!("{base}/status"),
            track: format!("{base}/track"),
            now: format!("{base}/now"),
            diagnostic: format!("{base}/diagnostic"),
            health: format!("{base}/health"),
            cmd_prefix: format!("{base}/cmd/"),
            base: format!("{base}/"),
        }
    }

    /// The topic for a suffix under `{prefix}/{device}/`.
    fn for_suffix(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.base)
    }
}

/// Counters of a running session, for logs and measurements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Successful CONNACKs since start.
    pub connects: u64,
    /// Connection attempts that failed (refused, TLS, CONNACK error, timeout) since start.
    pub connect_failures: u64,
    /// Track PUBLISH packets written (first sends and resends).
    pub sent: u64,
    /// Track PUBLISH packets sent again after a reconnect (DUP set).
    pub resent: u64,
    /// PUBACKs received for track messages.
    pub acked: u64,
    /// Time from writing the last acknowledged PUBLISH to its PUBACK, in microseconds.
    pub last_ack_rtt_us: u64,
}

/// Shared, lock-free counters the session updates and handles read.
#[derive(Debug, Default)]
struct Counters {
    connected: AtomicBool,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    sent: AtomicU64,
    resent: AtomicU64,
    acked: AtomicU64,
    last_ack_rtt_us: AtomicU64,
}

/// Requests from handles to the session task.
#[derive(Debug)]
enum Request {
    /// A message was stored in the outbox and waits to be sent.
    Stored(outbox::Entry),
    /// Drain for at most the grace period, say `offline`, disconnect, then reply.
    Shutdown(oneshot::Sender<()>),
}

/// Starts the MQTT session.
#[derive(Debug)]
pub struct Publisher;

impl Publisher {
    /// Validates the settings, loads TLS material and the outbox (blocking file I/O, once),
    /// and spawns the session task on the current tokio runtime. A broker that is down is
    /// fine: the session keeps retrying with backoff while messages wait in the outbox.
    pub fn start(settings: MqttSettings) -> Result<(PublisherHandle, JoinHandle<()>), MqttError> {
        settings.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MqttError::NoRuntime)?;
        let tls = match &settings.tls {
            Some(tls) => Some(tls::connector(tls)?),
            None => None,
        };
        let (outbox, entries) = Outbox::open(&settings.state_dir, settings.outbox_limit)?;
        let outbox = Arc::new(outbox);
        let topics = Topics::new(&settings.prefix, &settings.device);
        let counters = Arc::new(Counters::default());
        let (req_tx, req_rx) = mpsc::channel(256);
        let (now_tx, now_rx) = watch::channel(None);
        let (retained_tx, retained_rx) = watch::channel(RetainedSet::new());
        let commands = settings.commands.then(|| broadcast::channel(64).0);
        tracing::info!(
            host = %settings.host,
            port = settings.port,
            client_id = %settings.client_id,
            tls = settings.tls.is_some(),
            outbox = entries.len(),
            "starting MQTT publisher"
        );
        let session = session::Session::new(session::SessionParts {
            settings,
            tls,
            topics: topics.clone(),
            outbox: Arc::clone(&outbox),
            entries,
            counters: Arc::clone(&counters),
            requests: req_rx,
            now: now_rx,
            retained: retained_rx,
            commands: commands.clone(),
        });
        let task = runtime.spawn(session.run());
        let handle = PublisherHandle {
            outbox,
            topics,
            counters,
            requests: req_tx,
            now: Arc::new(now_tx),
            retained: Arc::new(retained_tx),
            commands,
        };
        Ok((handle, task))
    }
}

/// Retained messages to keep on the broker: topic to payload (the latest per topic).
pub type RetainedSet = std::collections::BTreeMap<String, Arc<Vec<u8>>>;

/// A cheap, clonable handle to a running MQTT session.
#[derive(Debug, Clone)]
pub struct PublisherHandle {
    outbox: Arc<Outbox>,
    topics: Topics,
    counters: Arc<Counters>,
    requests: mpsc::Sender<Request>,
    now: Arc<watch::Sender<Option<Vec<u8>>>>,
    retained: Arc<watch::Sender<RetainedSet>>,
    commands: Option<broadcast::Sender<Command>>,
}

impl PublisherHandle {
    /// Stores one finished track's message durably, then queues it for QoS 1 delivery.
    ///
    /// `payload` must be a JSON object; its `id` field is set to `id` (an existing one must
    /// match). On `Ok` the message is fsynced in the outbox; it leaves only after the broker's
    /// PUBACK. Delivery is at least once: a duplicate carries the same id.
    pub async fn publish_track(&self, id: &str, payload: Value) -> Result<(), MqttError> {
        if self.requests.is_closed() {
            return Err(MqttError::Closed);
        }
        let outbox = Arc::clone(&self.outbox);
        let id_owned = id.to_string();
        let entry = tokio::task::spawn_blocking(move || outbox.store("track", &id_owned, payload))
            .await
            .map_err(|_| MqttError::Closed)??;
        tracing::debug!(id, seq = entry.seq, "track stored in outbox");
        if self.requests.send(Request::Stored(entry)).await.is_err() {
            // Stored durably all the same: the next start sends it.
            tracing::warn!(
                id,
                "MQTT session stopped while storing a track; it waits in the outbox"
            );
        }
        Ok(())
    }

    /// Publishes provisional tags to `now` (retained, QoS 0, not persisted); at most one
    /// message per `now_min_interval`, the latest update wins.
    pub fn publish_now(&self, payload: &Value) -> Result<(), MqttError> {
        let bytes = serde_json::to_vec(payload).map_err(|source| MqttError::Json {
            what: "now",
            source,
        })?;
        self.now.send(Some(bytes)).map_err(|_| MqttError::Closed)
    }

    /// Publishes a retained diagnostic (e.g. vocabulary errors); the latest wins and is
    /// re-sent on every reconnect.
    pub fn publish_diagnostic(&self, payload: &Value) -> Result<(), MqttError> {
        let topic = self.topics.diagnostic.clone();
        self.publish_retained(topic, "diagnostic", payload)
    }

    /// Publishes a retained message on `{prefix}/{device}/{suffix}` (`health`,
    /// `diagnostic/history`); per topic the latest wins, and all are re-sent on reconnect.
    pub fn publish_retained_suffix(&self, suffix: &str, payload: &Value) -> Result<(), MqttError> {
        let topic = self.topics.for_suffix(suffix);
        self.publish_retained(topic, "retained", payload)
    }

    fn publish_retained(
        &self,
        topic: String,
        what: &'static str,
        payload: &Value,
    ) -> Result<(), MqttError> {
        let bytes =
            serde_json::to_vec(payload).map_err(|source| MqttError::Json { what, source })?;
        if self.retained.is_closed() {
            return Err(MqttError::Closed);
        }
        self.retained.send_modify(|set| {
            set.insert(topic, Arc::new(bytes));
        });
        Ok(())
    }

    /// A new receiver of commands, or `None` when commands are off in the settings.
    pub fn commands(&self) -> Option<broadcast::Receiver<Command>> {
        self.commands.as_ref().map(broadcast::Sender::subscribe)
    }

    /// Messages in the outbox (stored and not yet acknowledged by the broker).
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Whether the session currently holds an accepted broker connection.
    pub fn is_connected(&self) -> bool {
        self.counters.connected.load(Ordering::Relaxed)
    }

    /// A snapshot of the session counters.
    pub fn stats(&self) -> PublisherStats {
        let c = &self.counters;
        PublisherStats {
            connects: c.connects.load(Ordering::Relaxed),
            connect_failures: c.connect_failures.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            resent: c.resent.load(Ordering::Relaxed),
            acked: c.acked.load(Ordering::Relaxed),
            last_ack_rtt_us: c.last_ack_rtt_us.load(Ordering::Relaxed),
        }
    }

    /// The topic names this publisher uses.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// The outbox directory (`{state_dir}/outbox`).
    pub fn outbox_dir(&self) -> &Path {
        self.outbox.dir()
    }

    /// Stops the session: drains the outbox for at most `shutdown_grace` while connected,
    /// publishes `offline` (retained), sends DISCONNECT and waits for the task to end.
    /// Unsent messages stay in the outbox for the next start.
    pub async fn shutdown(self) -> Result<(), MqttError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Shutdown(tx))
            .await
            .map_err(|_| MqttError::Closed)?;
        rx.await.map_err(|_| MqttError::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_validation_names_the_field() {
        let ok = MqttSettings::new("127.0.0.1", "kitchen", "/tmp/x");
        assert!(ok.validate().is_ok());
        let mut s = ok.clone();
        s.device = "a/b".into();
        assert!(matches!(
            s.validate(),
            Err(MqttError::Settings {
                field: "device",
                ..
            })
        ));
        let mut s = ok.clone();
        s.prefix = "hark/#".into();
        assert!(matches!(
            s.validate(),
            Err(MqttError::Settings {
                field: "prefix",
                ..
            })
        ));
        let mut s = ok.clone();
        s.password = Some("x".into());
        assert!(matches!(
            s.validate(),
            Err(MqttError::Settings {
                field: "password",
                ..
            })
        ));
        let mut s = ok.clone();
        s.tls = Some(TlsSettings {
            ca_file: None,
            client_cert: Some("c.pem".into()),
            client_key: None,
        });
        assert!(matches!(
            s.validate(),
            Err(MqttError::Settings { field: "tls", .. })
        ));
        let mut s = ok;
        s.prefix = "site/hark".into();
        assert!(s.validate().is_ok(), "a nested prefix is allowed");
    }

    #[test]
    fn settings_deserialise_from_the_file_table() {
        let s: MqttSettings = toml::from_str(
            "host = \"broker\"\nkeep_alive_s = 12\nprefix = \"site/hark\"\n\
             [home_assistant]\nenabled = true\nname = \"Radio\"\n",
        )
        .unwrap();
        assert_eq!(s.keep_alive_secs, 12);
        assert!(s.home_assistant.enabled);
        assert_eq!(s.home_assistant.value_template, DEFAULT_VALUE_TEMPLATE);
        assert_eq!(s.inflight_window, MqttSettings::default().inflight_window);
        let e = toml::from_str::<MqttSettings>("inflight_window = 3\n").unwrap_err();
        assert!(e.to_string().contains("inflight_window"), "{e}");
        let mut placed = s.clone();
        placed.place("kitchen", Path::new("/var/lib/hark"));
        assert_eq!(placed.client_id, "hark-kitchen");
        assert_eq!(placed.device, "kitchen");
        assert!(placed.validate().is_ok());
    }

    #[test]
    fn topics_follow_the_design() {
        let t = Topics::new("hark", "kitchen");
        assert_eq!(t.status, "hark/kitchen/status");
        assert_eq!(t.track, "hark/kitchen/track");
        assert_eq!(t.now, "hark/kitchen/now");
        assert_eq!(t.diagnostic, "hark/kitchen/diagnostic");
        assert_eq!(t.cmd_prefix, "hark/kitchen/cmd/");
        assert_eq!(t.for_suffix("track"), t.track);
    }

    #[test]
    fn command_names() {
        assert_eq!(Command::from_suffix("new_track"), Some(Command::NewTrack));
        assert_eq!(Command::from_suffix("reload"), Some(Command::Reload));
        assert_eq!(Command::from_suffix("reboot"), None);
    }
}
