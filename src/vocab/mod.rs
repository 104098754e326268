//! Vocabulary: the GloVe store and the people-written tag list resolved against it.
//!
//! [`glove`] packs GloVe text into a memory-mapped file and looks words up in it;
//! [`file`](mod@file) parses the vocabulary file and turns each tag into a mean GloVe vector;
//! [`scorer`] embeds the resolved tags with the word encoder into a ready scorer.

pub mod file;
pub mod glove;
pub mod scorer;

pub use file::{
    check, CheckReport, ResolvedTag, ResolvedVocab, TagDef, VocabError, VocabErrorKind,
    VocabErrors, VocabFile,
};
pub use glove::{
    pack_text, GloveError, GloveStore, PackOptions, PackStats, PhraseError, RowFormat,
};
pub use scorer::{load_scorer, scorer_from_text, VocabLoadError, VocabularyScorer};
