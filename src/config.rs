//! Daemon configuration: one TOML file plus `HARK_…` environment overrides.
//!
//! Every key has a default, so a missing file (or one with only `[mqtt] host`) is a working
//! configuration. Environment variables override the file: `HARK_MQTT__HOST=broker` sets
//! `mqtt.host` (two underscores between table and key). Secrets are read from files:
//! `mqtt.password_file`, or `mqtt_password` in systemd's `$CREDENTIALS_DIRECTORY` (and the
//! same for the web page: `web.password_file` or `web_password`).
//! `systemd/hark.toml` is the annotated example and documents every key.
//!
//! Each module owns its table and checks it: `[source]` is [`SourceSettings`], `[tracks]` is
//! [`SegmenterParams`], `[mqtt]` is [`MqttSettings`]. This module only composes them with the
//! daemon's own tables and reads the environment, and [`Settings::load`] runs every check,
//! the same ones for `hark config check` and for `hark run`.

pub use crate::audio::settings::{RawFormat, SourceKind, SourceSettings};
use crate::bundled;
use crate::daemon::health::HealthSettings;
use crate::history::HistorySettings;
use crate::mqtt::MqttSettings;
use crate::track::SegmenterParams;
use crate::web::WebSettings;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Where the daemon looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/hark/hark.toml";

/// The environment variable that names the configuration file rather than a key in it.
pub const CONFIG_ENV: &str = "HARK_CONFIG";

/// Variables of the offline commands (`hark tag`, `vocab check`): a shell that exports them
/// for those must still be able to start `hark run`, so they are no keys either.
const OFFLINE_ENV: [&str; 3] = ["HARK_MODEL", "HARK_GLOVE", "HARK_VOCABULARY"];

/// Largest `stream.window_hop_frames` accepted (about 25 minutes of frames): a hop past a
/// window only skips audio, and a huge one would turn window times into rounding noise.
pub const MAX_HOP_FRAMES: usize = 1 << 16;

/// Largest `stream.queue_windows` accepted: a live device may queue this many windows of
/// audio in memory (1024 three-second windows: under 600 MB even at 48 kHz).
pub const MAX_QUEUE_WINDOWS: usize = 1024;

/// Longest `tags.now_interval_s` accepted (one day): it becomes a `Duration`, which an
/// infinite or huge number would make panic.
pub const MAX_NOW_INTERVAL_S: f64 = 86_400.0;

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
    #[error("{origin}: {key}: {problem}")]
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
    pub mqtt: MqttSettings,
    /// Daemon housekeeping.
    pub daemon: DaemonSettings,
    /// Track history (SQLite in the state directory).
    pub history: HistorySettings,
    /// Dead air and clipping alarms.
    pub health: HealthSettings,
    /// The web page, HTTP API and `/metrics`.
    pub web: WebSettings,
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
        // HARK_CONFIG names the file (`hark run`'s --config); it is no key inside it.
        let hark_env: config::Map<String, String> = env
            .iter()
            .filter(|(k, _)| {
                k.starts_with("HARK_")
                    && k.as_str() != CONFIG_ENV
                    && !OFFLINE_ENV.contains(&k.as_str())
            })
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
                    .source(Some(hark_env.clone())),
            )
            .build()
            .map_err(|source| ConfigError::Load {
                origin: origin.clone(),
                source,
            })?;
        check_number_kinds(&file, &origin, &hark_env)?;
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
        let credentials = env.get("CREDENTIALS_DIRECTORY").map(Path::new);
        self.web
            .read_secret(credentials)
            .map_err(|e| ConfigError::Secret {
                key: format!("web.{}", e.key),
                path: e.path,
                source: e.source,
            })?;
        Ok(())
    }

    /// Checks every value that the types alone do not, naming the file and the key: each
    /// module's own checks on its table, then the daemon's tables. `hark run` and
    /// `hark config check` both come through here, and the MQTT check is the one
    /// [`crate::mqtt::Publisher::start`] runs again.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: String, problem: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            problem,
        };
        self.source
            .validate()
            .map_err(|e| bad(format!("source.{}", e.key), e.problem))?;
        self.tracks
            .validate()
            .map_err(|e| bad(format!("tracks.{}", e.key), e.problem))?;
        self.history
            .validate()
            .map_err(|e| bad(format!("history.{}", e.key), e.problem))?;
        self.health
            .validate()
            .map_err(|e| bad(format!("health.{}", e.key), e.problem))?;
        self.web
            .validate()
            .map_err(|e| bad(format!("web.{}", e.key), e.problem))?;
        if !(1..=MAX_HOP_FRAMES).contains(&self.stream.window_hop_frames) {
            return Err(bad(
                "stream.window_hop_frames".into(),
                format!(
                    "must be in [1, {MAX_HOP_FRAMES}], got {}",
                    self.stream.window_hop_frames
                ),
            ));
        }
        if !(1..=MAX_QUEUE_WINDOWS).contains(&self.stream.queue_windows) {
            return Err(bad(
                "stream.queue_windows".into(),
                format!(
                    "must be in [1, {MAX_QUEUE_WINDOWS}], got {}",
                    self.stream.queue_windows
                ),
            ));
        }
        if let Some(th) = self.tags.threshold {
            if !(-1.0..=1.0).contains(&th) {
                return Err(bad(
                    "tags.threshold".into(),
                    format!("must be finite and in [-1, 1] (a cosine), got {th}"),
                ));
            }
        }
        if !(0.0..=MAX_NOW_INTERVAL_S).contains(&self.tags.now_interval_s) {
            return Err(bad(
                "tags.now_interval_s".into(),
                format!(
                    "must be finite and in [0, {MAX_NOW_INTERVAL_S}] s, got {}",
                    self.tags.now_interval_s
                ),
            ));
        }
        if self.mqtt.enabled() {
            self.mqtt_settings().validate().map_err(|e| match e {
                crate::mqtt::MqttError::Settings { field, reason } => {
                    bad(format!("mqtt.{field}"), reason)
                }
                other => bad("mqtt".into(), other.to_string()),
            })?;
        }
        Ok(())
    }

    /// The publisher's settings as the daemon starts them: the `[mqtt]` table with the
    /// device id, the state directory and the `now` interval placed in.
    pub fn mqtt_settings(&self) -> MqttSettings {
        let mut mqtt = self.mqtt.clone();
        mqtt.place(&self.device_id(), &self.daemon.state_dir);
        // Validated to be finite and small; a value that is not keeps the publisher's default
        // rather than panicking here.
        if let Ok(every) = Duration::try_from_secs_f64(self.tags.now_interval_s) {
            mqtt.now_min_interval = every;
        }
        mqtt
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
        if shown.web.password.is_some() {
            shown.web.password = Some("********".into());
        }
        toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# cannot show configuration: {e}\n"))
    }
}

/// Refuses numbers of the wrong kind before serde sees them, naming the file (or variable)
/// and the key: the `config` crate rounds a float given for an integer key (`2.5` becomes 3,
/// `inf` the largest integer) and reads `true` or `"yes"` as 1. What each key holds is read
/// off the default configuration.
fn check_number_kinds(
    file: &Path,
    origin: &str,
    env: &config::Map<String, String>,
) -> Result<(), ConfigError> {
    let Ok(toml::Value::Table(mut schema)) = toml::Value::try_from(Settings::default()) else {
        return Ok(());
    };
    // Keys whose default is "unset" are missing from the default: name their kind here.
    if let Some(toml::Value::Table(tags)) = schema.get_mut("tags") {
        tags.insert("threshold".into(), toml::Value::Float(0.0));
    }
    // A file that does not read or parse is left to the loader, which reports it.
    if let Some(given) = std::fs::read_to_string(file)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
    {
        check_table_kinds(&schema, &given, "", origin)?;
    }
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("HARK_") else {
            continue;
        };
        let rest = rest.to_lowercase();
        let parts: Vec<&str> = rest.split("__").collect();
        let mut at = Some(&schema);
        let mut kind = None;
        for (i, part) in parts.iter().enumerate() {
            match at.and_then(|t| t.get(*part)) {
                Some(toml::Value::Table(t)) => at = Some(t),
                Some(v) if i + 1 == parts.len() => kind = Some(v),
                _ => break,
            }
        }
        if let Some(problem) = kind.and_then(|k| number_text_problem(k, value)) {
            return Err(ConfigError::Invalid {
                origin: name.clone(),
                key: parts.join("."),
                problem,
            });
        }
    }
    Ok(())
}

/// What is wrong with `text` as the value of a key whose default is `kind`, if it is a number
/// key: text must read as a number of that kind (the loader would take "yes" for 1).
fn number_text_problem(kind: &toml::Value, text: &str) -> Option<String> {
    let text_t = text.trim();
    match kind {
        toml::Value::Integer(_)
            if text_t.parse::<i64>().is_err() && text_t.parse::<u64>().is_err() =>
        {
            Some(format!("must be a whole number, got {text:?}"))
        }
        toml::Value::Float(_) if text_t.parse::<f64>().is_err() => {
            Some(format!("must be a number, got {text:?}"))
        }
        _ => None,
    }
}

/// Walks a file's table beside the default one; see [`check_number_kinds`].
fn check_table_kinds(
    schema: &toml::Table,
    given: &toml::Table,
    prefix: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    for (name, value) in given {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let problem = match (schema.get(name), value) {
            (Some(toml::Value::Table(s)), toml::Value::Table(g)) => {
                check_table_kinds(s, g, &key, origin)?;
                None
            }
            (Some(toml::Value::Integer(_)), toml::Value::Float(f)) => {
                Some(format!("must be a whole number, got {f}"))
            }
            (Some(toml::Value::Integer(_)), toml::Value::Boolean(b)) => {
                Some(format!("must be a whole number, got {b}"))
            }
            (Some(toml::Value::Float(_)), toml::Value::Boolean(b)) => {
                Some(format!("must be a number, got {b}"))
            }
            // The loader would read "yes" or "on" as 1 and "off" as 0.
            (Some(kind), toml::Value::String(text)) => number_text_problem(kind, text),
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(ConfigError::Invalid {
                origin: origin.to_string(),
                key,
                problem,
            });
        }
    }
    Ok(())
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
        // The variable naming the file is not read as a key.
        let s = Settings::load(Some(f.path()), &env(&[(CONFIG_ENV, "/elsewhere.toml")])).unwrap();
        assert_eq!(s.mqtt.host, "broker.local");
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

    /// The error `Settings::load` gives for a file holding `text`, or "" when it loads.
    fn load_error(text: &str) -> String {
        let f = file(text);
        match Settings::load(Some(f.path()), &env(&[])) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn non_finite_numbers_are_refused_naming_file_and_key() {
        for (text, key) in [
            ("[tracks]\nmin_track_s = nan\n", "tracks.min_track_s: "),
            ("[tracks]\nmax_track_s = inf\n", "tracks.max_track_s: "),
            ("[tracks]\nsilence_min_s = inf\n", "tracks.silence_min_s: "),
            ("[tracks]\nsilence_db = nan\n", "tracks.silence_db: "),
            ("[tracks]\nnovelty_ratio = inf\n", "tracks.novelty_ratio: "),
            ("[tags]\nnow_interval_s = inf\n", "tags.now_interval_s: "),
            ("[tags]\nthreshold = nan\n", "tags.threshold: "),
            ("[source]\nretry_max_s = inf\n", "source.retry_max_s: "),
            ("[source]\nretry_max_s = 1e300\n", "source.retry_max_s: "),
        ] {
            let e = load_error(text);
            assert!(e.contains(".toml: ") && e.contains(key), "{text}: {e}");
            assert!(e.contains("finite"), "{text}: {e}");
        }
        // The environment's text goes through the same checks.
        let f = file("");
        let e = Settings::load(Some(f.path()), &env(&[("HARK_TRACKS__SILENCE_DB", "NaN")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tracks.silence_db: "), "{e}");
    }

    #[test]
    fn integer_keys_refuse_fractions_infinities_and_booleans() {
        for (text, key) in [
            (
                "[stream]\nwindow_hop_frames = inf\n",
                "stream.window_hop_frames: ",
            ),
            (
                "[tracks]\nnovelty_windows = 2.5\n",
                "tracks.novelty_windows: ",
            ),
            ("[tags]\ntop_k = true\n", "tags.top_k: "),
            ("[mqtt]\nport = nan\n", "mqtt.port: "),
            ("[tracks]\nsilence_db = false\n", "tracks.silence_db: "),
            (
                "[stream]\nqueue_windows = 100000\n",
                "stream.queue_windows: ",
            ),
        ] {
            let e = load_error(text);
            assert!(e.contains(".toml: ") && e.contains(key), "{text}: {e}");
        }
        // A float key takes an integer as it is.
        assert_eq!(load_error("[tracks]\nmin_track_s = 5\n"), "");
        let f = file("");
        let e = Settings::load(Some(f.path()), &env(&[("HARK_TAGS__TOP_K", "yes")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("HARK_TAGS__TOP_K: tags.top_k: "), "{e}");
    }

    #[test]
    fn words_the_loader_would_read_as_numbers_are_refused_for_number_keys() {
        // The config crate reads "yes"/"on"/"true" as 1 and "no"/"off"/"false" as 0.
        for (text, key) in [
            (
                "[tags]
top_k = \"yes\"\n",
                "tags.top_k: ",
            ),
            (
                "[tracks]
silence_db = \"off\"\n",
                "tracks.silence_db: ",
            ),
            (
                "[tags]
threshold = true\n",
                "tags.threshold: ",
            ),
            (
                "[tags]
threshold = \"yes\"\n",
                "tags.threshold: ",
            ),
        ] {
            let e = load_error(text);
            assert!(e.contains(".toml: ") && e.contains(key), "{text}: {e}");
        }
        let f = file("");
        for (var, value) in [
            ("HARK_TAGS__NOW_INTERVAL_S", "yes"),
            ("HARK_TAGS__THRESHOLD", "on"),
        ] {
            let e = Settings::load(Some(f.path()), &env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("{var}: ")), "{e}");
            assert!(e.contains("must be a number"), "{e}");
        }
        // Numbers written as text still read.
        assert_eq!(
            load_error(
                "[tags]
top_k = \"3\"\nthreshold = 0.2\n"
            ),
            ""
        );
    }

    #[test]
    fn mqtt_settings_are_checked_as_the_publisher_checks_them() {
        for (prefix, ok) in [
            ("hark", true),
            ("site/hark", true),
            ("hark/", false),
            ("a//b", false),
        ] {
            let text = format!("[mqtt]\nhost = \"broker\"\nprefix = \"{prefix}\"\n");
            let e = load_error(&text);
            assert_eq!(e.is_empty(), ok, "{prefix}: {e}");
            let f = file(&text);
            let s: Settings = toml::from_str(&std::fs::read_to_string(f.path()).unwrap()).unwrap();
            assert_eq!(s.mqtt_settings().validate().is_ok(), ok, "{prefix}");
            if !ok {
                assert!(e.contains("mqtt.prefix: "), "{e}");
            }
        }
        // A password without a user name is refused before the daemon starts, not at connect.
        let e = load_error("[mqtt]\nhost = \"broker\"\npassword = \"x\"\n");
        assert!(e.contains("mqtt.password: "), "{e}");
        // With MQTT off the table is not used, so it is not held against the file.
        assert_eq!(load_error("[mqtt]\nprefix = \"hark/\"\n"), "");
    }

    #[test]
    fn mqtt_settings_place_device_state_and_now_interval() {
        let f = file("[mqtt]\nhost = \"b\"\ndevice = \"kitchen\"\n[tags]\nnow_interval_s = 0.5\n");
        let s = Settings::load(Some(f.path()), &env(&[])).unwrap();
        let m = s.mqtt_settings();
        assert_eq!(m.device, "kitchen");
        assert_eq!(m.client_id, "hark-kitchen");
        assert_eq!(m.state_dir, s.daemon.state_dir);
        assert_eq!(m.now_min_interval, Duration::from_millis(500));
    }

    #[test]
    fn annotated_example_loads_and_validates() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/hark.toml");
        let s = Settings::load(Some(&example), &env(&[])).unwrap();
        assert_eq!(s.tracks, SegmenterParams::default());
        assert_eq!(s.source.retry_max_s, SourceSettings::default().retry_max_s);
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

    #[test]
    fn the_web_password_comes_from_the_credential_is_masked_and_guards_remote_listening() {
        let remote = file("[web]\nenabled = true\nlisten = \"0.0.0.0:8323\"\n");
        let e = Settings::load(Some(remote.path()), &env(&[])).unwrap_err();
        assert!(e.to_string().contains("web.listen: "), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web_password"), "w3b-secret\n").unwrap();
        let creds = env(&[("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap())]);
        let s = Settings::load(Some(remote.path()), &creds).unwrap();
        assert_eq!(s.web.password.as_deref(), Some("w3b-secret"));
        let shown = s.to_masked_toml();
        assert!(!shown.contains("w3b-secret"), "{shown}");
        assert!(shown.contains("[web]"), "{shown}");
    }
}
