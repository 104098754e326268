//! The evaluation report: JSON for machines, markdown shaped like the paper's Tables 2 and 3
//! for people, and the training curves as an SVG.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::metrics::{AnnotationMetrics, LabelMetrics, RetrievalMetrics};
use crate::split::Origin;

/// Errors from writing or reading report files; each names the file involved.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The file could not be read or written.
    #[error("report file {}: {source}", path.display())]
    Io {
        /// File involved.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid report, or the report could not be encoded.
    #[error("report JSON {}: {source}", path.display())]
    Json {
        /// File involved.
        path: PathBuf,
        /// Underlying serde_json error.
        source: serde_json::Error,
    },
    /// plotters failed while drawing the curves destined for this file.
    #[error("training curves {}: {message}", path.display())]
    Plot {
        /// File the SVG was meant for.
        path: PathBuf,
        /// plotters' error, as text (its error type is generic over the backend).
        message: String,
    },
}

/// JSON has no NaN or ∞: a diverged loss is written as `null` and read back as NaN.
mod nullable_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            serializer.serialize_f64(*value)
        } else {
            serializer.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
    }
}

/// One training epoch's losses, validation AUC, learning rate and wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number as the trainer counts it.
    pub epoch: usize,
    /// Mean training loss; non-finite values round-trip through JSON as NaN.
    #[serde(with = "nullable_f64")]
    pub train_loss: f64,
    /// Mean validation loss; non-finite values round-trip through JSON as NaN.
    #[serde(with = "nullable_f64")]
    pub validation_loss: f64,
    /// Validation AUC when it was computed this epoch.
    pub validation_auc: Option<f64>,
    /// Learning rate in effect during the epoch.
    #[serde(with = "nullable_f64")]
    pub learning_rate: f64,
    /// Wall-clock seconds the epoch took.
    #[serde(with = "nullable_f64")]
    pub seconds: f64,
}

/// One row of the annotation table (Table 2): a test split and its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationRow {
    /// Test split in the paper's notation, e.g. `B-Y`.
    pub test: String,
    /// Which test tracks: all, or in-source / cross-source when sources are held out.
    #[serde(default)]
    pub origin: Origin,
    /// The one held-out source a cross-source row covers (`None`: every track of its origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Metrics on that split.
    pub metrics: AnnotationMetrics,
}

/// One row of the retrieval table (Table 3): a test split and its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalRow {
    /// Test split in the paper's notation, e.g. `(B+C)-Y`.
    pub test: String,
    /// Which test tracks: all, or in-source / cross-source when sources are held out.
    #[serde(default)]
    pub origin: Origin,
    /// The one held-out source a cross-source row covers (`None`: every track of its origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Metrics on that split.
    pub metrics: RetrievalMetrics,
}

/// A tag left out of training and evaluation, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedTag {
    /// The tag as it appears in the annotations.
    pub tag: String,
    /// Why it was dropped, e.g. no GloVe vector.
    pub reason: String,
}

/// Everything one evaluation run produced, as written to `report.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Run or model name.
    pub model: String,
    /// Training split in the paper's notation: `A-X`, `B-X` or `(A+B)-X`.
    pub train_setup: String,
    /// Seen labels X.
    pub seen_labels: Vec<String>,
    /// Unseen labels Y.
    pub unseen_labels: Vec<String>,
    /// Tags dropped before splitting (no GloVe vector).
    pub dropped_tags: Vec<DroppedTag>,
    /// Sources held out whole: the cross-source rows are computed on their tracks.
    #[serde(default)]
    pub held_out_sources: Vec<String>,
    /// Instance counts per split group, as the split module reports them.
    pub split_counts: serde_json::Value,
    /// Annotation results, one row per test split.
    pub annotation: Vec<AnnotationRow>,
    /// Retrieval results, one row per test split.
    pub retrieval: Vec<RetrievalRow>,
    /// Top-1 accuracy on a single-label genre set (GTZAN transfer).
    pub genre_top1: Option<f64>,
    /// Training history.
    pub epochs: Vec<EpochRecord>,
    /// Free-form remarks about the run.
    pub notes: Vec<String>,
}

fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    hark::fsutil::write_atomic(path, contents.as_bytes()).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the report as pretty-printed JSON.
pub fn write_json(path: &Path, report: &EvalReport) -> Result<(), ReportError> {
    let mut text = serde_json::to_string_pretty(report).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    text.push('\n');
    write_file(path, &text)
}

/// Reads a report written by [`write_json`].
pub fn read_json(path: &Path) -> Result<EvalReport, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })
}

const UNDEFINED: &str = "–";

fn cell(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => UNDEFINED.to_string(),
    }
}

// Names come from user data (tags, run names); a `|` or newline would break the table.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn split_counts_text(counts: &serde_json::Value) -> String {
    match counts {
        serde_json::Value::Null => UNDEFINED.to_string(),
        serde_json::Value::Object(map) if !map.is_empty() => map
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(s) => format!("{key} {s}"),
                other => format!("{key} {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Renders the report as markdown: header, Table 2- and Table 3-shaped tables, per-label detail.
pub fn markdown(report: &EvalReport) -> String {
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "# Evaluation report: {}\n", escape(&report.model));
    let _ = writeln!(out, "- Model: {}", escape(&report.model));
    let _ = writeln!(out, "- Train setup: {}", escape(&report.train_setup));
    let _ = writeln!(out, "- |X| (seen labels): {}", report.seen_labels.len());
    let _ = writeln!(out, "- |Y| (unseen labels): {}", report.unseen_labels.len());
    let _ = writeln!(
        out,
        "- Split counts: {}",
        escape(&split_counts_text(&report.split_counts))
    );
    if !report.held_out_sources.is_empty() {
        let _ = writeln!(
            out,
            "- Held-out sources (cross-source rows): {}",
            escape(&report.held_out_sources.join(", "))
        );
    }
    let _ = writeln!(out, "- Epochs trained: {}\n", report.epochs.len());

    let train = escape(&report.train_setup);
    // The paper's tables, with a Sources column once some rows are in- or cross-source.
    let by_origin = report.annotation.iter().any(|r| r.origin != Origin::All)
        || report.retrieval.iter().any(|r| r.origin != Origin::All);
    let test_cell = |test: &str, origin: Origin, source: &Option<String>| match source {
        _ if !by_origin => escape(test),
        Some(source) => format!("{} | {origin}: {}", escape(test), escape(source)),
        None => format!("{} | {origin}", escape(test)),
    };
    let sources_head = if by_origin { " Sources |" } else { "" };
    let sources_rule = if by_origin { "---|" } else { "" };
    let _ = writeln!(out, "## Annotation\n");
    if report.annotation.is_empty() {
        let _ = writeln!(out, "No annotation results.\n");
    } else {
        let _ = writeln!(
            out,
            "| Train | Test |{sources_head} AUC-i | MAP-i | P@1 | P@5 | P@10 |"
        );
        let _ = writeln!(out, "|---|---|{sources_rule}---:|---:|---:|---:|---:|");
        for (i, row) in report.annotation.iter().enumerate() {
            let m = &row.metrics;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                if i == 0 { train.as_str() } else { "" },
                test_cell(&row.test, row.origin, &row.source),
                cell(m.auc),
                cell(m.map),
                cell(m.p_at_1),
                cell(m.p_at_5),
                cell(m.p_at_10),
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Retrieval\n");
    if report.retrieval.is_empty() {
        let _ = writeln!(out, "No retrieval results.\n");
    } else {
        let _ = writeln!(out, "| Train | Test |{sources_head} AUC-l | MAP-l |");
        let _ = writeln!(out, "|---|---|{sources_rule}---:|---:|");
        for (i, row) in report.retrieval.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                if i == 0 { train.as_str() } else { "" },
                test_cell(&row.test, row.origin, &row.source),
                cell(row.metrics.auc),
                cell(row.metrics.map),
            );
        }
        out.push('\n');
    }

    if let Some(top1) = report.genre_top1 {
        let _ = writeln!(out, "## Genre top-1 accuracy\n\n{}\n", cell(Some(top1)));
    }

    for row in &report.retrieval {
        per_label_table(&mut out, row);
    }

    let _ = writeln!(out, "## Dropped tags\n");
    if report.dropped_tags.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        for dropped in &report.dropped_tags {
            let _ = writeln!(
                out,
                "- {}: {}",
                escape(&dropped.tag),
                escape(&dropped.reason)
            );
        }
    }

    if !report.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for note in &report.notes {
            let _ = writeln!(out, "- {}", escape(note));
        }
    }
    out
}

fn per_label_table(out: &mut String, row: &RetrievalRow) {
    let m = &row.metrics;
    let origin = match (row.origin, &row.source) {
        (Origin::All, _) => String::new(),
        (other, None) => format!(" ({other})"),
        (other, Some(source)) => format!(" ({other}: {})", escape(source)),
    };
    let _ = writeln!(
        out,
        "## Per-label retrieval: {}{origin}\n",
        escape(&row.test)
    );
    let _ = writeln!(
        out,
        "{} of {} labels averaged over {} instances; {} skipped (no positive or no negative).\n",
        m.labels_used,
        m.per_label.len(),
        m.instances,
        m.skipped_labels.len()
    );
    if m.per_label.is_empty() {
        return;
    }
    let _ = writeln!(out, "| Label | Positives | AUC | AP |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for LabelMetrics {
        label,
        auc,
        ap,
        positives,
    } in &m.per_label
    {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            escape(label),
            positives,
            cell(*auc),
            cell(*ap)
        );
    }
    out.push('\n');
}

/// Writes [`markdown`] of the report to `path`.
pub fn write_markdown(path: &Path, report: &EvalReport) -> Result<(), ReportError> {
    write_file(path, &markdown(report))
}

const WIDTH: u32 = 800;
const HEIGHT: u32 = 480;

/// Pads a data range so a flat or single-point series still gets a drawable axis.
fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return 0.0..1.0;
    }
    let span = hi - lo;
    let pad = if span.is_finite() && span > 0.0 {
        span * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad)..(hi + pad)
}

fn render_curves(epochs: &[EpochRecord], svg: &mut String) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;

    if epochs.is_empty() {
        root.draw(&Text::new(
            "no epochs yet",
            (WIDTH as i32 / 2 - 70, HEIGHT as i32 / 2),
            ("sans-serif", 24).into_font(),
        ))
        .map_err(|e| e.to_string())?;
        return root.present().map_err(|e| e.to_string());
    }

    let finite = |v: f64| v.is_finite().then_some(v);
    let train: Vec<(f64, f64)> = epochs
        .iter()
        .filter_map(|e| Some((e.epoch as f64, finite(e.train_loss)?)))
        .collect();
    let validation: Vec<(f64, f64)> = epochs
        .iter()
        .filter_map(|e| Some((e.epoch as f64, finite(e.validation_loss)?)))
        .collect();
    let auc: Vec<(f64, f64)> = epochs
        .iter()
        .filter_map(|e| Some((e.epoch as f64, finite(e.validation_auc?)?)))
        .collect();

    let first = epochs.iter().map(|e| e.epoch).min().unwrap_or(0);
    let last = epochs.iter().map(|e| e.epoch).max().unwrap_or(0);
    // Half an epoch either side keeps a lone epoch off the plot's edges.
    let x_range = (first as f64 - 0.5)..(last as f64 + 0.5);
    let x_labels = (last - first).saturating_add(1).clamp(2, 10);
    let y_range = padded_range(train.iter().chain(&validation).map(|&(_, y)| y));

    let mut chart = ChartBuilder::on(&root)
        .caption("Training curves", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), y_range)
        .map_err(|e| e.to_string())?
        .set_secondary_coord(x_range, 0.0..1.0);

    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(x_labels)
        // Epochs are whole numbers; fractional ticks stay unlabelled.
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        })
        .y_desc("loss")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .configure_secondary_axes()
        .y_desc("validation AUC")
        .draw()
        .map_err(|e| e.to_string())?;

    let blue = BLUE.stroke_width(2);
    chart
        .draw_series(LineSeries::new(train, blue).point_size(3))
        .map_err(|e| e.to_string())?
        .label("train loss")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue));
    let red = RED.stroke_width(2);
    chart
        .draw_series(LineSeries::new(validation, red).point_size(3))
        .map_err(|e| e.to_string())?
        .label("validation loss")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red));
    if !auc.is_empty() {
        let green = GREEN.stroke_width(2);
        chart
            .draw_secondary_series(LineSeries::new(auc, green).point_size(3))
            .map_err(|e| e.to_string())?
            .label("validation AUC")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], green));
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Draws train/validation loss and validation AUC (right axis, 0–1) per epoch as an 800×480 SVG.
///
/// Non-finite values are left out of their series; an empty history yields a "no epochs yet" image.
pub fn write_curves_svg(path: &Path, epochs: &[EpochRecord]) -> Result<(), ReportError> {
    let mut svg = String::new();
    // Rendering into memory first keeps file errors as real I/O errors naming the path.
    render_curves(epochs, &mut svg).map_err(|message| ReportError::Plot {
        path: path.to_path_buf(),
        message,
    })?;
    write_file(path, &svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{AnnotationMetrics, LabelMetrics, RetrievalMetrics};

    fn annotation_metrics(auc: f64) -> AnnotationMetrics {
        AnnotationMetrics {
            auc: Some(auc),
            map: Some(0.5),
            p_at_1: Some(0.25),
            p_at_5: None,
            p_at_10: Some(0.125),
            instances: 8,
            labels: 4,
            auc_instances: 8,
            auc_skipped: 0,
            ap_instances: 8,
            ap_skipped: 0,
        }
    }

    fn epoch(epoch: usize, train: f64, validation: f64, auc: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: train,
            validation_loss: validation,
            validation_auc: auc,
            learning_rate: 0.001,
            seconds: 12.5,
        }
    }

    fn sample_report() -> EvalReport {
        EvalReport {
            model: "glove-run".to_string(),
            train_setup: "A-X".to_string(),
            seen_labels: vec!["rock".into(), "pop".into(), "jazz".into()],
            unseen_labels: vec!["polka".into(), "drone".into()],
            dropped_tags: vec![DroppedTag {
                tag: "zzzcore".into(),
                reason: "no GloVe vector".into(),
            }],
            held_out_sources: Vec::new(),
            split_counts: serde_json::json!({"A": 10, "B": 4, "C": 3}),
            annotation: vec![
                AnnotationRow {
                    test: "B-Y".into(),
                    origin: Origin::All,
                    source: None,
                    metrics: annotation_metrics(0.875),
                },
                AnnotationRow {
                    test: "C-Y".into(),
                    origin: Origin::All,
                    source: None,
                    metrics: annotation_metrics(0.75),
                },
            ],
            retrieval: vec![RetrievalRow {
                test: "(B+C)-Y".into(),
                origin: Origin::All,
                source: None,
                metrics: RetrievalMetrics {
                    auc: Some(0.6875),
                    map: Some(0.09),
                    instances: 7,
                    labels_used: 1,
                    skipped_labels: vec!["drone".into()],
                    per_label: vec![
                        LabelMetrics {
                            label: "polka".into(),
                            auc: Some(0.6875),
                            ap: Some(0.09),
                            positives: 2,
                        },
                        LabelMetrics {
                            label: "drone".into(),
                            auc: None,
                            ap: None,
                            positives: 0,
                        },
                    ],
                },
            }],
            genre_top1: Some(0.5),
            epochs: vec![epoch(1, 0.75, 0.8, Some(0.6)), epoch(2, 0.5, 0.625, None)],
            notes: vec!["smoke test".into()],
        }
    }

    #[test]
    fn markdown_has_paper_shaped_tables() {
        let md = markdown(&sample_report());
        assert!(md.contains("- |X| (seen labels): 3"));
        assert!(md.contains("- |Y| (unseen labels): 2"));
        assert!(md.contains("- Split counts: A 10, B 4, C 3"));
        assert!(md.contains("| Train | Test | AUC-i | MAP-i | P@1 | P@5 | P@10 |"));
        assert!(md.contains("| A-X | B-Y | 0.8750 | 0.5000 | 0.2500 | – | 0.1250 |"));
        // The train setup is printed once per block, like the paper's tables.
        assert!(md.contains("|  | C-Y | 0.7500 | 0.5000 | 0.2500 | – | 0.1250 |"));
        assert!(md.contains("| Train | Test | AUC-l | MAP-l |"));
        assert!(md.contains("| A-X | (B+C)-Y | 0.6875 | 0.0900 |"));
        assert!(md.contains("## Genre top-1 accuracy\n\n0.5000"));
        assert!(md.contains("| polka | 2 | 0.6875 | 0.0900 |"));
        assert!(md.contains("| drone | 0 | – | – |"));
        assert!(md.contains("- zzzcore: no GloVe vector"));
        let annotation_at = md.find("## Annotation").expect("annotation section");
        let retrieval_at = md.find("## Retrieval").expect("retrieval section");
        let per_label_at = md
            .find("## Per-label retrieval")
            .expect("per-label section");
        assert!(annotation_at < retrieval_at && retrieval_at < per_label_at);
    }

    #[test]
    fn markdown_sets_in_source_and_cross_source_rows_side_by_side() {
        let mut report = sample_report();
        report.held_out_sources = vec!["csound-soundfont".into()];
        let mut cross = report.annotation[0].clone();
        report.annotation[0].origin = Origin::InSource;
        cross.origin = Origin::CrossSource;
        cross.metrics = annotation_metrics(0.625);
        report.annotation.insert(1, cross);
        report.annotation.truncate(2);
        report.retrieval[0].origin = Origin::CrossSource;
        let mut one_source = report.retrieval[0].clone();
        one_source.source = Some("csound-soundfont".into());
        report.retrieval.push(one_source);
        let md = markdown(&report);
        assert!(md.contains("|  | (B+C)-Y | cross-source: csound-soundfont | 0.6875 | 0.0900 |"));
        assert!(md.contains("## Per-label retrieval: (B+C)-Y (cross-source: csound-soundfont)"));
        assert!(md.contains("- Held-out sources (cross-source rows): csound-soundfont"));
        assert!(md.contains("| Train | Test | Sources | AUC-i | MAP-i | P@1 | P@5 | P@10 |"));
        assert!(md.contains("| A-X | B-Y | in-source | 0.8750 |"));
        assert!(md.contains("|  | B-Y | cross-source | 0.6250 |"));
        assert!(md.contains("| Train | Test | Sources | AUC-l | MAP-l |"));
        assert!(md.contains("| A-X | (B+C)-Y | cross-source | 0.6875 | 0.0900 |"));
        assert!(md.contains("## Per-label retrieval: (B+C)-Y (cross-source)"));
        // A report written before origins existed reads as "all".
        let mut json = serde_json::to_value(&report).expect("json");
        json["retrieval"][0]
            .as_object_mut()
            .expect("row")
            .remove("origin");
        json.as_object_mut()
            .expect("report")
            .remove("held_out_sources");
        let old: EvalReport = serde_json::from_value(json).expect("old report");
        assert_eq!(old.retrieval[0].origin, Origin::All);
        assert!(old.held_out_sources.is_empty());
    }

    #[test]
    fn markdown_escapes_pipes_and_prints_nan_as_undefined() {
        let mut report = sample_report();
        report.retrieval[0].metrics.per_label[0].label = "a|b".into();
        report.retrieval[0].metrics.auc = Some(f64::NAN);
        let md = markdown(&report);
        assert!(md.contains("| a\\|b | 2 |"));
        assert!(md.contains("| A-X | (B+C)-Y | – | 0.0900 |"));
    }

    #[test]
    fn markdown_without_results_or_top1() {
        let md = markdown(&EvalReport::default());
        assert!(md.contains("No annotation results."));
        assert!(md.contains("No retrieval results."));
        assert!(!md.contains("Genre top-1"));
        assert!(md.contains("- Split counts: –"));
    }

    #[test]
    fn json_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        let report = sample_report();
        write_json(&path, &report).expect("write");
        assert_eq!(read_json(&path).expect("read"), report);
    }

    #[test]
    fn json_keeps_nan_losses_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        let mut report = sample_report();
        report.epochs = vec![epoch(1, f64::NAN, f64::INFINITY, None)];
        write_json(&path, &report).expect("write");
        let back = read_json(&path).expect("read");
        assert!(back.epochs[0].train_loss.is_nan());
        assert!(back.epochs[0].validation_loss.is_nan());
    }

    #[test]
    fn read_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.json");
        let err = read_json(&missing).expect_err("missing file");
        assert!(matches!(err, ReportError::Io { .. }));
        assert!(err.to_string().contains("missing.json"));

        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "{ not json").expect("write");
        let err = read_json(&broken).expect_err("broken file");
        assert!(matches!(err, ReportError::Json { .. }));
        assert!(err.to_string().contains("broken.json"));
    }

    #[test]
    fn write_markdown_writes_the_rendering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.md");
        let report = sample_report();
        write_markdown(&path, &report).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, markdown(&report));
    }

    fn svg_of(epochs: &[EpochRecord]) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("curves.svg");
        write_curves_svg(&path, epochs).expect("svg");
        std::fs::read_to_string(&path).expect("read svg")
    }

    #[test]
    fn curves_svg_has_all_series() {
        let svg = svg_of(&sample_report().epochs);
        assert!(svg.contains("<svg"));
        assert!(svg.contains("train loss"));
        assert!(svg.contains("validation loss"));
        assert!(svg.contains("validation AUC"));
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn curves_svg_without_epochs_says_so() {
        let svg = svg_of(&[]);
        assert!(svg.contains("<svg"));
        assert!(svg.contains("no epochs yet"));
    }

    #[test]
    fn curves_svg_survives_single_and_non_finite_epochs() {
        let single = svg_of(&[epoch(0, 1.0, 1.0, Some(0.5))]);
        assert!(single.contains("train loss"));
        assert!(single.contains("<circle"));

        let broken = svg_of(&[
            epoch(1, f64::NAN, f64::INFINITY, Some(f64::NAN)),
            epoch(2, f64::NEG_INFINITY, 0.5, None),
        ]);
        assert!(broken.contains("validation loss"));
        assert!(!broken.contains("NaN") && !broken.contains("inf"));

        let all_nan = svg_of(&[epoch(3, f64::NAN, f64::NAN, None)]);
        assert!(all_nan.contains("<svg"));
    }

    #[test]
    fn curves_svg_error_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("curves.svg");
        let err = write_curves_svg(&path, &[]).expect_err("missing directory");
        assert!(err.to_string().contains("curves.svg"));
    }
}
