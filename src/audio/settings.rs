//! The live source's settings, as the `[source]` table of the configuration spells them.
//!
//! They live beside the capture code that reads them, and check themselves: the
//! configuration only places them in its file.

use crate::bundled;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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

/// A source setting outside what it accepts, naming the key within `[source]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct SourceSettingsError {
    /// The setting's name, e.g. `retry_max_s`.
    pub key: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// Highest raw PCM rate accepted: the fastest rate common converters offer.
pub const MAX_STDIN_RATE: u32 = 768_000;

/// Most interleaved channels accepted on stdin (more is a wrong setting, not a mixing desk).
pub const MAX_STDIN_CHANNELS: u16 = 64;

/// Longest retry wait accepted, in seconds (one day): the wait becomes a `Duration`, which
/// an infinite or huge number would make panic.
pub const MAX_RETRY_S: f64 = 86_400.0;

impl SourceSettings {
    /// Checks every value the capture code relies on: finite and in range.
    pub fn validate(&self) -> Result<(), SourceSettingsError> {
        let bad = |key, problem: String| Err(SourceSettingsError { key, problem });
        if self.kind == SourceKind::Stdin {
            if !(1..=MAX_STDIN_RATE).contains(&self.stdin_rate) {
                return bad(
                    "stdin_rate",
                    format!(
                        "must be in [1, {MAX_STDIN_RATE}] Hz, got {}",
                        self.stdin_rate
                    ),
                );
            }
            if !(1..=MAX_STDIN_CHANNELS).contains(&self.stdin_channels) {
                return bad(
                    "stdin_channels",
                    format!(
                        "must be in [1, {MAX_STDIN_CHANNELS}], got {}",
                        self.stdin_channels
                    ),
                );
            }
        }
        if !(self.retry_max_s > 0.0 && self.retry_max_s <= MAX_RETRY_S) {
            return bad(
                "retry_max_s",
                format!(
                    "must be finite and in (0, {MAX_RETRY_S}] s, got {}",
                    self.retry_max_s
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key() {
        assert_eq!(SourceSettings::default().validate(), Ok(()));
        let key = |s: SourceSettings| s.validate().map_err(|e| e.key);
        let d = SourceSettings::default;
        for bad in [f64::NAN, f64::INFINITY, 0.0, -1.0, 1e300] {
            assert_eq!(
                key(SourceSettings {
                    retry_max_s: bad,
                    ..d()
                }),
                Err("retry_max_s"),
                "{bad}"
            );
        }
        let stdin = || SourceSettings {
            kind: SourceKind::Stdin,
            ..d()
        };
        assert_eq!(
            key(SourceSettings {
                stdin_rate: 0,
                ..stdin()
            }),
            Err("stdin_rate")
        );
        assert_eq!(
            key(SourceSettings {
                stdin_channels: 0,
                ..stdin()
            }),
            Err("stdin_channels")
        );
        // The stdin keys matter only to a stdin source.
        assert_eq!(
            key(SourceSettings {
                stdin_rate: 0,
                ..d()
            }),
            Ok(())
        );
    }
}
