//! Pure-Rust ONNX exporter for the paper architecture.
//!
//! The graphs are written with tract-onnx's own protobuf types (`tract_onnx::pb`) and encoded
//! with prost, so exporting needs neither libtorch nor Python. Weights use PyTorch layouts
//! (Conv1d `[out, in, k]`, Linear `[out, in]`) because hark-train hands over tch tensors.
//!
//! A model directory is written into a hidden staging directory, loaded back through tract
//! and compared with the [`reference`](mod@reference) forward pass, and only then renamed into place.

pub mod reference;
mod staged;

pub use staged::StagedModelDir;

use crate::frontend::FrontendParams;
use crate::model::contract::{ModelError, ModelFiles, ModelManifest, MANIFEST_FILE};
use crate::model::runtime::Model;
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::Path;
use tract_onnx::pb;

// The names live in the contract; re-exported because the graphs written here carry them.
pub use crate::model::contract::{AUDIO_INPUT, BATCH_DIM, OUTPUT, WORD_INPUT};

/// ONNX operator set the graphs are written against.
pub const OPSET: i64 = 13;
/// ONNX IR version matching [`OPSET`].
pub const IR_VERSION: i64 = 8;
/// Kernel sizes of the five audio convolutions (the authors' code).
pub const AUDIO_KERNELS: [usize; 5] = [4, 4, 4, 2, 1];
/// Max-pool sizes (kernel = stride) after the first four convolutions; the last has none.
pub const AUDIO_POOLS: [usize; 4] = [4, 4, 4, 2];
/// Channel width of the four hidden convolutions in the paper.
pub const AUDIO_HIDDEN: usize = 128;

/// 'same' padding for a stride-1 convolution: left = ⌊(k−1)/2⌋, right = the rest, which is
/// what both PyTorch `padding='same'` and Keras do for even kernels.
pub fn same_padding(kernel: usize) -> (usize, usize) {
    let total = kernel.saturating_sub(1);
    (total / 2, total - total / 2)
}

/// Time steps left after the four max-pools (floor at each), e.g. 130 → 32 → 8 → 2 → 1.
pub fn pooled_frames(window_frames: usize) -> usize {
    AUDIO_POOLS.iter().fold(window_frames, |t, p| t / p)
}

/// One 1-D convolution, PyTorch layout: `weight` is `[out, in, kernel]`, `bias` is `[out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv1dWeights {
    /// Output channels.
    pub out_channels: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Kernel length in time steps.
    pub kernel: usize,
    /// Row-major `[out_channels, in_channels, kernel]`.
    pub weight: Vec<f32>,
    /// `[out_channels]`.
    pub bias: Vec<f32>,
}

impl Conv1dWeights {
    /// He-uniform weights (Keras `he_uniform`: U(±√(6 / fan_in)), fan_in = in × k), zero bias.
    pub fn he_uniform(
        rng: &mut impl Rng,
        out_channels: usize,
        in_channels: usize,
        kernel: usize,
    ) -> Self {
        let limit = (6.0 / (in_channels * kernel).max(1) as f64).sqrt() as f32;
        let weight = (0..out_channels * in_channels * kernel)
            .map(|_| rng.random_range(-limit..=limit))
            .collect();
        Self {
            out_channels,
            in_channels,
            kernel,
            weight,
            bias: vec![0.0; out_channels],
        }
    }

    /// Number of trainable parameters (weights and biases).
    pub fn parameter_count(&self) -> usize {
        self.out_channels * self.in_channels * self.kernel + self.out_channels
    }

    /// Checks that the buffers match the declared shape and hold only finite values.
    pub fn validate(&self, what: &str) -> Result<(), ModelError> {
        let bad = |problem: String| ModelError::Weights {
            what: what.to_string(),
            problem,
        };
        if self.out_channels == 0 || self.in_channels == 0 || self.kernel == 0 {
            return Err(bad(format!(
                "shape [{}, {}, {}] has a zero dimension",
                self.out_channels, self.in_channels, self.kernel
            )));
        }
        check_buffer(
            what,
            "weight",
            &self.weight,
            self.out_channels * self.in_channels * self.kernel,
            &format!(
                "[{}, {}, {}]",
                self.out_channels, self.in_channels, self.kernel
            ),
        )?;
        check_buffer(
            what,
            "bias",
            &self.bias,
            self.out_channels,
            &format!("[{}]", self.out_channels),
        )
    }
}

/// The five audio convolutions, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioWeights {
    /// Conv layers with kernels [`AUDIO_KERNELS`]; the first takes `n_mels` channels, the last
    /// gives `D`.
    pub convs: Vec<Conv1dWeights>,
}

impl AudioWeights {
    /// Seeded He-uniform weights with `hidden` channels between the convolutions (the
    /// paper's [`AUDIO_HIDDEN`], or wider), zero biases.
    pub fn he_uniform(seed: u64, n_mels: usize, hidden: usize, d: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut convs = Vec::with_capacity(AUDIO_KERNELS.len());
        let mut in_channels = n_mels;
        for (i, &kernel) in AUDIO_KERNELS.iter().enumerate() {
            let out = if i + 1 == AUDIO_KERNELS.len() {
                d
            } else {
                hidden
            };
            convs.push(Conv1dWeights::he_uniform(
                &mut rng,
                out,
                in_channels,
                kernel,
            ));
            in_channels = out;
        }
        Self { convs }
    }

    /// Input channels (mel bands) of the first convolution.
    pub fn n_mels(&self) -> usize {
        self.convs.first().map_or(0, |c| c.in_channels)
    }

    /// Channels between the convolutions (the first convolution's output).
    pub fn hidden_channels(&self) -> usize {
        self.convs.first().map_or(0, |c| c.out_channels)
    }

    /// Output channels (embedding size D) of the last convolution.
    pub fn embedding_dim(&self) -> usize {
        self.convs.last().map_or(0, |c| c.out_channels)
    }

    /// Number of trainable parameters over all five layers.
    pub fn parameter_count(&self) -> usize {
        self.convs.iter().map(Conv1dWeights::parameter_count).sum()
    }

    /// Checks layer count, kernels, channel chaining and every buffer.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.convs.len() != AUDIO_KERNELS.len() {
            return Err(ModelError::Weights {
                what: "audio weights".into(),
                problem: format!(
                    "{} conv layers given, the architecture has {}",
                    self.convs.len(),
                    AUDIO_KERNELS.len()
                ),
            });
        }
        for (i, (conv, &kernel)) in self.convs.iter().zip(AUDIO_KERNELS.iter()).enumerate() {
            let what = format!("audio conv {}", i + 1);
            conv.validate(&what)?;
            if conv.kernel != kernel {
                return Err(ModelError::Weights {
                    what,
                    problem: format!(
                        "kernel {} given, the architecture has {kernel}",
                        conv.kernel
                    ),
                });
            }
            if i > 0 && conv.in_channels != self.convs[i - 1].out_channels {
                return Err(ModelError::Weights {
                    what,
                    problem: format!(
                        "takes {} input channels but conv {} gives {}",
                        conv.in_channels,
                        i,
                        self.convs[i - 1].out_channels
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A dense layer, PyTorch layout: `weight` is `[out_features, in_features]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearWeights {
    /// Input size (GloVe dimension G for the word branch).
    pub in_features: usize,
    /// Output size (embedding size D).
    pub out_features: usize,
    /// Row-major `[out_features, in_features]`.
    pub weight: Vec<f32>,
    /// `[out_features]`.
    pub bias: Vec<f32>,
}

impl LinearWeights {
    /// Seeded He-uniform weights (U(±√(6 / G))) for a G → D layer, zero bias.
    pub fn he_uniform(seed: u64, g: usize, d: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let limit = (6.0 / g.max(1) as f64).sqrt() as f32;
        let weight = (0..g * d)
            .map(|_| rng.random_range(-limit..=limit))
            .collect();
        Self {
            in_features: g,
            out_features: d,
            weight,
            bias: vec![0.0; d],
        }
    }

    /// Number of trainable parameters (weights and biases).
    pub fn parameter_count(&self) -> usize {
        self.in_features * self.out_features + self.out_features
    }

    /// Checks that the buffers match the declared shape and hold only finite values.
    pub fn validate(&self) -> Result<(), ModelError> {
        let what = "word linear";
        if self.in_features == 0 || self.out_features == 0 {
            return Err(ModelError::Weights {
                what: what.into(),
                problem: format!(
                    "shape [{}, {}] has a zero dimension",
                    self.out_features, self.in_features
                ),
            });
        }
        check_buffer(
            what,
            "weight",
            &self.weight,
            self.out_features * self.in_features,
            &format!("[{}, {}]", self.out_features, self.in_features),
        )?;
        check_buffer(
            what,
            "bias",
            &self.bias,
            self.out_features,
            &format!("[{}]", self.out_features),
        )
    }
}

fn check_buffer(
    what: &str,
    name: &str,
    data: &[f32],
    expected: usize,
    shape: &str,
) -> Result<(), ModelError> {
    if data.len() != expected {
        return Err(ModelError::Weights {
            what: what.to_string(),
            problem: format!(
                "{name} has {} values but shape {shape} needs {expected}",
                data.len()
            ),
        });
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::Weights {
            what: what.to_string(),
            problem: format!("{name}[{i}] is {} (not finite)", data[i]),
        });
    }
    Ok(())
}

/// Checks that audio weights fit a window of `window_frames` × `n_mels`.
fn check_audio_fits(
    weights: &AudioWeights,
    window_frames: usize,
    n_mels: usize,
) -> Result<(), ModelError> {
    weights.validate()?;
    if weights.n_mels() != n_mels {
        return Err(ModelError::Weights {
            what: "audio conv 1".into(),
            problem: format!(
                "takes {} input channels but the front-end gives n_mels = {n_mels}",
                weights.n_mels()
            ),
        });
    }
    if pooled_frames(window_frames) == 0 {
        let needed: usize = AUDIO_POOLS.iter().product();
        return Err(ModelError::Weights {
            what: "audio window".into(),
            problem: format!(
                "window_frames = {window_frames} is shorter than the {needed} frames the four \
                 max-pools need"
            ),
        });
    }
    Ok(())
}

/// Encodes the audio encoder as ONNX bytes: `mel` [N, frames, mels] → `embedding` [N, D].
pub fn audio_onnx_bytes(
    weights: &AudioWeights,
    window_frames: usize,
    n_mels: usize,
) -> Result<Vec<u8>, ModelError> {
    check_audio_fits(weights, window_frames, n_mels)?;
    let mut g = GraphBuilder::default();
    // The model sees time as the sequence axis and mel bands as channels, as in the authors'
    // Keras code; ONNX Conv wants channels first, hence the transpose.
    g.node(
        "Transpose",
        &[AUDIO_INPUT],
        "x_nct",
        vec![attr_ints("perm", &[0, 2, 1])],
    );
    let mut current = "x_nct".to_string();
    for (i, conv) in weights.convs.iter().enumerate() {
        let n = i + 1;
        let w = format!("conv{n}.weight");
        let b = format!("conv{n}.bias");
        g.initializer(
            &w,
            &[conv.out_channels, conv.in_channels, conv.kernel],
            &conv.weight,
        );
        g.initializer(&b, &[conv.out_channels], &conv.bias);
        let (left, right) = same_padding(conv.kernel);
        let conv_out = format!("conv{n}");
        g.node(
            "Conv",
            &[&current, &w, &b],
            &conv_out,
            vec![
                attr_ints("kernel_shape", &[conv.kernel as i64]),
                attr_ints("pads", &[left as i64, right as i64]),
                attr_ints("strides", &[1]),
                attr_ints("dilations", &[1]),
                attr_int("group", 1),
            ],
        );
        current = conv_out;
        if let Some(&pool) = AUDIO_POOLS.get(i) {
            let relu = format!("relu{n}");
            g.node("Relu", &[&current], &relu, vec![]);
            let pooled = format!("pool{n}");
            g.node(
                "MaxPool",
                &[&relu],
                &pooled,
                vec![
                    attr_ints("kernel_shape", &[pool as i64]),
                    attr_ints("strides", &[pool as i64]),
                    attr_ints("pads", &[0, 0]),
                    attr_int("ceil_mode", 0),
                ],
            );
            current = pooled;
        }
    }
    g.node("GlobalAveragePool", &[&current], "gap", vec![]);
    g.node("Flatten", &["gap"], OUTPUT, vec![attr_int("axis", 1)]);
    let d = weights.embedding_dim();
    let input = value_info(
        AUDIO_INPUT,
        &[Dim::Batch, Dim::Fixed(window_frames), Dim::Fixed(n_mels)],
    );
    let output = value_info(OUTPUT, &[Dim::Batch, Dim::Fixed(d)]);
    Ok(g.finish("hark_audio_encoder", input, output)
        .encode_to_vec())
}

/// Encodes the word encoder as ONNX bytes: `word` [N, G] → `embedding` [N, D].
pub fn word_onnx_bytes(weights: &LinearWeights) -> Result<Vec<u8>, ModelError> {
    weights.validate()?;
    let mut g = GraphBuilder::default();
    g.initializer(
        "dense.weight",
        &[weights.out_features, weights.in_features],
        &weights.weight,
    );
    g.initializer("dense.bias", &[weights.out_features], &weights.bias);
    // Gemm with transB reads the PyTorch [out, in] layout as is: y = x·Wᵀ + b.
    g.node(
        "Gemm",
        &[WORD_INPUT, "dense.weight", "dense.bias"],
        OUTPUT,
        vec![
            attr_int("transB", 1),
            attr_float("alpha", 1.0),
            attr_float("beta", 1.0),
        ],
    );
    let input = value_info(WORD_INPUT, &[Dim::Batch, Dim::Fixed(weights.in_features)]);
    let output = value_info(OUTPUT, &[Dim::Batch, Dim::Fixed(weights.out_features)]);
    Ok(g.finish("hark_word_encoder", input, output).encode_to_vec())
}

/// Writes `audio.onnx` for the given weights and window shape.
pub fn write_audio_onnx(
    path: &Path,
    weights: &AudioWeights,
    window_frames: usize,
    n_mels: usize,
) -> Result<(), ModelError> {
    let bytes = audio_onnx_bytes(weights, window_frames, n_mels)?;
    write_atomically(path, &bytes)
}

/// Writes `word.onnx` for the given weights.
pub fn write_word_onnx(path: &Path, weights: &LinearWeights) -> Result<(), ModelError> {
    let bytes = word_onnx_bytes(weights)?;
    write_atomically(path, &bytes)
}

/// Writes a complete model directory (both ONNX files named by `manifest.files`, then
/// `model.toml`) after checking that the weights agree with the manifest, and moves it into
/// place only once tract's outputs match the reference forward pass.
pub fn export_model_dir(
    dir: &Path,
    manifest: &ModelManifest,
    audio: &AudioWeights,
    word: &LinearWeights,
) -> Result<(), ModelError> {
    stage_model_dir(dir, manifest, audio, word)?.commit()
}

/// Writes the model directory of [`export_model_dir`] into a temporary sibling of `dir` and
/// checks it against the reference forward pass, without touching `dir`: the caller may add
/// files or run its own checks on [`StagedModelDir::path`] before committing.
pub fn stage_model_dir(
    dir: &Path,
    manifest: &ModelManifest,
    audio: &AudioWeights,
    word: &LinearWeights,
) -> Result<StagedModelDir, ModelError> {
    manifest.validate(&dir.join(MANIFEST_FILE))?;
    let mismatch =
        |field: &'static str, expected: usize, found: usize, what: &str| ModelError::Weights {
            what: what.to_string(),
            problem: format!("gives {found} but model.toml {field} = {expected}"),
        };
    audio.validate()?;
    word.validate()?;
    let frontend = &manifest.frontend;
    if audio.n_mels() != frontend.n_mels {
        return Err(mismatch(
            "frontend.n_mels",
            frontend.n_mels,
            audio.n_mels(),
            "audio conv 1 input",
        ));
    }
    if audio.embedding_dim() != manifest.embedding_dim {
        return Err(mismatch(
            "embedding_dim",
            manifest.embedding_dim,
            audio.embedding_dim(),
            "audio conv 5 output",
        ));
    }
    if word.in_features != manifest.glove_dim {
        return Err(mismatch(
            "glove_dim",
            manifest.glove_dim,
            word.in_features,
            "word linear input",
        ));
    }
    if word.out_features != manifest.embedding_dim {
        return Err(mismatch(
            "embedding_dim",
            manifest.embedding_dim,
            word.out_features,
            "word linear output",
        ));
    }
    let staged = StagedModelDir::create(dir)?;
    write_audio_onnx(
        &staged.path().join(&manifest.files.audio),
        audio,
        frontend.window_frames,
        frontend.n_mels,
    )?;
    write_word_onnx(&staged.path().join(&manifest.files.word), word)?;
    manifest.save(&staged.path().join(MANIFEST_FILE))?;
    check_reference_parity(staged.path(), audio, word)?;
    tracing::info!(
        dir = %dir.display(),
        name = %manifest.name,
        audio_params = audio.parameter_count(),
        word_params = word.parameter_count(),
        "exported model directory (staged)"
    );
    Ok(staged)
}

/// Largest |tract − reference| the exporter accepts, relative to the largest reference
/// output (at least 1): f32 against f64 accumulation differs by far less, a wrong graph
/// (a transposed layout, a missing bias) by far more.
pub const REFERENCE_TOLERANCE: f32 = 1e-3;

/// Loads a written model directory through tract and compares one seeded window and one
/// seeded GloVe vector with the plain-Rust reference forward pass.
pub fn check_reference_parity(
    dir: &Path,
    audio: &AudioWeights,
    word: &LinearWeights,
) -> Result<(), ModelError> {
    let model = Model::load(dir)?;
    let frontend = &model.manifest.frontend;
    let (frames, n_mels) = (frontend.window_frames, frontend.n_mels);
    let mut rng = ChaCha8Rng::seed_from_u64(0x7061_7269);
    let window: Vec<f32> = (0..frames * n_mels)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let vector: Vec<f32> = (0..word.in_features)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let branches = [
        (
            "audio",
            &model.manifest.files.audio,
            reference::audio_forward(audio, &window, frames, n_mels)?,
            model.audio.embed(&window, 1)?,
        ),
        (
            "word",
            &model.manifest.files.word,
            reference::word_forward(word, &vector)?,
            model.word.embed(&vector, 1)?,
        ),
    ];
    for (branch, file, reference, tract) in branches {
        let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let max_diff = if reference.len() == tract.len() {
            reference
                .iter()
                .zip(&tract)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max)
        } else {
            f32::INFINITY
        };
        // A NaN difference (NaN outputs) fails too.
        if max_diff.is_nan() || max_diff > REFERENCE_TOLERANCE * scale {
            return Err(ModelError::Parity {
                path: dir.join(file),
                branch,
                max_diff,
                tolerance: REFERENCE_TOLERANCE * scale,
            });
        }
    }
    Ok(())
}

/// The seeded He-uniform starting weights of both branches: what `hark model random` writes
/// and where hark-train starts, so an untrained run and a random model are the same numbers.
pub fn initial_weights(
    seed: u64,
    n_mels: usize,
    hidden: usize,
    glove_dim: usize,
    d: usize,
) -> (AudioWeights, LinearWeights) {
    let audio = AudioWeights::he_uniform(seed, n_mels, hidden, d);
    // A different stream for the word branch, so the two are not built from the same numbers.
    let word = LinearWeights::he_uniform(seed ^ 0x776f_7264, glove_dim, d);
    (audio, word)
}

/// Writes an untrained model with seeded He-uniform weights and the paper's front-end, for
/// tests and for trying the plumbing before a trained model exists.
pub fn random_model_dir(
    dir: &Path,
    seed: u64,
    name: &str,
    glove_identity: &str,
    glove_dim: usize,
    d: usize,
) -> Result<ModelManifest, ModelError> {
    let frontend = FrontendParams::default();
    let (audio, word) = initial_weights(seed, frontend.n_mels, AUDIO_HIDDEN, glove_dim, d);
    let manifest = ModelManifest {
        name: name.to_string(),
        version: "0.0.0-untrained".to_string(),
        description: format!(
            "UNTRAINED: random He-uniform weights (seed {seed}); its tags mean nothing. For tests \
             and trying the plumbing only."
        ),
        embedding_dim: d,
        glove_dim,
        glove: glove_identity.to_string(),
        // Untrained scores carry no meaning; 0 lets the plumbing show its top-k.
        score_threshold: 0.0,
        frontend,
        calibration: None,
        files: ModelFiles::default(),
        training: BTreeMap::new(),
    };
    export_model_dir(dir, &manifest, &audio, &word)?;
    Ok(manifest)
}

/// Writes one file of a model directory atomically and durably ([`crate::fsutil`]), so a
/// daemon loading the directory never reads half a file; errors name the file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    crate::fsutil::write_atomic(path, bytes).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A dimension of a graph input or output.
enum Dim {
    Batch,
    Fixed(usize),
}

fn value_info(name: &str, dims: &[Dim]) -> pb::ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| pb::tensor_shape_proto::Dimension {
            denotation: String::new(),
            value: Some(match d {
                Dim::Batch => pb::tensor_shape_proto::dimension::Value::DimParam(BATCH_DIM.into()),
                Dim::Fixed(v) => pb::tensor_shape_proto::dimension::Value::DimValue(*v as i64),
            }),
        })
        .collect();
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

fn attr_ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn attr_int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn attr_float(name: &str, value: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f: value,
        ..Default::default()
    }
}

/// Collects nodes and initializers in order; node names are their output names.
#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
}

impl GraphBuilder {
    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<pb::AttributeProto>,
    ) {
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: output.to_string(),
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        });
    }

    fn initializer(&mut self, name: &str, dims: &[usize], data: &[f32]) {
        let raw_data = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(pb::TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            name: name.to_string(),
            raw_data,
            ..Default::default()
        });
    }

    fn finish(
        self,
        name: &str,
        input: pb::ValueInfoProto,
        output: pb::ValueInfoProto,
    ) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "hark".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(pb::GraphProto {
                node: self.nodes,
                name: name.to_string(),
                initializer: self.initializers,
                input: vec![input],
                output: vec![output],
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}
