//! Pure-Rust ONNX exporter for the paper architecture.
