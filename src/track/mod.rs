//! Track aggregation: running mean embedding and boundary detection.
//!
//! A live stream has no track list, so boundaries are found here: a long enough stretch of
//! silence, a change in the music (the mean of the most recent windows drifting away from
//! the running track mean), a command from outside, or a maximum length. Everything runs on
//! the stream's own clock (seconds of audio since start), so the same input always gives
//! the same tracks whatever the machine's speed.

use crate::score::{cosine, MeanEmbedding};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Settings of the segmenter, all in seconds or dBFS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmenterParams {
    /// Audio quieter than this (RMS, dBFS) counts as silence.
    pub silence_db: f32,
    /// Silence must last this long to end a track.
    pub silence_min_s: f64,
    /// Cosine distance between recent windows and the track mean that always marks new
    /// music (0 disables this absolute rule).
    pub novelty_threshold: f32,
    /// New music also when the distance exceeds this many times the track's own mean
    /// distance so far: scale-free, so it works whatever the model's spread (0 disables).
    pub novelty_ratio: f32,
    /// How many recent windows are compared against the track mean.
    pub novelty_windows: usize,
    /// Tracks shorter than this are dropped (command boundaries excepted).
    pub min_track_s: f64,
    /// A track is cut after this long even without any boundary.
    pub max_track_s: f64,
}

impl Default for SegmenterParams {
    fn default() -> Self {
        Self {
            silence_db: -50.0,
            silence_min_s: 1.5,
            novelty_threshold: 0.3,
            novelty_ratio: 6.0,
            novelty_windows: 4,
            min_track_s: 10.0,
            max_track_s: 900.0,
        }
    }
}

/// A segmenter parameter outside what it accepts, naming the key within `[tracks]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ParamsError {
    /// The parameter's name, e.g. `silence_min_s`.
    pub key: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// Longest silence, shortest and longest track accepted, in seconds (a week): beyond it a
/// value is a typo, and `inf` would never end a track.
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

impl SegmenterParams {
    /// Checks every value: finite, in range and consistent with the others.
    pub fn validate(&self) -> Result<(), ParamsError> {
        let bad = |key, problem: String| Err(ParamsError { key, problem });
        // dBFS of a real signal is at most 0; -200 is far below any converter's floor.
        if !(-200.0..=0.0).contains(&self.silence_db) {
            return bad(
                "silence_db",
                format!(
                    "must be finite and in [-200, 0] dBFS, got {}",
                    self.silence_db
                ),
            );
        }
        if !(self.silence_min_s > 0.0 && self.silence_min_s <= MAX_SECONDS) {
            return bad(
                "silence_min_s",
                format!(
                    "must be finite and in (0, {MAX_SECONDS}] s, got {}",
                    self.silence_min_s
                ),
            );
        }
        if !(0.0..=2.0).contains(&self.novelty_threshold) {
            return bad(
                "novelty_threshold",
                format!(
                    "must be finite and in [0, 2] (a cosine distance), got {}",
                    self.novelty_threshold
                ),
            );
        }
        if !(self.novelty_ratio >= 0.0 && self.novelty_ratio.is_finite()) {
            return bad(
                "novelty_ratio",
                format!("must be finite and >= 0, got {}", self.novelty_ratio),
            );
        }
        // Each recent window is held in memory; thousands would be hours of audio.
        if !(1..=1000).contains(&self.novelty_windows) {
            return bad(
                "novelty_windows",
                format!("must be in [1, 1000], got {}", self.novelty_windows),
            );
        }
        if !(0.0..=MAX_SECONDS).contains(&self.min_track_s) {
            return bad(
                "min_track_s",
                format!(
                    "must be finite and in [0, {MAX_SECONDS}] s, got {}",
                    self.min_track_s
                ),
            );
        }
        if !(self.max_track_s > self.min_track_s && self.max_track_s <= MAX_SECONDS) {
            return bad(
                "max_track_s",
                format!(
                    "must be finite, greater than min_track_s ({}) and at most {MAX_SECONDS} s, got {}",
                    self.min_track_s, self.max_track_s
                ),
            );
        }
        Ok(())
    }
}

/// Why a track ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// A stretch of silence.
    Silence,
    /// The music changed.
    Novelty,
    /// Someone said so (MQTT command).
    Command,
    /// The track reached the maximum length.
    MaxLength,
    /// Audio was lost (device gone, pipeline full): the track ends where the audio stopped.
    Gap,
    /// The input ended or the daemon is shutting down.
    EndOfStream,
}

/// A finished track: its span on the stream clock and its mean embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedTrack {
    /// Stream time of the first window's start, in seconds.
    pub start_s: f64,
    /// Stream time of the last window's end (or of the boundary), in seconds.
    pub end_s: f64,
    /// Number of windows averaged.
    pub windows: usize,
    /// Mean of the window embeddings (the paper's track embedding).
    pub embedding: Vec<f32>,
    /// What ended it.
    pub boundary: Boundary,
}

impl FinishedTrack {
    /// Length of the track in seconds.
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// What happened when something was pushed into the segmenter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// A track that ended and is long enough to report.
    pub finished: Option<FinishedTrack>,
    /// A track that ended but was shorter than the minimum, so was dropped.
    pub dropped: Option<FinishedTrack>,
}

/// The track being built: its windows' running mean and the recent windows for novelty.
#[derive(Debug, Clone)]
struct Current {
    start_s: f64,
    end_s: f64,
    mean: MeanEmbedding,
    /// The most recent windows (start, end, embedding), not yet in `mean`.
    recent: VecDeque<(f64, f64, Vec<f32>)>,
    /// End of the newest window already folded into `mean`.
    settled_end_s: f64,
    /// Sum and count of the novelty distances seen in this track: its own baseline.
    novelty_sum: f64,
    novelty_count: usize,
}

/// Splits a stream of windows into tracks.
#[derive(Debug)]
pub struct Segmenter {
    params: SegmenterParams,
    dim: usize,
    current: Option<Current>,
    /// Stream time the current run of silence began, if we are in one.
    silence_since: Option<f64>,
    /// Recent level chunks (end time, silent?) so a window can tell how much of it was silent.
    levels: VecDeque<(f64, bool)>,
    /// Windows starting before this time straddle a boundary and belong to no track.
    barrier_s: f64,
}

impl Segmenter {
    /// A segmenter for embeddings of size `dim`.
    pub fn new(params: SegmenterParams, dim: usize) -> Self {
        Self {
            params,
            dim,
            current: None,
            silence_since: None,
            levels: VecDeque::new(),
            barrier_s: f64::NEG_INFINITY,
        }
    }

    /// The settings in force.
    pub fn params(&self) -> &SegmenterParams {
        &self.params
    }

    /// Reports the level of a chunk of audio ending at `end_s`; may end a track on silence.
    pub fn push_level(&mut self, start_s: f64, end_s: f64, rms_dbfs: f32) -> Outcome {
        let silent = rms_dbfs < self.params.silence_db;
        self.levels.push_back((end_s, silent));
        // Keep a little more than one window's worth of level history.
        while self.levels.len() > 1 && self.levels.front().is_some_and(|(t, _)| *t < end_s - 10.0) {
            self.levels.pop_front();
        }
        if !silent {
            self.silence_since = None;
            return Outcome::default();
        }
        let since = *self.silence_since.get_or_insert(start_s);
        if end_s - since >= self.params.silence_min_s && self.current.is_some() {
            self.barrier_s = since;
            return self.close(Boundary::Silence, Some(since));
        }
        Outcome::default()
    }

    /// Adds a window embedding spanning `[start_s, end_s]`; may end a track.
    pub fn push_window(&mut self, start_s: f64, end_s: f64, embedding: &[f32]) -> Outcome {
        if embedding.len() != self.dim {
            tracing::warn!(
                got = embedding.len(),
                expected = self.dim,
                "window embedding of wrong size ignored"
            );
            return Outcome::default();
        }
        if start_s < self.barrier_s || self.silent_fraction(start_s, end_s) > 0.5 {
            return Outcome::default();
        }
        let mut outcome = Outcome::default();
        if let Some(cur) = &self.current {
            if end_s - cur.start_s > self.params.max_track_s {
                self.barrier_s = start_s;
                outcome = self.close(Boundary::MaxLength, None);
            }
        }
        let k = self.params.novelty_windows.max(1);
        let cur = self.current.get_or_insert_with(|| Current {
            start_s,
            end_s,
            mean: MeanEmbedding::new(embedding.len()),
            recent: VecDeque::with_capacity(k + 1),
            novelty_sum: 0.0,
            novelty_count: 0,
            settled_end_s: start_s,
        });
        cur.end_s = end_s;
        cur.recent.push_back((start_s, end_s, embedding.to_vec()));
        if cur.recent.len() > k {
            // The oldest recent window is now settled: it joins the track mean.
            if let Some((_, old_end, old)) = cur.recent.pop_front() {
                cur.mean.add(&old);
                cur.settled_end_s = old_end;
            }
        }
        if outcome.finished.is_none() && outcome.dropped.is_none() {
            if let Some(split) = self.novelty_split() {
                return split;
            }
        }
        outcome
    }

    /// Ends the current track now because of an outside command or the end of input.
    pub fn force_boundary(&mut self, reason: Boundary, at_s: f64) -> Outcome {
        self.barrier_s = at_s;
        self.close(reason, None)
    }

    /// Stream time where the current track started, and its provisional mean embedding.
    pub fn provisional(&self) -> Option<(f64, usize, Vec<f32>)> {
        let cur = self.current.as_ref()?;
        let mut all = cur.mean.clone();
        cur.recent.iter().for_each(|(_, _, w)| {
            all.add(w);
        });
        all.mean().map(|m| (cur.start_s, all.count(), m))
    }

    fn silent_fraction(&self, start_s: f64, end_s: f64) -> f64 {
        let (mut silent, mut total) = (0usize, 0usize);
        for &(t, s) in &self.levels {
            if t > start_s && t <= end_s {
                total += 1;
                silent += usize::from(s);
            }
        }
        if total == 0 {
            0.0
        } else {
            silent as f64 / total as f64
        }
    }

    /// Splits when the recent windows have drifted from the settled track mean.
    fn novelty_split(&mut self) -> Option<Outcome> {
        let (threshold, ratio) = (self.params.novelty_threshold, self.params.novelty_ratio);
        let k = self.params.novelty_windows.max(1);
        let min_track_s = self.params.min_track_s;
        let cur = self.current.as_mut()?;
        if (threshold <= 0.0 && ratio <= 0.0) || cur.recent.len() < k {
            return None;
        }
        let settled = cur.mean.mean()?;
        let recent_start = cur.recent.front()?.0;
        let mut recent = MeanEmbedding::new(self.dim);
        cur.recent.iter().for_each(|(_, _, w)| {
            recent.add(w);
        });
        let recent_mean = recent.mean()?;
        let distance = 1.0 - cosine(&settled, &recent_mean);
        let baseline = (cur.novelty_count >= 5).then(|| cur.novelty_sum / cur.novelty_count as f64);
        let absolute_hit = threshold > 0.0 && distance >= threshold;
        let relative_hit = ratio > 0.0
            && baseline.is_some_and(|b| f64::from(distance) > f64::from(ratio) * b.max(1e-6));
        tracing::trace!(at_s = recent_start, distance, baseline, "novelty");
        if !(absolute_hit || relative_hit) {
            cur.novelty_sum += f64::from(distance);
            cur.novelty_count += 1;
            return None;
        }
        // The settled part alone must already make a track worth reporting.
        if recent_start - cur.start_s < min_track_s {
            return None;
        }
        let cur = self.current.as_ref()?;
        // Only the recent windows that sound like what follows them move to the new track;
        // the ones that still sound like the settled track stay with it.
        let recent: Vec<&(f64, f64, Vec<f32>)> = cur.recent.iter().collect();
        let split = (0..recent.len())
            .find(|&i| {
                let mut after = MeanEmbedding::new(self.dim);
                recent[i..].iter().for_each(|(_, _, w)| {
                    after.add(w);
                });
                after
                    .mean()
                    .is_some_and(|a| cosine(&recent[i].2, &a) > cosine(&recent[i].2, &settled))
            })
            .unwrap_or(0);
        // The change lies inside the first new window but after the last old one ended.
        let last_old_end = if split > 0 {
            recent[split - 1].1
        } else {
            cur.settled_end_s
        };
        let split_s = recent[split].0.max(last_old_end);
        if split_s - cur.start_s < self.params.min_track_s {
            return None;
        }
        tracing::debug!(distance, ?baseline, split_s, "novelty boundary");
        let mut cur = self.current.take()?;
        let mut old = cur.mean.clone();
        let mut carried: Vec<(f64, f64, Vec<f32>)> = cur.recent.drain(..).collect();
        let new_part = carried.split_off(split);
        carried.iter().for_each(|(_, _, w)| {
            old.add(w);
        });
        let finished = FinishedTrack {
            start_s: cur.start_s,
            end_s: split_s,
            windows: old.count(),
            embedding: old.mean().unwrap_or(settled),
            boundary: Boundary::Novelty,
        };
        let mut next = Current {
            start_s: split_s,
            end_s: cur.end_s,
            mean: MeanEmbedding::new(self.dim),
            recent: VecDeque::with_capacity(k + 1),
            novelty_sum: 0.0,
            novelty_count: 0,
            settled_end_s: split_s,
        };
        next.recent.extend(new_part);
        self.current = Some(next);
        Some(self.judge(finished))
    }

    fn close(&mut self, boundary: Boundary, end_override: Option<f64>) -> Outcome {
        let Some(cur) = self.current.take() else {
            return Outcome::default();
        };
        let mut mean = cur.mean;
        cur.recent.iter().for_each(|(_, _, w)| {
            mean.add(w);
        });
        let Some(embedding) = mean.mean() else {
            return Outcome::default();
        };
        let end_s = end_override.map_or(cur.end_s, |e| e.max(cur.start_s));
        let track = FinishedTrack {
            start_s: cur.start_s,
            end_s,
            windows: mean.count(),
            embedding,
            boundary,
        };
        self.judge(track)
    }

    fn judge(&self, track: FinishedTrack) -> Outcome {
        let long_enough = track.duration_s() >= self.params.min_track_s
            || (track.boundary == Boundary::Command && track.windows > 0);
        if long_enough {
            Outcome {
                finished: Some(track),
                dropped: None,
            }
        } else {
            Outcome {
                finished: None,
                dropped: Some(track),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIN: f64 = 130.0 * 512.0 / 22_050.0;
    const HOP: f64 = WIN / 2.0;

    fn params() -> SegmenterParams {
        SegmenterParams {
            min_track_s: 6.0,
            ..SegmenterParams::default()
        }
    }

    /// Feeds `seconds` of audio at `level` and windows of embedding `e`, from time `t0`.
    fn feed(seg: &mut Segmenter, t0: f64, seconds: f64, level: f32, e: &[f32]) -> Vec<Outcome> {
        let mut out = Vec::new();
        let chunk = 512.0 / 22_050.0;
        let mut t = t0;
        let mut next_window_end = t0 + WIN;
        while t < t0 + seconds - 1e-9 {
            out.push(seg.push_level(t, t + chunk, level));
            t += chunk;
            if t >= next_window_end {
                out.push(seg.push_window(next_window_end - WIN, next_window_end, e));
                next_window_end += HOP;
            }
        }
        out.retain(|o| o.finished.is_some() || o.dropped.is_some());
        out
    }

    #[test]
    fn params_validation_names_the_key() {
        assert_eq!(SegmenterParams::default().validate(), Ok(()));
        let key = |p: SegmenterParams| p.validate().map_err(|e| e.key);
        let d = SegmenterParams::default;
        assert_eq!(
            key(SegmenterParams {
                silence_db: f32::NAN,
                ..d()
            }),
            Err("silence_db")
        );
        assert_eq!(
            key(SegmenterParams {
                silence_db: 3.0,
                ..d()
            }),
            Err("silence_db")
        );
        assert_eq!(
            key(SegmenterParams {
                silence_min_s: f64::INFINITY,
                ..d()
            }),
            Err("silence_min_s")
        );
        assert_eq!(
            key(SegmenterParams {
                novelty_threshold: f32::NAN,
                ..d()
            }),
            Err("novelty_threshold")
        );
        assert_eq!(
            key(SegmenterParams {
                novelty_ratio: f32::INFINITY,
                ..d()
            }),
            Err("novelty_ratio")
        );
        assert_eq!(
            key(SegmenterParams {
                novelty_windows: 0,
                ..d()
            }),
            Err("novelty_windows")
        );
        assert_eq!(
            key(SegmenterParams {
                min_track_s: f64::NAN,
                ..d()
            }),
            Err("min_track_s")
        );
        assert_eq!(
            key(SegmenterParams {
                max_track_s: f64::INFINITY,
                ..d()
            }),
            Err("max_track_s")
        );
        assert_eq!(
            key(SegmenterParams {
                min_track_s: 50.0,
                max_track_s: 20.0,
                ..d()
            }),
            Err("max_track_s")
        );
    }

    #[test]
    fn silence_splits_tracks_and_silent_windows_are_not_averaged() {
        let mut seg = Segmenter::new(params(), 2);
        assert!(feed(&mut seg, 0.0, 20.0, -20.0, &[1.0, 0.0]).is_empty());
        let ended = feed(&mut seg, 20.0, 3.0, -80.0, &[0.0, 1.0]);
        assert_eq!(ended.len(), 1);
        let t = ended[0].finished.as_ref().expect("long enough");
        assert_eq!(t.boundary, Boundary::Silence);
        assert_eq!(t.embedding, vec![1.0, 0.0]);
        assert!(
            (t.end_s - 20.0).abs() < 0.1,
            "ends where silence began: {}",
            t.end_s
        );
        assert!(seg.provisional().is_none(), "silent windows start no track");
    }

    #[test]
    fn short_tracks_are_dropped_but_command_boundaries_keep_them() {
        let mut seg = Segmenter::new(params(), 2);
        feed(&mut seg, 0.0, 4.0, -20.0, &[1.0, 0.0]);
        let ended = feed(&mut seg, 4.0, 2.0, -80.0, &[1.0, 0.0]);
        assert!(ended[0].finished.is_none());
        assert!(ended[0].dropped.is_some());
        feed(&mut seg, 6.0, 4.0, -20.0, &[1.0, 0.0]);
        let o = seg.force_boundary(Boundary::Command, 10.0);
        assert_eq!(o.finished.map(|t| t.boundary), Some(Boundary::Command));
    }

    #[test]
    fn a_change_of_music_splits_near_the_change() {
        let mut seg = Segmenter::new(params(), 2);
        assert!(feed(&mut seg, 0.0, 30.0, -20.0, &[1.0, 0.1]).is_empty());
        let ended = feed(&mut seg, 30.0, 30.0, -20.0, &[-0.2, 1.0]);
        assert_eq!(ended.len(), 1, "{ended:?}");
        let t = ended[0].finished.as_ref().unwrap();
        assert_eq!(t.boundary, Boundary::Novelty);
        assert!(
            (t.end_s - 30.0).abs() <= HOP,
            "split at {} not within a hop of 30 s",
            t.end_s
        );
        assert!(
            cosine(&t.embedding, &[1.0, 0.1]) > 0.99,
            "old track mean is not polluted"
        );
        let (start, _, mean) = seg.provisional().unwrap();
        assert!((start - 30.0).abs() <= HOP, "new track starts at {start}");
        assert!(cosine(&mean, &[-0.2, 1.0]) > 0.95);
    }

    #[test]
    fn steady_music_never_splits_and_max_length_cuts() {
        let p = SegmenterParams {
            max_track_s: 60.0,
            ..params()
        };
        let mut seg = Segmenter::new(p, 2);
        let ended = feed(&mut seg, 0.0, 130.0, -20.0, &[0.3, 0.7]);
        assert_eq!(ended.len(), 2);
        assert!(ended
            .iter()
            .all(|o| o.finished.as_ref().unwrap().boundary == Boundary::MaxLength));
        let d = ended[0].finished.as_ref().unwrap().duration_s();
        assert!(d <= 60.0 && d > 55.0, "{d}");
    }
}
