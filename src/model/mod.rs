//! The model room: [`contract`] (tensor names, `model.toml`, the one error type), [`runtime`]
//! (the tract encoders the daemon runs) and [`export`] (the pure-Rust ONNX exporter and its
//! reference forward pass, used by hark-train and `hark model random`). The runtime knows
//! nothing of the exporter; the exporter uses the runtime only to check what it wrote.

pub mod contract;
pub mod export;
pub mod runtime;

pub use contract::{
    Calibration, ModelError, ModelFiles, ModelManifest, AUDIO_INPUT, BATCH_DIM, MANIFEST_FILE,
    OUTPUT, WORD_INPUT,
};
pub use export::reference;
pub use runtime::{AudioEncoder, Model, WordEncoder, AUDIO_MAX_BATCH, WORD_MAX_BATCH};
