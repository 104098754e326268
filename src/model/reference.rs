//! Plain-Rust reference forward pass of the paper architecture.
