//! Dataset loaders: turn a dataset on disk into a list of tracks with their raw tags.
//!
//! Four layouts are read ([`DatasetKind`]):
//!
//! * `csv`: a manifest with a header row; columns `path` and `tags` (`;`-separated) are
//!   required, `id`, `group` and `source` optional, in any order; other columns are ignored.
//!   `source` names where a track came from (a package, soundfont or sample library), so
//!   whole sources can be held out for cross-source tests.
//! * `mtat`: MagnaTagATune's `annotations_final.csv` (TAB-separated `clip_id`, one 0/1 column
//!   per tag, `mp3_path`). Clips cut from one song share a group, so a song never straddles
//!   train and test.
//! * `gtzan`: a folder of genre folders (or one holding `genres/` or `genres_original/`).
//! * `msd`: Million Song Dataset tracks with Last.fm tags, either a `TRACKID<TAB>tag<TAB>…`
//!   text file or the `lastfm_train/` tree of JSON files.
//!
//! Tags are normalised ([`normalize_tag`]) so that `Hip  Hop` and `hip hop` are one tag.
//! Loading never stops at the first bad line: every problem is collected and reported at
//! once ([`DataError::Many`]), since whoever fixes a manifest wants the whole list.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Most problems a failed load lists before summarising the rest as "… and N more".
pub const MAX_REPORTED_ERRORS: usize = 50;
/// Audio file extensions the loaders accept (hark's decoder reads these), lowercase.
pub const AUDIO_EXTENSIONS: [&str; 4] = ["wav", "mp3", "ogg", "flac"];
/// Extensions tried, in order, when looking for an MSD track's audio.
pub const MSD_AUDIO_EXTENSIONS: [&str; 4] = ["mp3", "ogg", "flac", "wav"];
/// Deepest folder nesting walked below a dataset folder; deeper means a symlink loop or a
/// wrong `source`.
pub const MAX_FOLDER_DEPTH: usize = 16;

/// One audio file and the tags its dataset gives it (tags normalised: trimmed, lowercased,
/// inner whitespace collapsed to one space; duplicates removed, order kept).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackRecord {
    /// Identifier unique within the dataset (manifest id, clip id, file stem or MSD track id).
    pub id: String,
    /// The audio file.
    pub path: PathBuf,
    /// The track's tags, normalised.
    pub tags: Vec<String>,
    /// How sure the dataset is of each of `tags`, in (0, 1] (a teacher's probability); empty
    /// when it does not say, and then every tag counts fully.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_weights: Vec<f32>,
    /// Tracks sharing a group land in the same split part (e.g. clips of one song).
    pub group: String,
    /// Where the track came from (package, soundfont, sample library); empty when the
    /// dataset does not say. Whole sources can be held out for cross-source tests.
    #[serde(default)]
    pub source: String,
}

/// What a dataset says about one track besides its id and audio.
struct Annotation {
    tags: Vec<String>,
    tag_weights: Vec<f32>,
    group: String,
    source: String,
}

impl Annotation {
    /// Tags and group, from a layout that names no source.
    fn unsourced(tags: Vec<String>, group: String) -> Self {
        Self {
            tags,
            tag_weights: Vec::new(),
            group,
            source: String::new(),
        }
    }
}

/// The on-disk layout of a dataset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// A CSV manifest with `path` and `tags` columns.
    Csv,
    /// MagnaTagATune's `annotations_final.csv`.
    Mtat,
    /// A GTZAN-style folder of genre folders.
    Gtzan,
    /// Million Song Dataset tracks with Last.fm tags.
    Msd,
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatasetKind::Csv => "csv",
            DatasetKind::Mtat => "mtat",
            DatasetKind::Gtzan => "gtzan",
            DatasetKind::Msd => "msd",
        })
    }
}

/// Where a dataset is and how to read it (a table of the run's TOML config file).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// How the dataset is laid out.
    pub kind: DatasetKind,
    /// csv: the manifest; mtat: annotations_final.csv; gtzan: the folder of genre folders; msd: a tag-list file or a Last.fm JSON folder
    pub source: PathBuf,
    /// Folder audio paths are relative to (csv: defaults to the manifest's folder; mtat: the mp3 root, defaults to the csv's folder; msd: required)
    #[serde(default)]
    pub audio_root: Option<PathBuf>,
    /// msd Last.fm JSON: the least tag weight (0–100) that counts as a positive tag
    #[serde(default = "default_min_weight")]
    pub min_tag_weight: f32,
    /// Skip tracks whose audio file is missing (listed in the result) instead of failing
    #[serde(default)]
    pub skip_missing_audio: bool,
}

fn default_min_weight() -> f32 {
    50.0
}

/// What a successful load found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// The usable tracks, in the dataset's order (gtzan: sorted by path).
    pub tracks: Vec<TrackRecord>,
    /// Audio paths that did not exist and were skipped (only with `skip_missing_audio`).
    pub missing_audio: Vec<PathBuf>,
    /// Tracks skipped because the dataset gives them no (positive) tag.
    pub untagged: usize,
}

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A field of the dataset spec is unusable.
    #[error("dataset config `{field}`: {message}")]
    Config {
        /// The spec field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A file or folder could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line (or a whole file when `line` is `None`) is malformed.
    #[error("{}: {message}", at(file, *line))]
    Invalid {
        /// The dataset file.
        file: PathBuf,
        /// 1-based line (the header is line 1), when a line is to blame.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A track's audio file does not exist.
    #[error(
        "{}: audio file {} does not exist (fix the path or audio_root, or set skip_missing_audio = true to skip such tracks)",
        at(file, *line),
        audio.display()
    )]
    MissingAudio {
        /// The dataset file naming the track.
        file: PathBuf,
        /// Its 1-based line, when the dataset file has lines.
        line: Option<u64>,
        /// The audio path looked for.
        audio: PathBuf,
    },
    /// The folder holds `.au` files, which hark's decoder cannot read.
    #[error(
        "{}: {count} .au file(s), which hark cannot decode; convert them to WAV first (e.g. `sox x.au x.wav`)",
        example.display()
    )]
    AuFiles {
        /// One of the `.au` files.
        example: PathBuf,
        /// How many were found.
        count: usize,
    },
    /// The dataset yielded no usable track.
    #[error("{}: no usable tracks ({detail})", source_path.display())]
    Empty {
        /// The spec's `source`.
        source_path: PathBuf,
        /// Why (what was skipped).
        detail: String,
    },
    /// Several problems, each printed on its own line.
    #[error("{}", list_errors(errors, *more))]
    Many {
        /// The first [`MAX_REPORTED_ERRORS`] problems.
        errors: Vec<DataError>,
        /// How many more were found but not kept.
        more: usize,
    },
}

fn at(file: &Path, line: Option<u64>) -> String {
    match line {
        Some(line) => format!("{}:{line}", file.display()),
        None => file.display().to_string(),
    }
}

fn list_errors(errors: &[DataError], more: usize) -> String {
    let mut out = format!("{} problems loading the dataset:", errors.len() + more);
    for e in errors {
        out.push_str("\n  ");
        out.push_str(&e.to_string());
    }
    if more > 0 {
        out.push_str(&format!("\n  … and {more} more"));
    }
    out
}

/// A tag as the loaders store it: trimmed, lowercased, inner whitespace collapsed to one space.
pub fn normalize_tag(tag: &str) -> String {
    tag.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Normalises `tags`, dropping empty ones and repeats (first occurrence kept).
fn normalize_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = normalize_tag(tag);
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// A manifest's `;`-separated tags, each optionally `tag@weight` with a weight in (0, 1]:
/// the normalised tags and, when any tag had a weight, every tag's weight (1 where none was
/// given). Repeats keep their first occurrence, as [`normalize_tags`] does.
fn weighted_tags(field: &str) -> Result<(Vec<String>, Vec<f32>), String> {
    let mut tags: Vec<String> = Vec::new();
    let mut weights = Vec::new();
    let mut any_weight = false;
    for raw in field.split(';') {
        let (name, weight) = match raw.rsplit_once('@') {
            Some((name, w)) => {
                let weight = w
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|w| *w > 0.0 && *w <= 1.0);
                let Some(weight) = weight else {
                    return Err(format!(
                        "\"{}\": the weight after @ must be a number in (0, 1]",
                        raw.trim()
                    ));
                };
                any_weight = true;
                (name, weight)
            }
            None => (raw, 1.0),
        };
        let tag = normalize_tag(name);
        if !tag.is_empty() && !tags.contains(&tag) {
            tags.push(tag);
            weights.push(weight);
        }
    }
    if !any_weight {
        weights.clear();
    }
    Ok((tags, weights))
}

/// Loads the dataset `spec` describes, reporting every problem found rather than the first.
pub fn load(spec: &DatasetSpec) -> Result<Loaded, DataError> {
    if !spec.min_tag_weight.is_finite() || !(0.0..=100.0).contains(&spec.min_tag_weight) {
        return Err(DataError::Config {
            field: "min_tag_weight",
            message: format!("{} is not a Last.fm weight (0 to 100)", spec.min_tag_weight),
        });
    }
    let mut c = Collector::new(spec.skip_missing_audio);
    match spec.kind {
        DatasetKind::Csv => load_csv(spec, &mut c),
        DatasetKind::Mtat => load_mtat(spec, &mut c),
        DatasetKind::Gtzan => load_gtzan(spec, &mut c),
        DatasetKind::Msd => load_msd(spec, &mut c)?,
    }
    c.finish(&spec.source)
}

/// Accumulates tracks and problems for one load.
struct Collector {
    skip_missing: bool,
    loaded: Loaded,
    errors: Vec<DataError>,
    more_errors: usize,
    /// Where each id was first seen, to report duplicates.
    seen_ids: HashMap<String, String>,
}

impl Collector {
    fn new(skip_missing: bool) -> Self {
        Collector {
            skip_missing,
            loaded: Loaded::default(),
            errors: Vec::new(),
            more_errors: 0,
            seen_ids: HashMap::new(),
        }
    }

    fn error(&mut self, e: DataError) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        } else {
            self.more_errors += 1;
        }
    }

    fn invalid(&mut self, file: &Path, line: Option<u64>, message: impl Into<String>) {
        self.error(DataError::Invalid {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    /// Adds a track after checking its id is new and its audio exists; `audio` is `Err` with
    /// the path to report when the resolver found no file at all.
    fn track(
        &mut self,
        file: &Path,
        line: Option<u64>,
        id: String,
        audio: Result<PathBuf, PathBuf>,
        annotation: Annotation,
    ) {
        let here = at(file, line);
        if let Some(first) = self.seen_ids.get(&id) {
            let message = format!("duplicate track id \"{id}\" (first at {first})");
            self.invalid(file, line, message);
            return;
        }
        self.seen_ids.insert(id.clone(), here);
        match audio {
            Ok(path) if path.is_file() => self.loaded.tracks.push(TrackRecord {
                id,
                path,
                tags: annotation.tags,
                tag_weights: annotation.tag_weights,
                group: annotation.group,
                source: annotation.source,
            }),
            Ok(missing) | Err(missing) => {
                if self.skip_missing {
                    self.loaded.missing_audio.push(missing);
                } else {
                    self.error(DataError::MissingAudio {
                        file: file.to_path_buf(),
                        line,
                        audio: missing,
                    });
                }
            }
        }
    }

    fn finish(mut self, source: &Path) -> Result<Loaded, DataError> {
        if self.errors.is_empty() && self.loaded.tracks.is_empty() {
            self.errors.push(DataError::Empty {
                source_path: source.to_path_buf(),
                detail: format!(
                    "{} untagged, {} with missing audio",
                    self.loaded.untagged,
                    self.loaded.missing_audio.len()
                ),
            });
        }
        if self.errors.len() == 1 && self.more_errors == 0 {
            return Err(self.errors.remove(0));
        }
        if !self.errors.is_empty() {
            return Err(DataError::Many {
                errors: self.errors,
                more: self.more_errors,
            });
        }
        if !self.loaded.missing_audio.is_empty() {
            tracing::warn!(
                skipped = self.loaded.missing_audio.len(),
                "skipped tracks whose audio file is missing"
            );
        }
        tracing::info!(
            tracks = self.loaded.tracks.len(),
            untagged = self.loaded.untagged,
            source = %source.display(),
            "dataset loaded"
        );
        Ok(self.loaded)
    }
}

fn io_error(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The folder holding `file`, as a path that joins correctly even for a bare file name.
fn folder_of(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A header cell as matched against column names (a UTF-8 BOM on the first cell is dropped).
fn header_name(cell: &[u8]) -> String {
    let cell = cell.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(cell);
    String::from_utf8_lossy(cell).trim().to_lowercase()
}

fn open_csv(path: &Path, delimiter: u8, c: &mut Collector) -> Option<csv::Reader<std::fs::File>> {
    match std::fs::File::open(path) {
        Ok(file) => Some(
            csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(true)
                // Rows of the wrong width are reported per line below, not by the reader.
                .flexible(true)
                .from_reader(file),
        ),
        Err(e) => {
            c.error(io_error(path, e));
            None
        }
    }
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    let line = e.position().map(|p| p.line());
    DataError::Invalid {
        file: path.to_path_buf(),
        line,
        message: format!("cannot parse: {e}"),
    }
}

/// Calls `each` with every record of a delimited file and its line, after checking its field
/// count against the header's; a record with another count is reported and skipped.
fn for_each_record(
    file: &Path,
    reader: &mut csv::Reader<std::fs::File>,
    header_len: usize,
    c: &mut Collector,
    mut each: impl FnMut(&csv::ByteRecord, Option<u64>, &mut Collector),
) {
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // An I/O error mid-file leaves nothing sensible to read after it.
                c.error(csv_error(file, e));
                break;
            }
        }
        let line = record.position().map(|p| p.line());
        if record.len() != header_len {
            let message = format!(
                "{} field(s) where the header has {header_len}",
                record.len()
            );
            c.invalid(file, line, message);
            continue;
        }
        each(&record, line, c);
    }
}

fn load_csv(spec: &DatasetSpec, c: &mut Collector) {
    let file = &spec.source;
    let Some(mut reader) = open_csv(file, b',', c) else {
        return;
    };
    let header: Vec<String> = match reader.byte_headers() {
        Ok(h) => h.iter().map(header_name).collect(),
        Err(e) => return c.error(csv_error(file, e)),
    };
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(path_col), Some(tags_col)) = (column("path"), column("tags")) else {
        let missing: Vec<&str> = ["path", "tags"]
            .into_iter()
            .filter(|n| column(n).is_none())
            .collect();
        let message = format!(
            "the header lacks the required column(s) {} (it has: {})",
            missing.join(", "),
            header.join(", ")
        );
        return c.invalid(file, Some(1), message);
    };
    let (id_col, group_col, source_col) = (column("id"), column("group"), column("source"));
    for name in ["path", "tags", "id", "group", "source"] {
        if header.iter().filter(|h| *h == name).count() > 1 {
            c.invalid(file, Some(1), format!("column \"{name}\" appears twice"));
        }
    }
    let root = spec.audio_root.clone().unwrap_or_else(|| folder_of(file));

    for_each_record(file, &mut reader, header.len(), c, |record, line, c| {
        let field = |i: usize| std::str::from_utf8(&record[i]).map(str::trim);
        let (Ok(path), Ok(tags)) = (field(path_col), field(tags_col)) else {
            c.invalid(file, line, "not valid UTF-8 (save the manifest as UTF-8)");
            return;
        };
        let id = id_col.map(field).transpose();
        let group = group_col.map(field).transpose();
        let source = source_col.map(field).transpose();
        let (Ok(id), Ok(group), Ok(source)) = (id, group, source) else {
            c.invalid(file, line, "not valid UTF-8 (save the manifest as UTF-8)");
            return;
        };
        if path.is_empty() {
            c.invalid(file, line, "empty `path`");
            return;
        }
        let (tags, tag_weights) = match weighted_tags(tags) {
            Ok(parsed) => parsed,
            Err(message) => return c.invalid(file, line, format!("`tags`: {message}")),
        };
        if tags.is_empty() {
            c.invalid(file, line, format!("no tags for \"{path}\""));
            return;
        }
        let id = match id {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => Path::new(path)
                .with_extension("")
                .to_string_lossy()
                .into_owned(),
        };
        let group = match group {
            Some(g) if !g.is_empty() => g.to_string(),
            _ => id.clone(),
        };
        let annotation = Annotation {
            tags,
            tag_weights,
            group,
            source: source.unwrap_or_default().to_string(),
        };
        c.track(file, line, id, Ok(root.join(path)), annotation);
    });
}

/// The song a MagnaTagATune clip was cut from: `mp3_path` without its extension and without
/// the trailing `-<start>-<end>` segment numbers.
pub fn mtat_song(mp3_path: &str) -> String {
    let stem = Path::new(mp3_path).with_extension("");
    let stem = stem.to_string_lossy();
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = stem.rsplitn(3, '-');
    if let (Some(end), Some(start), Some(song)) = (parts.next(), parts.next(), parts.next()) {
        if is_number(end) && is_number(start) && !song.is_empty() {
            return song.to_string();
        }
    }
    stem.into_owned()
}

fn load_mtat(spec: &DatasetSpec, c: &mut Collector) {
    let file = &spec.source;
    let Some(mut reader) = open_csv(file, b'\t', c) else {
        return;
    };
    let header: Vec<String> = match reader.byte_headers() {
        Ok(h) => h.iter().map(header_name).collect(),
        Err(e) => return c.error(csv_error(file, e)),
    };
    if header.len() < 3
        || header.first().map(String::as_str) != Some("clip_id")
        || header.last().map(String::as_str) != Some("mp3_path")
    {
        let message = "the header must be TAB-separated `clip_id`, the tag columns, then \
                       `mp3_path` (is this MagnaTagATune's annotations_final.csv?)";
        return c.invalid(file, Some(1), message);
    }
    let tag_names: Vec<String> = header[1..header.len() - 1]
        .iter()
        .map(|h| normalize_tag(h))
        .collect();
    let root = spec.audio_root.clone().unwrap_or_else(|| folder_of(file));

    for_each_record(file, &mut reader, header.len(), c, |record, line, c| {
        let text = |i: usize| String::from_utf8_lossy(&record[i]).trim().to_string();
        let clip_id = text(0);
        let mp3_path = text(header.len() - 1);
        let mut bad = false;
        if clip_id.is_empty() {
            c.invalid(file, line, "empty `clip_id`");
            bad = true;
        }
        if mp3_path.is_empty() {
            c.invalid(file, line, "empty `mp3_path`");
            bad = true;
        }
        let mut tags = Vec::new();
        for (k, name) in tag_names.iter().enumerate() {
            match record[k + 1].trim_ascii() {
                b"1" => {
                    if !tags.contains(name) {
                        tags.push(name.clone());
                    }
                }
                b"0" => {}
                other => {
                    let message = format!(
                        "column \"{}\" holds \"{}\"; tag columns hold 0 or 1",
                        header[k + 1],
                        String::from_utf8_lossy(other)
                    );
                    c.invalid(file, line, message);
                    bad = true;
                }
            }
        }
        if bad {
            return;
        }
        if tags.is_empty() {
            c.loaded.untagged += 1;
            return;
        }
        let group = mtat_song(&mp3_path);
        let annotation = Annotation::unsourced(tags, group);
        c.track(file, line, clip_id, Ok(root.join(&mp3_path)), annotation);
    });
}

/// Sub-folders of `dir` (sorted by name, hidden ones skipped) and its files, sorted likewise.
fn list_dir(dir: &Path, c: &mut Collector) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            c.error(io_error(dir, e));
            return (Vec::new(), Vec::new());
        }
    };
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                // Hidden entries are editor/OS litter (.DS_Store, ._foo.wav), never tracks.
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    paths.push(entry.path());
                }
            }
            Err(e) => c.error(io_error(dir, e)),
        }
    }
    paths.sort();
    paths.into_iter().partition(|p| p.is_dir())
}

/// Every file below `dir` (recursively, sorted, hidden entries skipped).
fn walk_files(dir: &Path, depth: usize, c: &mut Collector, out: &mut Vec<PathBuf>) {
    if depth > MAX_FOLDER_DEPTH {
        let message =
            format!("folders nest deeper than {MAX_FOLDER_DEPTH} levels (a symlink loop?)");
        return c.invalid(dir, None, message);
    }
    let (dirs, files) = list_dir(dir, c);
    out.extend(files);
    for sub in dirs {
        walk_files(&sub, depth + 1, c, out);
    }
}

fn lowercase_extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

fn load_gtzan(spec: &DatasetSpec, c: &mut Collector) {
    let source = &spec.source;
    if !source.is_dir() {
        let message = "gtzan's source must be the folder of genre folders";
        return c.invalid(source, None, message);
    }
    let root = ["genres_original", "genres"]
        .into_iter()
        .map(|name| source.join(name))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| source.clone());
    let (genres, _) = list_dir(&root, c);
    let mut au_files = 0;
    let mut au_example = None;
    for genre_dir in genres {
        let genre = normalize_tag(&genre_dir.file_name().unwrap_or_default().to_string_lossy());
        let mut files = Vec::new();
        walk_files(&genre_dir, 1, c, &mut files);
        for path in files {
            let ext = lowercase_extension(&path);
            if ext.as_deref() == Some("au") {
                au_files += 1;
                au_example.get_or_insert_with(|| path.clone());
                continue;
            }
            if !ext.is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.as_str())) {
                tracing::debug!(path = %path.display(), "not an audio file; ignored");
                continue;
            }
            let id = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let group = id.clone();
            c.track(
                &path,
                None,
                id,
                Ok(path.clone()),
                Annotation::unsourced(vec![genre.clone()], group),
            );
        }
    }
    if let Some(example) = au_example {
        c.error(DataError::AuFiles {
            example,
            count: au_files,
        });
    }
    c.loaded.tracks.sort_by(|a, b| a.path.cmp(&b.path));
}

/// True for an MSD track id: `TR` followed by 16 ASCII letters or digits.
pub fn is_msd_track_id(id: &str) -> bool {
    id.len() == 18 && id.starts_with("TR") && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The MSD layout's path candidates for `track_id`, in the order they are tried.
fn msd_candidates(root: &Path, track_id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(shard) = track_id.get(2..5) {
        let shard_dir = shard
            .chars()
            .fold(root.to_path_buf(), |p, ch| p.join(ch.to_string()));
        out.extend(
            MSD_AUDIO_EXTENSIONS
                .iter()
                .map(|ext| shard_dir.join(format!("{track_id}.{ext}"))),
        );
    }
    out.extend(
        MSD_AUDIO_EXTENSIONS
            .iter()
            .map(|ext| root.join(format!("{track_id}.{ext}"))),
    );
    out
}

/// The audio file of MSD track `track_id` under `root`: first `root/<id[2]>/<id[3]>/<id[4]>/<id>.<ext>`,
/// then `root/<id>.<ext>`, trying mp3, ogg, flac, wav; `None` when none exists.
pub fn msd_audio_path(root: &Path, track_id: &str) -> Option<PathBuf> {
    msd_candidates(root, track_id)
        .into_iter()
        .find(|p| p.is_file())
}

fn msd_audio(root: &Path, track_id: &str) -> Result<PathBuf, PathBuf> {
    msd_audio_path(root, track_id).ok_or_else(|| {
        msd_candidates(root, track_id)
            .into_iter()
            .next()
            .unwrap_or_else(|| root.join(track_id))
    })
}

fn load_msd(spec: &DatasetSpec, c: &mut Collector) -> Result<(), DataError> {
    let Some(root) = &spec.audio_root else {
        return Err(DataError::Config {
            field: "audio_root",
            message: "msd needs audio_root, the folder holding the tracks' audio".into(),
        });
    };
    if spec.source.is_dir() {
        load_msd_json_tree(&spec.source, root, spec.min_tag_weight, c);
    } else {
        load_msd_tag_list(&spec.source, root, c);
    }
    Ok(())
}

fn load_msd_tag_list(file: &Path, root: &Path, c: &mut Collector) {
    let text = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => return c.error(io_error(file, e)),
    };
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = Some(i as u64 + 1);
        let Ok(raw) = std::str::from_utf8(raw) else {
            c.invalid(file, line, "not valid UTF-8");
            continue;
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut fields = trimmed.split('\t');
        let id = fields.next().unwrap_or_default().trim();
        if !is_msd_track_id(id) {
            let message = format!(
                "\"{id}\" is not an MSD track id (TR + 16 letters/digits); lines are TRACKID<TAB>tag<TAB>tag…"
            );
            c.invalid(file, line, message);
            continue;
        }
        let tags = normalize_tags(fields);
        if tags.is_empty() {
            c.loaded.untagged += 1;
            continue;
        }
        c.track(
            file,
            line,
            id.to_string(),
            msd_audio(root, id),
            Annotation::unsourced(tags, id.to_string()),
        );
    }
}

/// A Last.fm tag weight, written as a number or as a string of one.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Weight {
    Number(f64),
    Text(String),
}

/// The part of a Last.fm JSON file the loader reads.
#[derive(serde::Deserialize)]
struct LastfmTrack {
    track_id: String,
    #[serde(default)]
    tags: Vec<(String, Weight)>,
}

fn load_msd_json_tree(dir: &Path, root: &Path, min_weight: f32, c: &mut Collector) {
    let mut files = Vec::new();
    walk_files(dir, 0, c, &mut files);
    files.retain(|p| lowercase_extension(p).as_deref() == Some("json"));
    for file in files {
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) => {
                c.error(io_error(&file, e));
                continue;
            }
        };
        let track: LastfmTrack = match serde_json::from_slice(&bytes) {
            Ok(t) => t,
            Err(e) => {
                let message = format!("not a Last.fm track JSON: {e}");
                c.invalid(&file, None, message);
                continue;
            }
        };
        let id = track.track_id.trim();
        if !is_msd_track_id(id) {
            let message =
                format!("track_id \"{id}\" is not an MSD track id (TR + 16 letters/digits)");
            c.invalid(&file, None, message);
            continue;
        }
        let mut positive = Vec::new();
        let mut bad = false;
        for (tag, weight) in &track.tags {
            let value = match weight {
                Weight::Number(v) => Some(*v),
                Weight::Text(s) => s.trim().parse::<f64>().ok(),
            };
            match value {
                Some(v) if v.is_finite() => {
                    if v >= f64::from(min_weight) {
                        positive.push(tag.as_str());
                    }
                }
                _ => {
                    let shown = match weight {
                        Weight::Number(v) => v.to_string(),
                        Weight::Text(s) => s.clone(),
                    };
                    let message = format!("tag \"{tag}\" has weight \"{shown}\", not a number");
                    c.invalid(&file, None, message);
                    bad = true;
                }
            }
        }
        if bad {
            continue;
        }
        let tags = normalize_tags(positive);
        if tags.is_empty() {
            c.loaded.untagged += 1;
            continue;
        }
        c.track(
            &file,
            None,
            id.to_string(),
            msd_audio(root, id),
            Annotation::unsourced(tags, id.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// An (empty) audio file: the loaders only check that it exists.
    fn touch(path: &Path) {
        write(path, "");
    }

    fn spec(kind: DatasetKind, source: &Path) -> DatasetSpec {
        DatasetSpec {
            kind,
            source: source.to_path_buf(),
            audio_root: None,
            min_tag_weight: 50.0,
            skip_missing_audio: false,
        }
    }

    fn ids(loaded: &Loaded) -> Vec<&str> {
        loaded.tracks.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn tags_are_normalised() {
        assert_eq!(normalize_tag("  Hip \t Hop "), "hip hop");
        assert_eq!(normalize_tag("ÉLECTRO"), "électro");
        assert_eq!(
            normalize_tags(["Rock", " rock ", "", "Female  Vocalists", "ROCK"]),
            vec!["rock", "female vocalists"]
        );
    }

    #[test]
    fn spec_defaults_and_unknown_fields() {
        let s: DatasetSpec = serde_json::from_str(r#"{"kind": "msd", "source": "x"}"#).unwrap();
        assert_eq!(s.kind, DatasetKind::Msd);
        assert_eq!(s.min_tag_weight, 50.0);
        assert!(!s.skip_missing_audio);
        assert_eq!(s.audio_root, None);
        let typo = r#"{"kind": "csv", "source": "x", "audio_rot": "y"}"#;
        assert!(serde_json::from_str::<DatasetSpec>(typo).is_err());
        let mut bad = spec(DatasetKind::Csv, Path::new("x"));
        bad.min_tag_weight = 150.0;
        assert!(matches!(
            load(&bad),
            Err(DataError::Config {
                field: "min_tag_weight",
                ..
            })
        ));
    }

    #[test]
    fn csv_manifest_in_any_column_order() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.csv");
        write(
            &manifest,
            "Tags,notes,PATH,group,Source\n\
             \"Rock; Female  Vocalists;rock\",\"a, b\",audio/a.wav,,\n\
             jazz,,audio/b.mp3,album1, supertux-data \n",
        );
        touch(&dir.path().join("audio/a.wav"));
        touch(&dir.path().join("audio/b.mp3"));
        let loaded = load(&spec(DatasetKind::Csv, &manifest)).unwrap();
        assert_eq!(
            loaded.tracks[0],
            TrackRecord {
                id: "audio/a".into(),
                path: dir.path().join("audio/a.wav"),
                tags: vec!["rock".into(), "female vocalists".into()],
                tag_weights: Vec::new(),
                group: "audio/a".into(),
                source: String::new(),
            }
        );
        assert_eq!(loaded.tracks[1].group, "album1");
        assert_eq!(loaded.tracks[1].source, "supertux-data");
        assert_eq!((loaded.untagged, loaded.missing_audio.len()), (0, 0));
    }

    #[test]
    fn csv_id_column_and_audio_root() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("lists/m.csv");
        write(&manifest, "id,path,tags\nt1,a.flac,pop\n");
        touch(&dir.path().join("media/a.flac"));
        let mut s = spec(DatasetKind::Csv, &manifest);
        s.audio_root = Some(dir.path().join("media"));
        let loaded = load(&s).unwrap();
        assert_eq!(ids(&loaded), vec!["t1"]);
        assert_eq!(loaded.tracks[0].path, dir.path().join("media/a.flac"));
        assert_eq!(loaded.tracks[0].group, "t1");
    }

    #[test]
    fn csv_tags_may_carry_weights() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.csv");
        write(
            &manifest,
            "path,tags\n\
             a.wav,Rock@0.62;piano;rock@0.1\n\
             b.wav,jazz;pop\n",
        );
        touch(&dir.path().join("a.wav"));
        touch(&dir.path().join("b.wav"));
        let loaded = load(&spec(DatasetKind::Csv, &manifest)).unwrap();
        assert_eq!(loaded.tracks[0].tags, ["rock", "piano"]);
        assert_eq!(loaded.tracks[0].tag_weights, [0.62, 1.0]);
        assert!(loaded.tracks[1].tag_weights.is_empty(), "no weights given");

        write(
            &manifest,
            "path,tags\na.wav,rock@high\nb.wav,jazz@0;pop@1.5\n",
        );
        let text = load(&spec(DatasetKind::Csv, &manifest))
            .unwrap_err()
            .to_string();
        let m = manifest.display();
        assert!(
            text.contains(&format!("{m}:2: `tags`: \"rock@high\": the weight after @")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{m}:3: `tags`: \"jazz@0\"")),
            "{text}"
        );
    }

    #[test]
    fn csv_reports_every_bad_line_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.csv");
        write(
            &manifest,
            "path,tags\n\
             ok.wav,rock\n\
             ,rock\n\
             notags.wav, ; \n\
             gone.wav,pop\n\
             extra.wav,pop,surprise\n\
             ok.wav,pop\n",
        );
        touch(&dir.path().join("ok.wav"));
        touch(&dir.path().join("notags.wav"));
        touch(&dir.path().join("extra.wav"));
        let err = load(&spec(DatasetKind::Csv, &manifest)).unwrap_err();
        let DataError::Many { errors, more } = &err else {
            panic!("expected several errors, got {err}");
        };
        assert_eq!((errors.len(), *more), (5, 0));
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[0].starts_with("5 problems"), "{text}");
        let m = manifest.display();
        assert!(lines[1].contains(&format!("{m}:3: empty `path`")), "{text}");
        assert!(lines[2].contains(&format!("{m}:4: no tags")), "{text}");
        assert!(lines[3].contains(&format!("{m}:5: audio file")), "{text}");
        assert!(lines[3].contains("gone.wav"), "{text}");
        assert!(lines[4].contains(&format!("{m}:6: 3 field(s)")), "{text}");
        assert!(
            lines[5].contains(&format!("{m}:7: duplicate track id \"ok\"")),
            "{text}"
        );
        assert!(lines[5].contains(&format!("{m}:2")), "{text}");
    }

    #[test]
    fn csv_error_list_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.csv");
        let mut text = String::from("path,tags\n");
        for i in 0..60 {
            text.push_str(&format!("missing{i}.wav,rock\n"));
        }
        write(&manifest, &text);
        let err = load(&spec(DatasetKind::Csv, &manifest)).unwrap_err();
        let shown = err.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 1 + MAX_REPORTED_ERRORS + 1);
        assert!(lines[0].starts_with("60 problems"), "{}", lines[0]);
        assert_eq!(lines[lines.len() - 1].trim(), "… and 10 more");
    }

    #[test]
    fn csv_missing_header_column_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.csv");
        write(&manifest, "path,labels\na.wav,rock\n");
        let err = load(&spec(DatasetKind::Csv, &manifest)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("m.csv:1:") && text.contains("tags"), "{text}");
        let err = load(&spec(DatasetKind::Csv, &dir.path().join("nope.csv"))).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err}");
    }

    #[test]
    fn skip_missing_audio_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.csv");
        write(&manifest, "path,tags\na.wav,rock\nb.wav,pop\n");
        touch(&dir.path().join("b.wav"));
        let mut s = spec(DatasetKind::Csv, &manifest);
        s.skip_missing_audio = true;
        let loaded = load(&s).unwrap();
        assert_eq!(ids(&loaded), vec!["b"]);
        assert_eq!(loaded.missing_audio, vec![dir.path().join("a.wav")]);
        // Nothing left at all is still an error, whatever the reason.
        fs::remove_file(dir.path().join("b.wav")).unwrap();
        assert!(matches!(load(&s), Err(DataError::Empty { .. })));
    }

    #[test]
    fn mtat_song_drops_segment_numbers() {
        assert_eq!(
            mtat_song(
                "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3"
            ),
            "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria"
        );
        assert_eq!(mtat_song("0/artist-album-song.mp3"), "0/artist-album-song");
        assert_eq!(mtat_song("0/a-b-1-x.mp3"), "0/a-b-1-x");
    }

    #[test]
    fn mtat_annotations() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("annotations_final.csv");
        write(
            &csv,
            "clip_id\t\"no voice\"\tguitar\tClassical\tmp3_path\n\
             2\t\"1\"\t\"0\"\t\"1\"\t\"f/artist-album-01-song-0-29.mp3\"\n\
             6\t\"0\"\t\"0\"\t\"0\"\t\"f/artist-album-01-song-30-59.mp3\"\n\
             7\t\"0\"\t\"1\"\t\"0\"\t\"f/artist-album-01-song-30-59.mp3\"\n",
        );
        let root = dir.path().join("mp3");
        touch(&root.join("f/artist-album-01-song-0-29.mp3"));
        touch(&root.join("f/artist-album-01-song-30-59.mp3"));
        let mut s = spec(DatasetKind::Mtat, &csv);
        s.audio_root = Some(root.clone());
        let loaded = load(&s).unwrap();
        assert_eq!(ids(&loaded), vec!["2", "7"]);
        assert_eq!(loaded.untagged, 1);
        let first = &loaded.tracks[0];
        assert_eq!(first.tags, vec!["no voice", "classical"]);
        assert_eq!(first.path, root.join("f/artist-album-01-song-0-29.mp3"));
        assert_eq!(first.group, "f/artist-album-01-song");
        assert_eq!(loaded.tracks[1].group, first.group);
    }

    #[test]
    fn mtat_bad_values_name_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("annotations_final.csv");
        write(
            &csv,
            "clip_id\tguitar\tpiano\tmp3_path\n2\t1\t2\ta/x-0-29.mp3\n",
        );
        touch(&dir.path().join("a/x-0-29.mp3"));
        let text = load(&spec(DatasetKind::Mtat, &csv))
            .unwrap_err()
            .to_string();
        assert!(text.contains("annotations_final.csv:2:"), "{text}");
        assert!(text.contains("\"piano\" holds \"2\""), "{text}");

        write(&csv, "clip_id,guitar,mp3_path\n");
        let text = load(&spec(DatasetKind::Mtat, &csv))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains(":1:") && text.contains("TAB-separated"),
            "{text}"
        );
    }

    #[test]
    fn gtzan_folders_are_genres() {
        let dir = tempfile::tempdir().unwrap();
        let genres = dir.path().join("genres_original");
        touch(&genres.join("Rock/rock.00001.WAV"));
        touch(&genres.join("Rock/rock.00000.wav"));
        touch(&genres.join("blues/blues.00000.mp3"));
        touch(&genres.join("blues/notes.txt"));
        touch(&genres.join("blues/.DS_Store"));
        touch(&dir.path().join("features_30_sec.csv"));
        let loaded = load(&spec(DatasetKind::Gtzan, dir.path())).unwrap();
        // Sorted by path, bytewise: "Rock/" comes before "blues/".
        assert_eq!(
            ids(&loaded),
            vec!["rock.00000", "rock.00001", "blues.00000"]
        );
        assert_eq!(loaded.tracks[2].tags, vec!["blues"]);
        assert_eq!(loaded.tracks[1].tags, vec!["rock"]);
        assert_eq!(loaded.tracks[1].path, genres.join("Rock/rock.00001.WAV"));
    }

    #[test]
    fn gtzan_au_files_and_empty_folders_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("genres/jazz/jazz.00000.au"));
        touch(&dir.path().join("genres/jazz/jazz.00001.au"));
        let text = load(&spec(DatasetKind::Gtzan, dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("jazz.00000.au") && text.contains("2 .au"),
            "{text}"
        );
        assert!(text.contains("sox"), "{text}");

        let empty = tempfile::tempdir().unwrap();
        fs::create_dir(empty.path().join("jazz")).unwrap();
        assert!(matches!(
            load(&spec(DatasetKind::Gtzan, empty.path())),
            Err(DataError::Empty { .. })
        ));
    }

    #[test]
    fn msd_audio_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let id = "TRAAAAW128F429D538";
        assert_eq!(msd_audio_path(root, id), None);
        touch(&root.join(format!("{id}.mp3")));
        assert_eq!(
            msd_audio_path(root, id),
            Some(root.join(format!("{id}.mp3")))
        );
        touch(&root.join(format!("A/A/A/{id}.ogg")));
        assert_eq!(
            msd_audio_path(root, id),
            Some(root.join(format!("A/A/A/{id}.ogg")))
        );
        touch(&root.join(format!("A/A/A/{id}.mp3")));
        assert_eq!(
            msd_audio_path(root, id),
            Some(root.join(format!("A/A/A/{id}.mp3")))
        );
        assert_eq!(msd_audio_path(root, "TR"), None);
        assert!(is_msd_track_id(id));
        assert!(!is_msd_track_id("TRAAAAW128F429D53"));
        assert!(!is_msd_track_id("XXAAAAW128F429D538"));
        assert!(!is_msd_track_id("TRAAAAW128F429D53_"));
    }

    #[test]
    fn msd_tag_list() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("tags.tsv");
        write(
            &list,
            "# MSD tags\n\
             \n\
             TRAAAAW128F429D538\tRock\t90s\trock\n\
             TRBBBBW128F429D538\t\n\
             TRCCCCW128F429D538\tpop\n",
        );
        let audio = dir.path().join("audio");
        touch(&audio.join("A/A/A/TRAAAAW128F429D538.mp3"));
        touch(&audio.join("TRCCCCW128F429D538.flac"));
        let mut s = spec(DatasetKind::Msd, &list);
        let err = load(&s).unwrap_err();
        assert!(matches!(
            err,
            DataError::Config {
                field: "audio_root",
                ..
            }
        ));
        s.audio_root = Some(audio.clone());
        let loaded = load(&s).unwrap();
        assert_eq!(
            ids(&loaded),
            vec!["TRAAAAW128F429D538", "TRCCCCW128F429D538"]
        );
        assert_eq!(loaded.tracks[0].tags, vec!["rock", "90s"]);
        assert_eq!(loaded.tracks[1].path, audio.join("TRCCCCW128F429D538.flac"));
        assert_eq!(loaded.untagged, 1);

        write(
            &list,
            "TRAAAAW128F429D538\trock\nbogus\trock\nTRDDDDW128F429D538\tpop\n",
        );
        let text = load(&s).unwrap_err().to_string();
        assert!(
            text.contains("tags.tsv:2:") && text.contains("\"bogus\""),
            "{text}"
        );
        assert!(text.contains("tags.tsv:3: audio file"), "{text}");
        assert!(text.contains("D/D/D/TRDDDDW128F429D538.mp3"), "{text}");
    }

    #[test]
    fn msd_lastfm_json_tree() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("lastfm_train");
        write(
            &tree.join("A/A/A/TRAAAAW128F429D538.json"),
            r#"{"artist": "x", "track_id": "TRAAAAW128F429D538",
                "tags": [["Rock", "100"], ["90s", 42], ["guitar", 50], ["indie", "50.0"]],
                "similars": []}"#,
        );
        write(
            &tree.join("A/A/B/TRAAABW128F429D538.json"),
            r#"{"track_id": "TRAAABW128F429D538", "tags": [["pop", "10"]]}"#,
        );
        let audio = dir.path().join("audio");
        touch(&audio.join("A/A/A/TRAAAAW128F429D538.mp3"));
        let mut s = spec(DatasetKind::Msd, &tree);
        s.audio_root = Some(audio);
        let loaded = load(&s).unwrap();
        assert_eq!(ids(&loaded), vec!["TRAAAAW128F429D538"]);
        assert_eq!(loaded.tracks[0].tags, vec!["rock", "guitar", "indie"]);
        assert_eq!(loaded.untagged, 1);

        s.min_tag_weight = 40.0;
        assert_eq!(load(&s).unwrap().tracks[0].tags.len(), 4);

        let broken = tree.join("B/broken.json");
        write(&broken, "{\"track_id\": ");
        let bad_id = tree.join("C/bad.json");
        write(&bad_id, r#"{"track_id": "TR12", "tags": []}"#);
        let text = load(&s).unwrap_err().to_string();
        assert!(text.contains(&broken.display().to_string()), "{text}");
        assert!(text.contains(&bad_id.display().to_string()), "{text}");
        assert!(text.contains("\"TR12\""), "{text}");
    }
}
