//! The SQLite file: schema and migrations, one transaction per track, retention by age and
//! size, and a corrupt file moved aside for a fresh one.
//!
//! Embeddings live in a table of their own beside the track rows, so a search scans only
//! small rows (model id, start time, an f16 blob) and reads a track's details for the few
//! tracks it returns.

use super::{HistoryError, HistoryRecord, StoredTrack, WindowEmbeddings};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The schema version this build writes ([`MIGRATIONS`] brings older files up to it).
pub const SCHEMA_VERSION: i64 = 1;

/// Each step takes the file from version `i` to `i + 1`; a new version adds a step, never
/// edits one.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        identity TEXT NOT NULL UNIQUE,
        dim INTEGER NOT NULL
    );
    CREATE TABLE tracks (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        device TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT NOT NULL,
        stream_start_s REAL NOT NULL,
        stream_end_s REAL NOT NULL,
        duration_s REAL NOT NULL,
        windows INTEGER NOT NULL,
        boundary TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES models(id),
        vocabulary TEXT NOT NULL,
        top TEXT,
        tags TEXT NOT NULL
    );
    CREATE INDEX tracks_by_start ON tracks(started_ms);
    CREATE TABLE embeddings (
        track INTEGER PRIMARY KEY REFERENCES tracks(rowid),
        model_id INTEGER NOT NULL,
        started_ms INTEGER NOT NULL,
        embedding BLOB NOT NULL
    );
    CREATE TABLE window_embeddings (
        track INTEGER PRIMARY KEY REFERENCES tracks(rowid),
        count INTEGER NOT NULL,
        scales BLOB NOT NULL,
        data BLOB NOT NULL
    );",
];

/// The columns of `tracks` a [`StoredTrack`] is read from, in [`read_track`]'s order.
pub(crate) const TRACK_COLUMNS: &str =
    "t.rowid, t.id, t.device, t.started_at, t.ended_at, t.started_ms, \
     t.stream_start_s, t.stream_end_s, t.duration_s, t.windows, t.boundary, m.identity, \
     t.vocabulary, t.top, t.tags";

/// What retention removed in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Tracks older than the age limit.
    pub by_age: u64,
    /// Oldest tracks removed to bring the file under the size limit.
    pub by_size: u64,
}

/// How a history file was opened.
#[derive(Debug)]
pub enum Opened {
    /// It was readable (or new).
    Fine,
    /// It was corrupt or unreadable: moved to `moved_to`, and a fresh file started.
    MovedAside {
        /// Where the damaged file now lies.
        moved_to: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

/// An open history database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn sql_error(path: &Path, source: rusqlite::Error) -> HistoryError {
    HistoryError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `e` says the file itself is damaged or not a database (as opposed to busy, full
/// or unwritable, where moving it aside would lose good history).
pub fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

impl Store {
    /// Opens (creating if absent) the history at `path` for writing; a corrupt or unreadable
    /// file is moved aside and a fresh one started, which the result says.
    pub fn open_or_recover(path: &Path) -> Result<(Store, Opened), HistoryError> {
        match Store::open_checked(path) {
            Ok(store) => Ok((store, Opened::Fine)),
            Err(HistoryError::Corrupt { reason, .. }) => {
                let moved_to = move_aside(path)?;
                tracing::error!(file = %path.display(), moved_to = %moved_to.display(), reason = %reason, "history database corrupt: moved aside, starting a fresh one");
                let store = Store::open_checked(path)?;
                Ok((store, Opened::MovedAside { moved_to, reason }))
            }
            Err(e) => Err(e),
        }
    }

    /// Opens the history at `path` read-only (searches, listings, previews); never creates,
    /// migrates or moves anything.
    pub fn open_read_only(path: &Path) -> Result<Store, HistoryError> {
        if !path.exists() {
            return Err(HistoryError::Missing(path.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_error(path, e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| sql_error(path, e))?;
        // A search reads every embedding row: mapped pages spare a read(2) per page.
        conn.execute_batch("PRAGMA mmap_size = 268435456")
            .map_err(|e| sql_error(path, e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| corrupt_or(path, e))?;
        if version != SCHEMA_VERSION {
            return Err(HistoryError::Schema {
                path: path.to_path_buf(),
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn open_checked(path: &Path) -> Result<Store, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| corrupt_or(path, e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| sql_error(path, e))?;
        // auto_vacuum only takes effect on a file without tables: set it before migrating,
        // so deleted tracks give their pages back (incremental_vacuum) and the file shrinks.
        conn.execute_batch(
            "PRAGMA auto_vacuum = INCREMENTAL;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;",
        )
        .map_err(|e| corrupt_or(path, e))?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| corrupt_or(path, e))?;
        if check != "ok" {
            return Err(HistoryError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("quick_check: {check}"),
            });
        }
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), HistoryError> {
        let path = self.path.clone();
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| corrupt_or(&path, e))?;
        if version > SCHEMA_VERSION {
            return Err(HistoryError::Schema {
                path,
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        for (from, step) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let tx = self.conn.transaction().map_err(|e| sql_error(&path, e))?;
            tx.execute_batch(step).map_err(|e| corrupt_or(&path, e))?;
            tx.pragma_update(None, "user_version", from as i64 + 1)
                .map_err(|e| sql_error(&path, e))?;
            tx.commit().map_err(|e| sql_error(&path, e))?;
            tracing::info!(file = %path.display(), version = from + 1, "history schema migrated");
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the search and preview readers beside this module.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Stores one finished track (and its window embeddings, if given) in one transaction.
    pub fn insert(&mut self, record: &HistoryRecord) -> Result<(), HistoryError> {
        let path = self.path.clone();
        let err = |e| corrupt_or(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        insert_in(&tx, record).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Deletes tracks started before `now - max_age`, then the oldest tracks until the
    /// data fits in `max_bytes`, and gives the freed pages back to the file system.
    pub fn prune(
        &mut self,
        now: SystemTime,
        max_age: Duration,
        max_bytes: u64,
    ) -> Result<Pruned, HistoryError> {
        let path = self.path.clone();
        let err = |e| corrupt_or(&path, e);
        let cutoff = unix_ms(now).saturating_sub(max_age.as_millis() as i64);
        let by_age = self.delete_where("started_ms < ?1", cutoff).map_err(err)?;
        let mut by_size = 0;
        loop {
            let used = self.used_bytes().map_err(err)?;
            let rows = self.track_count().map_err(err)?;
            if used <= max_bytes || rows == 0 {
                break;
            }
            // Delete the oldest share that should bring the data under the limit, at least
            // one track per pass, so a huge overshoot takes a few passes, not thousands.
            let excess = (used - max_bytes) as f64 / used as f64;
            let n = ((rows as f64 * excess).ceil() as i64).max(1);
            let oldest: Option<i64> = self
                .conn
                .query_row(
                    "SELECT started_ms FROM tracks ORDER BY started_ms LIMIT 1 OFFSET ?1",
                    [n - 1],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            let Some(oldest) = oldest else { break };
            by_size += self.delete_where("started_ms <= ?1", oldest).map_err(err)?;
        }
        if by_age + by_size > 0 {
            self.conn
                .execute_batch("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(err)?;
        }
        Ok(Pruned { by_age, by_size })
    }

    fn delete_where(&mut self, condition: &str, value: i64) -> rusqlite::Result<u64> {
        let tx = self.conn.transaction()?;
        let selected = format!("SELECT rowid FROM tracks WHERE {condition}");
        tx.execute(
            &format!("DELETE FROM embeddings WHERE track IN ({selected})"),
            [value],
        )?;
        tx.execute(
            &format!("DELETE FROM window_embeddings WHERE track IN ({selected})"),
            [value],
        )?;
        let n = tx.execute(&format!("DELETE FROM tracks WHERE {condition}"), [value])?;
        tx.commit()?;
        Ok(n as u64)
    }

    /// Bytes of the file holding data (pages in use; free pages excluded).
    pub fn used_bytes(&self) -> rusqlite::Result<u64> {
        let pages: i64 = self.conn.query_row(
            "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count())",
            [],
            |r| r.get(0),
        )?;
        let page_size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok((pages.max(0) * page_size) as u64)
    }

    /// Tracks stored.
    pub fn track_count(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM tracks", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
    }

    /// Tracks started at or after `since_ms` (unix milliseconds), newest first, at most
    /// `limit` (0 = all), streamed to `each` row by row.
    pub fn list(
        &self,
        since_ms: i64,
        limit: usize,
        mut each: impl FnMut(StoredTrack) -> Result<(), HistoryError>,
    ) -> Result<(), HistoryError> {
        let sql = format!(
            "SELECT {TRACK_COLUMNS} FROM tracks t JOIN models m ON m.id = t.model_id
             WHERE t.started_ms >= ?1 ORDER BY t.started_ms DESC, t.rowid DESC LIMIT ?2"
        );
        let limit = if limit == 0 { -1 } else { limit as i64 };
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| sql_error(&self.path, e))?;
        let mut rows = stmt
            .query(params![since_ms, limit])
            .map_err(|e| sql_error(&self.path, e))?;
        while let Some(row) = rows.next().map_err(|e| sql_error(&self.path, e))? {
            each(read_track(row).map_err(|e| sql_error(&self.path, e))?)?;
        }
        Ok(())
    }

    /// One track by its row number.
    pub fn track(&self, rowid: i64) -> Result<Option<StoredTrack>, HistoryError> {
        let sql = format!(
            "SELECT {TRACK_COLUMNS} FROM tracks t JOIN models m ON m.id = t.model_id WHERE t.rowid = ?1"
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([rowid], read_track).optional())
            .map_err(|e| sql_error(&self.path, e))
    }

    /// The stored window embeddings of a track, dequantised, if they were kept.
    pub fn window_embeddings(&self, rowid: i64) -> Result<Option<Vec<Vec<f32>>>, HistoryError> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT count, scales, data FROM window_embeddings WHERE track = ?1",
                [rowid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(row.and_then(|(count, scales, data)| {
            let scales = f32s_from_blob(&scales);
            let count = usize::try_from(count).ok()?;
            if count == 0 || scales.len() != count || data.len() % count != 0 {
                return None;
            }
            let dim = data.len() / count;
            Some(
                data.chunks(dim)
                    .zip(scales)
                    .map(|(row, s)| row.iter().map(|&q| f32::from(q as i8) * s).collect())
                    .collect(),
            )
        }))
    }

    /// Lays many rows down in one transaction: for imports, benchmarks and tests.
    pub fn insert_many(&mut self, records: &[HistoryRecord]) -> Result<(), HistoryError> {
        let path = self.path.clone();
        let err = |e| corrupt_or(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        for r in records {
            insert_in(&tx, r).map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

fn insert_in(tx: &rusqlite::Transaction<'_>, record: &HistoryRecord) -> rusqlite::Result<()> {
    let model_id = model_id(tx, &record.model, record.embedding.len())?;
    let m = &record.message;
    let tags = serde_json::to_string(&m.tagged.tags).unwrap_or_else(|_| "[]".into());
    let boundary = serde_json::to_value(m.boundary)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    tx.execute(
        "INSERT INTO tracks (id, device, started_ms, started_at, ended_at,
            stream_start_s, stream_end_s, duration_s, windows, boundary, model_id,
            vocabulary, top, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            m.id,
            m.device,
            record.started_ms,
            m.started_at,
            m.ended_at,
            m.stream_start_s,
            m.stream_end_s,
            m.duration_s,
            m.windows as i64,
            boundary,
            model_id,
            m.tagged.vocabulary,
            m.tagged.top,
            tags
        ],
    )?;
    let rowid = tx.last_insert_rowid();
    tx.execute(
        "INSERT OR REPLACE INTO embeddings (track, model_id, started_ms, embedding) VALUES (?1, ?2, ?3, ?4)",
        params![rowid, model_id, record.started_ms, f16_blob(&record.embedding)],
    )?;
    if let Some(w) = &record.windows {
        tx.execute(
            "INSERT OR REPLACE INTO window_embeddings (track, count, scales, data) VALUES (?1, ?2, ?3, ?4)",
            params![rowid, w.count as i64, f32_blob(&w.scales), i8_blob(&w.data)],
        )?;
    }
    Ok(())
}

fn model_id(tx: &rusqlite::Transaction<'_>, identity: &str, dim: usize) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT OR IGNORE INTO models (identity, dim) VALUES (?1, ?2)",
        params![identity, dim as i64],
    )?;
    tx.query_row(
        "SELECT id FROM models WHERE identity = ?1",
        [identity],
        |r| r.get(0),
    )
}

/// Reads the [`TRACK_COLUMNS`] of a row.
pub(crate) fn read_track(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredTrack> {
    let tags: String = row.get(14)?;
    Ok(StoredTrack {
        rowid: row.get(0)?,
        id: row.get(1)?,
        device: row.get(2)?,
        started_at: row.get(3)?,
        ended_at: row.get(4)?,
        started_ms: row.get(5)?,
        stream_start_s: row.get(6)?,
        stream_end_s: row.get(7)?,
        duration_s: row.get(8)?,
        windows: row.get::<_, i64>(9)?.max(0) as usize,
        boundary: row.get(10)?,
        model: row.get(11)?,
        vocabulary: row.get(12)?,
        top: row.get(13)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
    })
}

/// A damaged file is [`HistoryError::Corrupt`]; anything else keeps its SQLite error.
fn corrupt_or(path: &Path, e: rusqlite::Error) -> HistoryError {
    if is_corruption(&e) {
        HistoryError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    } else {
        sql_error(path, e)
    }
}

/// Moves `path` (and its -wal and -shm files) to `path.corrupt-<unix seconds>` beside it.
fn move_aside(path: &Path) -> Result<PathBuf, HistoryError> {
    let stamp = unix_ms(SystemTime::now()) / 1000;
    let mut target = path.as_os_str().to_owned();
    target.push(format!(".corrupt-{stamp}"));
    let target = PathBuf::from(target);
    for suffix in ["", "-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let mut to = target.as_os_str().to_owned();
        to.push(suffix);
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(HistoryError::Io {
                    path: PathBuf::from(from),
                    source,
                })
            }
        }
    }
    crate::fsutil::sync_dir(crate::fsutil::parent_dir(path)).map_err(|source| {
        HistoryError::Io {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(target)
}

/// Milliseconds since the Unix epoch (negative before it).
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// An embedding as little-endian f16: half the bytes of f32, far below the model's noise.
pub fn f16_blob(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
        .collect()
}

/// Reads an [`f16_blob`] into `out` (resized to fit).
pub fn f16_from_blob(blob: &[u8], out: &mut Vec<f32>) {
    F16Decoder::default().decode(blob, out);
}

/// Decodes [`f16_blob`]s with the CPU's half-float instructions where it has them (F16C,
/// NEON), reusing its buffer: a search decodes every stored embedding.
#[derive(Debug, Default)]
pub struct F16Decoder {
    halves: Vec<half::f16>,
}

impl F16Decoder {
    /// Reads `blob` into `out` (resized to fit).
    pub fn decode(&mut self, blob: &[u8], out: &mut Vec<f32>) {
        use half::slice::HalfFloatSliceExt;
        self.halves.clear();
        self.halves.extend(
            blob.chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]])),
        );
        out.resize(self.halves.len(), 0.0);
        self.halves.convert_to_f32_slice(out);
    }
}

fn f32_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32s_from_blob(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn i8_blob(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&q| q as u8).collect()
}

impl WindowEmbeddings {
    /// Quantises window embeddings to int8 with one scale per window (max |x| / 127).
    pub fn quantize(windows: &[Vec<f32>]) -> Option<WindowEmbeddings> {
        let dim = windows.first()?.len();
        if dim == 0 || windows.iter().any(|w| w.len() != dim) {
            return None;
        }
        let mut scales = Vec::with_capacity(windows.len());
        let mut data = Vec::with_capacity(windows.len() * dim);
        for w in windows {
            let max = w.iter().fold(0f32, |m, x| m.max(x.abs()));
            let scale = if max > 0.0 && max.is_finite() {
                max / 127.0
            } else {
                1.0
            };
            scales.push(scale);
            data.extend(
                w.iter()
                    .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8),
            );
        }
        Some(WindowEmbeddings {
            count: windows.len(),
            scales,
            data,
        })
    }
}
