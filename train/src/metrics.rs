//! Ranking metrics for zero-shot annotation and retrieval (Choi et al., ISMIR 2019, §5.3).
//!
//! Annotation ranks the labels of each instance (AUC-i, MAP-i, P@K); retrieval ranks the
//! instances of each label (AUC-l, MAP-l). Sums run in f64 because test sets reach hundreds of
//! thousands of instances. Tied scores get closed-form treatment (mid-ranks, one AP step per tie
//! group, expected P@K) so a result never depends on the order a sort leaves ties in.
//!
//! A NaN score ranks as the lowest possible score, tied with −∞: a broken output must earn no
//! credit, and every metric stays defined.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Errors from building a [`ScoreMatrix`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MetricsError {
    /// The score or truth slice does not hold `instances × labels` entries.
    #[error(
        "score matrix of {instances} instances × {labels} labels needs {instances}×{labels} \
         entries, got {scores} scores and {truth} truth values"
    )]
    Shape {
        /// Rows the caller declared.
        instances: usize,
        /// Columns the caller declared.
        labels: usize,
        /// Length of the score slice.
        scores: usize,
        /// Length of the truth slice.
        truth: usize,
    },
}

/// Items sharing one score, seen in decreasing score order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TieGroup {
    size: usize,
    positives: usize,
}

fn rank_key(score: f32) -> f64 {
    if score.is_nan() {
        f64::NEG_INFINITY
    } else {
        f64::from(score)
    }
}

/// Groups equal scores, highest first; `None` when the slices are empty or differ in length.
fn tie_groups(scores: &[f32], truth: &[bool]) -> Option<Vec<TieGroup>> {
    if scores.is_empty() || scores.len() != truth.len() {
        return None;
    }
    let mut ranked: Vec<(f64, bool)> = scores
        .iter()
        .map(|&s| rank_key(s))
        .zip(truth.iter().copied())
        .collect();
    // total_cmp puts 0.0 and -0.0 next to each other, so the `==` below still merges them.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut groups: Vec<TieGroup> = Vec::new();
    let mut last_key = None;
    for (key, positive) in ranked {
        let positive = usize::from(positive);
        match groups.last_mut() {
            Some(group) if last_key == Some(key) => {
                group.size += 1;
                group.positives += positive;
            }
            _ => groups.push(TieGroup {
                size: 1,
                positives: positive,
            }),
        }
        last_key = Some(key);
    }
    Some(groups)
}

fn count_positives(groups: &[TieGroup]) -> (usize, usize) {
    let total: usize = groups.iter().map(|g| g.size).sum();
    let positives: usize = groups.iter().map(|g| g.positives).sum();
    (positives, total - positives)
}

fn auc_of(groups: &[TieGroup]) -> Option<f64> {
    let (positives, negatives) = count_positives(groups);
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Mann–Whitney U: a positive beats every negative ranked below its group and half-beats
    // the negatives tied with it (the mid-rank convention).
    let mut wins = 0.0;
    let mut negatives_seen = 0usize;
    for group in groups {
        let group_negatives = group.size - group.positives;
        negatives_seen += group_negatives;
        let below = (negatives - negatives_seen) as f64;
        wins += group.positives as f64 * (below + 0.5 * group_negatives as f64);
    }
    Some(wins / (positives as f64 * negatives as f64))
}

fn ap_of(groups: &[TieGroup]) -> Option<f64> {
    let (positives, _) = count_positives(groups);
    if positives == 0 {
        return None;
    }
    let mut ap = 0.0;
    let mut seen = 0usize;
    let mut hits = 0usize;
    for group in groups {
        seen += group.size;
        hits += group.positives;
        // Recall only moves at groups holding positives; a tie group is one threshold.
        ap += (group.positives as f64 / positives as f64) * (hits as f64 / seen as f64);
    }
    Some(ap)
}

fn precision_of(groups: &[TieGroup], k: usize) -> Option<f64> {
    let total: usize = groups.iter().map(|g| g.size).sum();
    let cut = k.min(total);
    if cut == 0 {
        return None;
    }
    let mut taken = 0usize;
    let mut expected_hits = 0.0;
    for group in groups {
        if taken == cut {
            break;
        }
        // A group straddling the cut fills its slots with a uniformly random subset of itself.
        let slots = group.size.min(cut - taken);
        expected_hits += slots as f64 * group.positives as f64 / group.size as f64;
        taken += slots;
    }
    Some(expected_hits / cut as f64)
}

/// ROC AUC (Mann–Whitney U, ties count ½); `None` without both classes or on length mismatch.
pub fn roc_auc(scores: &[f32], truth: &[bool]) -> Option<f64> {
    auc_of(&tie_groups(scores, truth)?)
}

/// Average precision as scikit-learn defines it, one step per distinct score; `None` without positives.
pub fn average_precision(scores: &[f32], truth: &[bool]) -> Option<f64> {
    ap_of(&tie_groups(scores, truth)?)
}

/// Expected precision of the top `k` under random tie-breaking, over `min(k, n)` slots; `None` if `k = 0` or empty.
pub fn precision_at_k(scores: &[f32], truth: &[bool], k: usize) -> Option<f64> {
    if k == 0 {
        return None;
    }
    precision_of(&tie_groups(scores, truth)?, k)
}

/// Row-major instance × label scores with their ground truth; build it with [`ScoreMatrix::new`].
#[derive(Debug, Clone, Copy)]
pub struct ScoreMatrix<'a> {
    /// Scores, `instances × labels`, row-major.
    pub scores: &'a [f32],
    /// Ground truth in the same layout as `scores`.
    pub truth: &'a [bool],
    /// Number of rows (audio instances).
    pub instances: usize,
    /// Number of columns (labels).
    pub labels: usize,
}

impl<'a> ScoreMatrix<'a> {
    /// Wraps the slices after checking both hold exactly `instances × labels` entries.
    pub fn new(
        scores: &'a [f32],
        truth: &'a [bool],
        instances: usize,
        labels: usize,
    ) -> Result<Self, MetricsError> {
        let expected = instances.checked_mul(labels);
        if expected != Some(scores.len()) || expected != Some(truth.len()) {
            return Err(MetricsError::Shape {
                instances,
                labels,
                scores: scores.len(),
                truth: truth.len(),
            });
        }
        Ok(Self {
            scores,
            truth,
            instances,
            labels,
        })
    }

    // The fields are public, so a hand-built matrix may be short: `get` keeps that panic-free.
    fn row(&self, instance: usize) -> Option<(&'a [f32], &'a [bool])> {
        let start = instance.checked_mul(self.labels)?;
        let end = start.checked_add(self.labels)?;
        Some((self.scores.get(start..end)?, self.truth.get(start..end)?))
    }

    fn column(&self, label: usize) -> Option<(Vec<f32>, Vec<bool>)> {
        if label >= self.labels {
            return None;
        }
        let mut scores = Vec::with_capacity(self.instances);
        let mut truth = Vec::with_capacity(self.instances);
        for instance in 0..self.instances {
            let at = instance.checked_mul(self.labels)?.checked_add(label)?;
            scores.push(*self.scores.get(at)?);
            truth.push(*self.truth.get(at)?);
        }
        Some((scores, truth))
    }
}

/// Annotation-task metrics: each instance ranks the labels (AUC-i, MAP-i, P@K of Table 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationMetrics {
    /// AUC-i: mean ROC AUC over instances having both positive and negative labels.
    pub auc: Option<f64>,
    /// MAP-i: mean average precision over instances having at least one positive label.
    pub map: Option<f64>,
    /// P@1 over all instances (equals top-1 accuracy).
    pub p_at_1: Option<f64>,
    /// P@5 over all instances; rows with fewer than 5 labels use all of them.
    pub p_at_5: Option<f64>,
    /// P@10 over all instances; rows with fewer than 10 labels use all of them.
    pub p_at_10: Option<f64>,
    /// Rows in the matrix.
    pub instances: usize,
    /// Labels each instance was ranked over.
    pub labels: usize,
    /// Instances that entered AUC-i.
    pub auc_instances: usize,
    /// Instances left out of AUC-i (all labels positive or all negative).
    pub auc_skipped: usize,
    /// Instances that entered MAP-i.
    pub ap_instances: usize,
    /// Instances left out of MAP-i (no positive label).
    pub ap_skipped: usize,
}

/// One label's retrieval result, for per-label breakdowns in reports and model cards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMetrics {
    /// Label (tag) name.
    pub label: String,
    /// ROC AUC of this label over instances; `None` when the label was skipped.
    pub auc: Option<f64>,
    /// Average precision over instances; `None` when the label was skipped.
    pub ap: Option<f64>,
    /// Instances annotated positive for this label.
    pub positives: usize,
}

/// Retrieval-task metrics: each label ranks the instances (AUC-l, MAP-l of Table 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    /// AUC-l: mean ROC AUC over the labels that were not skipped.
    pub auc: Option<f64>,
    /// MAP-l: mean average precision over the same labels as `auc`.
    pub map: Option<f64>,
    /// Rows (instances) each label ranked.
    pub instances: usize,
    /// Labels that entered both averages.
    pub labels_used: usize,
    /// Labels with no positive or no negative instance, left out as in the paper's footnote 4.
    pub skipped_labels: Vec<String>,
    /// Every label's own result, in column order.
    pub per_label: Vec<LabelMetrics>,
}

#[derive(Default)]
struct Mean {
    sum: f64,
    count: usize,
}

impl Mean {
    fn add(&mut self, value: Option<f64>) -> bool {
        match value {
            Some(v) => {
                self.sum += v;
                self.count += 1;
                true
            }
            None => false,
        }
    }

    fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// Per-instance annotation metrics averaged over the instances where each is defined.
pub fn annotation(m: &ScoreMatrix) -> AnnotationMetrics {
    let (mut auc, mut ap) = (Mean::default(), Mean::default());
    let (mut p1, mut p5, mut p10) = (Mean::default(), Mean::default(), Mean::default());
    let (mut auc_skipped, mut ap_skipped) = (0, 0);
    for instance in 0..m.instances {
        // A missing row (only possible in a hand-built, short matrix) counts as skipped.
        let groups = m.row(instance).and_then(|(s, t)| tie_groups(s, t));
        let groups = groups.as_deref().unwrap_or(&[]);
        if !auc.add(auc_of(groups)) {
            auc_skipped += 1;
        }
        if !ap.add(ap_of(groups)) {
            ap_skipped += 1;
        }
        p1.add(precision_of(groups, 1));
        p5.add(precision_of(groups, 5));
        p10.add(precision_of(groups, 10));
    }
    AnnotationMetrics {
        auc: auc.value(),
        map: ap.value(),
        p_at_1: p1.value(),
        p_at_5: p5.value(),
        p_at_10: p10.value(),
        instances: m.instances,
        labels: m.labels,
        auc_instances: auc.count,
        auc_skipped,
        ap_instances: ap.count,
        ap_skipped,
    }
}

/// Fraction of instances whose top-scored label is true, ties as expected value (= P@1).
pub fn top1_accuracy(m: &ScoreMatrix) -> Option<f64> {
    let mut hits = Mean::default();
    for instance in 0..m.instances {
        hits.add(m.row(instance).and_then(|(s, t)| precision_at_k(s, t, 1)));
    }
    hits.value()
}

/// Per-label retrieval metrics; labels lacking a positive or a negative are skipped and listed.
///
/// Names come from `label_names` by column; a column without a name is called `#<index>`.
pub fn retrieval(m: &ScoreMatrix, label_names: &[String]) -> RetrievalMetrics {
    let (mut auc_mean, mut ap_mean) = (Mean::default(), Mean::default());
    let mut skipped_labels = Vec::new();
    let mut per_label = Vec::with_capacity(m.labels);
    for label in 0..m.labels {
        let name = label_names
            .get(label)
            .cloned()
            .unwrap_or_else(|| format!("#{label}"));
        let groups = m.column(label).and_then(|(s, t)| tie_groups(&s, &t));
        let groups = groups.as_deref().unwrap_or(&[]);
        let (positives, _) = count_positives(groups);
        let auc = auc_of(groups);
        // AP exists for an all-positive label, but MAP-l must average the same labels as
        // AUC-l, and the per-label table should agree with both.
        let ap = auc.and(ap_of(groups));
        if auc.is_some() {
            auc_mean.add(auc);
            ap_mean.add(ap);
        } else {
            skipped_labels.push(name.clone());
        }
        per_label.push(LabelMetrics {
            label: name,
            auc,
            ap,
            positives,
        });
    }
    RetrievalMetrics {
        auc: auc_mean.value(),
        map: ap_mean.value(),
        instances: m.instances,
        labels_used: auc_mean.count,
        skipped_labels,
        per_label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: bool = true;
    const F: bool = false;

    fn close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("metric should be defined");
        assert!(
            (actual - expected).abs() < 1e-12,
            "got {actual}, expected {expected}"
        );
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let scores = [0.9, 0.8, 0.2, 0.1];
        let truth = [T, T, F, F];
        close(roc_auc(&scores, &truth), 1.0);
        close(average_precision(&scores, &truth), 1.0);
        close(precision_at_k(&scores, &truth, 2), 1.0);
    }

    #[test]
    fn reversed_ranking_scores_zero_auc() {
        let scores = [0.1, 0.2, 0.8, 0.9];
        let truth = [T, T, F, F];
        close(roc_auc(&scores, &truth), 0.0);
        // Positives sit at ranks 3 and 4: (1/3 + 2/4) / 2.
        close(average_precision(&scores, &truth), 5.0 / 12.0);
        close(precision_at_k(&scores, &truth, 2), 0.0);
    }

    #[test]
    fn sklearn_documentation_example() {
        let scores = [0.1, 0.4, 0.35, 0.8];
        let truth = [F, F, T, T];
        close(roc_auc(&scores, &truth), 0.75);
        close(average_precision(&scores, &truth), 5.0 / 6.0);
    }

    #[test]
    fn all_scores_tied() {
        let scores = [0.5; 4];
        let truth = [T, F, F, F];
        close(roc_auc(&scores, &truth), 0.5);
        close(average_precision(&scores, &truth), 0.25);
        close(precision_at_k(&scores, &truth, 1), 0.25);
    }

    #[test]
    fn positive_tied_with_negative_counts_half() {
        close(roc_auc(&[0.5, 0.5], &[T, F]), 0.5);
        // The 0.9 positive beats the negative, the 0.5 positive ties it: 1.5 of 2 pairs.
        close(roc_auc(&[0.9, 0.5, 0.5], &[T, T, F]), 0.75);
        // One threshold takes both tied items at once: precision 2/3 at recall 1.
        close(average_precision(&[0.9, 0.5, 0.5], &[F, T, F]), 1.0 / 3.0);
    }

    #[test]
    fn nan_ranks_lowest() {
        close(roc_auc(&[f32::NAN, 0.2], &[T, F]), 0.0);
        close(roc_auc(&[0.2, f32::NAN], &[T, F]), 1.0);
        close(roc_auc(&[f32::NAN, f32::NEG_INFINITY], &[T, F]), 0.5);
    }

    #[test]
    fn signed_zeros_tie() {
        close(roc_auc(&[0.0, -0.0], &[T, F]), 0.5);
    }

    #[test]
    fn precision_with_tie_group_straddling_k() {
        // Top: 0.9 (positive) fills 1 slot; the three 0.5s (one positive) share 2 slots,
        // each holding a positive with probability 1/3, so 1 + 2/3 expected hits in 3.
        let scores = [0.9, 0.5, 0.5, 0.5, 0.1];
        let truth = [T, T, F, F, T];
        close(precision_at_k(&scores, &truth, 3), 5.0 / 9.0);
        close(precision_at_k(&scores, &truth, 4), 2.0 / 4.0);
    }

    #[test]
    fn precision_beyond_list_length_uses_whole_list() {
        close(precision_at_k(&[0.3, 0.2, 0.1], &[F, T, F], 10), 1.0 / 3.0);
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(roc_auc(&[0.1, 0.2], &[T, T]), None);
        assert_eq!(roc_auc(&[0.1, 0.2], &[F, F]), None);
        assert_eq!(roc_auc(&[], &[]), None);
        assert_eq!(roc_auc(&[0.1, 0.2], &[T]), None);
        assert_eq!(average_precision(&[0.1, 0.2], &[F, F]), None);
        assert_eq!(average_precision(&[], &[]), None);
        assert_eq!(precision_at_k(&[0.1], &[T], 0), None);
        assert_eq!(precision_at_k(&[], &[], 3), None);
        assert_eq!(precision_at_k(&[0.1, 0.2], &[T], 1), None);
        close(average_precision(&[0.1, 0.2], &[T, T]), 1.0);
    }

    #[test]
    fn auc_matches_pairwise_count() {
        // Few distinct values force many ties; the pairwise count is the definition itself.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        let scores: Vec<f32> = (0..200).map(|_| (next() % 7) as f32 / 7.0).collect();
        let truth: Vec<bool> = (0..200).map(|_| next() % 3 == 0).collect();
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for (sp, _) in scores.iter().zip(&truth).filter(|(_, &t)| t) {
            for (sn, _) in scores.iter().zip(&truth).filter(|(_, &t)| !t) {
                pairs += 1.0;
                if sp > sn {
                    wins += 1.0;
                } else if sp == sn {
                    wins += 0.5;
                }
            }
        }
        close(roc_auc(&scores, &truth), wins / pairs);
    }

    #[test]
    fn matrix_rejects_wrong_shape() {
        let scores = [0.0; 6];
        let truth = [F; 6];
        assert!(ScoreMatrix::new(&scores, &truth, 2, 3).is_ok());
        assert_eq!(
            ScoreMatrix::new(&scores, &truth[..5], 2, 3).err(),
            Some(MetricsError::Shape {
                instances: 2,
                labels: 3,
                scores: 6,
                truth: 5
            })
        );
        assert!(ScoreMatrix::new(&scores, &truth, 3, 3).is_err());
        assert!(ScoreMatrix::new(&scores, &truth, usize::MAX, 2).is_err());
    }

    // 3 instances × 4 labels. Instance 2 has no positive label; label 2 has no positive instance.
    const SCORES: [f32; 12] = [
        0.9, 0.1, 0.8, 0.3, //
        0.5, 0.5, 0.2, 0.7, //
        0.4, 0.6, 0.1, 0.35,
    ];
    const TRUTH: [bool; 12] = [
        T, F, F, T, //
        F, T, F, F, //
        F, F, F, F,
    ];

    #[test]
    fn annotation_on_small_matrix() {
        let m = ScoreMatrix::new(&SCORES, &TRUTH, 3, 4).expect("valid shape");
        let a = annotation(&m);
        // Row 0 ranks T F T F: AUC 3/4, AP (1 + 2/3)/2, P@1 1, P@5 = P@4 = 1/2.
        // Row 1 ranks F {F,T} F: AUC (1 + ½)/3, AP 1/3, P@1 0, P@5 = P@4 = 1/4.
        // Row 2 has no positive: out of AUC-i and MAP-i, zero for every P@K.
        close(a.auc, (0.75 + 0.5) / 2.0);
        close(a.map, (5.0 / 6.0 + 1.0 / 3.0) / 2.0);
        close(a.p_at_1, 1.0 / 3.0);
        close(a.p_at_5, (0.5 + 0.25) / 3.0);
        close(a.p_at_10, (0.5 + 0.25) / 3.0);
        assert_eq!((a.instances, a.labels), (3, 4));
        assert_eq!((a.auc_instances, a.auc_skipped), (2, 1));
        assert_eq!((a.ap_instances, a.ap_skipped), (2, 1));
        close(top1_accuracy(&m), 1.0 / 3.0);
    }

    #[test]
    fn retrieval_on_small_matrix() {
        let m = ScoreMatrix::new(&SCORES, &TRUTH, 3, 4).expect("valid shape");
        let names: Vec<String> = ["rock", "jazz", "polka", "drone"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = retrieval(&m, &names);
        // rock: T F F by 0.9 0.5 0.4 → AUC 1, AP 1.
        // jazz: 0.6 F, 0.5 T, 0.1 F → AUC 1/2, AP 1/2.
        // polka: no positive → skipped.
        // drone: 0.7 F, 0.35 F, 0.3 T → AUC 0, AP 1/3.
        close(r.auc, (1.0 + 0.5 + 0.0) / 3.0);
        close(r.map, (1.0 + 0.5 + 1.0 / 3.0) / 3.0);
        assert_eq!(r.labels_used, 3);
        assert_eq!(r.instances, 3);
        assert_eq!(r.skipped_labels, vec!["polka".to_string()]);
        assert_eq!(r.per_label.len(), 4);
        assert_eq!(r.per_label[2].label, "polka");
        assert_eq!((r.per_label[2].auc, r.per_label[2].ap), (None, None));
        assert_eq!(r.per_label[3].positives, 1);
        close(r.per_label[3].ap, 1.0 / 3.0);
    }

    #[test]
    fn retrieval_skips_all_positive_label_and_names_missing_columns() {
        let scores = [0.2, 0.9, 0.4, 0.1];
        let truth = [T, T, T, F];
        let m = ScoreMatrix::new(&scores, &truth, 2, 2).expect("valid shape");
        let r = retrieval(&m, &["everywhere".to_string()]);
        assert_eq!(r.skipped_labels, vec!["everywhere".to_string()]);
        assert_eq!(r.per_label[1].label, "#1");
        close(r.auc, 1.0);
        assert_eq!(r.labels_used, 1);
    }

    #[test]
    fn empty_matrix_has_no_metrics() {
        let m = ScoreMatrix::new(&[], &[], 0, 5).expect("valid shape");
        let a = annotation(&m);
        assert_eq!((a.auc, a.map, a.p_at_1), (None, None, None));
        let r = retrieval(&m, &[]);
        assert_eq!((r.auc, r.map), (None, None));
        assert_eq!(r.skipped_labels.len(), 5);
    }
}
