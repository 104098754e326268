//! Durable, atomic file replacement: the one way hark (and hark-train) writes a file that
//! another process may read while it is being written or after a power cut.
//!
//! A file is written under a unique temporary name beside its destination, fsynced, renamed
//! over the destination, and then the directory is fsynced so the rename itself survives a
//! crash. Readers see the old file or the new one, never half of either.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Suffix of every temporary file this module creates, so a directory's owner can recognise
/// and sweep leftovers of a crash (they also start with `.`).
pub const TEMP_SUFFIX: &str = ".tmp";

/// Makes temporary names unique within the process; the pid makes them unique between
/// processes, so two writers of one destination never share a temporary file.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The directory holding `path`, `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A fresh sibling name `.{file name}.{tag}-{pid}-{n}.tmp` for `path`; nothing is created.
pub fn temp_sibling(path: &Path, tag: &str) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        )
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{tag}-{}-{n}{TEMP_SUFFIX}", std::process::id()));
    Ok(parent_dir(path).join(tmp))
}

/// Flushes a directory's entries (a rename or a new file in it) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A file being written under a unique temporary name beside its destination. `commit`
/// makes it appear whole at the destination; dropped uncommitted, it is removed.
#[derive(Debug)]
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    file: File,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file for `dest` (which is not touched until `commit`).
    pub fn create(dest: &Path) -> io::Result<Self> {
        let tmp = temp_sibling(dest, "new")?;
        // create_new: never reuse (and truncate) a file some other writer still holds.
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        Ok(Self {
            dest: dest.to_path_buf(),
            tmp,
            file,
            committed: false,
        })
    }

    /// The open temporary file, for writers that need `try_clone`, `seek` or `set_len`.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where the data lives until `commit`.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Fsyncs the data, renames it over the destination and fsyncs the directory.
    pub fn commit(mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.sync_all()?;
        std::fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        sync_dir(parent_dir(&self.dest))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Replaces `path` with `bytes` atomically and durably (see the module docs); on error the
/// old file, if any, is untouched and no temporary file is left behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["a.json"]);
    }

    #[test]
    fn temporary_names_are_unique_hidden_and_recognisable() {
        let path = Path::new("/x/model.toml");
        let a = temp_sibling(path, "new").unwrap();
        let b = temp_sibling(path, "new").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/x")));
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".model.toml.new-"), "{name}");
        assert!(name.ends_with(TEMP_SUFFIX), "{name}");
        assert_eq!(
            temp_sibling(Path::new("bare"), "new").unwrap().parent(),
            Some(Path::new("."))
        );
        assert!(temp_sibling(Path::new("/"), "new").is_err());
    }

    #[test]
    fn a_dropped_file_leaves_the_old_one_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pack.bin");
        write_atomic(&path, b"old").unwrap();
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"half of the new").unwrap();
        assert!(f.temp_path().exists());
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["pack.bin"]);
    }

    #[test]
    fn two_writers_of_one_destination_do_not_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut a = AtomicFile::create(&path).unwrap();
        let mut b = AtomicFile::create(&path).unwrap();
        a.write_all(b"from a").unwrap();
        b.write_all(b"from b").unwrap();
        a.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"from a");
        b.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"from b");
        assert_eq!(names(dir.path()), ["state.json"]);
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("no/such/dir/file"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
