//! The durable outbox: one file per message in `{state_dir}/outbox/`.
//!
//! Why one file per message rather than an append log: a message leaves only on its PUBACK,
//! and PUBACKs may arrive in any order, so with a log we would need a second "acked" log and
//! compaction; with files, acknowledging is one `unlink`. A torn or corrupt file spoils only
//! itself and is moved aside. A finished track is published every few minutes, so the cost of
//! one fsync'd file (temp + fsync + rename + directory fsync) per message does not matter.
//!
//! File names are `{seq:020}-{id}.json`: `seq` keeps the publishing order across restarts and
//! the id makes the directory readable by people. The body is a small JSON envelope naming the
//! topic suffix, the id and the payload. Only names (not payloads) are held in memory.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::MqttError;

/// Longest accepted track id, in bytes (ids are also file-name parts).
pub const MAX_ID_LEN: usize = 128;

/// Version written in every envelope; others are refused as corrupt.
const ENVELOPE_VERSION: u32 = 1;

/// One stored message, as the session tracks it (no payload: that stays on disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Publishing order.
    pub seq: u64,
    /// The message id (also inside the payload).
    pub id: String,
    /// The file holding the message.
    pub path: PathBuf,
    /// Whether it may have been sent before (loaded at start or sent on a lost connection).
    pub sent_before: bool,
}

/// What a message file holds.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    v: u32,
    suffix: String,
    id: String,
    payload: Value,
}

/// A message read back for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// Topic suffix under `{prefix}/{device}/`.
    pub suffix: String,
    /// The JSON payload bytes as published.
    pub payload: Vec<u8>,
}

/// Why a message could not be read back.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The file disappeared (removed by hand); the message is forgotten.
    Gone,
    /// The file cannot be used; it is to be moved aside.
    Corrupt(String),
}

/// The outbox directory, its lock and its counters.
#[derive(Debug)]
pub(crate) struct Outbox {
    dir: PathBuf,
    corrupt_dir: PathBuf,
    next_seq: AtomicU64,
    len: AtomicUsize,
    limit: usize,
    /// Held open for its advisory lock: two publishers must not share an outbox.
    _lock: File,
}

impl Outbox {
    /// Opens (creating) `{state_dir}/outbox`, takes its lock, removes stale temp files,
    /// moves badly named files aside and returns the stored messages in publishing order.
    pub fn open(state_dir: &Path, limit: usize) -> Result<(Outbox, Vec<Entry>), MqttError> {
        let dir = state_dir.join("outbox");
        fs::create_dir_all(&dir).map_err(|source| MqttError::Io {
            action: "creating outbox directory",
            path: dir.clone(),
            source,
        })?;
        let lock_path = dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| MqttError::Io {
                action: "opening outbox lock",
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(MqttError::OutboxLocked { path: lock_path })
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(MqttError::Io {
                    action: "locking outbox",
                    path: lock_path,
                    source,
                })
            }
        }
        let outbox = Outbox {
            corrupt_dir: dir.join("corrupt"),
            dir,
            next_seq: AtomicU64::new(1),
            len: AtomicUsize::new(0),
            limit,
            _lock: lock,
        };
        let entries = outbox.scan()?;
        let next = entries.last().map_or(1, |e| e.seq.saturating_add(1));
        outbox.next_seq.store(next, Ordering::Relaxed);
        outbox.len.store(entries.len(), Ordering::Relaxed);
        Ok((outbox, entries))
    }

    /// Lists the directory into entries, cleaning up what a crash may have left.
    fn scan(&self) -> Result<Vec<Entry>, MqttError> {
        let read_dir = fs::read_dir(&self.dir).map_err(|source| MqttError::Io {
            action: "listing outbox",
            path: self.dir.clone(),
            source,
        })?;
        let mut entries = Vec::new();
        for item in read_dir {
            let item = item.map_err(|source| MqttError::Io {
                action: "listing outbox",
                path: self.dir.clone(),
                source,
            })?;
            let path = item.path();
            let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                self.move_aside(&path, "file name is not UTF-8");
                continue;
            };
            if path.is_dir() || name == ".lock" {
                continue;
            }
            if name.starts_with('.') && name.ends_with(crate::fsutil::TEMP_SUFFIX) {
                // A write interrupted before its rename: publish_track never returned Ok for it.
                tracing::warn!(path = %path.display(), "removing unfinished outbox temp file");
                if let Err(e) = fs::remove_file(&path) {
                    tracing::error!(path = %path.display(), error = %e, "cannot remove outbox temp file");
                }
                continue;
            }
            match parse_name(&name) {
                Some((seq, id)) => entries.push(Entry {
                    seq,
                    id,
                    path,
                    sent_before: true,
                }),
                None => self.move_aside(&path, "file name is not `{seq}-{id}.json`"),
            }
        }
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    /// The outbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Messages stored and not yet acknowledged.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Writes one message durably (temp file, fsync, rename, directory fsync).
    pub fn store(&self, suffix: &str, id: &str, mut payload: Value) -> Result<Entry, MqttError> {
        check_id(id)?;
        let Some(object) = payload.as_object_mut() else {
            return Err(MqttError::InvalidPayload {
                id: id.to_string(),
                reason: "must be a JSON object".to_string(),
            });
        };
        match object.get("id") {
            None => {
                object.insert("id".to_string(), Value::String(id.to_string()));
            }
            Some(Value::String(existing)) if existing == id => {}
            Some(other) => {
                return Err(MqttError::InvalidPayload {
                    id: id.to_string(),
                    reason: format!("carries a different id {other}"),
                })
            }
        }
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            suffix: suffix.to_string(),
            id: id.to_string(),
            payload,
        };
        let bytes = serde_json::to_vec(&envelope).map_err(|source| MqttError::Json {
            what: "outbox envelope",
            source,
        })?;

        let len = self.len.fetch_add(1, Ordering::AcqRel);
        if len >= self.limit {
            self.decrement();
            return Err(MqttError::OutboxFull {
                path: self.dir.clone(),
                len,
                limit: self.limit,
                id: id.to_string(),
            });
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("{seq:020}-{id}.json");
        let path = self.dir.join(&name);
        // Durable before Ok: the message must survive a power cut once publish_track returns.
        if let Err(source) = crate::fsutil::write_atomic(&path, &bytes) {
            self.decrement();
            return Err(MqttError::Io {
                action: "writing outbox message",
                path,
                source,
            });
        }
        Ok(Entry {
            seq,
            id: id.to_string(),
            path,
            sent_before: false,
        })
    }

    /// Reads a message back and checks it against its file name.
    pub fn read(&self, entry: &Entry) -> Result<Stored, ReadError> {
        let bytes = match fs::read(&entry.path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(ReadError::Gone),
            Err(e) => return Err(ReadError::Corrupt(format!("cannot read: {e}"))),
        };
        let envelope: Envelope = serde_json::from_slice(&bytes)
            .map_err(|e| ReadError::Corrupt(format!("not a valid envelope: {e}")))?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(ReadError::Corrupt(format!(
                "envelope version {} (expected {ENVELOPE_VERSION})",
                envelope.v
            )));
        }
        if envelope.id != entry.id {
            return Err(ReadError::Corrupt(format!(
                "envelope id {:?} differs from the file name's {:?}",
                envelope.id, entry.id
            )));
        }
        if envelope.payload.get("id").and_then(Value::as_str) != Some(entry.id.as_str()) {
            return Err(ReadError::Corrupt(
                "payload id differs from the file name's".to_string(),
            ));
        }
        if envelope.suffix.is_empty()
            || envelope.suffix.contains(['+', '#', '\0'])
            || envelope.suffix.starts_with('/')
        {
            return Err(ReadError::Corrupt(format!(
                "bad topic suffix {:?}",
                envelope.suffix
            )));
        }
        let payload = serde_json::to_vec(&envelope.payload)
            .map_err(|e| ReadError::Corrupt(format!("payload cannot be serialised: {e}")))?;
        Ok(Stored {
            suffix: envelope.suffix,
            payload,
        })
    }

    /// Forgets an acknowledged message. No directory fsync: if the unlink is lost in a
    /// crash the message is sent again with the same id, which at-least-once allows.
    pub fn remove(&self, entry: &Entry) {
        match fs::remove_file(&entry.path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tracing::warn!(path = %entry.path.display(), "acknowledged outbox file was already gone");
            }
            Err(e) => {
                // It will be sent again after a restart; a duplicate with the same id.
                tracing::error!(path = %entry.path.display(), error = %e, "cannot remove acknowledged outbox file");
            }
        }
        self.decrement();
    }

    /// Drops a message whose file vanished.
    pub fn forget(&self, entry: &Entry) {
        tracing::warn!(path = %entry.path.display(), id = %entry.id, "outbox file vanished; message forgotten");
        self.decrement();
    }

    /// Moves an unusable message aside into `corrupt/` so it never blocks the others.
    pub fn quarantine(&self, entry: &Entry, reason: &str) {
        self.move_aside(&entry.path, reason);
        self.decrement();
    }

    fn move_aside(&self, path: &Path, reason: &str) {
        let name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let mut target = self.corrupt_dir.join(&name);
        let moved = fs::create_dir_all(&self.corrupt_dir).and_then(|()| {
            let mut n = 1;
            while target.exists() {
                let mut alt = name.clone();
                alt.push(format!(".{n}"));
                target = self.corrupt_dir.join(alt);
                n += 1;
            }
            fs::rename(path, &target)
        });
        match moved {
            Ok(()) => tracing::error!(
                path = %path.display(),
                moved_to = %target.display(),
                reason,
                "corrupt outbox file moved aside"
            ),
            Err(e) => tracing::error!(
                path = %path.display(),
                reason,
                error = %e,
                "corrupt outbox file could not be moved aside; skipped"
            ),
        }
    }

    fn decrement(&self) {
        let _ = self
            .len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
    }
}

/// Checks that an id is usable as a file-name part and a JSON string.
fn check_id(id: &str) -> Result<(), MqttError> {
    let reason = if id.is_empty() {
        Some("is empty")
    } else if id.len() > MAX_ID_LEN {
        Some("is longer than 128 bytes")
    } else if id.starts_with('.') {
        Some("must not start with `.`")
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("may hold only ASCII letters, digits, `-`, `_` and `.`")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(MqttError::InvalidId {
            id: id.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Splits `{seq:020}-{id}.json` into its parts.
fn parse_name(name: &str) -> Option<(u64, String)> {
    let stem = name.strip_suffix(".json")?;
    let (seq, id) = stem.split_once('-')?;
    if seq.len() != 20 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    check_id(id).ok()?;
    Some((seq.parse().ok()?, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn store_read_remove_round_trip_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (ob, entries) = Outbox::open(dir.path(), 100).unwrap();
        assert!(entries.is_empty());
        let a = ob.store("track", "a-1", json!({"tags": ["jazz"]})).unwrap();
        let b = ob.store("track", "b-2", json!({"id": "b-2"})).unwrap();
        assert!(a.seq < b.seq);
        assert_eq!(ob.len(), 2);
        let got = ob.read(&a).unwrap();
        assert_eq!(got.suffix, "track");
        let v: Value = serde_json::from_slice(&got.payload).unwrap();
        assert_eq!(v, json!({"id": "a-1", "tags": ["jazz"]}));
        drop(ob);

        // Reopen: the same entries, in order, flagged as possibly sent.
        let (ob, entries) = Outbox::open(dir.path(), 100).unwrap();
        assert_eq!(
            entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["a-1", "b-2"]
        );
        assert!(entries.iter().all(|e| e.sent_before));
        let c = ob.store("track", "c", json!({})).unwrap();
        assert!(
            c.seq > entries[1].seq,
            "sequence continues after the stored ones"
        );
        ob.remove(&entries[0]);
        assert_eq!(ob.len(), 2);
        assert!(!entries[0].path.exists());
    }

    #[test]
    fn refuses_bad_ids_payloads_and_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let (ob, _) = Outbox::open(dir.path(), 1).unwrap();
        assert!(matches!(
            ob.store("track", "../x", json!({})),
            Err(MqttError::InvalidId { .. })
        ));
        assert!(matches!(
            ob.store("track", "", json!({})),
            Err(MqttError::InvalidId { .. })
        ));
        assert!(matches!(
            ob.store("track", "x", json!([1])),
            Err(MqttError::InvalidPayload { .. })
        ));
        assert!(matches!(
            ob.store("track", "x", json!({"id": "y"})),
            Err(MqttError::InvalidPayload { .. })
        ));
        ob.store("track", "x", json!({})).unwrap();
        assert!(matches!(
            ob.store("track", "y", json!({})),
            Err(MqttError::OutboxFull { .. })
        ));
        assert_eq!(ob.len(), 1);
    }

    #[test]
    fn corrupt_files_are_moved_aside_and_the_rest_survive() {
        let dir = tempfile::tempdir().unwrap();
        let (ob, _) = Outbox::open(dir.path(), 100).unwrap();
        let good = ob.store("track", "good", json!({"n": 1})).unwrap();
        let bad = ob.store("track", "bad", json!({"n": 2})).unwrap();
        let later = ob.store("track", "later", json!({"n": 3})).unwrap();
        drop(ob);
        fs::write(
            &bad.path,
            b"{\"v\":1,\"suffix\":\"track\",\"id\":\"bad\",\"payl",
        )
        .unwrap();
        let outbox_dir = dir.path().join("outbox");
        fs::write(outbox_dir.join("garbage.json"), b"xx").unwrap();
        fs::write(outbox_dir.join(".00000000000000000009-z.json.tmp"), b"half").unwrap();
        // Same name pattern but the envelope names another id.
        fs::write(
            outbox_dir.join("00000000000000000010-mismatch.json"),
            serde_json::to_vec(
                &json!({"v":1,"suffix":"track","id":"other","payload":{"id":"other"}}),
            )
            .unwrap(),
        )
        .unwrap();

        let (ob, entries) = Outbox::open(dir.path(), 100).unwrap();
        let ids: Vec<_> = entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["good", "bad", "later", "mismatch"]);
        assert!(
            outbox_dir.join("corrupt/garbage.json").exists(),
            "badly named file moved aside"
        );
        assert!(
            !outbox_dir.join(".00000000000000000009-z.json.tmp").exists(),
            "temp removed"
        );

        let mut delivered = Vec::new();
        for e in &entries {
            match ob.read(e) {
                Ok(s) => delivered.push(s),
                Err(ReadError::Corrupt(reason)) => ob.quarantine(e, &reason),
                Err(ReadError::Gone) => ob.forget(e),
            }
        }
        assert_eq!(delivered.len(), 2, "good and later are still delivered");
        assert_eq!(ob.len(), 2);
        assert!(outbox_dir
            .join("corrupt")
            .join(bad.path.file_name().unwrap())
            .exists());
        assert!(good.path.exists() && later.path.exists());
    }

    #[test]
    fn a_second_publisher_cannot_open_the_same_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let (_ob, _) = Outbox::open(dir.path(), 10).unwrap();
        assert!(matches!(
            Outbox::open(dir.path(), 10),
            Err(MqttError::OutboxLocked { .. })
        ));
    }

    #[test]
    fn names_parse_strictly() {
        assert_eq!(
            parse_name("00000000000000000042-abc.json"),
            Some((42, "abc".to_string()))
        );
        assert_eq!(parse_name("42-abc.json"), None);
        assert_eq!(parse_name("00000000000000000042-a b.json"), None);
        assert_eq!(parse_name("00000000000000000042-abc.txt"), None);
    }
}
