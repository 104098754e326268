//! Figures over several seeds: the reports of one recipe trained with different seeds,
//! combined into mean ± sample standard deviation per test, origin and metric, so a headline
//! figure says how much of it is the seed.

use crate::metrics::{AnnotationMetrics, RetrievalMetrics};
use crate::report::EvalReport;
use crate::split::Origin;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The mean and sample standard deviation of some runs' values of one figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Mean of the defined values.
    pub mean: f64,
    /// Sample standard deviation (n − 1); `None` with fewer than two values.
    pub sd: Option<f64>,
    /// How many runs had the figure defined.
    pub n: usize,
}

impl Spread {
    /// The spread of the finite values among `values`; `None` when there is none.
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Option<Self> {
        let defined: Vec<f64> = values
            .into_iter()
            .flatten()
            .filter(|v| v.is_finite())
            .collect();
        let n = defined.len();
        if n == 0 {
            return None;
        }
        let mean = defined.iter().sum::<f64>() / n as f64;
        let sd = (n > 1).then(|| {
            let squares: f64 = defined.iter().map(|v| (v - mean).powi(2)).sum();
            (squares / (n - 1) as f64).sqrt()
        });
        Some(Self { mean, sd, n })
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.sd {
            Some(sd) => write!(f, "{:.4} ± {sd:.4}", self.mean),
            None => write!(f, "{:.4}", self.mean),
        }
    }
}

fn cell(spread: Option<Spread>, runs: usize) -> String {
    match spread {
        None => "–".to_string(),
        Some(s) if s.n == runs => s.to_string(),
        // A figure undefined in some runs says so rather than passing for all of them.
        Some(s) => format!("{s} (n={})", s.n),
    }
}

/// What a row is about: its test, origin and, for one held-out source alone, that source.
type RowKey<'a> = (&'a str, Origin, Option<&'a str>);

/// The origin cell: "cross-source", or "cross-source: <source>" for one source alone.
fn origin_cell((_, origin, source): &RowKey<'_>) -> String {
    match source {
        Some(source) => format!("{origin}: {source}"),
        None => origin.to_string(),
    }
}

/// Rows of one table across runs, keyed by [`RowKey`] in the order first seen.
fn rows<'a, T>(
    reports: &'a [EvalReport],
    table: impl Fn(&'a EvalReport) -> Vec<(RowKey<'a>, &'a T)>,
) -> Vec<(RowKey<'a>, Vec<&'a T>)> {
    let mut order: Vec<RowKey<'a>> = Vec::new();
    let mut by_key: BTreeMap<RowKey<'a>, Vec<&T>> = BTreeMap::new();
    for report in reports {
        for (key, metrics) in table(report) {
            if !by_key.contains_key(&key) {
                order.push(key);
            }
            by_key.entry(key).or_default().push(metrics);
        }
    }
    order
        .into_iter()
        .map(|key| (key, by_key.remove(&key).unwrap_or_default()))
        .collect()
}

/// Markdown tables of mean ± sd over `reports` (one per seed): annotation, retrieval, and
/// per-label retrieval AUC, each row by test and origin.
pub fn markdown(reports: &[EvalReport]) -> String {
    let runs = reports.len();
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "# Over {runs} runs: mean ± sd\n");
    let mut names: Vec<&str> = reports.iter().map(|r| r.model.as_str()).collect();
    names.dedup();
    let _ = writeln!(out, "- Runs: {}", names.join(", "));
    let mut setups: Vec<&str> = reports.iter().map(|r| r.train_setup.as_str()).collect();
    setups.sort_unstable();
    setups.dedup();
    let _ = writeln!(out, "- Train setup: {}", setups.join(", "));
    let mut held: Vec<&String> = reports.iter().flat_map(|r| &r.held_out_sources).collect();
    held.sort_unstable();
    held.dedup();
    if !held.is_empty() {
        let held: Vec<&str> = held.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(out, "- Held-out sources: {}", held.join(", "));
    }
    out.push('\n');

    let annotation = rows(reports, |r| {
        r.annotation
            .iter()
            .map(|row| {
                let key = (row.test.as_str(), row.origin, row.source.as_deref());
                (key, &row.metrics)
            })
            .collect()
    });
    let _ = writeln!(out, "## Annotation\n");
    let _ = writeln!(
        out,
        "| Test | Sources | AUC-i | MAP-i | P@1 | P@5 | P@10 |\n|---|---|---:|---:|---:|---:|---:|"
    );
    for (key, metrics) in &annotation {
        let spread = |f: fn(&AnnotationMetrics) -> Option<f64>| {
            cell(Spread::of(metrics.iter().map(|m| f(m))), runs)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            key.0,
            origin_cell(key),
            spread(|m| m.auc),
            spread(|m| m.map),
            spread(|m| m.p_at_1),
            spread(|m| m.p_at_5),
            spread(|m| m.p_at_10),
        );
    }

    let retrieval = rows(reports, |r| {
        r.retrieval
            .iter()
            .map(|row| {
                let key = (row.test.as_str(), row.origin, row.source.as_deref());
                (key, &row.metrics)
            })
            .collect()
    });
    let _ = writeln!(out, "\n## Retrieval\n");
    let _ = writeln!(
        out,
        "| Test | Sources | AUC-l | MAP-l |\n|---|---|---:|---:|"
    );
    for (key, metrics) in &retrieval {
        let spread = |f: fn(&RetrievalMetrics) -> Option<f64>| {
            cell(Spread::of(metrics.iter().map(|m| f(m))), runs)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            key.0,
            origin_cell(key),
            spread(|m| m.auc),
            spread(|m| m.map)
        );
    }

    for (key, metrics) in &retrieval {
        let mut per_label: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
        for m in metrics {
            for l in &m.per_label {
                per_label.entry(l.label.as_str()).or_default().push(l.auc);
            }
        }
        let _ = writeln!(
            out,
            "\n## Per-label AUC: {} ({})\n\n| Label | AUC |\n|---|---:|",
            key.0,
            origin_cell(key)
        );
        for (label, aucs) in per_label {
            let _ = writeln!(out, "| {label} | {} |", cell(Spread::of(aucs), runs));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LabelMetrics;
    use crate::report::{AnnotationRow, RetrievalRow};

    fn report(seed: u64, auc_in: f64, auc_cross: Option<f64>) -> EvalReport {
        let retrieval = |origin, auc: Option<f64>| RetrievalRow {
            test: "(A+B+C)-Y".into(),
            origin,
            source: None,
            metrics: RetrievalMetrics {
                auc,
                map: Some(0.5),
                instances: 10,
                labels_used: 1,
                skipped_labels: Vec::new(),
                per_label: vec![LabelMetrics {
                    label: "piano".into(),
                    auc,
                    ap: Some(0.5),
                    positives: 3,
                }],
            },
        };
        EvalReport {
            model: format!("seed{seed}"),
            train_setup: "(A+B)-X".into(),
            held_out_sources: vec!["csound-soundfont".into()],
            annotation: vec![AnnotationRow {
                test: "B-Y".into(),
                origin: Origin::CrossSource,
                source: None,
                metrics: AnnotationMetrics {
                    auc: auc_cross,
                    map: None,
                    p_at_1: Some(1.0),
                    p_at_5: Some(0.2),
                    p_at_10: Some(0.1),
                    instances: 4,
                    labels: 3,
                    auc_instances: 4,
                    auc_skipped: 0,
                    ap_instances: 4,
                    ap_skipped: 0,
                },
            }],
            retrieval: vec![
                retrieval(Origin::InSource, Some(auc_in)),
                retrieval(Origin::CrossSource, auc_cross),
                RetrievalRow {
                    source: Some("csound-soundfont".into()),
                    ..retrieval(Origin::CrossSource, auc_cross)
                },
            ],
            ..EvalReport::default()
        }
    }

    #[test]
    fn spread_is_the_mean_and_sample_sd_of_the_defined_values() {
        let s = Spread::of([Some(0.7), Some(0.8), Some(0.9), None, Some(f64::NAN)]).unwrap();
        assert_eq!(s.n, 3);
        assert!((s.mean - 0.8).abs() < 1e-12);
        assert!((s.sd.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(s.to_string(), "0.8000 ± 0.1000");
        let one = Spread::of([Some(0.5)]).unwrap();
        assert_eq!((one.sd, one.to_string()), (None, "0.5000".to_string()));
        assert_eq!(Spread::of([None, Some(f64::INFINITY)]), None);
    }

    #[test]
    fn seeds_combine_per_test_and_origin() {
        let reports = [
            report(1, 0.9, Some(0.6)),
            report(2, 0.8, Some(0.7)),
            report(3, 0.85, None),
        ];
        let md = markdown(&reports);
        assert!(md.contains("# Over 3 runs: mean ± sd"), "{md}");
        assert!(md.contains("- Runs: seed1, seed2, seed3"));
        assert!(md.contains("- Held-out sources: csound-soundfont"));
        assert!(md.contains("| (A+B+C)-Y | in-source | 0.8500 ± 0.0500 | 0.5000 ± 0.0000 |"));
        // Defined in two runs of three: the cell says so.
        assert!(
            md.contains("| (A+B+C)-Y | cross-source | 0.6500 ± 0.0707 (n=2) | 0.5000 ± 0.0000 |")
        );
        assert!(md.contains("| B-Y | cross-source | 0.6500 ± 0.0707 (n=2) | – | 1.0000 ± 0.0000 |"));
        assert!(md.contains("## Per-label AUC: (A+B+C)-Y (cross-source)"));
        assert!(md.contains("| piano | 0.6500 ± 0.0707 (n=2) |"));
        assert!(
            md.contains("| (A+B+C)-Y | cross-source: csound-soundfont | 0.6500 ± 0.0707 (n=2) |")
        );
        assert!(md.contains("## Per-label AUC: (A+B+C)-Y (cross-source: csound-soundfont)"));
    }
}
