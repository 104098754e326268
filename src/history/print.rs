//! How `hark history` and `hark vocab preview` print: JSON lines for programs, a table or
//! text for people, CSV for spreadsheets.

use super::search::{Preview, SearchHit};
use super::StoredTrack;
use crate::score::TagScore;
use serde::Serialize;
use std::io::{self, Write};

/// A stored track with the mark `hark history list` and `export` add.
#[derive(Debug, Serialize)]
pub struct Listed<'a> {
    /// The track.
    #[serde(flatten)]
    pub track: &'a StoredTrack,
    /// False when another model embedded it: kept, never re-scored.
    pub same_model: bool,
}

fn tag_list(tags: &[TagScore]) -> String {
    tags.iter()
        .map(|t| format!("{} {:.2}", t.tag, t.score))
        .collect::<Vec<_>>()
        .join(", ")
}

fn minutes(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// One search hit: a JSON line, or a table row with `pretty`.
pub fn write_hit(out: &mut impl Write, hit: &SearchHit, pretty: bool) -> io::Result<()> {
    if !pretty {
        return writeln!(
            out,
            "{}",
            serde_json::to_string(hit).map_err(io::Error::other)?
        );
    }
    writeln!(
        out,
        "{:>6.3}  {}  {:>6}  {:<14} [{}]",
        hit.score,
        hit.track.started_at,
        minutes(hit.track.duration_s),
        hit.track.top.as_deref().unwrap_or("-"),
        tag_list(&hit.words)
    )
}

/// One listed track: a JSON line, or a table row with `pretty`.
pub fn write_listed(out: &mut impl Write, listed: &Listed<'_>, pretty: bool) -> io::Result<()> {
    if !pretty {
        return writeln!(
            out,
            "{}",
            serde_json::to_string(listed).map_err(io::Error::other)?
        );
    }
    let t = listed.track;
    writeln!(
        out,
        "{}  {:>6}  {:<11} {}{}",
        t.started_at,
        minutes(t.duration_s),
        t.boundary,
        tag_list(&t.tags),
        if listed.same_model {
            String::new()
        } else {
            format!("  (model {})", t.model)
        }
    )
}

/// The CSV header of `hark history export --format csv`.
pub const CSV_HEADER: [&str; 13] = [
    "id",
    "device",
    "started_at",
    "ended_at",
    "duration_s",
    "windows",
    "boundary",
    "model",
    "same_model",
    "vocabulary",
    "top",
    "tags",
    "stream_start_s",
];

/// One CSV record; `tags` is `tag:score` pairs joined by `;`.
pub fn csv_record(listed: &Listed<'_>) -> [String; 13] {
    let t = listed.track;
    [
        t.id.clone(),
        t.device.clone(),
        t.started_at.clone(),
        t.ended_at.clone(),
        t.duration_s.to_string(),
        t.windows.to_string(),
        t.boundary.clone(),
        t.model.clone(),
        listed.same_model.to_string(),
        t.vocabulary.clone(),
        t.top.clone().unwrap_or_default(),
        t.tags
            .iter()
            .map(|s| format!("{}:{}", s.tag, s.score))
            .collect::<Vec<_>>()
            .join(";"),
        t.stream_start_s.to_string(),
    ]
}

/// A preview as text for an operator.
pub fn write_preview(out: &mut impl Write, p: &Preview) -> io::Result<()> {
    writeln!(
        out,
        "{} stored tracks compared ({} from other models left out); top tag changes on {}; \
         untagged: {} with the edit, {} now",
        p.scanned.scored, p.scanned.other_models, p.top_changed, p.untagged.0, p.untagged.1
    )?;
    if !p.appear.is_empty() {
        writeln!(out, "tags that would appear: {}", p.appear.join(", "))?;
    }
    if !p.vanish.is_empty() {
        writeln!(out, "tags that would vanish: {}", p.vanish.join(", "))?;
    }
    writeln!(
        out,
        "{:<24} {:<8} {:>8} {:>8} {:>6}  examples",
        "tag", "change", "now", "edit", "top"
    )?;
    for t in &p.tags {
        let examples = t
            .examples
            .iter()
            .map(|e| format!("{} ({:.2})", e.started_at, e.score))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "{:<24} {:<8} {:>8} {:>8} {:>6}  {}",
            t.tag, t.change, t.tracks_in_service, t.tracks_proposed, t.top_proposed, examples
        )?;
    }
    Ok(())
}
