//! The runtime: both encoders as checked, optimised tract plans. Loading a model directory
//! checks every ONNX file against the contract before anything runs, each check a named step
//! of `Encoder::build` with an error naming the file and the model.toml field.

use super::contract::{
    ModelError, ModelManifest, AUDIO_INPUT, BATCH_DIM, MANIFEST_FILE, OUTPUT, WORD_INPUT,
};
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tract_onnx::pb;
use tract_onnx::prelude::{
    tvec, Datum, Framework, InferenceFact, InferenceModel, InferenceModelExt, IntoRunnable,
    IntoTValue, Symbol, TDim, Tensor, TractError, TypedModel, TypedRunnableModel,
};
use tract_onnx::tract_hir::infer::Factoid;

/// Largest batch of windows handed to tract in one run. Longer inputs are cut into chunks:
/// memory stays bounded, and on x86 (release, one core, 2026-12-06) batches of 1–4 windows ran
/// at ≈0.35–0.47 ms each while 8 ran ≈15% slower in the same run, the activations falling
/// out of cache.
pub const AUDIO_MAX_BATCH: usize = 4;

/// Largest batch of word vectors handed to tract in one run (a dense layer: big batches
/// are cheap, this only bounds memory).
pub const WORD_MAX_BATCH: usize = 256;

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
            input_name: AUDIO_INPUT,
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
            input_name: WORD_INPUT,
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
    /// The file has a symbolic batch axis: one plan concretised for a single item (the
    /// daemon's steady state), one for a full batch (`hark tag`'s steady state: 8 % faster
    /// than the symbolic plan), and the symbolic one for the sizes between.
    Symbolic { single: Plan, full: Plan, any: Plan },
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

    /// Parses the file and checks it against the contract, one named step at a time, then
    /// optimises it into plans.
    fn build(path: &Path, bytes: &[u8], spec: &EncoderSpec) -> Result<Self, ModelError> {
        let check = Checks { path, spec };
        let model = check.parse(bytes)?;
        let (input_name, output_name) = check.io_names(&model)?;
        let fixed_batch = check.declared_input(&model, &input_name)?;
        let (typed, batch_dim, batch_sym) = check.analyse(model, fixed_batch)?;
        check.output(&typed, &output_name, &batch_dim)?;
        let batching = check.plans(typed, fixed_batch, batch_sym)?;
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
            Batching::Symbolic { single, full, any } => {
                plan = match items {
                    1 => single,
                    n if n == self.max_batch => full,
                    _ => any,
                };
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

/// The steps of `Encoder::build`, each checking one part of the contract; every error
/// names the file and, where one can fix it, the model.toml field.
struct Checks<'a> {
    path: &'a Path,
    spec: &'a EncoderSpec,
}

impl Checks<'_> {
    fn onnx(&self, e: TractError) -> ModelError {
        ModelError::Onnx {
            path: self.path.to_path_buf(),
            message: format!("{e:#}"),
        }
    }

    fn contract(&self, problem: String) -> ModelError {
        ModelError::Contract {
            path: self.path.to_path_buf(),
            problem,
        }
    }

    /// `[N, 130, 128]`-style text of the input shape the manifest asks for.
    fn wanted_shape(&self) -> String {
        self.spec
            .item_dims
            .iter()
            .map(|d| format!(", {}", d.size))
            .collect()
    }

    /// The bytes are a protobuf ONNX model with a graph that tract can read.
    fn parse(&self, bytes: &[u8]) -> Result<InferenceModel, ModelError> {
        let proto = pb::ModelProto::decode(bytes).map_err(|e| ModelError::Onnx {
            path: self.path.to_path_buf(),
            message: format!("protobuf decoding failed: {e}"),
        })?;
        if proto.graph.is_none() {
            return Err(ModelError::Onnx {
                path: self.path.to_path_buf(),
                message: "the file holds no graph".into(),
            });
        }
        tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .map_err(|e| self.onnx(e))
    }

    /// Exactly one input and one output, named as the contract says.
    fn io_names(&self, model: &InferenceModel) -> Result<(String, String), ModelError> {
        let inputs = model.input_outlets().map_err(|e| self.onnx(e))?;
        let outputs = model.output_outlets().map_err(|e| self.onnx(e))?;
        if inputs.len() != 1 || outputs.len() != 1 {
            return Err(self.contract(format!(
                "has {} inputs and {} outputs; the contract wants one input `{}` and one \
                 output `{OUTPUT}`",
                inputs.len(),
                outputs.len(),
                self.spec.input_name,
            )));
        }
        let input_name = model.node(inputs[0].node).name.clone();
        if input_name != self.spec.input_name {
            return Err(self.contract(format!(
                "input is named `{input_name}`; the contract wants `{}`",
                self.spec.input_name
            )));
        }
        let output_name = model
            .outlet_label(outputs[0])
            .unwrap_or_default()
            .to_string();
        if output_name != OUTPUT {
            return Err(self.contract(format!(
                "output is named `{output_name}`; the contract wants `{OUTPUT}`"
            )));
        }
        Ok((input_name, output_name))
    }

    /// What the file declares for its input (type, rank, per-item axes) agrees with the
    /// manifest, checked before tract analyses anything so the error names the manifest
    /// field rather than a node. Returns the batch size when the file fixes one.
    fn declared_input(
        &self,
        model: &InferenceModel,
        input_name: &str,
    ) -> Result<Option<usize>, ModelError> {
        let declared = model.input_fact(0).map_err(|e| self.onnx(e))?.clone();
        if let Some(dt) = declared.datum_type.concretize() {
            if dt != f32::datum_type() {
                return Err(self.contract(format!(
                    "input `{input_name}` is {dt:?}; the contract wants f32"
                )));
            }
        }
        let rank = 1 + self.spec.item_dims.len();
        if let Some(found) = declared.shape.rank().concretize() {
            if found as usize != rank {
                return Err(self.contract(format!(
                    "input `{input_name}` has rank {found}; the contract wants rank {rank} \
                     [N{}]",
                    self.wanted_shape()
                )));
            }
        }
        let mut fixed_batch = None;
        let dims: Vec<_> = declared.shape.dims().cloned().collect();
        if let Some(batch) = dims.first().and_then(|d| d.concretize()) {
            if let Ok(b) = batch.to_i64() {
                fixed_batch =
                    Some(usize::try_from(b).ok().filter(|&b| b > 0).ok_or_else(|| {
                        self.contract(format!("input `{input_name}` has batch dimension {b}"))
                    })?);
            }
        }
        for (axis, item) in self.spec.item_dims.iter().enumerate() {
            let found = dims.get(axis + 1).and_then(|d| d.concretize());
            if let Some(found) = found {
                if found.to_i64().ok() != Some(item.size as i64) {
                    return Err(ModelError::ShapeMismatch {
                        path: self.path.to_path_buf(),
                        tensor: format!("input `{input_name}` (axis {})", axis + 1),
                        found: format!("{found} {}", item.unit),
                        field: item.field,
                        expected: item.size.to_string(),
                    });
                }
            }
        }
        Ok(fixed_batch)
    }

    /// Fixes the input to the manifest's shape (batch fixed or symbolic) and lets tract
    /// type the whole graph; returns the typed model, its batch dimension and the symbol.
    fn analyse(
        &self,
        mut model: InferenceModel,
        fixed_batch: Option<usize>,
    ) -> Result<(TypedModel, TDim, Symbol), ModelError> {
        let batch_sym = model.sym(BATCH_DIM);
        let batch_dim: TDim = match fixed_batch {
            Some(b) => b.into(),
            None => batch_sym.clone().into(),
        };
        let mut shape: Vec<TDim> = vec![batch_dim.clone()];
        shape.extend(self.spec.item_dims.iter().map(|d| TDim::from(d.size)));
        model
            .set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))
            .map_err(|e| self.onnx(e))?;
        let typed = model.into_typed().map_err(|e| ModelError::Onnx {
            path: self.path.to_path_buf(),
            message: format!(
                "analysis with input [N{}] from model.toml failed: {e:#}",
                self.wanted_shape()
            ),
        })?;
        Ok((typed, batch_dim, batch_sym))
    }

    /// The output is f32 `[N, D]` with one row per input item and D = `embedding_dim`.
    fn output(
        &self,
        typed: &TypedModel,
        output_name: &str,
        batch_dim: &TDim,
    ) -> Result<(), ModelError> {
        let out = typed.output_fact(0).map_err(|e| self.onnx(e))?;
        if out.datum_type != f32::datum_type() {
            return Err(self.contract(format!(
                "output `{output_name}` is {:?}; the contract wants f32",
                out.datum_type
            )));
        }
        if out.rank() != 2 {
            return Err(self.contract(format!(
                "output `{output_name}` has shape {:?}; the contract wants [N, D]",
                out.shape
            )));
        }
        if &out.shape[0] != batch_dim {
            return Err(self.contract(format!(
                "output `{output_name}` has {} rows for a batch of {batch_dim}",
                out.shape[0]
            )));
        }
        match out.shape[1].to_i64() {
            Ok(d) if d == self.spec.dim as i64 => Ok(()),
            Ok(d) => Err(ModelError::ShapeMismatch {
                path: self.path.to_path_buf(),
                tensor: format!("output `{output_name}`"),
                found: format!("{d} columns"),
                field: "embedding_dim",
                expected: self.spec.dim.to_string(),
            }),
            Err(_) => Err(self.contract(format!(
                "output `{output_name}` has {} columns, not a fixed number",
                out.shape[1]
            ))),
        }
    }

    /// Optimised runnable plans: one for a fixed batch, or a symbolic one plus two
    /// concretised, for a single item and for a full batch.
    fn plans(
        &self,
        typed: TypedModel,
        fixed_batch: Option<usize>,
        batch_sym: Symbol,
    ) -> Result<Batching, ModelError> {
        let optimise = |m: TypedModel| -> Result<Plan, ModelError> {
            m.into_optimized()
                .and_then(|m| m.into_runnable())
                .map_err(|e| self.onnx(e))
        };
        Ok(match fixed_batch {
            Some(size) => Batching::Fixed {
                size,
                plan: optimise(typed)?,
            },
            None => {
                let concretised = |batch: usize| {
                    let values = HashMap::from([(batch_sym.clone(), TDim::from(batch as i64))]);
                    optimise(typed.set_symbols(&values).map_err(|e| self.onnx(e))?)
                };
                Batching::Symbolic {
                    single: concretised(1)?,
                    full: concretised(self.spec.max_batch)?,
                    any: optimise(typed)?,
                }
            }
        })
    }
}
