//! Zero-shot scoring: cosine between a track embedding and each tag embedding.
//!
//! The track embedding is the mean of its window embeddings (as in the paper); each tag's
//! score is its cosine similarity with that mean. A tag is reported when its score reaches
//! its own threshold (from the vocabulary line) or, failing that, the global threshold.

use serde::Serialize;
use thiserror::Error;

/// What can go wrong when building a scorer.
#[derive(Debug, Error, PartialEq)]
pub enum ScoreError {
    /// The tag embeddings are not a whole number of rows of `dim` values.
    #[error("tag embeddings hold {values} values, which is not {tags} rows of {dim}")]
    Shape {
        /// Number of values supplied.
        values: usize,
        /// Number of tags supplied.
        tags: usize,
        /// Embedding size expected.
        dim: usize,
    },
    /// A track embedding of the wrong size was scored.
    #[error("track embedding has {got} values, the tags have {expected}")]
    TrackDim {
        /// Size of the track embedding given.
        got: usize,
        /// Size of the tag embeddings.
        expected: usize,
    },
}

/// One tag of a scorer: its label and optional own threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct TagSpec {
    /// The label reported for this tag.
    pub label: String,
    /// Threshold set on the vocabulary line; overrides the global one.
    pub threshold: Option<f32>,
}

/// A scored tag as published.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TagScore {
    /// The tag's label.
    pub tag: String,
    /// Cosine similarity between track and tag embeddings, in [-1, 1], less the model's
    /// per-word calibration offset when it has one.
    #[serde(serialize_with = "shortest_f32")]
    pub score: f32,
}

/// A track's tags as every report of it carries them (the daemon's `track` message and
/// `hark tag`'s line): the best tag, all that passed, and who chose them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackTags {
    /// The best tag, if any passed.
    pub top: Option<String>,
    /// Tags passing their thresholds, best first.
    pub tags: Vec<TagScore>,
    /// Model identity (name@version+hash).
    pub model: String,
    /// Vocabulary identity (file#hash).
    pub vocabulary: String,
}

impl TrackTags {
    /// The report of `tags` (best first) chosen by `model` and `vocabulary`.
    pub fn new(tags: Vec<TagScore>, model: String, vocabulary: String) -> Self {
        Self {
            top: tags.first().map(|t| t.tag.clone()),
            tags,
            model,
            vocabulary,
        }
    }
}

/// Writes an f32 as the shortest decimal that reads back as the same f32. A JSON value
/// (`serde_json::Value`, as MQTT messages are built) holds f64s, and an f32 widened to f64
/// prints with noise digits (0.6541849 as 0.654184877872467); going through the f32's own
/// shortest form gives every path (stdout, MQTT, `hark tag`) the same text.
fn shortest_f32<S: serde::Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    let shortest: f64 = x.to_string().parse().unwrap_or(f64::from(*x));
    s.serialize_f64(shortest)
}

/// Selection rules applied after scoring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    /// Threshold for tags that carry none of their own.
    pub threshold: f32,
    /// At most this many tags are reported (0 = no limit).
    pub top_k: usize,
}

/// Scores track embeddings against a fixed set of unit-normalised tag embeddings.
#[derive(Debug, Clone)]
pub struct Scorer {
    tags: Vec<TagSpec>,
    /// Row-major [tags × dim], each row scaled to unit length once here, not per track.
    unit_rows: Vec<f32>,
    /// Per tag, what calibration takes off its cosine (all 0 for raw cosines).
    offsets: Vec<f32>,
    dim: usize,
}

impl Scorer {
    /// Builds a scorer from tags and their embeddings (row-major, `tags.len()` rows of `dim`).
    pub fn new(tags: Vec<TagSpec>, embeddings: &[f32], dim: usize) -> Result<Self, ScoreError> {
        if dim == 0 || embeddings.len() != tags.len() * dim {
            return Err(ScoreError::Shape {
                values: embeddings.len(),
                tags: tags.len(),
                dim,
            });
        }
        let mut unit_rows = embeddings.to_vec();
        for row in unit_rows.chunks_exact_mut(dim) {
            normalize(row);
        }
        Ok(Self {
            offsets: vec![0.0; tags.len()],
            tags,
            unit_rows,
            dim,
        })
    }

    /// The same tags with each score lowered by `word_shift` times the tag's mean cosine over
    /// reference tracks, given as `track_mean`, the mean of their unit-length embeddings.
    pub fn calibrated(mut self, track_mean: &[f32], word_shift: f32) -> Result<Self, ScoreError> {
        if track_mean.len() != self.dim {
            return Err(ScoreError::TrackDim {
                got: track_mean.len(),
                expected: self.dim,
            });
        }
        self.offsets = self
            .unit_rows
            .chunks_exact(self.dim)
            .map(|row| word_shift * dot(row, track_mean))
            .collect();
        Ok(self)
    }

    /// Embedding size the scorer expects.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// True when the scorer has no tags.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The tags in vocabulary order.
    pub fn tags(&self) -> &[TagSpec] {
        &self.tags
    }

    /// Score of every tag, in vocabulary order: its cosine, less its calibration offset.
    pub fn score_all(&self, track: &[f32]) -> Result<Vec<f32>, ScoreError> {
        if track.len() != self.dim {
            return Err(ScoreError::TrackDim {
                got: track.len(),
                expected: self.dim,
            });
        }
        let norm = dot(track, track).sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return Ok(vec![0.0; self.tags.len()]);
        }
        Ok(self
            .unit_rows
            .chunks_exact(self.dim)
            .zip(&self.offsets)
            .map(|(row, offset)| dot(row, track) / norm - offset)
            .collect())
    }

    /// The mean of the tags' unit embeddings: `cosine_to(direction, x)` is the mean of the
    /// tags' cosines with `x`, in one dot product instead of one per tag.
    pub fn mean_direction(&self) -> Vec<f32> {
        let mut mean = vec![0.0; self.dim];
        for row in self.unit_rows.chunks_exact(self.dim) {
            mean.iter_mut().zip(row).for_each(|(m, r)| *m += r);
        }
        let n = self.tags.len().max(1) as f32;
        mean.iter_mut().for_each(|m| *m /= n);
        mean
    }

    /// Every tag with its score, best first (ties keep vocabulary order).
    pub fn ranked(&self, track: &[f32]) -> Result<Vec<TagScore>, ScoreError> {
        let scores = self.score_all(track)?;
        let mut ranked: Vec<TagScore> = self
            .tags
            .iter()
            .zip(scores)
            .map(|(t, score)| TagScore {
                tag: t.label.clone(),
                score,
            })
            .collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(ranked)
    }

    /// The tags that pass their threshold, best first, cut to `top_k`.
    pub fn select(&self, track: &[f32], rule: Selection) -> Result<Vec<TagScore>, ScoreError> {
        let scores = self.score_all(track)?;
        let mut chosen: Vec<TagScore> = self
            .tags
            .iter()
            .zip(scores)
            .filter(|(t, s)| *s >= t.threshold.unwrap_or(rule.threshold))
            .map(|(t, score)| TagScore {
                tag: t.label.clone(),
                score,
            })
            .collect();
        chosen.sort_by(|a, b| b.score.total_cmp(&a.score));
        if rule.top_k > 0 {
            chosen.truncate(rule.top_k);
        }
        Ok(chosen)
    }
}

/// Running mean of window embeddings: the paper's track embedding.
#[derive(Debug, Clone)]
pub struct MeanEmbedding {
    sum: Vec<f64>,
    count: usize,
}

impl MeanEmbedding {
    /// An empty mean over embeddings of size `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            sum: vec![0.0; dim],
            count: 0,
        }
    }

    /// Adds one window embedding; embeddings of the wrong size are ignored and reported.
    pub fn add(&mut self, embedding: &[f32]) -> bool {
        if embedding.len() != self.sum.len() {
            return false;
        }
        for (s, &e) in self.sum.iter_mut().zip(embedding) {
            *s += f64::from(e);
        }
        self.count += 1;
        true
    }

    /// Number of windows added so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The mean so far, or `None` before the first window.
    pub fn mean(&self) -> Option<Vec<f32>> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        Some(self.sum.iter().map(|s| (s / n) as f32).collect())
    }

    /// Forgets every window added.
    pub fn clear(&mut self) {
        self.sum.iter_mut().for_each(|s| *s = 0.0);
        self.count = 0;
    }
}

/// Dot product of two equally long slices, summed in eight lanes: one running sum would wait
/// on every add (the mel filterbank's upper bands, 0.64 → 0.44 µs a frame).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut lanes = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Cosine similarity; 0 when either vector is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let denom = (dot(a, a) * dot(b, b)).sqrt();
    if denom == 0.0 || !denom.is_finite() {
        0.0
    } else {
        dot(a, b) / denom
    }
}

/// Scales a vector to unit length in place (all-zero vectors stay zero).
pub fn normalize(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_reads_the_same_printed_directly_or_through_a_json_value() {
        let t = TagScore {
            tag: "rock".into(),
            score: 0.654_184_9,
        };
        let direct = serde_json::to_string(&t).unwrap();
        let via_value = serde_json::to_value(&t).unwrap().to_string();
        assert_eq!(direct, r#"{"tag":"rock","score":0.6541849}"#);
        assert_eq!(via_value, r#"{"score":0.6541849,"tag":"rock"}"#);
    }

    fn spec(label: &str, threshold: Option<f32>) -> TagSpec {
        TagSpec {
            label: label.into(),
            threshold,
        }
    }

    #[test]
    fn cosine_matches_hand_computed_values() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.70710677).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 0.0]), 0.0);
        assert!((cosine(&[1.0, 2.0], &[-1.0, -2.0]) + 1.0).abs() < 1e-6);
    }

    #[test]
    fn ranking_orders_by_cosine_and_is_scale_invariant() {
        let emb = [1.0, 0.0, 0.0, 2.0, 3.0, 3.0];
        let s = Scorer::new(
            vec![spec("x", None), spec("y", None), spec("xy", None)],
            &emb,
            2,
        )
        .unwrap();
        let r = s.ranked(&[10.0, 1.0]).unwrap();
        let order: Vec<_> = r.iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(order, ["x", "xy", "y"]);
        let r2 = s.ranked(&[0.1, 0.01]).unwrap();
        for (a, b) in r.iter().zip(&r2) {
            assert!((a.score - b.score).abs() < 1e-6);
        }
    }

    #[test]
    fn calibration_takes_each_words_share_of_the_reference_mean_off_its_cosine() {
        // Tags along x and along y; reference tracks lean towards x.
        let raw = Scorer::new(
            vec![spec("x", None), spec("y", None)],
            &[2.0, 0.0, 0.0, 1.0],
            2,
        )
        .unwrap();
        let track_mean = [0.8, 0.2];
        let calibrated = raw.clone().calibrated(&track_mean, 0.25).unwrap();
        let track = [1.0, 1.0];
        let (before, after) = (
            raw.score_all(&track).unwrap(),
            calibrated.score_all(&track).unwrap(),
        );
        // x loses 0.25 · 0.8, y 0.25 · 0.2: the word most tracks resemble loses most.
        assert!(
            (before[0] - after[0] - 0.2).abs() < 1e-6,
            "{before:?} {after:?}"
        );
        assert!(
            (before[1] - after[1] - 0.05).abs() < 1e-6,
            "{before:?} {after:?}"
        );
        assert_eq!(
            calibrated.ranked(&track).unwrap()[0].tag,
            "y",
            "a tie in cosine goes to the word tracks resemble less"
        );
        assert!(
            raw.calibrated(&[1.0], 0.25).is_err(),
            "a mean of the wrong size"
        );
    }

    #[test]
    fn per_tag_threshold_overrides_global_and_top_k_cuts() {
        let emb = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let tags = vec![
            spec("x", None),
            spec("y", Some(-0.5)),
            spec("xy", Some(0.99)),
        ];
        let s = Scorer::new(tags, &emb, 2).unwrap();
        let rule = Selection {
            threshold: 0.5,
            top_k: 0,
        };
        let got: Vec<_> = s
            .select(&[1.0, 0.0], rule)
            .unwrap()
            .into_iter()
            .map(|t| t.tag)
            .collect();
        // x: 1.0 ≥ 0.5; y: 0.0 ≥ -0.5 (own threshold); xy: 0.707 < 0.99 (own threshold).
        assert_eq!(got, ["x", "y"]);
        let top1 = s
            .select(
                &[1.0, 0.0],
                Selection {
                    threshold: 0.5,
                    top_k: 1,
                },
            )
            .unwrap();
        assert_eq!(top1.len(), 1);
        assert_eq!(top1[0].tag, "x");
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(matches!(
            Scorer::new(vec![spec("x", None)], &[1.0, 2.0, 3.0], 2),
            Err(ScoreError::Shape { .. })
        ));
        let s = Scorer::new(vec![spec("x", None)], &[1.0, 2.0], 2).unwrap();
        assert_eq!(
            s.score_all(&[1.0]),
            Err(ScoreError::TrackDim {
                got: 1,
                expected: 2
            })
        );
    }

    #[test]
    fn mean_embedding_averages_windows() {
        let mut m = MeanEmbedding::new(2);
        assert_eq!(m.mean(), None);
        assert!(m.add(&[1.0, 3.0]));
        assert!(m.add(&[3.0, 5.0]));
        assert!(!m.add(&[1.0]));
        assert_eq!(m.mean(), Some(vec![2.0, 4.0]));
        assert_eq!(m.count(), 2);
        m.clear();
        assert_eq!(m.count(), 0);
    }
}
