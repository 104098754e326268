//! hark: zero-shot music tagging on the edge.
//!
//! Audio flows `audio` → `frontend` → `model` → `track` → `score` → `mqtt`; `vocab` turns
//! a word list into embeddings through the GloVe store and the word encoder. The `daemon`
//! module wires the rooms together; `file_tagger` is the offline path used by `hark tag`.

pub mod audio;
pub mod file_tagger;
pub mod frontend;
pub mod fsutil;
pub mod model;
pub mod score;
pub mod vocab;

#[cfg(feature = "daemon")]
pub mod config;
#[cfg(feature = "daemon")]
pub mod daemon;
#[cfg(feature = "daemon")]
pub mod history;
#[cfg(feature = "daemon")]
pub mod mqtt;
#[cfg(feature = "daemon")]
pub mod track;
#[cfg(feature = "daemon")]
pub mod web;

/// A path inside the installed share directory (`/usr/share/hark`), or inside the source
/// tree when run from a checkout: where the bundled model, GloVe pack and demo live.
pub fn bundled(relative: &str) -> std::path::PathBuf {
    let installed = std::path::Path::new("/usr/share/hark").join(relative);
    if installed.exists() {
        installed
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}
