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
