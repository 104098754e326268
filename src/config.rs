//! Daemon configuration: one TOML file plus `HARK_…` environment overrides.
//!
//! Every key has a default, so a missing file (or one with only `[mqtt] host`) is a working
//! configuration. Environment variables override the file: `HARK_MQTT__HOST=broker` sets
//! `mqtt.host` (two underscores between table and key). Secrets are read from files:
//! `mqtt.password_file`, or `mqtt_password` in systemd's `$CREDENTIALS_DIRECTORY`.
//! `systemd/hark.toml` is the annotated example and documents every key.

use crate::bundled;
use crate::track::SegmenterParams;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where the daemon looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/hark/hark.toml";

/// What can go wrong while loading or validating the configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file or an environment override could not be read or parsed.
    #[error("{origin}: {source}")]
    Load {
        /// The file (or "environment") the problem came from.
        origin: String,
        /// The parser's own message, which names the key.
        #[source]
        source: config::ConfigError,
    },
    /// A key holds a value outside what it accepts.
    #[error("{origin}: `{key}` {problem}")]
    Invalid {
        /// The file the configuration came from.
        origin: String,
        /// Dotted key name, e.g. `tracks.silence_min_s`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A secret file could not be read.
    #[error("{key}: cannot read secret file {path}: {source}")]
    Secret {
        /// The key naming the file.
        key: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The whole daemon configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Model, GloVe store and vocabulary files.
    pub model: ModelSettings,
    /// Where audio comes from.
    pub source: SourceSettings,
    /// Windowing and inference queue.
    pub stream: StreamSettings,
    /// Track boundaries.
    pub tracks: SegmenterParams,
    /// Which tags are reported.
    pub tags: TagSettings,
    /// The MQTT publisher (off when `host` is empty).
    pub mqtt: MqttConfig,
    /// Daemon housekeeping.
    pub daemon: DaemonSettings,
}

/// Model, GloVe store and vocabulary locations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSettings {
    /// Model directory holding model.toml, audio.onnx and word.onnx.
    pub dir: PathBuf,
    /// Packed GloVe store (`hark glove pack`).
    pub glove: PathBuf,
    /// Vocabulary file, one tag a line.
    pub vocabulary: PathBuf,
    /// Reload the vocabulary when the file changes.
    pub watch_vocabulary: bool,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            dir: bundled("models/default"),
            glove: bundled("models/glove/glove-6b-50d.hgv"),
            vocabulary: bundled("models/vocabulary.txt"),
            watch_vocabulary: true,
        }
    }
}

/// Kind of audio source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A capture device through ALSA (cpal).
    Alsa,
    /// An audio file (OGG, MP3, FLAC, WAV).
    File,
    /// Raw PCM on standard input.
    Stdin,
}

/// Sample format of raw PCM on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawFormat {
    /// Signed 16-bit little-endian.
    S16le,
    /// 32-bit float little-endian.
    F32le,
}

/// Where audio comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceSettings {
    /// alsa, file or stdin.
    pub kind: SourceKind,
    /// ALSA device: exact name or a unique part of it; empty for the default device.
    pub device: String,
    /// Audio file for `kind = "file"`.
    pub file: PathBuf,
    /// Play the file at real-time pace (false: as fast as the pipeline allows).
    pub realtime: bool,
    /// Start the file again when it ends.
    pub repeat: bool,
    /// Sample rate of raw PCM on stdin.
    pub stdin_rate: u32,
    /// Channels of raw PCM on stdin (interleaved).
    pub stdin_channels: u16,
    /// Sample format of raw PCM on stdin.
    pub stdin_format: RawFormat,
    /// Longest wait between retries of a vanished device, in seconds.
    pub retry_max_s: f64,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            kind: SourceKind::File,
            device: String::new(),
            file: bundled("models/demo/demo.ogg"),
            realtime: true,
            repeat: false,
            stdin_rate: 22_050,
            stdin_channels: 1,
            stdin_format: RawFormat::S16le,
            retry_max_s: 30.0,
        }
    }
}

/// Windowing and inference queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSettings {
    /// Frames between the starts of two windows (130 frames = one window ≈ 3 s).
    pub window_hop_frames: usize,
    /// Windows waiting for the encoder before new ones are dropped (and counted).
    pub queue_windows: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            window_hop_frames: 65,
            queue_windows: 16,
        }
    }
}

/// Which tags are reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TagSettings {
    /// Global threshold; unset means the model's recommended one.
    pub threshold: Option<f32>,
    /// At most this many tags per track (0 = all above threshold).
    pub top_k: usize,
    /// Seconds between provisional `now` messages.
    pub now_interval_s: f64,
}

impl Default for TagSettings {
    fn default() -> Self {
        Self {
            threshold: None,
            top_k: 5,
            now_interval_s: 5.0,
        }
    }
}

/// MQTT broker and topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Broker host name or address; empty disables MQTT.
    pub host: String,
    /// Broker port (1883, or 8883 with TLS).
    pub port: u16,
    /// Client id; empty means `hark-{device}`, stable across restarts.
    pub client_id: String,
    /// Topic prefix.
    pub prefix: String,
    /// Device id in topics; empty means the host name.
    pub device: String,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// Password (prefer `password_file` or a systemd credential).
    pub password: Option<String>,
    /// File whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// Keep-alive interval in seconds.
    pub keep_alive_s: u16,
    /// Accept commands on `{prefix}/{device}/cmd/#` (new track, reload).
    pub commands: bool,
    /// TLS to the broker.
    pub tls: Option<TlsConfig>,
    /// Home Assistant MQTT discovery.
    pub home_assistant: HomeAssistantConfig,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 1883,
            client_id: String::new(),
            prefix: "hark".into(),
            device: String::new(),
            username: None,
            password: None,
            password_file: None,
            keep_alive_s: 30,
            commands: false,
            tls: None,
            home_assistant: HomeAssistantConfig::default(),
        }
    }
}

/// TLS settings for the broker connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA(s) to trust; unset trusts the bundled web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub client_key: Option<PathBuf>,
}

/// Home Assistant discovery settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HomeAssistantConfig {
    /// Announce a sensor to Home Assistant.
    pub enabled: bool,
    /// Discovery prefix Home Assistant listens on.
    pub discovery_prefix: String,
    /// Friendly name of the sensor.
    pub name: String,
}

impl Default for HomeAssistantConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            discovery_prefix: "homeassistant".into(),
            name: "hark".into(),
        }
    }
}

/// Daemon housekeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSettings {
    /// Directory for the MQTT outbox (systemd's StateDirectory).
    pub state_dir: PathBuf,
    /// Print each finished track's message on stdout as one JSON line.
    pub print_tracks: bool,
    /// Stop when a file or stdin source ends (a device source never ends).
    pub exit_at_end: bool,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        let state_dir = std::env::var_os("STATE_DIRECTORY")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("hark-state"));
        Self {
            state_dir,
            print_tracks: true,
            exit_at_end: true,
        }
    }
}

impl Settings {
    /// Loads the file (if `path` is given it must exist; the default path may be absent),
    /// applies `HARK_…` overrides from `env`, reads secret files and validates.
    pub fn load(
        path: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let (file, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
        };
        let origin = file.display().to_string();
        let hark_env: config::Map<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("HARK_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let built = config::Config::builder()
            .add_source(
                config::File::from(file.as_path())
                    .format(config::FileFormat::Toml)
                    .required(required),
            )
            .add_source(
                config::Environment::with_prefix("HARK")
                    .prefix_separator("_")
                    .separator("__")
                    // Values stay strings here; serde converts them to the key's type. With
                    // try_parsing(true), "007" became the integer 7 and a string key got "7".
                    .try_parsing(false)
                    .source(Some(hark_env)),
            )
            .build()
            .map_err(|source| ConfigError::Load {
                origin: origin.clone(),
                source,
            })?;
        let mut settings: Settings =
            built
                .try_deserialize()
                .map_err(|source| ConfigError::Load {
                    origin: origin.clone(),
                    source,
                })?;
        settings.read_secrets(env)?;
        settings.validate(&origin)?;
        Ok(settings)
    }

    /// Loads from the real process environment.
    pub fn load_from_process(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load(path, &env)
    }

    fn read_secrets(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        let from_credentials = env
            .get("CREDENTIALS_DIRECTORY")
            .map(|dir| Path::new(dir).join("mqtt_password"))
            .filter(|p| p.exists());
        let file = self.mqtt.password_file.clone().or(from_credentials);
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Secret {
                key: "mqtt.password_file".into(),
                path: path.clone(),
                source,
            })?;
            self.mqtt.password = Some(text.lines().next().unwrap_or_default().to_string());
        }
        Ok(())
    }

    /// Checks every value that the types alone do not, naming the key.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            problem,
        };
        let t = &self.tracks;
        if !positive(t.silence_min_s) {
            return Err(bad(
                "tracks.silence_min_s",
                format!("must be > 0, is {}", t.silence_min_s),
            ));
        }
        if !non_negative(t.min_track_s) || !positive(t.max_track_s - t.min_track_s) {
            return Err(bad(
                "tracks.max_track_s",
                format!(
                    "must be greater than tracks.min_track_s ({} ≤ {})",
                    t.max_track_s, t.min_track_s
                ),
            ));
        }
        if !(0.0..=2.0).contains(&t.novelty_threshold) {
            return Err(bad(
                "tracks.novelty_threshold",
                format!("must be within 0..2, is {}", t.novelty_threshold),
            ));
        }
        if !non_negative(f64::from(t.novelty_ratio)) {
            return Err(bad(
                "tracks.novelty_ratio",
                format!("must not be negative, is {}", t.novelty_ratio),
            ));
        }
        if t.novelty_windows == 0 {
            return Err(bad("tracks.novelty_windows", "must be at least 1".into()));
        }
        if self.stream.window_hop_frames == 0 {
            return Err(bad("stream.window_hop_frames", "must be at least 1".into()));
        }
        if self.stream.queue_windows == 0 {
            return Err(bad("stream.queue_windows", "must be at least 1".into()));
        }
        if let Some(th) = self.tags.threshold {
            if !(-1.0..=1.0).contains(&th) {
                return Err(bad(
                    "tags.threshold",
                    format!("must be within -1..1, is {th}"),
                ));
            }
        }
        if !non_negative(self.tags.now_interval_s) {
            return Err(bad("tags.now_interval_s", "must not be negative".into()));
        }
        if self.source.kind == SourceKind::Stdin {
            if self.source.stdin_rate == 0 {
                return Err(bad("source.stdin_rate", "must be > 0".into()));
            }
            if self.source.stdin_channels == 0 {
                return Err(bad("source.stdin_channels", "must be > 0".into()));
            }
        }
        if !positive(self.source.retry_max_s) {
            return Err(bad("source.retry_max_s", "must be > 0".into()));
        }
        if !self.mqtt.host.is_empty() && self.mqtt.port == 0 {
            return Err(bad("mqtt.port", "must be > 0".into()));
        }
        if self.mqtt.prefix.is_empty() || self.mqtt.prefix.contains(['+', '#']) {
            return Err(bad(
                "mqtt.prefix",
                "must be non-empty and free of MQTT wildcards".into(),
            ));
        }
        if self.mqtt.device.contains(['+', '#', '/']) {
            return Err(bad(
                "mqtt.device",
                "must be free of '/', '+' and '#'".into(),
            ));
        }
        if let Some(tls) = &self.mqtt.tls {
            if tls.client_cert.is_some() != tls.client_key.is_some() {
                return Err(bad(
                    "mqtt.tls.client_key",
                    "client_cert and client_key go together".into(),
                ));
            }
        }
        Ok(())
    }

    /// Device id used in topics: the configured one or the host name.
    pub fn device_id(&self) -> String {
        if !self.mqtt.device.is_empty() {
            return self.mqtt.device.clone();
        }
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().replace(['/', '+', '#', ' '], "-"))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "hark".into())
    }

    /// The effective configuration as TOML with secrets masked, for `hark config check`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.mqtt.password.is_some() {
            shown.mqtt.password = Some("********".into());
        }
        toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# cannot show configuration: {e}\n"))
    }
}

/// True for numbers above zero; false for zero, negatives and NaN.
fn positive(x: f64) -> bool {
    x > 0.0
}

/// True for zero and above; false for negatives and NaN.
fn non_negative(x: f64) -> bool {
    x >= 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn missing_default_file_gives_defaults() {
        let s = Settings::load(None, &env(&[])).unwrap();
        assert_eq!(s.stream, StreamSettings::default());
        assert!(s.mqtt.host.is_empty());
    }

    #[test]
    fn file_values_and_env_overrides_apply() {
        let f =
            file("[mqtt]\nhost = \"broker.local\"\nport = 1884\n[tracks]\nsilence_db = -40.0\n");
        let s = Settings::load(
            Some(f.path()),
            &env(&[
                ("HARK_MQTT__PORT", "1999"),
                ("HARK_TAGS__TOP_K", "3"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.mqtt.host, "broker.local");
        assert_eq!(s.mqtt.port, 1999);
        assert_eq!(s.tags.top_k, 3);
        assert_eq!(s.tracks.silence_db, -40.0);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let f = file("[mqtt]\nhots = \"x\"\n");
        let e = Settings::load(Some(f.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("hots"), "{e}");
        let f = file("[tracks]\nmin_track_s = 50.0\nmax_track_s = 20.0\n");
        let e = Settings::load(Some(f.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tracks.max_track_s"), "{e}");
        let e = Settings::load(Some(Path::new("/nonexistent/hark.toml")), &env(&[])).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/hark.toml"), "{e}");
    }

    #[test]
    fn secrets_come_from_files_and_are_masked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mqtt_password"), "s3cret\n").unwrap();
        let s = Settings::load(
            None,
            &env(&[("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(s.mqtt.password.as_deref(), Some("s3cret"));
        let shown = s.to_masked_toml();
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("********"));
    }
}
