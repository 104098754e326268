//! The GloVe store: `hark glove pack` turns a GloVe text file into one memory-mapped file,
//! and [`GloveStore`] looks words up in it without reading more than the rows it needs.
//!
//! # Input
//!
//! GloVe's own text format: one word a line followed by its values, separated by spaces
//! (`the 0.418 0.24968 -0.41242 …`). Any dimension works; it is taken from the first row and
//! every later row must match. A word2vec-style first line (`400000 50`) is accepted and
//! skipped. Rows whose word contains spaces (a few exist in the Common Crawl releases) are
//! skipped and counted, since lookups split phrases on whitespace and could never reach them.
//! Words are case-folded (Unicode lower case); when two rows fold to the same key, the first
//! row wins, which in GloVe's frequency-ordered files is the more frequent spelling.
//!
//! # Pack file, version 1 (integers little-endian)
//!
//! ```text
//! offset  size  field
//!      0     8  magic  b"HARKGLV\0"
//!      8     4  version = 1
//!     12     2  row format: 1 = int8 with a per-row f32 scale, 2 = IEEE f16
//!     14     2  reserved, 0
//!     16     4  dim: values per row
//!     20     4  count: rows = words
//!     24     8  rows_offset (= 128)
//!     32     8  scales_offset (int8: count f32 scales; f16: 0)
//!     40     8  fst_offset
//!     48     8  fst_len
//!     56     8  file_len: total bytes, so a truncated copy is caught at open
//!     64     1  identity length n (≤ 63)
//!     65    63  identity, UTF-8, zero padded (e.g. `glove-6b-50d`)
//!    128     …  rows, in the source file's order (row number = frequency rank)
//!            …  scales (int8 only), 8-byte aligned
//!            …  word index: an `fst::Map` from case-folded word to row number, 8-byte aligned
//! ```
//!
//! An int8 row stores `round(v / s)` with `s = max|v| / 127`, so each value is off by at
//! most `s / 2`; on GloVe that keeps the cosine to the f32 row above 0.999. Rows sit first so
//! packing can stream them to disk; the index, which must be sorted, is built last.
//!
//! Opening maps the file, checks the header against the file's length and the index's
//! checksum, and touches no row: a lookup pages in one row (the map is advised as random
//! access, so the kernel does not read ahead).

use fst::automaton::Levenshtein;
use fst::{IntoStreamer, Map, MapBuilder, Streamer};
use memmap2::Mmap;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// First eight bytes of every pack file.
pub const MAGIC: [u8; 8] = *b"HARKGLV\0";
/// The pack format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Size of the fixed header; rows start here.
pub const HEADER_LEN: usize = 128;
/// Longest identity the header can hold, in bytes.
pub const MAX_IDENTITY_LEN: usize = 63;
/// Longest text line `pack_text` accepts; a longer one is almost surely not a GloVe file.
pub const MAX_TEXT_LINE: usize = 1 << 20;
/// Largest dimension accepted, far above any GloVe release, to reject garbage headers.
pub const MAX_DIM: usize = 1 << 16;
/// Largest magnitude a vector value may have: f16's largest finite number, so an f16 pack
/// stores every value finitely and no cosine overflows.
pub const MAX_VALUE: f32 = 65_504.0;

const FORMAT_INT8: u16 = 1;
const FORMAT_F16: u16 = 2;
const IDENTITY_AT: usize = 64;

/// How rows are stored in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowFormat {
    /// One signed byte a value plus an f32 scale a row: a quarter of f32's size.
    #[default]
    Int8,
    /// IEEE half precision: half of f32's size, error around 1e-3 relative.
    F16,
}

impl RowFormat {
    fn code(self) -> u16 {
        match self {
            RowFormat::Int8 => FORMAT_INT8,
            RowFormat::F16 => FORMAT_F16,
        }
    }

    fn from_code(code: u16) -> Option<Self> {
        match code {
            FORMAT_INT8 => Some(RowFormat::Int8),
            FORMAT_F16 => Some(RowFormat::F16),
            _ => None,
        }
    }

    /// Bytes one row of `dim` values takes in the rows section.
    pub fn row_bytes(self, dim: usize) -> usize {
        match self {
            RowFormat::Int8 => dim,
            RowFormat::F16 => dim * 2,
        }
    }

    /// Short name used in logs and reports (`int8`, `f16`).
    pub fn name(self) -> &'static str {
        match self {
            RowFormat::Int8 => "int8",
            RowFormat::F16 => "f16",
        }
    }
}

/// Everything that can go wrong packing or opening a GloVe store; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum GloveError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A row has a different number of values than the first row.
    #[error("{}:{line}: expected {expected} values, found {found}", path.display())]
    Ragged {
        /// The text file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Values in the first row.
        expected: usize,
        /// Values in this row.
        found: usize,
    },
    /// A value does not parse as a finite number.
    #[error("{}:{line}:{column}: value {index}: \"{text}\" is not a number", path.display())]
    BadNumber {
        /// The text file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based byte column where the value starts.
        column: usize,
        /// 1-based index of the value within the row (the word is not counted).
        index: usize,
        /// The offending text (cut to 40 characters).
        text: String,
    },
    /// A value is a finite number but too large to be a word vector's.
    #[error(
        "{}:{line}:{column}: value {index}: {value} is outside [-{MAX_VALUE}, {MAX_VALUE}] \
         (GloVe values are small; an f16 pack could not hold it)",
        path.display()
    )]
    ValueOutOfRange {
        /// The text file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based byte column where the value starts.
        column: usize,
        /// 1-based index of the value within the row (the word is not counted).
        index: usize,
        /// The value read.
        value: f32,
    },
    /// The first row has a word but no values.
    #[error("{}:{line}: a word with no values; GloVe rows are `word v1 v2 …`", path.display())]
    NoValues {
        /// The text file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A word is not valid UTF-8.
    #[error("{}:{line}: the word is not valid UTF-8", path.display())]
    NotUtf8 {
        /// The text file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A line is longer than [`MAX_TEXT_LINE`].
    #[error("{}:{line}: line longer than {max} bytes; is this a GloVe text file?", path.display())]
    LineTooLong {
        /// The text file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// The text file has no rows at all.
    #[error("{}: no vectors found (the file is empty)", path.display())]
    Empty {
        /// The text file.
        path: PathBuf,
    },
    /// The input is something other than GloVe text (an archive, a pack).
    #[error("{}: {what}", path.display())]
    WrongInput {
        /// The input file.
        path: PathBuf,
        /// What it looks like and what to do.
        what: String,
    },
    /// The file given to open is not a pack.
    #[error("{}: not a hark GloVe pack (no HARKGLV magic){hint}", path.display())]
    NotAPack {
        /// The file.
        path: PathBuf,
        /// Extra advice, e.g. that it looks like GloVe text.
        hint: String,
    },
    /// The pack was written by a different format version.
    #[error("{}: pack format version {found}; this hark reads version {VERSION} (re-pack it)", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// Version found in the header.
        found: u32,
    },
    /// The header or the index contradicts itself or the file's size.
    #[error("{}: corrupt pack: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What does not add up.
        reason: String,
    },
    /// The requested identity cannot go in the header.
    #[error("identity {identity:?}: {reason}")]
    BadIdentity {
        /// The identity given.
        identity: String,
        /// Why it is refused.
        reason: String,
    },
}

impl GloveError {
    fn io(path: &Path, source: io::Error) -> Self {
        GloveError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        GloveError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Why a phrase has no vector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhraseError {
    /// The phrase has no words.
    #[error("empty phrase")]
    Empty,
    /// Some words are not in the store (listed case-folded, in phrase order).
    #[error("not in the GloVe store: {}", .0.join(", "))]
    Unknown(Vec<String>),
}

/// Case-folds a word the way the store's keys are folded.
pub fn fold(word: &str) -> String {
    word.to_lowercase()
}

/// Options for [`pack_text`].
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// How rows are stored.
    pub format: RowFormat,
    /// Name written in the header; `None` derives it from the input file name.
    pub identity: Option<String>,
}

/// What [`pack_text`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct PackStats {
    /// Identity written in the header.
    pub identity: String,
    /// Values per row.
    pub dim: usize,
    /// Rows (= distinct case-folded words) written.
    pub words: usize,
    /// Rows dropped because their word folded onto an earlier one.
    pub folded_duplicates: usize,
    /// Rows dropped because their word contains spaces.
    pub multiword_skipped: usize,
    /// Text lines read, blank ones included.
    pub lines: usize,
    /// Size of the pack written, in bytes.
    pub bytes: u64,
    /// Row format written.
    pub format: RowFormat,
}

/// Derives a header identity from a GloVe file name: `glove.6B.50d.txt` → `glove-6b-50d`.
pub fn identity_from_path(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_lowercase();
    let stem = [".txt", ".vec", ".text"]
        .iter()
        .find_map(|ext| lower.strip_suffix(ext))
        .unwrap_or(&lower);
    let mut out = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    let mut out: String = out.chars().take(MAX_IDENTITY_LEN).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "glove".to_string()
    } else {
        out
    }
}

fn check_identity(identity: &str) -> Result<(), GloveError> {
    let bad = |reason: &str| GloveError::BadIdentity {
        identity: identity.to_string(),
        reason: reason.to_string(),
    };
    if identity.is_empty() {
        return Err(bad("must not be empty"));
    }
    if identity.len() > MAX_IDENTITY_LEN {
        return Err(bad(&format!("longer than {MAX_IDENTITY_LEN} bytes")));
    }
    if !identity
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
    {
        return Err(bad("use only ASCII letters, digits and - _ . +"));
    }
    Ok(())
}

/// Packs a GloVe text file with no progress reporting; see [`pack_text_with_progress`].
pub fn pack_text(
    input: &Path,
    output: &Path,
    options: &PackOptions,
) -> Result<PackStats, GloveError> {
    pack_text_with_progress(input, output, options, &mut |_| {})
}

/// Packs a GloVe text file into `output`, calling `progress` with the bytes read so far.
///
/// The pack is written to a temporary file beside `output` and renamed over it at the end,
/// so a daemon that has the old pack mapped keeps a consistent file and a failed pack leaves
/// nothing behind.
pub fn pack_text_with_progress(
    input: &Path,
    output: &Path,
    options: &PackOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<PackStats, GloveError> {
    let started = Instant::now();
    let identity = match &options.identity {
        Some(id) => id.clone(),
        None => identity_from_path(input),
    };
    check_identity(&identity)?;

    let mut text = TextRows::open(input)?;

    // Errors name the output the user asked for, not the temporary file.
    let werr = |e: io::Error| GloveError::io(output, e);
    let tmp = crate::fsutil::AtomicFile::create(output).map_err(werr)?;
    let mut writer = CountingWriter {
        inner: BufWriter::with_capacity(1 << 20, tmp.file().try_clone().map_err(werr)?),
        count: 0,
    };
    writer.write_all(&[0u8; HEADER_LEN]).map_err(werr)?;

    let format = options.format;
    // Folded word -> row; a hash map first because rows arrive in frequency order and the
    // index needs them sorted, which only happens once every word is known.
    let mut keys: HashMap<String, u32> = HashMap::new();
    let mut scales: Vec<f32> = Vec::new();
    let mut values: Vec<f32> = Vec::new();
    let mut row_buf: Vec<u8> = Vec::new();
    let mut folded_duplicates = 0usize;
    let mut multiword_skipped = 0usize;
    let mut rows: u32 = 0;

    while let Some(row) = text.next_row(&mut values)? {
        if text.line_no.is_multiple_of(16384) {
            progress(text.bytes_read);
        }
        let word = match row {
            TextRow::Word(word) => word,
            TextRow::MultiWord => {
                multiword_skipped += 1;
                continue;
            }
        };
        let key = fold(&word);
        if keys.contains_key(&key) {
            folded_duplicates += 1;
            continue;
        }
        if rows == u32::MAX {
            return Err(GloveError::WrongInput {
                path: input.to_path_buf(),
                what: "more than 4,294,967,295 words".to_string(),
            });
        }
        keys.insert(key, rows);
        rows += 1;

        row_buf.clear();
        match format {
            RowFormat::Int8 => {
                let (scale, q) = quantize_int8(&values);
                scales.push(scale);
                row_buf.extend(q.iter().map(|&b| b as u8));
            }
            RowFormat::F16 => {
                for &v in &values {
                    row_buf.extend_from_slice(&half::f16::from_f32(v).to_bits().to_le_bytes());
                }
            }
        }
        writer.write_all(&row_buf).map_err(werr)?;
    }
    progress(text.bytes_read);
    let line_no = text.line_no;

    let dim = match text.dim {
        Some(d) if rows > 0 => d,
        _ => {
            return Err(GloveError::Empty {
                path: input.to_path_buf(),
            })
        }
    };

    let scales_offset = match format {
        RowFormat::Int8 => {
            writer.pad_to(8).map_err(werr)?;
            let at = writer.count;
            for s in &scales {
                writer.write_all(&s.to_le_bytes()).map_err(werr)?;
            }
            at
        }
        RowFormat::F16 => 0,
    };
    drop(scales);
    writer.pad_to(8).map_err(werr)?;
    let fst_offset = writer.count;

    let mut sorted: Vec<(String, u32)> = keys.into_iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let fst_err = |e: fst::Error| match e {
        fst::Error::Io(e) => GloveError::io(output, e),
        fst::Error::Fst(e) => GloveError::corrupt(output, format!("building word index: {e}")),
    };
    let mut builder = MapBuilder::new(&mut writer).map_err(fst_err)?;
    for (key, row) in &sorted {
        builder.insert(key, u64::from(*row)).map_err(fst_err)?;
    }
    builder.finish().map_err(fst_err)?;
    drop(sorted);
    let file_len = writer.count;
    let fst_len = file_len - fst_offset;

    let header = Header {
        format,
        dim: dim as u32,
        count: rows,
        rows_offset: HEADER_LEN as u64,
        scales_offset,
        fst_offset,
        fst_len,
        file_len,
        identity: identity.clone(),
    };
    let mut inner = writer.inner;
    inner.flush().map_err(werr)?;
    let mut file = inner.into_inner().map_err(|e| werr(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(werr)?;
    file.write_all(&header.encode()).map_err(werr)?;
    drop(file);
    tmp.commit().map_err(werr)?;

    let stats = PackStats {
        identity,
        dim,
        words: rows as usize,
        folded_duplicates,
        multiword_skipped,
        lines: line_no,
        bytes: file_len,
        format,
    };
    tracing::info!(
        input = %input.display(),
        output = %output.display(),
        identity = %stats.identity,
        dim,
        words = stats.words,
        folded_duplicates,
        multiword_skipped,
        bytes = file_len,
        format = format.name(),
        secs = started.elapsed().as_secs_f64(),
        "packed GloVe"
    );
    Ok(stats)
}

/// One parsed line of GloVe text; the values go into the caller's buffer.
enum TextRow {
    /// A word whose values were parsed.
    Word(String),
    /// A row whose word contains spaces: valid, but unreachable by lookups.
    MultiWord,
}

/// Streams the rows of a GloVe text file, checking each against the first row's size.
struct TextRows {
    path: PathBuf,
    reader: BufReader<File>,
    line: Vec<u8>,
    line_no: usize,
    bytes_read: u64,
    dim: Option<usize>,
    seen_content: bool,
}

impl TextRows {
    fn open(path: &Path) -> Result<Self, GloveError> {
        let file = File::open(path).map_err(|e| GloveError::io(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        sniff_input(path, &mut reader)?;
        Ok(TextRows {
            path: path.to_path_buf(),
            reader,
            line: Vec::with_capacity(4096),
            line_no: 0,
            bytes_read: 0,
            dim: None,
            seen_content: false,
        })
    }

    /// Reads up to the next row, filling `values`; `None` at the end of the file.
    fn next_row(&mut self, values: &mut Vec<f32>) -> Result<Option<TextRow>, GloveError> {
        loop {
            self.line.clear();
            let n = (&mut self.reader)
                .take(MAX_TEXT_LINE as u64 + 1)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| GloveError::io(&self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            self.bytes_read += n as u64;
            if self.line.last() != Some(&b'\n') && n > MAX_TEXT_LINE {
                return Err(GloveError::LineTooLong {
                    path: self.path.clone(),
                    line: self.line_no,
                    max: MAX_TEXT_LINE,
                });
            }
            let line = std::mem::take(&mut self.line);
            let row = self.parse_line(&line, values);
            self.line = line;
            if let Some(row) = row? {
                return Ok(Some(row));
            }
        }
    }

    /// Parses one line; `Ok(None)` for lines that hold no row (blank, word2vec header).
    fn parse_line(
        &mut self,
        line: &[u8],
        values: &mut Vec<f32>,
    ) -> Result<Option<TextRow>, GloveError> {
        let fields = split_fields(line);
        if fields.is_empty() {
            return Ok(None);
        }
        let first_content = !self.seen_content;
        self.seen_content = true;
        if first_content {
            if let Some(d) = word2vec_header(&fields) {
                tracing::info!(
                    line = self.line_no,
                    dim = d,
                    "skipping word2vec-style header"
                );
                self.dim = Some(d);
                return Ok(None);
            }
        }
        let found = fields.len() - 1;
        let dim = match self.dim {
            Some(d) => d,
            None if found == 0 => {
                return Err(GloveError::NoValues {
                    path: self.path.clone(),
                    line: self.line_no,
                })
            }
            None if found > MAX_DIM => {
                return Err(GloveError::WrongInput {
                    path: self.path.clone(),
                    what: format!(
                        "line {} has {found} values, more than {MAX_DIM}",
                        self.line_no
                    ),
                })
            }
            None => *self.dim.insert(found),
        };
        let ragged = || GloveError::Ragged {
            path: self.path.clone(),
            line: self.line_no,
            expected: dim,
            found,
        };
        // A word with spaces puts extra fields before the values; an extra field that is
        // a number means the row really has too many values.
        let word_fields = if found > dim {
            let extra = found - dim;
            if fields[1..=extra].iter().any(|f| parse_value(f.1).is_some()) {
                return Err(ragged());
            }
            extra + 1
        } else if found < dim {
            return Err(ragged());
        } else {
            1
        };
        values.clear();
        for (i, (col, text)) in fields[word_fields..].iter().enumerate() {
            match parse_value(text) {
                Some(v) if v.abs() <= MAX_VALUE => values.push(v),
                Some(value) => {
                    return Err(GloveError::ValueOutOfRange {
                        path: self.path.clone(),
                        line: self.line_no,
                        column: col + 1,
                        index: i + 1,
                        value,
                    })
                }
                None => {
                    return Err(GloveError::BadNumber {
                        path: self.path.clone(),
                        line: self.line_no,
                        column: col + 1,
                        index: i + 1,
                        text: String::from_utf8_lossy(text).chars().take(40).collect(),
                    })
                }
            }
        }
        let word = std::str::from_utf8(fields[0].1).map_err(|_| GloveError::NotUtf8 {
            path: self.path.clone(),
            line: self.line_no,
        })?;
        Ok(Some(if word_fields > 1 {
            TextRow::MultiWord
        } else {
            TextRow::Word(word.to_string())
        }))
    }
}

/// Refuses inputs that are clearly not GloVe text, with advice on what to do instead.
fn sniff_input(path: &Path, reader: &mut BufReader<File>) -> Result<(), GloveError> {
    let head = reader.fill_buf().map_err(|e| GloveError::io(path, e))?;
    let what = if head.starts_with(&[0x1f, 0x8b]) {
        Some("is gzip-compressed; decompress it first (gunzip)")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("is a zip archive (glove.6B.zip holds several files); unzip it and pack one .txt")
    } else if head.starts_with(&MAGIC) {
        Some("is already a hark GloVe pack")
    } else if head.starts_with(b"\x93NUMPY") {
        Some("is a NumPy array; convert it to GloVe text (`word v1 v2 …` a line) first")
    } else {
        None
    };
    match what {
        Some(w) => Err(GloveError::WrongInput {
            path: path.to_path_buf(),
            what: w.to_string(),
        }),
        None => Ok(()),
    }
}

/// Splits a line on ASCII spaces and tabs into `(byte column, field)` pairs, dropping the
/// line ending. Only ASCII separators count: GloVe words may contain other whitespace.
fn split_fields(line: &[u8]) -> Vec<(usize, &[u8])> {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let line = &line[..end];
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &b) in line.iter().enumerate() {
        let sep = b == b' ' || b == b'\t';
        match (sep, start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

fn parse_value(text: &[u8]) -> Option<f32> {
    let s = std::str::from_utf8(text).ok()?;
    let v: f32 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Recognises a word2vec-style `count dim` first line and returns its dim.
fn word2vec_header(fields: &[(usize, &[u8])]) -> Option<usize> {
    if fields.len() != 2 {
        return None;
    }
    let count: u64 = std::str::from_utf8(fields[0].1).ok()?.parse().ok()?;
    let dim: usize = std::str::from_utf8(fields[1].1).ok()?.parse().ok()?;
    (count > 0 && dim > 1 && dim <= MAX_DIM).then_some(dim)
}

/// Symmetric int8 quantisation with a per-row scale `max|v| / 127`.
fn quantize_int8(values: &[f32]) -> (f32, Vec<i8>) {
    let absmax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    if absmax == 0.0 {
        return (0.0, vec![0; values.len()]);
    }
    let scale = absmax / 127.0;
    let q = values
        .iter()
        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (scale, q)
}

struct CountingWriter<W: Write> {
    inner: W,
    count: u64,
}

impl<W: Write> CountingWriter<W> {
    fn pad_to(&mut self, align: u64) -> io::Result<()> {
        let rem = self.count % align;
        if rem != 0 {
            let pad = vec![0u8; (align - rem) as usize];
            self.write_all(&pad)?;
        }
        Ok(())
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Header {
    format: RowFormat,
    dim: u32,
    count: u32,
    rows_offset: u64,
    scales_offset: u64,
    fst_offset: u64,
    fst_len: u64,
    file_len: u64,
    identity: String,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..14].copy_from_slice(&self.format.code().to_le_bytes());
        h[16..20].copy_from_slice(&self.dim.to_le_bytes());
        h[20..24].copy_from_slice(&self.count.to_le_bytes());
        h[24..32].copy_from_slice(&self.rows_offset.to_le_bytes());
        h[32..40].copy_from_slice(&self.scales_offset.to_le_bytes());
        h[40..48].copy_from_slice(&self.fst_offset.to_le_bytes());
        h[48..56].copy_from_slice(&self.fst_len.to_le_bytes());
        h[56..64].copy_from_slice(&self.file_len.to_le_bytes());
        let id = self.identity.as_bytes();
        let n = id.len().min(MAX_IDENTITY_LEN);
        h[IDENTITY_AT] = n as u8;
        h[IDENTITY_AT + 1..IDENTITY_AT + 1 + n].copy_from_slice(&id[..n]);
        h
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<Self, GloveError> {
        if bytes.len() < 8 || bytes[0..8] != MAGIC {
            let hint = if looks_like_glove_text(bytes) {
                "; it looks like GloVe text: pack it with `hark glove pack`".to_string()
            } else {
                String::new()
            };
            return Err(GloveError::NotAPack {
                path: path.to_path_buf(),
                hint,
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(GloveError::corrupt(
                path,
                format!(
                    "file is {} bytes, shorter than the {HEADER_LEN}-byte header",
                    bytes.len()
                ),
            ));
        }
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at = |o: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[o..o + 4]);
            u32::from_le_bytes(b)
        };
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let version = u32_at(8);
        if version != VERSION {
            return Err(GloveError::Version {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let code = u16_at(12);
        let format = RowFormat::from_code(code)
            .ok_or_else(|| GloveError::corrupt(path, format!("unknown row format code {code}")))?;
        let id_len = bytes[IDENTITY_AT] as usize;
        if id_len > MAX_IDENTITY_LEN {
            return Err(GloveError::corrupt(
                path,
                format!("identity length {id_len} exceeds {MAX_IDENTITY_LEN}"),
            ));
        }
        let identity = std::str::from_utf8(&bytes[IDENTITY_AT + 1..IDENTITY_AT + 1 + id_len])
            .map_err(|_| GloveError::corrupt(path, "identity is not UTF-8"))?
            .to_string();
        Ok(Header {
            format,
            dim: u32_at(16),
            count: u32_at(20),
            rows_offset: u64_at(24),
            scales_offset: u64_at(32),
            fst_offset: u64_at(40),
            fst_len: u64_at(48),
            file_len: u64_at(56),
            identity,
        })
    }
}

fn looks_like_glove_text(bytes: &[u8]) -> bool {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let fields = split_fields(first);
    fields.len() > 2 && fields[1..].iter().all(|f| parse_value(f.1).is_some())
}

/// A byte range of the shared mapping, so the fst index can borrow the same mmap.
#[derive(Clone)]
struct MmapRange {
    mmap: Arc<Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for MmapRange {
    fn as_ref(&self) -> &[u8] {
        &self.mmap[self.start..self.end]
    }
}

/// A packed GloVe file, memory-mapped; cheap to open, pages in only the rows looked up.
pub struct GloveStore {
    path: PathBuf,
    mmap: Arc<Mmap>,
    index: Map<MmapRange>,
    format: RowFormat,
    dim: usize,
    len: usize,
    rows_offset: usize,
    scales_offset: usize,
    identity: String,
}

impl std::fmt::Debug for GloveStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GloveStore")
            .field("path", &self.path)
            .field("identity", &self.identity)
            .field("dim", &self.dim)
            .field("len", &self.len)
            .field("format", &self.format)
            .finish()
    }
}

impl GloveStore {
    /// Maps a pack and checks its header, sizes, word-index checksum and (int8 packs) every
    /// row's scale; reads no row.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GloveError> {
        let path = path.as_ref();
        let started = Instant::now();
        let file = File::open(path).map_err(|e| GloveError::io(path, e))?;
        let actual_len = file.metadata().map_err(|e| GloveError::io(path, e))?.len();
        if actual_len == 0 {
            return Err(GloveError::NotAPack {
                path: path.to_path_buf(),
                hint: " (the file is empty)".to_string(),
            });
        }
        // SAFETY: the map is read-only and packs are only ever replaced by rename, never
        // rewritten in place, so the bytes under the map do not change while it lives.
        // Everything read from it is bounds-checked against the header below.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| GloveError::io(path, e))?;
        #[cfg(unix)]
        if let Err(e) = mmap.advise(memmap2::Advice::Random) {
            tracing::debug!(path = %path.display(), error = %e, "madvise(RANDOM) failed");
        }
        let header = Header::decode(path, &mmap)?;
        let layout = Layout::check(path, &header, actual_len)?;
        let mmap = Arc::new(mmap);
        let range = MmapRange {
            mmap: Arc::clone(&mmap),
            start: layout.fst_offset,
            end: layout.fst_end,
        };
        // On 32-bit targets fst panics (rather than erring) on a node address past
        // usize::MAX, which a damaged index can hold; that must be an error, not a crash.
        let fst =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fst::raw::Fst::new(range)))
                .map_err(|_| GloveError::corrupt(path, "word index: node address out of range"))?
                .map_err(|e| GloveError::corrupt(path, format!("word index: {e}")))?;
        // A corrupt index could make the fst crate index out of bounds; its checksum is
        // a few megabytes at most, cheap next to a panic on the daemon's lookup path.
        fst.verify()
            .map_err(|e| GloveError::corrupt(path, format!("word index: {e}")))?;
        let index = Map::from(fst);
        if index.len() != header.count as usize {
            return Err(GloveError::corrupt(
                path,
                format!(
                    "word index holds {} words, header says {}",
                    index.len(),
                    header.count
                ),
            ));
        }
        let store = GloveStore {
            path: path.to_path_buf(),
            mmap,
            index,
            format: header.format,
            dim: header.dim as usize,
            len: header.count as usize,
            rows_offset: layout.rows_offset,
            scales_offset: layout.scales_offset,
            identity: header.identity,
        };
        store.check_scales()?;
        tracing::debug!(
            path = %path.display(),
            identity = %store.identity,
            dim = store.dim,
            words = store.len,
            format = store.format.name(),
            micros = started.elapsed().as_micros() as u64,
            "opened GloVe store"
        );
        Ok(store)
    }

    /// The file this store was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Values per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the store holds no words (never the case for a pack `pack_text` wrote).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Name recorded at pack time, e.g. `glove-6b-50d`; model.toml's `glove` must match it.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// How rows are stored.
    pub fn format(&self) -> RowFormat {
        self.format
    }

    /// Frequency rank of a word (its row, 0 = most frequent), case-folded.
    pub fn rank(&self, word: &str) -> Option<usize> {
        self.index.get(fold(word)).map(|r| r as usize)
    }

    /// Whether the store knows a word, case-folded.
    pub fn contains(&self, word: &str) -> bool {
        self.rank(word).is_some()
    }

    /// The vector of a word, case-folded; `None` if the word is unknown.
    pub fn vector(&self, word: &str) -> Option<Vec<f32>> {
        let rank = self.rank(word)?;
        let mut out = vec![0f32; self.dim];
        self.read_row(rank, &mut out).then_some(out)
    }

    /// The vector stored in row `rank`; `None` past the end.
    pub fn row(&self, rank: usize) -> Option<Vec<f32>> {
        let mut out = vec![0f32; self.dim];
        self.read_row(rank, &mut out).then_some(out)
    }

    /// Refuses an int8 pack whose per-row scale is not finite, negative, or larger than a
    /// packed value allows: such a row would decode to NaN or infinities and poison every
    /// cosine it enters. 4 bytes a word, so a scan costs little next to the index checksum.
    fn check_scales(&self) -> Result<(), GloveError> {
        if self.format != RowFormat::Int8 {
            return Ok(());
        }
        let max = MAX_VALUE / 127.0;
        for rank in 0..self.len {
            let at = self.scales_offset + rank * 4;
            let Some(b) = self.mmap.get(at..at + 4) else {
                return Err(GloveError::corrupt(&self.path, "scales run past the file"));
            };
            let scale = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if !(0.0..=max).contains(&scale) {
                return Err(GloveError::corrupt(
                    &self.path,
                    format!("row {rank}: scale {scale} is not a finite number in [0, {max}]"),
                ));
            }
        }
        Ok(())
    }

    /// Decodes row `rank` into `out` (which must hold `dim` values); false if out of range.
    fn read_row(&self, rank: usize, out: &mut [f32]) -> bool {
        if rank >= self.len || out.len() != self.dim {
            return false;
        }
        let row_bytes = self.format.row_bytes(self.dim);
        let start = self.rows_offset + rank * row_bytes;
        let Some(bytes) = self.mmap.get(start..start + row_bytes) else {
            return false;
        };
        match self.format {
            RowFormat::Int8 => {
                let at = self.scales_offset + rank * 4;
                let Some(s) = self.mmap.get(at..at + 4) else {
                    return false;
                };
                let scale = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                for (o, &b) in out.iter_mut().zip(bytes) {
                    *o = f32::from(b as i8) * scale;
                }
            }
            RowFormat::F16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
                }
            }
        }
        true
    }

    /// Mean of the vectors of `words`; every unknown word is listed in the error.
    pub fn mean_vector<S: AsRef<str>>(&self, words: &[S]) -> Result<Vec<f32>, PhraseError> {
        if words.is_empty() {
            return Err(PhraseError::Empty);
        }
        let mut sum = vec![0f32; self.dim];
        let mut row = vec![0f32; self.dim];
        let mut unknown = Vec::new();
        for w in words {
            match self.rank(w.as_ref()) {
                Some(r) if self.read_row(r, &mut row) => {
                    for (s, v) in sum.iter_mut().zip(&row) {
                        *s += v;
                    }
                }
                _ => unknown.push(fold(w.as_ref())),
            }
        }
        if !unknown.is_empty() {
            return Err(PhraseError::Unknown(unknown));
        }
        let n = words.len() as f32;
        for s in &mut sum {
            *s /= n;
        }
        Ok(sum)
    }

    /// Vector of a phrase such as "hip hop": the mean of its whitespace-separated words.
    pub fn phrase(&self, phrase: &str) -> Result<Vec<f32>, PhraseError> {
        let words: Vec<&str> = phrase.split_whitespace().collect();
        self.mean_vector(&words)
    }

    /// Up to `max` known spellings near `word`: edit distance 1, then 2, each by frequency.
    pub fn suggest(&self, word: &str, max: usize) -> Vec<String> {
        let query = fold(word);
        let mut out: Vec<String> = Vec::new();
        if max == 0 || query.is_empty() {
            return out;
        }
        for distance in 1..=2u32 {
            let lev = match Levenshtein::new(&query, distance) {
                Ok(l) => l,
                Err(e) => {
                    // Long words blow the automaton's state limit; fewer hints is fine.
                    tracing::debug!(word = %query, distance, error = %e, "no spelling search");
                    break;
                }
            };
            let mut hits: Vec<(u64, String)> = Vec::new();
            let mut stream = self.index.search(lev).into_stream();
            while let Some((key, rank)) = stream.next() {
                let Ok(key) = std::str::from_utf8(key) else {
                    continue;
                };
                if key != query && !out.iter().any(|o| o == key) {
                    hits.push((rank, key.to_string()));
                }
            }
            hits.sort_unstable();
            out.extend(hits.into_iter().take(max - out.len()).map(|(_, k)| k));
            if out.len() >= max {
                break;
            }
        }
        out
    }
}

/// Byte offsets of a pack's sections, checked against each other and the file size.
struct Layout {
    rows_offset: usize,
    scales_offset: usize,
    fst_offset: usize,
    fst_end: usize,
}

impl Layout {
    fn check(path: &Path, h: &Header, actual_len: u64) -> Result<Self, GloveError> {
        let bad = |reason: String| GloveError::corrupt(path, reason);
        if h.file_len != actual_len {
            return Err(bad(format!(
                "file is {actual_len} bytes, header says {} (truncated or partial copy?)",
                h.file_len
            )));
        }
        let dim = h.dim as u64;
        if dim == 0 || dim > MAX_DIM as u64 {
            return Err(bad(format!("dimension {dim} out of range 1..={MAX_DIM}")));
        }
        if h.count == 0 {
            return Err(bad("zero words".to_string()));
        }
        if h.rows_offset != HEADER_LEN as u64 {
            return Err(bad(format!(
                "rows start at {}, not {HEADER_LEN}",
                h.rows_offset
            )));
        }
        let count = u64::from(h.count);
        let row_bytes = h.format.row_bytes(h.dim as usize) as u64;
        let rows_end = h.rows_offset + count * row_bytes;
        let scales_end = match h.format {
            RowFormat::Int8 => {
                if h.scales_offset < rows_end || !h.scales_offset.is_multiple_of(4) {
                    return Err(bad(format!(
                        "scales at {} overlap the rows ending at {rows_end}",
                        h.scales_offset
                    )));
                }
                h.scales_offset + count * 4
            }
            RowFormat::F16 => rows_end,
        };
        let fst_end = h.fst_offset.checked_add(h.fst_len);
        if h.fst_offset < scales_end || fst_end != Some(h.file_len) {
            return Err(bad(format!(
                "word index at {}+{} does not fit between {scales_end} and {}",
                h.fst_offset, h.fst_len, h.file_len
            )));
        }
        let to_usize = |v: u64| {
            usize::try_from(v).map_err(|_| bad(format!("offset {v} too large for this machine")))
        };
        Ok(Layout {
            rows_offset: to_usize(h.rows_offset)?,
            scales_offset: to_usize(h.scales_offset)?,
            fst_offset: to_usize(h.fst_offset)?,
            fst_end: to_usize(h.file_len)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_from_file_names() {
        assert_eq!(
            identity_from_path(Path::new("/x/glove.6B.50d.txt")),
            "glove-6b-50d"
        );
        assert_eq!(
            identity_from_path(Path::new("glove.840B.300d.txt")),
            "glove-840b-300d"
        );
        assert_eq!(identity_from_path(Path::new("...txt")), "glove");
    }

    #[test]
    fn fields_keep_byte_columns() {
        let f = split_fields(b"ab  1.5\t-2\r\n");
        let got: Vec<(usize, &[u8])> = f;
        assert_eq!(
            got,
            vec![(0, &b"ab"[..]), (4, &b"1.5"[..]), (8, &b"-2"[..])]
        );
    }

    #[test]
    fn int8_round_trip_error_is_half_a_step() {
        let v = [0.5f32, -1.27, 0.0, 0.01, 1.0];
        let (scale, q) = quantize_int8(&v);
        for (x, qi) in v.iter().zip(&q) {
            assert!((f32::from(*qi) * scale - x).abs() <= scale / 2.0 + 1e-7);
        }
        assert_eq!(quantize_int8(&[0.0, 0.0]).1, vec![0, 0]);
    }
}
