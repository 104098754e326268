//! A model directory written beside its destination and moved into place by rename, so no
//! reader ever loads a half-written or unchecked model.

use crate::fsutil;
use crate::model::contract::ModelError;
use std::path::{Path, PathBuf};

/// A model directory written under a hidden temporary name beside its destination. Nothing
/// at the destination changes until [`commit`](Self::commit); dropped uncommitted it is
/// removed, so an export whose checks fail leaves no loadable model behind.
#[derive(Debug)]
pub struct StagedModelDir {
    staging: PathBuf,
    dest: PathBuf,
    committed: bool,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl StagedModelDir {
    /// Creates an empty staging directory beside `dest` (and `dest`'s parent if needed).
    pub fn create(dest: &Path) -> Result<Self, ModelError> {
        let parent = fsutil::parent_dir(dest);
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        let staging = fsutil::temp_sibling(dest, "staging").map_err(io_error(dest))?;
        std::fs::create_dir(&staging).map_err(io_error(&staging))?;
        Ok(Self {
            staging,
            dest: dest.to_path_buf(),
            committed: false,
        })
    }

    /// The staging directory: write and check files here before committing.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Where `commit` puts the directory.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Moves the staged directory to its destination by rename. An existing destination
    /// directory is renamed aside first and put back if the move fails; files in it that
    /// the export did not write (a model card, a licence) are carried over into the new one.
    pub fn commit(mut self) -> Result<(), ModelError> {
        let dest = self.dest.clone();
        fsutil::sync_dir(&self.staging).map_err(io_error(&self.staging))?;
        match std::fs::symlink_metadata(&dest) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::rename(&self.staging, &dest).map_err(io_error(&dest))?;
                self.committed = true;
            }
            Err(e) => return Err(io_error(&dest)(e)),
            Ok(meta) if !meta.is_dir() => {
                // A symlink is refused too: swapping it would move the files it points at.
                return Err(io_error(&dest)(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a plain directory; export into a new path",
                )));
            }
            Ok(_) => {
                let aside = fsutil::temp_sibling(&dest, "old").map_err(io_error(&dest))?;
                std::fs::rename(&dest, &aside).map_err(io_error(&dest))?;
                if let Err(e) = std::fs::rename(&self.staging, &dest) {
                    // Put the old model back, so a failed commit changes nothing.
                    let _ = std::fs::rename(&aside, &dest);
                    return Err(io_error(&dest)(e));
                }
                self.committed = true;
                carry_over(&aside, &dest);
                // The carried-over entries are renames inside `dest`: make them durable too.
                fsutil::sync_dir(&dest).map_err(io_error(&dest))?;
            }
        }
        fsutil::sync_dir(fsutil::parent_dir(&dest)).map_err(io_error(&dest))
    }
}

/// Moves every entry of the old directory that the new one lacks into it, then removes the
/// old one. A failure is logged and the old directory kept, so nothing is ever lost.
fn carry_over(old: &Path, new: &Path) {
    let mut kept = false;
    match std::fs::read_dir(old) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let target = new.join(entry.file_name());
                if target.exists() {
                    continue;
                }
                if let Err(e) = std::fs::rename(entry.path(), &target) {
                    tracing::warn!(from = %entry.path().display(), error = %e, "cannot carry a file over into the exported model directory");
                    kept = true;
                }
            }
        }
        Err(e) => {
            tracing::warn!(dir = %old.display(), error = %e, "cannot list the previous model directory");
            kept = true;
        }
    }
    if kept {
        tracing::warn!(dir = %old.display(), "previous model directory kept");
    } else if let Err(e) = std::fs::remove_dir_all(old) {
        tracing::warn!(dir = %old.display(), error = %e, "cannot remove the previous model directory");
    }
}

impl Drop for StagedModelDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}
