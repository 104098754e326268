//! The daemon's outgoing messages as types: what a consumer of `track`, `now` and
//! `diagnostic` receives is defined here once, and serde writes it.

use super::pipeline::{NowUpdate, ScoredTrack};
use crate::score::{TagScore, TrackTags};
use crate::track::Boundary;
use crate::vocab::VocabularyScorer;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Maps stream time onto wall time for the messages' timestamps.
#[derive(Debug, Clone)]
pub struct MessageContext {
    /// The device name in topics and messages.
    pub device: String,
    /// The model identity reported with every track.
    pub model: String,
    /// Wall time of stream time zero.
    pub wall_origin: SystemTime,
    /// Carry the track embedding in track messages (`mqtt.track_embedding`).
    pub include_embedding: bool,
}

impl MessageContext {
    fn wall_time(&self, stream_s: f64) -> String {
        let offset = Duration::try_from_secs_f64(stream_s.max(0.0)).unwrap_or_default();
        humantime::format_rfc3339_millis(self.wall_origin + offset).to_string()
    }
}

/// One finished track, as published on `{base}/track` and printed by the daemon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackMessage {
    /// Unique id; a redelivery carries the same one.
    pub id: String,
    /// The device that heard it.
    pub device: String,
    /// Wall time of the track's start (RFC 3339, milliseconds).
    pub started_at: String,
    /// Wall time of its end.
    pub ended_at: String,
    /// Stream seconds of the start.
    pub stream_start_s: f64,
    /// Stream seconds of the end.
    pub stream_end_s: f64,
    /// Length in seconds.
    pub duration_s: f64,
    /// Windows averaged into the track embedding.
    pub windows: usize,
    /// What ended the track.
    pub boundary: Boundary,
    /// Its tags, as `hark tag` reports a file's.
    #[serde(flatten)]
    pub tagged: TrackTags,
    /// The track embedding, with `mqtt.track_embedding`: a consumer can score it with words
    /// of its own (with the same model's word branch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingField>,
}

/// A track embedding in a message: `dim` little-endian IEEE 754 half floats, base64
/// (standard alphabet, padded). Decode: base64 → bytes → `dim` × f16 LE → f32.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingField {
    /// Always `f16le`.
    pub format: &'static str,
    /// Number of values.
    pub dim: usize,
    /// The values.
    pub base64: String,
}

impl EmbeddingField {
    /// Encodes `embedding`.
    pub fn new(embedding: &[f32]) -> Self {
        use base64::Engine;
        let bytes = crate::history::store::f16_blob(embedding);
        Self {
            format: "f16le",
            dim: embedding.len(),
            base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

impl TrackMessage {
    /// The message for `scored`, under a fresh id.
    pub fn new(ctx: &MessageContext, scored: &ScoredTrack) -> Self {
        let t = &scored.track;
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            device: ctx.device.clone(),
            started_at: ctx.wall_time(t.start_s),
            ended_at: ctx.wall_time(t.end_s),
            stream_start_s: round3(t.start_s),
            stream_end_s: round3(t.end_s),
            duration_s: round3(t.duration_s()),
            windows: t.windows,
            boundary: t.boundary,
            tagged: TrackTags::new(
                scored.tags.clone(),
                ctx.model.clone(),
                scored.vocabulary.clone(),
            ),
            embedding: ctx
                .include_embedding
                .then(|| EmbeddingField::new(&t.embedding)),
        }
    }
}

/// Provisional tags of the track in progress, as published (retained) on `{base}/now`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NowMessage {
    /// The device.
    pub device: String,
    /// Wall time the track started.
    pub started_at: String,
    /// Windows so far.
    pub windows: usize,
    /// Tags of the mean so far.
    pub tags: Vec<TagScore>,
    /// Vocabulary identity.
    pub vocabulary: String,
}

impl NowMessage {
    /// The message for `now`.
    pub fn new(ctx: &MessageContext, now: &NowUpdate) -> Self {
        Self {
            device: ctx.device.clone(),
            started_at: ctx.wall_time(now.start_s),
            windows: now.windows,
            tags: now.tags.clone(),
            vocabulary: now.vocabulary.clone(),
        }
    }
}

/// The result of a vocabulary (re)load, as published (retained) on `{base}/diagnostic`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiagnosticMessage {
    /// The identity now in service when `ok`, else the file that was refused.
    pub vocabulary: String,
    /// Whether the file went into service.
    pub ok: bool,
    /// Tags in the vocabulary that went into service (0 when refused).
    pub tags: usize,
    /// Every error, one per line, naming the line of the file.
    pub errors: Vec<String>,
    /// When refused: the identity that stays in service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_service: Option<String>,
}

impl DiagnosticMessage {
    /// `scorer` went into service.
    pub fn applied(scorer: &VocabularyScorer) -> Self {
        Self {
            vocabulary: scorer.identity.clone(),
            ok: true,
            tags: scorer.scorer.len(),
            errors: Vec::new(),
            in_service: None,
        }
    }

    /// The file at `path` was refused for `errors`; `in_service` keeps serving.
    pub fn rejected(path: &Path, errors: Vec<String>, in_service: String) -> Self {
        Self {
            vocabulary: path.display().to_string(),
            ok: false,
            tags: 0,
            errors,
            in_service: Some(in_service),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::FinishedTrack;

    #[test]
    fn a_track_message_carries_wall_times_on_the_stream_clock_and_the_best_tag_on_top() {
        let ctx = MessageContext {
            device: "radio-1".into(),
            model: "m@1".into(),
            wall_origin: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            include_embedding: false,
        };
        let scored = ScoredTrack {
            track: FinishedTrack {
                start_s: 1.5,
                end_s: 12.25,
                windows: 7,
                embedding: vec![0.0; 4],
                boundary: Boundary::Gap,
            },
            tags: vec![
                TagScore {
                    tag: "jazz".into(),
                    score: 0.5,
                },
                TagScore {
                    tag: "piano".into(),
                    score: 0.4,
                },
            ],
            vocabulary: "v#1".into(),
            windows: None,
        };
        let json = serde_json::to_value(TrackMessage::new(&ctx, &scored)).unwrap();
        assert_eq!(json["started_at"], "2023-11-14T22:13:21.500Z");
        assert_eq!(json["ended_at"], "2023-11-14T22:13:32.250Z");
        assert_eq!(json["duration_s"], 10.75);
        assert_eq!(json["boundary"], "gap");
        assert_eq!(json["top"], "jazz");
        assert_eq!(json["tags"][1]["tag"], "piano");
        assert_eq!(json["id"].as_str().map(str::len), Some(36));

        // `hark tag` reports the same tags of the same audio in the same fields.
        let report = crate::file_tagger::TagReport {
            file: "a.ogg".into(),
            duration_s: 10.75,
            windows: 7,
            tagged: TrackTags::new(scored.tags.clone(), "m@1".into(), "v#1".into()),
        };
        let report = serde_json::to_value(report).unwrap();
        for key in [
            "top",
            "tags",
            "model",
            "vocabulary",
            "windows",
            "duration_s",
        ] {
            assert_eq!(report[key], json[key], "{key}");
        }
    }
}
