//! The vocabulary file people write: parsing (pure, all errors at once) and resolving the
//! tags against a GloVe store.
//!
//! ```text
//! # comments run to the end of the line
//! jazz                             a tag is a word …
//! hip hop                          … or a phrase, whose vector is the mean of its words
//! chill = chillout mellow relaxing a label defined by other words (commas allowed)
//! metal @0.45                      a threshold of its own, a cosine in [-1, 1], last on the line
//! ```
//!
//! Labels keep the case they were written in; words are case-folded for lookup, and two
//! labels that differ only in case are an error since they would publish as the same tag.

use super::glove::{fold, GloveStore};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Longest line accepted, in bytes; longer ones are almost surely a pasted accident.
pub const MAX_LINE_BYTES: usize = 1000;
/// Spellings offered for an unknown word.
pub const MAX_SUGGESTIONS: usize = 3;

/// What is wrong with one line (or with the whole file when no line is to blame).
#[derive(Debug, thiserror::Error)]
pub enum VocabErrorKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[source] std::io::Error),
    /// The line's bytes are not UTF-8.
    #[error("the line is not valid UTF-8 (save the file as UTF-8)")]
    NotUtf8,
    /// The line is longer than [`MAX_LINE_BYTES`].
    #[error("the line is {len} bytes long; the limit is {max}")]
    LineTooLong {
        /// Bytes in the line.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Nothing names the tag (`= chillout`, or a bare `@0.4`).
    #[error("no tag name before {what}")]
    EmptyLabel {
        /// What came without a name: `'='` or `the threshold`.
        what: &'static str,
    },
    /// `label =` with nothing after the `=`.
    #[error("\"{label} =\" defines the tag with no words; list words after '=' or drop the '='")]
    EmptyDefinition {
        /// The label as written.
        label: String,
    },
    /// More than one `=` on a line.
    #[error("more than one '=' on the line; write `label = word word …`")]
    MultipleEquals,
    /// The text after `@` is not a number.
    #[error("threshold \"{text}\" is not a number; write e.g. @0.3")]
    BadThreshold {
        /// The threshold as written, `@` included.
        text: String,
    },
    /// The threshold is outside the cosine range.
    #[error("threshold {value} is outside [-1, 1] (it is a cosine similarity)")]
    ThresholdOutOfRange {
        /// The value given.
        value: f32,
    },
    /// Two `@` thresholds on one line.
    #[error("more than one @threshold on the line")]
    MultipleThresholds,
    /// An `@` threshold followed by more words.
    #[error("the @threshold must come last on the line")]
    MisplacedThreshold,
    /// A label defined twice.
    #[error("tag \"{label}\" is already defined on line {first_line}")]
    DuplicateLabel {
        /// The label.
        label: String,
        /// Where it was first defined.
        first_line: usize,
    },
    /// A label that equals an earlier one apart from case.
    #[error(
        "tag \"{label}\" differs only in case from \"{other}\" on line {first_line}; \
         tags are matched without case, keep one spelling"
    )]
    CaseConflict {
        /// The label on this line.
        label: String,
        /// The earlier spelling.
        other: String,
        /// Where the earlier spelling is.
        first_line: usize,
    },
    /// A word not in the GloVe store.
    #[error("\"{word}\" is not in {glove}{}", suggestion_text(.suggestions))]
    UnknownWord {
        /// The word, case-folded.
        word: String,
        /// Identity of the store searched.
        glove: String,
        /// Nearest known spellings, best first.
        suggestions: Vec<String>,
    },
    /// The file defines no tag at all.
    #[error("no tags defined (only blank lines and comments)")]
    NoTags,
}

fn suggestion_text(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        "; no similar word found".to_string()
    } else {
        format!("; did you mean: {}?", suggestions.join(", "))
    }
}

/// One problem in a vocabulary file, with the file and (mostly) the line it is on.
#[derive(Debug)]
pub struct VocabError {
    /// The vocabulary file.
    pub path: PathBuf,
    /// 1-based line number; `None` for whole-file problems.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: VocabErrorKind,
}

impl fmt::Display for VocabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.kind),
            None => write!(f, "{}: {}", self.path.display(), self.kind),
        }
    }
}

impl std::error::Error for VocabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// Every problem found in a vocabulary file; displays one `path:line: message` a line.
#[derive(Debug)]
pub struct VocabErrors(pub Vec<VocabError>);

impl VocabErrors {
    /// The problems, in line order.
    pub fn errors(&self) -> &[VocabError] {
        &self.0
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none (a value of this type normally has at least one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for VocabErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VocabErrors {}

/// One tag as written in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDef {
    /// 1-based line number.
    pub line: usize,
    /// The tag's name as written, whitespace collapsed (`hip hop`, `chill`).
    pub label: String,
    /// Case-folded words whose mean vector stands for the tag.
    pub words: Vec<String>,
    /// The tag's own threshold, if given.
    pub threshold: Option<f32>,
}

/// A parsed vocabulary file, not yet checked against GloVe.
#[derive(Debug, Clone, PartialEq)]
pub struct VocabFile {
    path: PathBuf,
    identity: String,
    tags: Vec<TagDef>,
}

/// Short SHA-256 (12 hex digits) of a file's bytes, naming which vocabulary made a tag.
pub fn text_identity(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

impl VocabFile {
    /// Parses vocabulary text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<VocabFile, VocabErrors> {
        Self::parse_bytes(text.as_bytes(), path)
    }

    /// Parses vocabulary bytes, reporting non-UTF-8 lines as errors of their own.
    pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<VocabFile, VocabErrors> {
        let (file, errors) = Self::parse_partial(bytes, path);
        if errors.is_empty() {
            Ok(file)
        } else {
            Err(VocabErrors(errors))
        }
    }

    /// Reads and parses a vocabulary file.
    pub fn load(path: &Path) -> Result<VocabFile, VocabErrors> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse_bytes(&bytes, path),
            Err(e) => Err(VocabErrors(vec![VocabError {
                path: path.to_path_buf(),
                line: None,
                kind: VocabErrorKind::Io(e),
            }])),
        }
    }

    /// Parses what can be parsed and returns it with every error, for reports like
    /// `hark vocab check` that show the good lines next to the bad ones.
    pub fn parse_partial(bytes: &[u8], path: &Path) -> (VocabFile, Vec<VocabError>) {
        let mut errors = Vec::new();
        let mut tags: Vec<TagDef> = Vec::new();
        // Folded label -> index into tags, to catch duplicates.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let err = |line: usize, kind: VocabErrorKind| VocabError {
            path: path.to_path_buf(),
            line: Some(line),
            kind,
        };
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line_no = i + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.len() > MAX_LINE_BYTES {
                errors.push(err(
                    line_no,
                    VocabErrorKind::LineTooLong {
                        len: raw.len(),
                        max: MAX_LINE_BYTES,
                    },
                ));
                continue;
            }
            let Ok(text) = std::str::from_utf8(raw) else {
                errors.push(err(line_no, VocabErrorKind::NotUtf8));
                continue;
            };
            match parse_line(text, line_no) {
                Ok(None) => {}
                Ok(Some(tag)) => {
                    let key = fold(&tag.label);
                    if let Some(&j) = seen.get(&key) {
                        let first = &tags[j];
                        let kind = if first.label == tag.label {
                            VocabErrorKind::DuplicateLabel {
                                label: tag.label.clone(),
                                first_line: first.line,
                            }
                        } else {
                            VocabErrorKind::CaseConflict {
                                label: tag.label.clone(),
                                other: first.label.clone(),
                                first_line: first.line,
                            }
                        };
                        errors.push(err(line_no, kind));
                    } else {
                        seen.insert(key, tags.len());
                        tags.push(tag);
                    }
                }
                Err(kinds) => errors.extend(kinds.into_iter().map(|k| err(line_no, k))),
            }
        }
        if tags.is_empty() && errors.is_empty() {
            errors.push(VocabError {
                path: path.to_path_buf(),
                line: None,
                kind: VocabErrorKind::NoTags,
            });
        }
        let file = VocabFile {
            path: path.to_path_buf(),
            identity: text_identity(bytes),
            tags,
        };
        (file, errors)
    }

    /// The file this came from (as given to parse or load).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Short SHA-256 of the file's bytes.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The tags, in file order.
    pub fn tags(&self) -> &[TagDef] {
        &self.tags
    }

    /// Looks every tag up in `store`; fails with every unknown word if any is missing.
    pub fn resolve(&self, store: &GloveStore) -> Result<ResolvedVocab, VocabErrors> {
        let (vocab, errors) = self.resolve_partial(store);
        if errors.is_empty() {
            Ok(vocab)
        } else {
            Err(VocabErrors(errors))
        }
    }

    /// Resolves the tags that can be resolved and lists the unknown words of the rest.
    pub fn resolve_partial(&self, store: &GloveStore) -> (ResolvedVocab, Vec<VocabError>) {
        let mut errors = Vec::new();
        let mut tags = Vec::new();
        for tag in &self.tags {
            match store.mean_vector(&tag.words) {
                Ok(vector) => tags.push(ResolvedTag {
                    label: tag.label.clone(),
                    line: tag.line,
                    words: tag.words.clone(),
                    threshold: tag.threshold,
                    vector,
                }),
                Err(_) => {
                    let mut reported: Vec<&str> = Vec::new();
                    for word in &tag.words {
                        if store.contains(word) || reported.contains(&word.as_str()) {
                            continue;
                        }
                        reported.push(word);
                        errors.push(VocabError {
                            path: self.path.clone(),
                            line: Some(tag.line),
                            kind: VocabErrorKind::UnknownWord {
                                word: word.clone(),
                                glove: store.identity().to_string(),
                                suggestions: store.suggest(word, MAX_SUGGESTIONS),
                            },
                        });
                    }
                }
            }
        }
        let vocab = ResolvedVocab {
            path: self.path.clone(),
            identity: self.identity.clone(),
            glove: store.identity().to_string(),
            dim: store.dim(),
            tags,
        };
        (vocab, errors)
    }
}

/// Splits a line's words on whitespace and commas.
fn words_of(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect()
}

/// Parses one line: `Ok(None)` for blank or comment lines, every problem otherwise.
fn parse_line(text: &str, line: usize) -> Result<Option<TagDef>, Vec<VocabErrorKind>> {
    let content = match text.find('#') {
        Some(at) => &text[..at],
        None => text,
    };
    if content.trim().is_empty() {
        return Ok(None);
    }
    let mut errors = Vec::new();

    // Pull out the threshold: an `@` token, allowed only last (`@ 0.4` is read as `@0.4`).
    let tokens: Vec<&str> = content.split_whitespace().collect();
    let at_positions: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| t.starts_with('@'))
        .map(|(i, _)| i)
        .collect();
    let mut threshold = None;
    let mut body_end = tokens.len();
    if at_positions.len() > 1 {
        errors.push(VocabErrorKind::MultipleThresholds);
    } else if let Some(&pos) = at_positions.first() {
        let (text, last) = if tokens[pos] == "@" && pos + 2 == tokens.len() {
            (format!("@{}", tokens[pos + 1]), true)
        } else {
            (tokens[pos].to_string(), pos + 1 == tokens.len())
        };
        if !last {
            errors.push(VocabErrorKind::MisplacedThreshold);
        } else {
            body_end = pos;
            match text[1..].parse::<f32>() {
                Ok(v) if v.is_finite() && (-1.0..=1.0).contains(&v) => threshold = Some(v),
                Ok(v) if v.is_finite() => {
                    errors.push(VocabErrorKind::ThresholdOutOfRange { value: v })
                }
                _ => errors.push(VocabErrorKind::BadThreshold { text }),
            }
        }
    }
    let body = tokens[..body_end].join(" ");

    let mut parts = body.splitn(3, '=');
    let label_part = parts.next().unwrap_or("");
    let definition = parts.next();
    if parts.next().is_some() {
        errors.push(VocabErrorKind::MultipleEquals);
        return Err(errors);
    }
    let label = label_part.split_whitespace().collect::<Vec<_>>().join(" ");
    let label_words = words_of(label_part);
    if label_words.is_empty() {
        errors.push(VocabErrorKind::EmptyLabel {
            what: if definition.is_some() {
                "'='"
            } else {
                "the threshold"
            },
        });
        return Err(errors);
    }
    let words: Vec<String> = match definition {
        Some(def) => {
            let def_words = words_of(def);
            if def_words.is_empty() {
                errors.push(VocabErrorKind::EmptyDefinition {
                    label: label.clone(),
                });
            }
            def_words.into_iter().map(fold).collect()
        }
        None => label_words.into_iter().map(fold).collect(),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Some(TagDef {
        line,
        label,
        words,
        threshold,
    }))
}

/// One tag ready for the word encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTag {
    /// The tag's name as written.
    pub label: String,
    /// 1-based line in the vocabulary file.
    pub line: usize,
    /// Case-folded words averaged into `vector`.
    pub words: Vec<String>,
    /// The tag's own threshold, if given.
    pub threshold: Option<f32>,
    /// Mean GloVe vector of `words` (length = the store's dim).
    pub vector: Vec<f32>,
}

/// A vocabulary whose every tag has a GloVe vector.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedVocab {
    path: PathBuf,
    identity: String,
    glove: String,
    dim: usize,
    tags: Vec<ResolvedTag>,
}

impl ResolvedVocab {
    /// Short SHA-256 of the vocabulary file's bytes, to say which vocabulary made a tag.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Identity of the GloVe store the vectors came from.
    pub fn glove_identity(&self) -> &str {
        &self.glove
    }

    /// Length of every tag vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The vocabulary file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tags, in file order.
    pub fn tags(&self) -> &[ResolvedTag] {
        &self.tags
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// True when there are no tags.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

/// Outcome of `hark vocab check`: what each good tag resolves to, and every error.
#[derive(Debug)]
pub struct CheckReport {
    /// The tags that resolved (all of them when `errors` is empty).
    pub vocab: ResolvedVocab,
    /// Parse and lookup errors, parse errors first.
    pub errors: Vec<VocabError>,
}

impl CheckReport {
    /// Whether the file would be accepted by the daemon.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for CheckReport {
    /// One line per resolved tag (`line  label  = word + word  @threshold`), then a summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .vocab
            .tags
            .iter()
            .map(|t| t.label.chars().count())
            .max()
            .unwrap_or(0)
            .min(32);
        for t in &self.vocab.tags {
            write!(
                f,
                "{:>5}  {:<width$}  = {}",
                t.line,
                t.label,
                t.words.join(" + ")
            )?;
            if let Some(th) = t.threshold {
                write!(f, "  @{th}")?;
            }
            writeln!(f)?;
        }
        write!(
            f,
            "{}: {} tags resolved against {} ({}d), vocabulary id {}",
            self.vocab.path.display(),
            self.vocab.tags.len(),
            self.vocab.glove,
            self.vocab.dim,
            self.vocab.identity
        )?;
        if !self.errors.is_empty() {
            write!(f, "; {} error(s)", self.errors.len())?;
        }
        Ok(())
    }
}

/// Parses and resolves a vocabulary file, collecting every error rather than stopping.
pub fn check(path: &Path, store: &GloveStore) -> CheckReport {
    let (file, mut errors) = match std::fs::read(path) {
        Ok(bytes) => VocabFile::parse_partial(&bytes, path),
        Err(e) => {
            let errors = vec![VocabError {
                path: path.to_path_buf(),
                line: None,
                kind: VocabErrorKind::Io(e),
            }];
            (VocabFile::parse_partial(b"", path).0, errors)
        }
    };
    let (vocab, lookup) = file.resolve_partial(store);
    errors.extend(lookup);
    errors.sort_by_key(|e| e.line.unwrap_or(0));
    CheckReport { vocab, errors }
}
