//! What a radio box must notice about its input: dead air (silence that goes on while the
//! source is up), clipping, and a lost source. Each is raised when it starts and cleared when
//! it clears; the pipeline reports every change, the daemon publishes it (retained `health`
//! topic, Home Assistant binary sensors, the web page and `/metrics`).

use serde::{Deserialize, Serialize};

/// Longest `health.dead_air_s` accepted (one day).
pub const MAX_DEAD_AIR_S: f64 = 86_400.0;

/// The `[health]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    /// Silence (below `dead_air_db`) lasting this many seconds is dead air.
    pub dead_air_s: f64,
    /// Level in dBFS below which the input counts as silent for dead air.
    pub dead_air_db: f32,
    /// Share of samples at full scale (|x| ≥ 0.999) within one second that counts as clipping.
    pub clipping_ratio: f64,
    /// Seconds without clipping before the clipping alarm clears.
    pub clipping_clear_s: f64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            dead_air_s: 30.0,
            dead_air_db: -60.0,
            clipping_ratio: 0.001,
            clipping_clear_s: 10.0,
        }
    }
}

/// A `[health]` key holding a value it does not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettingsError {
    /// The key inside `[health]`.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl HealthSettings {
    /// Checks every value is finite and in range.
    pub fn validate(&self) -> Result<(), HealthSettingsError> {
        let bad = |key, problem: String| Err(HealthSettingsError { key, problem });
        if !(self.dead_air_s > 0.0 && self.dead_air_s <= MAX_DEAD_AIR_S) {
            return bad(
                "dead_air_s",
                format!(
                    "must be finite and in (0, {MAX_DEAD_AIR_S}] s, got {}",
                    self.dead_air_s
                ),
            );
        }
        if !(-200.0..=0.0).contains(&self.dead_air_db) {
            return bad(
                "dead_air_db",
                format!("must be in [-200, 0] dBFS, got {}", self.dead_air_db),
            );
        }
        if !(self.clipping_ratio > 0.0 && self.clipping_ratio <= 1.0) {
            return bad(
                "clipping_ratio",
                format!("must be in (0, 1], got {}", self.clipping_ratio),
            );
        }
        if !(self.clipping_clear_s > 0.0 && self.clipping_clear_s <= MAX_DEAD_AIR_S) {
            return bad(
                "clipping_clear_s",
                format!(
                    "must be finite and in (0, {MAX_DEAD_AIR_S}] s, got {}",
                    self.clipping_clear_s
                ),
            );
        }
        Ok(())
    }
}

/// The input's health as published on `{base}/health` (retained).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct HealthState {
    /// Silence has lasted longer than `health.dead_air_s` while the source is up.
    pub dead_air: bool,
    /// The input clips.
    pub clipping: bool,
    /// The capture device is gone (the daemon keeps retrying).
    pub source_lost: bool,
    /// Level of the last second of audio in dBFS (absent before any audio).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level_dbfs: Option<f32>,
    /// Stream seconds when the state last changed.
    pub changed_at_s: f64,
}

impl HealthState {
    /// Whether any alarm is raised.
    pub fn any(&self) -> bool {
        self.dead_air || self.clipping || self.source_lost
    }
}

/// Turns levels, clipped-sample counts and source losses into [`HealthState`] changes.
#[derive(Debug, Clone)]
pub struct HealthMonitor {
    settings: HealthSettings,
    state: HealthState,
    /// Stream time the current run of silence began.
    silent_since: Option<f64>,
    /// The second being summed: (start, samples, clipped samples, sum of squares).
    second: (f64, u64, u64, f64),
    /// Stream time clipping was last seen.
    last_clip_s: Option<f64>,
}

impl HealthMonitor {
    /// A monitor with every alarm clear.
    pub fn new(settings: HealthSettings) -> Self {
        Self {
            settings,
            state: HealthState::default(),
            silent_since: None,
            second: (0.0, 0, 0, 0.0),
            last_clip_s: None,
        }
    }

    /// The state now.
    pub fn state(&self) -> &HealthState {
        &self.state
    }

    /// Takes audio starting at stream time `start_s`; returns the new state if it changed.
    pub fn audio(&mut self, samples: &[f32], rate: u32, start_s: f64) -> Option<HealthState> {
        if samples.is_empty() || rate == 0 {
            return None;
        }
        let before = self.state.clone();
        self.state.source_lost = false;
        let mut t = start_s;
        if self.second.1 == 0 {
            self.second.0 = start_s;
        }
        let rate_f = f64::from(rate);
        let mut done = 0usize;
        for part in samples.chunks((rate as usize / 10).max(1)) {
            let clipped = part.iter().filter(|x| x.abs() >= 0.999).count() as u64;
            let squares: f64 = part.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            self.second.1 += part.len() as u64;
            self.second.2 += clipped;
            self.second.3 += squares;
            done += part.len();
            // Counted from the chunk's start, so a long run adds no rounding.
            t = start_s + done as f64 / rate_f;
            if self.second.1 >= u64::from(rate) {
                self.close_second(t);
            }
        }
        self.changed(before, t)
    }

    /// Sums up one second of audio ending at `end_s`.
    fn close_second(&mut self, end_s: f64) {
        let (start_s, n, clipped, squares) = self.second;
        self.second = (end_s, 0, 0, 0.0);
        let rms = (squares / n.max(1) as f64).sqrt();
        let level = (20.0 * rms.max(1e-10).log10()) as f32;
        self.state.level_dbfs = Some((level * 10.0).round() / 10.0);
        if level < self.settings.dead_air_db {
            let since = *self.silent_since.get_or_insert(start_s);
            // A microsecond of slack: stream times are sums of sample counts over rates.
            if end_s - since + 1e-6 >= self.settings.dead_air_s {
                self.state.dead_air = true;
            }
        } else {
            self.silent_since = None;
            self.state.dead_air = false;
        }
        if clipped as f64 >= self.settings.clipping_ratio * n as f64 {
            self.last_clip_s = Some(end_s);
            self.state.clipping = true;
        } else if self
            .last_clip_s
            .is_none_or(|t| end_s - t >= self.settings.clipping_clear_s)
        {
            self.state.clipping = false;
        }
    }

    /// The source reported a gap: a zero-length one means the device is gone (it reports the
    /// hole's length once back); either way the silence run and partial second start over.
    pub fn gap(&mut self, seconds: f64, at_s: f64) -> Option<HealthState> {
        let before = self.state.clone();
        self.silent_since = None;
        self.second = (at_s, 0, 0, 0.0);
        self.state.dead_air = false;
        self.state.source_lost = seconds <= 0.0;
        self.changed(before, at_s)
    }

    fn changed(&mut self, before: HealthState, at_s: f64) -> Option<HealthState> {
        let flags = |s: &HealthState| (s.dead_air, s.clipping, s.source_lost);
        if flags(&before) == flags(&self.state) {
            return None;
        }
        self.state.changed_at_s = (at_s * 1000.0).round() / 1000.0;
        Some(self.state.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 1000;

    fn monitor() -> HealthMonitor {
        HealthMonitor::new(HealthSettings {
            dead_air_s: 5.0,
            clipping_clear_s: 3.0,
            ..HealthSettings::default()
        })
    }

    /// Feeds `seconds` of a constant signal one second at a time; returns the changes.
    fn feed(m: &mut HealthMonitor, value: f32, from_s: f64, seconds: usize) -> Vec<HealthState> {
        (0..seconds)
            .filter_map(|i| m.audio(&vec![value; RATE as usize], RATE, from_s + i as f64))
            .collect()
    }

    #[test]
    fn dead_air_is_raised_after_the_set_silence_and_cleared_by_sound() {
        let mut m = monitor();
        assert!(feed(&mut m, 0.1, 0.0, 3).is_empty());
        assert!(
            feed(&mut m, 0.0, 3.0, 4).is_empty(),
            "4 s of silence is no dead air yet"
        );
        let raised = feed(&mut m, 0.0, 7.0, 2);
        assert_eq!(raised.len(), 1);
        assert!(raised[0].dead_air);
        assert_eq!(raised[0].changed_at_s, 8.0);
        let cleared = feed(&mut m, 0.1, 9.0, 1);
        assert_eq!(cleared.len(), 1);
        assert!(!cleared[0].dead_air);
    }

    #[test]
    fn clipping_is_raised_at_once_and_clears_only_after_the_quiet_spell() {
        let mut m = monitor();
        let raised = feed(&mut m, 1.0, 0.0, 1);
        assert!(raised[0].clipping);
        assert!(
            feed(&mut m, 0.5, 1.0, 2).is_empty(),
            "still within clipping_clear_s"
        );
        let cleared = feed(&mut m, 0.5, 3.0, 1);
        assert!(!cleared[0].clipping);
        // A single full-scale sample in a second of 1000 is at the 0.1 % threshold.
        let mut second = vec![0.5; RATE as usize];
        second[10] = -1.0;
        assert!(m.audio(&second, RATE, 4.0).unwrap().clipping);
    }

    #[test]
    fn a_lost_device_is_raised_by_its_zero_gap_and_cleared_by_audio() {
        let mut m = monitor();
        feed(&mut m, 0.0, 0.0, 4);
        let lost = m.gap(0.0, 4.0).unwrap();
        assert!(lost.source_lost && !lost.dead_air);
        assert_eq!(m.gap(3.0, 4.0).map(|s| s.source_lost), Some(false));
        assert!(m.gap(0.0, 4.0).unwrap().source_lost);
        let back = feed(&mut m, 0.1, 7.0, 1);
        assert!(!back[0].source_lost);
        // The silence before the loss does not count towards dead air after it.
        assert!(feed(&mut m, 0.0, 8.0, 4).is_empty());
    }

    #[test]
    fn settings_name_the_key_they_refuse() {
        assert!(HealthSettings::default().validate().is_ok());
        let bad = HealthSettings {
            dead_air_s: f64::NAN,
            ..HealthSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "dead_air_s");
        let bad = HealthSettings {
            clipping_ratio: 0.0,
            ..HealthSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "clipping_ratio");
    }
}
