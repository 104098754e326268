//! Helpers shared by integration tests: a real mosquitto, a small MQTT client, test PKI, and
//! the `hark run` daemon as a child process.
// Each test binary uses only some helpers.
#![allow(dead_code)]

pub mod certs;
pub mod client;
// The daemon helper runs the `hark` binary, which exists only with the `cli` feature.
#[cfg(feature = "cli")]
pub mod daemon;
pub mod mosquitto;
pub mod vmic;

/// Message files (`*.json`) waiting in an MQTT outbox directory; 0 when it does not exist.
pub fn outbox_files(outbox_dir: &std::path::Path) -> usize {
    std::fs::read_dir(outbox_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name().to_string_lossy().ends_with(".json") && e.path().is_file()
                })
                .count()
        })
        .unwrap_or(0)
}
