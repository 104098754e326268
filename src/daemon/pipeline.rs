//! The daemon's data flow as one synchronous state machine: source events in, track events
//! out. It owns the stream clock, the level meter, the front-end, the encoder call, the
//! segmenter and the scorer, so every behaviour of the stream is a plain function call in a
//! unit test; the threads around it only move events.

use super::health::{HealthMonitor, HealthSettings, HealthState};
use super::vocabulary::VocabularySlot;
use crate::audio::source::{AudioChunk, SourceEvent};
use crate::frontend::{FrontendParams, StreamingFrontend};
use crate::model::Model;
use crate::score::{Selection, TagScore};
use crate::track::{Boundary, FinishedTrack, Outcome, Segmenter, SegmenterParams};
use std::sync::Arc;

/// How the pipeline cuts windows and picks tags.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSettings {
    /// Front-end frames between window starts.
    pub hop_frames: usize,
    /// Threshold and top-k applied to every track's scores.
    pub selection: Selection,
    /// Stream seconds between provisional (`now`) updates of the track in progress.
    pub now_interval_s: f64,
    /// The segmenter's boundary rules.
    pub tracks: SegmenterParams,
    /// Hand each finished track its window embeddings too (`history.window_embeddings`).
    pub keep_window_embeddings: bool,
    /// Dead air and clipping rules.
    pub health: HealthSettings,
}

/// What came out of one push into the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    /// A window was embedded (stream seconds of its span).
    Window {
        /// Stream time of the window's first sample.
        start_s: f64,
        /// Stream time just past its last sample.
        end_s: f64,
        /// Seconds the encoder took on it (wall clock), for the latency histogram.
        encode_s: f64,
    },
    /// The encoder failed on a window; it was skipped.
    EncoderFailed(String),
    /// A track ended and is long enough to report.
    Track(ScoredTrack),
    /// A track ended shorter than the minimum and is not reported.
    ShortTrack(FinishedTrack),
    /// Provisional tags of the track in progress.
    Now(NowUpdate),
    /// The input's health changed (dead air, clipping, source lost).
    Health(HealthState),
    /// Audio was lost: the stream clock jumped over it and the track in progress ended.
    Gap {
        /// Stream time where the audio stopped.
        at_s: f64,
        /// How long the hole is.
        seconds: f64,
    },
}

/// A finished track with the tags chosen for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredTrack {
    /// The track's span, windows, embedding and boundary.
    pub track: FinishedTrack,
    /// Tags passing their thresholds, best first.
    pub tags: Vec<TagScore>,
    /// Identity of the vocabulary that chose them.
    pub vocabulary: String,
    /// The embeddings of the windows inside the track, with `keep_window_embeddings`.
    pub windows: Option<Vec<Vec<f32>>>,
}

/// Provisional tags of the track in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct NowUpdate {
    /// Stream time the track started.
    pub start_s: f64,
    /// Windows averaged so far.
    pub windows: usize,
    /// Tags of the mean so far.
    pub tags: Vec<TagScore>,
    /// Identity of the vocabulary that chose them.
    pub vocabulary: String,
}

/// Stream time counted in samples since the last change of rate or gap, so that it never
/// accumulates rounding however many chunks pass.
#[derive(Debug, Clone, Copy, Default)]
struct StreamClock {
    epoch_s: f64,
    rate: u32,
    samples: u64,
}

impl StreamClock {
    fn now_s(&self) -> f64 {
        if self.rate == 0 {
            self.epoch_s
        } else {
            self.epoch_s + self.samples as f64 / f64::from(self.rate)
        }
    }

    fn advance(&mut self, samples: usize, rate: u32) {
        if rate != self.rate {
            *self = Self {
                epoch_s: self.now_s(),
                rate,
                samples: 0,
            };
        }
        self.samples += samples as u64;
    }

    fn skip(&mut self, seconds: f64) {
        let now = self.now_s();
        *self = Self {
            epoch_s: now + seconds.max(0.0),
            rate: self.rate,
            samples: 0,
        };
    }
}

/// A front-end for one input rate, with the stream time its first window starts at.
struct RateFrontend {
    rate: u32,
    frontend: StreamingFrontend,
    epoch_s: f64,
    windows: u64,
}

/// The daemon's stream processing, one call per source event.
pub struct Pipeline {
    model: Arc<Model>,
    vocabulary: Arc<VocabularySlot>,
    settings: PipelineSettings,
    segmenter: Segmenter,
    clock: StreamClock,
    frontend: Option<RateFrontend>,
    last_window_end_s: f64,
    next_now_s: f64,
    health: HealthMonitor,
    /// Recent windows (start, end, embedding), kept only with `keep_window_embeddings`.
    kept_windows: std::collections::VecDeque<(f64, f64, Vec<f32>)>,
}

impl Pipeline {
    /// A pipeline at stream time zero.
    pub fn new(
        model: Arc<Model>,
        vocabulary: Arc<VocabularySlot>,
        settings: PipelineSettings,
    ) -> Self {
        let segmenter = Segmenter::new(settings.tracks.clone(), model.manifest.embedding_dim);
        let next_now_s = settings.now_interval_s;
        let health = HealthMonitor::new(settings.health.clone());
        Self {
            health,
            model,
            vocabulary,
            settings,
            segmenter,
            clock: StreamClock::default(),
            frontend: None,
            last_window_end_s: 0.0,
            next_now_s,
            kept_windows: std::collections::VecDeque::new(),
        }
    }

    /// The input's health now (its level updates every second of audio).
    pub fn health(&self) -> &HealthState {
        self.health.state()
    }

    /// Stream time of the next sample, in seconds.
    pub fn stream_time_s(&self) -> f64 {
        self.clock.now_s()
    }

    /// Takes one source event; returns what it caused, in order.
    pub fn push(&mut self, event: SourceEvent) -> Vec<PipelineEvent> {
        let mut events = Vec::new();
        match event {
            SourceEvent::Audio(chunk) => self.audio(chunk, &mut events),
            SourceEvent::Gap(seconds) => self.gap(seconds, &mut events),
            SourceEvent::End => self.close(Boundary::EndOfStream, &mut events),
        }
        self.maybe_now(&mut events);
        events
    }

    /// Ends the track in progress because someone asked for a new one.
    pub fn new_track(&mut self) -> Vec<PipelineEvent> {
        let mut events = Vec::new();
        self.close(Boundary::Command, &mut events);
        events
    }

    /// Ends the track in progress because the input ended or the daemon stops.
    pub fn finish(&mut self) -> Vec<PipelineEvent> {
        let mut events = Vec::new();
        self.close(Boundary::EndOfStream, &mut events);
        events
    }

    fn audio(&mut self, chunk: AudioChunk, events: &mut Vec<PipelineEvent>) {
        if chunk.samples.is_empty() || chunk.rate == 0 {
            return;
        }
        if !self.ensure_frontend(chunk.rate) {
            self.clock.advance(chunk.samples.len(), chunk.rate);
            return;
        }
        self.levels(&chunk, events);
        if let Some(state) = self
            .health
            .audio(&chunk.samples, chunk.rate, self.clock.now_s())
        {
            events.push(PipelineEvent::Health(state));
        }
        self.clock.advance(chunk.samples.len(), chunk.rate);
        let hop_s = self.hop_s();
        let Some(fe) = self.frontend.as_mut() else {
            return;
        };
        let mut mels: Vec<Vec<f32>> = Vec::new();
        if let Err(e) = fe.frontend.push(&chunk.samples, |w| mels.push(w.to_vec())) {
            tracing::error!(error = %e, "front-end rejected a chunk; restarting it");
            self.frontend = None;
            return;
        }
        let (epoch_s, first) = (fe.epoch_s, fe.windows);
        fe.windows += mels.len() as u64;
        for (i, mel) in mels.iter().enumerate() {
            let start_s = epoch_s + (first + i as u64) as f64 * hop_s;
            self.window(start_s, mel, events);
        }
    }

    /// Levels reach the segmenter before the windows they belong to, as the audio came.
    fn levels(&mut self, chunk: &AudioChunk, events: &mut Vec<PipelineEvent>) {
        let per_level = level_samples(&self.model.manifest.frontend, chunk.rate);
        let mut start_s = self.clock.now_s();
        for part in chunk.samples.chunks(per_level) {
            let end_s = start_s + part.len() as f64 / f64::from(chunk.rate);
            let outcome = self.segmenter.push_level(start_s, end_s, rms_dbfs(part));
            self.report(outcome, events);
            start_s = end_s;
        }
    }

    /// Makes sure a front-end for `rate` exists (a new rate starts one on the same clock).
    fn ensure_frontend(&mut self, rate: u32) -> bool {
        if self.frontend.as_ref().is_some_and(|f| f.rate == rate) {
            return true;
        }
        let params = &self.model.manifest.frontend;
        self.frontend = match StreamingFrontend::new(params, rate, self.settings.hop_frames) {
            Ok(frontend) => Some(RateFrontend {
                rate,
                frontend,
                epoch_s: self.clock.now_s(),
                windows: 0,
            }),
            Err(e) => {
                tracing::error!(error = %e, rate, "cannot build the front-end for this rate");
                None
            }
        };
        self.frontend.is_some()
    }

    fn window(&mut self, start_s: f64, mel: &[f32], events: &mut Vec<PipelineEvent>) {
        let end_s = start_s + window_s(&self.model.manifest.frontend);
        self.last_window_end_s = end_s;
        let encode_start = std::time::Instant::now();
        match self.model.audio.embed(mel, 1) {
            Ok(embedding) => {
                let encode_s = encode_start.elapsed().as_secs_f64();
                events.push(PipelineEvent::Window {
                    start_s,
                    end_s,
                    encode_s,
                });
                if self.settings.keep_window_embeddings {
                    // A track never outlasts max_track_s: older windows can go.
                    let horizon = start_s - self.settings.tracks.max_track_s - 60.0;
                    while self.kept_windows.front().is_some_and(|w| w.1 < horizon) {
                        self.kept_windows.pop_front();
                    }
                    self.kept_windows
                        .push_back((start_s, end_s, embedding.clone()));
                }
                let outcome = self.segmenter.push_window(start_s, end_s, &embedding);
                self.report(outcome, events);
            }
            Err(e) => events.push(PipelineEvent::EncoderFailed(e.to_string())),
        }
    }

    fn gap(&mut self, seconds: f64, events: &mut Vec<PipelineEvent>) {
        let seconds = if seconds.is_finite() {
            seconds.max(0.0)
        } else {
            0.0
        };
        events.push(PipelineEvent::Gap {
            at_s: self.clock.now_s(),
            seconds,
        });
        if let Some(state) = self.health.gap(seconds, self.clock.now_s()) {
            events.push(PipelineEvent::Health(state));
        }
        self.close(Boundary::Gap, events);
        self.clock.skip(seconds);
        // Windows never straddle the hole: the next audio starts a fresh front-end.
        self.frontend = None;
    }

    fn close(&mut self, boundary: Boundary, events: &mut Vec<PipelineEvent>) {
        let outcome = self
            .segmenter
            .force_boundary(boundary, self.last_window_end_s);
        self.report(outcome, events);
    }

    fn report(&mut self, outcome: Outcome, events: &mut Vec<PipelineEvent>) {
        if let Some(track) = outcome.dropped {
            events.push(PipelineEvent::ShortTrack(track));
        }
        if let Some(track) = outcome.finished {
            let (tags, vocabulary) = self.tags(&track.embedding);
            let windows = self.take_windows(&track);
            events.push(PipelineEvent::Track(ScoredTrack {
                track,
                tags,
                vocabulary,
                windows,
            }));
            self.next_now_s = self.clock.now_s() + self.settings.now_interval_s;
        }
    }

    /// The kept windows that lie inside `track`; windows starting before its end are done.
    fn take_windows(&mut self, track: &FinishedTrack) -> Option<Vec<Vec<f32>>> {
        if !self.settings.keep_window_embeddings {
            return None;
        }
        const EPS: f64 = 1e-6;
        let inside = self
            .kept_windows
            .iter()
            .filter(|(s, e, _)| *s >= track.start_s - EPS && *e <= track.end_s + EPS)
            .map(|(_, _, w)| w.clone())
            .collect();
        self.kept_windows
            .retain(|(s, _, _)| *s >= track.end_s - EPS);
        Some(inside)
    }

    fn maybe_now(&mut self, events: &mut Vec<PipelineEvent>) {
        if self.clock.now_s() < self.next_now_s {
            return;
        }
        if let Some((start_s, windows, mean)) = self.segmenter.provisional() {
            let (tags, vocabulary) = self.tags(&mean);
            events.push(PipelineEvent::Now(NowUpdate {
                start_s,
                windows,
                tags,
                vocabulary,
            }));
            self.next_now_s = self.clock.now_s() + self.settings.now_interval_s;
        }
    }

    /// Scores with the vocabulary in service at this moment.
    fn tags(&self, embedding: &[f32]) -> (Vec<TagScore>, String) {
        let scorer = self.vocabulary.current();
        let tags = scorer
            .scorer
            .select(embedding, self.settings.selection)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "scoring failed");
                Vec::new()
            });
        (tags, scorer.identity.clone())
    }

    fn hop_s(&self) -> f64 {
        let p = &self.model.manifest.frontend;
        self.settings.hop_frames as f64 * p.hop_length as f64 / f64::from(p.sample_rate)
    }
}

/// Seconds of audio one window spans.
pub fn window_s(params: &FrontendParams) -> f64 {
    ((params.window_frames.max(1) - 1) * params.hop_length + params.n_fft) as f64
        / f64::from(params.sample_rate.max(1))
}

/// Input samples in one level reading: about one STFT hop, so silence is timed as finely as
/// the front-end sees it.
fn level_samples(params: &FrontendParams, rate: u32) -> usize {
    let frame_s = params.hop_length as f64 / f64::from(params.sample_rate.max(1));
    ((frame_s * f64::from(rate)).round() as usize).max(1)
}

fn rms_dbfs(part: &[f32]) -> f32 {
    let rms = (part.iter().map(|x| x * x).sum::<f32>() / part.len().max(1) as f32).sqrt();
    20.0 * rms.max(1e-10).log10()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audio::FileDecoder;
    use crate::vocab::glove::GloveStore;
    use crate::vocab::{load_scorer, VocabularyScorer};

    /// The bundled model, GloVe pack and a vocabulary of `words`, loaded as the daemon does.
    pub(crate) struct Parts {
        pub model: Arc<Model>,
        pub glove: Arc<GloveStore>,
        pub dir: tempfile::TempDir,
    }

    impl Parts {
        pub fn load() -> Self {
            let model = Model::load(&crate::bundled("models/default")).expect("bundled model");
            let glove = GloveStore::open(crate::bundled("models/glove/glove-6b-50d.hgv"))
                .expect("bundled GloVe pack");
            Self {
                model: Arc::new(model),
                glove: Arc::new(glove),
                dir: tempfile::tempdir().expect("temp dir"),
            }
        }

        pub fn vocabulary(&self, name: &str, words: &[&str]) -> VocabularyScorer {
            let path = self.dir.path().join(name);
            std::fs::write(&path, words.join("\n")).expect("write vocabulary");
            load_scorer(&self.model, &self.glove, &path).expect("vocabulary loads")
        }

        pub fn pipeline(&self, slot: &Arc<VocabularySlot>) -> Pipeline {
            Pipeline::new(self.model.clone(), slot.clone(), settings())
        }
    }

    /// Every tag reported; only silence, gaps and commands cut tracks.
    pub(crate) fn settings() -> PipelineSettings {
        PipelineSettings {
            keep_window_embeddings: false,
            health: HealthSettings::default(),
            hop_frames: 65,
            selection: Selection {
                threshold: -1.0,
                top_k: 0,
            },
            now_interval_s: 5.0,
            tracks: SegmenterParams {
                novelty_threshold: 0.0,
                novelty_ratio: 0.0,
                min_track_s: 5.0,
                ..SegmenterParams::default()
            },
        }
    }

    /// The demo recording's first `seconds`, in 0.1 s chunks at its own rate.
    pub(crate) fn music(seconds: f64) -> Vec<SourceEvent> {
        let mut decoder = FileDecoder::open(crate::bundled("models/demo/demo.ogg")).unwrap();
        let rate = decoder.sample_rate();
        let mut samples = Vec::new();
        while samples.len() < (seconds * f64::from(rate)) as usize {
            match decoder.next_block().unwrap() {
                Some(block) => samples.extend(block),
                None => break,
            }
        }
        samples.truncate((seconds * f64::from(rate)) as usize);
        samples
            .chunks(rate as usize / 10)
            .map(|c| {
                SourceEvent::Audio(AudioChunk {
                    samples: c.to_vec(),
                    rate,
                })
            })
            .collect()
    }

    fn feed(p: &mut Pipeline, events: Vec<SourceEvent>) -> Vec<PipelineEvent> {
        events.into_iter().flat_map(|e| p.push(e)).collect()
    }

    fn tracks(events: &[PipelineEvent]) -> Vec<&ScoredTrack> {
        events
            .iter()
            .filter_map(|e| match e {
                PipelineEvent::Track(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_gap_ends_the_track_as_a_gap_and_the_clock_jumps_over_the_hole() {
        let parts = Parts::load();
        let slot = Arc::new(VocabularySlot::new(parts.vocabulary("v.txt", &["jazz"])));
        let mut p = parts.pipeline(&slot);
        let mut events = feed(&mut p, music(12.0));
        events.extend(p.push(SourceEvent::Gap(5.0)));
        assert!(
            (p.stream_time_s() - 17.0).abs() < 1e-9,
            "{}",
            p.stream_time_s()
        );
        events.extend(feed(&mut p, music(12.0)));
        events.extend(p.finish());
        let found = tracks(&events);
        assert_eq!(found.len(), 2, "{events:?}");
        assert_eq!(found[0].track.boundary, Boundary::Gap);
        assert!(found[0].track.end_s <= 12.0 + 1e-9, "{:?}", found[0].track);
        assert!(events.contains(&PipelineEvent::Gap {
            at_s: 12.0,
            seconds: 5.0
        }));
        // The second track's windows start after the hole: no window spans it.
        assert!(found[1].track.start_s >= 17.0, "{:?}", found[1].track);
        assert_eq!(found[1].track.boundary, Boundary::EndOfStream);
    }

    #[test]
    fn a_vocabulary_put_in_the_slot_tags_the_very_next_track() {
        let parts = Parts::load();
        let slot = Arc::new(VocabularySlot::new(parts.vocabulary("a.txt", &["jazz"])));
        let mut p = parts.pipeline(&slot);
        let mut events = feed(&mut p, music(12.0));
        slot.replace(parts.vocabulary("b.txt", &["rock", "violin"]));
        events.extend(p.finish());
        let found = tracks(&events);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].vocabulary.starts_with("b.txt#"),
            "{}",
            found[0].vocabulary
        );
        let tags: Vec<&str> = found[0].tags.iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(tags.len(), 2);
        assert!(
            tags.contains(&"rock") && tags.contains(&"violin"),
            "{tags:?}"
        );
    }

    #[test]
    fn now_updates_come_once_per_interval_of_stream_time() {
        let parts = Parts::load();
        let slot = Arc::new(VocabularySlot::new(parts.vocabulary("v.txt", &["jazz"])));
        let mut p = parts.pipeline(&slot);
        let events = feed(&mut p, music(21.0));
        let nows: Vec<&NowUpdate> = events
            .iter()
            .filter_map(|e| match e {
                PipelineEvent::Now(n) => Some(n),
                _ => None,
            })
            .collect();
        // At 5, 10, 15 and 20 s of stream time: the first window is complete by 3 s.
        assert_eq!(nows.len(), 4, "{nows:?}");
        assert!(nows.windows(2).all(|w| w[1].windows > w[0].windows));
        assert_eq!(nows[0].tags[0].tag, "jazz");
    }

    #[test]
    fn the_stream_clock_counts_samples_so_many_small_chunks_add_up_exactly() {
        let mut clock = StreamClock::default();
        for _ in 0..100_000 {
            clock.advance(7, 44_100);
        }
        assert_eq!(clock.now_s(), 700_000.0 / 44_100.0);
        clock.skip(2.5);
        clock.advance(22_050, 22_050);
        assert_eq!(clock.now_s(), 700_000.0 / 44_100.0 + 3.5);
    }
}
