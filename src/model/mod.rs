//! The model contract: `model.toml`, the audio and word encoders run through tract, and
//! the pure-Rust ONNX exporter that hark-train uses to write them.

pub mod export;
pub mod reference;

use crate::frontend::FrontendParams;
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tract_onnx::pb;
use tract_onnx::prelude::{
    tvec, Datum, Framework, InferenceFact, InferenceModelExt, IntoRunnable, IntoTValue, TDim,
    Tensor, TractError, TypedModel, TypedRunnableModel,
};
use tract_onnx::tract_hir::infer::Factoid;

/// Everything the daemon needs to know about a model directory, read from `model.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    /// Short model name, e.g. `hark-default`.
    pub name: String,
    /// Model version string.
    pub version: String,
    /// One line saying what the model is (and, for test models, that it is untrained).
    #[serde(default)]
    pub description: String,
    /// Joint embedding size D shared by both branches.
    pub embedding_dim: usize,
    /// GloVe vector size G expected by the word branch.
    pub glove_dim: usize,
    /// Identity of the GloVe vectors the word branch was trained with (e.g. `glove-6b-50d`).
    pub glove: String,
    /// Recommended global cosine threshold for tags.
    pub score_threshold: f32,
    /// Front-end settings the audio branch was trained with.
    pub frontend: FrontendParams,
    /// ONNX file names, relative to the model directory.
    #[serde(default)]
    pub files: ModelFiles,
    /// Free-form training report (metrics, settings), carried through unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub training: BTreeMap<String, toml::Value>,
}

/// Names of the two ONNX files inside a model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFiles {
    /// Audio encoder: input `mel` [N, frames, mels], output `embedding` [N, D].
    pub audio: String,
    /// Word encoder: input `word` [N, G], output `embedding` [N, D].
    pub word: String,
}

impl Default for ModelFiles {
    fn default() -> Self {
        Self {
            audio: "audio.onnx".into(),
            word: "word.onnx".into(),
        }
    }
}

/// File name of the manifest inside a model directory.
pub const MANIFEST_FILE: &str = "model.toml";

/// Largest batch of windows handed to tract in one run. Longer inputs are cut into chunks:
/// memory stays bounded, and on x86 (release, one core) 2–8 windows ran at ≈0.36 ms each
/// while 32–64 ran at ≈0.55 ms, the activations falling out of cache.
pub const AUDIO_MAX_BATCH: usize = 8;

/// Largest batch of word vectors handed to tract in one run (a dense layer: big batches
/// are cheap, this only bounds memory).
pub const WORD_MAX_BATCH: usize = 256;

/// Everything that can go wrong reading, checking, running or writing a model. Every
/// variant that comes from a file names it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A model file named by `model.toml` is missing or unreadable.
    #[error("{}: cannot read this file (named by model.toml {field}): {source}", path.display())]
    MissingFile {
        /// The file model.toml points at.
        path: PathBuf,
        /// The model.toml field that names it (`files.audio`, `files.word`).
        field: &'static str,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// `model.toml` is not valid TOML or does not fit the manifest's fields.
    #[error("{}{}: {message}", path.display(), position(*line, *column))]
    Toml {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line of the problem (0 when the parser gave no position).
        line: usize,
        /// 1-based column of the problem (0 when the parser gave no position).
        column: usize,
        /// What the TOML parser said, e.g. "missing field `glove_dim`".
        message: String,
    },
    /// A manifest field has a value the model cannot work with.
    #[error("{}: field `{field}`: {problem}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Dotted field name, e.g. `frontend.window_frames`.
        field: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// The manifest could not be turned into TOML.
    #[error("{}: cannot serialise the manifest: {message}", path.display())]
    TomlWrite {
        /// The manifest file being written.
        path: PathBuf,
        /// What the serialiser said.
        message: String,
    },
    /// An ONNX file is not a protobuf ONNX model tract can parse or analyse.
    #[error("{}: not a usable ONNX model: {message}", path.display())]
    Onnx {
        /// The ONNX file.
        path: PathBuf,
        /// tract's error chain.
        message: String,
    },
    /// An ONNX file's input or output disagrees with `model.toml`.
    #[error("{}: {tensor} has {found} but model.toml {field} = {expected}", path.display())]
    ShapeMismatch {
        /// The ONNX file.
        path: PathBuf,
        /// Which tensor and axis, e.g. "output `embedding`".
        tensor: String,
        /// What the ONNX file says, with its unit, e.g. "64 columns".
        found: String,
        /// The disagreeing model.toml field.
        field: &'static str,
        /// The model.toml value.
        expected: String,
    },
    /// An ONNX file breaks the model contract in a way no manifest field can fix (names,
    /// ranks, types).
    #[error("{}: {problem}", path.display())]
    Contract {
        /// The ONNX file.
        path: PathBuf,
        /// What the contract wants and what the file has.
        problem: String,
    },
    /// A caller passed a buffer whose length does not fit the batch size.
    #[error("{what}: {found} values given but {n} items × {per_item} = {} expected", n * per_item)]
    InputLength {
        /// Which input.
        what: &'static str,
        /// Values given.
        found: usize,
        /// Items the caller said the buffer holds.
        n: usize,
        /// Values per item.
        per_item: usize,
    },
    /// tract failed while running a model that had loaded fine.
    #[error("{}: inference failed: {message}", path.display())]
    Inference {
        /// The ONNX file.
        path: PathBuf,
        /// tract's error chain.
        message: String,
    },
    /// Weights handed to the exporter or the reference do not fit the architecture.
    #[error("{what}: {problem}")]
    Weights {
        /// Which layer or tensor.
        what: String,
        /// What is wrong.
        problem: String,
    },
}

impl ModelManifest {
    /// Reads and checks `model.toml`; errors name the file and the line or field.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let manifest: Self = toml::from_str(&text).map_err(|e| {
            // A span over the whole document (e.g. a missing field) locates nothing.
            let (line, column) = match e.span() {
                Some(span) if !(span.start == 0 && span.end >= text.len()) => {
                    line_and_column(&text, span.start)
                }
                _ => (0, 0),
            };
            ModelError::Toml {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Writes the manifest as TOML (through a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        self.validate(path)?;
        let text = toml::to_string_pretty(self).map_err(|e| ModelError::TomlWrite {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        export::write_atomically(path, text.as_bytes())
    }

    /// Checks the values the model code relies on; `path` only labels the errors.
    pub fn validate(&self, path: &Path) -> Result<(), ModelError> {
        let bad = |field: &'static str, problem: String| ModelError::Manifest {
            path: path.to_path_buf(),
            field,
            problem,
        };
        if self.name.trim().is_empty() {
            return Err(bad("name", "is empty".into()));
        }
        if self.embedding_dim == 0 {
            return Err(bad("embedding_dim", "must be at least 1".into()));
        }
        if self.glove_dim == 0 {
            return Err(bad("glove_dim", "must be at least 1".into()));
        }
        if !self.score_threshold.is_finite() || !(-1.0..=1.0).contains(&self.score_threshold) {
            return Err(bad(
                "score_threshold",
                format!("{} is not a cosine in [-1, 1]", self.score_threshold),
            ));
        }
        if self.frontend.n_mels == 0 {
            return Err(bad("frontend.n_mels", "must be at least 1".into()));
        }
        if self.frontend.window_frames == 0 {
            return Err(bad("frontend.window_frames", "must be at least 1".into()));
        }
        for (field, file) in [
            ("files.audio", &self.files.audio),
            ("files.word", &self.files.word),
        ] {
            let p = Path::new(file);
            if file.is_empty() || p.is_absolute() || p.components().count() != 1 {
                return Err(bad(
                    field,
                    format!("`{file}` must be a plain file name inside the model directory"),
                ));
            }
        }
        Ok(())
    }
}

/// `:line:column`, or nothing when the parser gave no useful position.
fn position(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}:{column}")
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    // `get` rather than indexing: an offset inside a multi-byte character must not panic.
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A loaded model directory: the manifest and both encoders, ready to run.
#[derive(Debug)]
pub struct Model {
    /// The parsed and checked `model.toml`.
    pub manifest: ModelManifest,
    /// The audio branch (`audio.onnx`).
    pub audio: AudioEncoder,
    /// The word branch (`word.onnx`).
    pub word: WordEncoder,
    dir: PathBuf,
    digest: String,
}

impl Model {
    /// Loads `model.toml` and both ONNX files from `dir`, checks that they agree, and
    /// prepares tract plans for them.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let started = Instant::now();
        let manifest = ModelManifest::load(&dir.join(MANIFEST_FILE))?;
        let audio_path = dir.join(&manifest.files.audio);
        let word_path = dir.join(&manifest.files.word);
        let audio_bytes = read_model_file(&audio_path, "files.audio")?;
        let word_bytes = read_model_file(&word_path, "files.word")?;
        let audio = AudioEncoder::from_bytes(&audio_path, &audio_bytes, &manifest)?;
        let word = WordEncoder::from_bytes(&word_path, &word_bytes, &manifest)?;
        let mut hasher = Sha256::new();
        hasher.update(&audio_bytes);
        hasher.update(&word_bytes);
        let digest: String = hasher
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        let model = Self {
            manifest,
            audio,
            word,
            dir: dir.to_path_buf(),
            digest,
        };
        tracing::info!(
            dir = %dir.display(),
            identity = %model.identity(),
            embedding_dim = model.manifest.embedding_dim,
            glove_dim = model.manifest.glove_dim,
            millis = started.elapsed().as_secs_f64() * 1e3,
            "model loaded"
        );
        Ok(model)
    }

    /// `name@version+<first 12 hex digits of sha256(audio.onnx ‖ word.onnx)>`, so two boxes
    /// reporting the same identity ran the same bytes.
    pub fn identity(&self) -> String {
        format!(
            "{}@{}+{}",
            self.manifest.name, self.manifest.version, self.digest
        )
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn read_model_file(path: &Path, field: &'static str) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|source| ModelError::MissingFile {
        path: path.to_path_buf(),
        field,
        source,
    })
}

/// The audio branch: mel windows `[N, frames, mels]` → embeddings `[N, D]`.
#[derive(Debug)]
pub struct AudioEncoder {
    encoder: Encoder,
}

impl AudioEncoder {
    /// Loads and checks an audio encoder file against the manifest.
    pub fn load(path: &Path, manifest: &ModelManifest) -> Result<Self, ModelError> {
        let bytes = read_model_file(path, "files.audio")?;
        Self::from_bytes(path, &bytes, manifest)
    }

    /// Parses ONNX bytes (`path` labels errors) and checks them against the manifest.
    pub fn from_bytes(
        path: &Path,
        bytes: &[u8],
        manifest: &ModelManifest,
    ) -> Result<Self, ModelError> {
        let spec = EncoderSpec {
            input_name: export::AUDIO_INPUT,
            item_dims: vec![
                ItemDim {
                    size: manifest.frontend.window_frames,
                    unit: "frames",
                    field: "frontend.window_frames",
                },
                ItemDim {
                    size: manifest.frontend.n_mels,
                    unit: "mel bands",
                    field: "frontend.n_mels",
                },
            ],
            dim: manifest.embedding_dim,
            max_batch: AUDIO_MAX_BATCH,
        };
        Ok(Self {
            encoder: Encoder::from_bytes(path, bytes, spec)?,
        })
    }

    /// Embeds `n` windows laid out `[n][frames][mels]`; returns `n × D` values, row-major.
    pub fn embed(&self, windows: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        self.encoder.embed(windows, n, "audio windows")
    }

    /// Embedding size D.
    pub fn dim(&self) -> usize {
        self.encoder.dim
    }

    /// Frames per window the encoder takes.
    pub fn window_frames(&self) -> usize {
        self.encoder.item_shape[0]
    }

    /// Mel bands per frame the encoder takes.
    pub fn n_mels(&self) -> usize {
        self.encoder.item_shape[1]
    }
}

/// The word branch: GloVe vectors `[N, G]` → embeddings `[N, D]`.
#[derive(Debug)]
pub struct WordEncoder {
    encoder: Encoder,
}

impl WordEncoder {
    /// Loads and checks a word encoder file against the manifest.
    pub fn load(path: &Path, manifest: &ModelManifest) -> Result<Self, ModelError> {
        let bytes = read_model_file(path, "files.word")?;
        Self::from_bytes(path, &bytes, manifest)
    }

    /// Parses ONNX bytes (`path` labels errors) and checks them against the manifest.
    pub fn from_bytes(
        path: &Path,
        bytes: &[u8],
        manifest: &ModelManifest,
    ) -> Result<Self, ModelError> {
        let spec = EncoderSpec {
            input_name: export::WORD_INPUT,
            item_dims: vec![ItemDim {
                size: manifest.glove_dim,
                unit: "columns",
                field: "glove_dim",
            }],
            dim: manifest.embedding_dim,
            max_batch: WORD_MAX_BATCH,
        };
        Ok(Self {
            encoder: Encoder::from_bytes(path, bytes, spec)?,
        })
    }

    /// Embeds `n` GloVe vectors laid out `[n][G]`; returns `n × D` values, row-major.
    pub fn embed(&self, vectors: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        self.encoder.embed(vectors, n, "word vectors")
    }

    /// Embedding size D.
    pub fn dim(&self) -> usize {
        self.encoder.dim
    }

    /// GloVe vector size G the encoder takes.
    pub fn glove_dim(&self) -> usize {
        self.encoder.item_shape[0]
    }
}

/// One per-item axis the manifest fixes, with the words used to report a disagreement.
struct ItemDim {
    size: usize,
    unit: &'static str,
    field: &'static str,
}

/// What the contract expects of one ONNX file.
struct EncoderSpec {
    input_name: &'static str,
    item_dims: Vec<ItemDim>,
    dim: usize,
    max_batch: usize,
}

type Plan = Arc<TypedRunnableModel>;

/// A checked, optimised tract plan plus the shapes it was checked against.
struct Encoder {
    path: PathBuf,
    item_shape: Vec<usize>,
    item_len: usize,
    dim: usize,
    max_batch: usize,
    batching: Batching,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("path", &self.path)
            .field("item_shape", &self.item_shape)
            .field("dim", &self.dim)
            .field("batching", &self.batching)
            .finish()
    }
}

/// How batches are mapped onto plans.
enum Batching {
    /// The file has a symbolic batch axis: one plan for batches of two and more, and one
    /// concretised for a single item, the daemon's steady-state case.
    Symbolic { any: Plan, single: Plan },
    /// The file fixes the batch size; shorter batches are zero-padded up to it.
    Fixed { size: usize, plan: Plan },
}

impl std::fmt::Debug for Batching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Symbolic { .. } => f.write_str("Symbolic"),
            Self::Fixed { size, .. } => write!(f, "Fixed({size})"),
        }
    }
}

impl Encoder {
    fn from_bytes(path: &Path, bytes: &[u8], spec: EncoderSpec) -> Result<Self, ModelError> {
        // tract is not ours to audit for panics on hostile files; a bad model file must come
        // back as an error naming it, not bring the daemon down.
        match std::panic::catch_unwind(AssertUnwindSafe(|| Self::build(path, bytes, &spec))) {
            Ok(result) => result,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "tract panicked".into());
                Err(ModelError::Onnx {
                    path: path.to_path_buf(),
                    message: format!("tract panicked while loading: {message}"),
                })
            }
        }
    }

    fn build(path: &Path, bytes: &[u8], spec: &EncoderSpec) -> Result<Self, ModelError> {
        let onnx_err = |e: TractError| ModelError::Onnx {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        };
        let contract = |problem: String| ModelError::Contract {
            path: path.to_path_buf(),
            problem,
        };
        let proto = pb::ModelProto::decode(bytes).map_err(|e| ModelError::Onnx {
            path: path.to_path_buf(),
            message: format!("protobuf decoding failed: {e}"),
        })?;
        if proto.graph.is_none() {
            return Err(ModelError::Onnx {
                path: path.to_path_buf(),
                message: "the file holds no graph".into(),
            });
        }
        let mut model = tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .map_err(onnx_err)?;

        let inputs = model.input_outlets().map_err(onnx_err)?.to_vec();
        let outputs = model.output_outlets().map_err(onnx_err)?.to_vec();
        if inputs.len() != 1 || outputs.len() != 1 {
            return Err(contract(format!(
                "has {} inputs and {} outputs; the contract wants one input `{}` and one \
                 output `{}`",
                inputs.len(),
                outputs.len(),
                spec.input_name,
                export::OUTPUT
            )));
        }
        let input_name = model.node(inputs[0].node).name.clone();
        if input_name != spec.input_name {
            return Err(contract(format!(
                "input is named `{input_name}`; the contract wants `{}`",
                spec.input_name
            )));
        }
        let output_name = model
            .outlet_label(outputs[0])
            .unwrap_or_default()
            .to_string();
        if output_name != export::OUTPUT {
            return Err(contract(format!(
                "output is named `{output_name}`; the contract wants `{}`",
                export::OUTPUT
            )));
        }

        // Compare what the file declares for its input with the manifest before tract
        // analyses anything, so the error names the manifest field rather than a node.
        let declared = model.input_fact(0).map_err(onnx_err)?.clone();
        if let Some(dt) = declared.datum_type.concretize() {
            if dt != f32::datum_type() {
                return Err(contract(format!(
                    "input `{input_name}` is {dt:?}; the contract wants f32"
                )));
            }
        }
        let rank = 1 + spec.item_dims.len();
        if let Some(found) = declared.shape.rank().concretize() {
            if found as usize != rank {
                return Err(contract(format!(
                    "input `{input_name}` has rank {found}; the contract wants rank {rank} \
                     [N{}]",
                    spec.item_dims
                        .iter()
                        .map(|d| format!(", {}", d.size))
                        .collect::<String>()
                )));
            }
        }
        let mut fixed_batch = None;
        let dims: Vec<_> = declared.shape.dims().cloned().collect();
        if let Some(batch) = dims.first().and_then(|d| d.concretize()) {
            if let Ok(b) = batch.to_i64() {
                fixed_batch =
                    Some(usize::try_from(b).ok().filter(|&b| b > 0).ok_or_else(|| {
                        contract(format!("input `{input_name}` has batch dimension {b}"))
                    })?);
            }
        }
        for (axis, item) in spec.item_dims.iter().enumerate() {
            let found = dims.get(axis + 1).and_then(|d| d.concretize());
            if let Some(found) = found {
                if found.to_i64().ok() != Some(item.size as i64) {
                    return Err(ModelError::ShapeMismatch {
                        path: path.to_path_buf(),
                        tensor: format!("input `{input_name}` (axis {})", axis + 1),
                        found: format!("{found} {}", item.unit),
                        field: item.field,
                        expected: item.size.to_string(),
                    });
                }
            }
        }

        let batch_sym = model.sym(export::BATCH_DIM);
        let batch_dim: TDim = match fixed_batch {
            Some(b) => b.into(),
            None => batch_sym.clone().into(),
        };
        let mut shape: Vec<TDim> = vec![batch_dim.clone()];
        shape.extend(spec.item_dims.iter().map(|d| TDim::from(d.size)));
        model
            .set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))
            .map_err(onnx_err)?;
        let typed = model.into_typed().map_err(|e| ModelError::Onnx {
            path: path.to_path_buf(),
            message: format!(
                "analysis with input [N{}] from model.toml failed: {e:#}",
                spec.item_dims
                    .iter()
                    .map(|d| format!(", {}", d.size))
                    .collect::<String>()
            ),
        })?;

        let out = typed.output_fact(0).map_err(onnx_err)?;
        if out.datum_type != f32::datum_type() {
            return Err(contract(format!(
                "output `{output_name}` is {:?}; the contract wants f32",
                out.datum_type
            )));
        }
        if out.rank() != 2 {
            return Err(contract(format!(
                "output `{output_name}` has shape {:?}; the contract wants [N, D]",
                out.shape
            )));
        }
        if out.shape[0] != batch_dim {
            return Err(contract(format!(
                "output `{output_name}` has {} rows for a batch of {batch_dim}",
                out.shape[0]
            )));
        }
        match out.shape[1].to_i64() {
            Ok(d) if d == spec.dim as i64 => {}
            Ok(d) => {
                return Err(ModelError::ShapeMismatch {
                    path: path.to_path_buf(),
                    tensor: format!("output `{output_name}`"),
                    found: format!("{d} columns"),
                    field: "embedding_dim",
                    expected: spec.dim.to_string(),
                })
            }
            Err(_) => {
                return Err(contract(format!(
                    "output `{output_name}` has {} columns, not a fixed number",
                    out.shape[1]
                )))
            }
        }

        let optimise = |m: TypedModel| -> Result<Plan, ModelError> {
            m.into_optimized()
                .and_then(|m| m.into_runnable())
                .map_err(onnx_err)
        };
        let batching = match fixed_batch {
            Some(size) => Batching::Fixed {
                size,
                plan: optimise(typed)?,
            },
            None => {
                let one = HashMap::from([(batch_sym, TDim::from(1))]);
                let single = optimise(typed.set_symbols(&one).map_err(onnx_err)?)?;
                Batching::Symbolic {
                    any: optimise(typed)?,
                    single,
                }
            }
        };
        let item_shape: Vec<usize> = spec.item_dims.iter().map(|d| d.size).collect();
        Ok(Self {
            path: path.to_path_buf(),
            item_len: item_shape.iter().product(),
            item_shape,
            dim: spec.dim,
            max_batch: spec.max_batch,
            batching,
        })
    }

    fn embed(&self, data: &[f32], n: usize, what: &'static str) -> Result<Vec<f32>, ModelError> {
        if n.checked_mul(self.item_len) != Some(data.len()) {
            return Err(ModelError::InputLength {
                what,
                found: data.len(),
                n,
                per_item: self.item_len,
            });
        }
        let mut out = Vec::with_capacity(n * self.dim);
        let chunk_items = match &self.batching {
            Batching::Symbolic { .. } => self.max_batch,
            Batching::Fixed { size, .. } => *size,
        };
        for chunk in data.chunks(chunk_items * self.item_len) {
            let items = chunk.len() / self.item_len;
            let rows = self.run_chunk(chunk, items)?;
            out.extend_from_slice(&rows[..items * self.dim]);
        }
        Ok(out)
    }

    /// Runs one chunk of at most one batch; returns at least `items × D` values.
    fn run_chunk(&self, chunk: &[f32], items: usize) -> Result<Vec<f32>, ModelError> {
        let fail = |e: TractError| ModelError::Inference {
            path: self.path.clone(),
            message: format!("{e:#}"),
        };
        let (plan, batch, padded);
        let data = match &self.batching {
            Batching::Symbolic { any, single } => {
                plan = if items == 1 { single } else { any };
                batch = items;
                chunk
            }
            Batching::Fixed { size, plan: p } => {
                plan = p;
                batch = *size;
                if items == *size {
                    chunk
                } else {
                    padded = {
                        let mut v = chunk.to_vec();
                        v.resize(size * self.item_len, 0.0);
                        v
                    };
                    &padded
                }
            }
        };
        let mut shape = vec![batch];
        shape.extend_from_slice(&self.item_shape);
        let input = Tensor::from_shape(&shape, data).map_err(fail)?;
        let result = plan.run(tvec!(input.into_tvalue())).map_err(fail)?;
        let output = result.first().ok_or_else(|| ModelError::Inference {
            path: self.path.clone(),
            message: "the plan returned no output".into(),
        })?;
        if output.shape() != [batch, self.dim] {
            return Err(ModelError::Inference {
                path: self.path.clone(),
                message: format!(
                    "output has shape {:?}, expected [{batch}, {}]",
                    output.shape(),
                    self.dim
                ),
            });
        }
        let values = output
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec));
        values.map_err(fail)
    }
}
