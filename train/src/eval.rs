//! Evaluation as the daemon would tag: each test track's embedding is the mean of its window
//! embeddings (hark's `MeanEmbedding`), scored by cosine against every label's word
//! embedding; then the paper's annotation and retrieval metrics per test setting, once over
//! every test track or, when sources are held out whole, in-source and cross-source apart.

use crate::config::{RunConfig, WordScores};
use crate::metrics::{self, ScoreMatrix};
use crate::net::{cosine_matrix, to_vec, NetError, ZeroShotNet};
use crate::report::{AnnotationRow, EvalReport, RetrievalRow};
use crate::run::RunData;
use crate::split::{self, LabelScope, Origin, Part, Subset};
use crate::train::even_starts;
use hark::score::MeanEmbedding;
use tch::{Device, Tensor};

/// Why evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A tensor operation failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// libtorch failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A test name in the config is not one of the paper's.
    #[error("split tests: {0}")]
    Split(#[from] split::SplitError),
    /// The score matrix did not fit its truth matrix.
    #[error("metrics: {0}")]
    Metrics(String),
}

/// Track embeddings `[tracks × D]` (row i belongs to `tracks[i]`): the mean over windows taken
/// every `hop_frames`, at most `max_windows` (0: all), as the daemon and `hark tag` do.
pub fn track_embeddings(
    data: &RunData,
    net: &ZeroShotNet,
    tracks: &[usize],
    hop_frames: usize,
    max_windows: usize,
    device: Device,
) -> Result<Vec<Vec<f32>>, EvalError> {
    let window = crate::cache::cache_frontend().window_frames;
    let mut out = Vec::with_capacity(tracks.len());
    tch::no_grad(|| -> Result<(), EvalError> {
        for &track in tracks {
            let frames = data.cache.index().tracks[track].frames;
            // The daemon's window starts; a track shorter than a window gets one padded
            // window at 0, as `hark tag` gives it.
            let mut starts = hark::frontend::window_starts(frames, window, hop_frames.max(1));
            if starts.is_empty() {
                starts.push(0);
            }
            if max_windows > 0 && starts.len() > max_windows {
                starts = even_starts(frames, window, max_windows);
            }
            let mut mean: Option<MeanEmbedding> = None;
            for chunk in starts.chunks(64) {
                let windows: Vec<(usize, usize)> = chunk.iter().map(|&s| (track, s)).collect();
                let emb = net.audio(&data.windows_tensor(&windows, device));
                let d = emb.size()[1] as usize;
                let values = to_vec(&emb)?;
                let m = mean.get_or_insert_with(|| MeanEmbedding::new(d));
                for e in values.chunks_exact(d) {
                    m.add(e);
                }
            }
            out.push(mean.and_then(|m| m.mean()).unwrap_or_default());
        }
        Ok(())
    })?;
    Ok(out)
}

/// The mean of equally long embeddings; `None` when there are none.
pub fn mean_embedding(embeddings: &[Vec<f32>]) -> Option<Vec<f32>> {
    let first = embeddings.first()?;
    let mut mean = MeanEmbedding::new(first.len());
    for e in embeddings {
        mean.add(e);
    }
    mean.mean()
}

/// Subtracts `centre` from `embedding` (same length).
pub fn centre_on(embedding: &mut [f32], centre: &[f32]) {
    for (e, c) in embedding.iter_mut().zip(centre) {
        *e -= c;
    }
}

/// Calibrates each label's column of `scores` (`[tracks × n_labels]`) against the same
/// label's column in `reference` (`[reference tracks × n_labels]`): minus `fraction` of its
/// mean, and for `Standardised` over its standard deviation too (a column with no spread is
/// only shifted).
pub fn calibrate_columns(
    scores: &mut [f32],
    reference: &[f32],
    n_labels: usize,
    how: WordScores,
    fraction: f64,
) {
    if n_labels == 0 || reference.is_empty() || how == WordScores::Raw {
        return;
    }
    let rows = (reference.len() / n_labels) as f64;
    for l in 0..n_labels {
        let column = || {
            reference
                .iter()
                .skip(l)
                .step_by(n_labels)
                .map(|&x| f64::from(x))
        };
        let mean = column().sum::<f64>() / rows;
        let var = column().map(|x| (x - mean).powi(2)).sum::<f64>() / rows;
        let sd = if var > 0.0 && how == WordScores::Standardised {
            var.sqrt()
        } else {
            1.0
        };
        for s in scores.iter_mut().skip(l).step_by(n_labels) {
            *s = ((f64::from(*s) - fraction * mean) / sd) as f32;
        }
    }
}

/// Cosine scores `[tracks × labels]` of track embeddings against the given labels.
pub fn score_matrix(
    data: &RunData,
    net: &ZeroShotNet,
    embeddings: &[Vec<f32>],
    labels: &[usize],
    device: Device,
) -> Result<Vec<f32>, EvalError> {
    if embeddings.is_empty() || labels.is_empty() {
        return Ok(Vec::new());
    }
    let d = embeddings[0].len() as i64;
    let flat: Vec<f32> = embeddings.iter().flatten().copied().collect();
    let audio = Tensor::from_slice(&flat)
        .view([embeddings.len() as i64, d])
        .to_device(device);
    let glove: Vec<f32> = labels
        .iter()
        .flat_map(|&l| data.labels.vector(l).to_vec())
        .collect();
    let glove = Tensor::from_slice(&glove)
        .view([labels.len() as i64, data.labels.dim as i64])
        .to_device(device);
    let scores = tch::no_grad(|| cosine_matrix(&audio, &net.word(&glove)));
    Ok(to_vec(&scores)?)
}

/// The truth matrix `[tracks × labels]` from the tracks' usable tags.
pub fn truth_matrix(data: &RunData, tracks: &[usize], labels: &[usize]) -> Vec<bool> {
    tracks
        .iter()
        .flat_map(|&t| {
            labels
                .iter()
                .map(move |l| data.track_labels[t].binary_search(l).is_ok())
        })
        .collect()
}

/// The F1-best score threshold over every (track, seen label) pair of `tracks`: what to
/// recommend to the daemon as `score_threshold`. None when there is nothing to measure.
pub fn best_threshold(scores: &[f32], truth: &[bool]) -> Option<(f32, f64)> {
    let positives = truth.iter().filter(|&&t| t).count();
    if positives == 0 || scores.is_empty() {
        return None;
    }
    let mut pairs: Vec<(f32, bool)> = scores
        .iter()
        .copied()
        .zip(truth.iter().copied())
        .filter(|(s, _)| s.is_finite())
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut best: Option<(f32, f64)> = None;
    let mut i = 0;
    while i < pairs.len() {
        // Every pair with this score is selected together by a threshold at it.
        let score = pairs[i].0;
        while i < pairs.len() && pairs[i].0 == score {
            if pairs[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let f1 = 2.0 * tp as f64 / (2 * tp + fp + (positives - tp)) as f64;
        if best.is_none_or(|(_, b)| f1 > b) {
            best = Some((score, f1));
        }
    }
    best
}

/// Track embeddings of `tracks` windowed as the run's `[eval]` section says.
fn eval_embeddings(
    config: &RunConfig,
    data: &RunData,
    net: &ZeroShotNet,
    tracks: &[usize],
    device: Device,
) -> Result<Vec<Vec<f32>>, EvalError> {
    track_embeddings(
        data,
        net,
        tracks,
        config.eval.hop_frames,
        config.eval.max_windows_per_track,
        device,
    )
}

/// Subtracts the training tracks' mean embedding from `embeddings`; the report's note.
fn centre_on_training_mean(
    config: &RunConfig,
    data: &RunData,
    net: &ZeroShotNet,
    embeddings: &mut [Vec<f32>],
    device: Device,
) -> Result<Option<String>, EvalError> {
    let train = data.part(Part::Train);
    let train_embeddings = eval_embeddings(config, data, net, &train, device)?;
    let Some(centre) = mean_embedding(&train_embeddings) else {
        return Ok(None);
    };
    for e in embeddings {
        centre_on(e, &centre);
    }
    Ok(Some(format!(
        "audio embeddings centred on the mean of {} training tracks' (eval.centre_on_training_mean)",
        train.len()
    )))
}

/// The slices of the test tracks each test is reported on: every test track when no source is
/// held out; else in-source, all cross-source, and, with two or more held-out sources, each
/// held-out source alone (a pooled figure can hide one source that fails).
fn slices(data: &RunData) -> Vec<(Origin, Option<String>)> {
    let mut slices: Vec<(Origin, Option<String>)> = data
        .split
        .origins()
        .iter()
        .map(|&origin| (origin, None))
        .collect();
    if data.held_out_sources.len() > 1 {
        slices.extend(
            data.held_out_sources
                .iter()
                .map(|s| (Origin::CrossSource, Some(s.clone()))),
        );
    }
    slices
}

/// The test tracks with their embeddings, scored a slice at a time.
struct TestedTracks<'a> {
    data: &'a RunData,
    net: &'a ZeroShotNet,
    device: Device,
    /// Test track indices, in the order of `embeddings`.
    tracks: &'a [usize],
    embeddings: &'a [Vec<f32>],
    /// Seen and unseen labels, sorted.
    all_labels: &'a [usize],
    /// Training tracks' embeddings each word's scores are calibrated against
    /// (`eval.word_scores`), if any.
    reference: Option<Vec<Vec<f32>>>,
    /// How (`eval.word_scores`).
    word_scores: WordScores,
    /// The share of each word's mean taken away (`eval.word_shift`).
    word_shift: f64,
}

/// What the tests found: their rows, and a note for each slice skipped.
#[derive(Default)]
struct TestRows {
    annotation: Vec<AnnotationRow>,
    retrieval: Vec<RetrievalRow>,
    notes: Vec<String>,
}

impl TestedTracks<'_> {
    /// Runs the test `name` on one slice of the test tracks and adds its row, or a note
    /// when the slice has no tracks or the test no labels.
    fn run(
        &self,
        name: &str,
        is_annotation: bool,
        (origin, source): &(Origin, Option<String>),
        rows: &mut TestRows,
    ) -> Result<(), EvalError> {
        let data = self.data;
        let (subsets, scope) = split::parse_test_name(name)?;
        let labels = match scope {
            LabelScope::Seen => &data.seen,
            LabelScope::Unseen => &data.unseen,
            LabelScope::All => self.all_labels,
        };
        let mut tracks = data.split.tracks_from(Part::Test, &subsets, *origin);
        if let Some(source) = source {
            tracks.retain(|&t| data.sources[t] == *source);
        }
        let (origin, source) = (*origin, source.clone());
        if tracks.is_empty() || labels.is_empty() {
            let which = match (&source, origin) {
                (Some(s), _) => format!(" {origin} {s}"),
                (None, Origin::All) => String::new(),
                (None, other) => format!(" {other}"),
            };
            rows.notes.push(format!(
                "{name}{which}: skipped ({} test tracks, {} labels)",
                tracks.len(),
                labels.len()
            ));
            return Ok(());
        }
        let (scores, truth) = self.matrices(&tracks, labels)?;
        let matrix = ScoreMatrix::new(&scores, &truth, tracks.len(), labels.len())
            .map_err(|e| EvalError::Metrics(e.to_string()))?;
        let test = name.to_string();
        if is_annotation {
            let metrics = metrics::annotation(&matrix);
            rows.annotation.push(AnnotationRow {
                test,
                origin,
                source,
                metrics,
            });
        } else {
            let names: Vec<String> = labels
                .iter()
                .map(|&l| data.labels.names[l].clone())
                .collect();
            let metrics = metrics::retrieval(&matrix, &names);
            rows.retrieval.push(RetrievalRow {
                test,
                origin,
                source,
                metrics,
            });
        }
        Ok(())
    }

    /// Single-label data (GTZAN-style genres): top-1 accuracy over every label, as in the
    /// paper's genre transfer setting; `None` for multi-label data.
    fn genre_top1(&self) -> Result<Option<f64>, EvalError> {
        let single_label = !self.tracks.is_empty()
            && self
                .tracks
                .iter()
                .all(|&t| self.data.track_labels[t].len() == 1);
        if !single_label {
            return Ok(None);
        }
        let labels = self.all_labels;
        let scores = self.scores(self.embeddings, labels)?;
        let truth = truth_matrix(self.data, self.tracks, labels);
        Ok(
            ScoreMatrix::new(&scores, &truth, self.tracks.len(), labels.len())
                .ok()
                .and_then(|m| metrics::top1_accuracy(&m)),
        )
    }

    /// Scores and truth, `tracks × labels`, for a slice of the test tracks.
    fn matrices(
        &self,
        tracks: &[usize],
        labels: &[usize],
    ) -> Result<(Vec<f32>, Vec<bool>), EvalError> {
        let rows: Vec<Vec<f32>> = tracks
            .iter()
            .filter_map(|&t| self.tracks.iter().position(|&u| u == t))
            .map(|row| self.embeddings[row].clone())
            .collect();
        let scores = self.scores(&rows, labels)?;
        Ok((scores, truth_matrix(self.data, tracks, labels)))
    }

    /// Scores of `embeddings` against `labels`, calibrated when the run asks for it.
    fn scores(&self, embeddings: &[Vec<f32>], labels: &[usize]) -> Result<Vec<f32>, EvalError> {
        let mut scores = score_matrix(self.data, self.net, embeddings, labels, self.device)?;
        if let Some(reference) = &self.reference {
            let reference = score_matrix(self.data, self.net, reference, labels, self.device)?;
            calibrate_columns(
                &mut scores,
                &reference,
                labels.len(),
                self.word_scores,
                self.word_shift,
            );
        }
        Ok(scores)
    }
}

/// Runs every annotation and retrieval test the config names and fills a report.
pub fn evaluate(
    config: &RunConfig,
    data: &RunData,
    net: &ZeroShotNet,
    device: Device,
) -> Result<EvalReport, EvalError> {
    let test_tracks = data.part(Part::Test);
    let mut embeddings = eval_embeddings(config, data, net, &test_tracks, device)?;
    let mut notes = Vec::new();
    if config.eval.centre_on_training_mean {
        notes.extend(centre_on_training_mean(
            config,
            data,
            net,
            &mut embeddings,
            device,
        )?);
    }
    let all_labels: Vec<usize> = {
        let mut v: Vec<usize> = data.seen.iter().chain(&data.unseen).copied().collect();
        v.sort_unstable();
        v
    };
    let tests = config
        .split
        .annotation_tests
        .iter()
        .map(|t| (t, true))
        .chain(config.split.retrieval_tests.iter().map(|t| (t, false)));
    let slices = slices(data);
    let tests = tests.flat_map(|(name, is_annotation)| {
        slices.iter().map(move |slice| (name, is_annotation, slice))
    });
    let word_scores = config.eval.word_scores;
    let reference = if word_scores != WordScores::Raw {
        let train = data.part(Part::Train);
        notes.push(format!(
            "each word's scores {word_scores:?} against {} training tracks' (eval.word_scores)",
            train.len()
        ));
        Some(eval_embeddings(config, data, net, &train, device)?)
    } else {
        None
    };
    let tested = TestedTracks {
        data,
        net,
        device,
        tracks: &test_tracks,
        embeddings: &embeddings,
        all_labels: &all_labels,
        reference,
        word_scores,
        word_shift: config.eval.word_shift,
    };
    let mut rows = TestRows {
        notes,
        ..TestRows::default()
    };
    for (name, is_annotation, slice) in tests {
        tested.run(name, is_annotation, slice, &mut rows)?;
    }
    let genre_top1 = tested.genre_top1()?;
    let name =
        |v: &[usize]| -> Vec<String> { v.iter().map(|&l| data.labels.names[l].clone()).collect() };
    Ok(EvalReport {
        model: config.name.clone(),
        train_setup: config.split.setup.to_string(),
        seen_labels: name(&data.seen),
        unseen_labels: name(&data.unseen),
        dropped_tags: data.labels.dropped.clone(),
        held_out_sources: data.held_out_sources.clone(),
        split_counts: serde_json::to_value(data.split.counts()).unwrap_or_default(),
        annotation: rows.annotation,
        retrieval: rows.retrieval,
        genre_top1,
        epochs: Vec::new(),
        notes: rows.notes,
    })
}

/// The recommended score threshold: F1-best over validation tracks and seen labels (falls back
/// to the test tracks when there is no validation set), on the scores `calibration` gives.
pub fn recommend_threshold(
    config: &RunConfig,
    data: &RunData,
    net: &ZeroShotNet,
    device: Device,
    calibration: Option<&hark::model::Calibration>,
) -> Result<Option<(f32, f64)>, EvalError> {
    let mut tracks = data.part(Part::Validation);
    if tracks.is_empty() {
        tracks = data.split.tracks(Part::Test, &[Subset::A, Subset::B]);
    }
    let embeddings = eval_embeddings(config, data, net, &tracks, device)?;
    let mut scores = score_matrix(data, net, &embeddings, &data.seen, device)?;
    if let Some(c) = calibration {
        // The daemon's offsets: word_shift · track_mean · the word's unit embedding, which is
        // the cosine with track_mean times its length.
        let length = c.track_mean.iter().map(|v| v * v).sum::<f32>().sqrt();
        let cosines = score_matrix(
            data,
            net,
            std::slice::from_ref(&c.track_mean),
            &data.seen,
            device,
        )?;
        let offsets: Vec<f32> = cosines.iter().map(|x| c.word_shift * length * x).collect();
        for row in scores.chunks_exact_mut(offsets.len().max(1)) {
            row.iter_mut().zip(&offsets).for_each(|(s, o)| *s -= o);
        }
    }
    let truth = truth_matrix(data, &tracks, &data.seen);
    Ok(best_threshold(&scores, &truth))
}

/// The calibration `export.word_shift` asks for: that shift and the mean of the training
/// tracks' unit-length embeddings; `None` when the shift is 0 or no track trained.
pub fn export_calibration(
    config: &RunConfig,
    data: &RunData,
    net: &ZeroShotNet,
    device: Device,
) -> Result<Option<hark::model::Calibration>, EvalError> {
    if config.export.word_shift <= 0.0 {
        return Ok(None);
    }
    let train = data.part(Part::Train);
    let mut unit = eval_embeddings(config, data, net, &train, device)?;
    // hark's own normalisation, as the daemon's scorer applies it.
    unit.iter_mut().for_each(|e| hark::score::normalize(e));
    Ok(
        mean_embedding(&unit).map(|track_mean| hark::model::Calibration {
            word_shift: config.export.word_shift,
            track_mean,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centring_removes_the_direction_every_track_shares() {
        // Two tracks that point mostly the same way: the shared part decides their cosine
        // with any word until the training mean is taken out.
        let tracks = vec![vec![10.0, 1.0, 0.0], vec![10.0, 0.0, 1.0]];
        let centre = mean_embedding(&tracks).expect("mean");
        assert_eq!(centre, vec![10.0, 0.5, 0.5]);
        let mut a = tracks[0].clone();
        centre_on(&mut a, &centre);
        assert_eq!(a, vec![0.0, 0.5, -0.5]);
        assert_eq!(mean_embedding(&[]), None);
    }

    #[test]
    fn standardising_makes_a_word_that_wins_everywhere_win_only_where_it_fits() {
        // Two words over three tracks: "loud" outscores "soft" on every track in raw cosine,
        // but against the reference each track's top word is the one it fits unusually well.
        let reference = [0.8, 0.1, 0.6, 0.3, 0.7, 0.2];
        let mut scores = [0.9, 0.2, 0.6, 0.4];
        let mut centred = scores;
        calibrate_columns(&mut scores, &reference, 2, WordScores::Standardised, 1.0);
        let sd = (2.0f64 / 3.0).sqrt() * 0.1;
        let expect = [
            (0.9 - 0.7) / sd,
            (0.2 - 0.2) / sd,
            (0.6 - 0.7) / sd,
            (0.4 - 0.2) / sd,
        ];
        for (got, want) in scores.iter().zip(expect) {
            assert!((f64::from(*got) - want).abs() < 1e-4, "{got} vs {want}");
        }
        assert!(scores[0] > scores[1] && scores[3] > scores[2]);
        // Centred only: the same shifts, no division.
        calibrate_columns(&mut centred, &reference, 2, WordScores::Centred, 1.0);
        let expect = [0.9 - 0.7, 0.2 - 0.2, 0.6 - 0.7, 0.4 - 0.2];
        for (got, want) in centred.iter().zip(expect) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
        // A column with no spread is only centred; no reference leaves scores alone.
        let mut flat = [0.5f32, 0.9];
        calibrate_columns(&mut flat, &[0.5, 0.5], 1, WordScores::Standardised, 1.0);
        assert!(flat[0] == 0.0 && (flat[1] - 0.4).abs() < 1e-6, "{flat:?}");
        let mut same = [0.3f32];
        calibrate_columns(&mut same, &[], 1, WordScores::Standardised, 1.0);
        assert_eq!(same, [0.3]);
        calibrate_columns(&mut same, &[0.1], 1, WordScores::Raw, 1.0);
        assert_eq!(same, [0.3]);
        // A partial shift takes that fraction of the mean away.
        let mut half = [0.9f32, 0.2];
        calibrate_columns(&mut half, &reference, 2, WordScores::Centred, 0.5);
        assert!((half[0] - (0.9 - 0.35)).abs() < 1e-6 && (half[1] - (0.2 - 0.1)).abs() < 1e-6);
    }
}
