//! Tags to GloVe vectors through hark's GloVe store: a tag that is one GloVe token uses its
//! vector; a multi-word tag ("female vocalists", "hip hop") uses the mean of its words, as
//! hark's vocabulary does; a tag with any word missing from GloVe is dropped and listed.

use crate::report::DroppedTag;
use hark::vocab::glove::{GloveStore, PhraseError};
use std::collections::BTreeMap;

/// Every usable label with its GloVe vector, in sorted label order.
#[derive(Debug, Clone)]
pub struct LabelVectors {
    /// Label names, sorted.
    pub names: Vec<String>,
    /// Row-major `[names.len() × dim]`.
    pub vectors: Vec<f32>,
    /// GloVe dimension G.
    pub dim: usize,
    /// Tags that have no vector, with the reason.
    pub dropped: Vec<DroppedTag>,
}

/// The GloVe vector of one tag, or why there is none.
pub fn tag_vector(store: &GloveStore, tag: &str) -> Result<Vec<f32>, PhraseError> {
    if let Some(v) = store.vector(tag) {
        return Ok(v);
    }
    // Last.fm and MTAT spell phrases with '_' or '-' as often as with spaces.
    let spaced = tag.replace(['_', '-'], " ");
    match store.phrase(tag) {
        Ok(v) => Ok(v),
        Err(first) if spaced != tag => store.phrase(&spaced).map_err(|_| first),
        Err(e) => Err(e),
    }
}

impl LabelVectors {
    /// Looks up every distinct tag; the ones without a vector go to `dropped`.
    pub fn build<'a>(store: &GloveStore, tags: impl IntoIterator<Item = &'a str>) -> Self {
        let mut found: BTreeMap<String, Vec<f32>> = BTreeMap::new();
        let mut dropped: BTreeMap<String, String> = BTreeMap::new();
        for tag in tags {
            if found.contains_key(tag) || dropped.contains_key(tag) {
                continue;
            }
            match tag_vector(store, tag) {
                Ok(v) => {
                    found.insert(tag.to_string(), v);
                }
                Err(e) => {
                    dropped.insert(tag.to_string(), e.to_string());
                }
            }
        }
        let dim = store.dim();
        let mut names = Vec::with_capacity(found.len());
        let mut vectors = Vec::with_capacity(found.len() * dim);
        for (name, v) in found {
            names.push(name);
            vectors.extend_from_slice(&v);
        }
        Self {
            names,
            vectors,
            dim,
            dropped: dropped
                .into_iter()
                .map(|(tag, reason)| DroppedTag { tag, reason })
                .collect(),
        }
    }

    /// The index of a label.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }

    /// The vector of label `i`.
    pub fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }
}
