//! hark-train: trains hark's zero-shot encoders (Choi et al., ISMIR 2019) with tch and exports
//! the model directory the daemon loads.
//!
//! A run flows `dataset` → `cache` (hark's own front-end) → `run` (labels through GloVe, the
//! paper's `split`) → `train` (`net`, hinge loss) → `eval` (`metrics`, `report`) → `export`
//! (hark's exporter, parity against tract). `pipeline` strings the steps together for the CLI;
//! `seeds` combines the reports of several seeds into mean ± sd.

pub mod augment;
pub mod cache;
pub mod config;
pub mod dataset;
pub mod eval;
pub mod export;
pub mod labels;
pub mod metrics;
pub mod net;
pub mod pipeline;
pub mod report;
pub mod run;
pub mod sampler;
pub mod seeds;
pub mod split;
pub mod train;
