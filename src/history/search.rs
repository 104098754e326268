//! Reading the history with words: rank stored tracks by any words, and preview what a
//! vocabulary would have tagged. Rows are streamed from SQLite one at a time; only the best
//! few are kept, so memory stays flat however long the history is.
//!
//! Only tracks embedded by the model in service are scored: another model's embedding lives
//! in another space, so those tracks are counted and left alone, never re-scored.

use super::store::{f16_from_blob, F16Decoder, Store};
use super::{HistoryError, StoredTrack};
use crate::score::{Scorer, Selection, TagScore};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// A score with a total order, for the heaps of best tracks.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ranked(f32, i64);

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Equal scores: the newer track (larger row number) ranks first.
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Keeps the `n` best (score, row) pairs seen.
#[derive(Debug)]
struct Best {
    n: usize,
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl Best {
    fn new(n: usize) -> Self {
        Self {
            n,
            heap: BinaryHeap::with_capacity(n + 1),
        }
    }

    fn offer(&mut self, score: f32, rowid: i64) {
        if self.n == 0 {
            return;
        }
        let item = Ranked(score, rowid);
        if self.heap.len() < self.n {
            self.heap.push(Reverse(item));
        } else if self.heap.peek().is_some_and(|Reverse(low)| item > *low) {
            self.heap.pop();
            self.heap.push(Reverse(item));
        }
    }

    /// Best first.
    fn into_sorted(self) -> Vec<(f32, i64)> {
        let mut v: Vec<Ranked> = self.heap.into_iter().map(|Reverse(r)| r).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|Ranked(s, r)| (s, r)).collect()
    }
}

/// How many stored tracks a scan looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Scanned {
    /// Tracks of the model in service, scored.
    pub scored: u64,
    /// Tracks of other models in the time range, kept but not scored.
    pub other_models: u64,
}

/// Calls `each(rowid, embedding)` for every track since `since_ms` embedded by `model`.
fn scan(
    store: &Store,
    model: &str,
    since_ms: i64,
    mut each: impl FnMut(i64, &[f32]),
) -> Result<Scanned, HistoryError> {
    let sql_err = |source| HistoryError::Sqlite {
        path: store.path().to_path_buf(),
        source,
    };
    let conn = store.conn();
    let model_id: Option<i64> = conn
        .query_row("SELECT id FROM models WHERE identity = ?1", [model], |r| {
            r.get(0)
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(sql_err)?;
    let mut scanned = Scanned::default();
    let mut stmt = conn
        .prepare_cached("SELECT track, model_id, embedding FROM embeddings WHERE started_ms >= ?1")
        .map_err(sql_err)?;
    let mut rows = stmt.query([since_ms]).map_err(sql_err)?;
    let mut embedding = Vec::new();
    let mut decoder = F16Decoder::default();
    while let Some(row) = rows.next().map_err(sql_err)? {
        let track: i64 = row.get(0).map_err(sql_err)?;
        let mid: i64 = row.get(1).map_err(sql_err)?;
        if Some(mid) != model_id {
            scanned.other_models += 1;
            continue;
        }
        let blob = row.get_ref(2).map_err(sql_err)?;
        let bytes = blob.as_blob().unwrap_or_default();
        decoder.decode(bytes, &mut embedding);
        scanned.scored += 1;
        each(track, &embedding);
    }
    Ok(scanned)
}

/// One track found by a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The combined score: the mean of the words' cosines.
    pub score: f32,
    /// Each query word's cosine, in query order.
    pub words: Vec<TagScore>,
    /// The track as stored.
    #[serde(flatten)]
    pub track: StoredTrack,
}

/// The best tracks for a query, and how many were looked at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// Tracks scored and skipped.
    pub scanned: Scanned,
}

/// Ranks the tracks since `since_ms` embedded by `model` by the mean cosine of `query`'s
/// words (one vocabulary line each), best first, at most `limit`.
pub fn search(
    store: &Store,
    model: &str,
    query: &Scorer,
    since_ms: i64,
    limit: usize,
) -> Result<SearchResult, HistoryError> {
    let mut best = Best::new(limit);
    // The mean of the words' cosines is one cosine with the mean of their unit vectors.
    let direction = query.mean_direction();
    let scanned = scan(store, model, since_ms, |rowid, embedding| {
        if embedding.len() == direction.len() {
            best.offer(mean_cosine(&direction, embedding), rowid);
        }
    })?;
    let mut hits = Vec::new();
    for (score, rowid) in best.into_sorted() {
        let Some(track) = store.track(rowid)? else {
            continue;
        };
        let embedding = embedding_of(store, rowid)?;
        let words = query
            .tags()
            .iter()
            .zip(query.score_all(&embedding).unwrap_or_default())
            .map(|(t, score)| TagScore {
                tag: t.label.clone(),
                score,
            })
            .collect();
        hits.push(SearchHit {
            score,
            words,
            track,
        });
    }
    Ok(SearchResult { hits, scanned })
}

/// `direction · x / |x|` (0 for a zero vector).
fn mean_cosine(direction: &[f32], x: &[f32]) -> f32 {
    let norm = crate::score::dot(x, x).sqrt();
    if norm > 0.0 && norm.is_finite() {
        crate::score::dot(direction, x) / norm
    } else {
        0.0
    }
}

fn embedding_of(store: &Store, rowid: i64) -> Result<Vec<f32>, HistoryError> {
    let blob: Vec<u8> = store
        .conn()
        .query_row(
            "SELECT embedding FROM embeddings WHERE track = ?1",
            [rowid],
            |r| r.get(0),
        )
        .map_err(|source| HistoryError::Sqlite {
            path: store.path().to_path_buf(),
            source,
        })?;
    let mut v = Vec::new();
    f16_from_blob(&blob, &mut v);
    Ok(v)
}

/// A track shown as an example in a preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    /// The track's id.
    pub id: String,
    /// When it started.
    pub started_at: String,
    /// Its length.
    pub duration_s: f64,
    /// The tag's score on it.
    pub score: f32,
    /// Its top tag as published.
    pub published_top: Option<String>,
}

/// What one tag would do, under the proposed vocabulary and the one in service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagPreview {
    /// The tag label.
    pub tag: String,
    /// `kept`, `added` (only in the proposal) or `removed` (only in service).
    pub change: &'static str,
    /// Tracks it tags under the vocabulary in service.
    pub tracks_in_service: u64,
    /// Tracks it would tag under the proposal.
    pub tracks_proposed: u64,
    /// Tracks it would be the top tag of under the proposal.
    pub top_proposed: u64,
    /// The tracks it fits best under the proposal.
    pub examples: Vec<Example>,
}

/// What a vocabulary edit would have done to the stored tracks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    /// Tracks compared, and tracks of other models left out.
    pub scanned: Scanned,
    /// Tracks whose top tag would change.
    pub top_changed: u64,
    /// Tracks that would get no tag at all (under the proposal; in service).
    pub untagged: (u64, u64),
    /// Tags of the proposal that would appear on tracks no tag of that name reached before.
    pub appear: Vec<String>,
    /// Tags in service that would no longer tag any track.
    pub vanish: Vec<String>,
    /// Every tag of either vocabulary: the proposal's in its order, then the removed ones.
    pub tags: Vec<TagPreview>,
}

#[derive(Default)]
struct TagTally {
    in_service: u64,
    proposed: u64,
    top: u64,
}

/// The tracks behind a tag's best (score, row) pairs, best first.
fn examples_of(store: &Store, best: Best) -> Result<Vec<Example>, HistoryError> {
    let mut shown = Vec::new();
    for (score, rowid) in best.into_sorted() {
        if let Some(track) = store.track(rowid)? {
            shown.push(Example {
                id: track.id,
                started_at: track.started_at,
                duration_s: track.duration_s,
                score,
                published_top: track.top,
            });
        }
    }
    Ok(shown)
}

/// Scores every stored track of `model` since `since_ms` under `in_service` and `proposed`
/// with the same selection rule, and compares.
pub fn preview(
    store: &Store,
    model: &str,
    in_service: &Scorer,
    proposed: &Scorer,
    selection: Selection,
    since_ms: i64,
    examples: usize,
) -> Result<Preview, HistoryError> {
    let mut tally: BTreeMap<String, TagTally> = BTreeMap::new();
    let mut best: BTreeMap<String, Best> = BTreeMap::new();
    let (mut top_changed, mut untagged) = (0u64, (0u64, 0u64));
    let scanned = scan(store, model, since_ms, |rowid, embedding| {
        let now = in_service.select(embedding, selection).unwrap_or_default();
        let next = proposed.select(embedding, selection).unwrap_or_default();
        if now.first().map(|t| &t.tag) != next.first().map(|t| &t.tag) {
            top_changed += 1;
        }
        untagged.0 += u64::from(next.is_empty());
        untagged.1 += u64::from(now.is_empty());
        for t in &now {
            tally.entry(t.tag.clone()).or_default().in_service += 1;
        }
        for (i, t) in next.iter().enumerate() {
            let entry = tally.entry(t.tag.clone()).or_default();
            entry.proposed += 1;
            entry.top += u64::from(i == 0);
            best.entry(t.tag.clone())
                .or_insert_with(|| Best::new(examples))
                .offer(t.score, rowid);
        }
    })?;
    let proposed_labels: Vec<&str> = proposed.tags().iter().map(|t| t.label.as_str()).collect();
    let service_labels: Vec<&str> = in_service.tags().iter().map(|t| t.label.as_str()).collect();
    let mut tags = Vec::new();
    let removed = service_labels
        .iter()
        .filter(|l| !proposed_labels.contains(l));
    for label in proposed_labels.iter().chain(removed) {
        let t = tally.remove(*label).unwrap_or_default();
        let change = match (
            proposed_labels.contains(label),
            service_labels.contains(label),
        ) {
            (true, true) => "kept",
            (true, false) => "added",
            _ => "removed",
        };
        let shown = match best.remove(*label) {
            Some(b) => examples_of(store, b)?,
            None => Vec::new(),
        };
        tags.push(TagPreview {
            tag: (*label).to_string(),
            change,
            tracks_in_service: t.in_service,
            tracks_proposed: t.proposed,
            top_proposed: t.top,
            examples: shown,
        });
    }
    let appear = tags
        .iter()
        .filter(|t| t.tracks_proposed > 0 && t.tracks_in_service == 0)
        .map(|t| t.tag.clone())
        .collect();
    let vanish = tags
        .iter()
        .filter(|t| t.tracks_in_service > 0 && t.tracks_proposed == 0)
        .map(|t| t.tag.clone())
        .collect();
    Ok(Preview {
        scanned,
        top_changed,
        untagged,
        appear,
        vanish,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_direction_gives_the_mean_of_the_words_cosines() {
        use crate::score::TagSpec;
        let tags = ["a", "b", "c"].map(|l| TagSpec {
            label: l.into(),
            threshold: None,
        });
        let rows = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.5, 2.0];
        let scorer = Scorer::new(tags.to_vec(), &rows, 3).unwrap();
        let x = [0.3, -0.7, 1.1];
        let each = scorer.score_all(&x).unwrap();
        let mean = each.iter().sum::<f32>() / 3.0;
        assert!((mean_cosine(&scorer.mean_direction(), &x) - mean).abs() < 1e-6);
        assert_eq!(mean_cosine(&scorer.mean_direction(), &[0.0; 3]), 0.0);
    }

    #[test]
    fn best_keeps_the_top_n_best_first_and_newer_wins_ties() {
        let mut b = Best::new(3);
        for (s, r) in [(0.1, 1), (0.9, 2), (0.5, 3), (0.9, 4), (0.2, 5), (0.7, 6)] {
            b.offer(s, r);
        }
        assert_eq!(b.into_sorted(), vec![(0.9, 4), (0.9, 2), (0.7, 6)]);
        let mut none = Best::new(0);
        none.offer(1.0, 1);
        assert!(none.into_sorted().is_empty());
    }
}
